"""Quality predictor: how much a quant costs a model, from bits per weight and model size.

Model form (chosen from the data: log(PPL ratio - 1) and log(KLD) fall on straight lines in
bits per weight, about -1.3 per bit, lower for larger models):

* **Error model**: ``log(ppl_ratio - 1)`` and ``log(kld)`` are one ``Ridge`` regression on
  ``bpw``, ``log(params_b)``, the target (ppl or kld), the model family and the source (one-hot;
  a source only shifts its own rows, since each source measures against its own baseline;
  prediction uses no source). The ``bpw`` coefficient must be negative, so more bits never
  predict a higher PPL ratio or KLD for the same model.
* **Retention model**: the accuracy lost, ``1 - retention``, is ``k_c * s`` with
  ``s = e / (1 + e)`` and ``e`` the predicted ``ppl_ratio - 1``; ``k_c >= 0`` is the
  sensitivity of task category ``c``, shrunk toward the pooled sensitivity (unknown categories
  get the pooled one). More bits lower ``e``, so never lower retention.
* **Intervals** (90%): split-conformal quantiles of out-of-fold residuals, folds grouped by
  model (log space for PPL/KLD; scaled by ``s + 0.02`` for retention).

Rows flagged ``not_gguf`` (fake-quant papers with other rounding schemes), float baselines and
rows without bpw are not used; ``exclusions_`` counts them.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import Ridge
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder

from advisor.errors import InvalidInputError
from advisor.features import UNKNOWN, quality_features

log = logging.getLogger(__name__)

ERROR_FLOOR = 1e-4      # smallest PPL-ratio excess / KLD used as a target (noise level)
_ALPHA = 0.10           # 90% intervals
_CATEGORY_PRIOR_ROWS = 8.0
_SCALE_FLOOR = 0.02
_NUMERIC = ["bpw", "log_params"]
_CATEGORICAL = ["target", "model_family", "source_id"]
OUTPUTS = ("retention", "retention_low", "retention_high", "ppl_ratio", "ppl_ratio_low",
           "ppl_ratio_high", "kld", "kld_low", "kld_high")


def _error_pipeline(alpha: float) -> Pipeline:
    encode = ColumnTransformer(
        [("num", "passthrough", _NUMERIC),
         ("cat", OneHotEncoder(handle_unknown="ignore", min_frequency=1), _CATEGORICAL)],
        verbose_feature_names_out=False)
    return Pipeline([("encode", encode), ("ridge", Ridge(alpha=alpha))])


def _flag_set(value: object) -> set[str]:
    if isinstance(value, list | tuple | set | np.ndarray):
        return {str(v) for v in value}
    return set()


class QualityPredictor:
    """Predicts retention, PPL ratio and KLD (with 90% intervals) of a model at a quant.

    ``fit(frame)`` takes :meth:`Dataset.quality_frame` rows; ``predict(frame)`` takes the
    columns of :data:`advisor.features.QUALITY_INPUTS` and returns :data:`OUTPUTS`.
    """

    def __init__(self, *, alpha: float = 1.0, calibration_folds: int = 5) -> None:
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
            "not_gguf": flags.map(lambda f: "not_gguf" in _flag_set(f)),
            "float_baseline": x["quant_family"].eq("float") | (x["bpw"] >= 15.5),
            "no_bpw": x["bpw"].isna(),
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
        self.sensitivity_ = self._fit_sensitivity(acc, self.error_model_)
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

    @staticmethod
    def _severity(model: Pipeline, x: pd.DataFrame) -> np.ndarray:
        e = np.exp(model.predict(x.assign(target="ppl", source_id=UNKNOWN)[
            _NUMERIC + _CATEGORICAL]))
        return e / (1.0 + e)

    def _fit_sensitivity(self, acc: pd.DataFrame, model: Pipeline) -> dict[str, float]:
        if acc.empty:
            return {"__pooled__": 0.0}
        s = self._severity(model, acc)
        d = 1.0 - acc["retention"].to_numpy(dtype="float64")
        pooled = max(float(s @ d / max(s @ s, 1e-12)), 0.0)
        out = {"__pooled__": pooled}
        cats = acc["task_category"].to_numpy()
        for c in np.unique(cats):
            m = cats == c
            prior = _CATEGORY_PRIOR_ROWS * float(np.mean(s[m] ** 2))
            k = (s[m] @ d[m] + prior * pooled) / (s[m] @ s[m] + prior + 1e-12)
            out[str(c)] = max(float(k), 0.0)
        return out

    def _calibrate(self, err: pd.DataFrame, acc: pd.DataFrame) -> None:
        """Out-of-fold residual quantiles (grouped by model) for the 90% intervals."""
        err_res = pd.Series(np.nan, index=range(len(err)))
        acc_res = np.full(len(acc), np.nan)
        groups = err["model"].astype(str).to_numpy()
        acc_groups = acc["model"].astype(str).to_numpy() if len(acc) else np.array([])
        all_models = np.unique(np.concatenate([groups, acc_groups]))
        n_splits = min(self.calibration_folds, len(all_models))
        if n_splits >= 2:
            fold_of = {m: i % n_splits for i, m in enumerate(
                np.random.default_rng(0).permutation(all_models))}
            for fold in range(n_splits):
                te = np.array([fold_of[g] == fold for g in groups])
                te_acc = np.array([fold_of[g] == fold for g in acc_groups], dtype=bool)
                if te.all() or not te.any():
                    continue
                sub = QualityPredictor(alpha=self.alpha)
                try:
                    model = sub._fit_error(err[~te])
                except InvalidInputError:
                    continue
                err_res.iloc[np.where(te)[0]] = err["y"].to_numpy()[te] - model.predict(
                    err[te][_NUMERIC + _CATEGORICAL].assign(source_id=UNKNOWN))
                if te_acc.any():
                    sens = sub._fit_sensitivity(acc[~te_acc], model)
                    acc_res[te_acc] = self._retention_residual(acc[te_acc], model, sens)
        self.oof_error_residual_ = err_res.to_numpy()
        self.oof_retention_residual_ = acc_res
        self.quantiles_ = {}
        targets = err["target"].to_numpy()
        for t in ("ppl", "kld"):
            r = err_res.to_numpy()[targets == t]
            r = r[np.isfinite(r)]
            if len(r) < 5:
                r = err_res.dropna().to_numpy()
            self.quantiles_[t] = _interval(r, 1.0)
        r = acc_res[np.isfinite(acc_res)]
        self.quantiles_["retention"] = _interval(r, 0.05) if len(r) >= 5 else (-0.5, 0.5)

    @staticmethod
    def _retention_residual(acc: pd.DataFrame, model: Pipeline,
                            sens: dict[str, float]) -> np.ndarray:
        s = QualityPredictor._severity(model, acc)
        k = acc["task_category"].map(sens).fillna(sens["__pooled__"]).to_numpy(dtype="float64")
        pred = 1.0 - k * s
        return (acc["retention"].to_numpy(dtype="float64") - pred) / (s + _SCALE_FLOOR)

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
        s = self._severity(self.error_model_, x)
        k = x["task_category"].map(self.sensitivity_).fillna(
            self.sensitivity_["__pooled__"]).to_numpy(dtype="float64")
        point = 1.0 - k * s
        lo, hi = self.quantiles_["retention"]
        out["retention"] = point
        out["retention_low"] = point + lo * (s + _SCALE_FLOOR)
        out["retention_high"] = point + hi * (s + _SCALE_FLOOR)
        return out


def _interval(residuals: np.ndarray, fallback: float) -> tuple[float, float]:
    """Central 90% range of residuals, widened to contain 0 (the point prediction)."""
    if len(residuals) == 0:
        return -fallback, fallback
    lo, hi = np.quantile(residuals, [_ALPHA / 2, 1 - _ALPHA / 2])
    return min(float(lo), 0.0), max(float(hi), 0.0)
