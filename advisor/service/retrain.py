"""Retraining in the background: train on files + database, evaluate, promote or keep.

One retraining runs at a time across every replica: the job holds the ``retrain`` lease in the
database (renewed while it trains; a crashed holder loses it after ``retrain_lease_s``). A new
version is promoted only if it loads and its held-out errors are at most ``retrain_tolerance`` (a
fraction) worse than the serving version's, metric by metric; see :mod:`advisor.predictors.registry`
for why a crash at any moment leaves the old version serving.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
import threading
import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from advisor.data.dataset import Dataset, load_dataset
from advisor.predictors.artifacts import load_predictors
from advisor.predictors.card import ModelCard, read_card
from advisor.predictors.registry import Registry
from advisor.service.jobs import LOCK, Job, RetrainBusyError
from advisor.service.store import Store
from advisor.vocabulary.errors import ArtifactError
from advisor.vocabulary.schema import QualityRow
from advisor.vocabulary.settings import Settings

log = logging.getLogger(__name__)

Trainer = Callable[[Dataset, Path], ModelCard]
#: called with (version id, folder) to load and serve a version; raises if it cannot
Activate = Callable[[str, Path], None]
_ERROR_KEYS = ("median_ae", "mean_ae", "median_ape", "p90_ape")


def training_dataset(settings: Settings, store: Store) -> Dataset:
    """The shipped measurement files plus the stored rows they do not already hold."""
    data = load_dataset(settings.measurements_dir)
    known = {r.content_hash() for r in (*data.quality, *data.speed)}
    digest = hashlib.sha256(data.content_hash.encode())
    for row in store.iter_rows():
        key = row.content_hash()
        if key in known:
            continue
        known.add(key)
        digest.update(key.encode())
        (data.quality if isinstance(row, QualityRow) else data.speed).append(row)  # type: ignore[arg-type]
    data.content_hash = digest.hexdigest()[:16]
    return data


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
    """Starts retraining jobs in a thread and reports the latest one."""

    def __init__(self, settings: Settings, store: Store, registry: Registry, trainer: Trainer,
                 activate: Activate) -> None:
        self.settings, self.store, self.registry = settings, store, registry
        self.trainer, self.activate = trainer, activate
        self.holder = uuid.uuid4().hex
        self._job: Job | None = None
        self._thread: threading.Thread | None = None
        self._mutex = threading.Lock()

    @property
    def job(self) -> Job | None:
        return self._job

    def start(self) -> Job:
        """Start a job; RetrainBusyError when one runs here or on another replica."""
        with self._mutex:
            running = self._job is not None and self._job.state == "running"
            lease = self.settings.retrain_lease_s
            if running or not self.store.acquire_lock(LOCK, self.holder, lease):
                raise RetrainBusyError("a retraining is already running; allowed: one at a "
                                       "time (see GET /v1/retrain)")
            job = Job(id=uuid.uuid4().hex[:12], state="running", started=_now())
            self._job = job
            self._thread = threading.Thread(target=self._run, args=(job,),
                                            name=f"retrain-{job.id}", daemon=True)
            self._thread.start()
            return job

    def wait(self, timeout: float | None = None) -> Job | None:
        if self._thread is not None:
            self._thread.join(timeout)
        return self._job

    def _run(self, job: Job) -> None:
        done = threading.Event()
        beat = threading.Thread(target=self._heartbeat, args=(done,), daemon=True)
        beat.start()
        try:
            self._job = self._train_and_decide(job)
        except Exception as e:  # a failed job is reported, never takes the service down
            log.exception("retraining %s failed", job.id)
            self._job = replace(job, state="failed", finished=_now(),
                                message=f"{type(e).__name__}: {e}")
        finally:
            done.set()
            self.store.release_lock(LOCK, self.holder)
        log.info("retraining %s: %s %s", job.id, self._job.state, self._job.message)

    def _heartbeat(self, done: threading.Event) -> None:
        while not done.wait(self.settings.retrain_lease_s / 3):
            self.store.acquire_lock(LOCK, self.holder, self.settings.retrain_lease_s)

    def _train_and_decide(self, job: Job) -> Job:
        dataset = training_dataset(self.settings, self.store)
        vid, staging = self.registry.new_staging()
        try:
            self.trainer(dataset, staging)
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
        worse = regressions(card.metrics, old, self.settings.retrain_tolerance)
        if worse:
            return replace(job, state="kept", finished=_now(), version=vid, message=(
                f"not promoted: held-out errors worse than {serving} beyond the tolerance "
                f"{self.settings.retrain_tolerance:g}: {'; '.join(worse[:5])}"))
        self.activate(vid, path)
        return replace(job, state="promoted", finished=_now(), version=vid,
                       message=f"promoted over {serving} ({len(dataset.quality)} quality, "
                       f"{len(dataset.speed)} speed rows)")


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
