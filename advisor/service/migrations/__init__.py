"""Alembic migrations of the service database (run by :func:`advisor.service.store.migrate`)."""
