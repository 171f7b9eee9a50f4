"""Normalising published model names and quant labels.

Sources spell the same model many ways (``Meta-Llama-3-8B``, ``Mistral-7B (as named in source)``,
``gemma-2-9b``) and tag quant types with makers and recipes (``Q4_K_M [imatrix WT 10m]``,
``UD-Q2_K_XL``, ``RTN W4A16 g128``). :func:`normalise_model` and :func:`parse_quant_label` turn
them into one canonical form; importers of every kind of data share them.

Canonical model names follow the project's model catalog (``catalog/architectures.csv``) where the
model is there, e.g. ``gemma-2-9b``, ``Llama-3.1-8B``. An instruct/chat variant keeps its suffix
(``Qwen2.5-7B-Instruct``) because it is a different checkpoint; ``base`` names the catalog entry.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache

from advisor.data.moe_active import MOE_ACTIVE_PARAMS
from advisor.data.quant_tags import (
    SIZE_RE,
    UPLOADER,
    parse_cache_tag,
    recipe,
    split_modifiers,
    tag_meaning,
)
from advisor.vocabulary.errors import InvalidInputError
from advisor.vocabulary.quants import find_quant

# The model catalog (catalog/architectures.csv): name, family, total and active params (billions).
_CATALOG: tuple[tuple[str, str, float, float], ...] = (
    ("Llama-3.1-8B", "Llama 3.1", 8.0, 8.0),
    ("Llama-3.1-70B", "Llama 3.1", 70.6, 70.6),
    ("Llama-3.2-1B", "Llama 3.2", 1.23, 1.23),
    ("Llama-3.2-3B", "Llama 3.2", 3.21, 3.21),
    ("Llama-3.3-70B", "Llama 3.3", 70.6, 70.6),
    ("Qwen2.5-0.5B", "Qwen2.5", 0.49, 0.49),
    ("Qwen2.5-1.5B", "Qwen2.5", 1.54, 1.54),
    ("Qwen2.5-3B", "Qwen2.5", 3.09, 3.09),
    ("Qwen2.5-7B", "Qwen2.5", 7.61, 7.61),
    ("Qwen2.5-14B", "Qwen2.5", 14.7, 14.7),
    ("Qwen2.5-32B", "Qwen2.5", 32.5, 32.5),
    ("Qwen2.5-72B", "Qwen2.5", 72.7, 72.7),
    ("Qwen2.5-Coder-7B", "Qwen2.5-Coder", 7.61, 7.61),
    ("Qwen2.5-Coder-14B", "Qwen2.5-Coder", 14.7, 14.7),
    ("Qwen2.5-Coder-32B", "Qwen2.5-Coder", 32.5, 32.5),
    ("Qwen3-0.6B", "Qwen3", 0.6, 0.6),
    ("Qwen3-1.7B", "Qwen3", 1.7, 1.7),
    ("Qwen3-4B", "Qwen3", 4.0, 4.0),
    ("Qwen3-8B", "Qwen3", 8.0, 8.0),
    ("Qwen3-14B", "Qwen3", 14.0, 14.0),
    ("Qwen3-32B", "Qwen3", 32.0, 32.0),
    ("Qwen3-30B-A3B", "Qwen3-MoE", 30.0, 3.0),
    ("gemma-2-2b", "Gemma 2", 2.61, 2.61),
    ("gemma-2-9b", "Gemma 2", 9.24, 9.24),
    ("gemma-2-27b", "Gemma 2", 27.23, 27.23),
    ("gemma-3-270m", "Gemma 3", 0.27, 0.27),
    ("gemma-3-1b", "Gemma 3", 1.0, 1.0),
    ("gemma-3-4b", "Gemma 3", 3.88, 3.88),
    ("gemma-3-12b", "Gemma 3", 11.77, 11.77),
    ("gemma-3-27b", "Gemma 3", 27.02, 27.02),
    ("Mistral-7B-v0.3", "Mistral", 7.2, 7.2),
    ("Mistral-Nemo-12B", "Mistral", 12.2, 12.2),
    ("Mistral-Small-24B", "Mistral", 23.6, 23.6),
    ("Phi-3-mini-4k-instruct", "Phi-3", 3.8, 3.8),
    ("Phi-3.5-mini-instruct", "Phi-3.5", 3.8, 3.8),
    ("phi-4", "Phi-4", 14.7, 14.7),
    ("Phi-4-mini-instruct", "Phi-4", 3.8, 3.8),
    ("DeepSeek-R1-Distill-Qwen-1.5B", "DeepSeek-R1-Distill", 1.8, 1.8),
    ("DeepSeek-R1-Distill-Qwen-7B", "DeepSeek-R1-Distill", 7.6, 7.6),
    ("DeepSeek-R1-Distill-Qwen-14B", "DeepSeek-R1-Distill", 14.8, 14.8),
    ("DeepSeek-R1-Distill-Qwen-32B", "DeepSeek-R1-Distill", 32.8, 32.8),
    ("DeepSeek-R1-Distill-Llama-8B", "DeepSeek-R1-Distill", 8.0, 8.0),
    ("DeepSeek-R1-Distill-Llama-70B", "DeepSeek-R1-Distill", 70.6, 70.6),
    ("SmolLM2-135M", "SmolLM2", 0.135, 0.135),
    ("SmolLM2-360M", "SmolLM2", 0.36, 0.36),
    ("SmolLM2-1.7B", "SmolLM2", 1.7, 1.7),
)

# Published spellings of a base name that differ from the catalog's by more than case.
_BASE_ALIASES = {
    "mistral-nemo": "Mistral-Nemo-12B",
    "mistral-nemo-12b": "Mistral-Nemo-12B",
    "llama-1-7b": "Llama-1-7B",
    "llama-1-13b": "Llama-1-13B",
    "llama-1-30b": "Llama-1-30B",
    "llama-1-65b": "Llama-1-65B",
    "deepseek-coder-1.3b": "DeepSeek-Coder-1.3B",
    "deepseek-coder-6.7b": "DeepSeek-Coder-6.7B",
    "codegemma-2b": "CodeGemma-2B",
    "codegemma-7b": "CodeGemma-7B",
    "starcoder2-3b": "StarCoder2-3B",
    "chinese-llama-2-7b": "Chinese-LLaMA-2-7B",
}

# (regex on the lower-cased base name, family); first match wins.
_FAMILIES: tuple[tuple[str, str], ...] = (
    (r"^deepseek-r1-distill", "DeepSeek-R1-Distill"),
    (r"^deepseek-(v3|r1)\b", "DeepSeek-V3"),
    (r"^deepseek-v2", "DeepSeek-V2"),
    (r"^deepseek-coder", "DeepSeek-Coder"),
    (r"^codellama", "Code Llama"),
    (r"^codeqwen1\.5", "CodeQwen1.5"),
    (r"^codegemma", "CodeGemma"),
    (r"starcoder2", "StarCoder2"),
    (r"^llama-1-", "Llama 1"),
    (r"llama-2-", "Llama 2"),
    (r"^llama-3\.1-", "Llama 3.1"),
    (r"^llama-3\.2-", "Llama 3.2"),
    (r"^llama-3\.3-", "Llama 3.3"),
    (r"llama-3-", "Llama 3"),
    (r"^chinese-mixtral|^mixtral", "Mixtral"),
    (r"^mistral", "Mistral"),
    (r"^qwen3\.5-", "Qwen3.5"),
    (r"^qwen3\.6-", "Qwen3.6"),
    (r"^qwen3\.8-", "Qwen3.8"),
    (r"^qwen3-.*-a\d", "Qwen3-MoE"),
    (r"^qwen3-", "Qwen3"),
    (r"^qwen2\.5-coder", "Qwen2.5-Coder"),
    (r"^qwen2\.5-", "Qwen2.5"),
    (r"^qwen2-", "Qwen2"),
    (r"^qwen1\.5-", "Qwen1.5"),
    (r"^qwen-", "Qwen"),
    (r"^gemma-2-", "Gemma 2"),
    (r"^gemma-3-", "Gemma 3"),
    (r"^falcon3-", "Falcon3"),
    (r"^phi-4", "Phi-4"),
    (r"^gemma-4-", "Gemma 4"),
    (r"^glm-", "GLM"),
    (r"^kimi-", "Kimi"),
    (r"^gpt-oss-", "gpt-oss"),
    (r"^tinyllama-", "TinyLlama"),
)

# Families whose models are mixtures of experts (active parameters matter).
_MOE_FAMILIES = frozenset({"Mixtral", "DeepSeek-V3", "DeepSeek-V2", "Qwen3-MoE"})

# Active parameters (billions) of mixture-of-experts models outside the catalog whose names do
# not state them ("-A3B"), from their model cards; without them their speed rows are unusable.

_INSTRUCT_RE = re.compile(r"-(instruct|it|chat)((?:-[\w.]+)*)$", re.IGNORECASE)
_PAREN_RE = re.compile(r"\s*\(([^)]*)\)\s*")
_ACTIVE_RE = re.compile(r"-A(\d+(?:\.\d+)?)B\b", re.IGNORECASE)


@dataclass(frozen=True)
class ModelName:
    """A published model name in canonical form.

    ``base`` is the name without instruct/chat suffix (the catalog key when ``in_catalog``);
    ``remark`` is what the source put in parentheses (it belongs in notes, not in the name).
    """

    canonical: str
    family: str | None
    as_published: str
    base: str = ""
    instruct: bool | None = None
    remark: str = ""
    in_catalog: bool = False
    catalog_params_b: float | None = None
    moe: bool = False
    active_params_b: float | None = None


@cache
def _catalog_index() -> dict[str, tuple[str, str, float, float]]:
    return {name.lower(): (name, family, p, a) for name, family, p, a in _CATALOG}


def catalog_names() -> list[str]:
    """Names of the models in the catalog (the preferred spellings)."""
    return [entry[0] for entry in _CATALOG]


def _family_of(base: str) -> str | None:
    low = base.lower()
    for pattern, family in _FAMILIES:
        if re.search(pattern, low):
            return family
    return None


def normalise_model(name: str, params_b: float | None = None) -> ModelName:
    """The canonical form of a published model name.

    ``params_b`` (billions, from the source) is used only to tell MoE active parameters apart
    from total ones; it never changes the name.

    >>> m = normalise_model("Meta-Llama-3-70B (variant not stated)")
    >>> m.canonical, m.family, m.remark
    ('Llama-3-70B', 'Llama 3', 'variant not stated')
    >>> normalise_model("Qwen2.5-7B-Instruct").base
    'Qwen2.5-7B'
    """
    if not isinstance(name, str) or not name.strip():
        raise InvalidInputError(f"model name must be a non-empty string, got {name!r}",
                                parameter="model")
    if params_b is not None and not params_b > 0:
        raise InvalidInputError(f"params_b must be > 0 (billions), got {params_b!r}",
                                parameter="params_b")
    published = name.strip()
    remarks = [m.strip() for m in _PAREN_RE.findall(published)]
    stripped = _PAREN_RE.sub(" ", published).strip()
    remark = "; ".join(r for r in remarks if r)
    if not stripped:  # the whole name was a remark, e.g. "(any; type nominal)"
        return ModelName("any", None, published, base="any", remark=remark)
    stripped = re.sub(r"\s+", "-", stripped)
    stripped = re.sub(r"^Meta-(?=Llama)", "", stripped, flags=re.IGNORECASE)
    stripped = re.sub(r"^LLaMA-", "Llama-", stripped)

    instruct: bool | None = None
    suffix = ""
    match = _INSTRUCT_RE.search(stripped)
    if match:
        instruct = True
        suffix = match.group(0)
        base = stripped[: match.start()]
    else:
        base = stripped
        if any(r.lower() == "base" for r in remarks):
            instruct = False

    key = base.lower()
    entry = _catalog_index().get(_BASE_ALIASES.get(key, key).lower())
    family: str | None
    cat_params: float | None
    cat_active: float | None
    if entry is not None:
        base, family, cat_params, cat_active = entry
    else:
        base = _BASE_ALIASES.get(key, base)
        family, cat_params, cat_active = _family_of(base), None, None

    if instruct:
        kind = match.group(1).lower() if match else "instruct"
        rest = match.group(2) if match else ""
        if kind == "chat":
            tag = "-Chat"
        elif kind == "it" or base.startswith("gemma"):
            tag = "-it"
        else:
            tag = "-Instruct"
        suffix = tag + rest
    canonical = base + suffix

    active: float | None = None
    moe = family in _MOE_FAMILIES
    if cat_active is not None and cat_params is not None and cat_active < cat_params:
        moe, active = True, cat_active
    stated = _ACTIVE_RE.search(base)
    if stated:
        moe, active = True, float(stated.group(1))
    elif base.lower() in MOE_ACTIVE_PARAMS:
        moe, active = True, MOE_ACTIVE_PARAMS[base.lower()]
    if active is not None and params_b is not None and active >= params_b:
        active = None  # the name's "A..B" is not an active-parameter count for this model
    return ModelName(canonical=canonical, family=family, as_published=published, base=base,
                     instruct=instruct, remark=remark, in_catalog=entry is not None,
                     catalog_params_b=cat_params, moe=moe, active_params_b=active)


# ---------------------------------------------------------------------------------------------
# Quant labels

_NOT_GGUF_METHODS = ("RTN", "GPTQ", "AWQ", "QUIP", "SMOOTHQUANT", "PB-LLM", "BILLM", "DB-LLM",
                     "NORMALFLOAT", "NF4", "QLORA", "IR-QLORA", "EXL2", "MLX", "TRANSFORMERS",
                     "MXFP8")
_FLOAT_REFERENCES = {"FP16": "F16", "F16": "F16", "BF16": "BF16", "FP32": "F32", "F32": "F32",
                     "BF16/FP16": "BF16", "FP8": None, "ORIGINAL WEIGHTS": "BF16"}
# Non-catalog GGUF mixes: (regex on the upper-cased core, nearest catalog type).
_MIXES: tuple[tuple[str, str], ...] = (
    (r"^(?:UD-)?Q2_K_XL$", "Q2_K"),
    (r"^(?:UD-)?Q([3-5])_K_XL$", "Q{0}_K_M"),
    (r"^(?:UD-)?Q6_K_(?:X)?L$", "Q6_K"),
    (r"^(?:UD-)?Q8_K_XL$", "Q8_0"),
    (r"^Q2_K_L$", "Q2_K"),
    (r"^Q([45])_K_L$", "Q{0}_K_M"),
    (r"^Q3_K_XS$", "Q3_K_S"),
    (r"^DQ3_K_M$", "Q3_K_M"),
    (r"^MXFP4_MOE$", "MXFP4"),
    (r"^UD-(.+)$", "{0}"),
)
_SIZE_RE = SIZE_RE
_UNIT_BYTES = {"TIB": 2**40, "TB": 10**12, "GIB": 2**30, "GB": 10**9, "MIB": 2**20, "MB": 10**6,
               "G": 2**30}


@dataclass(frozen=True)
class QuantLabel:
    """A published quant label, split into type, maker/recipe and flags.

    ``quant`` is the canonical llama.cpp type when the label names one; ``base_type`` is the
    nearest catalog type for GGUF mixes outside the catalog (``Q2_K_XL`` -> ``Q2_K``) or the
    float type of a reference row; ``file_bytes`` is a size printed inside the label;
    ``cache_type`` the KV cache the row ran with when the label says (``[kv q8_0]``, see
    :mod:`advisor.data.quant_tags`), else None.
    """

    as_published: str
    quant: str | None
    base_type: str | None = None
    variant: str | None = None
    imatrix: bool | None = None
    not_gguf: bool = False
    flags: list[str] = field(default_factory=list)
    file_bytes: int | None = None
    cache_type: str | None = None


def size_to_bytes(number: str, unit: str) -> int:
    """Bytes of a printed size; a bare ``G`` is GiB (llama.cpp prints sizes in GiB).

    >>> size_to_bytes("1.5", "GiB"), size_to_bytes("2", "GB")
    (1610612736, 2000000000)
    """
    factor = _UNIT_BYTES.get(unit.upper())
    if factor is None:
        raise InvalidInputError(f"size unit must be one of {sorted(_UNIT_BYTES)}, got {unit!r}",
                                parameter="unit")
    return int(round(float(number) * factor))


def parse_quant_label(label: str) -> QuantLabel:
    """Split a published quant label into canonical type, maker/recipe, imatrix and flags.

    >>> q = parse_quant_label("Q4_K_M [imatrix WT 10m]")
    >>> q.quant, q.variant, q.imatrix
    ('Q4_K_M', 'imatrix', True)
    >>> q = parse_quant_label("UD-Q2_K_XL")
    >>> q.quant, q.base_type, q.variant
    (None, 'Q2_K', 'unsloth-dynamic')
    >>> parse_quant_label("RTN W4A16 g128").not_gguf
    True
    """
    if not isinstance(label, str) or not label.strip():
        raise InvalidInputError(f"quant label must be a non-empty string, got {label!r}",
                                parameter="quant")
    text = label.strip()
    tags = re.findall(r"\[([^\]]*)\]|\(([^)]*)\)", text)
    tag_texts = [a or b for a, b in tags]
    core = re.sub(r"\[[^\]]*\]|\([^)]*\)", " ", text)
    core, flags = split_modifiers(re.sub(r"\s+", " ", core).strip())
    core = re.sub(r"^UD_", "UD-", core.rstrip("*").strip(), flags=re.IGNORECASE)

    variant: str | None = None
    imatrix: bool | None = None
    not_gguf = False
    cache_type: str | None = None
    for tag in tag_texts:
        cache = parse_cache_tag(tag)
        if cache is not None:
            cache_type = cache[0]
            flags.extend(cache[1])
            continue
        t_variant, t_imatrix, t_flags, t_not_gguf = tag_meaning(tag)
        variant = variant or t_variant
        imatrix = t_imatrix if t_imatrix is not None else imatrix
        flags.extend(t_flags)
        not_gguf = not_gguf or t_not_gguf
    uploaders = [f[len(UPLOADER):] for f in flags if f.startswith(UPLOADER)]
    flags = [f for f in flags if not f.startswith(UPLOADER)]
    variant = variant or (uploaders[0] if uploaders else None)
    sizes = {size_to_bytes(n, u) for tag in tag_texts for n, u in _SIZE_RE.findall(tag)}
    file_bytes = sizes.pop() if len(sizes) == 1 else None

    upper = core.upper()
    quant: str | None = None
    base_type: str | None = None
    if upper in _FLOAT_REFERENCES:
        base_type = _FLOAT_REFERENCES[upper]
        found = find_quant(upper) if "/" not in upper else None
        quant = found.name if found is not None else None
        if upper == "FP8":
            not_gguf = True
            flags.append("fp8")
        if "/" in upper:
            flags.append("float_type_not_stated:BF16/FP16")
    elif (found := find_quant(core)) is not None:
        quant = found.name
        if "pure" in flags:  # every tensor at one type: not llama-quantize's mix of that name
            quant, base_type = None, found.name
            flags.append(f"pure_type:{upper}")
    elif any(word in _NOT_GGUF_METHODS for word in upper.split(" ")):
        not_gguf = True
        method, *settings = core.split(" ")
        variant = variant or method.lower()
        flags.extend(s for s in settings if s)
    elif re.match(r"^(\d+(?:\.\d+)?)\s*BIT$", upper):
        flags.append(f"bit_class:{upper.split()[0]}")
    elif "MIXED" in upper:
        flags.append("mixed")
        flags.append("recipe:" + re.sub(r"\s*\[[^\]]*\]$", "", text))
    elif not upper:  # everything was a remark: "(unsloth GGUF, type not stated) [kv q8_0]"
        flags.append("type_not_stated")
    else:
        for pattern, target in _MIXES:
            m = re.match(pattern, upper)
            if m:
                nearest = find_quant(target.format(*m.groups()))
                base_type = nearest.name if nearest is not None else None
                flags.append("non_catalog_mix")
                if upper.startswith("UD-") or upper.endswith("_XL"):
                    variant = variant or "unsloth-dynamic"
                if upper.startswith("DQ"):
                    variant = variant or "dynamic-mix"
                break
        else:
            base_type, more, variant = recipe(label, core, tag_texts, variant)
            flags.extend(more)
    if variant in ("unsloth", "unsloth-dynamic") and upper.startswith("UD-"):
        variant = "unsloth-dynamic"
    return QuantLabel(as_published=text, quant=quant, base_type=base_type, variant=variant,
                      imatrix=imatrix, not_gguf=not_gguf, flags=flags, file_bytes=file_bytes,
                      cache_type=cache_type)

