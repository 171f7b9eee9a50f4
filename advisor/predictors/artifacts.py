"""Saving and loading the fitted predictors with their model card.

A joblib file runs code when it loads and only loads reliably on the library versions that
wrote it, so every artifact folder holds ``quality.joblib``, ``speed.joblib``, ``card.json``
(library versions, git sha, training-data hash, features, row counts, held-out metrics) and
``capability.csv`` (the fitted capability of every catalog model and mode).
:func:`load_predictors` reads the card first and refuses files built with other versions.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import joblib

from advisor.data.dataset import atomic_write
from advisor.predictors.capability import CapabilityScore, load_capability
from advisor.predictors.card import (
    CARD_FILE,
    CARD_VERSION,
    RETRAIN_HINT,
    ModelCard,
    check_versions,
    git_sha,
    library_versions,
    read_card,
)
from advisor.predictors.quality import QualityPredictor
from advisor.predictors.speed import SpeedPredictor
from advisor.vocabulary.errors import ArtifactError, DataFileError

log = logging.getLogger(__name__)

QUALITY_FILE = "quality.joblib"
SPEED_FILE = "speed.joblib"
@dataclass
class LoadedPredictors:
    quality: QualityPredictor
    speed: SpeedPredictor
    card: ModelCard
    #: (model, mode) -> category -> its full-precision capability (``capability.csv``)
    capability: dict[tuple[str, str], dict[str, CapabilityScore]]


def save_predictors(quality: QualityPredictor, speed: SpeedPredictor, out_dir: Path, *,
                    card_extra: dict[str, Any] | None = None) -> ModelCard:
    """Write both predictors and ``card.json`` to ``out_dir`` (each file atomically).

    ``card_extra`` may hold ``data_hash`` and ``metrics`` (they go to their own card fields);
    anything else lands in ``card.extra``.
    """
    for name, obj, cls in (("quality", quality, QualityPredictor),
                           ("speed", speed, SpeedPredictor)):
        if not isinstance(obj, cls) or not hasattr(obj, "n_train_"):
            raise ArtifactError(f"{name} must be a fitted {cls.__name__}, got "
                                f"{type(obj).__name__}")
    extra = dict(card_extra or {})
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    card = ModelCard(
        version=CARD_VERSION,
        created=datetime.now(UTC).isoformat(timespec="seconds"),
        libraries=library_versions(),
        git_sha=git_sha(),
        data_hash=str(extra.pop("data_hash", "")),
        features={"quality": list(quality.features_), "speed": list(speed.features_)},
        rows={"quality": quality.n_train_, "speed": speed.n_train_,
              "quality_excluded": quality.exclusions_, "speed_excluded": speed.exclusions_,
              "speed_assumed_build": speed.assumed_build, "speed_blend": speed.blend_},
        metrics=extra.pop("metrics", {}),
        extra=extra,
    )
    atomic_write(out_dir / QUALITY_FILE, lambda p: joblib.dump(quality, p))
    atomic_write(out_dir / SPEED_FILE, lambda p: joblib.dump(speed, p))
    atomic_write(out_dir / CARD_FILE,
                  lambda p: Path(p).write_text(card.to_json(), encoding="utf-8"))
    log.info("saved predictors to %s (data %s)", out_dir, card.data_hash)
    return card


def load_predictors(models_dir: Path | None = None) -> LoadedPredictors:
    """Load ``quality.joblib``, ``speed.joblib``, ``capability.csv`` and ``card.json`` after
    checking versions."""
    if models_dir is None:
        from advisor.vocabulary.settings import get_settings

        models_dir = get_settings().models_dir
    models_dir = Path(models_dir)
    card = read_card(models_dir)
    check_versions(card)
    loaded: dict[str, Any] = {}
    for name, filename, cls in (("quality", QUALITY_FILE, QualityPredictor),
                                ("speed", SPEED_FILE, SpeedPredictor)):
        path = models_dir / filename
        if not path.is_file():
            raise ArtifactError(f"{name} model {path} is missing; {RETRAIN_HINT}")
        try:
            obj = joblib.load(path)
        except Exception as e:  # joblib/pickle raise many types on a damaged file
            raise ArtifactError(f"{name} model {path} is corrupt ({type(e).__name__}: {e}); "
                                f"{RETRAIN_HINT}") from e
        if not isinstance(obj, cls):
            raise ArtifactError(f"{name} model {path} holds a {type(obj).__name__}, expected "
                                f"{cls.__name__}; {RETRAIN_HINT}")
        loaded[name] = obj
    try:
        capability = load_capability(models_dir)
    except DataFileError as e:
        raise ArtifactError(f"capability table is corrupt ({e}); {RETRAIN_HINT}") from e
    return LoadedPredictors(quality=loaded["quality"], speed=loaded["speed"], card=card,
                            capability=capability)
