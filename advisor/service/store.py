"""The measurement store: accepted rows in SQL (SQLAlchemy 2), keyed by their content hash.

SQLite in WAL mode under the data dir is the embedded default; PostgreSQL is used when
``ADVISOR_DATABASE_URL`` says so. The schema is created and upgraded by Alembic
(``advisor/migrations``) when the store opens. Rows are stored as their JSON (the measurement
schema) next to a few indexed columns for filtering; a row's :meth:`content_hash` is unique, so
storing the same row twice keeps one copy. The ``locks`` table holds leases (one retraining at a
time across every replica that shares the database).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, TypeAdapter
from sqlalchemy import (
    Column,
    DateTime,
    Engine,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    event,
    func,
    select,
    text,
    update,
)
from sqlalchemy.exc import SQLAlchemyError

from advisor.vocabulary.errors import AdvisorError
from advisor.vocabulary.schema import Row

log = logging.getLogger(__name__)

ROW_ADAPTER: TypeAdapter[Row] = TypeAdapter(Annotated[Row, Field(discriminator="kind")])
FILTERS = ("kind", "model", "hardware", "source_id", "provenance")
_CHUNK = 500

metadata = MetaData()
measurements = Table(
    "measurements", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("content_hash", String(64), nullable=False, unique=True),
    Column("kind", String(16), nullable=False, index=True),
    Column("model", String(200), nullable=False, index=True),
    Column("hardware", String(200), nullable=True, index=True),
    Column("source_id", String(200), nullable=False, index=True),
    Column("provenance", String(16), nullable=False, index=True),
    Column("quant", String(64), nullable=True),
    Column("payload", Text, nullable=False),
    Column("stored_at", DateTime(timezone=True), nullable=False),
)
locks = Table(
    "locks", metadata,
    Column("name", String(64), primary_key=True),
    Column("holder", String(64), nullable=True),
    Column("expires_at", Float, nullable=True),
)


class StoreError(AdvisorError, RuntimeError):
    """The database cannot be reached or refused an operation."""


@dataclass(frozen=True)
class StoredRow:
    id: int
    content_hash: str
    stored_at: datetime
    row: Row


def normalise_url(url: str) -> str:
    """``postgresql://`` means the psycopg (3) driver here."""
    if url.startswith(("postgresql://", "postgres://")):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


