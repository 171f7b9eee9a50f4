"""Speed predictor: llama-bench tokens/s from model size, quant and device specs.

The model is physical, with a handful of learned efficiencies:

1. **Physical time per token** (one fit per phase, ``scipy.optimize.least_squares`` on
   log tokens/s with a robust loss; every device weighs ``1/sqrt(rows)`` so that one
   well-measured device cannot dominate).
   Generation reads every active weight once per token, pays a per-layer launch/sync overhead
   and reads the KV cache for attention:
   ``t_tg = active_bytes / (eff * bandwidth) + h_k * layers + a_k * ctx * kv``.
   Prompt processing is compute bound (the weights are read once per micro-batch of 512):
   ``t_pp = 2 * active_params / (eff * F) + w * model_bytes / (bandwidth * min(n, 512))
   + a_k * ctx * kv / F + h_k * layers`` with ``F = flops^g * (50 * bandwidth)^(1 - g)``,
   ``0 <= g <= 1`` learned, because the FP16 figures mix vector and tensor-core peaks.
   ``eff = exp(e0 + X beta)`` where ``X`` one-hot encodes hardware kind, backend, quant class,
   fork, host limit and FLOPS basis, and ``beta`` is ridge-shrunk towards 0 (an unseen group
   gets the pooled efficiency). The FLOPS basis (``fp16_basis`` column: tensor-core, vector
   FP16, FP32 stand-in or unknown) says what the device's FP16 figure measures: llama.cpp's
   prompt kernels reach 1.4-2x a *vector* FP16 peak (they use the tensor cores the figure
   leaves out) but 0.2-0.45x a *tensor-core* peak, so one efficiency cannot serve both. In
   generation the label separates the cards whose spec sheets quote tensor figures (HBM
   datacenter GPUs, WMMA APUs), which reach a lower share of their bandwidth at batch 1; this is
   an empirical grouping, kept because it improves the held-out error of both phases. Rows
   without the column share one ``'unknown'`` level (no effect). Prompt processing alone also
   has an efficiency level for MoE models: a micro-batch's tokens are spread over the experts,
   whose small matrix products run further from peak than a dense model's (about 0.7x, learned
   on devices that ran both kinds of model); generation reads the active experts as a dense
   model reads its weights, and gets no such level. Prompts measured on a development build
   (``dev_build``: posted in a llama.cpp pull request, on its branch or the master it compared
   with, often the PR that first brought a backend) get a level too: a new backend's matrix
   kernels start far from their later speed, and without the label those rows dragged the
   backend's level below what releases reach (held out by device, the prompt error on release
   rows fell from 19.5% to 14.0%, and by source from 55% to 44%). Predictions are for releases
   (no label). Generation kept no such level: it did not improve either held-out view.
   On a CPU the threads bound both phases, since each core reaches only a share of the DRAM
   bandwidth and no device-wide FLOPS figure applies: generation reads at
   ``1 / (1 / bandwidth + 1 / (threads * b))`` and prompt processing computes at
   ``F = threads * c``, with the per-thread rates ``b`` and ``c`` learned (CPU rows without a
   thread count take the training CPU rows' median).
   Layers split over ``n`` identical GPUs (llama.cpp's default split) are read one device
   after the other, so generation reads the same bytes per token and pays a learned hand-over
   time per extra device; a prompt's micro-batches pipeline through the devices, dividing its
   time by ``min(n, micro-batches) ** s`` with ``0 < s < 1`` learned. These two terms are
   fitted on the multi-device rows after everything else is fitted on single devices, so the
   split rows cannot pull the single-device physics; their intervals are the single devices'.
   ``h_k`` and ``a_k`` are per hardware kind. ``layers`` and ``kv`` are size proxies
   (``21 * params_b^0.31 / 32`` layers, 1.3 for an 8B model; ``sqrt(params_b / 8)`` KV bytes,
   1 for an 8B model). The catalog's real layer counts and KV bytes per token were tried in
   their place and did not improve the held-out error: the learned per-layer overhead also
   absorbs a size-dependent efficiency, and few rows have a deep context. Every term grows
   with model size and shrinks with bandwidth/FLOPS, so a bigger model is never faster and
   more bandwidth never slower.
2. **Device offset** (generation only): a shrunken mean of a known device's generation
   residuals (zero for devices never seen). Held out one model at a time on known devices, it
   lowers the GPU/Apple generation error from 20.8% to 16.1%; a prompt offset raised the prompt
   error from 17.1% to 23.7% (a device's prompt residual depends on the model's kernels more
   than on the device), so prompts get none. ``evaluate`` reports this view of known devices.
3. **90% interval** from out-of-fold residual quantiles (split conformal, folds grouped by
   device, so the width covers the device-to-device spread an unseen device has), per phase
   and hardware kind where a kind has enough rows (30) and devices (5). Generation of weights
   larger than any cache (:data:`advisor.predictors.features.CACHE_BYTES`) is capped, point and
   interval, at the bandwidth roofline ``bandwidth x devices / active bytes``: no such row in
   the data exceeds 0.95x of it, and held out, 47% of GPU/Apple upper bounds did (coverage
   is unchanged; their median upper bound fell from 1.82x to 1.62x the point).

Training skips rows without bandwidth (a device without specs cannot be predicted from specs), MoE
rows without an active parameter count, rows whose weights stayed on the CPU of a GPU device,
combined ``pp+tg`` tests, and rows faster than their device's bandwidth or FLOPS could possibly run
them (:func:`advisor.predictors.features.over_physical_ceiling`: a failed or mis-transcribed run);
``exclusions_`` counts them. A combined test is predicted from its two phases.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd
from scipy.optimize import least_squares
from sklearn.model_selection import GroupKFold

from advisor.predictors.features import (
    CACHE_BYTES,
    HARDWARE_KINDS,
    UBATCH,
    flag_set,
    over_physical_ceiling,
    speed_features,
)
from advisor.vocabulary.errors import InvalidInputError

log = logging.getLogger(__name__)

PHASES = ("pp", "tg")
#: Label columns whose levels shift the efficiency (one-hot, ridge-shrunk).
EFFICIENCY_GROUPS = ("kind", "backend", "quant_class", "fork", "host_limited", "flops_basis")
#: Labels that shift only one phase's efficiency (see the module docstring).
PHASE_GROUPS = {"pp": ("moe", "dev_build"), "tg": ()}
PHYSICAL_INPUTS = ("active_bytes", "active_params", "model_bytes", "bandwidth", "flops_filled",
                   "ctx", "n_tokens", "layers", "kv", "threads", "n_devices")
_ALPHA = 0.10         # 90% intervals
_SHRINK_ROWS = 10.0
_MIN_CALIBRATION_ROWS = 30
#: Devices a hardware kind needs for an interval of its own (fewer cannot show how much devices
#: of that kind differ; it then takes the phase's interval over all kinds): with 3, the 4 CPUs
#: left 3 in each held-out fold, and their intervals covered 0.835 of generation rows.
_MIN_CALIBRATION_DEVICES = 5
_RIDGE = 1.0          # penalty on the efficiency effects (log units)
_F_SCALE = 0.3        # robust-loss scale (log units): rows off by more count less
_BW_FLOPS = 50.0      # FLOP per byte standing in for bandwidth inside F
#: Starting points of the learned per-thread rates of a CPU (one core's share of DRAM bandwidth
#: at batch 1, and its matrix-multiply rate); the fit scales them by a learned factor.
_THREAD_BANDWIDTH = 15e9
_THREAD_FLOPS = 60e9
_DEFAULT_THREADS = 8.0  # CPU rows without a thread count, when training has none to go by


class _PhysicalFit:
    """One phase's physical model; ``theta_`` holds log coefficients (see module docstring)."""

    def __init__(self, phase: str, ridge: float) -> None:
        self.phase, self.ridge = phase, ridge

    def _arrays(self, x: pd.DataFrame) -> dict[str, np.ndarray]:
        a = {c: x[c].to_numpy(dtype="float64") for c in PHYSICAL_INPUTS}
        cols = [(x[g] == lvl).to_numpy(float) for g in self.levels_
                for lvl in self.levels_[g]]
        a["X"] = np.column_stack(cols) if cols else np.zeros((len(x), 0))
        kind = x["kind"].to_numpy()
        a["K"] = np.column_stack([(kind == k).astype(float) for k in HARDWARE_KINDS])
        a["cpu"] = kind == "cpu"
        a["threads"] = np.where(a["cpu"], a["threads"], 1.0)
        return a

    def _seconds(self, a: dict[str, np.ndarray], th: np.ndarray) -> np.ndarray:
        p = self.n_effects_
        eff = np.exp(th[p] + a["X"] @ th[:p])
        n_k = len(HARDWARE_KINDS)
        known = a["K"].sum(axis=1) > 0

        def per_kind(v: np.ndarray) -> np.ndarray:
            return np.where(known, a["K"] @ np.exp(v), np.exp(v).mean())

        over = per_kind(th[p + 1:p + 1 + n_k]) * a["layers"]
        attn = per_kind(th[p + 1 + n_k:p + 1 + 2 * n_k]) * a["ctx"] * a["kv"]
        per_thread = np.exp(th[-2])
        extra = a["n_devices"] - 1.0
        if self.phase == "tg":
            # A CPU's threads also have to compute every weight (dequantize, dot product),
            # at a per-thread rate; on a GPU that hides under the weight reads.
            compute = np.where(a["cpu"], 2.0 * a["active_params"]
                               / (a["threads"] * _THREAD_FLOPS * per_thread), 0.0)
            # Layers split over several devices are read one device after the other: the
            # same bytes per token, plus a hand-over per extra device.
            return (a["active_bytes"] / a["bandwidth"] + compute) / eff + 1e-3 * over \
                + 1e-7 * attn + 1e-4 * np.exp(th[-1]) * extra
        g = 1.0 / (1.0 + np.exp(-th[-4]))
        f = a["flops_filled"] ** g * (_BW_FLOPS * a["bandwidth"]) ** (1.0 - g)
        # A CPU's matrix-multiply rate is its threads' (no device-wide FLOPS figure applies).
        f = np.where(a["cpu"], a["threads"] * _THREAD_FLOPS * per_thread, f)
        batch = np.clip(a["n_tokens"], 1.0, UBATCH)
        # Split layers pipeline a prompt's micro-batches through the devices: at most
        # min(devices, micro-batches) work at once, with a learned share of that speed-up.
        stages = np.minimum(a["n_devices"], np.ceil(np.maximum(a["n_tokens"], 1.0) / UBATCH))
        speedup = stages ** (1.0 / (1.0 + np.exp(-th[-1])))
        return (2.0 * a["active_params"] / (f * eff)
                + np.exp(th[-3]) * a["model_bytes"] / (a["bandwidth"] * batch)
                + 1e6 * attn / f + 1e-6 * over) / speedup

    def fit(self, x: pd.DataFrame, y: np.ndarray, weight: np.ndarray) -> _PhysicalFit:
        self.levels_ = {g: sorted(set(x[g]))
                        for g in (*EFFICIENCY_GROUPS, *PHASE_GROUPS[self.phase])}
        self.n_effects_ = sum(len(v) for v in self.levels_.values())
        p = self.n_effects_
        # effects, e0, per-kind overheads and attention, (pp: g, w), per-thread rate, and the
        # multi-device term (tg: hand-over time; pp: share of the pipeline speed-up)
        theta = np.zeros(p + 1 + 2 * len(HARDWARE_KINDS) + (2 if self.phase == "pp" else 0) + 2)
        theta[p] = np.log(0.6)
        # Single devices fit everything; rows with layers split over several devices then fit
        # only the multi-device term, so they cannot pull the single-device physics.
        multi = (x["n_devices"] > 1).to_numpy()
        a = self._arrays(x[~multi])
        sw = np.sqrt(weight[~multi])
        shrink = np.sqrt(self.ridge)

        def residuals(th: np.ndarray) -> np.ndarray:
            r = (-np.log(self._seconds(a, th)) - y[~multi]) * sw
            return np.r_[r, shrink * th[:p], 0.01 * th[p + 1:]]

        self.theta_ = least_squares(residuals, theta, loss="soft_l1", f_scale=_F_SCALE,
                                    max_nfev=400).x
        if multi.any():
            am, swm, fixed = self._arrays(x[multi]), np.sqrt(weight[multi]), self.theta_.copy()

            def multi_residuals(last: np.ndarray) -> np.ndarray:
                th = np.r_[fixed[:-1], last]
                return np.r_[(-np.log(self._seconds(am, th)) - y[multi]) * swm, 0.01 * last]

            self.theta_[-1] = least_squares(multi_residuals, fixed[-1:], loss="soft_l1",
                                            f_scale=_F_SCALE, max_nfev=200).x[0]
        return self

    def predict(self, x: pd.DataFrame) -> np.ndarray:
        """log tokens/s."""
        return -np.log(self._seconds(self._arrays(x), self.theta_))


