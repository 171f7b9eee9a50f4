"""The quality predictor's inputs: bits per weight, model size, task and quant scheme.

Training rows (:meth:`Dataset.quality_frame`) and prediction rows go through
:func:`quality_features`, so a file the user adds is scored by the same columns as a published
row: its actual bits per weight and the scheme that produced it.

Schemes (0/1 columns, :data:`SCHEMES`; a row may have several, and unknown is all zeros):

* ``imatrix`` / ``static``: made with / stated to be made without an importance matrix;
* ``dynamic``: an uploader's per-tensor mix outside llama-quantize's presets (unsloth UD,
  ``_XL`` / ``_L`` files, named recipes);
* ``pure``: every tensor at one type (``--pure``), not llama-quantize's mix of that name;
* ``mx``: microscaling FP4 (``MXFP4``, ``MXFP4_MOE``);
* ``qat``: quantization-aware-trained weights (Gemma QAT) or a quant made from them;
* ``ik_type``: a type only ik_llama.cpp has (``IQ4_KS``, ``IQ2_KT``, ...).

Units: ``params_b`` in billions of parameters, ``bpw`` in bits per weight.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pandas as pd

from advisor.predictors.retention import TASK_GROUPS
from advisor.vocabulary.errors import InvalidInputError
from advisor.vocabulary.quants import find_quant

#: Quality predictor inputs (``params_b`` required; the others may be missing).
QUALITY_INPUTS: tuple[str, ...] = (
    "params_b", "bpw", "quant", "quant_family", "task_category", "model_family", "model",
    "quant_variant", "quant_as_published", "imatrix", "flags")
SCHEMES: tuple[str, ...] = ("imatrix", "static", "dynamic", "pure", "mx", "qat", "ik_type")
#: The feature column of each scheme (``scheme_imatrix``, ...): apart from the row's own
#: ``imatrix`` field, which says True / False / unknown.
SCHEME_COLUMNS: tuple[str, ...] = tuple(f"scheme_{s}" for s in SCHEMES)
__all__ = ["QUALITY_INPUTS", "SCHEMES", "SCHEME_COLUMNS", "TASK_GROUPS", "quality_features",
           "scheme_columns"]
UNKNOWN = "unknown"
_DYNAMIC_VARIANTS = frozenset({"unsloth-dynamic", "dynamic-mix"})
_MX = re.compile(r"\bMXFP4", re.IGNORECASE)


def _column(frame: pd.DataFrame, name: str, default: object = np.nan) -> pd.Series:
    if name in frame.columns:
        return frame[name]
    return pd.Series(default, index=frame.index, dtype="object" if isinstance(default, str)
                     else "float64")


def flag_set(value: object) -> set[str]:
    """A row's ``flags`` (a list, or missing) as a set of strings."""
    return {str(v) for v in value} if isinstance(value, list | tuple | set | np.ndarray) \
        else set()


def _catalog(quant: object, attribute: str, missing: object) -> object:
    found = find_quant(quant) if isinstance(quant, str) and quant else None
    if found is None:
        return missing
    value = getattr(found, attribute)
    return getattr(value, "value", value)


def effective_bpw(frame: pd.DataFrame) -> pd.Series:
    """``bpw`` where given, else the catalog's typical bpw of ``quant`` (NaN if neither)."""
    bpw = pd.to_numeric(_column(frame, "bpw"), errors="coerce").astype("float64")
    fill = _column(frame, "quant").map(lambda q: _catalog(q, "typical_bpw", np.nan))
    return bpw.fillna(fill.astype("float64"))


def _label(series: pd.Series) -> pd.Series:
    """Lower-case string labels with missing values as ``'unknown'``."""
    out = series.astype("object").where(series.notna(), UNKNOWN)
    return out.map(lambda v: str(v).strip().lower() or UNKNOWN).astype("object")


def _flags(frame: pd.DataFrame) -> pd.Series:
    return _column(frame, "flags").map(flag_set)


def scheme_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """The 0/1 :data:`SCHEME_COLUMNS` of each row (same index as ``frame``)."""
    flags = _flags(frame)
    imatrix = _column(frame, "imatrix").map(lambda v: v if isinstance(v, bool | np.bool_)
                                            else None)
    variant = _column(frame, "quant_variant").map(lambda v: str(v) if isinstance(v, str) else "")
    published = _column(frame, "quant_as_published").map(
        lambda v: str(v) if isinstance(v, str) else "")
    quant = _column(frame, "quant").map(lambda v: str(v) if isinstance(v, str) else "")
    def has(series: pd.Series, test: Any) -> np.ndarray:
        return np.array([bool(test(v)) for v in series], dtype=bool)

    out = pd.DataFrame({
        "imatrix": has(imatrix, lambda v: v is True),
        "static": has(imatrix, lambda v: v is False),
        "dynamic": has(variant, lambda v: v in _DYNAMIC_VARIANTS)
        | has(flags, lambda f: "non_catalog_mix" in f and "pure" not in f),
        "pure": has(flags, lambda f: "pure" in f),
        "mx": has(quant, _MX.search) | has(published, _MX.search),
        "qat": has(flags, lambda f: bool({"qat", "qat_checkpoint"} & f)),
        "ik_type": has(flags, lambda f: bool({"ik_llama_type", "non_catalog_type"} & f)),
    }, index=frame.index)
    return out.astype("float64").add_prefix("scheme_")


def quality_features(frame: pd.DataFrame) -> pd.DataFrame:
    """Numeric and label columns the quality model uses (same index as ``frame``).

    Columns: ``bpw``, ``log_params``, ``quant_family``, ``task_category``, ``task_group``
    (:data:`TASK_GROUPS`, ``'unknown'`` for others), ``model_family`` and the
    :data:`SCHEME_COLUMNS`.
    Raises :class:`InvalidInputError` when ``params_b`` is missing or not positive.
    """
    params = pd.to_numeric(_column(frame, "params_b"), errors="coerce").astype("float64")
    if params.isna().any() or (params <= 0).any():
        bad = frame.index[params.isna() | (params <= 0)].tolist()[:5]
        raise InvalidInputError(
            f"params_b must be a positive number of billions on every row, got a missing or "
            f"non-positive value on rows {bad}", parameter="params_b")
    family = _label(_column(frame, "quant_family", UNKNOWN))
    from_quant = _column(frame, "quant").map(lambda q: _catalog(q, "family", UNKNOWN))
    family = family.where(family != UNKNOWN, from_quant)
    category = _label(_column(frame, "task_category", UNKNOWN))
    out = pd.DataFrame({
        "bpw": effective_bpw(frame),
        "log_params": np.log(params),
        "quant_family": family,
        "task_category": category,
        "task_group": category.map(TASK_GROUPS).fillna(UNKNOWN).astype("object"),
        "model_family": _label(_column(frame, "model_family", UNKNOWN)),
    }, index=frame.index)
    return pd.concat([out, scheme_columns(frame)], axis=1)
