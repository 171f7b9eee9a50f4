"""Fit both predictors on a dataset, evaluate them held out, and save them with a card."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from advisor.data.dataset import Dataset, default_measurements_dir
from advisor.predictors.artifacts import save_predictors
from advisor.predictors.capability import (
    CAPABILITY_FILE,
    capability_card,
    fit_capability,
    write_capability_table,
)
from advisor.predictors.card import ModelCard
from advisor.predictors.evaluation import evaluate
from advisor.predictors.quality import QualityPredictor
from advisor.predictors.speed import SpeedPredictor

log = logging.getLogger(__name__)


def train(dataset: Dataset, out_dir: Path, *, n_jobs: int = 2,
          speed_params: dict[str, Any] | None = None,
          catalog_dir: Path | None = None, device_folds: int | None = None) -> ModelCard:
    """Evaluate (grouped CV, writes ``EVALUATION.md`` and plots), fit on all rows, save.

    ``speed_params`` are :class:`SpeedPredictor` arguments (tests use a small ``max_iter``).
    The capability model is fitted on ``catalog_dir`` (default ``measurements/catalog``) and
    saved as ``capability.csv``. ``device_folds``: hold out that many groups of devices in the
    speed evaluation instead of one device at a time (faster; see :func:`evaluate`). Returns
    the :class:`ModelCard` written to ``out_dir/card.json``.
    """
    out_dir = Path(out_dir)
    start = time.perf_counter()
    capability = fit_capability(catalog_dir or default_measurements_dir() / "catalog")
    report = evaluate(dataset, out_dir, n_jobs=n_jobs, speed_params=speed_params,
                      capability=capability, device_folds=device_folds)
    quality = QualityPredictor().fit(dataset.quality_frame())
    speed = SpeedPredictor(**(speed_params or {})).fit(dataset.speed_frame())
    write_capability_table(out_dir / CAPABILITY_FILE, capability.table())
    card = save_predictors(quality, speed, out_dir, card_extra={
        "data_hash": dataset.content_hash, "metrics": report.metrics,
        "capability": capability_card(capability),
        "train_seconds": round(time.perf_counter() - start, 1)})
    log.info("trained and saved predictors to %s in %.1fs", out_dir,
             time.perf_counter() - start)
    return card
