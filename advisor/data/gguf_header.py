"""What a GGUF file's header says about its model, read with the ``gguf`` package (the
``measure`` extra) without loading any tensor data."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from advisor.data.catalog import ModelSpec


@dataclass(frozen=True)
class TensorInfo:
    """One tensor of a GGUF file: its name, ggml type name, shape and bytes in the file."""

    name: str
    type_name: str
    shape: tuple[int, ...]
    n_bytes: int


def read_metadata(path: Path) -> dict[str, Any]:
    """The header's key/value pairs (tokenizer tables left out, their size kept as
    ``tokenizer.n_tokens``) plus ``n_params``, the total number of tensor elements."""
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


def read_tensors(path: Path) -> list[TensorInfo]:
    """Every tensor of ``path`` as :class:`TensorInfo`, in file order."""
    from gguf import GGUFReader

    return [TensorInfo(t.name, t.tensor_type.name, tuple(int(n) for n in t.shape),
                       int(t.n_bytes)) for t in GGUFReader(path).tensors]


def spec_from_gguf(path: Path) -> ModelSpec:
    """A :class:`~advisor.data.catalog.ModelSpec` built from the file's own metadata."""
    m = read_metadata(path)
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
        n_swa_layers=_swa_layers(arch, g("block_count"), window),
    )


def _swa_layers(arch: str, n_layers: int | None, window: int | None) -> int:
    """Layers with a sliding window: llama.cpp's default pattern per architecture (Gemma 3 puts
    one global layer after 5 local ones, the others alternate)."""
    if not window or not n_layers:
        return 0
    period = 6 if arch == "gemma3" else 2
    return n_layers - n_layers // period
