"""Measurements and the retrain lock.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "measurements",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("content_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("hardware", sa.String(200), nullable=True),
        sa.Column("source_id", sa.String(200), nullable=False),
        sa.Column("provenance", sa.String(16), nullable=False),
        sa.Column("quant", sa.String(64), nullable=True),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("stored_at", sa.DateTime(timezone=True), nullable=False),
    )
    for column in ("kind", "model", "hardware", "source_id", "provenance"):
        op.create_index(f"ix_measurements_{column}", "measurements", [column])
    op.create_table(
        "locks",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("holder", sa.String(64), nullable=True),
        sa.Column("expires_at", sa.Float, nullable=True),
    )
    op.bulk_insert(sa.table("locks", sa.column("name", sa.String)), [{"name": "retrain"}])


def downgrade() -> None:
    op.drop_table("locks")
    op.drop_table("measurements")
