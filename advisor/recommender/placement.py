"""Where a model's weights go when the GPU alone cannot hold it: llama.cpp's partial offload.

Two ways people run a model larger than their GPU with system RAM beside it:

* **MoE experts on the CPU** (``--n-cpu-moe N``): the routed experts of ``N`` MoE layers stay
  in system RAM; attention, shared experts, dense layers, the KV cache and the output head stay
  on the GPU. A token reads only the experts it is routed to, ``experts_used / experts`` of what
  the CPU holds.
* **Layers on the CPU** (``-ngl N``): ``N`` repeating layers and their part of the KV cache go
  to the GPU; the others and the output head stay on the CPU.

llama.cpp keeps the token embedding in system RAM (its input layer runs on the CPU), so a split
placement's RAM holds it, plus :data:`HOST_OVERHEAD_BYTES` for the CPU's compute buffer and the
tokenizer. Every byte figure of a file comes from ``weights.csv``
(:mod:`advisor.data.weights_table`): embedding, output head, a layer without its routed
experts, the routed experts of an MoE layer, the bytes a token reads.

Generation speed of a split (:func:`split_speed`): a token's time is the GPU part's plus the CPU
part's. The GPU part takes the all-on-GPU prediction's time per token times the share of a
token's bytes it reads; the CPU part reads its bytes at the host's memory bandwidth times the
share of it a CPU reaches when generating, so ``tokens/s = 1 / (t_gpu + t_cpu)``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

#: System RAM a split placement needs besides its tensors: llama.cpp's CPU compute buffer and
#: the tokenizer's tables (an allowance, like the GPU's runtime overhead).
HOST_OVERHEAD_BYTES = 512 * 2**20


@dataclass(frozen=True)
class Split:
    """One placement per candidate (arrays). ``ok`` is False where a placement of this kind
    cannot fit both budgets, or is not needed (the candidate fits the GPU whole)."""

    kind: str                  # "experts_on_cpu" or "layers_on_cpu"
    ok: np.ndarray
    gpu_bytes: np.ndarray
    cpu_bytes: np.ndarray
    n_gpu_layers: np.ndarray   # repeating layers on the GPU (-ngl)
    n_cpu_moe: np.ndarray      # MoE layers whose routed experts stay on the CPU
    gpu_share: np.ndarray      # share of a token's bytes read on the GPU
    cpu_active: np.ndarray     # bytes a token reads on the CPU


def _f(cols: dict[str, np.ndarray], name: str) -> np.ndarray:
    return np.asarray(cols[name], dtype=float)


def _share(part: np.ndarray, whole: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.clip(np.where(whole > 0, part / whole, 1.0), 0.0, 1.0)


def expert_offload(cols: dict[str, np.ndarray], gpu_total: np.ndarray, vram: float,
                   ram: float) -> Split:
    """The fewest MoE layers whose routed experts must stay on the CPU for the rest of each
    candidate to fit ``vram`` (``cols``: the candidate table's weights columns;
    ``gpu_total``: each candidate's all-on-GPU total), RAM permitting."""
    embd, experts = _f(cols, "token_embd_bytes"), _f(cols, "expert_bytes")
    moe_layers = _f(cols, "n_moe_layers")
    total = np.asarray(gpu_total, dtype=float)
    over = total - embd - vram
    with np.errstate(divide="ignore", invalid="ignore"):
        k = np.where(experts > 0, np.ceil(np.maximum(over, 0) / experts), np.inf)
    k = np.maximum(k, 1)
    ok = (total > vram) & (moe_layers > 0) & (k <= moe_layers)
    split = experts_on_cpu(cols, total, np.where(ok, k, 0))
    return replace(split, ok=ok & (split.cpu_bytes <= ram))


def experts_on_cpu(cols: dict[str, np.ndarray], gpu_total: np.ndarray,
                   n_cpu_moe: np.ndarray) -> Split:
    """Each candidate with the routed experts of ``n_cpu_moe`` of its MoE layers on the CPU
    (``--n-cpu-moe N``, or an ``-ot ...exps=CPU`` override naming those layers); ``ok`` where
    the count is one of its MoE layers or more and no more than it has."""
    embd, experts = _f(cols, "token_embd_bytes"), _f(cols, "expert_bytes")
    share = _f(cols, "expert_share")
    total = np.asarray(gpu_total, dtype=float)
    k = np.asarray(n_cpu_moe, dtype=float)
    moved = k * experts
    cpu_active = moved * share
    active = _f(cols, "active_bytes")
    ok = (k >= 1) & (k <= _f(cols, "n_moe_layers"))
    return Split("experts_on_cpu", ok, total - moved - embd,
                 moved + embd + HOST_OVERHEAD_BYTES,
                 _f(cols, "n_layers").astype(np.int64), k.astype(np.int64),
                 _share(active - cpu_active, active), cpu_active)


def layer_offload(cols: dict[str, np.ndarray], gpu_total: np.ndarray, kv_bytes: np.ndarray,
                  vram: float, ram: float) -> Split:
    """The most repeating layers of each candidate that fit ``vram`` with their share of the
    KV cache, the rest and the output head on the CPU, RAM permitting."""
    n = np.maximum(_f(cols, "n_layers"), 1)
    layer, kv_layer, fixed = _layer_parts(cols, gpu_total, kv_bytes)
    with np.errstate(divide="ignore", invalid="ignore"):
        on_gpu = np.floor((vram - fixed) / (layer + kv_layer))
    on_gpu = np.clip(np.nan_to_num(on_gpu, nan=0.0, posinf=0.0, neginf=0.0), 0, n - 1)
    total = np.asarray(gpu_total, dtype=float)
    split = layers_on_cpu(cols, gpu_total, kv_bytes, on_gpu)
    return replace(split, ok=(total > vram) & (on_gpu >= 1) & (split.cpu_bytes <= ram))


def _layer_parts(cols: dict[str, np.ndarray], gpu_total: np.ndarray, kv_bytes: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Bytes of one repeating layer (its experts included), its share of the KV cache, and
    what stays on the GPU whatever the split (compute buffers and runtime overhead)."""
    embd, out = _f(cols, "token_embd_bytes"), _f(cols, "output_bytes")
    n = np.maximum(_f(cols, "n_layers"), 1)
    layer = _f(cols, "layer_bytes") + _f(cols, "expert_bytes") * _f(cols, "n_moe_layers") / n
    kv_layer = np.asarray(kv_bytes, dtype=float) / n
    fixed = np.asarray(gpu_total, dtype=float) - embd - out - n * (layer + kv_layer)
    return layer, kv_layer, fixed


def layers_on_cpu(cols: dict[str, np.ndarray], gpu_total: np.ndarray, kv_bytes: np.ndarray,
                  n_gpu_layers: np.ndarray) -> Split:
    """Each candidate with ``n_gpu_layers`` repeating layers (``-ngl N``) and their KV cache on
    the GPU, the other layers and the output head on the CPU (``-ngl 0``: every layer on the
    CPU); ``ok`` where the count is below its layers."""
    embd, out = _f(cols, "token_embd_bytes"), _f(cols, "output_bytes")
    n = np.maximum(_f(cols, "n_layers"), 1)
    moe, experts, share = _f(cols, "n_moe_layers"), _f(cols, "expert_bytes"), \
        _f(cols, "expert_share")
    layer, kv_layer, fixed = _layer_parts(cols, gpu_total, kv_bytes)
    on_gpu = np.asarray(n_gpu_layers, dtype=float)
    off = n - on_gpu
    cpu = off * (layer + kv_layer) + out + embd + HOST_OVERHEAD_BYTES
    layer_active = _f(cols, "layer_bytes") + experts * share * moe / n
    cpu_active = off * layer_active + out
    active = _f(cols, "active_bytes")
    return Split("layers_on_cpu", (on_gpu >= 0) & (on_gpu < n),
                 fixed + on_gpu * (layer + kv_layer), cpu, on_gpu.astype(np.int64),
                 np.zeros(len(n), dtype=np.int64), _share(active - cpu_active, active),
                 cpu_active)


def split_speed(all_gpu_tps: np.ndarray, split: Split, host_bandwidth_gbs: float,
                host_efficiency: float) -> np.ndarray:
    """Generation tokens/s of ``split``: ``1 / (gpu_share / all_gpu_tps + cpu_active /
    (host bandwidth x host_efficiency))``."""
    with np.errstate(divide="ignore", invalid="ignore"):
        t_gpu = split.gpu_share / np.asarray(all_gpu_tps, dtype=float)
        t_cpu = split.cpu_active / (host_bandwidth_gbs * 1e9 * host_efficiency)
        return 1.0 / (t_gpu + t_cpu)  # type: ignore[no-any-return]


def flags(kind: str, n_gpu_layers: int, n_cpu_moe: int) -> list[str]:
    """The llama-server / llama-cli flags of a placement."""
    if kind == "experts_on_cpu":
        return ["-ngl", "99", "--n-cpu-moe", str(n_cpu_moe)]
    if kind == "layers_on_cpu":
        return ["-ngl", str(n_gpu_layers)]
    return ["-ngl", "99"]
