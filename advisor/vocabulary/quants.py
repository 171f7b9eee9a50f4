"""The quant catalog: every llama.cpp type users meet, plus HQQ, with bits per weight and family.

``nominal_bpw`` is the storage cost of the type's blocks (ggml block size and bytes per block).
``typical_bpw`` is what a whole file of that type weighs per parameter, because llama.cpp keeps
some tensors (output, embeddings, attention V in some mixes) at other types. Where a cited
measurement exists it is used (``typical_source``); otherwise the nominal value is repeated and
the source says ``nominal``.

Uploaders also publish files under names that are no llama.cpp type: Unsloth's dynamic mixes
(``UD-Q4_K_XL``: most tensors at the base type, some kept higher), bartowski's ``_L`` files
(embeddings and output at Q8_0), QAT releases (``Q4_0`` trained for it), ik_llama.cpp's
repacked rows (``IQ4_XS_R8``). :func:`parse_quant_name` reads such a name as the llama.cpp type
it is built on (the type llama-bench prints for the file) and a *scheme* tag; a file's size then
comes from the file itself, and its speed from its mix, i.e. mostly the base type's kernels.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from functools import cache

from advisor.vocabulary.errors import InvalidInputError, UnknownNameError


class QuantFamily(StrEnum):
    FLOAT = "float"
    LEGACY = "legacy"
    K_QUANT = "k-quant"
    I_QUANT = "i-quant"
    TERNARY = "ternary"
    MX = "mx"
    HQQ = "hqq"


@dataclass(frozen=True)
class QuantType:
    """One quantization level a GGUF file (or HQQ model) can be stored at."""

    name: str
    family: QuantFamily
    nominal_bpw: float
    typical_bpw: float
    typical_source: str
    description: str
    aliases: tuple[str, ...] = ()

    @property
    def bytes_per_weight(self) -> float:
        return self.typical_bpw / 8.0


# Llama-3.1-8B file sizes from llama.cpp tools/quantize/README.md (see measurements/SOURCES.md).
_L31 = "llamacpp_quantize_readme_llama31_8b"
# Llama-2-7B bits per weight from the older examples/quantize/README.md (Q3_K_M is missing above).
_L2 = "llamacpp_quantize_readme_llama2"
_NOMINAL = "nominal"

_F, _L, _K, _I, _T = (QuantFamily.FLOAT, QuantFamily.LEGACY, QuantFamily.K_QUANT,
                      QuantFamily.I_QUANT, QuantFamily.TERNARY)

# name, family, nominal bpw (block bytes * 8 / block weights), typical bpw, its source, description
_TABLE: tuple[QuantType, ...] = (
    QuantType("F32", _F, 32.0, 32.0, _NOMINAL, "32-bit float", ("FP32",)),
    QuantType("F16", _F, 16.0, 16.0005, _L31, "16-bit float", ("FP16",)),
    QuantType("BF16", _F, 16.0, 16.0, _NOMINAL, "bfloat16"),
    QuantType("Q8_0", _L, 8.5, 8.5008, _L31, "8-bit, blocks of 32 with an f16 scale"),
    QuantType("Q6_K", _K, 6.5625, 6.5633, _L31, "6-bit k-quant, super-blocks of 256"),
    QuantType("Q5_K_M", _K, 5.5, 5.7036, _L31, "5-bit k-quant mix, some tensors Q6_K",
              ("Q5_K",)),
    QuantType("Q5_K_S", _K, 5.5, 5.5704, _L31, "5-bit k-quant, all Q5_K"),
    QuantType("Q5_1", _L, 6.0, 6.0, _NOMINAL, "5-bit, blocks of 32, scale and min"),
    QuantType("Q5_0", _L, 5.5, 5.5, _NOMINAL, "5-bit, blocks of 32, scale"),
    QuantType("Q4_K_M", _K, 4.5, 4.8944, _L31, "4-bit k-quant mix, some tensors Q6_K",
              ("Q4_K",)),
    QuantType("Q4_K_S", _K, 4.5, 4.6672, _L31, "4-bit k-quant, mostly Q4_K"),
    QuantType("Q4_1", _L, 5.0, 5.0, _NOMINAL, "4-bit, blocks of 32, scale and min"),
    QuantType("Q4_0", _L, 4.5, 4.5, _NOMINAL, "4-bit, blocks of 32, scale"),
    QuantType("IQ4_XS", _I, 4.25, 4.4597, _L31, "4.25 bpw non-linear i-quant"),
    QuantType("IQ4_NL", _I, 4.5, 4.6818, _L31, "4.5 bpw non-linear i-quant, blocks of 32"),
    QuantType("Q3_K_L", _K, 3.4375, 4.2979, _L31, "3-bit k-quant mix, more tensors Q5_K"),
    QuantType("Q3_K_M", _K, 3.4375, 3.91, _L2, "3-bit k-quant mix, some tensors Q4_K/Q5_K",
              ("Q3_K",)),
    QuantType("Q3_K_S", _K, 3.4375, 3.6429, _L31, "3-bit k-quant, mostly Q3_K"),
    QuantType("IQ3_M", _I, 3.66, 3.7628, _L31, "3.66 bpw i-quant mix"),
    QuantType("IQ3_S", _I, 3.44, 3.6606, _L31, "3.44 bpw i-quant"),
    QuantType("IQ3_XS", _I, 3.3, 3.4977, _L31, "3.3 bpw i-quant mix"),
    QuantType("IQ3_XXS", _I, 3.06, 3.2548, _L31, "3.06 bpw i-quant"),
    QuantType("Q2_K", _K, 2.625, 3.1593, _L31, "2-bit k-quant mix, some tensors Q3_K/Q4_K"),
    QuantType("Q2_K_S", _K, 2.625, 2.9697, _L31, "2-bit k-quant, smaller mix"),
    QuantType("IQ2_M", _I, 2.7, 2.9294, _L31, "2.7 bpw i-quant mix"),
    QuantType("IQ2_S", _I, 2.5, 2.7403, _L31, "2.5 bpw i-quant"),
    QuantType("IQ2_XS", _I, 2.31, 2.5882, _L31, "2.31 bpw i-quant"),
    QuantType("IQ2_XXS", _I, 2.06, 2.3824, _L31, "2.06 bpw i-quant"),
    QuantType("IQ1_M", _I, 1.75, 2.146, _L31, "1.75 bpw i-quant"),
    QuantType("IQ1_S", _I, 1.5625, 2.0042, _L31, "1.56 bpw i-quant"),
    QuantType("TQ1_0", _T, 1.6875, 1.6875, _NOMINAL, "1.69 bpw ternary (for ternary models)"),
    QuantType("TQ2_0", _T, 2.0625, 2.0625, _NOMINAL, "2.06 bpw ternary (for ternary models)"),
    QuantType("MXFP4", QuantFamily.MX, 4.25, 4.25, _NOMINAL,
              "4-bit microscaling float, blocks of 32 with an E8M0 scale (gpt-oss; llama.cpp's "
              "MXFP4_MOE file type keeps the MoE experts in it)",
              ("MXFP4_MOE",)),
)

#: Quant levels the recommender proposes by default (the ladder users actually download).
RECOMMENDABLE: tuple[str, ...] = (
    "BF16", "Q8_0", "Q6_K", "Q5_K_M", "Q5_K_S", "Q4_K_M", "Q4_K_S", "Q4_0", "IQ4_XS",
    "Q3_K_L", "Q3_K_M", "Q3_K_S", "IQ3_M", "IQ3_XXS", "Q2_K", "IQ2_M", "IQ2_XS", "IQ2_XXS",
    "IQ1_M",
)

_HQQ_RE = re.compile(r"^HQQ[\s_:-]*([1-8])(?:[\s_-]*BITS?)?(?:[\s_:-]*G(?:ROUP)?[\s_-]*(\d+))?$",
                     re.IGNORECASE)
_HQQ_DEFAULT_GROUP = 64
_HQQ_SCALE_ZERO_BITS = 32  # one f16 scale and one f16 zero point per group


def hqq_type(bits: int, group_size: int = _HQQ_DEFAULT_GROUP) -> QuantType:
    """HQQ at ``bits`` per weight with ``group_size`` weights sharing an f16 scale and zero.

    >>> hqq_type(4, 64).nominal_bpw
    4.5
    """
    if not 1 <= bits <= 8:
        raise InvalidInputError(f"HQQ bits must be 1-8, got {bits}", parameter="quant")
    if group_size not in (8, 16, 32, 64, 128, 256, 512, 1024):
        raise InvalidInputError(
            f"HQQ group size must be a power of two from 8 to 1024, got {group_size}",
            parameter="quant")
    bpw = bits + _HQQ_SCALE_ZERO_BITS / group_size
    return QuantType(f"HQQ{bits}_G{group_size}", QuantFamily.HQQ, bpw, bpw, _NOMINAL,
                     f"HQQ {bits}-bit, group {group_size}, f16 scale and zero per group")


@cache
def _index() -> dict[str, QuantType]:
    index: dict[str, QuantType] = {}
    for q in _TABLE:
        for key in (q.name, *q.aliases):
            index[key.upper()] = q
    return index


def all_quants() -> tuple[QuantType, ...]:
    """Every llama.cpp type in the catalog, from most to fewest bits."""
    return _TABLE


def known_names() -> list[str]:
    return [q.name for q in _TABLE] + ["HQQ<bits>_G<group>"]


def find_quant(name: str) -> QuantType | None:
    """The catalog entry for ``name`` (case-insensitive, aliases and HQQ included), or None."""
    key = name.strip().upper().replace("-", "_").replace(" ", "_")
    if key in _index():
        return _index()[key]
    match = _HQQ_RE.match(name.strip())
    if match:
        bits = int(match.group(1))
        group = int(match.group(2)) if match.group(2) else _HQQ_DEFAULT_GROUP
        return hqq_type(bits, group)
    return None


#: Schemes: uploaders' recipes over a llama.cpp base type (see :func:`parse_quant_name`).
UNSLOTH_DYNAMIC = "unsloth-dynamic"
Q8_EMBED_OUTPUT = "q8-embed-output"
QAT = "qat"
IK_REPACKED = "ik-repacked"
SCHEMES: dict[str, str] = {
    UNSLOTH_DYNAMIC: "Unsloth Dynamic: per-tensor types chosen by sensitivity, most at the base "
                     "type, some higher (UD-... and ..._K_XL files)",
    Q8_EMBED_OUTPUT: "embeddings and output tensor at Q8_0, the rest at the base type "
                     "(bartowski's ..._K_L files)",
    QAT: "weights trained for the type (quantization-aware training), e.g. Gemma 3 QAT Q4_0",
    IK_REPACKED: "ik_llama.cpp's row-interleaved repacking of the base type (..._R4, ..._R8); "
                 "same bits, runs only on that fork",
}
# ``..._K_XL`` dynamic mixes: the type llama-bench prints for them (their file type).
_XL_BASE = {"Q2": "Q2_K", "Q3": "Q3_K_M", "Q4": "Q4_K_M", "Q5": "Q5_K_M", "Q6": "Q6_K",
            "Q8": "Q8_0"}
# bartowski's ``..._K_L``: the base k-quant with Q8_0 embeddings and output (Q3_K_L is a real
# llama.cpp type and is matched before this).
_L_BASE = {"Q2": "Q2_K", "Q4": "Q4_K_M", "Q5": "Q5_K_M", "Q6": "Q6_K"}
_QAT_RE = re.compile(r"^(?:QAT[_\s-]+(?P<a>.+)|(?P<b>.+?)[_\s-]+QAT|(?P<c>.+?)\s*\(QAT\))$",
                     re.IGNORECASE)


@dataclass(frozen=True)
class QuantName:
    """A quant name as uploaders write it: its llama.cpp base type and the recipe on top."""

    label: str
    quant: QuantType
    scheme: str | None = None

    @property
    def name(self) -> str:
        """``BASE`` or ``BASE (scheme)``."""
        return self.quant.name if self.scheme is None else f"{self.quant.name} ({self.scheme})"


def _key(name: str) -> str:
    return name.strip().upper().replace("-", "_").replace(" ", "_")


def parse_quant_name(name: str) -> QuantName | None:
    """The base type and scheme of a quant name, or None when it names neither.

    >>> q = parse_quant_name("UD-Q4_K_XL"); q.quant.name, q.scheme
    ('Q4_K_M', 'unsloth-dynamic')
    >>> q = parse_quant_name("q4_0 qat"); q.quant.name, q.scheme
    ('Q4_0', 'qat')
    >>> parse_quant_name("Q6_K_L").name, parse_quant_name("mxfp4_moe").name
    ('Q6_K (q8-embed-output)', 'MXFP4')
    """
    text = name.strip()
    plain = find_quant(text)
    if plain is not None:
        return QuantName(text, plain)
    key = _key(text)
    if key.startswith("UD_"):
        inner = parse_quant_name(text[3:])
        return QuantName(text, inner.quant, UNSLOTH_DYNAMIC) if inner is not None else None
    xl = re.match(r"^(Q\d)_K_XL$", key)
    if xl and xl.group(1) in _XL_BASE:
        return QuantName(text, get_quant(_XL_BASE[xl.group(1)]), UNSLOTH_DYNAMIC)
    large = re.match(r"^(Q\d)_K_L$", key)
    if large and large.group(1) in _L_BASE:
        return QuantName(text, get_quant(_L_BASE[large.group(1)]), Q8_EMBED_OUTPUT)
    qat = _QAT_RE.match(text)
    if qat:
        inner = parse_quant_name(qat.group("a") or qat.group("b") or qat.group("c"))
        return QuantName(text, inner.quant, QAT) if inner is not None else None
    repacked = re.match(r"^(.+)_R(?:4|8|16)$", key)
    if repacked:
        base = find_quant(repacked.group(1))
        return QuantName(text, base, IK_REPACKED) if base is not None else None
    return None


def get_quant_name(name: str, *, parameter: str = "quant") -> QuantName:
    """Like :func:`parse_quant_name` but an unknown name raises with suggestions (the known
    types and the scheme forms).

    >>> get_quant_name("UD-IQ2_XXS").name
    'IQ2_XXS (unsloth-dynamic)'
    """
    found = parse_quant_name(name)
    if found is None:
        known = [*known_names(), *(f"{q}_K_XL" for q in _XL_BASE),
                 *(f"{q}_K_L" for q in _L_BASE), "UD-<type>", "<type> QAT", "<type>_R8"]
        raise UnknownNameError("quant", name, known, parameter=parameter)
    return found


def get_quant(name: str, *, parameter: str = "quant") -> QuantType:
    """Like :func:`find_quant` but an unknown name raises with suggestions.

    >>> get_quant("q4_k_m").name
    'Q4_K_M'
    """
    found = find_quant(name)
    if found is None:
        raise UnknownNameError("quant", name, known_names(), parameter=parameter)
    return found
