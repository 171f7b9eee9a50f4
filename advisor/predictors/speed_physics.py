"""The physical time-per-token model of one phase (prompt or generation), fitted on log tokens/s.

See :mod:`advisor.predictors.speed` for the model and why each term is there. This module holds
the fit itself: the label encoding, the time formula and the least-squares fit.

**Labels a row does not know are typical.** Each efficiency label (hardware kind, backend,
quant class, FLOPS basis, ...) is one-hot encoded over the levels seen in training. A row whose
level is ``'unknown'``, or one training never saw, gets instead the share of each level among
the training devices of its hardware kind (each device weighing the same): its efficiency is the
typical efficiency of a device of its kind, never that of an 'unknown' level learned from
whatever odd rows lacked the label.

**Devices are random effects.** Each training device has an efficiency effect of its own in
both phases, fitted jointly with everything else and ridge-shrunk towards 0 (harder than the
labels: a device seen in a few rows keeps little of its own). The labels and physics then
describe the typical device of a kind, not the best-measured one; a device the fit never saw
(or one given by its specs) has effect 0, the typical device; a named device keeps its own.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.optimize import least_squares

HARDWARE_KINDS: tuple[str, ...] = ("gpu", "apple", "cpu", "apu")
#: Micro-batch llama.cpp processes a prompt in by default (``-ub 512``): weights are read once
#: per micro-batch.
UBATCH = 512
UNKNOWN = "unknown"  # as advisor.predictors.features.UNKNOWN (this module is a leaf)

#: Label columns whose levels shift the efficiency (one-hot, ridge-shrunk).
EFFICIENCY_GROUPS = ("kind", "backend", "quant_class", "fork", "host_limited", "flops_basis",
                     "flash_attn")
#: Labels that shift only one phase's efficiency (see :mod:`advisor.predictors.speed`).
PHASE_GROUPS = {"pp": ("moe", "dev_build"), "tg": ("moe",)}
PHYSICAL_INPUTS = ("active_bytes", "active_params", "model_bytes", "bandwidth", "flops_filled",
                   "ctx", "n_tokens", "layers", "kv", "threads", "n_devices", "year_gap",
                   "log_ubatch")
_F_SCALE = 0.3        # robust-loss scale (log units): rows off by more count less
#: Ridge penalty of the device effects, in units of the fit's row weights (a device's rows weigh
#: sqrt(rows) in all): a device seen in 4 rows keeps half of its own effect.
DEVICE_RIDGE = 2.0
_BW_FLOPS = 50.0      # FLOP per byte standing in for bandwidth inside F
#: Starting points of the learned per-thread rates of a CPU (one core's share of DRAM bandwidth
#: at batch 1, and its matrix-multiply rate); the fit scales them by a learned factor.
_THREAD_FLOPS = 60e9


class PhysicalFit:
    """One phase's physical model; ``theta_`` holds its log coefficients."""

    def __init__(self, phase: str, ridge: float) -> None:
        self.phase, self.ridge = phase, ridge

    # -- encoding ---------------------------------------------------------------------------
    def _levels(self, x: pd.DataFrame) -> None:
        groups = (*EFFICIENCY_GROUPS, *PHASE_GROUPS[self.phase])
        self.levels_ = {g: sorted(set(x[g]) - {UNKNOWN}) for g in groups}
        self.devices_ = sorted(set(x["device"]) - {UNKNOWN})
        self.typical_: dict[str, dict[str, np.ndarray]] = {}
        kinds = x["kind"].to_numpy()
        device = x["device"].to_numpy()
        weight = 1.0 / pd.Series(device).map(pd.Series(device).value_counts()).to_numpy()
        for kind in (*HARDWARE_KINDS, UNKNOWN):
            own = kinds == kind
            self.typical_[kind] = {}
            for g, levels in self.levels_.items():
                values = x[g].to_numpy()
                for scope in (own, np.ones(len(x), dtype=bool)):  # the kind's, else everyone's
                    w = np.array([weight[scope & (values == lvl)].sum() for lvl in levels])
                    if w.sum() > 0:
                        self.typical_[kind][g] = w / w.sum()
                        break
                else:
                    self.typical_[kind][g] = np.zeros(len(levels))

    def _onehot(self, x: pd.DataFrame, group: str) -> np.ndarray:
        levels = self.levels_[group]
        values = x[group].to_numpy()
        out = np.column_stack([(values == lvl).astype(float) for lvl in levels]) \
            if levels else np.zeros((len(x), 0))
        unknown = ~np.isin(values, levels)
        if unknown.any() and levels:
            kinds = x["kind"].to_numpy()
            out[unknown] = np.array([self.typical_.get(k, self.typical_[UNKNOWN])[group]
                                     for k in kinds[unknown]])
        return out

    def _arrays(self, x: pd.DataFrame) -> dict[str, np.ndarray]:
        a = {c: x[c].to_numpy(dtype="float64") for c in PHYSICAL_INPUTS}
        hot = {g: self._onehot(x, g) for g in self.levels_}
        # the build's age shifts the efficiency, overall and per backend
        gap = a["year_gap"][:, None]
        cols = [*hot.values(), gap, hot["backend"] * gap]
        if self.phase == "pp":
            cols.append(a["log_ubatch"][:, None])
        a["X"] = np.column_stack(cols)
        device = x["device"].to_numpy()
        a["D"] = np.column_stack([(device == d).astype(float) for d in self.devices_]) \
            if self.devices_ else np.zeros((len(x), 0))
        kind = x["kind"].to_numpy()
        a["K"] = np.column_stack([(kind == k).astype(float) for k in HARDWARE_KINDS])
        a["cpu"] = kind == "cpu"
        a["threads"] = np.where(a["cpu"], a["threads"], 1.0)
        return a

    # -- the time per token -----------------------------------------------------------------
    def _layout(self) -> None:
        """Where each coefficient sits in ``theta_``: efficiency effects, intercept, per-kind
        overheads and attention, (prompt: FLOPS mix g and weight reads w), per-thread rate,
        device effects, multi-device term (generation: hand-over; prompt: pipeline share)."""
        n_k, p = len(HARDWARE_KINDS), self.n_effects_
        at = p + 1 + 2 * n_k
        self.spans_ = {"effects": slice(0, p), "over": slice(p + 1, p + 1 + n_k),
                       "attn": slice(p + 1 + n_k, at)}
        self.slots_ = {"e0": p}
        if self.phase == "pp":
            self.slots_.update(g=at, w=at + 1)
            at += 2
        q = len(self.devices_)
        self.slots_.update(over_age=at, thread=at + 1, multi=at + 2 + q)
        self.spans_["devices"] = slice(at + 2, at + 2 + q)
        self.n_theta_ = at + 3 + q

    def _seconds(self, a: dict[str, np.ndarray], th: np.ndarray) -> np.ndarray:
        sl, sp = self.slots_, self.spans_
        eff = np.exp(th[sl["e0"]] + a["X"] @ th[sp["effects"]] + a["D"] @ th[sp["devices"]])
        known = a["K"].sum(axis=1) > 0

        def per_kind(v: np.ndarray) -> np.ndarray:
            return np.where(known, a["K"] @ np.exp(v), np.exp(v).mean())

        # per-layer launch and sync overhead, larger on older builds (CUDA graphs, fusion)
        over = per_kind(th[sp["over"]]) * a["layers"] * np.exp(-th[sl["over_age"]]
                                                                 * a["year_gap"])
        attn = per_kind(th[sp["attn"]]) * a["ctx"] * a["kv"]
        per_thread = np.exp(th[sl["thread"]])
        extra = a["n_devices"] - 1.0
        if self.phase == "tg":
            # A CPU's threads also have to compute every weight (dequantize, dot product),
            # at a per-thread rate; on a GPU that hides under the weight reads.
            compute = np.where(a["cpu"], 2.0 * a["active_params"]
                               / (a["threads"] * _THREAD_FLOPS * per_thread), 0.0)
            # Layers split over several devices are read one device after the other: the
            # same bytes per token, plus a hand-over per extra device. The KV cache of the
            # context is read at the memory's speed too (1.3e5 bytes per token and unit of kv).
            return (a["active_bytes"] / a["bandwidth"] + compute) / eff + 1e-3 * over \
                + 1.3e5 * attn / a["bandwidth"] + 1e-4 * np.exp(th[sl["multi"]]) * extra
        g = 1.0 / (1.0 + np.exp(-th[sl["g"]]))
        f = a["flops_filled"] ** g * (_BW_FLOPS * a["bandwidth"]) ** (1.0 - g)
        # A CPU's matrix-multiply rate is its threads' (no device-wide FLOPS figure applies).
        f = np.where(a["cpu"], a["threads"] * _THREAD_FLOPS * per_thread, f)
        batch = np.clip(a["n_tokens"], 1.0, UBATCH * np.exp2(a["log_ubatch"]))
        # Split layers pipeline a prompt's micro-batches through the devices: at most
        # min(devices, micro-batches) work at once, with a learned share of that speed-up.
        stages = np.minimum(a["n_devices"], np.ceil(np.maximum(a["n_tokens"], 1.0) / UBATCH))
        speedup = stages ** (1.0 / (1.0 + np.exp(-th[sl["multi"]])))
        return (2.0 * a["active_params"] / (f * eff)
                + np.exp(th[sl["w"]]) * a["model_bytes"] / (a["bandwidth"] * batch)
                + 1e6 * attn / f + 1e-6 * over) / speedup

    def fit(self, x: pd.DataFrame, y: np.ndarray, weight: np.ndarray) -> PhysicalFit:
        multi = (x["n_devices"] > 1).to_numpy()
        self._levels(x[~multi])
        backends = len(self.levels_["backend"])
        self.n_effects_ = sum(len(v) for v in self.levels_.values()) + 1 + backends \
            + (1 if self.phase == "pp" else 0)
        self._layout()
        theta = np.zeros(self.n_theta_)
        theta[self.slots_["e0"]] = np.log(0.6)
        # Single devices fit everything; rows with layers split over several devices then fit
        # only the multi-device term, so they cannot pull the single-device physics.
        a = self._arrays(x[~multi])
        sw = np.sqrt(weight[~multi])
        shrink, shrink_devices = np.sqrt(self.ridge), np.sqrt(DEVICE_RIDGE)
        effects, devices = self.spans_["effects"], self.spans_["devices"]
        rest = np.ones(self.n_theta_, dtype=bool)
        rest[effects] = rest[devices] = False
        rest[self.slots_["e0"]] = False

        def residuals(th: np.ndarray) -> np.ndarray:
            r = (-np.log(self._seconds(a, th)) - y[~multi]) * sw
            return np.r_[r, shrink * th[effects], shrink_devices * th[devices], 0.01 * th[rest]]

        self.theta_ = least_squares(residuals, theta, loss="soft_l1", f_scale=_F_SCALE,
                                    max_nfev=400).x
        if multi.any():
            am, swm, fixed = self._arrays(x[multi]), np.sqrt(weight[multi]), self.theta_.copy()
            slot = self.slots_["multi"]

            def multi_residuals(last: np.ndarray) -> np.ndarray:
                th = fixed.copy()
                th[slot] = last[0]
                return np.r_[(-np.log(self._seconds(am, th)) - y[multi]) * swm, 0.01 * last]

            self.theta_[slot] = least_squares(multi_residuals, fixed[slot:slot + 1],
                                              loss="soft_l1", f_scale=_F_SCALE,
                                              max_nfev=200).x[0]
        return self

    def device_effect(self, device: str) -> float:
        """The fitted efficiency effect of a training device (log units; 0 for others)."""
        if device not in self.devices_:
            return 0.0
        return float(self.theta_[self.spans_["devices"]][self.devices_.index(device)])

    def predict(self, x: pd.DataFrame) -> np.ndarray:
        """log tokens/s."""
        return -np.log(self._seconds(self._arrays(x), self.theta_))
