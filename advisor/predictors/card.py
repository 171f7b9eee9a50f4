"""The model card: what a saved pair of predictors was built from (library versions, git sha,
training-data hash, features, row counts) and how well it did held out. An artifact folder's
``card.json`` is read before anything else in it is loaded."""

from __future__ import annotations

import json
import platform
import subprocess
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
import sklearn

from advisor.vocabulary.errors import ArtifactError

CARD_FILE = "card.json"
CARD_VERSION = "1"
#: Meaning of the predictors' fitted state (e.g. the layout of the speed model's coefficients).
#: Bump it whenever a change makes older saved predictors compute something else: they are
#: then refused like files from other library versions instead of predicting nonsense.
MODEL_FORMAT = "4"  # 2: CPU thread terms in the speed model; 3: multi-device terms;
#                     4: device offsets from generation rows only
RETRAIN_HINT = "run `quant-advisor train` to rebuild the models"


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


def _jsonable(value: object) -> object:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def read_card(models_dir: Path) -> ModelCard:
    """The card of an artifact folder; ArtifactError if missing or unreadable."""
    path = Path(models_dir) / CARD_FILE
    if not path.is_file():
        raise ArtifactError(f"model card {path} is missing; {RETRAIN_HINT}")
    try:
        return ModelCard.from_json(path.read_text(encoding="utf-8"))
    except (ValueError, TypeError) as e:
        raise ArtifactError(f"model card {path} is corrupt ({e}); {RETRAIN_HINT}") from e


def check_versions(card: ModelCard) -> None:
    """Refuse a card whose library versions differ from this process's."""
    current = library_versions()
    diffs = [f"{lib} {card.libraries.get(lib)!r} (running {ver!r})"
             for lib, ver in current.items() if card.libraries.get(lib) != ver]
    if diffs:
        raise ArtifactError("models were built with other library versions: "
                            f"{'; '.join(diffs)}; allowed: exactly the running versions; "
                            f"{RETRAIN_HINT}")
