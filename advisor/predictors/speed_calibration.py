"""The bandwidth / FLOPS rule with a learned calibration: the speed predictor's second opinion.

``rule``: generation ``0.55 x bandwidth / active bytes``, prompt ``0.30 x FLOPS / (2 x active
parameters)`` (the baselines of ``EVALUATION.md``). The calibration is a gradient-boosted model
(:class:`sklearn.ensemble.HistGradientBoostingRegressor`, absolute-error loss) of
``log(measured / rule)`` from what a device given by its specs still has (kind, backend,
bandwidth, FP16 figure) and what the question says (model size, quant class, MoE, context, test
length, build age, micro-batch, flash attention). It learns how far from the rule each kind of
setup runs (HBM cards reach a smaller share of their bandwidth at batch 1, small models pay
overheads, old builds ran slower), with no term for a device's own name: an unseen device gets
what devices with its specs got.

It is constrained to keep the rule's physics: the correction never grows with model size or
context, and never falls with bandwidth, FLOPS, threads or a newer build, so a bigger model is
never predicted faster, a faster device never slower, and the newest build (what a question
that names none gets) never slower than the rows of older ones, whatever odd rows the newest
sources hold. :mod:`advisor.predictors.speed` blends it with the
physical model where held-out devices show that the blend is better.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingRegressor
from threadpoolctl import threadpool_limits

from advisor.vocabulary.errors import InvalidInputError

_ALPHA = 0.10         # 90% intervals
_MIN_CALIBRATION_ROWS = 30
#: Devices a hardware kind needs for an interval and a blend weight of its own (fewer cannot
#: show how much devices of that kind differ; it then takes the phase's, over all kinds): with
#: 3, the 4 CPUs left 3 in each held-out fold, and their intervals covered 0.835 of generation
#: rows.
_MIN_CALIBRATION_DEVICES = 5
#: Blend weights of the physical model tried against the calibrated rule.
BLEND_WEIGHTS = (0.0, 0.25, 0.5, 0.75, 1.0)
#: How much better (relative median APE of held-out devices) a less simple choice of
#: :func:`choose_blend` must be to be taken.
PREFERENCE_MARGIN = 0.05
GEN_EFFICIENCY = 0.55
PP_EFFICIENCY = 0.30
_CATEGORIES = {
    "kind": ("gpu", "apple", "cpu", "apu", "unknown"),
    "backend": ("cuda", "rocm", "vulkan", "metal", "sycl", "opencl", "cpu", "other", "unknown"),
    "quant_class": ("float", "legacy", "k-quant", "i-quant", "ternary", "mx", "hqq", "unknown"),
    "moe": ("no", "yes"), "fork": ("no", "yes"), "host_limited": ("no", "yes"),
    "dev_build": ("no", "yes"),
}
#: numeric inputs and the direction the correction may move with each (+1 up, -1 down, 0 free)
_NUMERIC = {"log_bandwidth": 1, "log_flops": 1, "log_active_bytes": -1, "log_active_params": -1,
            "log_ctx": -1, "log_tokens": 0, "year_gap": 1, "log_ubatch": 0, "flash_attn": 0,
            "log_threads": 1}


def rule(x: pd.DataFrame) -> np.ndarray:
    """log tokens/s of the rule of thumb for each row of speed features ``x`` (its ``phase``;
    ``flops_filled`` for the FLOPS)."""
    gen = GEN_EFFICIENCY * x["bandwidth"] / x["active_bytes"]
    pp = PP_EFFICIENCY * x["flops_filled"] / (2.0 * x["active_params"])
    return np.log(np.where(x["phase"] == "pp", pp, gen).astype("float64"))


def design(x: pd.DataFrame) -> pd.DataFrame:
    """The calibration's inputs from speed features (categoricals with fixed categories)."""
    out = pd.DataFrame(index=x.index)
    for column, levels in _CATEGORIES.items():
        values = x[column].astype(str).where(x[column].astype(str).isin(levels), "unknown")
        out[column] = pd.Categorical(values, categories=list(levels))
    out["log_bandwidth"] = np.log(x["bandwidth"])
    out["log_flops"] = np.log(x["flops_filled"])
    out["log_active_bytes"] = np.log(x["active_bytes"])
    out["log_active_params"] = np.log(x["active_params"])
    out["log_ctx"] = np.log1p(x["ctx"])
    out["log_tokens"] = np.log1p(x["n_tokens"])
    out["year_gap"] = x["year_gap"]
    out["log_ubatch"] = x["log_ubatch"]
    out["flash_attn"] = x["flash_attn"].map({"yes": 1.0, "no": 0.0}).fillna(0.5).astype("float64")
    out["log_threads"] = np.where(x["kind"] == "cpu", np.log(x["threads"]), 0.0)
    return out


class RuleCalibration:
    """``log(measured / rule)`` learned per phase; ``predict`` gives log tokens/s."""

    def __init__(self, random_state: int = 0) -> None:
        self.random_state = random_state

    def fit(self, x: pd.DataFrame, y: np.ndarray, weight: np.ndarray) -> RuleCalibration:
        features = design(x)
        constraints = [0] * len(_CATEGORIES) + list(_NUMERIC.values())
        self.model_ = HistGradientBoostingRegressor(
            loss="absolute_error", learning_rate=0.05, max_iter=300, max_leaf_nodes=15,
            min_samples_leaf=20, l2_regularization=1.0, categorical_features="from_dtype",
            monotonic_cst=constraints, random_state=self.random_state)
        # a few thousand rows: OpenMP threads cost more than they give (16x slower on a busy
        # 2-core machine, measured)
        with threadpool_limits(limits=1, user_api="openmp"):
            self.model_.fit(features, y - rule(x), sample_weight=weight)
        return self

    def predict(self, x: pd.DataFrame) -> np.ndarray:
        """log tokens/s."""
        with threadpool_limits(limits=1, user_api="openmp"):
            return rule(x) + self.model_.predict(design(x))


