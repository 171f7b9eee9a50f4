"""How much memory running a catalog model with llama.cpp takes.

``total = weights + KV cache + compute buffers + runtime overhead``, all in bytes. What the terms
hold depends on where the weights live, the ``runtime`` argument of :func:`estimate_memory`:

``"gpu"`` (a discrete GPU, all layers offloaded; the default) and ``"unified"`` (a GPU sharing
system memory: Apple, APUs, DGX Spark): the prediction is the memory the run needs, mostly the
GPU's buffers, with a fixed allowance for the driver and the process.

* **Weights**: the given file size, else ``params x bpw / 8`` (``bpw`` given, or the quant's
  typical bits per weight from :mod:`advisor.vocabulary.quants`).
* **KV cache** (and the recurrent layers' state): what each kind of layer keeps, full or
  sliding-window attention, latent attention, recurrent or shared
  (:mod:`advisor.recommender.kv_cache`). ``context`` is per sequence; ``n_seq`` sequences
  multiply it.
* **Compute buffers** (an *estimate*, not yet checked against GPU measurements): the f32 output
  logits ``batch x vocab x 4`` plus :data:`ACTIVATION_TENSORS` f32 activation tensors of
  ``batch x hidden``; without flash attention also the f32 attention scores of one layer,
  ``batch x n_heads x kv tokens x 4``. ``batch`` is the micro-batch llama.cpp evaluates at once
  (``n_ubatch``, 512 by default).
* **Overhead**: :data:`GPU_RUNTIME_OVERHEAD_BYTES` (= :data:`RUNTIME_OVERHEAD_BYTES`), an assumed
  allowance for the CUDA context, cuBLAS workspace and the process.

Several identical GPUs (``n_devices`` > 1, llama.cpp's default ``--split-mode layer``): the
weights and the KV cache are split across the devices (each holds its layers), while every
device has its own runtime allowance and compute buffer, so
``total = weights + KV cache + n x compute buffer + n x overhead`` (the breakdown's compute and
overhead terms are the sums over the devices). Each device then holds about ``total / n``
(:func:`per_device_bytes`), i.e. ``(weights + KV) / n + compute buffer + overhead``: an even
split, as llama.cpp apportions layers by free memory (the output layer and its logits buffer
make the last device's share somewhat larger; not modelled).

``"cpu"`` (the CPU backend): the prediction is **what llama.cpp adds to the resident memory
(RSS) of the process that hosts it**: peak RSS minus the RSS before llama.cpp's libraries are
loaded. It leaves out the host process itself (a Python interpreter with numpy and the
measuring code is about 40-100 MiB,
recorded as ``rss_before_load_mib`` by :mod:`advisor.measure.worker`; a llama.cpp binary's own
baseline is a few MiB). Each term is what llama.cpp 0.3.36's CPU backend allocates (its
``load_tensors`` / ``llama_kv_cache`` / ``sched_reserve`` log lines, read for SmolLM2-135M across
contexts, micro-batches and flash-attention settings):

* **Weights**: the file size (llama.cpp maps the file and reads every page) plus
  ``repack_bytes``, the anonymous copies the CPU backend makes of the matrices it re-lays out
  for its SIMD kernels (``CPU_REPACK`` buffer: Q4_0, Q4_K, IQ4_NL, MXFP4 on AVX2, also Q2_K on
  AVX-512; more types on ARM). The mapped originals of repacked matrices stay resident as
  clean page cache, so RSS holds both. :mod:`advisor.recommender.file_memory` counts them from
  the file; without a file they are taken as 0.
* **KV cache**: as above; llama.cpp clears the buffer on creation, so all of it is resident.
* **Compute buffer**: llama.cpp's graph allocator reuses memory once a tensor is dead, so the
  buffer is the larger of two stages, not their sum (``ub = min(batch, padded context)``):
  the output stage ``ub x (vocab + 2 x hidden) x 4`` (f32 logits of every token plus two
  hidden-state tensors) and the attention stage ``ub x kv tokens x (n_heads + 1) x 4`` (f32
  scores and f32 mask) without flash attention, ``ub x kv tokens x 2`` (f16 mask) with it, plus
  ``ub x (4 x hidden + (n_heads + 2 x n_kv_heads) x head_dim) x 4`` of live activations and
  Q/K/V. That is the allocation. RSS counts only the pages written, and inference asks for one
  logits row per sequence per decode (llama.cpp drops the other rows before the output norm),
  so the output stage counts ``n_seq x (vocab + 2 x hidden) x 4``: an allocation of 512 rows x
  262,144 vocabulary x 4 bytes (Gemma-3-270M, 512 MiB) stays mostly untouched. A run that asks
  for every token's logits (perplexity) makes all of it resident. Beside it, the CPU backend
  keeps one **work buffer** (:func:`host_work_buffer_bytes`) for the largest conversion a node
  needs: f32 activations to the weights' dot type (``ub x`` widest input ``x 292 / 256``) or,
  without flash attention, one layer's f32 scores to f16 for the ``kq x V`` product
  (``ub x kv tokens x n_heads x 2``); counted with the compute term. Checked on synthetic files
  of seven architectures' real shapes (``benchmarks/memory_check.py --synthetic``).
* **Output buffer**: ``n_seq x vocab x 4`` (one logits row per sequence, reserved at context
  creation; it grows when more logits are requested in one batch).
* **Overhead**: :data:`CPU_RUNTIME_OVERHEAD_BYTES` (llama.cpp's libraries and context
  bookkeeping) plus :data:`VOCAB_HEAP_BYTES_PER_TOKEN` per vocabulary entry (the tokenizer's
  tables on the heap).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from advisor.recommender.kv_cache import cache_size, padded
from advisor.vocabulary.errors import InvalidInputError, UnknownNameError
from advisor.vocabulary.quants import get_quant
from advisor.vocabulary.units import MIB, format_bytes

if TYPE_CHECKING:
    from advisor.data.catalog import ModelSpec

#: The KV cache types the recommender offers (:data:`~advisor.recommender.kv_cache.CACHE_TYPE_BYTES`
#: sizes more).
CACHE_TYPES: tuple[str, ...] = ("f16", "q8_0", "q4_0")

#: Where the weights live: ``"gpu"`` a discrete GPU, ``"cpu"`` / ``"unified"`` host memory.
Runtime = Literal["cpu", "unified", "gpu"]
RUNTIMES: tuple[str, ...] = ("cpu", "unified", "gpu")

#: Discrete GPU: assumed runtime allowance (CUDA context, cuBLAS workspace, process), 400 MiB.
#: An assumption in the 300-500 MiB range commonly seen for a CUDA context; not yet calibrated
#: against GPU measurements.
GPU_RUNTIME_OVERHEAD_BYTES = 400 * MIB
#: The discrete-GPU allowance under its original name.
RUNTIME_OVERHEAD_BYTES = GPU_RUNTIME_OVERHEAD_BYTES

#: Discrete GPU: assumed number of live f32 ``batch x hidden`` activation tensors in the compute
#: buffer.
ACTIVATION_TENSORS = 8

#: CPU / unified memory: what llama.cpp itself adds to a process's RSS besides its buffers and
#: the vocabulary, 12 MiB, read off /proc/self/status around each step with llama-cpp-python
#: 0.3.36 (CPU build): ``import llama_cpp`` + ``llama_backend_init`` in a process that already
#: has numpy, +8.3 MiB (the ggml/llama shared libraries); the first ``llama_decode``, +2.7 MiB
#: of library code paged in; context creation beyond its KV and output buffers (scheduler,
#: graph metadata), +1.0 MiB.
CPU_RUNTIME_OVERHEAD_BYTES = 12 * MIB

#: CPU / unified memory: heap that loading a model adds outside llama.cpp's buffers, per
#: vocabulary entry (the tokenizer's token/score/attribute table, the text-to-id map, the
#: piece cache and, for BPE, the merge ranks). Loading SmolLM2-135M (BPE, 49,152 tokens) grew
#: anonymous RSS by 17.1 MiB besides its buffers, i.e. 365 bytes per token; a 283-token
#: SentencePiece file grew it by 0.5 MiB.
VOCAB_HEAP_BYTES_PER_TOKEN = 365

class MemoryBreakdown(BaseModel):
    """Estimated memory of one model/quant/context, in bytes."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    weights_bytes: int = Field(ge=0)
    kv_cache_bytes: int = Field(ge=0, description="KV cache plus recurrent state")
    compute_buffer_bytes: int = Field(ge=0)
    overhead_bytes: int = Field(ge=0)
    total_bytes: int = Field(ge=0)
    context: int = Field(gt=0, description="tokens per sequence the cache holds")
    cache_type: str
    runtime: str = Field(description="where the weights live: gpu (discrete), unified or cpu")
    assumptions: list[str] = Field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


