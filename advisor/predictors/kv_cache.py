"""The quality cost of a quantized KV cache (``--cache-type-k/-v q8_0`` or ``q4_0``).

Fitted on the published rows that isolate the cache's own cost: the same weights measured on a
quantized cache and on an f16 cache by the same source (``kv_cache_only`` rows; see
:mod:`advisor.data.importers.quality`). Two targets, each per cache type:

* ``retention``: accuracy on the quantized cache / accuracy on the f16 cache;
* ``ppl_ratio``: PPL on the quantized cache / PPL on the f16 cache.

Too few models are measured (four or five per cache type) to learn how the cost depends on the
model, so each is one number per cache type: the median over models of each model's mean (a
model measured on many benchmarks counts once, and one odd model cannot move it far). Its 90%
interval is the prediction interval of one more model, ``mean +- t(0.95, n-1) s sqrt(1+1/n)``
over the per-model means, and the held-out figures (``held_out_``) predict each model from the
others, beside the baseline the product used before: the cache is free (ratio 1).

``f16`` is the reference: ratio 1 with no interval. A K/V pair that differs
(``k=q8_0,v=f16``) or a type no source measured raises :class:`UnknownNameError`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from advisor.vocabulary.errors import InvalidInputError, UnknownNameError

log = logging.getLogger(__name__)

REFERENCE = "f16"
TARGETS = ("retention", "ppl_ratio")
_MIN_MODELS = 2  # a cache type needs rows from this many models to be priced


@dataclass(frozen=True)
class CacheEffect:
    """The cost of one cache type on one target (ratios, 1 = no cost)."""

    cache_type: str
    target: str
    value: float
    low: float
    high: float
    n_models: int
    n_rows: int
    sources: tuple[str, ...]

    def describe(self) -> str:
        """A short provenance line: what the figure is and what it rests on."""
        if self.cache_type == REFERENCE:
            return "f16 KV cache: the reference (no cost)"
        return (f"{self.cache_type} KV cache vs f16, median over {self.n_models} models "
                f"({self.n_rows} published rows: {', '.join(self.sources)})")


class KVCacheTerm:
    """Per-cache-type retention and PPL ratio of a quantized KV cache against an f16 cache.

    ``fit(frame)`` takes :meth:`Dataset.quality_frame` rows (only ``kv_cache_only`` GGUF rows
    are used); :meth:`effect` answers one (cache type, target).
    """

    def fit(self, frame: pd.DataFrame) -> KVCacheTerm:
        rows = _cache_rows(frame)
        self.effects_: dict[tuple[str, str], CacheEffect] = {}
        self.held_out_: dict[str, dict[str, float | int]] = {}
        for (cache, target), sub in _long(rows).groupby(["cache_type", "target"]):
            per_model = sub.groupby("model")["actual"].mean()
            if len(per_model) < _MIN_MODELS:
                continue
            value = float(per_model.median())
            low, high = _prediction_interval(per_model.to_numpy())
            self.effects_[(str(cache), str(target))] = CacheEffect(
                str(cache), str(target), value, min(low, value), max(high, value),
                len(per_model), len(sub), tuple(sorted(set(sub["source_id"].astype(str)))))
            self.held_out_[f"{cache}/{target}"] = _held_out(per_model, len(sub))
        log.info("KV cache term: %s", sorted(self.effects_))
        return self

    @property
    def cache_types(self) -> list[str]:
        """Cache types with a fitted cost, plus the f16 reference."""
        return sorted({REFERENCE, *(c for c, _ in self.effects_)})

    def effect(self, cache_type: str, target: str = "retention") -> CacheEffect:
        """The fitted cost of ``cache_type`` (``'q8_0'``, ``'q4_0'``; ``'f16'``: none)."""
        if not hasattr(self, "effects_"):
            raise InvalidInputError("KVCacheTerm is not fitted; call fit() first",
                                    parameter="self")
        if target not in TARGETS:
            raise UnknownNameError("KV cache target", target, TARGETS, parameter="target")
        cache = str(cache_type).strip().lower()
        if cache == REFERENCE:
            return CacheEffect(REFERENCE, target, 1.0, 1.0, 1.0, 0, 0, ())
        found = self.effects_.get((cache, target))
        if found is None:
            known = [c for c in self.cache_types if c == REFERENCE or (c, target) in self.effects_]
            raise UnknownNameError("cache_type", cache_type, known, parameter="cache_type")
        return found


def _prediction_interval(values: np.ndarray) -> tuple[float, float]:
    """90% prediction interval for one more model: mean +- t(0.95, n-1) s sqrt(1 + 1/n)."""
    n = len(values)
    half = float(stats.t.ppf(0.95, n - 1) * np.std(values, ddof=1) * np.sqrt(1 + 1 / n))
    return float(values.mean()) - half, float(values.mean()) + half


def _held_out(per_model: pd.Series, n_rows: int) -> dict[str, float | int]:
    """Each model predicted from the others (needs 3 models for an interval of the others)."""
    values = per_model.to_numpy(dtype="float64")
    errors, covered = [], []
    for i in range(len(values)):
        others = np.delete(values, i)
        errors.append(abs(float(np.median(others)) - values[i]))
        if len(others) >= 2:
            low, high = _prediction_interval(others)
            covered.append(low <= values[i] <= high)
    return {"models": len(values), "rows": n_rows,
            "mean_ae_pts": float(np.mean(errors) * 100),
            "baseline_mean_ae_pts": float(np.mean(np.abs(values - 1.0)) * 100),
            "coverage_90": float(np.mean(covered)) if covered else float("nan")}


def _cache_rows(frame: pd.DataFrame) -> pd.DataFrame:
    if frame.empty or "cache_type" not in frame:
        return frame.iloc[:0]
    flags = frame["flags"] if "flags" in frame else pd.Series([[]] * len(frame),
                                                              index=frame.index)
    keep = (flags.map(lambda f: _has(f, "kv_cache_only") and not _has(f, "not_gguf"))
            & frame["cache_type"].notna())
    if "excluded_reason" in frame:
        keep &= frame["excluded_reason"].isna()
    return frame[keep]


def _has(flags: object, flag: str) -> bool:
    return isinstance(flags, list | tuple | set | np.ndarray) and flag in list(flags)


def _long(rows: pd.DataFrame) -> pd.DataFrame:
    parts = [rows[rows[t].notna()].assign(target=t, actual=rows[t].astype("float64"))
             for t in TARGETS if t in rows]
    parts = [p for p in parts if len(p)]
    if not parts:
        return pd.DataFrame(columns=["cache_type", "target", "model", "actual", "source_id"])
    return pd.concat(parts)[["cache_type", "target", "model", "actual", "source_id"]]
