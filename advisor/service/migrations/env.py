"""Alembic environment: migrations run on the connection :mod:`advisor.service.store` hands over."""

from __future__ import annotations

from alembic import context

from advisor.service.store import metadata

connection = context.config.attributes.get("connection")
if connection is None:  # `alembic` CLI use: build an engine from the configured URL
    from sqlalchemy import create_engine

    engine = create_engine(context.config.get_main_option("sqlalchemy.url") or "")
    with engine.connect() as conn:
        context.configure(connection=conn, target_metadata=metadata)
        with context.begin_transaction():
            context.run_migrations()
else:
    context.configure(connection=connection, target_metadata=metadata)
    with context.begin_transaction():
        context.run_migrations()
