"""Runnable GGUF files with a catalog architecture's shapes and random weights.

:func:`write_random_gguf` writes what :func:`advisor.measure.synthetic_arch.write_sparse_gguf`
describes (the converter's tensors and the metadata keys llama.cpp's loader reads), with data:
every tensor at the type llama-quantize gives it for a file type
(:func:`advisor.data.quant_rules.tensor_types`), filled with random blocks whose scales are
small finite numbers, so llama.cpp loads the file and runs it like a real one (the same
buffers, the same graph; the answers are noise). :func:`scaled` keeps an architecture's every
dimension but its layer count, so a file of a 30B model's shapes is a few hundred MB.

The tokenizer is copied from another GGUF (a real model or one of llama.cpp's
``models/ggml-vocab-*.gguf`` files), its token list padded with ``[PADn]`` tokens or cut to
the model's vocabulary, or, without one, a SentencePiece-style vocabulary of numbered pieces
(:func:`advisor.measure.synthetic._vocab`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from advisor.data.arch import Architecture
from advisor.data.quant_rules import QuantOptions, canonical_quant, tensor_types
from advisor.data.tensors import TensorSpec, tensor_layout
from advisor.data.weights import ggml_bytes
from advisor.measure.synthetic import MARKER_KEY, _vocab
from advisor.measure.synthetic_arch import metadata
from advisor.vocabulary.errors import InvalidInputError

#: Byte offsets of the f16 scale fields inside one block of each ggml type (ggml-common.h
#: ``block_q4_0`` ...: ``d`` / ``dm`` first in the legacy and Q4_K/Q5_K blocks, last in
#: Q2_K/Q3_K/Q6_K); the other bytes of a block are quants, any value valid.
_F16_SCALES: dict[str, tuple[int, ...]] = {
    "Q4_0": (0,), "Q4_1": (0, 2), "Q5_0": (0,), "Q5_1": (0, 2), "Q8_0": (0,),
    "Q2_K": (80, 82), "Q3_K": (108,), "Q4_K": (0, 2), "Q5_K": (0, 2), "Q6_K": (208,),
    "IQ4_NL": (0,), "IQ4_XS": (0,),
}
#: MXFP4's per-block scale is one E8M0 byte (a power of two); 0xFF is NaN.
_E8M0_SCALE = 120
#: llama.cpp's file type numbers (``llama_ftype``) of the file types written here.
FILE_TYPES = {"F16": 1, "Q8_0": 7, "Q4_K_S": 14, "Q4_K_M": 15, "Q6_K": 18, "MXFP4_MOE": 38}


def scaled(arch: Architecture, n_layers: int) -> Architecture:
    """``arch`` with its first ``n_layers`` layers: every width, head count and vocabulary
    kept, the per-layer layout (attention / recurrent / sliding / MoE layers) cut to the first
    ``n_layers`` entries, multi-token-prediction layers dropped."""
    if not 0 < n_layers <= arch.n_layers:
        raise InvalidInputError(f"n_layers must be in 1-{arch.n_layers} for {arch.name}, got "
                                f"{n_layers}", parameter="n_layers")
    return arch.model_copy(update={
        "n_layers": n_layers,
        "full_attn_idxs": tuple(i for i in arch.full_attn_idxs if i < n_layers),
        "layer_pattern": arch.layer_pattern[:n_layers],
        "n_dense_layers": min(arch.n_dense_layers, n_layers),
        "num_kv_shared_layers": 0, "mtp_layers": 0,
    })


def random_block_data(type_name: str, shape: tuple[int, ...],
                      rng: np.random.Generator) -> np.ndarray:
    """Random bytes of a ``type_name`` tensor of ``shape`` (ggml order) whose scales are small
    and finite: float types hold N(0, 0.02) values, block types random quants."""
    n_bytes = ggml_bytes(type_name, shape)
    count = n_bytes // {"F32": 4, "F16": 2, "BF16": 2}.get(type_name, n_bytes or 1)
    if type_name == "F32":
        return (rng.standard_normal(count, dtype=np.float32) * 0.02).view(np.uint8)
    if type_name in ("F16", "BF16"):
        values = rng.standard_normal(count, dtype=np.float32) * 0.02
        if type_name == "F16":
            return values.astype(np.float16).view(np.uint8)
        return (values.view(np.uint32) >> 16).astype(np.uint16).view(np.uint8)
    from gguf import GGML_QUANT_SIZES, GGMLQuantizationType

    block_bytes = GGML_QUANT_SIZES[GGMLQuantizationType[type_name]][1]
    data = np.frombuffer(bytearray(rng.bytes(n_bytes)), dtype=np.uint8)
    blocks = data.reshape(-1, block_bytes)
    if type_name == "MXFP4":
        blocks[:, 0] = _E8M0_SCALE
    elif type_name in _F16_SCALES:
        scale = np.frombuffer(np.float16(2e-3).tobytes(), dtype=np.uint8)
        for off in _F16_SCALES[type_name]:
            blocks[:, off:off + 2] = scale
    else:
        raise InvalidInputError(f"random data for ggml type {type_name} is not supported; "
                                f"allowed: F32, F16, BF16, MXFP4, {', '.join(_F16_SCALES)}",
                                parameter="quant")
    return data


def _tokenizer(vocab_size: int, source: Path | None) -> dict[str, tuple[str, Any]]:
    """Tokenizer keys: ``source``'s (token arrays padded or cut to ``vocab_size``) or a
    synthetic SentencePiece vocabulary."""
    import gguf

    if source is None:
        tokens, scores, types = _vocab(vocab_size)
        return {"tokenizer.ggml.model": ("add_string", "llama"),
                "tokenizer.ggml.tokens": ("add_array", tokens),
                "tokenizer.ggml.scores": ("add_array", scores),
                "tokenizer.ggml.token_type": ("add_array", types),
                "tokenizer.ggml.bos_token_id": ("add_uint32", 1),
                "tokenizer.ggml.eos_token_id": ("add_uint32", 2),
                "tokenizer.ggml.unknown_token_id": ("add_uint32", 0)}
    reader = gguf.GGUFReader(source)
    out: dict[str, tuple[str, Any]] = {}
    for key, field in reader.fields.items():
        if not key.startswith("tokenizer.") or key == "tokenizer.chat_template":
            continue
        value = field.contents()
        if key in ("tokenizer.ggml.tokens", "tokenizer.ggml.scores",
                   "tokenizer.ggml.token_type"):
            pad = {"tokenizer.ggml.tokens": lambda i: f"[PAD{i}]",
                   "tokenizer.ggml.scores": lambda i: -1e9,
                   "tokenizer.ggml.token_type": lambda i: int(gguf.TokenType.UNUSED)}[key]
            value = list(value[:vocab_size]) + [pad(i) for i in range(len(value), vocab_size)]
            out[key] = ("add_array", value)
        elif isinstance(value, list):
            out[key] = ("add_array", value)
        elif isinstance(value, str):
            out[key] = ("add_string", value)
        elif isinstance(value, bool):
            out[key] = ("add_bool", value)
        elif isinstance(value, int):
            out[key] = ("add_uint32", value if value < vocab_size else 0)
    return out


def write_random_gguf(arch: Architecture, path: Path, quant: str, *,
                      tokenizer: Path | None = None, seed: int = 0,
                      opts: QuantOptions | None = None) -> list[tuple[TensorSpec, str]]:
    """Write ``arch`` as a ``quant`` GGUF with random weights to ``path`` (see the module
    docstring). Returns each tensor with the ggml type it was written at."""
    import gguf

    quant = canonical_quant(quant)
    layout = tensor_layout(arch, mtp=False)
    types = tensor_types(arch, layout, quant, opts or QuantOptions(imatrix=False))
    blocks = max((t.layer for t in layout if t.layer is not None), default=-1) + 1
    w = gguf.GGUFWriter(path, arch.gguf_arch)
    keys = metadata(arch, blocks)
    keys["general.file_type"] = ("add_uint32", FILE_TYPES.get(quant, 0))
    keys["general.name"] = ("add_string", f"{arch.name} ({blocks} layers, random weights)")
    keys[MARKER_KEY] = ("add_bool", True)
    keys |= _tokenizer(arch.vocab_size, tokenizer)
    for key, (method, value) in keys.items():
        getattr(w, method)(key, value)
    for t, type_name in zip(layout, types, strict=True):
        w.add_tensor_info(t.name, tuple(reversed(t.shape)), np.dtype(np.float32),
                          ggml_bytes(type_name, t.shape),
                          raw_dtype=gguf.GGMLQuantizationType[type_name])
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_ti_data_to_file()
    rng = np.random.default_rng(seed)
    for t, type_name in zip(layout, types, strict=True):
        w.write_tensor_data(random_block_data(type_name, t.shape, rng))
    w.close()
    return list(zip(layout, types, strict=True))
