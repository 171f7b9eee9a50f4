"""Fixtures for the measure tests: a tiny random llama-architecture F16 GGUF built at test time.

Hidden size 256 so that k-quants apply; a SentencePiece-style vocabulary of control tokens,
the 256 byte tokens (byte fallback: any text tokenizes) and a few word pieces.
"""

from __future__ import annotations

from pathlib import Path

import pytest

HIDDEN, FF, LAYERS, HEADS, KV_HEADS, CONTEXT = 256, 512, 2, 4, 2, 4096
_PIECES = ["▁the", "▁a", "▁of", "▁is", "▁to", "▁and", "▁in", "▁The", "▁Answer", "▁Question",
           ":", ".", ",", "?", "▁", "e", "t", "a", "o", "n", "s", "r", "i", "l"]


def write_tiny_gguf(path: Path, *, seed: int = 0) -> Path:
    """Write a 2-layer random llama GGUF (F16 matrices, F32 norms) to ``path``."""
    from advisor.measure.synthetic import Shape, write_synthetic

    shape = Shape("tiny-llama-test", HIDDEN, LAYERS, HEADS, KV_HEADS, FF, 259 + len(_PIECES),
                  CONTEXT, tied_embeddings=False, family="test")
    return write_synthetic(shape, path, seed=seed, scale=0.08, name="tiny-llama-test",
                           pieces=tuple(_PIECES))


@pytest.fixture(scope="session", name="tiny_gguf")
def tiny_gguf_fixture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny F16 llama GGUF shared by the session (read-only: copy it before changing it)."""
    pytest.importorskip("llama_cpp")
    return write_tiny_gguf(tmp_path_factory.mktemp("tiny") / "tiny-f16.gguf")
