"""Reading the model a published llama-bench row measured: its canonical name and, for a mixture
of experts, its active parameters.

A row names its model in up to three places: the ``model`` column (a file or repository name, or
llama-bench's architecture label such as ``qwen35moe 35B.A3B Q4_K - Medium``), and the notes'
``model=`` and ``model_file=`` (the source's own model or file name). The most specific of them
is cleaned of quant, shard, imatrix and chat suffixes and of uploader prefixes
(``bartowski/google_gemma-4-31B-it-GGUF`` -> ``gemma-4-31B``), then spelled as the model catalog
(``catalog/architectures.csv`` and ``catalog/arch/*/arch.csv``) spells it where the catalog has
it (``gemma-4-31B-it``). Active parameters come, in this order, from the catalog, the source
(notes ``active_params_b=``), the name (``-A3B``), the model cards of
:data:`advisor.data.moe_active.MOE_ACTIVE_PARAMS`, llama-bench's label (``30B.A3B``).
(The catalog comes first: every row of a model then gets the same count, and a name's ``A3B``
is a rounded figure.) Nothing is guessed: a name that cannot be read is reported as
unidentified.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from pathlib import Path

from advisor.data.moe_active import MOE_ACTIVE_PARAMS

#: normalised name -> (catalog spelling, total params B or None, active params B or None)
CatalogIndex = dict[str, tuple[str, float | None, float | None]]

# llama-bench's "arch SIZE[.AxB] [TYPE]" label, e.g. "qwen3moe 30B.A3B Q4_K - Medium"
_BENCH_LABEL = re.compile(
    r"^(?P<arch>[a-z][a-z0-9-]*) (?P<size>\?B|[\d.]+[MBT]|E\d+B|[\d.]+Bx\d+E|A\d+B|all)"
    r"(?:\.A(?P<active>[\d.]+)B)?(?P<rest>(?: .*)?)$")
_ARCH_LABEL = re.compile(r"^([a-z][a-z0-9]*) (\d+(?:\.\d+)?)([MB])(?: \((.+)\))?$")
_PAREN_SUFFIX = re.compile(r"\s*\([^()]*\)$")
_SHARD = re.compile(r"-\d{5}-of-\d{5}$", re.IGNORECASE)
_QUANT_SUFFIX = re.compile(
    r"[-._](?:UD-)?(?:I?Q\d(?:_[A-Z0-9]+)*|BF16|F16|F32|MXFP4|DYNAMIC|APEX[\w-]*)$",
    re.IGNORECASE)
_IMATRIX_TAG = re.compile(r"[.-]i1$", re.IGNORECASE)
_CHAT_SUFFIX = re.compile(r"-(?:Instruct|it|chat)(?:-\d{4})?$", re.IGNORECASE)
_UPLOADER_PREFIX = re.compile(r"^(?:google|qwen|zai-org|meta-llama|mistralai|openai|"
                              r"badtheorylabs|nvidia)_", re.IGNORECASE)
_LLAMA = re.compile(r"^llama-?(\d(?:\.\d)?)[- ](\d+(?:\.\d+)?)b$", re.IGNORECASE)
_ACTIVE = re.compile(r"-A(\d+(?:\.\d+)?)B(?:-|$)")
_MENTION = re.compile(
    r"(?<![\w-])((?:code|tiny)?llama-?\d(?:\.\d)?[- ]\d+(?:\.\d+)?b[\w.-]*|"
    r"(?:code|tiny)llama-\d+(?:\.\d+)?b[\w.-]*|"
    r"(?:qwen|mistral|gemma|phi)[\w.-]*?\d+(?:\.\d+)?b[\w.-]*)", re.IGNORECASE)
# a token that names a model: has a size ("8B", "270m", "E4B") or a known size-less name
_NAMEY = re.compile(r"\d(?:\.\d+)?[bmt](?![a-z])|(?:^|-)e\d+b|gpt-oss|glm-|dots\.|hunyuan|"
                    r"kimi-|minimax-|coder-next|deepseek-", re.IGNORECASE)
_CHAT_ONLY = re.compile(r"-(?:Instruct|it|chat)$", re.IGNORECASE)
# what a repository or file name adds to a model's name: a QAT tag, Meta's prefix, "-hf"
_RELEASE_NOISE = re.compile(r"-qat$|-hf$", re.IGNORECASE)

# Fine-tunes and renamed files whose architecture is a known base model (regex on the cleaned
# lowercase name -> canonical name template, remark).
_RENAMES: tuple[tuple[re.Pattern[str], str, str], ...] = (
    (re.compile(r"^shisa-v2-llama(\d\.\d)-(\d+)b$"), "Llama-{0}-{1}B", "fine-tune shisa-v2"),
    (re.compile(r"^tinyllama-1\.1b(?:-.+)?$"), "TinyLlama-1.1B", ""),
    (re.compile(r"^codellama-(\d+)b$"), "CodeLlama-{0}B", ""),
    (re.compile(r"^mistral-7b(?:-instruct)?-v(\d\.\d)$"), "Mistral-7B-v{0}", ""),
)

# Model families by name prefix (first match wins).
_FAMILIES: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(p, re.IGNORECASE), f) for p, f in (
        (r"^Llama-(\d(?:\.\d)?)-", "Llama {0}"), (r"^CodeLlama-", "CodeLlama"),
        (r"^TinyLlama-", "TinyLlama"), (r"^Mistral-Small-", "Mistral-Small"),
        (r"^Mistral-", "Mistral"), (r"^Ministral-(\d+)-", "Ministral {0}"),
        (r"^Devstral-(\d+)-", "Devstral {0}"), (r"^(Qwen[\d.]+-Coder)-", "{0}"),
        (r"^(Qwen[\d.]+-Next)-", "{0}"), (r"^(Qwen[\d.]+)-", "{0}"),
        (r"^gemma-(\d+)n?-", "Gemma {0}"), (r"^gpt-oss-", "gpt-oss"),
        (r"^GLM-([\d.]+)", "GLM-{0}"), (r"^MiniMax-M(\d+)", "MiniMax-M{0}"),
        (r"^(?:NVIDIA-)?Nemotron-(\d+)-", "Nemotron {0}"), (r"^phi-?(\d)", "Phi-{0}"),
        (r"^LFM([\d.]+)", "LFM{0}"), (r"^Kimi-K(\d)", "Kimi-K{0}"),
    ))

# Mixture-of-experts families whose names do not say so; rows of these are MoE even when their
# active count is not known.
_MOE_NAMES = re.compile(r"^(gpt-oss-|GLM-[\d.]+-(?:Flash|Air)|MiniMax-M\d|Mixtral-|DeepSeek-V\d|"
                        r"Kimi-K\d|dots\.llm|Hunyuan-A|Llama-4-)", re.IGNORECASE)

# Models a source lists in speed/SOURCES.md, for rows that carry only llama-bench's
# architecture label: (source_id, arch, params_b as printed) -> canonical name.
SOURCE_MODEL_LISTS: dict[tuple[str, str, float], str] = {
    ("geerlingguy_ai_benchmarks", "llama", 1.1): "TinyLlama-1.1B",
    ("geerlingguy_ai_benchmarks", "llama", 3.21): "Llama-3.2-3B",
    ("geerlingguy_ai_benchmarks", "qwen2", 14.77): "Qwen2.5-14B",
    ("geerlingguy_ai_benchmarks", "llama", 13.02): "Llama-2-13B",
}
# llama-bench labels whose architecture and size name one model (no other model shares them)
_BENCH_MODELS = {("gpt-oss", "20B"): "gpt-oss-20b", ("gpt-oss", "120B"): "gpt-oss-120b"}


@dataclass
class ModelLabel:
    """What a published model label names."""

    model: str
    family: str | None = None
    moe: bool = False
    active_params_b: float | None = None
    imatrix: bool | None = None
    flags: list[str] = field(default_factory=list)
    remarks: list[str] = field(default_factory=list)


def normalised(name: str) -> str:
    """The key a model name is matched on: lowercase, without a chat suffix (a dated one,
    ``-Instruct-2507``, names another checkpoint and stays), NVIDIA's ``NVIDIA-`` prefix and a
    ``-BF16`` repository suffix.

    >>> normalised("gemma-4-26B-A4B-it"), normalised("Qwen3-Coder-30B-A3B-Instruct")
    ('gemma-4-26b-a4b', 'qwen3-coder-30b-a3b')
    >>> normalised("NVIDIA-Nemotron-3-Nano-30B-A3B-BF16"), normalised("Qwen3-4B-Instruct-2507")
    ('nemotron-3-nano-30b-a3b', 'qwen3-4b-instruct-2507')
    """
    text = re.sub(r"^nvidia-|-bf16$", "", name.strip(), flags=re.IGNORECASE)
    return _CHAT_ONLY.sub("", text).lower()


def clean_model_name(name: str) -> tuple[str, bool]:
    """A file-like model name without shard, quant, imatrix tag and chat suffix; and whether
    an imatrix tag (``.i1``) was present.

    >>> clean_model_name("gpt-oss-120b-mxfp4-00001-of-00003")
    ('gpt-oss-120b', False)
    >>> clean_model_name("shisa-v2-llama3.1-8b.i1-Q4_K_M")
    ('Llama-3.1-8B', True)
    >>> clean_model_name("bartowski/google_gemma-4-31B-it-GGUF")[0]
    'gemma-4-31B'
    """
    canonical, imatrix, _, _ = _clean(name)
    return canonical, imatrix


def _clean(name: str) -> tuple[str, bool, str, str]:
    """(canonical name, imatrix tag seen, remark, the name before its chat suffix was cut)."""
    text = _PAREN_SUFFIX.sub("", name.strip()).strip().strip('"')
    text = text.rsplit("/", 1)[-1]  # an uploader's repository: keep the model part
    text = re.sub(r"\.gguf$", "", text, flags=re.IGNORECASE)
    text = re.sub(r"-GGUF$", "", text, flags=re.IGNORECASE)
    text = re.sub(r"^Meta-(?=Llama)", "", _UPLOADER_PREFIX.sub("", _SHARD.sub("", text)),
                  flags=re.IGNORECASE)
    previous = None
    while previous != text:  # '-UD-Q4_K_XL', '.Q4_0', '-BF16', '-mxfp4', ' Q4_K_M', '-qat'
        previous = text
        text = _QUANT_SUFFIX.sub("", re.sub(r"\s+(?:UD-)?I?Q\d\w*$", "", text))
        text = _RELEASE_NOISE.sub("", text)
    imatrix = bool(_IMATRIX_TAG.search(text))
    text = re.sub(r"\s+", "-", _IMATRIX_TAG.sub("", text))
    canonical, remark = _canonical_case(_CHAT_SUFFIX.sub("", text))
    return canonical, imatrix, remark, text


def _canonical_case(text: str) -> tuple[str, str]:
    """(canonical name, remark) for known base-model spellings; other names unchanged."""
    low = text.lower()
    llama = _LLAMA.match(low)
    if llama:
        return f"Llama-{llama.group(1)}-{llama.group(2)}B", ""
    for pattern, template, remark in _RENAMES:
        match = pattern.match(low)
        if match:
            return template.format(*match.groups()), remark
    return text, ""


def family_of(model: str) -> str | None:
    """The family of a canonical model name (``'Qwen3.6'``, ``'Gemma 4'``), None if unknown."""
    for pattern, template in _FAMILIES:
        match = pattern.match(model)
        if match:
            return template.format(*match.groups())
    return None


def _size_of(name: str) -> float | None:
    sizes = re.findall(r"(\d+(?:\.\d+)?)b(?![a-z])", name.lower())
    return float(sizes[-1]) if sizes else None


def _from_notes(notes: str, label_size: float) -> str | None:
    """A model mentioned in free-text notes whose size matches the llama-bench size label."""
    for mention in _MENTION.findall(notes):
        name, _ = clean_model_name(mention)
        size = _size_of(name)
        if size is not None and abs(size - label_size) <= 0.25 * label_size:
            return name
    return None


def _note(notes: str, key: str) -> str | None:
    match = re.search(rf"(?:^|;\s*){key}=([^;]+)", notes)
    return match.group(1).strip() if match else None


def _named_in_notes(notes: str) -> str | None:
    """The model name a row's notes give (``model=`` or ``model_file=``), cleaned; None when
    neither names a model (a bare quant label, a file without a model name)."""
    for key in ("model", "model_file"):
        text = _note(notes, key)
        if not text:
            continue
        text = re.sub(r"\([^)]*\)|\"[^\"]*\"", " ", text)
        tokens = [t for t in text.split() if _NAMEY.search(t)]
        spaced = re.sub(r"\s+(?:I?Q\d\w*|UD-\S+)$", "", text.strip())
        if _LLAMA.match(re.sub(r"\s+", "-", spaced.lower())):
            tokens = [spaced]
        if tokens:
            name, _, _, raw = _clean(tokens[0])
            if name and _NAMEY.search(name):
                return raw
    return None


def parse_model(published: str, params_b: float | None, *, source_id: str = "",
                notes: str = "", catalog: CatalogIndex | None = None) -> ModelLabel:
    """Normalise a published model label (file name or llama-bench ``arch SIZE`` label).

    >>> parse_model("llama 8B (LLaMA 3)", 8.03).model
    'Llama-3-8B'
    >>> m = parse_model("Qwen3.5-122B-A10B-UD-Q5_K_XL-00001-of-00003", 122.11)
    >>> m.model, m.moe, m.active_params_b
    ('Qwen3.5-122B-A10B', True, 10.0)
    >>> m = parse_model("qwen35moe 35B.A3B Q4_0", 34.66, notes="model=Qwen3.6-35B-A3B-Q4_0.gguf")
    >>> m.model, m.active_params_b
    ('Qwen3.6-35B-A3B', 3.0)
    """
    label = ModelLabel(model=published.strip())
    catalog = catalog or {}
    bench = _BENCH_LABEL.match(published.strip())
    arch = _ARCH_LABEL.match(published.strip())
    named = _named_in_notes(notes)
    if named and (bench or arch or not _NAMEY.search(published)):
        label.model = named
        label.remarks.append(f"model named in notes; published label {published.strip()!r}")
    elif arch:
        _resolve_arch_label(label, arch, params_b, source_id, notes)
    elif bench and (bench.group("arch"), bench.group("size")) in _BENCH_MODELS:
        label.model = _BENCH_MODELS[(bench.group("arch"), bench.group("size"))]
        label.remarks.append(f"llama-bench label {published.strip()!r} names one model")
    elif bench:
        shown = f"{params_b:g}B" if params_b else bench.group("size")
        label.model = f"{bench.group('arch')}-{shown}-unidentified"
        label.flags.append("model_unidentified")
        label.remarks.append(f"only llama-bench's label {published.strip()!r} is published")
    else:
        canonical, imatrix, remark, raw = _clean(published)
        label.model = canonical if remark else raw
        label.imatrix = True if imatrix else None  # no tag means 'not stated'
        if remark:
            label.flags.append("finetune")
            label.remarks.append(f"{remark} of {canonical}")
    entry = None
    if "model_unidentified" not in label.flags:
        # the catalog's spelling: of the name with its chat suffix, else of the base name
        entry = catalog.get(normalised(label.model))
        if entry is None:
            label.model = clean_model_name(label.model)[0]
            entry = catalog.get(normalised(label.model))
        if entry is not None:
            label.model = entry[0]
    if "model_unidentified" not in label.flags:
        label.family = family_of(label.model)
    bench_active = float(bench.group("active")) if bench and bench.group("active") else None
    _resolve_moe(label, params_b, notes, entry, bench_active)
    return label


def _resolve_arch_label(label: ModelLabel, arch: re.Match[str], params_b: float | None,
                        source_id: str, notes: str) -> None:
    arch_name, size_text, unit, paren = arch.groups()
    size = float(size_text) / (1000 if unit == "M" else 1)
    paren_llama = re.match(r"^llama[ -]?(\d(?:\.\d)?)$", paren or "", re.IGNORECASE)
    if arch_name == "llama" and paren_llama:
        label.model = f"Llama-{paren_llama.group(1)}-{size_text}B"
        return
    mentioned = _from_notes(notes, size)
    if mentioned:
        label.model = mentioned
        label.remarks.append(f"model named in notes; llama-bench label {arch.group(0)!r}")
        return
    listed = SOURCE_MODEL_LISTS.get((source_id, arch_name, params_b or -1.0))
    if listed:
        label.model = listed
        label.flags.append("model_from_source_list")
        label.remarks.append(f"model from the source's model list in SOURCES.md; "
                             f"llama-bench label {arch.group(0)!r}")
        return
    shown = f"{params_b:g}" if params_b else size_text
    label.model = f"{arch_name}-{shown}B-unidentified"
    label.flags.append("model_unidentified")
    label.remarks.append(f"only llama-bench's architecture label {arch.group(0)!r} is published")


def _resolve_moe(label: ModelLabel, params_b: float | None, notes: str,
                 entry: tuple[str, float | None, float | None] | None,
                 bench_active: float | None) -> None:
    stated = re.search(r"(?:^|;\s*)active_params_b=(\d+(?:\.\d+)?)", notes)
    in_name = _ACTIVE.search(label.model)
    if entry and entry[1] and entry[2] and entry[2] < entry[1]:
        label.moe, label.active_params_b = True, entry[2]
        label.remarks.append("active parameters from the model catalog")
    elif stated:
        label.moe, label.active_params_b = True, float(stated.group(1))
        label.remarks.append("active parameters as the source states them")
    elif in_name:
        label.moe, label.active_params_b = True, float(in_name.group(1))
    elif label.model.lower() in MOE_ACTIVE_PARAMS:
        label.moe, label.active_params_b = True, MOE_ACTIVE_PARAMS[label.model.lower()]
        label.remarks.append("active parameters from the model card (advisor.naming)")
    elif bench_active is not None:
        label.moe, label.active_params_b = True, bench_active
        label.remarks.append("active parameters from llama-bench's model label")
    elif re.search(r"\bmoe\b", notes, re.IGNORECASE) or _MOE_NAMES.match(label.model):
        label.moe = True
    if label.moe:
        label.flags.append("moe")
        if label.active_params_b is None:
            label.flags.append("moe_active_unknown")
    else:
        label.active_params_b = params_b


def _billions(text: str) -> float | None:
    """``'30.5B'``, ``'1T'``, ``'350M'``, ``'30532122624'`` -> billions; None if unreadable."""
    match = re.fullmatch(r"\s*([\d.]+)\s*([MBT]?)\s*", text or "", re.IGNORECASE)
    if not match:
        return None
    try:
        value = float(match.group(1))
    except ValueError:
        return None
    unit = match.group(2).upper()
    return value * {"M": 1e-3, "B": 1.0, "T": 1e3}[unit] if unit else value / 1e9


def read_catalog(shared_dir: Path) -> CatalogIndex:
    """The model catalog's names and parameter counts, by :func:`normalised` name: the older
    ``catalog/architectures.csv`` and the per-field ``catalog/arch/*/arch.csv`` tables (later
    tables win for a name both list)."""
    out: CatalogIndex = {}
    path = shared_dir / "catalog" / "architectures.csv"
    if path.is_file():
        with path.open(encoding="utf-8", newline="") as fh:
            for rec in csv.DictReader(fh):
                try:
                    total, active = float(rec["params_b"]), float(rec["active_params_b"])
                except (KeyError, ValueError):
                    continue
                out[normalised(rec["model"])] = (rec["model"], total, active)
    fields: dict[str, dict[str, str]] = {}
    for table in sorted((shared_dir / "catalog" / "arch").glob("*/arch.csv")):
        with table.open(encoding="utf-8", newline="") as fh:
            for rec in csv.DictReader(fh):
                fields.setdefault(rec["model"], {})[rec["field"]] = rec["value"]
    for model, values in fields.items():
        out[normalised(model)] = (model, _billions(values.get("params_total", "")),
                                  _billions(values.get("params_active", "")))
    return out
