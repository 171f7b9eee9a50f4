"""The model catalog: architectures the recommender can propose, with their capability.

The catalog is a data folder (default ``measurements/catalog``) written by
:mod:`advisor.data.importers.catalog` and open to additions: a user may add a row to ``models.csv``
(and, optionally, scores to ``capability.csv``). Files:

* ``models.csv``: one :class:`ModelRow` per architecture;
* ``capability.csv``: common-scale full-precision scores per category
  (:class:`advisor.data.capability.CapabilityRow`); optional.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from advisor.data.capability import CategoryScore, read_capability
from advisor.data.dataset import _read_csv_models, default_measurements_dir
from advisor.vocabulary.errors import DataFileError, UnknownNameError
from advisor.vocabulary.tasks import CATEGORIES

log = logging.getLogger(__name__)

#: Numbers without which the memory estimate (and so a recommendation) cannot be made.
REQUIRED_FOR_MEMORY: tuple[str, ...] = (
    "params_b", "n_layers", "n_kv_heads", "head_dim", "hidden_size", "vocab_size", "max_context",
)

PosInt = Annotated[int, Field(gt=0)]
PosFloat = Annotated[float, Field(gt=0, allow_inf_nan=False)]


class ModelRow(BaseModel):
    """A line of ``models.csv``: an architecture's numbers (base and instruct share a row)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1)
    family: str = Field(min_length=1)
    params_b: PosFloat | None = Field(None, description="total parameters, billions")
    active_params_b: PosFloat | None = Field(None, description="parameters per token (MoE)")
    n_layers: PosInt | None = None
    hidden_size: PosInt | None = None
    n_heads: PosInt | None = None
    n_kv_heads: PosInt | None = None
    head_dim: PosInt | None = None
    vocab_size: PosInt | None = None
    max_context: PosInt | None = Field(None, description="longest context, tokens")
    sliding_window: PosInt | None = Field(None, description="SWA window, tokens")
    swa_period: Annotated[int, Field(ge=2)] | None = Field(
        None, description="layers per local/global group: period-1 SWA layers then 1 global")
    swa_fraction: Annotated[float, Field(gt=0, le=1)] | None = Field(
        None, description="fraction of layers using the sliding window")
    swa_pattern_notes: str = ""
    recommendable: bool = True
    not_recommendable_reason: str = ""
    source: str = ""
    notes: str = ""

    @model_validator(mode="before")
    @classmethod
    def _mark_incomplete(cls, data: Any) -> Any:
        if isinstance(data, dict):
            missing = [c for c in REQUIRED_FOR_MEMORY if data.get(c) in (None, "")]
            if missing:
                data = {**data, "recommendable": False}
                if not data.get("not_recommendable_reason"):
                    data["not_recommendable_reason"] = (
                        f"missing {', '.join(missing)} (needed by the memory estimate)")
        return data

    @model_validator(mode="after")
    def _consistent(self) -> ModelRow:
        if self.sliding_window is not None and self.swa_period is None:
            raise ValueError("sliding_window is set, so swa_period is required "
                             "(2 = alternating local/global, 6 = 5 local : 1 global)")
        if not self.recommendable and not self.not_recommendable_reason:
            raise ValueError("recommendable is false, so not_recommendable_reason is required")
        return self


class ModelSpec(ModelRow):
    """A catalog model: architecture numbers plus full-precision capability per category."""

    capability: dict[str, CategoryScore] = Field(default_factory=dict)

    @property
    def n_swa_layers(self) -> int:
        """Layers that use the sliding window (llama.cpp layout: ``il % period < period - 1``)."""
        if self.sliding_window is None or self.swa_period is None or self.n_layers is None:
            return 0
        return self.n_layers - self.n_layers // self.swa_period

    @property
    def missing_categories(self) -> list[str]:
        return [c for c in CATEGORIES if c not in self.capability]


class Catalog:
    """Immutable set of :class:`ModelSpec`, looked up by name (case-insensitive)."""

    def __init__(self, models: tuple[ModelSpec, ...]) -> None:
        self.models = models
        self._by_key = {m.name.lower(): m for m in models}
        if len(self._by_key) != len(models):
            raise DataFileError("models.csv", None, "model names must be unique "
                                "(case-insensitive)")

    @property
    def families(self) -> list[str]:
        return sorted({m.family for m in self.models}, key=str.lower)

    @property
    def names(self) -> list[str]:
        return [m.name for m in self.models]

    def get(self, name: str) -> ModelSpec:
        """The model called ``name`` (case-insensitive); unknown -> UnknownNameError."""
        found = self._by_key.get(name.strip().lower())
        if found is None:
            raise UnknownNameError("model", name, self.names, parameter="model")
        return found

    def filter(self, *, family: str | None = None,
               names: list[str] | None = None) -> list[ModelSpec]:
        """Models of ``family`` (case-insensitive) and/or in ``names``, in catalog order."""
        chosen = list(self.models)
        if family is not None:
            key = family.strip().lower()
            if key not in {f.lower() for f in self.families}:
                raise UnknownNameError("model family", family, self.families,
                                       parameter="family")
            chosen = [m for m in chosen if m.family.lower() == key]
        if names is not None:
            wanted = {self.get(n).name for n in names}
            chosen = [m for m in chosen if m.name in wanted]
        return chosen

    def __len__(self) -> int:
        return len(self.models)


_CACHE: dict[tuple[Path, tuple[int, ...]], Catalog] = {}
_LOCK = threading.Lock()


def _stamp(files: list[Path]) -> tuple[int, ...]:
    return tuple(p.stat().st_mtime_ns if p.exists() else -1 for p in files)


def load_catalog(folder: Path | None = None) -> Catalog:
    """Load ``models.csv`` (+ ``capability.csv``) of ``folder``; cached per folder and file times.

    ``folder`` defaults to ``measurements/catalog``. A capability row naming a model that is not
    in ``models.csv`` or a category that does not exist fails with file:line.
    """
    folder = Path(folder) if folder is not None else default_measurements_dir() / "catalog"
    models_path, cap_path = folder / "models.csv", folder / "capability.csv"
    if not models_path.is_file():
        raise DataFileError(models_path, None, "catalog file does not exist; run "
                            "`python -m advisor.data.importers.catalog SHARED_DIR` to create it")
    key = (folder.resolve(), _stamp([models_path, cap_path]))
    with _LOCK:
        if key in _CACHE:
            return _CACHE[key]
    rows: list[ModelRow] = _read_csv_models(models_path, ModelRow)
    capability: dict[str, dict[str, CategoryScore]] = {r.name: {} for r in rows}
    if cap_path.is_file():
        for lineno, cap in enumerate(read_capability(cap_path), start=2):
            if cap.model not in capability:
                raise DataFileError(cap_path, lineno, f"model {cap.model!r} is not in models.csv")
            if cap.category not in CATEGORIES:
                raise DataFileError(cap_path, lineno, f"category must be one of "
                                    f"{', '.join(CATEGORIES)}, got {cap.category!r}")
            if cap.category in capability[cap.model]:
                raise DataFileError(cap_path, lineno, f"second {cap.category!r} value for "
                                    f"{cap.model!r}; give one value per model and category")
            capability[cap.model][cap.category] = CategoryScore.model_validate(
                cap.model_dump(exclude={"model", "category"}))
    catalog = Catalog(tuple(ModelSpec(**r.model_dump(), capability=capability[r.name])
                            for r in rows))
    log.debug("loaded %d catalog models from %s", len(catalog), folder)
    with _LOCK:
        _CACHE[key] = catalog
    return catalog
