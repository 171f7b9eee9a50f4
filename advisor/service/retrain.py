"""Retraining in the background: train on files + database, evaluate, promote or keep.

One retraining runs at a time across every replica: the job holds the ``retrain`` lease in the
database (renewed while it trains; a holder that died on this machine loses it at once, one on
another machine when the lease runs out). The job's record lives in the store
(:class:`advisor.service.jobs.JobLog`), so every worker answers ``GET /v1/retrain`` the same.
The training itself runs in a process of its own (:class:`advisor.service.retrain_run.
TrainingProcess`) that the service stops, helpers included, when it stops. A new version is
promoted only if it loads and its held-out errors are at most ``retrain_tolerance`` (a fraction)
worse than the serving version's, metric by metric; see :mod:`advisor.predictors.registry` for
why a crash at any moment leaves the old version serving.
"""

from __future__ import annotations

import contextvars
import logging
import shutil
import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from advisor.predictors.artifacts import load_predictors
from advisor.predictors.card import read_card
from advisor.predictors.registry import Registry
from advisor.service.jobs import LOCK, Job, JobLog, RetrainBusyError, State
from advisor.service.lifeline import new_holder
from advisor.service.observability import request_id
from advisor.service.retrain_run import Trainer, TrainingProcess, train_version
from advisor.service.store import Store
from advisor.vocabulary.errors import ArtifactError
from advisor.vocabulary.settings import Settings

log = logging.getLogger(__name__)

__all__ = ["Retrainer", "Trainer", "held_out_errors", "regressions"]

#: called with (version id, folder) to load and serve a version; raises if it cannot
Activate = Callable[[str, Path], None]
_ERROR_KEYS = ("median_ae", "mean_ae", "median_ape", "p90_ape")


def held_out_errors(metrics: dict[str, Any], prefix: str = "") -> dict[str, float]:
    """Flatten a card's metrics to ``{path: error}`` for the model's own error figures."""
    out: dict[str, float] = {}
    for key, value in metrics.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(held_out_errors(value, f"{path}/"))
        elif key in _ERROR_KEYS and isinstance(value, int | float):
            out[path] = float(value)
    return out


def regressions(new: dict[str, Any], old: dict[str, Any], tolerance: float) -> list[str]:
    """Metrics where ``new`` is worse than ``old`` by more than ``tolerance`` (a fraction)."""
    before, after = held_out_errors(old), held_out_errors(new)
    worse = []
    for path in sorted(before.keys() & after.keys()):
        if after[path] > before[path] * (1 + tolerance) + 1e-12:
            worse.append(f"{path}: {after[path]:.4g} (serving {before[path]:.4g})")
    return worse


