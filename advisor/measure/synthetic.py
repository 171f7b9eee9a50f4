"""Random-weight GGUFs with the exact shapes of published models, for speed-only runs.

llama.cpp's speed on a device depends on a model's shapes and tensor types, not on the values
of its weights: the kernels read the same bytes and do the same arithmetic either way. So where
the real weights cannot be had (no download at run time, a GPU machine the file cannot reach),
a file with the real architecture and random weights measures the same pp/tg throughput and
memory. It measures nothing about quality: the ladder refuses quality runs on these files and
their rows carry the flag ``random_weights``.

Shapes are the published ``config.json`` values of each model (hidden size, layers, attention
heads, KV heads, feed-forward size, vocabulary, tied embeddings, trained context).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from advisor.vocabulary.errors import UnknownNameError

PREFIX = "synthetic:"
FLAG = "random_weights"
#: GGUF metadata key that marks a file written here.
MARKER_KEY = "quant_advisor.random_weights"


@dataclass(frozen=True)
class Shape:
    """A llama-architecture transformer's dimensions."""

    name: str
    hidden: int
    layers: int
    heads: int
    kv_heads: int
    ffn: int
    vocab: int
    context: int
    tied_embeddings: bool
    family: str

    @property
    def n_params(self) -> int:
        head_dim = self.hidden // self.heads
        attn = 2 * self.hidden * self.hidden + 2 * self.hidden * self.kv_heads * head_dim
        block = attn + 3 * self.hidden * self.ffn + 2 * self.hidden
        embeddings = self.vocab * self.hidden * (1 if self.tied_embeddings else 2)
        return self.layers * block + embeddings + self.hidden


#: Published configurations (Hugging Face config.json of each model).
SHAPES: dict[str, Shape] = {s.name.lower(): s for s in (
    Shape("SmolLM2-135M-Instruct", 576, 30, 9, 3, 1536, 49152, 8192, True, "SmolLM2"),
    Shape("SmolLM2-360M-Instruct", 960, 32, 15, 5, 2560, 49152, 8192, True, "SmolLM2"),
    Shape("SmolLM2-1.7B-Instruct", 2048, 24, 32, 32, 8192, 49152, 8192, True, "SmolLM2"),
    Shape("Llama-3.2-1B", 2048, 16, 32, 8, 8192, 128256, 131072, True, "Llama 3"),
    Shape("Llama-3.2-3B", 3072, 28, 24, 8, 8192, 128256, 131072, True, "Llama 3"),
    Shape("Llama-3.1-8B", 4096, 32, 32, 8, 14336, 128256, 131072, False, "Llama 3"),
    Shape("Mistral-7B-v0.1", 4096, 32, 32, 8, 14336, 32000, 32768, False, "Mistral"),
    Shape("Llama-2-13B", 5120, 40, 40, 40, 13824, 32000, 4096, False, "Llama 2"),
)}


def is_synthetic(spec: str) -> bool:
    return spec.strip().lower().startswith(PREFIX)


def shape_for(spec: str) -> Shape:
    """The :class:`Shape` named by ``synthetic:<model>`` (case-insensitive)."""
    key = spec.strip().lower().removeprefix(PREFIX)
    if key not in SHAPES:
        raise UnknownNameError("synthetic model", key, [PREFIX + s.name for s in SHAPES.values()],
                               parameter="model")
    return SHAPES[key]


def _vocab(n: int, pieces: tuple[str, ...] = ()) -> tuple[list[str], list[float], list[int]]:
    """A SentencePiece-style vocabulary of ``n`` tokens: controls, the 256 byte tokens (byte
    fallback: any text tokenizes), ``pieces``, then numbered filler pieces."""
    import gguf

    tokens = ["<unk>", "<s>", "</s>"] + [f"<0x{b:02X}>" for b in range(256)] + list(pieces)
    if len(tokens) > n:
        raise ValueError(f"a vocabulary of {n} tokens cannot hold {len(tokens)}")
    tokens += [f"▁t{i}" for i in range(n - len(tokens))]
    types = ([gguf.TokenType.UNKNOWN, gguf.TokenType.CONTROL, gguf.TokenType.CONTROL]
             + [gguf.TokenType.BYTE] * 256 + [gguf.TokenType.NORMAL] * (n - 259))
    return tokens, [0.0] * 259 + [-float(i) for i in range(n - 259)], [int(t) for t in types]


def write_synthetic(shape: Shape, path: Path, *, seed: int = 0, scale: float = 0.02,
                    name: str | None = None, pieces: tuple[str, ...] = ()) -> Path:
    """Write ``shape`` as an F16 llama GGUF with random weights (normal, standard deviation
    ``scale``; norms are ones) to ``path``; ``pieces`` are word tokens added to the vocabulary.

    Every matrix is a view into one shared pool of random values, so writing an 8B model needs
    about as much memory as its largest tensor, not the whole model.
    """
    import gguf

    path.parent.mkdir(parents=True, exist_ok=True)
    head_dim = shape.hidden // shape.heads
    w = gguf.GGUFWriter(path, "llama")
    w.add_name(name or f"{shape.name} (random weights)")
    w.add_bool(MARKER_KEY, True)
    w.add_context_length(shape.context)
    w.add_embedding_length(shape.hidden)
    w.add_block_count(shape.layers)
    w.add_feed_forward_length(shape.ffn)
    w.add_head_count(shape.heads)
    w.add_head_count_kv(shape.kv_heads)
    w.add_rope_dimension_count(head_dim)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_vocab_size(shape.vocab)
    w.add_file_type(1)  # MOSTLY_F16
    tokens, scores, types = _vocab(shape.vocab, pieces)
    w.add_tokenizer_model("llama")
    w.add_token_list(tokens)
    w.add_token_scores(scores)
    w.add_token_types(types)
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)
    w.add_unk_token_id(0)
    w.add_add_bos_token(True)
    largest = max(shape.vocab, shape.ffn, shape.hidden) * max(shape.hidden, shape.ffn)
    pool = (np.random.default_rng(seed).standard_normal(largest, dtype=np.float32)
            * scale).astype(np.float16)

    def mat(rows: int, cols: int) -> np.ndarray:
        return pool[: rows * cols].reshape(rows, cols)

    def ones(n: int) -> np.ndarray:
        return np.ones(n, dtype=np.float32)

    w.add_tensor("token_embd.weight", mat(shape.vocab, shape.hidden))
    w.add_tensor("output_norm.weight", ones(shape.hidden))
    if not shape.tied_embeddings:
        w.add_tensor("output.weight", mat(shape.vocab, shape.hidden))
    for i in range(shape.layers):
        b = f"blk.{i}."
        w.add_tensor(b + "attn_norm.weight", ones(shape.hidden))
        w.add_tensor(b + "attn_q.weight", mat(shape.hidden, shape.hidden))
        w.add_tensor(b + "attn_k.weight", mat(shape.kv_heads * head_dim, shape.hidden))
        w.add_tensor(b + "attn_v.weight", mat(shape.kv_heads * head_dim, shape.hidden))
        w.add_tensor(b + "attn_output.weight", mat(shape.hidden, shape.hidden))
        w.add_tensor(b + "ffn_norm.weight", ones(shape.hidden))
        w.add_tensor(b + "ffn_gate.weight", mat(shape.ffn, shape.hidden))
        w.add_tensor(b + "ffn_up.weight", mat(shape.ffn, shape.hidden))
        w.add_tensor(b + "ffn_down.weight", mat(shape.hidden, shape.ffn))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path
