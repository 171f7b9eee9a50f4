"""Predicted memory of a GGUF (via :mod:`advisor.memory`) and the free-RAM check before a run."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from advisor.errors import NothingFitsError
from advisor.units import MIB

log = logging.getLogger(__name__)

#: Weight types llama.cpp's CPU backend re-lays out into its ``CPU_REPACK`` buffer, by the CPU
#: flag that enables it, with the row multiple each needs (ggml-cpu ``repack.cpp``,
#: ``ggml_repack_get_optimal_repack_type``, llama.cpp as vendored in llama-cpp-python 0.3.36).
REPACK_RULES: dict[str, tuple[frozenset[str], int]] = {
    "avx2": (frozenset({"Q4_0", "Q4_K", "IQ4_NL", "MXFP4"}), 8),
    "avx512f": (frozenset({"Q2_K"}), 8),
    "neon": (frozenset({"Q4_0", "Q4_K", "Q5_K", "Q6_K", "IQ4_NL", "MXFP4", "Q8_0"}), 4),
}
#: Tensors read with GET_ROWS (embedding lookups) stay in the plain CPU buffer.
_NOT_REPACKED = ("token_embd.weight",)


def repack_bytes(path: Path, isa: list[str] | None = None) -> int:
    """Bytes of ``path``'s weight matrices that the CPU backend copies into its repack buffer
    on a CPU with flags ``isa`` (default: this machine's, from
    :func:`advisor.measure.environment.isa_flags`)."""
    from gguf import GGUFReader

    if isa is None:
        from advisor.measure.environment import isa_flags

        isa = isa_flags()
    flags = set(isa) | ({"neon"} if "asimd" in isa else set())
    rules = [REPACK_RULES[f] for f in REPACK_RULES if f in flags]
    total = 0
    for t in GGUFReader(path).tensors:
        shape = [int(n) for n in t.shape]
        if len(shape) != 2 or t.name in _NOT_REPACKED:
            continue
        kind = t.tensor_type.name
        if any(kind in types and shape[1] % rows == 0 for types, rows in rules):
            total += int(t.n_bytes)
    return total


def _meta(path: Path) -> dict[str, Any]:
    from gguf import GGUFReader

    reader = GGUFReader(path)
    out: dict[str, Any] = {}
    for key, fld in reader.fields.items():
        if not key.startswith("tokenizer.") and not key.startswith("GGUF."):
            out[key] = fld.contents()
    tokens = reader.fields.get("tokenizer.ggml.tokens")
    if tokens is not None:
        out["tokenizer.n_tokens"] = len(tokens.data)
    out["n_params"] = sum(int(t.n_elements) for t in reader.tensors)
    return out


def spec_from_gguf(path: Path) -> Any:
    """An :class:`advisor.catalog.ModelSpec` built from the file's own metadata."""
    from advisor.catalog import ModelSpec

    m = _meta(path)
    arch = m.get("general.architecture", "unknown")

    def g(key: str) -> Any:
        return m.get(f"{arch}.{key}")

    n_heads, hidden = g("attention.head_count"), g("embedding_length")
    head_dim = g("attention.key_length") or (hidden // n_heads if hidden and n_heads else None)
    window = g("attention.sliding_window")
    return ModelSpec(
        name=str(m.get("general.name") or path.stem), family=str(arch),
        params_b=m["n_params"] / 1e9, n_layers=g("block_count"), hidden_size=hidden,
        n_heads=n_heads, n_kv_heads=g("attention.head_count_kv") or n_heads, head_dim=head_dim,
        vocab_size=g("vocab_size") or m.get("tokenizer.n_tokens"),
        max_context=g("context_length"),
        sliding_window=window if window else None,
        # gemma3 interleaves 5 local layers with 1 global one (llama.cpp's default pattern)
        swa_period=6 if window and arch == "gemma3" else (2 if window else None),
    )


def predicted_memory_mib(path: Path, *, context: int, batch: int, flash_attn: bool,
                         gpu_layers: int = 0, isa: list[str] | None = None) -> float | None:
    """advisor.memory's estimate for running ``path`` at ``context`` tokens, MiB.

    ``gpu_layers`` > 0 means a discrete-GPU run (the GPU memory model: weights, KV, compute and
    a fixed 400 MiB allowance). Otherwise a CPU run: the estimate is what llama.cpp adds to the
    measuring process's peak RSS, i.e. ``peak_rss_mib - rss_before_load_mib`` of the worker
    (which reads its baseline before ``llama_cpp`` is imported), with this file's CPU-repacked
    matrices (for the flags ``isa``, default this machine's) counted.

    None (with the reason logged) when the memory model cannot describe this file, so the
    column is left empty rather than filled with a guess.
    """
    try:
        from advisor.memory import estimate_memory

        spec = spec_from_gguf(path)
        if gpu_layers > 0:
            est = estimate_memory(spec, weights_bytes=path.stat().st_size, context=context,
                                  batch=batch, flash_attn=flash_attn, runtime="gpu")
        else:
            est = estimate_memory(spec, weights_bytes=path.stat().st_size, context=context,
                                  batch=batch, flash_attn=flash_attn, runtime="cpu",
                                  repack_bytes=repack_bytes(path, isa))
    except Exception as e:  # missing metadata or memory model unavailable: column left empty
        log.warning("no memory prediction for %s: %s: %s", path.name, type(e).__name__, e)
        return None
    return est.total_bytes / MIB


def check_free_ram(path: Path, needed_mib: float, available_mib: float | None = None) -> None:
    """Raise :class:`~advisor.errors.NothingFitsError` when ``needed_mib`` exceeds free RAM."""
    if available_mib is None:
        import psutil

        available_mib = psutil.virtual_memory().available / MIB
    if needed_mib > available_mib:
        raise NothingFitsError(
            f"not enough free memory to measure {path.name}: needs about {needed_mib:.0f} MiB "
            f"(predicted), {available_mib:.0f} MiB available",
            smallest_budget_bytes=int(needed_mib * MIB))