class Store:
    """Measurements and locks in one SQL database; thread-safe (a pooled engine)."""

    def __init__(self, url: str) -> None:
        self.url = normalise_url(url)
        self.dialect = "sqlite" if self.url.startswith("sqlite") else "postgresql"
        if self.dialect == "sqlite":
            db_path = self.url.split("///", 1)[1] if "///" in self.url else ""
            if db_path and db_path != ":memory:":
                Path(db_path).parent.mkdir(parents=True, exist_ok=True)
            self.engine: Engine = create_engine(
                self.url, connect_args={"timeout": 30, "check_same_thread": False})
            event.listen(self.engine, "connect", _sqlite_pragmas)
        else:
            self.engine = create_engine(self.url, pool_pre_ping=True, pool_size=10)

    @classmethod
    def open(cls, url: str) -> Store:
        """Connect and bring the schema up to date."""
        store = cls(url)
        store.migrate()
        return store

    def migrate(self) -> None:
        from alembic import command
        from alembic.config import Config

        config = Config()
        config.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
        try:
            with self.engine.begin() as conn:
                if self.dialect == "postgresql":  # replicas starting together migrate in turn
                    conn.execute(text("SELECT pg_advisory_xact_lock(727274)"))
                config.attributes["connection"] = conn
                command.upgrade(config, "head")
        except SQLAlchemyError as e:
            raise StoreError(f"cannot migrate the database at {self.safe_url}: "
                             f"{type(e).__name__}") from e

    @property
    def safe_url(self) -> str:
        """The URL without its password (for messages and logs)."""
        from sqlalchemy.engine import make_url

        return make_url(self.url).render_as_string(hide_password=True)

    def ping(self) -> bool:
        try:
            with self.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            return True
        except SQLAlchemyError:
            return False

    def close(self) -> None:
        self.engine.dispose()

    # -- measurements ------------------------------------------------------------------------
    def add_rows(self, rows: Sequence[Row]) -> list[bool]:
        """Store rows not stored yet; per input row, True if this call stored it."""
        hashes = [r.content_hash() for r in rows]
        first: dict[str, int] = {}
        for i, h in enumerate(hashes):
            first.setdefault(h, i)
        now = datetime.now(UTC)
        records = [_record(rows[i], h, now) for h, i in first.items()]
        stored: set[str] = set()
        insert = _insert_for(self.dialect)
        try:
            with self.engine.begin() as conn:
                for start in range(0, len(records), _CHUNK):
                    stmt = (insert(measurements).values(records[start:start + _CHUNK])
                            .on_conflict_do_nothing(index_elements=["content_hash"])
                            .returning(measurements.c.content_hash))
                    stored.update(conn.execute(stmt).scalars())
        except SQLAlchemyError as e:
            raise StoreError(f"could not store {len(records)} rows: {type(e).__name__}") from e
        return [h in stored and first[h] == i for i, h in enumerate(hashes)]

    def list_rows(self, *, after: int = 0, limit: int = 100,
                  **filters: str | None) -> list[StoredRow]:
        """Rows with ``id > after`` matching every given filter (see FILTERS), by id."""
        query = select(measurements).where(measurements.c.id > after)
        for name, value in filters.items():
            if name not in FILTERS:
                raise ValueError(f"filter must be one of {', '.join(FILTERS)}, got {name!r}")
            if value is not None:
                query = query.where(measurements.c[name] == value)
        query = query.order_by(measurements.c.id).limit(limit)
        with self.engine.connect() as conn:
            return [_stored(r) for r in conn.execute(query).mappings()]

    def iter_rows(self) -> Iterator[Row]:
        """Every stored row, in insertion order."""
        after = 0
        while batch := self.list_rows(after=after, limit=_CHUNK):
            yield from (s.row for s in batch)
            after = batch[-1].id

    def count(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(measurements)).scalar_one())

    # -- leases ------------------------------------------------------------------------------
    def acquire_lock(self, name: str, holder: str, lease_s: float) -> bool:
        """Take (or renew) the lease ``name`` for ``holder``; False if another holds it."""
        now = time.time()
        stmt = (update(locks).where(locks.c.name == name)
                .where((locks.c.holder.is_(None)) | (locks.c.expires_at < now)
                       | (locks.c.holder == holder))
                .values(holder=holder, expires_at=now + lease_s))
        with self.engine.begin() as conn:
            return bool(conn.execute(stmt).rowcount == 1)

    def release_lock(self, name: str, holder: str) -> None:
        stmt = (update(locks).where(locks.c.name == name).where(locks.c.holder == holder)
                .values(holder=None, expires_at=None))
        with self.engine.begin() as conn:
            conn.execute(stmt)


def _sqlite_pragmas(dbapi_conn: Any, _: Any) -> None:
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def _insert_for(dialect: str) -> Any:
    from sqlalchemy.dialects import postgresql, sqlite

    return sqlite.insert if dialect == "sqlite" else postgresql.insert


def _record(row: Row, content_hash: str, now: datetime) -> dict[str, Any]:
    return {"content_hash": content_hash, "kind": row.kind, "model": row.model,
            "hardware": getattr(row, "hardware", None), "source_id": row.source_id,
            "provenance": row.provenance.value, "quant": row.quant,
            "payload": row.model_dump_json(), "stored_at": now}


def _stored(record: Any) -> StoredRow:
    stored_at = record["stored_at"]
    if stored_at.tzinfo is None:  # SQLite drops the zone; everything is stored in UTC
        stored_at = stored_at.replace(tzinfo=UTC)
    return StoredRow(id=record["id"], content_hash=record["content_hash"], stored_at=stored_at,
                     row=ROW_ADAPTER.validate_json(record["payload"]))