class SpeedPredictor:
    """Predicts ``tokens_per_s`` (and a 90% interval) for llama-bench style tests.

    ``fit(frame)`` takes :meth:`Dataset.speed_frame` rows; ``predict(frame)`` takes the columns
    listed in :data:`advisor.predictors.features.SPEED_INPUTS` and returns ``tokens_per_s``,
    ``tokens_per_s_low`` and ``tokens_per_s_high`` on the same index.
    ``max_iter`` is kept for compatibility with older callers and has no effect.
    """

    def __init__(self, *, calibration_folds: int = 5, max_iter: int = 150,
                 random_state: int = 0, ridge: float = _RIDGE) -> None:
        self.calibration_folds = calibration_folds
        self.max_iter = max_iter
        self.random_state = random_state
        self.ridge = ridge

    # -- features ---------------------------------------------------------------------------
    def _features(self, frame: pd.DataFrame) -> pd.DataFrame:
        x = speed_features(frame)
        ratio = x["kind"].map(self.flops_per_byte_).astype("float64").fillna(
            self.flops_per_byte_["all"])
        x["flops_filled"] = x["flops"].fillna(x["bandwidth"] * ratio)
        params = pd.to_numeric(frame["params_b"], errors="coerce") if "params_b" in frame \
            else pd.Series(np.nan, index=x.index)
        params = params.fillna(x["active_params"] / 1e9).clip(lower=0.05)
        params = np.maximum(params, x["active_params"] / 1e9)
        x["layers"] = 21.0 * params ** 0.31 / 32.0
        x["kv"] = np.sqrt(params / 8.0)
        x["threads"] = x["threads"].fillna(self.default_threads_)
        x["quant_class"] = x["quant_family"]
        for c in ("fork", "moe", "host_limited", "dev_build"):
            x[c] = x[c].map({True: "yes", False: "no"}).astype("object")
        return x

    def _training_rows(self, frame: pd.DataFrame) -> pd.DataFrame:
        excl: dict[str, int] = {}
        keep = pd.Series(True, index=frame.index)
        frame = frame.assign(**{c: np.nan for c in ("active_params_b", "bandwidth_gbs",
                                                     "model_bytes", "params_b")
                                 if c not in frame})
        rules = {
            "no_bandwidth (device without specs)": frame["bandwidth_gbs"].isna(),
            "no_model_size": frame["model_bytes"].isna() & frame["params_b"].isna(),
            "moe_active_unknown (MoE without active parameter count)":
                _as_bool(frame, "moe") & frame["active_params_b"].isna(),
            "no_gpu_offload (GPU device, weights on the CPU)": frame["flags"].map(
                lambda f: bool({"no_gpu_offload", "gpu_backend_on_cpu_device"} & flag_set(f)))
                if "flags" in frame else pd.Series(False, index=frame.index),
            "combined_test (pp+tg; predicted from its phases)":
                (frame["n_prompt"].fillna(0) > 0) & (frame["n_gen"].fillna(0) > 0),
            "over_physical_ceiling (faster than the device's bandwidth or FLOPS allow)":
                over_physical_ceiling(frame),
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
        # rows with layers split over several devices only calibrate the multi-device terms
        # (see _PhysicalFit.fit); everything else is learned from single devices
        single = (pd.to_numeric(rows.get("n_devices", 1), errors="coerce")
                  .reindex(rows.index).fillna(1.0) <= 1).to_numpy() \
            if "n_devices" in rows else np.ones(len(rows), dtype=bool)
        ratio = (rows["fp16_tflops"] * 1e12 / (rows["bandwidth_gbs"] * 1e9)).where(single)
        overall = float(np.nanmedian(ratio)) if ratio.notna().any() else 50.0
        self.flops_per_byte_ = {k: float(np.nanmedian(ratio[kinds == k]))
                                if ratio[kinds == k].notna().any() else overall
                                for k in self.kinds_}
        self.flops_per_byte_["all"] = overall
        threads = pd.to_numeric(rows["threads"], errors="coerce")[(kinds == "cpu").to_numpy()] \
            if "threads" in rows else pd.Series(dtype="float64")
        self.default_threads_ = float(threads.median()) if threads.notna().any() \
            else _DEFAULT_THREADS
        x = self._features(rows)
        y = np.log(rows["tokens_per_s"].to_numpy(dtype="float64"))
        groups = rows["hardware"].astype(str).to_numpy()
        setup = pd.Series(groups) + np.where(single, "", " (split)")
        per_device = setup.map(setup.value_counts()).to_numpy()
        weight = 1.0 / np.sqrt(per_device.astype("float64"))
        self.base_: dict[str, _PhysicalFit] = {}
        self.quantiles_: dict[str, tuple[float, float]] = {}
        self.n_train_: dict[str, int] = {}
        oof = np.full(len(rows), np.nan)
        fitted = np.zeros(len(rows))
        for ph in PHASES:
            m = (x["phase"] == ph).to_numpy()
            self.n_train_[ph] = int(m.sum())
            if m.sum() < 5:
                raise InvalidInputError(f"speed training needs >= 5 '{ph}' rows, got {m.sum()}",
                                        parameter="frame")
            self.base_[ph] = _PhysicalFit(ph, self.ridge).fit(x[m], y[m], weight[m])
            fitted[m] = self.base_[ph].predict(x[m])
            s = m & single  # intervals: calibrated on single devices, as the physics is
            oof[s] = self._out_of_fold(x[s], y[s], weight[s], groups[s], ph)
        resid = pd.Series(y - oof, index=rows.index)
        gen = single & (x["phase"] == "tg").to_numpy()
        in_sample = pd.Series(y - fitted, index=rows.index)[gen]
        self.device_offset_ = {d: float(r.sum() / (len(r) + _SHRINK_ROWS))
                               for d, r in in_sample.groupby(groups[gen])}
        for ph in PHASES:
            in_phase = (x["phase"] == ph).to_numpy()
            self.quantiles_[ph] = _interval(resid[in_phase], weight[in_phase])
            for k in self.kinds_:
                m = in_phase & (x["kind"] == k).to_numpy()
                n_devices = len(set(groups[m]))
                if (resid[m].notna().sum() >= _MIN_CALIBRATION_ROWS
                        and n_devices >= _MIN_CALIBRATION_DEVICES):
                    self.quantiles_[f"{ph}:{k}"] = _interval(resid[m], weight[m])
        self.oof_residual_ = resid
        phase_only = dict.fromkeys(g for groups in PHASE_GROUPS.values() for g in groups)
        self.features_ = [*EFFICIENCY_GROUPS, *phase_only, *PHYSICAL_INPUTS]
        log.info("speed model fitted on %s rows, excluded %s", self.n_train_, self.exclusions_)
        return self

    def _out_of_fold(self, x: pd.DataFrame, y: np.ndarray, weight: np.ndarray,
                     groups: np.ndarray, ph: str) -> np.ndarray:
        n_groups = len(np.unique(groups))
        out = np.full(len(y), np.nan)
        if n_groups < 2:
            return out
        for tr, te in GroupKFold(n_splits=min(self.calibration_folds, n_groups)).split(
                x, y, groups):
            model = _PhysicalFit(ph, self.ridge).fit(x.iloc[tr], y[tr], weight[tr])
            out[te] = model.predict(x.iloc[te])
        return out

    # -- prediction -------------------------------------------------------------------------
    def _predict_phase(self, x: pd.DataFrame, ph: str,
                       names: pd.Series) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        z = self.base_[ph].predict(x)
        if ph == "tg":  # generation only (see the module docstring)
            z = z + names.map(self.device_offset_).fillna(0.0).to_numpy(dtype="float64")
        bounds = np.array([self.quantiles_.get(f"{ph}:{k}", self.quantiles_[ph])
                           for k in x["kind"]]).reshape(-1, 2)
        point, low, high = np.exp(z), np.exp(z + bounds[:, 0]), np.exp(z + bounds[:, 1])
        if ph == "tg":
            # weights larger than any cache cannot be read faster than the memory allows
            # (the fastest such row in the data reaches 0.95x): neither can the interval
            ceiling = np.where(x["active_bytes"] > CACHE_BYTES, x["bandwidth"] * x["n_devices"]
                               / x["active_bytes"], np.inf)
            point, low, high = (np.minimum(v, ceiling) for v in (point, low, high))
        return point, low, high

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


def _as_bool(frame: pd.DataFrame, name: str) -> pd.Series:
    if name not in frame:
        return pd.Series(False, index=frame.index)
    return frame[name].astype("object").fillna(False).astype(bool)


def _interval(residuals: pd.Series, weight: np.ndarray) -> tuple[float, float]:
    """Weighted central 90% range of log residuals, widened to contain 0 (the point)."""
    ok = residuals.notna().to_numpy()
    r, w = residuals.to_numpy()[ok], np.asarray(weight, dtype="float64")[ok]
    if len(r) == 0:
        raise InvalidInputError("no out-of-fold residuals to calibrate intervals; speed "
                                "training needs rows from at least 2 devices", parameter="frame")
    order = np.argsort(r)
    cum = np.cumsum(w[order]) / w.sum()
    lo = r[order][np.searchsorted(cum, _ALPHA / 2)]
    hi = r[order][min(np.searchsorted(cum, 1 - _ALPHA / 2), len(r) - 1)]
    return min(float(lo), 0.0), max(float(hi), 0.0)


def _numeric(frame: pd.DataFrame, name: str, index: pd.Index) -> pd.Series:
    if name not in frame:
        return pd.Series(0.0, index=index)
    return pd.to_numeric(frame[name], errors="coerce").fillna(0.0).astype("float64")
