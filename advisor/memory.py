"""How much memory running a catalog model with llama.cpp takes.

``total = weights + KV cache + compute buffers + runtime overhead``, all in bytes.

* **Weights**: the given file size, else ``params x bpw / 8`` (``bpw`` given, or the quant's
  typical bits per weight from :mod:`advisor.quants`).
* **KV cache**: ``2 (K and V) x layers x KV heads x head dim x tokens x bytes per element``.
  Layers using a sliding window hold ``min(context, window)`` tokens per sequence (what llama.cpp
  allocates for SWA layers by default; it pads this by one micro-batch, ignored here), the
  others hold the full context. ``context`` is per sequence; ``n_seq`` sequences multiply it.
* **Compute buffers** (an *estimate*, to be checked against measured peak memory by the
  measurement pipeline): the f32 output logits ``batch x vocab x 4`` plus
  :data:`ACTIVATION_TENSORS` f32 activation tensors of ``batch x hidden``; without flash
  attention also the f32 attention scores of one layer, ``batch x n_heads x kv tokens x 4``.
  ``batch`` is the micro-batch llama.cpp evaluates at once (``n_ubatch``, 512 by default).
* **Overhead**: :data:`RUNTIME_OVERHEAD_BYTES`, an assumed allowance for the CUDA/Metal
  context and the process, to be calibrated against measurements.
"""

from __future__ import annotations

import math
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from advisor.catalog import ModelSpec
from advisor.errors import InvalidInputError, UnknownNameError
from advisor.quants import get_quant
from advisor.units import MIB

#: Bytes per cached K/V element for llama.cpp's ``--cache-type-k/-v`` values
#: (ggml block types: bytes per block / weights per block).
CACHE_TYPE_BYTES: dict[str, float] = {
    "f32": 4.0,
    "f16": 2.0,
    "bf16": 2.0,
    "q8_0": 34 / 32,
    "q5_1": 24 / 32,
    "q5_0": 22 / 32,
    "q4_1": 20 / 32,
    "iq4_nl": 18 / 32,
    "q4_0": 18 / 32,
}

#: Assumed runtime allowance (CUDA context / Metal device / process), 400 MiB. An assumption
#: in the 300-500 MiB range commonly seen for a CUDA context; calibrate against measurements.
RUNTIME_OVERHEAD_BYTES = 400 * MIB

#: Assumed number of live f32 ``batch x hidden`` activation tensors in the compute buffer.
ACTIVATION_TENSORS = 8


class MemoryBreakdown(BaseModel):
    """Estimated memory of one model/quant/context, in bytes."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    weights_bytes: int = Field(ge=0)
    kv_cache_bytes: int = Field(ge=0)
    compute_buffer_bytes: int = Field(ge=0)
    overhead_bytes: int = Field(ge=0)
    total_bytes: int = Field(ge=0)
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
                   n_seq: int = 1) -> int:
    """K and V cache bytes for ``n_seq`` sequences of ``context`` tokens (SWA aware)."""
    n_layers, n_kv_heads = int(_need(spec, "n_layers")), int(_need(spec, "n_kv_heads"))
    head_dim = int(_need(spec, "head_dim"))
    key = cache_type.strip().lower()
    if key not in CACHE_TYPE_BYTES:
        raise UnknownNameError("cache type", cache_type, CACHE_TYPE_BYTES, parameter="cache_type")
    n_swa = spec.n_swa_layers
    swa_tokens = min(context, spec.sliding_window) if spec.sliding_window else context
    token_layers = (n_layers - n_swa) * context + n_swa * swa_tokens
    per_token_layer = 2 * n_kv_heads * head_dim * CACHE_TYPE_BYTES[key]
    return int(math.ceil(token_layers * n_seq * per_token_layer))


def estimate_memory(spec: ModelSpec, *, bpw: float | None = None, quant: str | None = None,
                    weights_bytes: int | None = None, context: int = 4096,
                    cache_type: str = "f16", batch: int = 512, n_seq: int = 1,
                    flash_attn: bool = True) -> MemoryBreakdown:
    """Estimate the memory of running ``spec`` (see the module docstring for each term).

    Give one of ``weights_bytes`` (the file size, wins), ``bpw`` or ``quant``.

    >>> from advisor.catalog import ModelSpec
    >>> m = ModelSpec(name="toy", family="toy", params_b=1.0, n_layers=2, hidden_size=64,
    ...               n_heads=4, n_kv_heads=2, head_dim=16, vocab_size=100, max_context=1024)
    >>> estimate_memory(m, bpw=8.0, context=1024).kv_cache_bytes  # 2*2*2*16*1024*2
    262144
    """
    _positive_int("context", context)
    _positive_int("batch", batch)
    _positive_int("n_seq", n_seq)
    hidden, vocab = int(_need(spec, "hidden_size")), int(_need(spec, "vocab_size"))
    if spec.max_context is not None and context > spec.max_context:
        raise InvalidInputError(
            f"context of {context} tokens exceeds {spec.name}'s max_context of "
            f"{spec.max_context} tokens; allowed: 1-{spec.max_context}", parameter="context")
    assumptions: list[str] = []
    weights = _weights_bytes(spec, bpw, quant, weights_bytes, assumptions)

    kv = kv_cache_bytes(spec, context=context, cache_type=cache_type, n_seq=n_seq)
    if spec.n_swa_layers:
        assumptions.append(
            f"KV: {spec.n_swa_layers} of {spec.n_layers} layers use a {spec.sliding_window}-token"
            f" sliding window and hold min(context, window) tokens")
    assumptions.append(f"KV cache type {cache_type.lower()}, {n_seq} sequence(s) of {context} "
                       "tokens")

    logits = batch * vocab * 4
    activations = ACTIVATION_TENSORS * batch * hidden * 4
    compute = logits + activations
    assumptions.append(f"compute buffer is an estimate: f32 logits (batch {batch} x vocab) + "
                       f"{ACTIVATION_TENSORS} f32 batch x hidden activations")
    if not flash_attn:
        compute += batch * int(_need(spec, "n_heads")) * context * n_seq * 4
        assumptions.append("no flash attention: + f32 attention scores of one layer")
    assumptions.append(f"runtime overhead {RUNTIME_OVERHEAD_BYTES // MIB} MiB (assumed)")
    total = weights + kv + compute + RUNTIME_OVERHEAD_BYTES
    return MemoryBreakdown(weights_bytes=weights, kv_cache_bytes=kv,
                           compute_buffer_bytes=compute, overhead_bytes=RUNTIME_OVERHEAD_BYTES,
                           total_bytes=total, assumptions=assumptions)


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