def _device_median_ape(log_pred: np.ndarray, y: np.ndarray, groups: np.ndarray) -> float:
    ape = pd.Series(np.abs(np.exp(log_pred - y) - 1.0))
    return float(ape.groupby(groups).median().median())


def choose_blend(held_out: np.ndarray, y: np.ndarray, phase: np.ndarray, kind: np.ndarray,
                 groups: np.ndarray) -> dict[str, float | str]:
    """What predicts an unseen device, per phase and per kind with enough held-out devices:
    the plain rule (``'rule'``) or the physical model's weight (one of
    :data:`BLEND_WEIGHTS`) against the calibrated rule. ``held_out[:, 0]`` is the physics,
    ``[:, 1]`` the calibrated rule and ``[:, 2]`` (when given) the plain rule, log tokens/s of
    devices held out of the fits. The score is the median over devices of their median APE;
    the simplest choice within :data:`PREFERENCE_MARGIN` of the best wins (the rule, then the
    physics, then blends towards the calibration), because with a dozen devices a smaller
    score is often chance: the rule needs nothing learned, the physics fewer learned shapes
    than the boosted calibration. Keys ``'tg'`` and ``'tg:gpu'``."""
    out: dict[str, float | str] = {}
    ok = ~np.isnan(held_out[:, :2]).any(axis=1)
    with_rule = held_out.shape[1] > 2
    for ph in np.unique(phase[ok]):
        scopes = {str(ph): ok & (phase == ph)}
        for k in np.unique(kind[ok & (phase == ph)]):
            m = ok & (phase == ph) & (kind == k)
            if len(np.unique(groups[m])) >= _MIN_CALIBRATION_DEVICES:
                scopes[f"{ph}:{k}"] = m
        for key, m in scopes.items():
            options: list[tuple[float | str, np.ndarray]] = \
                [("rule", held_out[m, 2])] if with_rule else []
            options += [(w, w * held_out[m, 0] + (1 - w) * held_out[m, 1])
                        for w in sorted(BLEND_WEIGHTS, reverse=True)]
            errors = [_device_median_ape(z, y[m], groups[m]) for _, z in options]
            best = min(errors)
            out[key] = next(c for (c, _), e in zip(options, errors, strict=True)
                            if e <= best * (1.0 + PREFERENCE_MARGIN))
    return out


def interval(residuals: pd.Series, weight: np.ndarray,
             n_groups: int | None = None) -> tuple[float, float]:
    """Weighted central 90% range of log residuals, widened to contain 0 (the point).

    With ``n_groups`` (the held-out devices the residuals come from) the range is split
    conformal's finite-sample one at the level of devices: the central ``0.9 x (1 + 1/n)`` of
    the residuals (all of them from 9 devices down), because a new device is one more draw of
    a device, not of a row. Without it, 6-fold held-out devices were covered 0.78 (GPU
    prompts) and 0.81 (Apple generation); with it 0.84 and 0.94."""
    ok = residuals.notna().to_numpy()
    r, w = residuals.to_numpy()[ok], np.asarray(weight, dtype="float64")[ok]
    if len(r) == 0:
        raise InvalidInputError("no out-of-fold residuals to calibrate intervals; speed "
                                "training needs rows from at least 2 devices", parameter="frame")
    level = 1.0 - _ALPHA
    if n_groups:
        level = min(1.0, level * (1.0 + 1.0 / n_groups))
    order = np.argsort(r)
    cum = np.cumsum(w[order]) / w.sum()
    lo = r[order][min(np.searchsorted(cum, (1.0 - level) / 2), len(r) - 1)]
    hi = r[order][min(np.searchsorted(cum, 1.0 - (1.0 - level) / 2), len(r) - 1)]
    return min(float(lo), 0.0), max(float(hi), 0.0)


def intervals(resid: pd.Series, phase: np.ndarray, kind: np.ndarray, groups: np.ndarray,
              weight: np.ndarray, kinds: tuple[str, ...]) -> dict[str, tuple[float, float]]:
    """90% intervals (log units) of held-out residuals per phase (``'tg'``) and per phase and
    kind (``'tg:gpu'``) where the kind has enough rows and devices; each with the
    finite-sample correction of its number of devices (:func:`interval`)."""
    out = {}
    found = resid.notna().to_numpy()
    for ph in ("pp", "tg"):
        in_phase = phase == ph
        out[ph] = interval(resid[in_phase], weight[in_phase],
                           len(set(groups[in_phase & found])))
        for k in kinds:
            m = in_phase & (kind == k)
            n = len(set(groups[m & found]))
            if resid[m].notna().sum() >= _MIN_CALIBRATION_ROWS and n >= _MIN_CALIBRATION_DEVICES:
                out[f"{ph}:{k}"] = interval(resid[m], weight[m], n)
    return out
