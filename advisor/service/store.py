"""The measurement store: accepted rows in SQL (SQLAlchemy 2), keyed by their content hash.

SQLite in WAL mode under the data dir is the embedded default; PostgreSQL is used when
``ADVISOR_DATABASE_URL`` says so. The schema is created and upgraded by Alembic
(``advisor/migrations``) when the store opens. Rows are stored as their JSON (the measurement
schema) next to a few indexed columns for filtering; a row's :meth:`content_hash` is unique, so
storing the same row twice keeps one copy. A row that training cannot use is *quarantined*: it
keeps its reason, reads and training skip it, and an operator lists, deletes or restores it.
The ``locks`` table holds leases (one retraining at a time across every replica that shares the
database); a lease whose holder is a process of this machine that has died is free at once
(:func:`advisor.service.lifeline.holder_is_dead`), any other when it runs out.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, TypeAdapter, ValidationError
from sqlalchemy import (
    Column,
    Connection,
    DateTime,
    Engine,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    delete,
    event,
    func,
    select,
    text,
    update,
)
from sqlalchemy.exc import SQLAlchemyError

from advisor.service.lifeline import holder_is_dead
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
    Column("quarantine_reason", Text, nullable=True),
    Column("quarantined_at", DateTime(timezone=True), nullable=True),
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


@dataclass(frozen=True)
class QuarantinedRow:
    id: int
    content_hash: str
    stored_at: datetime
    quarantined_at: datetime
    reason: str
    payload: str  # the stored JSON, as stored (it may not parse)



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
        from alembic.runtime.migration import MigrationContext

        config = Config()
        config.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
        try:
            with self.engine.begin() as conn:
                if self.dialect == "postgresql":  # replicas starting together migrate in turn
                    conn.execute(text("SELECT pg_advisory_xact_lock(:key)"),
                                 {"key": _MIGRATION_LOCK})
                before = MigrationContext.configure(conn).get_current_revision()
                config.attributes["connection"] = conn
                command.upgrade(config, "head")
                after = MigrationContext.configure(conn).get_current_revision()
        except SQLAlchemyError as e:
            raise StoreError(f"cannot migrate the database at {self.safe_url}: "
                             f"{type(e).__name__}") from e
        if after != before:
            log.info("database %s migrated from schema %s to %s", self.safe_url,
                     before or "(empty)", after)

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
                if self.dialect == "postgresql":
                    # writers take turns (SQLite's writes already do): two inserting the same
                    # rows in different orders would each wait for a key the other holds, a
                    # deadlock PostgreSQL ends by failing one of them
                    conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _ROWS_LOCK})
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
        """Rows with ``id > after`` matching every given filter (see FILTERS), by id, leaving
        out quarantined rows. A stored row that no longer parses (stored under older rules) is
        quarantined on the way, so one bad row never breaks a listing."""
        query = select(measurements).where(measurements.c.id > after,
                                           measurements.c.quarantine_reason.is_(None))
        for name, value in filters.items():
            if name not in FILTERS:
                raise ValueError(f"filter must be one of {', '.join(FILTERS)}, got {name!r}")
            if value is not None:
                query = query.where(measurements.c[name] == value)
        query = query.order_by(measurements.c.id).limit(limit)
        while True:
            with self._reading() as conn:
                records = list(conn.execute(query).mappings())
            rows, bad = [], []
            for record in records:
                try:
                    rows.append(_stored(record))
                except (ValueError, RecursionError) as e:  # pydantic's errors are ValueErrors
                    bad.append((record["id"], _unusable(e)))
            if not bad:
                return rows
            self.quarantine(bad)

    def iter_rows(self) -> Iterator[Row]:
        """Every stored row that is not quarantined, in insertion order."""
        after = 0
        while batch := self.list_rows(after=after, limit=_CHUNK):
            yield from (s.row for s in batch)
            after = batch[-1].id

    def iter_payloads(self) -> Iterator[tuple[int, str]]:
        """``(id, stored JSON)`` of every row that is not quarantined, unparsed (for screening
        rows that may no longer parse)."""
        after = 0
        while True:
            query = (select(measurements.c.id, measurements.c.payload)
                     .where(measurements.c.id > after,
                            measurements.c.quarantine_reason.is_(None))
                     .order_by(measurements.c.id).limit(_CHUNK))
            with self._reading() as conn:
                batch = [(int(i), str(p)) for i, p in conn.execute(query)]
            if not batch:
                return
            yield from batch
            after = batch[-1][0]

    def count(self, *, quarantined: bool | None = None) -> int:
        """Stored rows: all, or only those (not) quarantined."""
        query = select(func.count()).select_from(measurements)
        if quarantined is not None:
            reason = measurements.c.quarantine_reason
            query = query.where(reason.is_not(None) if quarantined else reason.is_(None))
        with self._reading() as conn:
            return int(conn.execute(query).scalar_one())

    # -- quarantine --------------------------------------------------------------------------
    def quarantine(self, items: Sequence[tuple[int, str]]) -> int:
        """Quarantine rows by id with their reasons; returns how many were newly quarantined."""
        now, changed = datetime.now(UTC), 0
        with self._writing() as conn:
            for row_id, reason in items:
                changed += conn.execute(
                    update(measurements).where(measurements.c.id == row_id,
                                               measurements.c.quarantine_reason.is_(None))
                    .values(quarantine_reason=reason[:2000], quarantined_at=now)).rowcount
        if changed:
            log.warning("quarantined %d stored rows (see GET /v1/quarantine)", changed)
        return changed

    def quarantined(self, *, after: int = 0, limit: int = 100) -> list[QuarantinedRow]:
        query = (select(measurements).where(measurements.c.id > after,
                                            measurements.c.quarantine_reason.is_not(None))
                 .order_by(measurements.c.id).limit(limit))
        with self._reading() as conn:
            return [QuarantinedRow(id=r["id"], content_hash=r["content_hash"],
                                   stored_at=_utc(r["stored_at"]),
                                   quarantined_at=_utc(r["quarantined_at"]),
                                   reason=r["quarantine_reason"], payload=r["payload"])
                    for r in conn.execute(query).mappings()]

    def quarantined_payload(self, row_id: int) -> str | None:
        """The stored JSON of quarantined row ``row_id`` (None when there is no such row)."""
        query = select(measurements.c.payload).where(
            measurements.c.id == row_id, measurements.c.quarantine_reason.is_not(None))
        with self._reading() as conn:
            payload = conn.execute(query).scalar_one_or_none()
        return None if payload is None else str(payload)

    def restore(self, row_id: int) -> bool:
        """Take a quarantined row back into training and listings (False: not quarantined)."""
        stmt = (update(measurements).where(measurements.c.id == row_id,
                                           measurements.c.quarantine_reason.is_not(None))
                .values(quarantine_reason=None, quarantined_at=None))
        with self._writing() as conn:
            return bool(conn.execute(stmt).rowcount == 1)

    def delete_quarantined(self, row_id: int) -> bool:
        """Delete a quarantined row for good (False: not quarantined)."""
        stmt = delete(measurements).where(measurements.c.id == row_id,
                                          measurements.c.quarantine_reason.is_not(None))
        with self._writing() as conn:
            return bool(conn.execute(stmt).rowcount == 1)

    # -- leases ------------------------------------------------------------------------------
    def acquire_lock(self, name: str, holder: str, lease_s: float) -> bool:
        """Take (or renew) the lease ``name`` for ``holder``; False if another holds it. A lease
        held by a dead process of this machine (:func:`holder_is_dead`) is taken over at once."""
        now = time.time()
        free = ((locks.c.holder.is_(None)) | (locks.c.expires_at < now)
                | (locks.c.holder == holder))
        stmt = (update(locks).where(locks.c.name == name).where(free)
                .values(holder=holder, expires_at=now + lease_s))
        with self._writing() as conn:
            if conn.execute(stmt).rowcount == 1:
                return True
            current = self.lock_holder(name, conn=conn)
            if current is None or not holder_is_dead(current):
                return False
            taken = conn.execute(update(locks).where(locks.c.name == name,
                                                     locks.c.holder == current)
                                 .values(holder=holder, expires_at=now + lease_s)).rowcount
        if taken:
            log.warning("lease %r: its holder %s has died; taken over", name, current)
        return bool(taken == 1)

    def lock_holder(self, name: str, *, conn: Any = None) -> str | None:
        """Who holds the lease ``name`` now (None: free or run out)."""
        query = select(locks.c.holder, locks.c.expires_at).where(locks.c.name == name)
        if conn is None:
            with self._reading() as own:
                record = own.execute(query).first()
        else:
            record = conn.execute(query).first()
        if record is None or record[0] is None or (record[1] or 0) < time.time():
            return None
        return str(record[0])

    def release_lock(self, name: str, holder: str) -> None:
        stmt = (update(locks).where(locks.c.name == name).where(locks.c.holder == holder)
                .values(holder=None, expires_at=None))
        with self._writing() as conn:
            conn.execute(stmt)

    # -- connections ---------------------------------------------------------------------------
    def _reading(self) -> AbstractContextManager[Connection]:
        return self._connection(self.engine.connect, "read")

    def _writing(self) -> AbstractContextManager[Connection]:
        return self._connection(self.engine.begin, "write")

    @staticmethod
    @contextmanager
    def _connection(opener: Callable[[], AbstractContextManager[Connection]],
                    what: str) -> Iterator[Connection]:
        """A connection whose database errors surface as StoreError (a 503, not a 500)."""
        try:
            with opener() as conn:
                yield conn
        except SQLAlchemyError as e:
            raise StoreError(f"cannot {what} the database: {type(e).__name__}") from e


def _sqlite_pragmas(dbapi_conn: Any, _: Any) -> None:
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


#: PostgreSQL advisory lock keys: replicas migrating at once, and row writers, take turns.
_MIGRATION_LOCK = 727274
_ROWS_LOCK = 727275


def _insert_for(dialect: str) -> Any:
    from sqlalchemy.dialects import postgresql, sqlite

    return sqlite.insert if dialect == "sqlite" else postgresql.insert


def _record(row: Row, content_hash: str, now: datetime) -> dict[str, Any]:
    return {"content_hash": content_hash, "kind": row.kind, "model": row.model,
            "hardware": getattr(row, "hardware", None), "source_id": row.source_id,
            "provenance": row.provenance.value, "quant": row.quant,
            "payload": row.model_dump_json(), "stored_at": now}


def _utc(value: datetime) -> datetime:
    """SQLite drops the zone; everything is stored in UTC."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def _unusable(e: Exception) -> str:
    """Why a stored row cannot be read back, as a quarantine reason."""
    if isinstance(e, ValidationError):
        return "the stored row fails today's checks: " + "; ".join(
            f"{'.'.join(str(p) for p in err['loc'][1:])}: {err['msg']}"
            for err in e.errors()[:5])[:1000]
    return f"the stored JSON does not parse: {type(e).__name__}: {str(e)[:300]}"


def _stored(record: Any) -> StoredRow:
    payload = json.loads(record["payload"])  # the stdlib's parser: no nesting limit of its own
    return StoredRow(id=record["id"], content_hash=record["content_hash"],
                     stored_at=_utc(record["stored_at"]), row=ROW_ADAPTER.validate_python(payload))