class Retrainer:
    """Starts retraining jobs and reports the latest one (from the store).

    ``in_child``: run the trainer in a process of its own (the service's default); tests run
    fakes in a thread of this process.
    """

    def __init__(self, settings: Settings, store: Store, registry: Registry, trainer: Trainer,
                 activate: Activate, *, in_child: bool = True) -> None:
        self.settings, self.store, self.registry = settings, store, registry
        self.trainer, self.activate, self.in_child = trainer, activate, in_child
        self.jobs = JobLog(store)
        self.holder = new_holder("retrain")
        self._thread: threading.Thread | None = None
        self._child: TrainingProcess | None = None
        self._mutex = threading.Lock()
        self._closing = threading.Event()

    def status(self) -> Job | None:
        """The latest job of any worker or replica (a dead one's ``running`` turns failed)."""
        return self.jobs.latest(now=_now())

    def start(self) -> Job:
        """Start a job; RetrainBusyError when one runs here or on another replica."""
        with self._mutex:
            running = self._thread is not None and self._thread.is_alive()
            lease = self.settings.retrain_lease_s
            if running or self._closing.is_set() or not self.store.acquire_lock(
                    LOCK, self.holder, lease):
                raise RetrainBusyError("a retraining is already running; allowed: one at a "
                                       "time (see GET /v1/retrain)")
            now = _now()
            self.jobs.latest(now=now)  # with the lease here, a job left running reads failed
            job = Job(id=uuid.uuid4().hex[:12], state="running", started=now,
                      holder=self.holder, request_id=request_id.get())
            try:
                self.jobs.record(job)
            except BaseException:
                self.store.release_lock(LOCK, self.holder)
                raise
            context = contextvars.copy_context()  # its log lines carry the request's id
            self._thread = threading.Thread(target=context.run, args=(self._run, job),
                                            name=f"retrain-{job.id}", daemon=True)
            self._thread.start()
            log.info("retraining %s started", job.id)
            return job

    def wait(self, timeout: float | None = None) -> Job | None:
        if self._thread is not None:
            self._thread.join(timeout)
        return self.status()

    def close(self) -> None:
        """Stop a running job (the service is stopping): its process and helpers end now."""
        self._closing.set()
        child = self._child
        if child is not None:
            child.stop()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _run(self, job: Job) -> None:
        done = threading.Event()
        beat = threading.Thread(target=self._heartbeat, args=(done,), daemon=True)
        beat.start()
        try:
            final = self._train_and_decide(job)
        except Exception as e:  # a failed job is reported, never takes the service down
            stopped = self._closing.is_set()
            message = ("stopped: the service stopped while it trained" if stopped
                       else f"{type(e).__name__}: {e}"[:2000])
            final = Job(id=job.id, state="failed", started=job.started, finished=_now(),
                        message=message, holder=job.holder, request_id=job.request_id)
            log.log(logging.INFO if stopped else logging.ERROR, "retraining %s failed: %s",
                    job.id, message, exc_info=not stopped)
        else:
            log.info("retraining %s finished: %s", job.id, final.message)
        finally:
            done.set()
        try:
            self.jobs.record(final)
        finally:
            self.store.release_lock(LOCK, self.holder)

    def _heartbeat(self, done: threading.Event) -> None:
        while not done.wait(self.settings.retrain_lease_s / 3):
            try:
                if not self.store.acquire_lock(LOCK, self.holder, self.settings.retrain_lease_s):
                    log.error("retraining: the lease was taken over while training")
            except Exception as e:  # the database may be back at the next beat
                log.warning("retraining: cannot renew the lease: %s", e)

    def _train_and_decide(self, job: Job) -> Job:
        vid, staging = self.registry.new_staging()
        try:
            report = self._train(staging, job.id)
            load_predictors(staging)  # refuses a folder that does not load
            path = self.registry.commit(vid, staging)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        card = read_card(path)
        serving = self.registry.current_id()
        try:
            old = read_card(self.registry.path_of(serving)).metrics
        except ArtifactError:
            old = {}
        rows = (f"{report['quality_rows']} quality and {report['speed_rows']} speed rows, "
                f"{report['stored_rows_used']} of them stored; {report['quarantined']} stored "
                "rows quarantined")
        worse = regressions(card.metrics, old, self.settings.retrain_tolerance)
        state: State = "kept" if worse else "promoted"
        if worse:
            message = (f"not promoted: held-out errors worse than {serving} beyond the "
                       f"tolerance {self.settings.retrain_tolerance:g}: {'; '.join(worse[:5])}"
                       f" ({rows})")
        else:
            self.activate(vid, path)
            message = f"promoted over {serving} ({rows})"
        return Job(id=job.id, state=state, started=job.started, finished=_now(), version=vid,
                   message=message, report=report, holder=job.holder,
                   request_id=job.request_id)

    def _train(self, staging: Path, job_id: str) -> dict[str, Any]:
        if not self.in_child:
            return train_version(self.settings, self.store, self.trainer, staging, job_id)
        with self._mutex:
            if self._closing.is_set():
                raise RuntimeError("the service is stopping")
            self._child = TrainingProcess(self.settings, self.trainer, staging, job_id,
                                          request_id.get())
        try:
            return self._child.result()
        finally:
            self._child = None


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
