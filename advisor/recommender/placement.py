"""Where a model's weights go when the GPU alone cannot hold it: llama.cpp's partial offload.

Two ways people run a model larger than their GPU with system RAM beside it:

* **MoE experts on the CPU** (``--n-cpu-moe N``; ``-ot "exps=CPU"`` for all of them): the
  routed experts of ``N`` MoE layers stay in system RAM; attention, shared experts, dense
  layers, the KV cache and the output head stay on the GPU. A token reads only the experts it
  is routed to, ``experts_used / experts`` of what the CPU holds.
* **Layers on the CPU** (``-ngl N``): ``N`` repeating layers go to the GPU, the others (with
  their part of the KV cache) and the output head stay on the CPU.

llama.cpp keeps the token embedding in system RAM whenever layers run on the CPU (its input
layer), so a split placement's RAM holds the embedding matrix too, plus
:data:`HOST_OVERHEAD_BYTES` for the CPU's compute buffer and the tokenizer.

Generation speed of a split: a token's time is the GPU part's plus the CPU part's. The GPU
part takes the all-on-GPU prediction's time per token times the share of a token's bytes it
reads; the CPU part reads its share at the host's memory bandwidth times the share of it a CPU
reaches when generating (``host_efficiency``), so ``tokens/s = 1 / (t_gpu + t_cpu)``
(:func:`split_speed`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from advisor.data.catalog import ModelSpec

#: System RAM a split placement needs besides its tensors: llama.cpp's CPU compute buffer and
#: the tokenizer's tables (an allowance, like the GPU's runtime overhead).
HOST_OVERHEAD_BYTES = 512 * 2**20


@dataclass(frozen=True)
class WeightParts:
    """How each candidate's file splits for placement, in bytes (arrays, one per candidate)."""

    token_embd: np.ndarray   # input embedding (system RAM in a split placement)
    output: np.ndarray       # output head (0 when tied to the embedding)
    per_layer: np.ndarray    # one repeating layer, routed experts left out
    experts: np.ndarray      # the routed experts of one MoE layer
    expert_share: np.ndarray # experts_used / experts (1 for dense models)
    n_layers: np.ndarray
    n_moe_layers: np.ndarray

    @property
    def active(self) -> np.ndarray:
        """Bytes a token reads: every layer, the routed share of the experts, the output head
        (the embedding lookup reads one row, left out)."""
        return (self.per_layer * self.n_layers + self.output
                + self.experts * self.expert_share * self.n_moe_layers)


def weight_parts(specs: list[ModelSpec], weights_bytes: np.ndarray) -> WeightParts:
    """Split each file of ``weights_bytes`` (one per spec) by the architecture's parameter
    counts: embedding and output ``vocab x hidden`` each, routed experts
    ``n_experts x 3 x hidden x moe_intermediate`` per MoE layer, the rest evenly over the
    layers; every part at the file's average bytes per parameter."""
    rows = []
    for spec, file_bytes in zip(specs, np.asarray(weights_bytes, dtype=float), strict=True):
        params = (spec.params_b or 0.0) * 1e9
        per_param = file_bytes / params if params else 0.0
        embd = float((spec.vocab_size or 0) * (spec.hidden_size or 0))
        out = 0.0 if spec.tie_word_embeddings else embd
        n = spec.n_layers or 1
        moe_layers, per_moe, share = 0, 0.0, 1.0
        if spec.is_moe and spec.moe_intermediate_size and spec.hidden_size and spec.n_experts:
            moe_layers = n - (spec.n_dense_layers or 0)
            if spec.moe_layer_step and spec.moe_layer_step > 1:
                moe_layers = n // spec.moe_layer_step
            per_moe = 3.0 * spec.hidden_size * spec.moe_intermediate_size * spec.n_experts
            share = (spec.n_experts_used or spec.n_experts) / spec.n_experts
        rest = max(params - embd - out - moe_layers * per_moe, 0.0)
        rows.append((embd * per_param, out * per_param, rest / n * per_param,
                     per_moe * per_param, share, n, moe_layers))
    cols = np.asarray(rows, dtype=float).reshape(-1, 7).T
    return WeightParts(cols[0], cols[1], cols[2], cols[3], cols[4],
                       cols[5].astype(np.int64), cols[6].astype(np.int64))


