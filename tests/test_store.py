"""The measurement store on SQLite and on a real PostgreSQL (ADVISOR_TEST_POSTGRES_URL)."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest
from service_fixtures import quality_row, service_settings, speed_row
from sqlalchemy import create_engine, inspect, text

import advisor.service.store
from advisor.cli.export import export_rows
from advisor.data.dataset import iter_rows, load_dataset
from advisor.service.retrain_run import training_dataset
from advisor.service.store import ROW_ADAPTER, Store, normalise_url

PG_URL = os.environ.get("ADVISOR_TEST_POSTGRES_URL")


def _reset_postgres(url: str) -> None:
    engine = create_engine(normalise_url(url))
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE IF EXISTS measurements, locks, retrain_jobs, alembic_version CASCADE"))
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, tmp_path):
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'db' / 'advisor.sqlite3'}"
    else:
        if not PG_URL:
            pytest.skip("ADVISOR_TEST_POSTGRES_URL is not set (scripts/ci-postgres.sh)")
        _reset_postgres(PG_URL)
        url = PG_URL
    s = Store.open(url)
    yield s
    s.close()


def _rows(n, maker=quality_row):
    return [ROW_ADAPTER.validate_python(maker(i)) for i in range(n)]


def test_migrations_create_the_schema_and_are_idempotent(store):
    store.migrate()  # a second run is a no-op
    tables = set(inspect(store.engine).get_table_names())
    assert {"measurements", "locks", "alembic_version"} <= tables
    if store.dialect == "sqlite":
        with store.engine.connect() as conn:
            assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"


def test_rows_round_trip_and_duplicates_are_kept_once(store):
    rows = _rows(3) + _rows(2, speed_row)
    assert store.add_rows(rows) == [True] * 5
    assert store.add_rows(rows[:2] + _rows(4)[3:]) == [False, False, True]
    assert store.count() == 6
    back = list(store.iter_rows())
    assert [r.content_hash() for r in back[:5]] == [r.content_hash() for r in rows]
    assert back[0] == rows[0]


def test_a_batch_repeating_a_row_stores_it_once(store):
    row = _rows(1)[0]
    assert store.add_rows([row, row]) == [True, False]
    assert store.count() == 1


@pytest.mark.parametrize("filters, expected", [
    ({"kind": "speed"}, 2), ({"kind": "quality"}, 3), ({"model": "Llama-3.1-8B"}, 5),
    ({"hardware": "NVIDIA GeForce RTX 3090"}, 2), ({"source_id": "nope"}, 0),
    ({"provenance": "measured"}, 5), ({"provenance": "published"}, 0),
])
def test_filters(store, filters, expected):
    store.add_rows(_rows(3) + _rows(2, speed_row))
    assert len(store.list_rows(limit=100, **filters)) == expected


def test_pagination_walks_every_row_once(store):
    store.add_rows(_rows(25))
    seen, after = [], 0
    while page := store.list_rows(after=after, limit=10):
        seen.extend(r.content_hash for r in page)
        after = page[-1].id
    assert len(seen) == len(set(seen)) == 25


def test_unknown_filter_is_refused(store):
    with pytest.raises(ValueError, match="filter must be one of"):
        store.list_rows(colour="red")


def test_lock_is_exclusive_and_expires(store):
    assert store.acquire_lock("retrain", "a", 60)
    assert not store.acquire_lock("retrain", "b", 60)
    assert store.acquire_lock("retrain", "a", 60)  # renewal by the holder
    store.release_lock("retrain", "a")
    assert store.acquire_lock("retrain", "b", 0.05)
    time.sleep(0.1)
    assert store.acquire_lock("retrain", "a", 60)  # b's lease ran out


def test_concurrent_writers_store_each_row_once(store):
    """Eight writers of the same rows, each in another order (PostgreSQL deadlocked on rows
    inserted in different orders until the store sorted them)."""
    rows = _rows(200)
    results: list[list[bool]] = []
    errors: list[BaseException] = []

    def write(offset):
        try:
            results.append(store.add_rows(rows[offset:] + rows[:offset]))
        except BaseException as e:  # a thread's error would otherwise pass unseen
            errors.append(e)

    threads = [threading.Thread(target=write, args=(i * 25,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and len(results) == 8
    assert store.count() == 200
    assert sum(sum(r) for r in results) == 200


def test_training_reads_files_plus_database(store, tmp_path):
    settings = service_settings(tmp_path)
    files = load_dataset(settings.measurements_dir)
    shipped = files.quality[0]
    store.add_rows([shipped, *_rows(2), *_rows(1, speed_row)])
    data, report = training_dataset(settings, store)
    assert report["stored_rows_used"] == 3 and report["quarantined"] == 0
    assert len(data.quality) == len(files.quality) + 2  # the shipped row is not doubled
    assert len(data.speed) == len(files.speed) + 1
    assert data.content_hash != files.content_hash


def test_export_writes_the_measurements_format(store, tmp_path):
    store.add_rows(_rows(3) + _rows(2, speed_row))
    counts = export_rows(store, tmp_path / "out")
    assert counts == {"quality": 3, "speed": 2}
    exported = list(iter_rows(tmp_path / "out" / "quality.jsonl"))
    assert [r.content_hash() for r in exported] == [r.content_hash() for r in _rows(3)]
    assert len(load_dataset(tmp_path / "out").speed) == 2


def test_unreachable_database_is_a_store_error():
    from advisor.service.store import StoreError

    with pytest.raises(StoreError, match="cannot migrate"):
        Store.open("postgresql://nobody:secret@127.0.0.1:1/none")


def _store_raw(store, payload: str, content_hash: str) -> int:
    """A row stored as an older version might have (no check on the way in)."""
    from datetime import UTC, datetime

    from advisor.service.store import measurements

    with store.engine.begin() as conn:
        return conn.execute(measurements.insert().values(
            content_hash=content_hash, kind="speed", model="m", hardware="h", source_id="s",
            provenance="measured", quant=None, payload=payload,
            stored_at=datetime.now(UTC)).returning(measurements.c.id)).scalar_one()


def _deep(levels):
    return "{" + '"x":{' * levels + "}" * levels + "}"


def test_a_stored_row_that_no_longer_parses_is_quarantined_not_a_crash(store):
    store.add_rows(_rows(3))
    bad = _store_raw(store, json_row(speed_row(0, environment="@DEEP@"), _deep(240)), "deep")
    worse = _store_raw(store, json_row(speed_row(1, environment="@DEEP@"), _deep(5000)), "deeper")
    broken = _store_raw(store, "{not json", "broken")
    store.add_rows(_rows(5)[3:])
    page = store.list_rows(limit=4)  # the bad rows are skipped, the page is still full
    assert len(page) == 4 and len(store.list_rows(limit=100)) == 5
    assert len(list(store.iter_rows())) == 5
    quarantined = {q.id: q.reason for q in store.quarantined()}
    assert set(quarantined) == {bad, worse, broken}
    assert "nests" in quarantined[bad] and "environment" in quarantined[bad]
    assert store.count(quarantined=True) == 3 and store.count(quarantined=False) == 5


def json_row(row, environment):
    import json

    return json.dumps(row).replace('"@DEEP@"', environment)


def test_quarantine_restore_and_delete(store):
    store.add_rows(_rows(3))
    first, second, _ = store.list_rows()
    assert store.quarantine([(first.id, "because"), (second.id, "also")]) == 2
    assert store.quarantine([(first.id, "again")]) == 0  # the first reason stays
    assert [q.reason for q in store.quarantined()] == ["because", "also"]
    assert store.quarantined_payload(first.id) is not None
    assert store.quarantined_payload(999) is None
    assert [r.id for r in store.list_rows()] == [store.list_rows()[0].id]
    assert store.restore(first.id) and not store.restore(first.id)
    assert store.delete_quarantined(second.id) and not store.delete_quarantined(second.id)
    assert not store.delete_quarantined(first.id)  # only quarantined rows are deleted
    assert store.count() == 2 and store.count(quarantined=True) == 0


def test_a_dead_holders_lease_is_taken_over_at_once(store):
    import subprocess
    import sys

    from advisor.service.lifeline import holder_is_dead, new_holder

    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()
    dead = new_holder().replace(f":{os.getpid()}:", f":{gone}:")
    assert holder_is_dead(dead) and not holder_is_dead(new_holder())
    assert not holder_is_dead("other-host:1:abc") and not holder_is_dead(None)
    assert store.acquire_lock("retrain", dead, 300)
    assert store.lock_holder("retrain") == dead
    mine = new_holder("test")
    assert store.acquire_lock("retrain", mine, 300)  # no 300 s wait
    assert store.lock_holder("retrain") == mine
    assert not store.acquire_lock("retrain", "other-host:1:abc", 300)  # a live holder keeps it


def test_a_version_1_database_is_upgraded_in_place(tmp_path):
    """A database made before quarantine and jobs keeps its rows and gains the new columns."""
    from alembic import command
    from alembic.config import Config

    url = f"sqlite:///{tmp_path / 'old.sqlite3'}"
    old = Store(url)
    config = Config()
    config.set_main_option("script_location",
                           str(Path(advisor.service.store.__file__).parent / "migrations"))
    with old.engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "0001")
        conn.execute(text("INSERT INTO measurements (content_hash, kind, model, source_id, "
                          "provenance, payload, stored_at) VALUES ('h', 'quality', 'm', 's', "
                          "'measured', :p, '2026-01-01 00:00:00')"),
                     {"p": ROW_ADAPTER.validate_python(quality_row(0)).model_dump_json()})
    old.close()
    store = Store.open(url)
    try:
        assert store.count(quarantined=False) == 1 and store.list_rows()[0].content_hash == "h"
        assert "retrain_jobs" in inspect(store.engine).get_table_names()
    finally:
        store.close()
