"""Predicted memory of a GGUF (via :mod:`advisor.memory`) and the free-RAM check before a run."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from advisor.errors import NothingFitsError
from advisor.units import MIB

log = logging.getLogger(__name__)


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


def predicted_memory_mib(path: Path, *, context: int, batch: int, flash_attn: bool
                         ) -> float | None:
    """advisor.memory's estimate for running ``path`` at ``context`` tokens, MiB.

    None (with the reason logged) when the memory model cannot describe this file, so the
    column is left empty rather than filled with a guess.
    """
    try:
        from advisor.memory import estimate_memory

        spec = spec_from_gguf(path)
        est = estimate_memory(spec, weights_bytes=path.stat().st_size, context=context,
                              batch=batch, flash_attn=flash_attn)
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
