"""Quality predictor: how much a quant costs a model, from bits per weight and model size.

Model form (chosen from the data: log(PPL ratio - 1) and log(KLD) fall on straight lines in
bits per weight, about -1.3 per bit, lower for larger models):

* **Error model**: ``log(ppl_ratio - 1)`` and ``log(kld)`` are one ``Ridge`` regression on
  ``bpw``, ``log(params_b)``, the target (ppl or kld), the model family and the source (one-hot;
  a source only shifts its own rows, since each source measures against its own baseline;
  prediction uses no source; ridge ``alpha=5`` shrinks the many one-hot columns, which lowered
  held-out error by model and by source alike). The ``bpw`` coefficient must be negative, so
  more bits never predict a higher PPL ratio or KLD for the same model.
* **Retention model**: fitted directly on accuracy rows (a PPL-derived mapping transferred
  badly: the model families measured for PPL and for accuracy barely overlap). Retention is
  ``exp(-exp(z))`` with ``z = c0 + c_cat - b (bpw - 4) - d log(params_b / 8)``, ``b > 0``:
  the lost accuracy is ``~exp(z)`` when small and saturates at 1. Category offsets ``c_cat``
  are ridge-shrunk toward 0 (unknown categories get 0). Fitted with a robust (soft-L1) loss,
  since single benchmarks are noisy. Quant family is not used: in this data it is confounded
  with the source (i-quants come from two sources only) and hurt held-out error.
* **Intervals** (90%): split-conformal quantiles of out-of-fold residuals, pooled over folds
  grouped by model and folds grouped by source (a user's figures come from their own text and
  harness, a shift no source term can know); log space for PPL/KLD; retention residuals
  divided by the predicted loss + 0.02, so intervals are narrow near 8 bits and wide near 2.
  A target measured on fewer than 5 models (KLD today: 3) takes the quantiles of both targets'
  residuals, as its own few models cannot show how much models differ.

Rows flagged ``not_gguf`` (fake-quant papers with other rounding schemes), float baselines,
rows without bpw, and accuracy rows whose retention has a standard error above 10 points
(``stderr / baseline_value``: a task suite too small, or a model too close to chance, to resolve
the few points a quant costs; rows without a standard error are kept) and rows measured
against a reference dequantized from a quantized file (``quantized_reference``: the packaged
demo models, whose KLD and PPL ratio measure re-quantization, e.g. Gemma-3-270M's Q4_K_M
matches its Q4_K_M-derived reference better than Q6_K does) are not used; ``exclusions_``
counts them.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
from scipy.optimize import least_squares
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import Ridge
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder

from advisor.predictors.features import UNKNOWN, flag_set, quality_features
from advisor.vocabulary.errors import InvalidInputError
from advisor.vocabulary.schema import QUANTIZED_REFERENCE

log = logging.getLogger(__name__)

ERROR_FLOOR = 1e-4      # smallest PPL-ratio excess / KLD used as a target (noise level)
_ALPHA = 0.10           # 90% intervals
_CATEGORY_RIDGE = 0.017  # penalty weight on category offsets (in retention units)
_ROBUST_SCALE = 0.02     # soft-L1 scale: residuals beyond ~2 points count linearly
_REF_BPW, _REF_LOG_PARAMS = 4.0, float(np.log(8.0))
_SCALE_FLOOR = 0.02
_MAX_RETENTION_SE = 0.10  # retention rows noisier than this cannot inform a ~3-point model
_NUMERIC = ["bpw", "log_params"]
_CALIBRATION_GROUPS = ("model", "source_id")  # interval residuals: held out by each, pooled
_MIN_INTERVAL_MODELS = 5  # models a target's own residuals must come from to set its interval
_CATEGORICAL = ["target", "model_family", "source_id"]
OUTPUTS = ("retention", "retention_low", "retention_high", "ppl_ratio", "ppl_ratio_low",
           "ppl_ratio_high", "kld", "kld_low", "kld_high")


def _error_pipeline(alpha: float) -> Pipeline:
    encode = ColumnTransformer(
        [("num", "passthrough", _NUMERIC),
         ("cat", OneHotEncoder(handle_unknown="ignore", min_frequency=1), _CATEGORICAL)],
        verbose_feature_names_out=False)
    return Pipeline([("encode", encode), ("ridge", Ridge(alpha=alpha))])


class QualityPredictor:
    """Predicts retention, PPL ratio and KLD (with 90% intervals) of a model at a quant.

    ``fit(frame)`` takes :meth:`Dataset.quality_frame` rows; ``predict(frame)`` takes the
    columns of :data:`advisor.predictors.features.QUALITY_INPUTS` and returns :data:`OUTPUTS`.
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
        rules = {
            "no_params": no_params,
            "not_gguf": flags.map(lambda f: "not_gguf" in flag_set(f)),
            "float_baseline": x["quant_family"].eq("float") | (x["bpw"] >= 15.5),
            "no_bpw": x["bpw"].isna(),
            "noisy_retention": _retention_se(frame) > _MAX_RETENTION_SE,
            "quantized_reference": flags.map(lambda f: QUANTIZED_REFERENCE in flag_set(f)),
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
        return rows

    @staticmethod
    def _error_rows(rows: pd.DataFrame) -> pd.DataFrame:
        parts = []
        for target in ("ppl_ratio", "kld"):
            if target not in rows:
                continue
            sub = rows[rows[target].notna()].copy()
            raw = sub[target] - 1.0 if target == "ppl_ratio" else sub[target]
            sub["y"] = np.log(raw.clip(lower=ERROR_FLOOR).astype("float64"))
            sub["target"] = "ppl" if target == "ppl_ratio" else "kld"
            parts.append(sub)
        out = pd.concat(parts) if parts else pd.DataFrame()
        if len(out) < 5:
            raise InvalidInputError(
                f"quality training needs >= 5 usable ppl_ratio/kld rows, got {len(out)}",
                parameter="frame")
        return out

    # -- fitting ----------------------------------------------------------------------------
    def fit(self, frame: pd.DataFrame) -> QualityPredictor:
        rows = self._training_rows(frame)
        err = self._error_rows(rows)
        self.error_model_ = self._fit_error(err)
        acc = rows[rows["retention"].notna()] if "retention" in rows else rows.iloc[:0]
        self.retention_curve_ = RetentionCurve().fit(acc)
        self._calibrate(err, acc)
        self.n_train_ = {"error_rows": int(len(err)), "retention_rows": int(len(acc)),
                         "models": int(rows["model"].nunique()) if "model" in rows else 0}
        self.features_ = [*_NUMERIC, "model_family", "task_category"]
        log.info("quality model fitted: %s, excluded %s, bpw slope %.3f", self.n_train_,
                 self.exclusions_, self.bpw_slope_)
        return self

    def _fit_error(self, err: pd.DataFrame) -> Pipeline:
        model = _error_pipeline(self.alpha).fit(err[_NUMERIC + _CATEGORICAL], err["y"])
        slope = float(model.named_steps["ridge"].coef_[0])
        if slope >= 0:
            raise InvalidInputError(
                "quality training data must show a loss with fewer bits (negative bpw slope of "
                f"log error), got slope {slope:.3f}", parameter="frame")
        self.bpw_slope_ = slope
        return model

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
        self.quantiles_ = {}
        for t in ("ppl", "kld"):
            mine = (targets == t) & np.isfinite(err_res)
            # a target measured on few models cannot show the model-to-model spread: it borrows
            # the residuals of both targets (one log-error model serves both)
            if len(np.unique(models[mine])) < _MIN_INTERVAL_MODELS:
                mine = np.isfinite(err_res)
            self.quantiles_[t] = _interval(err_res[mine], 1.0)
        r = acc_res[np.isfinite(acc_res)]
        self.quantiles_["retention"] = _interval(r, 0.05) if len(r) >= 5 else (-0.5, 0.5)

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
            if te.any() and not te.all():
                try:
                    model = QualityPredictor(alpha=self.alpha)._fit_error(err[~te])
                except InvalidInputError:
                    model = None
                if model is not None:
                    err_res[te] = err["y"].to_numpy()[te] - model.predict(
                        err[te][_NUMERIC + _CATEGORICAL].assign(source_id=UNKNOWN))
            if te_acc.any() and not te_acc.all():
                curve = RetentionCurve().fit(acc[~te_acc])
                acc_res[te_acc] = curve.scaled_residual(acc[te_acc])
        return err_res, acc_res

    # -- prediction -------------------------------------------------------------------------
    def predict(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Point predictions and 90% intervals for each row (same index). See :data:`OUTPUTS`."""
        if not hasattr(self, "error_model_"):
            raise InvalidInputError("QualityPredictor is not fitted; call fit() first",
                                    parameter="self")
        x = quality_features(frame)
        if x["bpw"].isna().any():
            bad = x.index[x["bpw"].isna()].tolist()[:5]
            raise InvalidInputError(
                f"each row needs bpw or a known quant name, got neither on rows {bad}",
                parameter="bpw")
        x["source_id"] = UNKNOWN
        out = pd.DataFrame(index=frame.index, columns=list(OUTPUTS), dtype="float64")
        for target, col, offset in (("ppl", "ppl_ratio", 1.0), ("kld", "kld", 0.0)):
            z = self.error_model_.predict(x.assign(target=target)[_NUMERIC + _CATEGORICAL])
            lo, hi = self.quantiles_[target]
            out[col] = offset + np.exp(z)
            out[f"{col}_low"] = offset + np.exp(z + lo)
            out[f"{col}_high"] = offset + np.exp(z + hi)
        point = self.retention_curve_.predict(x)
        scale = 1.0 - point + _SCALE_FLOOR
        lo, hi = self.quantiles_["retention"]
        out["retention"] = point
        out["retention_low"] = np.maximum(point + lo * scale, 0.0)
        out["retention_high"] = point + hi * scale
        return out


class RetentionCurve:
    """``retention = exp(-exp(z))``, ``z = c0 + c_cat - b (bpw - 4) - d log(params_b / 8)``.

    ``fit(rows)`` takes rows with ``retention``, ``bpw``, ``log_params`` and ``task_category``;
    ``b = exp(log_b_) > 0`` keeps retention non-decreasing in bits for any model and category.
    With no accuracy rows it predicts no loss (retention 1).
    """

    def fit(self, rows: pd.DataFrame) -> RetentionCurve:
        cats = sorted(str(c) for c in rows["task_category"].unique()) if len(rows) else []
        self.categories_ = cats
        if len(rows) < 3:
            self.c0_, self.log_b_, self.d_ = -50.0, 0.0, 0.0
            self.category_offset_ = {c: 0.0 for c in cats}
            return self
        y = rows["retention"].to_numpy(dtype="float64")
        onehot = np.stack([rows["task_category"].astype(str).eq(c).to_numpy(dtype="float64")
                           for c in cats], axis=1)
        bpw = rows["bpw"].to_numpy(dtype="float64") - _REF_BPW
        lp = rows["log_params"].to_numpy(dtype="float64") - _REF_LOG_PARAMS

        def residuals(p: np.ndarray) -> np.ndarray:
            z = p[0] - np.exp(p[1]) * bpw - p[2] * lp + onehot @ p[3:]
            return np.concatenate([np.exp(-np.exp(z)) - y, _CATEGORY_RIDGE * p[3:]])

        p0 = np.zeros(3 + len(cats))
        p0[0] = np.log(0.02)
        p = least_squares(residuals, p0, loss="soft_l1", f_scale=_ROBUST_SCALE).x
        self.c0_, self.log_b_, self.d_ = float(p[0]), float(p[1]), float(p[2])
        self.category_offset_ = {c: float(v) for c, v in zip(cats, p[3:], strict=True)}
        return self

    def predict(self, x: pd.DataFrame) -> np.ndarray:
        """Retention for rows of :func:`quality_features` (unknown categories: offset 0)."""
        offset = x["task_category"].astype(str).map(self.category_offset_).fillna(0.0)
        z = (self.c0_ + offset.to_numpy(dtype="float64")
             - np.exp(self.log_b_) * (x["bpw"].to_numpy(dtype="float64") - _REF_BPW)
             - self.d_ * (x["log_params"].to_numpy(dtype="float64") - _REF_LOG_PARAMS))
        return np.exp(-np.exp(np.clip(z, -50.0, 50.0)))

    def scaled_residual(self, rows: pd.DataFrame) -> np.ndarray:
        """``(measured - predicted) / (predicted loss + 0.02)``, the conformal score."""
        pred = self.predict(rows)
        return (rows["retention"].to_numpy(dtype="float64") - pred) / (1.0 - pred + _SCALE_FLOOR)


def _interval(residuals: np.ndarray, fallback: float) -> tuple[float, float]:
    """Central 90% range of residuals, widened to contain 0 (the point prediction)."""
    if len(residuals) == 0:
        return -fallback, fallback
    lo, hi = np.quantile(residuals, [_ALPHA / 2, 1 - _ALPHA / 2])
    return min(float(lo), 0.0), max(float(hi), 0.0)


def _retention_se(frame: pd.DataFrame) -> pd.Series:
    """Standard error of each row's retention (``stderr / baseline_value``); NaN when unknown."""
    if not {"stderr", "baseline_value", "retention"} <= set(frame.columns):
        return pd.Series(np.nan, index=frame.index)
    se = pd.to_numeric(frame["stderr"], errors="coerce")
    base = pd.to_numeric(frame["baseline_value"], errors="coerce")
    return (se / base.where(base > 0)).where(frame["retention"].notna())
