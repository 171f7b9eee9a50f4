"""Speed predictor: llama-bench tokens/s from model size, quant and device specs.

The model is physical first, learned second:

1. **Roofline base** (per phase and hardware kind with >= 20 rows, else pooled; a
   ``LinearRegression(positive=True)`` on seconds per token).
   Generation reads every active weight once per token, so
   ``t_tg = a_k * active_bytes / bandwidth + c_k * ctx * active_bytes / bandwidth + o_k``.
   Prompt processing is compute bound, with the weights read once per micro-batch of 512:
   ``t_pp = a_k * 2 * active_params / flops + b_k * model_bytes / (bandwidth * min(n, 512))
   + c_k * ctx * active_params / flops + o_k``. ``k`` is the hardware kind (gpu, apple, cpu,
   apu); every coefficient is >= 0, so more bandwidth or FLOPS is never slower and more bytes or
   parameters never faster. Rows are weighted by tokens_per_s^2 (a relative-error fit).
2. **Residual** in log(tokens/s) by a ``HistGradientBoostingRegressor`` on backend, quant
   family, fork, MoE, host limit and log sizes/specs, monotone in the same directions.
3. **Device offset**: a shrunken mean of out-of-fold residuals per known device name (zero for
   devices never seen).
4. **90% interval** from out-of-fold residual quantiles (split conformal, folds grouped by
   device), per phase.

Training skips multi-device rows (``n_devices > 1``), rows without bandwidth (a device without
specs cannot be predicted from specs) and combined ``pp+tg`` tests; ``exclusions_`` counts them.
A combined test is predicted from its two phases.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.linear_model import LinearRegression
from sklearn.model_selection import GroupKFold
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import FunctionTransformer, OrdinalEncoder

from advisor.errors import InvalidInputError
from advisor.features import HARDWARE_KINDS, UBATCH, speed_features

log = logging.getLogger(__name__)

PHASES = ("pp", "tg")
RESIDUAL_CATEGORICAL = ("kind", "backend", "quant_family", "fork", "moe", "host_limited")
# feature -> monotone direction of tokens/s (+1 increasing, -1 decreasing, 0 free)
RESIDUAL_NUMERIC = {"log_bandwidth": 1, "log_flops": 1, "log_active_bytes": -1,
                    "log_model_bytes": -1, "log_ctx": -1, "log_n_tokens": 0}
_CTX_SCALE = 1e-4  # keeps the context term's coefficient near the others' magnitude
_OVERHEAD_S = 1e-3
_ALPHA = 0.10      # 90% intervals
_SHRINK_ROWS = 10.0
_MIN_CALIBRATION_ROWS = 30
_MIN_KIND_ROWS = 20
POOLED = "__pooled__"


def roofline_design(x: pd.DataFrame, *, phase: str) -> np.ndarray:
    """Design matrix of the roofline terms (seconds per token per unit coefficient)."""
    bw, fl = x["bandwidth"].to_numpy(), x["flops_filled"].to_numpy()
    if phase == "tg":
        mem = x["active_bytes"].to_numpy() / bw
        terms = [mem, mem * x["ctx"].to_numpy() * _CTX_SCALE, np.full(len(x), _OVERHEAD_S)]
    else:
        compute = 2.0 * x["active_params"].to_numpy() / fl
        batch = np.clip(x["n_tokens"].to_numpy(), 1.0, UBATCH)
        terms = [compute, x["model_bytes"].to_numpy() / (bw * batch),
                 compute * x["ctx"].to_numpy() * _CTX_SCALE, np.full(len(x), _OVERHEAD_S / 10)]
    return np.column_stack(terms)


def _residual_pipeline(random_state: int, max_iter: int) -> Pipeline:
    cats = list(RESIDUAL_CATEGORICAL)
    nums = list(RESIDUAL_NUMERIC)
    encode = ColumnTransformer(
        [("cat", OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1,
                                encoded_missing_value=-1), cats),
         ("num", "passthrough", nums)], verbose_feature_names_out=False)
    hgb = HistGradientBoostingRegressor(
        max_iter=max_iter, learning_rate=0.08, max_depth=3, min_samples_leaf=10,
        l2_regularization=1.0, categorical_features=list(range(len(cats))),
        monotonic_cst=[0] * len(cats) + [RESIDUAL_NUMERIC[n] for n in nums],
        early_stopping=False, random_state=random_state)
    return Pipeline([("encode", encode), ("boost", hgb)])


class SpeedPredictor:
    """Predicts ``tokens_per_s`` (and a 90% interval) for llama-bench style tests.

    ``fit(frame)`` takes :meth:`Dataset.speed_frame` rows; ``predict(frame)`` takes the columns
    listed in :data:`advisor.features.SPEED_INPUTS` and returns ``tokens_per_s``,
    ``tokens_per_s_low`` and ``tokens_per_s_high`` on the same index.
    """

    def __init__(self, *, calibration_folds: int = 5, max_iter: int = 150,
                 random_state: int = 0) -> None:
        self.calibration_folds = calibration_folds
        self.max_iter = max_iter
        self.random_state = random_state

    # -- features ---------------------------------------------------------------------------
    def _features(self, frame: pd.DataFrame) -> pd.DataFrame:
        x = speed_features(frame)
        ratio = x["kind"].map(self.flops_per_byte_).astype("float64").fillna(
            self.flops_per_byte_["all"])
        x["flops_filled"] = x["flops"].fillna(x["bandwidth"] * ratio)
        x["log_flops"] = np.log(x["flops_filled"])
        x["log_n_tokens"] = np.log(x["n_tokens"].clip(lower=1.0))
        host = frame["host_limit"] if "host_limit" in frame else pd.Series(None, index=x.index)
        x["host_limited"] = host.notna() & (host.astype("object").astype(str).str.strip() != "")
        for c in ("fork", "moe", "host_limited"):
            x[c] = x[c].map({True: "yes", False: "no"}).astype("object")
        return x

    # -- fitting ----------------------------------------------------------------------------
    def _training_rows(self, frame: pd.DataFrame) -> pd.DataFrame:
        excl: dict[str, int] = {}
        keep = pd.Series(True, index=frame.index)
        frame = frame.assign(**{c: np.nan for c in ("active_params_b", "bandwidth_gbs",
                                                     "model_bytes", "params_b")
                                 if c not in frame})
        devices = pd.to_numeric(frame.get("n_devices", 1), errors="coerce")
        rules = {
            "multi_device (n_devices > 1; the model is single-device)":
                pd.Series(devices, index=frame.index).fillna(1) > 1,
            "no_bandwidth (device without specs)": frame["bandwidth_gbs"].isna(),
            "no_model_size": frame["model_bytes"].isna() & frame["params_b"].isna(),
            "moe_active_unknown (MoE without active parameter count)":
                _as_bool(frame, "moe") & frame["active_params_b"].isna(),
            "no_gpu_offload (GPU device, weights on the CPU)": frame["flags"].map(
                lambda f: "no_gpu_offload" in _flags(f) or "gpu_backend_on_cpu_device" in
                _flags(f)) if "flags" in frame else pd.Series(False, index=frame.index),
            "combined_test (pp+tg; predicted from its phases)":
                (frame["n_prompt"].fillna(0) > 0) & (frame["n_gen"].fillna(0) > 0),
        }
        for name, mask in rules.items():
            hit = keep & mask
            excl[name] = int(hit.sum())
            keep &= ~mask
        self.exclusions_ = excl
        rows = frame[keep]
        if rows.empty:
            raise InvalidInputError("speed training needs rows with bandwidth_gbs, a model "
                                    "size and a pp or tg test, got none", parameter="frame")
        return rows

    def fit(self, frame: pd.DataFrame) -> SpeedPredictor:
        rows = self._training_rows(frame)
        kinds = rows["hardware_kind"].astype("object").str.lower()
        self.kinds_ = tuple(k for k in HARDWARE_KINDS if (kinds == k).any())
        spec = rows.assign(kind=kinds)
        ratio = (spec["fp16_tflops"] * 1e12 / (spec["bandwidth_gbs"] * 1e9))
        overall = float(np.nanmedian(ratio)) if ratio.notna().any() else 50.0
        self.flops_per_byte_ = {k: float(np.nanmedian(ratio[kinds == k]))
                                if ratio[kinds == k].notna().any() else overall
                                for k in self.kinds_}
        self.flops_per_byte_["all"] = overall
        x = self._features(rows)
        y = np.log(rows["tokens_per_s"].to_numpy(dtype="float64"))
        groups = rows["hardware"].astype(str).to_numpy()
        self.base_, self.residual_, self.quantiles_ = {}, {}, {}
        self.device_offset_: dict[str, float] = {}
        self.n_train_ = {}
        oof = np.full(len(rows), np.nan)
        for ph in PHASES:
            m = (x["phase"] == ph).to_numpy()
            self.n_train_[ph] = int(m.sum())
            if m.sum() < 5:
                raise InvalidInputError(f"speed training needs >= 5 '{ph}' rows, got {m.sum()}",
                                        parameter="frame")
            self.base_[ph], self.residual_[ph] = self._fit_phase(x[m], y[m], ph)
            oof[m] = self._out_of_fold(x[m], y[m], groups[m], ph)
        resid = pd.Series(y - oof, index=rows.index)
        fitted = np.zeros(len(rows))
        for ph in PHASES:
            m = (x["phase"] == ph).to_numpy()
            fitted[m] = self._log_base(self.base_[ph], x[m]) + self.residual_[ph].predict(x[m])
        in_sample = pd.Series(y - fitted, index=rows.index)
        self.device_offset_ = {d: float(r.sum() / (len(r) + _SHRINK_ROWS))
                               for d, r in in_sample.groupby(groups)}
        for ph in PHASES:
            in_phase = (x["phase"] == ph).to_numpy()
            self.quantiles_[ph] = _interval(resid[in_phase])
            for k in self.kinds_:
                r = resid[in_phase & (x["kind"] == k).to_numpy()]
                if r.notna().sum() >= _MIN_CALIBRATION_ROWS:
                    self.quantiles_[f"{ph}:{k}"] = _interval(r)
        self.oof_residual_ = resid
        self.features_ = [*RESIDUAL_CATEGORICAL, *RESIDUAL_NUMERIC]
        log.info("speed model fitted on %s rows, excluded %s", self.n_train_, self.exclusions_)
        return self

    def _fit_phase(self, x: pd.DataFrame, y: np.ndarray,
                   ph: str) -> tuple[dict[str, Pipeline], Pipeline]:
        """Roofline per hardware kind (pooled for kinds with few rows) plus the residual."""
        tps = np.exp(y)
        base: dict[str, Pipeline] = {}
        kinds = x["kind"].to_numpy()
        for k in (POOLED, *self.kinds_):
            m = np.ones(len(x), bool) if k == POOLED else kinds == k
            if m.sum() < _MIN_KIND_ROWS:
                continue
            base[k] = make_pipeline(
                FunctionTransformer(roofline_design, kw_args={"phase": ph}),
                LinearRegression(positive=True, fit_intercept=False)).fit(
                x[m], 1.0 / tps[m], linearregression__sample_weight=tps[m] ** 2)
        offset = y - self._log_base(base, x)
        residual = _residual_pipeline(self.random_state, self.max_iter)
        residual.fit(x, offset)
        return base, residual

    @staticmethod
    def _log_base(base: dict[str, Pipeline], x: pd.DataFrame) -> np.ndarray:
        seconds = base[POOLED].predict(x)
        kinds = x["kind"].to_numpy()
        for k, model in base.items():
            m = kinds == k
            if k != POOLED and m.any():
                seconds[m] = model.predict(x[m])
        return -np.log(np.clip(seconds, 1e-9, None))

    def _out_of_fold(self, x: pd.DataFrame, y: np.ndarray, groups: np.ndarray,
                     ph: str) -> np.ndarray:
        n_groups = len(np.unique(groups))
        out = np.full(len(y), np.nan)
        if n_groups < 2:
            return out
        for tr, te in GroupKFold(n_splits=min(self.calibration_folds, n_groups)).split(
                x, y, groups):
            base, residual = self._fit_phase(x.iloc[tr], y[tr], ph)
            out[te] = self._log_base(base, x.iloc[te]) + residual.predict(x.iloc[te])
        return out

    # -- prediction -------------------------------------------------------------------------
    def _predict_phase(self, x: pd.DataFrame, ph: str,
                       names: pd.Series) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        z = self._log_base(self.base_[ph], x) + self.residual_[ph].predict(x)
        z = z + names.map(self.device_offset_).fillna(0.0).to_numpy(dtype="float64")
        bounds = np.array([self.quantiles_.get(f"{ph}:{k}", self.quantiles_[ph])
                           for k in x["kind"]]).reshape(-1, 2)
        return np.exp(z), np.exp(z + bounds[:, 0]), np.exp(z + bounds[:, 1])

    def predict(self, frame: pd.DataFrame) -> pd.DataFrame:
        """tokens/s with a 90% interval for each row of ``frame`` (same index)."""
        if not hasattr(self, "base_"):
            raise InvalidInputError("SpeedPredictor is not fitted; call fit() first",
                                    parameter="self")
        x = self._features(frame)
        missing = x.index[x["bandwidth"].isna() | ~(x["bandwidth"] > 0)].tolist()
        unsized = x.index[x["model_bytes"].isna() | ~(x["model_bytes"] > 0)].tolist()
        if missing or unsized:
            raise InvalidInputError(
                "speed prediction needs bandwidth_gbs > 0 and model_bytes (or params_b with a "
                f"known quant) on every row; missing bandwidth on rows {missing[:5]}, model "
                f"size on rows {unsized[:5]}", parameter="bandwidth_gbs" if missing else
                "model_bytes")
        names = frame["hardware"].astype("object") if "hardware" in frame else pd.Series(
            None, index=frame.index, dtype="object")
        out = pd.DataFrame(index=frame.index, columns=["tokens_per_s", "tokens_per_s_low",
                                                       "tokens_per_s_high"], dtype="float64")
        results: dict[str, Any] = {}
        for ph in PHASES:
            xp = x.copy()
            xp["phase"] = ph
            if ph == "pp":
                xp["n_tokens"] = _numeric(frame, "n_prompt", x.index)
            else:
                xp["n_tokens"] = _numeric(frame, "n_gen", x.index)
            xp["n_tokens"] = xp["n_tokens"].where(xp["n_tokens"] > 0, 1.0)
            xp["ctx"] = _numeric(frame, "depth", x.index) + xp["n_tokens"] / 2.0
            xp["log_ctx"] = np.log1p(xp["ctx"])
            xp["log_n_tokens"] = np.log(xp["n_tokens"])
            results[ph] = self._predict_phase(xp, ph, names)
        n_p = _numeric(frame, "n_prompt", x.index).to_numpy()
        n_g = _numeric(frame, "n_gen", x.index).to_numpy()
        for i, col in enumerate(out.columns):
            pp, tg = results["pp"][i], results["tg"][i]
            mixed = (n_p + n_g) / (n_p / pp + n_g / tg)
            out[col] = np.where(x["phase"] == "pp", pp, np.where(x["phase"] == "tg", tg, mixed))
        return out


def _flags(value: object) -> set[str]:
    return {str(v) for v in value} if isinstance(value, list | tuple | set | np.ndarray) else set()


def _as_bool(frame: pd.DataFrame, name: str) -> pd.Series:
    if name not in frame:
        return pd.Series(False, index=frame.index)
    return frame[name].astype("object").fillna(False).astype(bool)


def _interval(residuals: pd.Series) -> tuple[float, float]:
    """Central 90% range of log residuals, widened to contain 0 (the point prediction)."""
    r = residuals.dropna().to_numpy()
    if len(r) == 0:
        raise InvalidInputError("no out-of-fold residuals to calibrate intervals; speed "
                                "training needs rows from at least 2 devices", parameter="frame")
    lo, hi = np.quantile(r, [_ALPHA / 2, 1 - _ALPHA / 2])
    return min(float(lo), 0.0), max(float(hi), 0.0)


def _numeric(frame: pd.DataFrame, name: str, index: pd.Index) -> pd.Series:
    if name not in frame:
        return pd.Series(0.0, index=index)
    return pd.to_numeric(frame[name], errors="coerce").fillna(0.0).astype("float64")