def _positive_int(name: str, value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise InvalidInputError(f"{name} must be a whole number > 0, got {value!r}",
                                parameter=name)
    return value


def _need(spec: ModelSpec, field: str) -> Any:
    value = getattr(spec, field)
    if value is None:
        raise InvalidInputError(
            f"model {spec.name!r} lacks {field}, needed for a memory estimate; reason on file: "
            f"{spec.not_recommendable_reason or 'none'}", parameter="model")
    return value


def kv_cache_bytes(spec: ModelSpec, *, context: int, cache_type: str = "f16",
                   n_seq: int = 1, swa_full: bool = False) -> int:
    """KV cache plus recurrent state bytes for ``n_seq`` sequences of ``context`` tokens
    (:func:`advisor.recommender.kv_cache.cache_size`)."""
    return cache_size(spec, context=context, cache_type=cache_type, n_seq=n_seq,
                      swa_full=swa_full).total_bytes


def estimate_memory(spec: ModelSpec, *, bpw: float | None = None, quant: str | None = None,
                    weights_bytes: int | None = None, context: int = 4096,
                    cache_type: str = "f16", batch: int = 512, n_seq: int = 1,
                    flash_attn: bool = True, runtime: Runtime = "gpu",
                    repack_bytes: int = 0, n_devices: int = 1,
                    swa_full: bool = False) -> MemoryBreakdown:
    """Estimate the memory of running ``spec`` (see the module docstring for each term).

    Give one of ``weights_bytes`` (the file size, wins), ``bpw`` or ``quant``. ``runtime`` says
    where the weights live: ``"gpu"`` (discrete GPU, the default), ``"unified"`` (a GPU that
    shares system memory: Apple, APUs, DGX Spark; its buffers are counted as a GPU's) or
    ``"cpu"`` (the CPU backend: the total is then what llama.cpp adds to the host process's peak
    RSS, the process's own baseline excluded). ``repack_bytes`` (CPU only) are the CPU
    backend's re-laid-out copies of weight matrices. ``n_devices`` (``"gpu"`` only) is the
    number of identical GPUs the layers are split over: each adds its own overhead and compute
    buffer. ``swa_full`` keeps sliding-window layers' cache for the whole context (llama.cpp's
    ``--swa-full``; llama-cpp-python's default).

    >>> from advisor.data.catalog import ModelSpec
    >>> m = ModelSpec(name="toy", family="toy", params_b=1.0, n_layers=2, hidden_size=64,
    ...               n_heads=4, n_kv_heads=2, head_dim=16, vocab_size=100, max_context=1024)
    >>> estimate_memory(m, bpw=8.0, context=1024).kv_cache_bytes  # 2*2*2*16*1024*2
    262144
    """
    _positive_int("context", context)
    _positive_int("batch", batch)
    _positive_int("n_seq", n_seq)
    _positive_int("n_devices", n_devices)
    if runtime not in RUNTIMES:
        raise UnknownNameError("runtime", str(runtime), RUNTIMES, parameter="runtime")
    if n_devices > 1 and runtime != "gpu":
        raise InvalidInputError(
            f"n_devices > 1 needs the gpu runtime (layers split over discrete GPUs), got "
            f"runtime {runtime!r} with n_devices={n_devices}", parameter="n_devices")
    if isinstance(repack_bytes, bool) or not isinstance(repack_bytes, int) or repack_bytes < 0:
        raise InvalidInputError(f"repack_bytes must be a whole number >= 0, got {repack_bytes!r}",
                                parameter="repack_bytes")
    hidden, vocab = int(_need(spec, "hidden_size")), int(_need(spec, "vocab_size"))
    limit = context_limit(spec)
    if limit is not None and context > limit:
        raise InvalidInputError(
            f"context of {context} tokens exceeds {spec.name}'s longest context of {limit} "
            f"tokens; allowed: 1-{limit}", parameter="context")
    assumptions: list[str] = []
    if spec.max_context is not None and context > spec.max_context:
        assumptions.append(f"context beyond the native {spec.max_context} tokens: needs the "
                           f"RoPE scaling the model card documents (YaRN, up to {limit})")
    weights = _weights_bytes(spec, bpw, quant, weights_bytes, assumptions)
    if runtime != "cpu":
        return _gpu(spec, weights, assumptions, context=context, cache_type=cache_type,
                    batch=batch, n_seq=n_seq, flash_attn=flash_attn, hidden=hidden, vocab=vocab,
                    n_devices=n_devices, swa_full=swa_full, runtime=runtime)
    return _host(spec, weights, repack_bytes, assumptions, context=context,
                 cache_type=cache_type, batch=batch, n_seq=n_seq, flash_attn=flash_attn,
                 hidden=hidden, vocab=vocab, swa_full=swa_full)


def context_limit(spec: ModelSpec) -> int | None:
    """The longest context ``spec`` can serve: its native one, or the one its card documents
    with RoPE scaling (YaRN) when longer."""
    known = [c for c in (spec.max_context, spec.max_context_extended) if c is not None]
    return max(known) if known else None


def _gpu(spec: ModelSpec, weights: int, assumptions: list[str], *, context: int,
         cache_type: str, batch: int, n_seq: int, flash_attn: bool, hidden: int,
         vocab: int, n_devices: int, swa_full: bool, runtime: str) -> MemoryBreakdown:
    cache = cache_size(spec, context=context, cache_type=cache_type, n_seq=n_seq,
                       ubatch=batch, swa_full=swa_full)
    kv = cache.total_bytes
    assumptions.extend(cache.notes)
    logits = batch * vocab * 4
    activations = ACTIVATION_TENSORS * batch * hidden * 4
    compute = logits + activations
    assumptions.append(f"compute buffer is an estimate: f32 logits (batch {batch} x vocab) + "
                       f"{ACTIVATION_TENSORS} f32 batch x hidden activations")
    if not flash_attn:
        compute += batch * int(_need(spec, "n_heads")) * context * n_seq * 4
        assumptions.append("no flash attention: + f32 attention scores of one layer")
    if n_devices == 1:
        kind = "discrete GPU" if runtime == "gpu" else "GPU buffers in unified memory"
        assumptions.append(f"runtime overhead {GPU_RUNTIME_OVERHEAD_BYTES // MIB} MiB (assumed, "
                           f"{kind})")
    else:
        assumptions.append(f"runtime overhead {GPU_RUNTIME_OVERHEAD_BYTES // MIB} MiB per device "
                           "(assumed, discrete GPU)")
    compute *= n_devices
    overhead = GPU_RUNTIME_OVERHEAD_BYTES * n_devices
    total = weights + kv + compute + overhead
    if n_devices > 1:
        assumptions.append(
            f"{n_devices} devices (llama.cpp layer split): weights and KV cache split across "
            f"them, runtime overhead and compute buffer per device; each holds about "
            f"{format_bytes(per_device_bytes(total, n_devices))}")
    return MemoryBreakdown(weights_bytes=weights, kv_cache_bytes=kv,
                           compute_buffer_bytes=compute, overhead_bytes=overhead,
                           total_bytes=total, context=context, cache_type=cache_type.lower(),
                           runtime=runtime, assumptions=assumptions)


def per_device_bytes(total_bytes: Any, n_devices: int) -> Any:
    """What each of ``n_devices`` GPUs holds of a layer-split run whose total (over all
    devices, as :func:`estimate_memory` gives it) is ``total_bytes``: ``(weights + KV) / n``
    plus one device's compute buffer and overhead, which is ``total / n`` rounded up.
    Works on ints and on numpy integer arrays.

    >>> per_device_bytes(10, 1), per_device_bytes(10, 4)
    (10, 3)
    """
    return -(-total_bytes // n_devices)


def host_compute_buffer_bytes(spec: ModelSpec, *, context: int, batch: int = 512,
                              flash_attn: bool = True, logits_rows: int | None = None) -> int:
    """llama.cpp's CPU compute buffer for ``context`` tokens (already padded) and micro-batch
    ``batch``: the larger of the output stage and the attention stage (module docstring).

    ``logits_rows``: rows of the output stage that are written (None: the whole micro-batch,
    i.e. the allocation; 1 per sequence for inference, which is what becomes resident)."""
    hidden, vocab = int(_need(spec, "hidden_size")), int(_need(spec, "vocab_size"))
    n_heads, n_kv_heads = int(_need(spec, "n_heads")), int(_need(spec, "n_kv_heads"))
    head_dim = int(_need(spec, "head_dim"))
    ub = min(batch, context)
    rows = ub if logits_rows is None else min(logits_rows, ub)
    output_stage = rows * (vocab + 2 * hidden) * 4
    live = ub * (4 * hidden + (n_heads + 2 * n_kv_heads) * head_dim) * 4
    per_kv = 2 if flash_attn else (n_heads + 1) * 4  # f16 mask | f32 scores + f32 mask
    return max(output_stage, live + ub * context * per_kv)


def host_work_buffer_bytes(spec: ModelSpec, *, context: int, batch: int = 512,
                           flash_attn: bool = True) -> int:
    """The CPU backend's work buffer (ggml-cpu ``ggml_graph_plan``: one buffer beside the
    compute buffer, as large as the largest node needs): a ``MUL_MAT`` converts its f32
    activations to the weights' dot-product type first, ``ub x K`` values at 292 bytes per 256
    (``block_q8_K``; K the widest input: hidden, dense FFN or the routed experts' width x
    experts used), and without flash attention the ``kq x V`` product converts the f32 scores
    of one layer to f16, ``ub x kv tokens x n_heads x 2``."""
    hidden, n_heads = int(_need(spec, "hidden_size")), int(_need(spec, "n_heads"))
    ub = min(batch, context)
    widest = max(hidden, spec.intermediate_size or 0,
                 (spec.n_experts_used or 0) * (spec.moe_intermediate_size or 0))
    activations = ub * widest * 292 // 256
    scores = 0 if flash_attn else ub * context * n_heads * 2
    return max(activations, scores)


def _host(spec: ModelSpec, weights: int, repack: int, assumptions: list[str], *,
          context: int, cache_type: str, batch: int, n_seq: int, flash_attn: bool,
          hidden: int, vocab: int, swa_full: bool) -> MemoryBreakdown:
    cells = padded(context)
    if repack:
        assumptions.append(f"weights: + {repack} bytes of CPU-repacked matrix copies")
    else:
        assumptions.append("weights: no CPU-repacked copies counted")
    weights += repack
    cache = cache_size(spec, context=context, cache_type=cache_type, n_seq=n_seq,
                       ubatch=batch, swa_full=swa_full)
    kv = cache.total_bytes
    assumptions.extend(cache.notes)
    compute = host_compute_buffer_bytes(spec, context=cells, batch=batch,
                                        flash_attn=flash_attn, logits_rows=n_seq)
    compute += n_seq * vocab * 4  # output buffer: one logits row per sequence
    compute += host_work_buffer_bytes(spec, context=cells, batch=batch, flash_attn=flash_attn)
    assumptions.append(
        f"compute: resident part of llama.cpp's CPU allocation, larger of the output stage "
        f"({n_seq} logits row(s)) and the {'flash-' if flash_attn else ''}attention stage for "
        f"micro-batch {min(batch, cells)}, + output buffer + the CPU backend's work buffer; "
        f"a perplexity run (every token's logits) makes the whole output stage resident")
    overhead = CPU_RUNTIME_OVERHEAD_BYTES + VOCAB_HEAP_BYTES_PER_TOKEN * vocab
    assumptions.append(
        f"runtime overhead {CPU_RUNTIME_OVERHEAD_BYTES // MIB} MiB (llama.cpp libraries) + "
        f"{VOCAB_HEAP_BYTES_PER_TOKEN} bytes per vocabulary token; cpu runtime: excludes "
        "the host process's own baseline RSS")
    total = weights + kv + compute + overhead
    return MemoryBreakdown(weights_bytes=weights, kv_cache_bytes=kv,
                           compute_buffer_bytes=compute, overhead_bytes=overhead,
                           total_bytes=total, context=context, cache_type=cache_type.lower(),
                           runtime="cpu", assumptions=assumptions)


def _weights_bytes(spec: ModelSpec, bpw: float | None, quant: str | None,
                   weights_bytes: int | None, assumptions: list[str]) -> int:
    if weights_bytes is not None:
        _positive_int("weights_bytes", weights_bytes)
        assumptions.append("weights: the given file size")
        return weights_bytes
    if bpw is None and quant is None:
        raise InvalidInputError("give one of weights_bytes, bpw or quant, got none",
                                parameter="quant")
    if bpw is None:
        q = get_quant(str(quant))
        bpw = q.typical_bpw
        assumptions.append(f"weights: {q.name} at {bpw:g} bits per weight ({q.typical_source})")
    else:
        if isinstance(bpw, bool) or not math.isfinite(bpw) or not 0 < bpw <= 32:
            raise InvalidInputError(f"bpw must be a number in (0, 32], got {bpw!r}",
                                    parameter="bpw")
        assumptions.append(f"weights: {bpw:g} bits per weight")
    return int(math.ceil(float(_need(spec, "params_b")) * 1e9 * bpw / 8))
