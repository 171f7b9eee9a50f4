"""One retraining run: screen the stored rows, build the training set, fit and evaluate.

:func:`train_version` is what a retraining job runs, in a process of its own by default
(:class:`TrainingProcess`): the service's worker keeps answering requests at full speed, and
stopping the service stops the training with every helper process it started (joblib's
workers), since that process leads its own process group and dies with its parent
(:mod:`advisor.service.lifeline`).

Screening: every stored row that is not quarantined is checked again with the checks a new row
passes at the door (:func:`advisor.service.ingest.check_rows`: rows stored under older, looser
rules, or by an older version, are held to today's); a row that fails is quarantined in the
store with its reason, and training goes on without it. One bad row never fails a retraining.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import multiprocessing
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from advisor.data.dataset import Dataset, load_dataset
from advisor.predictors.card import ModelCard
from advisor.service import lifeline
from advisor.service.ingest import check_rows, reasons
from advisor.service.jobs import JobLog
from advisor.service.observability import configure_logging, request_id
from advisor.service.store import Store
from advisor.vocabulary.schema import QualityRow
from advisor.vocabulary.settings import Settings

log = logging.getLogger(__name__)

#: What a retraining runs: fit and evaluate on a dataset, save into a folder, return the card
#: (:func:`advisor.predictors.training.train`; tests pass fast fakes). It must be picklable
#: (a module-level function or an instance of a module-level class) to run in a child process.
Trainer = Callable[[Dataset, Path], ModelCard]
_SCREEN_CHUNK = 500


def screen_stored_rows(store: Store) -> tuple[list[Any], dict[str, int]]:
    """The stored rows training can use; the others are quarantined. Returns the rows and
    ``{reason: count}`` of the rows this call quarantined."""
    usable: list[Any] = []
    quarantined: Counter[str] = Counter()
    batch: list[tuple[int, str]] = []

    def screen(batch: list[tuple[int, str]]) -> None:
        payloads: list[object] = []
        bad: list[tuple[int, str]] = []
        for row_id, text in batch:
            try:
                payloads.append(json.loads(text))
            except (ValueError, RecursionError) as e:
                payloads.append(None)
                bad.append((row_id, f"the stored JSON does not parse: {type(e).__name__}: "
                            f"{str(e)[:300]}"))
        checked = check_rows(payloads)
        unreadable = {row_id for row_id, _ in bad}
        bad += [(batch[o.index][0], reasons(o.problems)) for o in checked.rejected
                if batch[o.index][0] not in unreadable]
        usable.extend(row for _, row in checked.rows)
        if bad:
            store.quarantine(bad)
            quarantined.update(_reason_kind(reason) for _, reason in bad)

    for item in store.iter_payloads():
        batch.append(item)
        if len(batch) == _SCREEN_CHUNK:
            screen(batch)
            batch = []
    if batch:
        screen(batch)
    return usable, dict(quarantined)


def training_dataset(settings: Settings, store: Store) -> tuple[Dataset, dict[str, Any]]:
    """The shipped measurement files plus the usable stored rows they do not already hold,
    and a report: row counts, stored rows used, rows quarantined by this screening."""
    data = load_dataset(settings.measurements_dir)
    known = {r.content_hash() for r in (*data.quality, *data.speed)}
    digest = hashlib.sha256(data.content_hash.encode())
    stored, quarantined = screen_stored_rows(store)
    used = 0
    for row in stored:
        key = row.content_hash()
        if key in known:
            continue
        known.add(key)
        used += 1
        digest.update(key.encode())
        (data.quality if isinstance(row, QualityRow) else data.speed).append(row)
    data.content_hash = digest.hexdigest()[:16]
    report = {"quality_rows": len(data.quality), "speed_rows": len(data.speed),
              "stored_rows_used": used, "quarantined": sum(quarantined.values()),
              "quarantined_reasons": quarantined,
              "quarantined_total": store.count(quarantined=True)}
    return data, report


def train_version(settings: Settings, store: Store, trainer: Trainer, out_dir: Path,
                  job_id: str | None = None) -> dict[str, Any]:
    """Screen, build the training set and run ``trainer(dataset, out_dir)``; the report, also
    written to job ``job_id``'s record as soon as the training set is built."""
    start = time.perf_counter()
    dataset, report = training_dataset(settings, store)
    if job_id is not None:
        JobLog(store).set_report(job_id, report)
    if report["quarantined"]:
        log.warning("retraining without %d stored rows it cannot use (quarantined: %s)",
                    report["quarantined"], "; ".join(report["quarantined_reasons"])[:500])
    trainer(dataset, out_dir)
    report["data_hash"] = dataset.content_hash
    report["train_seconds"] = round(time.perf_counter() - start, 1)
    return report


class TrainingProcess:
    """Runs :func:`train_version` in a child process (spawned: a fresh interpreter, nothing of
    the worker's threads or sockets) and can stop it, helpers included, at any moment."""

    def __init__(self, settings: Settings, trainer: Trainer, out_dir: Path, job_id: str,
                 rid: str | None) -> None:
        ctx = multiprocessing.get_context("spawn")
        self._recv, send = ctx.Pipe(duplex=False)
        self.process = ctx.Process(target=_child_main, name="advisor-retrain",
                                   args=(settings, trainer, out_dir, job_id, rid, send))
        self.process.start()
        send.close()

    def result(self) -> dict[str, Any]:
        """Wait for the run; its report, or RuntimeError saying how it failed."""
        outcome: tuple[str, Any] | None = None
        with contextlib.suppress(EOFError):  # it died without a word: killed, out of memory
            outcome = self._recv.recv()
        self.process.join()
        self.stop()  # any helper it left behind (its group outlives it)
        if outcome is None:
            raise RuntimeError(f"the training process exited with code "
                               f"{self.process.exitcode} before it finished")
        kind, value = outcome
        if kind != "ok":
            raise RuntimeError(value)
        return value  # type: ignore[no-any-return]

    def stop(self) -> None:
        """Kill the training process and every helper it started (its process group)."""
        if self.process.pid is not None:
            lifeline.stop_group(self.process.pid)
        if self.process.exitcode is None:
            self.process.kill()  # it may not lead its group yet
        self.process.join(timeout=10)


def _child_main(settings: Settings, trainer: Trainer, out_dir: Path, job_id: str,
                rid: str | None, send: Any) -> None:
    lifeline.lead_group()
    lifeline.watch_parent(lifeline.kill_own_group)
    configure_logging(as_json=settings.log_json)
    if rid:
        request_id.set(rid)
    store = Store(settings.sqlalchemy_url)
    try:
        send.send(("ok", train_version(settings, store, trainer, out_dir, job_id)))
    except BaseException as e:  # reported to the job; the process ends either way
        log.exception("training failed")
        send.send(("error", f"{type(e).__name__}: {e}"[:2000]))
    finally:
        store.close()
        _stop_helpers()


def _stop_helpers() -> None:
    """joblib keeps its worker processes for the next job; there is none, end them now."""
    try:
        from joblib.externals.loky import reusable_executor

        executor = getattr(reusable_executor, "_executor", None)  # None: it never started
        if executor is not None:
            executor.shutdown(wait=True, kill_workers=True)
    except Exception:  # never hide the run's own outcome behind a clean-up error
        log.debug("could not shut joblib's workers down", exc_info=True)


def _reason_kind(reason: str) -> str:
    """A reason without its given values, to count alike reasons together."""
    return reason.split(";")[0][:120]
