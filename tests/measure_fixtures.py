"""Fixtures for the measure tests: a tiny random llama-architecture F16 GGUF built at test time.

Hidden size 256 so that k-quants apply; a SentencePiece-style vocabulary of control tokens,
the 256 byte tokens (byte fallback: any text tokenizes) and a few word pieces.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

HIDDEN, FF, LAYERS, HEADS, KV_HEADS, CONTEXT = 256, 512, 2, 4, 2, 4096
_PIECES = ["▁the", "▁a", "▁of", "▁is", "▁to", "▁and", "▁in", "▁The", "▁Answer", "▁Question",
           ":", ".", ",", "?", "▁", "e", "t", "a", "o", "n", "s", "r", "i", "l"]


def write_tiny_gguf(path: Path, *, seed: int = 0) -> Path:
    """Write a 2-layer random llama GGUF (F16 matrices, F32 norms) to ``path``."""
    import gguf

    tokens = ["<unk>", "<s>", "</s>"] + [f"<0x{b:02X}>" for b in range(256)] + _PIECES
    types = ([gguf.TokenType.UNKNOWN, gguf.TokenType.CONTROL, gguf.TokenType.CONTROL]
             + [gguf.TokenType.BYTE] * 256 + [gguf.TokenType.NORMAL] * len(_PIECES))
    scores = [0.0] * 259 + [-float(i) for i in range(len(_PIECES))]
    n_vocab = len(tokens)
    w = gguf.GGUFWriter(path, "llama")
    w.add_name("tiny-llama-test")
    w.add_context_length(CONTEXT)
    w.add_embedding_length(HIDDEN)
    w.add_block_count(LAYERS)
    w.add_feed_forward_length(FF)
    w.add_head_count(HEADS)
    w.add_head_count_kv(KV_HEADS)
    w.add_rope_dimension_count(HIDDEN // HEADS)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_vocab_size(n_vocab)
    w.add_file_type(1)
    w.add_tokenizer_model("llama")
    w.add_token_list(tokens)
    w.add_token_scores(scores)
    w.add_token_types(types)
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)
    w.add_unk_token_id(0)
    w.add_add_bos_token(True)
    rng = np.random.default_rng(seed)
    head_dim = HIDDEN // HEADS

    def mat(rows: int, cols: int) -> np.ndarray:
        return (rng.standard_normal((rows, cols)) * 0.08).astype(np.float16)

    w.add_tensor("token_embd.weight", mat(n_vocab, HIDDEN))
    w.add_tensor("output_norm.weight", np.ones(HIDDEN, dtype=np.float32))
    w.add_tensor("output.weight", mat(n_vocab, HIDDEN))
    for i in range(LAYERS):
        w.add_tensor(f"blk.{i}.attn_norm.weight", np.ones(HIDDEN, dtype=np.float32))
        w.add_tensor(f"blk.{i}.attn_q.weight", mat(HIDDEN, HIDDEN))
        w.add_tensor(f"blk.{i}.attn_k.weight", mat(KV_HEADS * head_dim, HIDDEN))
        w.add_tensor(f"blk.{i}.attn_v.weight", mat(KV_HEADS * head_dim, HIDDEN))
        w.add_tensor(f"blk.{i}.attn_output.weight", mat(HIDDEN, HIDDEN))
        w.add_tensor(f"blk.{i}.ffn_norm.weight", np.ones(HIDDEN, dtype=np.float32))
        w.add_tensor(f"blk.{i}.ffn_gate.weight", mat(FF, HIDDEN))
        w.add_tensor(f"blk.{i}.ffn_up.weight", mat(FF, HIDDEN))
        w.add_tensor(f"blk.{i}.ffn_down.weight", mat(HIDDEN, FF))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path


@pytest.fixture(scope="session", name="tiny_gguf")
def tiny_gguf_fixture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny F16 llama GGUF shared by the session (read-only: copy it before changing it)."""
    pytest.importorskip("llama_cpp")
    return write_tiny_gguf(tmp_path_factory.mktemp("tiny") / "tiny-f16.gguf")
