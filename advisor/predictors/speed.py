"""Speed predictor: llama-bench tokens/s from model size, quant and device specs.

Two models, blended where held-out devices show the blend is better:

1. **Physical time per token** (:mod:`advisor.predictors.speed_physics`; one fit per phase,
   ``scipy.optimize.least_squares`` on log tokens/s with a robust loss; every device weighs
   ``1/sqrt(rows)`` so that one well-measured device cannot dominate).
   Generation reads every active weight once per token, pays a per-layer launch/sync overhead
   and reads the KV cache of the context at the memory's speed:
   ``t_tg = active_bytes / (eff * bandwidth) + h_k * layers + a_k * ctx * kv / bandwidth``.
   Prompt processing is compute bound (the weights are read once per micro-batch):
   ``t_pp = 2 * active_params / (eff * F) + w * model_bytes / (bandwidth * min(n, ubatch))
   + a_k * ctx * kv / F + h_k * layers`` with ``F = flops^g * (50 * bandwidth)^(1 - g)``,
   ``0 <= g <= 1`` learned, because the FP16 figures mix vector, tensor and FP32 peaks.
   ``eff = exp(e0 + X beta + device)``: ``X`` one-hot encodes hardware kind, backend, quant
   class, fork, host limit, FLOPS basis, flash attention and (per phase) MoE and development
   builds, ridge-shrunk towards 0; a label a row does not know (a device given by its specs has
   no FLOPS basis) counts as the typical value of its kind. The build's age (years before the
   newest training build; :mod:`advisor.predictors.speed_features`) shifts ``eff`` overall and
   per backend, and the prompt micro-batch (``-ub``) shifts prompt ``eff``: predictions are for
   the newest build (:attr:`SpeedPredictor.assumed_build`) with llama-bench's defaults unless a
   row says otherwise. Each training device has an effect of its own (``device``, a shrunk
   random effect fitted with the rest): the labels describe the typical device of a kind, a
   named device keeps its own effect, and a device the fit never saw gets the typical one.
   On a CPU the threads bound both phases (per-thread bandwidth and matrix rates, learned; CPU
   rows without a thread count take the training CPU rows' median). Layers split over ``n``
   identical GPUs pay a learned hand-over per extra device in generation and pipeline a
   prompt's micro-batches (time divided by ``min(n, micro-batches) ** s``); these terms are
   fitted on the multi-device rows after everything else, so the split rows cannot pull the
   single-device physics. ``h_k`` and ``a_k`` are per hardware kind; ``layers`` and ``kv`` are
   size proxies (``21 * params_b^0.31 / 32`` layers; ``sqrt(active_params_b / 8)`` KV bytes).
   Every term grows with model size and shrinks with bandwidth/FLOPS, so a bigger model is
   never faster and more bandwidth never slower.
2. **The rule with a learned calibration** (:mod:`advisor.predictors.speed_calibration`): the
   bandwidth / FLOPS rule of thumb times a gradient-boosted correction from what a device given
   by specs still has (kind, backend, bandwidth, FP16 figure) and what the question says, with
   no term for a device's name and the rule's monotonic physics kept.

**Blend and intervals.** Held out device by device (``GroupKFold``; a source's name for a chip
whose variant it left open goes with that chip), both models predict each device as a device
given by its specs; per phase, and per kind where a kind has 5 devices, the plain rule or the
weight of the physical model (0, 0.25, ..., 1) with the smallest median over devices of their
median error is kept, the simplest choice within 5% of the best
(:func:`advisor.predictors.speed_calibration.choose_blend`): where nothing learned beats the
rule on devices it never saw (CPUs, whose cores the specs do not describe), the rule answers.
A named device adds its own effect to the blend; layers split over several GPUs add the
physical model's gain over one. The 90% interval is the device-weighted range of the blended
held-out residuals per phase and kind (split conformal): the width an unseen device needs.
Generation of weights larger than any cache
(:data:`advisor.predictors.speed_features.CACHE_BYTES`) is capped, point and interval, at the
bandwidth roofline ``bandwidth x devices / active bytes``.

Training skips rows without bandwidth (a device without specs cannot be predicted from specs),
MoE rows without an active parameter count, rows whose weights were not all on the device (no
GPU offload, expert or layer offload, llama.cpp RPC), weights larger than the device's memory,
combined ``pp+tg`` tests, and rows faster than their device could possibly run them
(:func:`advisor.predictors.speed_features.over_physical_ceiling`); ``exclusions_`` counts them.
A combined test is predicted from its two phases.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd
from sklearn.model_selection import GroupKFold

from advisor.data.importers.hardware import SPEED_DEVICE_NAMES
from advisor.predictors.speed_calibration import RuleCalibration, choose_blend, intervals, rule
from advisor.predictors.speed_features import (
    BUILD_DATES,
    CACHE_BYTES,
    HARDWARE_KINDS,
    UNKNOWN,
    _column,
    backend_family,
    effective_bpw,
    flag_set,
    over_physical_ceiling,
    speed_features,
    year_of,
)
from advisor.predictors.speed_physics import (
    EFFICIENCY_GROUPS,
    PHASE_GROUPS,
    PHYSICAL_INPUTS,
    PhysicalFit,
)
from advisor.vocabulary.errors import InvalidInputError

log = logging.getLogger(__name__)

PHASES = ("pp", "tg")
_RIDGE = 1.0          # penalty on the efficiency effects (log units)
_DEFAULT_THREADS = 8.0  # CPU rows without a thread count, when training has none to go by
#: How far back a build's age may shift the efficiency (years before the newest build).
_MAX_BUILD_AGE = 3.0


def device_group(name: object) -> str:
    """The chip a device name stands for: a speed source's name for a variant it left open
    (:data:`advisor.data.importers.hardware.SPEED_DEVICE_NAMES`) is held out with the table
    device it names, so that no fold trains on the chip it tests.

    >>> device_group("Apple M2 Ultra (Mac Studio; GPU cores and memory not stated in file)")
    'Apple M2 Ultra (76-core GPU, 192GB)'
    """
    text = str(name)
    return SPEED_DEVICE_NAMES[text].device if text in SPEED_DEVICE_NAMES else text


def build_name(year: float) -> str:
    """A fractional year as ``'llama.cpp of 2026-08 (about b10464)'``."""
    anchors = np.array([[b, year_of(d)] for b, d in BUILD_DATES])
    number = int(round(float(np.interp(year, anchors[:, 1], anchors[:, 0]))))
    month = int((year % 1) * 12) + 1
    return f"llama.cpp of {int(year)}-{month:02d} (about b{number})"


class SpeedPredictor:
    """Predicts ``tokens_per_s`` (and a 90% interval) for llama-bench style tests.

    ``fit(frame)`` takes :meth:`Dataset.speed_frame` rows; ``predict(frame)`` takes the columns
    listed in :data:`advisor.predictors.speed_features.SPEED_INPUTS` and returns
    ``tokens_per_s``, ``tokens_per_s_low`` and ``tokens_per_s_high`` on the same index.
    ``max_iter`` is kept for compatibility with older callers and has no effect.
    """

    def __init__(self, *, calibration_folds: int = 5, max_iter: int = 150,
                 random_state: int = 0, ridge: float = _RIDGE) -> None:
        self.calibration_folds = calibration_folds
        self.max_iter = max_iter
        self.random_state = random_state
        self.ridge = ridge

    # -- features ---------------------------------------------------------------------------
    def _features(self, frame: pd.DataFrame, *, training: bool = False) -> pd.DataFrame:
        x = speed_features(frame)
        kind = x["kind"]
        per_byte = kind.map(self.flops_per_byte_).astype("float64").fillna(
            self.flops_per_byte_["all"])
        vector_share = kind.map(self.vector_per_tensor_).astype("float64").fillna(
            self.vector_per_tensor_["all"])
        x["flops_filled"] = x["flops"].fillna(x["tensor_flops"] * vector_share).fillna(
            x["bandwidth"] * per_byte)
        params = pd.to_numeric(frame["params_b"], errors="coerce") if "params_b" in frame \
            else pd.Series(np.nan, index=x.index)
        params = params.fillna(x["active_params"] / 1e9).clip(lower=0.05)
        params = np.maximum(params, x["active_params"] / 1e9)
        x["layers"] = 21.0 * params ** 0.31 / 32.0
        # KV bytes per token grow with the attention a token uses: the active parameters
        x["kv"] = np.sqrt((x["active_params"] / 1e9).clip(lower=0.05) / 8.0)
        x["threads"] = x["threads"].fillna(self.default_threads_)
        x["device"] = _column(frame, "hardware").map(
            lambda n: str(n) if isinstance(n, str) and n.strip() else UNKNOWN).astype("object")
        x["quant_class"] = x["quant_family"]
        for c in ("fork", "moe", "host_limited", "dev_build"):
            x[c] = x[c].map({True: "yes", False: "no"}).astype("object")
        x["flash_attn"] = x["flash_attn"].map({1.0: "yes", 0.0: "no"}).fillna(UNKNOWN).astype(
            "object")
        gap = (x["build_year"] - self.newest_build_).clip(-_MAX_BUILD_AGE, 0.0)
        if training:  # a row without a date is as old as its source's dated rows, or its kind's
            source = frame["source_id"] if "source_id" in frame else pd.Series("", index=x.index)
            by_source = gap.groupby(source).transform("median")
            by_kind = gap.groupby(kind).transform("median")
            gap = gap.fillna(by_source).fillna(by_kind).fillna(float(gap.median()))
        x["year_gap"] = gap.fillna(0.0)  # a question names no build: the newest one
        x["log_ubatch"] = np.log2(x["ubatch"] / 512.0).clip(-3.0, 3.0).fillna(0.0)
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
            "no_gpu_offload (GPU device, weights on the CPU)": (frame["flags"].map(
                lambda f: bool({"no_gpu_offload", "gpu_backend_on_cpu_device", "offload", "rpc"}
                               & flag_set(f)))
                if "flags" in frame else pd.Series(False, index=frame.index))
            # llama.cpp's CPU backend on a machine filed under its GPU or iGPU: the specs
            # describe a device the run did not use
            | ((_column(frame, "backend").map(backend_family) == "cpu")
               & (_column(frame, "hardware_kind").astype(str).str.lower() != "cpu")),
            "exceeds_device_memory (weights larger than the devices' memory: spilled to the "
            "host)": _exceeds_memory(frame),
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

    def _spec_ratios(self, rows: pd.DataFrame, kinds: pd.Series, single: np.ndarray) -> None:
        """FLOP per byte and vector per tensor FLOPS, per kind: what fills a missing figure."""
        flops = pd.to_numeric(rows["fp16_tflops"], errors="coerce")
        tensor = pd.to_numeric(rows.get("fp16_tensor_tflops"), errors="coerce") \
            if "fp16_tensor_tflops" in rows else pd.Series(np.nan, index=rows.index)

        def per_kind(ratio: pd.Series, fallback: float) -> dict[str, float]:
            ratio = ratio.where(single)
            overall = float(np.nanmedian(ratio)) if ratio.notna().any() else fallback
            table = {k: float(np.nanmedian(ratio[kinds == k])) if ratio[kinds == k].notna().any()
                     else overall for k in self.kinds_}
            return {**table, "all": overall}

        self.flops_per_byte_ = per_kind(flops * 1e12 / (rows["bandwidth_gbs"] * 1e9), 50.0)
        self.vector_per_tensor_ = per_kind(flops / tensor, 0.25)

    def fit(self, frame: pd.DataFrame) -> SpeedPredictor:
        rows = self._training_rows(frame)
        kinds = rows["hardware_kind"].astype("object").str.lower()
        self.kinds_ = tuple(k for k in HARDWARE_KINDS if (kinds == k).any())
        # rows with layers split over several devices only calibrate the multi-device terms
        # (see PhysicalFit.fit); everything else is learned from single devices
        single = (pd.to_numeric(rows["n_devices"], errors="coerce").fillna(1.0) <= 1
                  ).to_numpy() if "n_devices" in rows else np.ones(len(rows), dtype=bool)
        self._spec_ratios(rows, kinds, single)
        threads = pd.to_numeric(rows["threads"], errors="coerce")[(kinds == "cpu").to_numpy()] \
            if "threads" in rows else pd.Series(dtype="float64")
        self.default_threads_ = float(threads.median()) if threads.notna().any() \
            else _DEFAULT_THREADS
        years = speed_features(rows)["build_year"]
        self.newest_build_ = float(years.max()) if years.notna().any() else 0.0
        x = self._features(rows, training=True)
        y = np.log(rows["tokens_per_s"].to_numpy(dtype="float64"))
        groups = np.array([device_group(n) for n in rows["hardware"].astype(str)])
        setup = pd.Series(groups) + np.where(single, "", " (split)")
        per_device = setup.map(setup.value_counts()).to_numpy().astype("float64")
        weight = 1.0 / np.sqrt(per_device)
        self.base_: dict[str, PhysicalFit] = {}
        self.calibration_: dict[str, RuleCalibration] = {}
        self.n_train_: dict[str, int] = {}
        oof = np.full((len(rows), 3), np.nan)  # held-out physics, calibration; the rule
        for ph in PHASES:
            m = (x["phase"] == ph).to_numpy()
            self.n_train_[ph] = int(m.sum())
            if m.sum() < 5:
                raise InvalidInputError(f"speed training needs >= 5 '{ph}' rows, got {m.sum()}",
                                        parameter="frame")
            s = m & single  # the calibration and the intervals: single devices, as physics
            self.base_[ph] = PhysicalFit(ph, self.ridge).fit(x[m], y[m], weight[m])
            self.calibration_[ph] = RuleCalibration(self.random_state).fit(x[s], y[s], weight[s])
            oof[s, :2] = self._out_of_fold(x[s], y[s], weight[s], groups[s], ph)
        oof[:, 2] = rule(x)
        phase = x["phase"].to_numpy()
        self.blend_ = choose_blend(oof, y, phase, x["kind"].to_numpy(), groups)
        held_out = np.array([self._blend(oof[i, 0], oof[i, 1], oof[i, 2], phase[i], k)
                             for i, k in enumerate(x["kind"])])
        resid = pd.Series(y - held_out, index=rows.index)
        # every device weighs the same in the intervals (the coverage an unseen device gets)
        self.quantiles_ = intervals(resid, phase, x["kind"].to_numpy(), groups, 1.0 / per_device,
                                    self.kinds_)
        self.oof_residual_ = resid
        phase_only = dict.fromkeys(g for groups in PHASE_GROUPS.values() for g in groups)
        self.features_ = [*EFFICIENCY_GROUPS, *phase_only, *PHYSICAL_INPUTS]
        log.info("speed model fitted on %s rows, excluded %s; blend %s", self.n_train_,
                 self.exclusions_, self.blend_)
        return self

    def _blend(self, physics: object, calibrated: object, plain: object, ph: str,
               kind: str) -> Any:
        """What held-out devices of ``ph`` and ``kind`` chose (physics alone without a
        choice): the plain rule's log prediction, or the physical model's and the calibrated
        rule's blended."""
        w = self.blend_.get(f"{ph}:{kind}", self.blend_.get(ph, 1.0))
        if w == "rule":
            return plain
        return w * physics + (1.0 - w) * calibrated  # type: ignore[operator]

    @property
    def assumed_build(self) -> str:
        """The llama.cpp build predictions are for unless a row names one: the newest the
        training rows ran (``'llama.cpp of 2026-08 (about b10464)'``)."""
        return build_name(self.newest_build_)

    def _out_of_fold(self, x: pd.DataFrame, y: np.ndarray, weight: np.ndarray,
                     groups: np.ndarray, ph: str) -> np.ndarray:
        """(physics, calibrated rule) predictions for each device by fits without it, asked
        as a device given by its specs would be (no name, no FLOPS basis): what an unseen
        device gets. Shape (rows, 2); NaN where fewer than 2 devices leave nothing to hold
        out."""
        n_groups = len(np.unique(groups))
        out = np.full((len(y), 2), np.nan)
        if n_groups < 2:
            return out
        for tr, te in GroupKFold(n_splits=min(self.calibration_folds, n_groups)).split(
                x, y, groups):
            asked = x.iloc[te].assign(flops_basis=UNKNOWN, device=UNKNOWN)
            physics = PhysicalFit(ph, self.ridge).fit(x.iloc[tr], y[tr], weight[tr])
            rule = RuleCalibration(self.random_state).fit(x.iloc[tr], y[tr], weight[tr])
            out[te, 0] = physics.predict(asked)
            out[te, 1] = rule.predict(asked)
        return out

    # -- prediction -------------------------------------------------------------------------
    def _predict_phase(self, x: pd.DataFrame,
                       ph: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        physics = self.base_[ph]
        typical = physics.predict(x.assign(device=UNKNOWN))
        own = physics.predict(x) - typical  # a known device's own effect; 0 for others
        single = physics.predict(x.assign(device=UNKNOWN, n_devices=1.0))
        calibrated = self.calibration_[ph].predict(x)
        z = np.array([self._blend(t, c, r, ph, k) for t, c, r, k in zip(
            single, calibrated, rule(x), x["kind"], strict=True)])
        # layers split over several devices: the physical model's gain or loss over one device
        z = z + (typical - single) + own
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
            results[ph] = self._predict_phase(xp, ph)
        n_p = _numeric(frame, "n_prompt", x.index).to_numpy()
        n_g = _numeric(frame, "n_gen", x.index).to_numpy()
        for i, col in enumerate(out.columns):
            pp, tg = results["pp"][i], results["tg"][i]
            mixed = (n_p + n_g) / (n_p / pp + n_g / tg)
            out[col] = np.where(x["phase"] == "pp", pp, np.where(x["phase"] == "tg", tg, mixed))
        return out


def _exceeds_memory(frame: pd.DataFrame) -> pd.Series:
    """Rows whose weights file is larger than the memory of the devices it ran on (a marketed
    "24 GB" is 24 GiB): the driver spilled to host memory, so the row measures an offload.
    Without a file size, the size is the parameters at the quant's typical bits per weight."""
    size = pd.to_numeric(frame["model_bytes"], errors="coerce")
    # a row that gives only the parameter count: the size its quant's typical bpw gives
    params = pd.to_numeric(frame["params_b"], errors="coerce")
    size = size.fillna(params * 1e9 * effective_bpw(frame) / 8.0)
    memory = pd.to_numeric(frame.get("memory_gb"), errors="coerce") \
        if "memory_gb" in frame else pd.Series(np.nan, index=frame.index)
    devices = pd.to_numeric(frame.get("n_devices"), errors="coerce").fillna(1.0) \
        if "n_devices" in frame else 1.0
    return (size > memory * 2**30 * devices).fillna(False).astype(bool)


def _as_bool(frame: pd.DataFrame, name: str) -> pd.Series:
    if name not in frame:
        return pd.Series(False, index=frame.index)
    return frame[name].astype("object").fillna(False).astype(bool)


def _numeric(frame: pd.DataFrame, name: str, index: pd.Index) -> pd.Series:
    if name not in frame:
        return pd.Series(0.0, index=index)
    return pd.to_numeric(frame[name], errors="coerce").fillna(0.0).astype("float64")