@dataclass(frozen=True)
class Split:
    """One placement per candidate. ``ok`` is False where a placement of this kind cannot fit
    both budgets (or is not needed: the candidate fits the GPU whole)."""

    ok: np.ndarray
    gpu_bytes: np.ndarray
    cpu_bytes: np.ndarray
    n_gpu_layers: np.ndarray   # repeating layers on the GPU (-ngl)
    n_cpu_moe: np.ndarray      # MoE layers whose experts stay on the CPU (--n-cpu-moe)
    gpu_share: np.ndarray      # share of a token's bytes read on the GPU
    cpu_active: np.ndarray     # bytes a token reads on the CPU


def expert_offload(parts: WeightParts, gpu_total: np.ndarray, vram: float,
                   ram: float) -> Split:
    """The fewest MoE layers whose routed experts must stay on the CPU for the rest of each
    candidate (``gpu_total``: its all-on-GPU total) to fit ``vram``, RAM permitting."""
    over = np.asarray(gpu_total, dtype=float) - parts.token_embd - vram
    with np.errstate(divide="ignore", invalid="ignore"):
        k = np.where(parts.experts > 0, np.ceil(over / parts.experts), np.inf)
    ok = (np.asarray(gpu_total) > vram) & (parts.n_moe_layers > 0) & (k <= parts.n_moe_layers)
    k = np.maximum(k, 1)
    k = np.where(ok, k, 0).astype(np.int64)
    moved = k * parts.experts
    cpu = moved + parts.token_embd + HOST_OVERHEAD_BYTES
    ok &= cpu <= ram
    cpu_active = moved * parts.expert_share
    return Split(ok=ok, gpu_bytes=gpu_total - moved - parts.token_embd, cpu_bytes=cpu,
                 n_gpu_layers=parts.n_layers.copy(), n_cpu_moe=k,
                 gpu_share=_share(parts.active - cpu_active, parts.active),
                 cpu_active=cpu_active)


def layer_offload(parts: WeightParts, gpu_total: np.ndarray, kv_bytes: np.ndarray,
                  vram: float, ram: float) -> Split:
    """The most repeating layers of each candidate that fit ``vram`` with their KV cache, the
    rest (and the output head) on the CPU, RAM permitting."""
    n = parts.n_layers.astype(float)
    layer = parts.per_layer + parts.experts * (parts.n_moe_layers / np.maximum(n, 1))
    kv_layer = np.asarray(kv_bytes, dtype=float) / np.maximum(n, 1)
    # what stays on the GPU whatever the split: compute buffers and runtime overhead
    fixed = (np.asarray(gpu_total, dtype=float) - parts.token_embd - parts.output
             - n * (layer + kv_layer))
    with np.errstate(divide="ignore", invalid="ignore"):
        on_gpu = np.floor((vram - fixed) / (layer + kv_layer))
    on_gpu = np.clip(np.nan_to_num(on_gpu, nan=0.0, posinf=0.0), 0, n - 1)
    ok = (np.asarray(gpu_total) > vram) & (on_gpu >= 1)
    off = n - on_gpu
    cpu = off * (layer + kv_layer) + parts.output + parts.token_embd + HOST_OVERHEAD_BYTES
    ok &= cpu <= ram
    gpu = fixed + on_gpu * (layer + kv_layer)
    layer_active = parts.per_layer + parts.experts * parts.expert_share * (
        parts.n_moe_layers / np.maximum(n, 1))
    cpu_active = off * layer_active + parts.output
    return Split(ok=ok, gpu_bytes=gpu, cpu_bytes=cpu, n_gpu_layers=on_gpu.astype(np.int64),
                 n_cpu_moe=np.zeros(len(n), dtype=np.int64),
                 gpu_share=_share(parts.active - cpu_active, parts.active),
                 cpu_active=cpu_active)


def _share(part: np.ndarray, whole: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.clip(np.where(whole > 0, part / whole, 1.0), 0.0, 1.0)


def split_speed(all_gpu_tps: np.ndarray, split: Split, host_bandwidth_gbs: float,
                host_efficiency: float) -> np.ndarray:
    """Generation tokens/s of a split: ``1 / (gpu_share / all_gpu_tps + cpu_active /
    (host bandwidth x host_efficiency))``."""
    with np.errstate(divide="ignore", invalid="ignore"):
        t_gpu = split.gpu_share / np.asarray(all_gpu_tps, dtype=float)
        t_cpu = split.cpu_active / (host_bandwidth_gbs * 1e9 * host_efficiency)
        return 1.0 / (t_gpu + t_cpu)  # type: ignore[no-any-return]
