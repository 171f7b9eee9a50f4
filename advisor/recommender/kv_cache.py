"""The memory llama.cpp keeps per sequence: the KV cache and the recurrent layers' state.

What each layer keeps (llama.cpp's ``llama-kv-cache.cpp``, ``llama-kv-cache-iswa.cpp``,
``llama-memory-recurrent.cpp`` and ``llama-hparams.cpp``, as vendored in llama-cpp-python
0.3.36):

* a **full-attention** layer: K and V for every cell of the context, ``n_kv_heads x head_dim``
  values each (its own KV heads and head size where full layers differ, Gemma 4);
* a **sliding-window** layer: the same for ``min(context, window x sequences + micro-batch)``
  cells, rounded up to 256 (llama-server's default; ``swa_full`` gives it the whole context,
  as llama-cpp-python's default context parameters do);
* a layer with **multi-head latent attention** (DeepSeek-V2/V3, Kimi, GLM-4.7-Flash): one
  latent of ``kv_lora_rank + qk_rope_head_dim`` values per cell and no V cache;
* a **recurrent** layer (Gated DeltaNet, Mamba-2, short convolution, Kimi delta attention): a
  fixed-size state per sequence in f32, whatever the context
  (:attr:`advisor.data.catalog.ModelRow.recurrent_state_values`);
* a layer that **shares** another layer's cache (Gemma 3n / 4 E-models): nothing.

The context is rounded up to a multiple of 256 cells (``llama-context.cpp``). A quantized cache
stores ggml blocks (``q8_0``: 34 bytes per 32 values); llama.cpp needs flash attention to
quantize the V cache.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from advisor.vocabulary.errors import InvalidInputError, UnknownNameError

if TYPE_CHECKING:
    from advisor.data.catalog import ModelSpec

#: Bytes per cached K/V value for llama.cpp's ``--cache-type-k/-v`` values
#: (ggml block types: bytes per block / values per block).
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
#: llama.cpp rounds the context (and a sliding-window cache) up to a multiple of this.
LLAMA_CTX_PAD = 256
#: Bytes per value of the recurrent state (llama.cpp keeps it in f32).
STATE_BYTES = 4


@dataclass(frozen=True)
class CacheSize:
    """What the caches of one model take for a request, in bytes, and how it was counted."""

    kv_bytes: int
    state_bytes: int
    cells: int
    swa_cells: int
    notes: list[str] = field(default_factory=list)

    @property
    def total_bytes(self) -> int:
        return self.kv_bytes + self.state_bytes


def padded(context: int) -> int:
    """``context`` rounded up to a multiple of :data:`LLAMA_CTX_PAD` cells."""
    return -(-context // LLAMA_CTX_PAD) * LLAMA_CTX_PAD


def cache_type_bytes(cache_type: str) -> float:
    """Bytes per cached value of ``cache_type`` (``f16``, ``q8_0``, ...)."""
    key = cache_type.strip().lower()
    if key not in CACHE_TYPE_BYTES:
        raise UnknownNameError("cache type", cache_type, CACHE_TYPE_BYTES, parameter="cache_type")
    return CACHE_TYPE_BYTES[key]


def _need(spec: ModelSpec, value: int | None, what: str) -> int:
    if value is None:
        raise InvalidInputError(
            f"model {spec.name!r} lacks {what}, needed for its cache size; reason on file: "
            f"{spec.not_recommendable_reason or 'none'}", parameter="model")
    return int(value)


def cache_size(spec: ModelSpec, *, context: int, cache_type: str = "f16", n_seq: int = 1,
               ubatch: int = 512, swa_full: bool = False) -> CacheSize:
    """The KV cache and recurrent state of ``spec`` for ``n_seq`` sequences of ``context``
    tokens (see the module docstring for what each kind of layer keeps)."""
    per_value = cache_type_bytes(cache_type)
    cells = padded(context) * n_seq
    notes: list[str] = []
    if spec.is_mla:
        latent = _need(spec, spec.kv_lora_rank, "kv_lora_rank") + (spec.qk_rope_head_dim or 64)
        full_values, swa_values = latent, latent
        notes.append(f"KV: MLA latent of {latent} values per token and layer, no V cache")
    else:
        heads = _need(spec, spec.n_kv_heads, "n_kv_heads")
        k_dim = _need(spec, spec.head_dim, "head_dim")
        v_dim = spec.v_head_dim or k_dim
        swa_values = heads * (k_dim + v_dim)
        full_heads = spec.n_global_kv_heads or heads
        full_dim = spec.global_head_dim or None
        full_values = full_heads * (2 * full_dim if full_dim else k_dim + v_dim)
        if spec.global_head_dim or spec.n_global_kv_heads:
            notes.append(f"KV: full-attention layers keep {full_heads} KV heads of "
                         f"{full_dim or k_dim} values, sliding ones {heads} of {k_dim}")
    full_layers, swa_layers = spec.kv_layers, spec.n_swa_layers
    swa_cells = 0
    if swa_layers:
        window = _need(spec, spec.sliding_window, "sliding_window")
        swa_cells = cells if swa_full else min(cells, padded(window * n_seq + ubatch))
        notes.append(f"KV: {swa_layers} of {spec.n_layers} layers use a {window}-token sliding "
                     f"window and keep {swa_cells} cells"
                     + (" (full-size SWA cache)" if swa_full else ""))
    if spec.num_kv_shared_layers:
        notes.append(f"KV: {spec.num_kv_shared_layers} layers reuse earlier layers' cache")
    kv = math.ceil((full_layers * cells * full_values + swa_layers * swa_cells * swa_values)
                   * per_value)
    state = 0
    if spec.n_recurrent_layers:
        values = spec.recurrent_state_values
        if values is None:
            raise InvalidInputError(
                f"model {spec.name!r} has {spec.n_recurrent_layers} {spec.recurrent_kind} layers "
                "but the catalog lacks their state sizes", parameter="model")
        state = spec.n_recurrent_layers * n_seq * values * STATE_BYTES
        notes.append(f"{spec.n_recurrent_layers} {spec.recurrent_kind} layers keep a fixed "
                     f"{values * STATE_BYTES / 2**20:.2f} MiB state per sequence instead of a "
                     "KV cache")
    notes.append(f"KV cache type {cache_type.lower()}, {n_seq} sequence(s) of {context} tokens "
                 f"({cells} cells: the context rounded up to a multiple of {LLAMA_CTX_PAD})")
    return CacheSize(kv_bytes=kv, state_bytes=state, cells=cells, swa_cells=swa_cells,
                     notes=notes)
