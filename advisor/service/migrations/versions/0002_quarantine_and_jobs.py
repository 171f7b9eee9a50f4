"""Quarantined rows and retraining jobs in the store.

A stored row that training cannot use keeps its reason in ``quarantine_reason`` (training and
listings skip it; an operator lists, deletes or restores it). Retraining jobs are recorded in
``retrain_jobs``, so every worker and replica answers ``GET /v1/retrain`` the same.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("measurements") as batch:
        batch.add_column(sa.Column("quarantine_reason", sa.Text, nullable=True))
        batch.add_column(sa.Column("quarantined_at", sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "retrain_jobs",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("id", sa.String(32), nullable=False, unique=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("holder", sa.String(64), nullable=False),
        sa.Column("request_id", sa.String(64), nullable=True),
        sa.Column("started", sa.String(40), nullable=False),
        sa.Column("finished", sa.String(40), nullable=True),
        sa.Column("version", sa.String(64), nullable=True),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("report", sa.Text, nullable=True),
    )


def downgrade() -> None:
    op.drop_table("retrain_jobs")
    with op.batch_alter_table("measurements") as batch:
        batch.drop_column("quarantined_at")
        batch.drop_column("quarantine_reason")
