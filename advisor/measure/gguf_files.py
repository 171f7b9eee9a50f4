"""GGUF files: validation, read-back of tensor types and bits per weight, the F16 reference.

Everything here uses the ``gguf`` package (pure Python, numpy); nothing loads llama.cpp.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from advisor.vocabulary.errors import DataFileError, InvalidInputError

log = logging.getLogger(__name__)

GGUF_MAGIC = b"GGUF"
FLOAT_TYPES = ("F32", "F16", "BF16")

# Tensor types llama.cpp deliberately mixes into each file type (output, attn_v, ffn_down get
# more bits). A >=2-D tensor of any other type is a fallback: its rows did not fit the block.
_MIX: dict[str, frozenset[str]] = {
    "Q8_0": frozenset({"Q8_0"}),
    "Q6_K": frozenset({"Q6_K"}),
    "Q5_K_M": frozenset({"Q5_K", "Q6_K"}),
    "Q5_K_S": frozenset({"Q5_K", "Q6_K"}),
    "Q4_K_M": frozenset({"Q4_K", "Q6_K"}),
    "Q4_K_S": frozenset({"Q4_K", "Q5_K", "Q6_K"}),
    "Q3_K_L": frozenset({"Q3_K", "Q5_K", "Q6_K"}),
    "Q3_K_M": frozenset({"Q3_K", "Q4_K", "Q5_K", "Q6_K"}),
    "Q3_K_S": frozenset({"Q3_K", "Q6_K"}),
    "Q2_K": frozenset({"Q2_K", "Q3_K", "Q4_K", "Q6_K"}),
    "IQ4_XS": frozenset({"IQ4_XS", "Q6_K"}),
    "IQ4_NL": frozenset({"IQ4_NL", "Q6_K"}),
    "IQ3_M": frozenset({"IQ3_S", "IQ4_XS", "Q4_K", "Q6_K"}),
    "IQ3_S": frozenset({"IQ3_S", "Q4_K", "Q6_K"}),
    "IQ3_XS": frozenset({"IQ3_XXS", "IQ3_S", "Q4_K", "Q6_K"}),
    "IQ3_XXS": frozenset({"IQ3_XXS", "IQ3_S", "Q4_K", "Q6_K"}),
}


@dataclass
class GGUFInfo:
    """What a GGUF file holds. ``bpw`` = bits of all tensors / parameters (weights only)."""

    path: Path
    file_bytes: int
    architecture: str
    name: str
    n_params: int
    weight_bytes: int
    context_length: int | None
    type_counts: dict[str, int]
    tensor_types: dict[str, str] = field(repr=False)
    tensor_dims: dict[str, int] = field(repr=False)

    @property
    def bpw(self) -> float:
        return self.weight_bytes * 8 / self.n_params

    @property
    def is_float(self) -> bool:
        """Every >=2-D tensor is F32/F16/BF16 (a valid quantization reference)."""
        return all(t in FLOAT_TYPES for n, t in self.tensor_types.items()
                   if self.tensor_dims[n] >= 2)

    def fallbacks(self, quant: str) -> dict[str, int]:
        """Types of >=2-D tensors outside ``quant``'s intended mix, with counts.

        Always empty for float targets and for quant names without a known mix except that a
        tensor left in float is reported (``F32``/``F16`` weight matrices are never intended).
        """
        intended = _MIX.get(quant, frozenset({quant}))
        out: Counter[str] = Counter()
        for name, ttype in self.tensor_types.items():
            if self.tensor_dims[name] >= 2 and ttype not in intended:
                out[ttype] += 1
        return dict(out)

    def fallback_note(self, quant: str) -> str:
        fb = self.fallbacks(quant)
        n_matrix = sum(1 for d in self.tensor_dims.values() if d >= 2)
        if not fb:
            return f"all {n_matrix} weight matrices in the {quant} mix"
        parts = ", ".join(f"{n}x{t}" for t, n in sorted(fb.items(), key=lambda kv: -kv[1]))
        return f"{sum(fb.values())}/{n_matrix} weight matrices fell back: {parts}"


def _field(reader: Any, key: str) -> Any:
    f = reader.fields.get(key)
    return None if f is None else f.contents()


def read_gguf(path: Path | str) -> GGUFInfo:
    """Validate ``path`` as a complete GGUF file and describe it.

    Raises :class:`~advisor.vocabulary.errors.InvalidInputError` for a missing path and
    :class:`~advisor.vocabulary.errors.DataFileError` for a file that is not GGUF or is truncated.
    """
    from gguf import GGUFReader

    path = Path(path)
    if not path.is_file():
        raise InvalidInputError(f"model file does not exist: {path}", parameter="model")
    size = path.stat().st_size
    with path.open("rb") as fh:
        magic = fh.read(4)
    if magic != GGUF_MAGIC:
        raise DataFileError(path, None, f"not a GGUF file: first bytes {magic!r}, "
                            f"expected {GGUF_MAGIC!r}")
    try:
        reader = GGUFReader(path)
    except Exception as e:  # the reader raises ValueError/IndexError/struct errors on bad bytes
        raise DataFileError(path, None, f"GGUF header could not be read (truncated or "
                            f"corrupt): {type(e).__name__}: {e}") from e
    end = max((int(t.data_offset) + int(t.n_bytes) for t in reader.tensors), default=0)
    if end > size or not reader.tensors:
        raise DataFileError(path, None, f"GGUF is truncated: tensor data ends at byte {end}, "
                            f"file has {size} bytes")
    arch = _field(reader, "general.architecture") or "unknown"
    ctx = _field(reader, f"{arch}.context_length")
    name = _field(reader, "general.name") or path.stem
    return GGUFInfo(
        path=path, file_bytes=size, architecture=str(arch), name=str(name),
        n_params=sum(int(t.n_elements) for t in reader.tensors),
        weight_bytes=sum(int(t.n_bytes) for t in reader.tensors),
        context_length=int(ctx) if ctx is not None else None,
        type_counts=dict(Counter(t.tensor_type.name for t in reader.tensors)),
        tensor_types={t.name: t.tensor_type.name for t in reader.tensors},
        tensor_dims={t.name: int(sum(1 for d in t.shape if int(d) > 1)) for t in reader.tensors},
    )


def write_f16_reference(src: Path, dst: Path) -> GGUFInfo:
    """Dequantize every tensor of ``src`` into an F16 GGUF at ``dst`` (1-D tensors stay F32).

    All metadata (architecture, hyper-parameters, tokenizer, chat template) is copied; only
    ``general.file_type`` is set to F16. The write goes to a temporary name then is renamed.
    """
    from gguf import GGMLQuantizationType, GGUFReader, GGUFValueType, GGUFWriter
    from gguf.quants import dequantize

    reader = GGUFReader(src)
    arch = str(_field(reader, "general.architecture"))
    tmp = dst.with_name(dst.name + ".partial")
    dst.parent.mkdir(parents=True, exist_ok=True)
    writer = GGUFWriter(tmp, arch)
    for key, fld in reader.fields.items():
        if key.startswith("GGUF.") or key in ("general.architecture", "general.file_type"):
            continue
        vtype = fld.types[0]
        sub = fld.types[-1] if vtype == GGUFValueType.ARRAY else None
        writer.add_key_value(key, fld.contents(), vtype, sub_type=sub)
    writer.add_file_type(1)  # LLAMA_FTYPE_MOSTLY_F16
    for t in reader.tensors:
        data = dequantize(t.data, t.tensor_type)
        shape = tuple(int(d) for d in reversed(t.shape.tolist()))
        data = np.asarray(data, dtype=np.float32).reshape(shape)
        ndims = sum(1 for d in shape if d > 1)
        if ndims >= 2:
            writer.add_tensor(t.name, data.astype(np.float16), raw_dtype=GGMLQuantizationType.F16)
        else:
            writer.add_tensor(t.name, data, raw_dtype=GGMLQuantizationType.F32)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    tmp.replace(dst)
    log.info("wrote F16 reference %s from %s", dst, src)
    return read_gguf(dst)
