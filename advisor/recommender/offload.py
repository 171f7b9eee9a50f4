"""Which candidates a request can run with part of the model in system RAM, and how fast.

A candidate that does not fit the GPU budget is placed with its MoE experts on the CPU where
that fits (the faster split: a token reads only its routed experts from RAM), else with layers
on the CPU (:mod:`advisor.recommender.placement`). A placement counts only when its predicted
generation speed reaches the request's ``min_tokens_per_s``, or
:data:`OFFLOAD_MIN_TOKENS_PER_S` when none is given: without a floor the largest model that fits
GPU + RAM would always win at a speed nobody runs it at.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from advisor.recommender.placement import (
    Split,
    expert_offload,
    flags,
    layer_offload,
    split_speed,
)
from advisor.recommender.results import Candidate, Figure, Placement
from advisor.vocabulary.units import format_bytes

if TYPE_CHECKING:
    from advisor.recommender.query import Query

#: Slowest generation (tokens/s) an offloaded placement may have when the request sets no
#: min_tokens_per_s: a reply of a few hundred tokens within a minute, interactive use.
OFFLOAD_MIN_TOKENS_PER_S = 10.0
#: Host memory bandwidth assumed when the request gives none: dual-channel DDR4-3200
#: (2 channels x 8 bytes x 3,200 MT/s = 51.2 GB/s, JEDEC DDR4-3200), the common desktop of
#: people pairing a 8-16 GB GPU with system RAM (DDR5-5600 dual channel is 89.6 GB/s).
DEFAULT_HOST_BANDWIDTH_GBS = 51.2
#: Share of peak host bandwidth a CPU reaches reading weights while generating: one constant
#: fitted on the published runs with part of a model in system RAM
#: (:mod:`advisor.recommender.offload_evaluation`; ``quant-advisor evaluate`` writes the fit and
#: its held-out error in models/EVALUATION.md, "Offload speed"). Fitted 0.516 on 4 runs in 3
#: setups (speed predictor of 2026-12-06 08:40, data 2636a4530cb2e79e; 0.551 with the one
#: before), median error 39% with one setup left out: 0.55 is kept, as the difference is far
#: inside that error. Few setups state their host memory, so treat it as a rough figure.
HOST_EFFICIENCY = 0.55


@dataclass(frozen=True)
class OffloadPlan:
    """Per candidate row: whether it runs split, how, and its generation speed."""

    placed: np.ndarray
    kind: np.ndarray
    gpu_bytes: np.ndarray
    cpu_bytes: np.ndarray
    n_gpu_layers: np.ndarray
    n_cpu_moe: np.ndarray
    tg: np.ndarray
    floor: float
    host_bandwidth_gbs: float


def plan_offload(cols: dict[str, np.ndarray], memory: dict[str, np.ndarray],
                 all_gpu_tg: np.ndarray, query: Query, rows: np.ndarray) -> OffloadPlan:
    """Placements for the candidates in ``rows`` (those not fitting the GPU), with
    ``all_gpu_tg`` each one's all-on-GPU generation speed."""
    ram = float(query.ram_bytes or 0)
    vram = float(query.budget_bytes)
    total = memory["total_bytes"].astype(float)
    experts = expert_offload(cols, total, vram, ram)
    layers = layer_offload(cols, total, memory["kv_cache_bytes"], vram, ram)
    bandwidth = query.ram_bandwidth_gbs or DEFAULT_HOST_BANDWIDTH_GBS
    floor = query.min_tokens_per_s or OFFLOAD_MIN_TOKENS_PER_S

    def speed(split: Split) -> np.ndarray:
        return split_speed(all_gpu_tg, split, bandwidth, HOST_EFFICIENCY)

    use_experts = experts.ok
    tg = np.where(use_experts, speed(experts), speed(layers))
    ok = (experts.ok | layers.ok) & rows & np.isfinite(tg) & (tg >= floor)

    def pick(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return np.where(use_experts, a, b)

    return OffloadPlan(
        placed=ok, kind=np.where(use_experts, experts.kind, layers.kind),
        gpu_bytes=pick(experts.gpu_bytes, layers.gpu_bytes),
        cpu_bytes=pick(experts.cpu_bytes, layers.cpu_bytes),
        n_gpu_layers=pick(experts.n_gpu_layers, layers.n_gpu_layers),
        n_cpu_moe=pick(experts.n_cpu_moe, layers.n_cpu_moe), tg=tg, floor=floor,
        host_bandwidth_gbs=bandwidth)


def with_placement(candidate: Candidate, plan: OffloadPlan, i: int) -> Candidate:
    """``candidate`` (row ``i``) running split as ``plan`` says, its generation speed the
    split's (no prompt figure: llama.cpp streams RAM-resident weights to the GPU for prompt
    batches, which this model does not size)."""
    kind = str(plan.kind[i])
    layers, moe = int(plan.n_gpu_layers[i]), int(plan.n_cpu_moe[i])
    placement = Placement(
        kind=kind, gpu_bytes=int(plan.gpu_bytes[i]), cpu_bytes=int(plan.cpu_bytes[i]),  # type: ignore[arg-type]
        n_gpu_layers=layers, n_cpu_moe=moe, flags=flags(kind, layers, moe),
        host_bandwidth_gbs=plan.host_bandwidth_gbs,
        source="advisor.recommender.placement: file bytes per layer and per MoE layer's "
               "experts (weights.csv), KV cache with its layers")
    speed = {}
    gpu_tg = candidate.speed.get("tg128")
    if gpu_tg is not None:
        speed["tg128"] = Figure(
            value=float(plan.tg[i]), unit="tokens/s", provenance="computed",
            source=f"1 / (GPU share / all-on-GPU {gpu_tg.value:.0f} tokens/s ({gpu_tg.provenance})"
                   f" + RAM bytes per token / ({plan.host_bandwidth_gbs:g} GB/s x "
                   f"{HOST_EFFICIENCY:g} host efficiency)); the efficiency is fitted on "
                   "published offload runs, its held-out error in EVALUATION.md (Offload "
                   "speed)")
    return candidate.model_copy(update={"placement": placement, "speed": speed})


def offload_note(plan: OffloadPlan, query: Query) -> str:
    """What the answer says about offloaded placements."""
    n = int(plan.placed.sum())
    given = "min_tokens_per_s" if query.min_tokens_per_s else "the default floor"
    return (f"{n} candidate{'s' if n != 1 else ''} fit only with part of the model in the "
            f"{format_bytes(query.ram_bytes or 0)} of system RAM (MoE experts, or layers, on "
            f"the CPU) at {plan.floor:g} generated tokens/s or more ({given}; the speed assumes "
            f"{plan.host_bandwidth_gbs:g} GB/s of system memory bandwidth"
            + ("" if query.ram_bandwidth_gbs else ", dual-channel DDR4-3200: give "
               "ram_bandwidth_gbs") + ")")
