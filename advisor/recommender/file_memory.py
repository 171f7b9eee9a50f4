"""The memory model applied to a GGUF file on disk: its own metadata, its size, and the matrices
llama.cpp's CPU backend copies into its repack buffer."""

from __future__ import annotations

import logging
from pathlib import Path

from advisor.data.gguf_header import TensorInfo, read_tensors, spec_from_gguf
from advisor.recommender.memory import MemoryBreakdown, estimate_memory
from advisor.vocabulary.units import MIB

log = logging.getLogger(__name__)

#: Weight types llama.cpp's CPU backend re-lays out into its ``CPU_REPACK`` buffer, by the CPU
#: flag that enables it, with the row multiple each needs (ggml-cpu ``repack.cpp``,
#: ``ggml_repack_get_optimal_repack_type``, llama.cpp as vendored in llama-cpp-python 0.3.36).
REPACK_RULES: dict[str, tuple[frozenset[str], int]] = {
    "avx2": (frozenset({"Q4_0", "Q4_K", "IQ4_NL", "MXFP4"}), 8),
    "avx512f": (frozenset({"Q2_K"}), 8),
    "neon": (frozenset({"Q4_0", "Q4_K", "Q5_K", "Q6_K", "IQ4_NL", "MXFP4", "Q8_0"}), 4),
}
#: Tensors read with GET_ROWS (embedding lookups) stay in the plain CPU buffer
#: (llama-arch.cpp ``LLM_TENSOR_INFOS``: TOKEN_EMBD, PER_LAYER_TOKEN_EMBD, NEXTN_EMBED_TOKENS).
_NOT_REPACKED = ("token_embd.weight", "per_layer_token_embd.weight", "nextn.embed_tokens.weight")


def _repackable(t: TensorInfo) -> bool:
    """A weight the CPU backend may repack: a 2-D matrix of a ``MUL_MAT`` or a 3-D stack of
    experts of a ``MUL_MAT_ID`` (``ffn_*_exps``); ggml-cpu ``repack.cpp``,
    ``extra_buffer_type::supports_op``. Batched 3-D matrices (MLA's ``attn_k_b``) are not."""
    if t.name.endswith(_NOT_REPACKED):
        return False
    dims = len(t.shape)
    while dims > 1 and t.shape[dims - 1] == 1:
        dims -= 1
    return dims == 2 or (dims == 3 and "_exps." in t.name)


def repack_bytes(tensors: list[TensorInfo], isa: list[str]) -> int:
    """Bytes of the weight matrices in ``tensors`` that the CPU backend copies into its repack
    buffer on a CPU with flags ``isa`` (``/proc/cpuinfo`` names: ``avx2``, ``avx512f``,
    ``asimd`` ...)."""
    flags = set(isa) | ({"neon"} if "asimd" in isa else set())
    rules = [REPACK_RULES[f] for f in REPACK_RULES if f in flags]
    total = 0
    for t in tensors:
        if not _repackable(t):
            continue
        if any(t.type_name in types and t.shape[1] % rows == 0 for types, rows in rules):
            total += t.n_bytes
    return total


def predicted_memory(path: Path, *, context: int, batch: int, flash_attn: bool,
                     isa: list[str], gpu_layers: int = 0, swa_full: bool = False
                     ) -> MemoryBreakdown | None:
    """The memory model's itemised estimate for running ``path`` at ``context`` tokens.

    ``gpu_layers`` > 0 means a discrete-GPU run (the GPU memory model: weights, KV, compute and
    a fixed 400 MiB allowance). Otherwise a CPU run on a CPU with flags ``isa``: the estimate is
    what llama.cpp adds to the measuring process's peak RSS, i.e. ``peak_rss_mib -
    rss_before_load_mib`` of the measurement worker, with this file's CPU-repacked matrices
    counted. ``swa_full``: sliding-window layers cache the whole context (llama-cpp-python's
    default, :class:`advisor.measure.llama_backend.RunConfig`).

    None (with the reason logged) when the memory model cannot describe this file, so the
    column is left empty rather than filled with a guess.
    """
    try:
        spec = spec_from_gguf(path)
        if gpu_layers > 0:
            return estimate_memory(spec, weights_bytes=path.stat().st_size, context=context,
                                   batch=batch, flash_attn=flash_attn, runtime="gpu",
                                   swa_full=swa_full)
        return estimate_memory(spec, weights_bytes=path.stat().st_size, context=context,
                               batch=batch, flash_attn=flash_attn, runtime="cpu",
                               repack_bytes=repack_bytes(read_tensors(path), isa),
                               swa_full=swa_full)
    except Exception as e:  # missing metadata or memory model unavailable: column left empty
        log.warning("no memory prediction for %s: %s: %s", path.name, type(e).__name__, e)
        return None


def predicted_memory_mib(path: Path, *, context: int, batch: int, flash_attn: bool,
                         isa: list[str], gpu_layers: int = 0, swa_full: bool = False
                         ) -> float | None:
    """:func:`predicted_memory`'s total, MiB (None where it has none)."""
    est = predicted_memory(path, context=context, batch=batch, flash_attn=flash_attn, isa=isa,
                           gpu_layers=gpu_layers, swa_full=swa_full)
    return None if est is None else est.total_bytes / MIB
