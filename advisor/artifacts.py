"""Saving and loading the fitted predictors with their model card.

A joblib file runs code when it loads and only loads reliably on the library versions that
wrote it, so every artifact folder holds ``quality.joblib``, ``speed.joblib`` and ``card.json``
(library versions, git sha, training-data hash, features, row counts, held-out metrics).
:func:`load_predictors` reads the card first and refuses files built with other versions.
"""

from __future__ import annotations

import json
import logging
import platform
import subprocess
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
import sklearn

from advisor.dataset import atomic_write
from advisor.errors import ArtifactError
from advisor.quality_model import QualityPredictor
from advisor.speed_model import SpeedPredictor

log = logging.getLogger(__name__)

QUALITY_FILE = "quality.joblib"
SPEED_FILE = "speed.joblib"
CARD_FILE = "card.json"
CARD_VERSION = "1"
#: Meaning of the predictors' fitted state (e.g. the layout of the speed model's coefficients).
#: Bump it whenever a change makes older saved predictors compute something else: they are
#: then refused like files from other library versions instead of predicting nonsense.
MODEL_FORMAT = "4"  # 2: CPU thread terms in the speed model; 3: multi-device terms;
#                     4: device offsets from generation rows only
_RETRAIN = "run `quant-advisor train` to rebuild the models"


def library_versions() -> dict[str, str]:
    """Versions that must match between the process that saved and the one that loads
    (``quant_advisor_models`` is :data:`MODEL_FORMAT`)."""
    return {"sklearn": sklearn.__version__, "numpy": np.__version__,
            "pandas": pd.__version__, "joblib": joblib.__version__,
            "python": ".".join(platform.python_version_tuple()[:2]),
            "quant_advisor_models": MODEL_FORMAT}


def git_sha(repo: Path | None = None) -> str | None:
    """The repository's HEAD commit, or None outside a git checkout."""
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                             cwd=repo or Path(__file__).resolve().parent, timeout=5,
                             check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


@dataclass
class ModelCard:
    """What a saved pair of predictors was built from and how well it did held out."""

    version: str
    created: str
    libraries: dict[str, str]
    git_sha: str | None
    data_hash: str
    features: dict[str, list[str]]
    rows: dict[str, Any]
    metrics: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True, default=_jsonable)

    @classmethod
    def from_json(cls, text: str) -> ModelCard:
        payload = json.loads(text)
        if not isinstance(payload, dict):
            raise ValueError(f"card must be a JSON object, got {type(payload).__name__}")
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in payload.items() if k in known})


@dataclass
class LoadedPredictors:
    quality: QualityPredictor
    speed: SpeedPredictor
    card: ModelCard


def _jsonable(value: object) -> object:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


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
              "quality_excluded": quality.exclusions_, "speed_excluded": speed.exclusions_},
        metrics=extra.pop("metrics", {}),
        extra=extra,
    )
    atomic_write(out_dir / QUALITY_FILE, lambda p: joblib.dump(quality, p))
    atomic_write(out_dir / SPEED_FILE, lambda p: joblib.dump(speed, p))
    atomic_write(out_dir / CARD_FILE,
                  lambda p: Path(p).write_text(card.to_json(), encoding="utf-8"))
    log.info("saved predictors to %s (data %s)", out_dir, card.data_hash)
    return card


def read_card(models_dir: Path) -> ModelCard:
    """The card of an artifact folder; ArtifactError if missing or unreadable."""
    path = Path(models_dir) / CARD_FILE
    if not path.is_file():
        raise ArtifactError(f"model card {path} is missing; {_RETRAIN}")
    try:
        return ModelCard.from_json(path.read_text(encoding="utf-8"))
    except (ValueError, TypeError) as e:
        raise ArtifactError(f"model card {path} is corrupt ({e}); {_RETRAIN}") from e


def check_versions(card: ModelCard) -> None:
    """Refuse a card whose library versions differ from this process's."""
    current = library_versions()
    diffs = [f"{lib} {card.libraries.get(lib)!r} (running {ver!r})"
             for lib, ver in current.items() if card.libraries.get(lib) != ver]
    if diffs:
        raise ArtifactError("models were built with other library versions: "
                            f"{'; '.join(diffs)}; allowed: exactly the running versions; "
                            f"{_RETRAIN}")


def load_predictors(models_dir: Path | None = None) -> LoadedPredictors:
    """Load ``quality.joblib``, ``speed.joblib`` and ``card.json`` after checking versions."""
    if models_dir is None:
        from advisor.settings import get_settings

        models_dir = get_settings().models_dir
    models_dir = Path(models_dir)
    card = read_card(models_dir)
    check_versions(card)
    loaded: dict[str, Any] = {}
    for name, filename, cls in (("quality", QUALITY_FILE, QualityPredictor),
                                ("speed", SPEED_FILE, SpeedPredictor)):
        path = models_dir / filename
        if not path.is_file():
            raise ArtifactError(f"{name} model {path} is missing; {_RETRAIN}")
        try:
            obj = joblib.load(path)
        except Exception as e:  # joblib/pickle raise many types on a damaged file
            raise ArtifactError(f"{name} model {path} is corrupt ({type(e).__name__}: {e}); "
                                f"{_RETRAIN}") from e
        if not isinstance(obj, cls):
            raise ArtifactError(f"{name} model {path} holds a {type(obj).__name__}, expected "
                                f"{cls.__name__}; {_RETRAIN}")
        loaded[name] = obj
    return LoadedPredictors(quality=loaded["quality"], speed=loaded["speed"], card=card)
