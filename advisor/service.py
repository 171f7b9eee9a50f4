"""The service's long-lived state: store, predictor versions, the serving advisor, retraining.

Built once by the app's lifespan (:func:`advisor.api.create_app`). Swapping the advisor is one
attribute assignment, so a request sees the old advisor or the new one, never a mix.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path

from advisor.observability import Metrics
from advisor.recommend import Advisor
from advisor.registry import Registry
from advisor.retrain import Retrainer, Trainer
from advisor.settings import Settings
from advisor.store import Store

log = logging.getLogger(__name__)

AdvisorFactory = Callable[[Settings], Advisor]


def default_trainer() -> Trainer:
    from advisor.training import train

    return train


class Service:
    def __init__(self, settings: Settings, factory: AdvisorFactory, trainer: Trainer,
                 metrics: Metrics) -> None:
        self.settings, self.factory, self.metrics = settings, factory, metrics
        self.store = Store.open(settings.sqlalchemy_url)
        self.registry = Registry(settings.versions_dir, settings.models_dir)
        self.registry.clean_staging()
        self.version = self.registry.current_id()
        self.advisor = self._load(self.registry.path_of(self.version))
        self.metrics.set_version(self.version)
        self.retrainer = Retrainer(settings, self.store, self.registry, trainer, self.activate)
        self._swap = threading.Lock()
        self.on_swap: Callable[[Advisor], None] | None = None

    def _load(self, path: Path) -> Advisor:
        return self.factory(self.settings.model_copy(update={"models_dir": path}))

    def activate(self, version: str, path: Path | None = None) -> None:
        """Load ``version``, make it the serving one on disk, then in this process."""
        with self._swap:
            advisor = self._load(path or self.registry.path_of(version))
            self.registry.point_to(version)
            self.advisor, self.version = advisor, version
            self.metrics.set_version(version)
            if self.on_swap is not None:
                self.on_swap(advisor)
        log.info("serving predictor version %s", version)

    def close(self) -> None:
        self.retrainer.wait(timeout=0)
        self.store.close()
