"""The service's long-lived state: store, predictor versions, the serving advisor, retraining.

Built once by the app's lifespan (:func:`advisor.service.app.create_app`). Swapping the advisor is
one attribute assignment, so a request sees the old advisor or the new one, never a mix.

The registry's pointer says which version serves. A process that promotes or rolls back moves
it; every process (the workers of one ``serve``, or replicas sharing the data folder) checks it
every ``version_poll_s`` and loads the version it names, so all follow within about that time.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from advisor.predictors.registry import Registry
from advisor.service.jobs import LOCK as RETRAIN_LOCK
from advisor.service.lifeline import new_holder
from advisor.service.observability import Metrics
from advisor.service.store import Store
from advisor.vocabulary.settings import Settings

if TYPE_CHECKING:
    from advisor.recommender.advisor import Advisor
    from advisor.service.retrain import Retrainer

log = logging.getLogger(__name__)

AdvisorFactory = Callable[[Settings], "Advisor"]
#: Builds the retraining runner over the service's store and registry, with the callback that
#: serves a promoted version (the app passes :class:`advisor.service.retrain.Retrainer` bound
#: to its trainer).
RetrainerFactory = Callable[[Store, Registry, Callable[[str, Path], None]], "Retrainer"]


class Service:
    def __init__(self, settings: Settings, factory: AdvisorFactory, metrics: Metrics,
                 retrainer: RetrainerFactory) -> None:
        self.settings, self.factory, self.metrics = settings, factory, metrics
        self.store = Store.open(settings.sqlalchemy_url)
        self.registry = Registry(settings.versions_dir, settings.models_dir)
        self._clean_staging()
        self.version = self.registry.current_id()
        self.advisor = self._load(self.registry.path_of(self.version))
        self.metrics.set_version(self.version)
        self.metrics.watch_store(self.store)
        self.retrainer = retrainer(self.store, self.registry, self.activate)
        self._swap = threading.Lock()
        self.on_swap: Callable[[Advisor], None] | None = None
        self._stop = threading.Event()
        self._unloadable: str | None = None
        self._follower = threading.Thread(target=self._follow, name="version-follower",
                                          daemon=True)
        self._follower.start()

    def _clean_staging(self) -> None:
        """Remove a crashed retrain's half-written version folder, but only while holding the
        retrain lease: otherwise the folder may be a retrain still running in another worker or
        replica (a worker that uvicorn restarts must not delete it). Tried at start-up and
        again on every poll of :meth:`_follow` while such a folder exists, so a dead holder's
        folder goes at once (a holder that died on this machine) or when its lease runs out."""
        holder = new_holder("cleanup")
        if not self.store.acquire_lock(RETRAIN_LOCK, holder, self.settings.retrain_lease_s):
            return  # a retraining runs (here or elsewhere): its folder stays
        try:
            self.registry.clean_staging()
        finally:
            self.store.release_lock(RETRAIN_LOCK, holder)

    def _load(self, path: Path) -> Advisor:
        return self.factory(self.settings.model_copy(update={"models_dir": path}))

    def activate(self, version: str, path: Path | None = None) -> None:
        """Load ``version``, make it the serving one on disk, then in this process."""
        with self._swap:
            advisor = self._load(path or self.registry.path_of(version))
            self.registry.point_to(version)
            self._serve(version, advisor)
        log.info("serving predictor version %s", version)

    def _serve(self, version: str, advisor: Advisor) -> None:
        self.advisor, self.version = advisor, version
        self.metrics.set_version(version)
        if self.on_swap is not None:
            self.on_swap(advisor)

    def _follow(self) -> None:
        """Serve the version the pointer names, whichever process moved it (background)."""
        last_error = ""
        while not self._stop.wait(self.settings.version_poll_s):
            try:
                self.follow_pointer()
                if any(self.registry.versions.glob(".staging-*")):
                    self._clean_staging()  # a crashed retrain's, once its lease runs out
                last_error = ""
            except Exception as e:  # keep serving what we have; say so once per error
                if str(e) != last_error:
                    log.error("keeping predictor version %s: cannot follow the registry: %s",
                              self.version, e)
                last_error = str(e)

    def follow_pointer(self) -> bool:
        """Load the version the registry's pointer names if it is not the serving one (True
        when it swapped)."""
        named = self.registry.current_id()
        if named == self.version or named == self._unloadable:
            return False
        with self._swap:
            named = self.registry.current_id()
            if named == self.version:
                return False
            try:
                advisor = self._load(self.registry.path_of(named))
            except Exception:
                self._unloadable = named
                raise
            self._serve(named, advisor)
        log.info("serving predictor version %s (moved by another process)", named)
        return True

    def close(self) -> None:
        """Stop following the registry and stop a running retraining (with its helper
        processes); then close the store."""
        self._stop.set()
        self.retrainer.close()
        self._follower.join(timeout=5)
        self.store.close()
