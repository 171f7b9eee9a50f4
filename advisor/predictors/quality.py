"""Quality predictor: how much a quant costs a model, from bits per weight, size and scheme.

Model form (chosen from held-out error, see ``models/EVALUATION.md``):

* **Error model**: ``log(ppl_ratio - 1)`` and ``log(kld)`` are one ``Ridge`` regression on
  ``bpw``, ``(bpw - 4)^2``, ``log(params_b)``, its square, the quant schemes
  (:data:`~advisor.predictors.quality_features.SCHEMES`), the target (ppl or kld), the model
  family and the source (one-hot; a source only shifts its own rows, since each source measures
  against its own baseline and text; prediction uses no source). Ridge ``alpha=5``. The
  curvature terms follow what the residuals of a straight line showed: log error falls faster
  per bit below 3 bits and flattens toward 8, and both ends of the size range lose more than a
  line in ``log(params)`` says. More bits never predict more error: beyond the bit width where
  the fitted parabola turns, the error stays at its minimum. Errors below the noise of a
  measurement are floored (PPL ratio excess 1e-3, KLD 1e-4) and each model's rows weigh
  ``1 / sqrt(its rows)`` together, so a 70-row sweep of one model does not decide the fit.
* **Retention model**: :class:`~advisor.predictors.retention.RetentionCurve`, fitted on
  accuracy rows, its size effect tied to the error model's (the accuracy rows cover few small
  models; the error rows sixty, from 0.1 B to 1 T parameters). Per task group (coding and maths
  against knowledge and language): :meth:`QualityPredictor.retention_curves`. What each scheme
  is worth on PPL/KLD, in bits per weight: ``scheme_bits_``.
* **KV cache**: :class:`~advisor.predictors.kv_cache.KVCacheTerm`, the cost of a ``q8_0`` or
  ``q4_0`` cache against f16 (:meth:`QualityPredictor.cache_effect`).
* **Intervals** (90%): split-conformal quantiles of out-of-fold residuals, pooled over folds
  grouped by model and folds grouped by source; log space for PPL/KLD (a target measured on
  fewer than 5 models takes the quantiles of both targets' residuals). Retention residuals are
  divided by the predicted loss + 0.02, with separate quantiles at or below 3.5 bits per weight
  and above (the spread between models differs there; for PPL and KLD a split lowered held-out
  coverage). A retention interval never reaches below the lowest retention the data shows at
  that bit width or more (:func:`~advisor.predictors.retention.retention_floor`).

Not used for training (``exclusions_`` counts them): rows flagged ``not_gguf``, float
baselines, rows without bpw, accuracy rows whose retention has a standard error above 10 points
(the printed one, or the binomial one of ``n_items``), rows against a quantized reference, and
rows run with a quantized KV cache (the cache's cost is the KV term's).
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import Ridge
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder

from advisor.predictors.features import UNKNOWN, flag_set
from advisor.predictors.kv_cache import CacheEffect, KVCacheTerm
from advisor.predictors.quality_features import (
    SCHEME_COLUMNS,
    SCHEMES,
    TASK_GROUPS,
    quality_features,
)
from advisor.predictors.retention import RetentionCurve, floor_at, retention_floor
from advisor.vocabulary.errors import InvalidInputError
from advisor.vocabulary.schema import QUANTIZED_REFERENCE

log = logging.getLogger(__name__)

ERROR_FLOORS = {"ppl": 1e-3, "kld": 1e-4}  # smallest PPL-ratio excess / KLD used as a target
_ALPHA = 0.10           # 90% intervals
_SCALE_FLOOR = 0.02
_LOW_BITS = 3.5         # retention intervals: separate quantiles at or below this bpw
_MAX_RETENTION_SE = 0.10  # retention rows noisier than this cannot inform a ~3-point model
_NUMERIC = ["bpw", "bpw_sq", "log_params", "log_params_sq", *SCHEME_COLUMNS]
_CALIBRATION_GROUPS = ("model", "source_id")  # interval residuals: held out by each, pooled
_MIN_INTERVAL_MODELS = 5  # models a target's own residuals must come from to set its interval
_CATEGORICAL = ["target", "model_family", "source_id"]
_CENTRE_BPW, _CENTRE_LOG_PARAMS = 4.0, float(np.log(8.0))
OUTPUTS = ("retention", "retention_low", "retention_high", "ppl_ratio", "ppl_ratio_low",
           "ppl_ratio_high", "kld", "kld_low", "kld_high")


def _error_pipeline(alpha: float) -> Pipeline:
    encode = ColumnTransformer(
        [("num", "passthrough", _NUMERIC),
         ("cat", OneHotEncoder(handle_unknown="ignore", min_frequency=1), _CATEGORICAL)],
        verbose_feature_names_out=False)
    return Pipeline([("encode", encode), ("ridge", Ridge(alpha=alpha))])


def _with_terms(x: pd.DataFrame, bpw_cap: float = np.inf) -> pd.DataFrame:
    """``x`` with the curvature columns; ``bpw`` is capped where more bits stop helping."""
    bpw = np.minimum(x["bpw"].to_numpy(dtype="float64"), bpw_cap)
    lp = x["log_params"].to_numpy(dtype="float64") - _CENTRE_LOG_PARAMS
    return x.assign(bpw=bpw, bpw_sq=(bpw - _CENTRE_BPW) ** 2, log_params_sq=lp ** 2)


class QualityPredictor:
    """Predicts retention, PPL ratio and KLD (with 90% intervals) of a model at a quant.

    ``fit(frame)`` takes :meth:`Dataset.quality_frame` rows; ``predict(frame)`` takes the
    columns of :data:`advisor.predictors.quality_features.QUALITY_INPUTS` and returns
    :data:`OUTPUTS`.
    """

    def __init__(self, *, alpha: float = 5.0, calibration_folds: int = 5) -> None:
        self.alpha = alpha
        self.calibration_folds = calibration_folds

    # -- data -------------------------------------------------------------------------------
    def _training_rows(self, frame: pd.DataFrame) -> pd.DataFrame:
        if frame.empty:
            raise InvalidInputError("quality training needs rows, got an empty frame",
                                    parameter="frame")
        params = pd.to_numeric(frame["params_b"], errors="coerce")
        no_params = params.isna() | ~(params > 0)
        x = quality_features(frame[~no_params]).reindex(frame.index)
        flags = frame["flags"] if "flags" in frame else pd.Series([[]] * len(frame),
                                                                  index=frame.index)
        cache = frame["cache_type"] if "cache_type" in frame else pd.Series(
            None, index=frame.index, dtype="object")
        rules = {
            "no_params": no_params,
            "not_gguf": flags.map(lambda f: "not_gguf" in flag_set(f)),
            "float_baseline": x["quant_family"].eq("float") | (x["bpw"] >= 15.5),
            "no_bpw": x["bpw"].isna(),
            "noisy_retention": retention_se(frame) > _MAX_RETENTION_SE,
            "quantized_reference": flags.map(lambda f: QUANTIZED_REFERENCE in flag_set(f)),
            "kv_cache_quantized": cache.notna() & ~cache.isin(["f16"]),
        }
        keep = pd.Series(True, index=frame.index)
        self.exclusions_: dict[str, int] = {}
        for name, mask in rules.items():
            self.exclusions_[name] = int((keep & mask).sum())
            keep &= ~mask
        rows = frame[keep].copy()
        feats = quality_features(rows)
        for c in feats.columns:
            rows[c] = feats[c]
        rows["source_id"] = rows.get("source_id", pd.Series(UNKNOWN, index=rows.index))
        if "model" not in rows:
            rows["model"] = UNKNOWN
        return rows

    @staticmethod
    def _error_rows(rows: pd.DataFrame) -> pd.DataFrame:
        parts = []
        for target, name in (("ppl_ratio", "ppl"), ("kld", "kld")):
            if target not in rows:
                continue
            sub = rows[rows[target].notna()].copy()
            raw = sub[target] - 1.0 if target == "ppl_ratio" else sub[target]
            sub["y"] = np.log(raw.clip(lower=ERROR_FLOORS[name]).astype("float64"))
            sub["target"] = name
            parts.append(sub)
        out = pd.concat(parts) if parts else pd.DataFrame()
        if len(out) < 5:
            raise InvalidInputError(
                f"quality training needs >= 5 usable ppl_ratio/kld rows, got {len(out)}",
                parameter="frame")
        return _with_terms(out)

    # -- fitting ----------------------------------------------------------------------------
    def fit(self, frame: pd.DataFrame) -> QualityPredictor:
        rows = self._training_rows(frame)
        err = self._error_rows(rows)
        self.error_model_, self.bpw_slope_, self.bpw_cap_ = self._fit_error(err)
        self.size_ratio_ = self._size_ratio(self.error_model_)
        self.scheme_bits_ = self._scheme_bits(self.error_model_)
        acc = rows[rows["retention"].notna()] if "retention" in rows else rows.iloc[:0]
        self.retention_curve_ = RetentionCurve().fit(acc, self.size_ratio_)
        self.floor_ = retention_floor(acc)
        self._calibrate(err, acc)
        self.kv_cache_ = KVCacheTerm().fit(frame)
        self.n_train_ = {"error_rows": int(len(err)), "retention_rows": int(len(acc)),
                         "models": int(rows["model"].nunique())}
        self.features_ = [*_NUMERIC, "model_family", "task_category"]
        log.info("quality model fitted: %s, excluded %s, bpw slope %.3f", self.n_train_,
                 self.exclusions_, self.bpw_slope_)
        return self

    def _fit_error(self, err: pd.DataFrame) -> tuple[Pipeline, float, float]:
        """(model, d log error / d bpw at 4 bits, the bpw where more bits stop helping)."""
        counts = err["model"].astype(str).map(err["model"].astype(str).value_counts())
        model = _error_pipeline(self.alpha).fit(
            err[_NUMERIC + _CATEGORICAL], err["y"],
            ridge__sample_weight=np.sqrt(1.0 / counts.to_numpy(dtype="float64")))
        coef = model.named_steps["ridge"].coef_
        slope, curve = float(coef[0]), float(coef[1])
        if slope >= 0:
            raise InvalidInputError(
                "quality training data must show a loss with fewer bits (negative bpw slope of "
                f"log error), got slope {slope:.3f}", parameter="frame")
        cap = _CENTRE_BPW - slope / (2 * curve) if curve > 0 else np.inf
        return model, slope, cap

    @staticmethod
    def _size_ratio(model: Pipeline) -> float:
        """d log error / d log params over d log error / d bpw, at 4 bits and 8 B parameters."""
        coef = model.named_steps["ridge"].coef_
        return float(coef[2] / coef[0])

    @staticmethod
    def _scheme_bits(model: Pipeline) -> dict[str, float]:
        """What each scheme is worth in bits per weight to the log-error model (its coefficient
        over the slope per bit at 4 bits): ``{'imatrix': 0.23, ...}``."""
        coef = model.named_steps["ridge"].coef_
        first = _NUMERIC.index(SCHEME_COLUMNS[0])
        return {s: float(coef[first + i] / coef[0]) for i, s in enumerate(SCHEMES)}

    def _log_error(self, model: Pipeline, cap: float, x: pd.DataFrame, target: str
                   ) -> np.ndarray:
        q = _with_terms(x, cap).assign(target=target, source_id=UNKNOWN)
        return np.asarray(model.predict(q[_NUMERIC + _CATEGORICAL]), dtype="float64")

    def _calibrate(self, err: pd.DataFrame, acc: pd.DataFrame) -> None:
        """90% intervals from out-of-fold residuals under two groupings, pooled: folds by
        model (a model nobody measured) and folds by source (a new evaluation text and harness:
        a user's own KLD or PPL is measured on their text, whose shift no source term knows)."""
        err_parts, acc_parts = [], []
        for key in _CALIBRATION_GROUPS:
            err_res, acc_res = self._oof_residuals(err, acc, key)
            err_parts.append(err_res)
            acc_parts.append(acc_res)
        err_res = np.concatenate(err_parts)
        acc_res = np.concatenate(acc_parts)
        n_keys = len(_CALIBRATION_GROUPS)
        targets = np.concatenate([err["target"].to_numpy()] * n_keys)
        models = np.concatenate([err["model"].astype(str).to_numpy()] * n_keys)
        self.quantiles_: dict[str, tuple[float, float]] = {}
        for t in ("ppl", "kld"):
            mine = (targets == t) & np.isfinite(err_res)
            # a target measured on few models cannot show the model-to-model spread: it borrows
            # the residuals of both targets (one log-error model serves both)
            if len(np.unique(models[mine])) < _MIN_INTERVAL_MODELS:
                mine = np.isfinite(err_res)
            self.quantiles_[t] = _interval(err_res[mine], 1.0)
        low = np.concatenate([acc["bpw"].to_numpy(dtype="float64") <= _LOW_BITS] * n_keys)
        ok = np.isfinite(acc_res)
        pooled = _interval(acc_res[ok], 0.5) if ok.sum() >= 5 else (-0.5, 0.5)
        for name, band in (("retention_low_bits", low), ("retention", ~low)):
            mine = ok & band
            self.quantiles_[name] = _interval(acc_res[mine], 0.5) if mine.sum() >= 20 else pooled

    def _oof_residuals(self, err: pd.DataFrame, acc: pd.DataFrame, key: str
                       ) -> tuple[np.ndarray, np.ndarray]:
        """Residuals of error rows (log space) and accuracy rows (scaled) predicted by models
        fitted without their ``key`` group (``calibration_folds`` folds; NaN where a row could
        not be held out, e.g. fewer than two groups)."""
        err_res = np.full(len(err), np.nan)
        acc_res = np.full(len(acc), np.nan)
        if key not in err:
            return err_res, acc_res
        groups = err[key].astype(str).to_numpy()
        acc_groups = acc[key].astype(str).to_numpy() if len(acc) else np.array([], dtype=str)
        all_groups = np.unique(np.concatenate([groups, acc_groups]))
        n_splits = min(self.calibration_folds, len(all_groups))
        if n_splits < 2:
            return err_res, acc_res
        fold_of = {g: i % n_splits
                   for i, g in enumerate(np.random.default_rng(0).permutation(all_groups))}
        for fold in range(n_splits):
            te = np.array([fold_of[g] == fold for g in groups], dtype=bool)
            te_acc = np.array([fold_of[g] == fold for g in acc_groups], dtype=bool)
            if not te.any() or te.all():
                continue
            try:
                model, _, cap = QualityPredictor(alpha=self.alpha)._fit_error(err[~te])
            except InvalidInputError:
                continue
            held = err[te]
            for t in ("ppl", "kld"):
                mask = np.zeros(len(err), dtype=bool)
                mask[np.flatnonzero(te)] = held["target"].to_numpy() == t
                if mask.any():
                    err_res[mask] = (err["y"].to_numpy()[mask]
                                     - self._log_error(model, cap, err[mask], t))
            if te_acc.any() and not te_acc.all():
                curve = RetentionCurve().fit(acc[~te_acc], self._size_ratio(model))
                acc_res[te_acc] = curve.scaled_residual(acc[te_acc], _SCALE_FLOOR)
        return err_res, acc_res

    # -- prediction -------------------------------------------------------------------------
    def _features(self, frame: pd.DataFrame) -> pd.DataFrame:
        if not hasattr(self, "error_model_"):
            raise InvalidInputError("QualityPredictor is not fitted; call fit() first",
                                    parameter="self")
        x = quality_features(frame)
        if x["bpw"].isna().any():
            bad = x.index[x["bpw"].isna()].tolist()[:5]
            raise InvalidInputError(
                f"each row needs bpw or a known quant name, got neither on rows {bad}",
                parameter="bpw")
        return x

    def predict(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Point predictions and 90% intervals for each row (same index). See :data:`OUTPUTS`."""
        x = self._features(frame)
        out = pd.DataFrame(index=frame.index, columns=list(OUTPUTS), dtype="float64")
        bpw = x["bpw"].to_numpy(dtype="float64")
        for target, col, offset in (("ppl", "ppl_ratio", 1.0), ("kld", "kld", 0.0)):
            z = self._log_error(self.error_model_, self.bpw_cap_, x, target)
            lo, hi = self._bounds(target, bpw)
            out[col] = offset + np.exp(z)
            out[f"{col}_low"] = offset + np.exp(z + lo)
            out[f"{col}_high"] = offset + np.exp(z + hi)
        point = self.retention_curve_.predict(x)
        scale = 1.0 - point + _SCALE_FLOOR
        lo_hi = np.column_stack(self._bounds("retention", bpw))
        floor = floor_at(self.floor_, bpw)
        out["retention"] = point
        out["retention_low"] = np.minimum(np.maximum(point + lo_hi[:, 0] * scale, floor), point)
        out["retention_high"] = point + lo_hi[:, 1] * scale
        return out

    def _bounds(self, target: str, bpw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(low, high) conformal quantiles of ``target`` for each row's bit width."""
        high_bits = self.quantiles_[target]
        low_bits = self.quantiles_.get(f"{target}_low_bits", high_bits)
        is_low = bpw <= _LOW_BITS
        return (np.where(is_low, low_bits[0], high_bits[0]),
                np.where(is_low, low_bits[1], high_bits[1]))

    def retention_curves(self, params_b: float, bpw: np.ndarray | list[float],
                         categories: list[str] | tuple[str, ...] | None = None) -> pd.DataFrame:
        """Retention against bits per weight per task category, for the "quality kept against
        bits per weight" chart: one row per (category, bpw) with ``retention``, its interval and
        the category's ``task_group``. ``categories`` default: every category of
        :data:`~advisor.predictors.quality_features.TASK_GROUPS` the product asks about."""
        cats = list(categories) if categories is not None else [
            "coding", "math", "reasoning", "knowledge", "instruction_following", "language"]
        grid = np.asarray(bpw, dtype="float64")
        frame = pd.DataFrame([{"params_b": params_b, "bpw": b, "task_category": c}
                              for c in cats for b in grid])
        pred = self.predict(frame)
        return pd.DataFrame({
            "task_category": frame["task_category"],
            "task_group": frame["task_category"].map(TASK_GROUPS).fillna(UNKNOWN),
            "bpw": frame["bpw"], "retention": pred["retention"],
            "retention_low": pred["retention_low"], "retention_high": pred["retention_high"]})

    def cache_effect(self, cache_type: str, target: str = "retention") -> CacheEffect:
        """What a quantized KV cache costs on top of the weights' loss (``'f16'``: nothing);
        multiply a retention by ``value`` (interval ``low``-``high``). Unknown types raise
        :class:`~advisor.vocabulary.errors.UnknownNameError` naming the priced ones."""
        if not hasattr(self, "kv_cache_"):
            raise InvalidInputError("QualityPredictor is not fitted; call fit() first",
                                    parameter="self")
        return self.kv_cache_.effect(cache_type, target)


def _interval(residuals: np.ndarray, fallback: float) -> tuple[float, float]:
    """Central 90% range of residuals, widened to contain 0 (the point prediction)."""
    if len(residuals) == 0:
        return -fallback, fallback
    lo, hi = np.quantile(residuals, [_ALPHA / 2, 1 - _ALPHA / 2])
    return min(float(lo), 0.0), max(float(hi), 0.0)


def retention_se(frame: pd.DataFrame) -> pd.Series:
    """Standard error of each row's retention, NaN when unknown: the printed ``stderr`` over
    ``baseline_value``, else the binomial error of a score measured on ``n_items`` questions."""
    if not {"baseline_value", "retention"} <= set(frame.columns):
        return pd.Series(np.nan, index=frame.index)
    base = pd.to_numeric(frame["baseline_value"], errors="coerce")
    base = base.where(base > 0)
    se = pd.to_numeric(frame.get("stderr", pd.Series(np.nan, index=frame.index)),
                       errors="coerce") / base
    if "n_items" in frame and "value" in frame:
        scale = np.where(base > 1.0, 100.0, 1.0)
        p = (pd.to_numeric(frame["value"], errors="coerce") / scale).clip(0.0, 1.0)
        n = pd.to_numeric(frame["n_items"], errors="coerce")
        binomial = np.sqrt(p * (1 - p) / n) * scale / base
        se = se.fillna(binomial)
    return se.where(frame["retention"].notna())
