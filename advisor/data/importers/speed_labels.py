"""Reading the labels of published llama-bench rows: backend, device, model, quant and notes.

Every function here is pure: it takes the text as published and returns what it means in the
project's vocabulary, so :mod:`advisor.data.importers.speed` only joins and validates. Nothing here
changes a published number; labels that cannot be read are reported, never guessed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from advisor.data.naming import MOE_ACTIVE_PARAMS
from advisor.vocabulary.errors import UnknownNameError
from advisor.vocabulary.quants import find_quant

#: Backends a speed row may name (llama.cpp's ggml backends, lowercase).
BACKENDS: tuple[str, ...] = ("cuda", "metal", "rocm", "vulkan", "sycl", "opencl", "cpu", "blas")
_BACKEND_ALIASES = {"mtl": "metal", "hip": "rocm", "cublas": "cuda", "clblast": "opencl"}
IK_LLAMA = "ik_llama.cpp"


@dataclass(frozen=True)
class BackendLabel:
    backend: str
    detail: str
    fork: str | None = None
    flags: tuple[str, ...] = ()


def parse_backend(text: str) -> BackendLabel:
    """The ggml backend of a llama-bench backend string, with fork and build flags.

    >>> b = parse_backend("CPU (ik_llama.cpp, -rtr 1)")
    >>> b.backend, b.fork, b.flags
    ('cpu', 'ik_llama.cpp', ('rtr',))
    >>> parse_backend("MTL,BLAS").backend
    'metal'
    """
    detail = text.strip()
    low = detail.lower()
    head = re.split(r"[\s(\[]", low, maxsplit=1)[0]
    names = []
    for part in head.split(","):
        part = _BACKEND_ALIASES.get(part.strip(), part.strip())
        if part not in BACKENDS:
            raise UnknownNameError("backend", detail, BACKENDS, parameter="backend")
        names.append(part)
    non_blas = [n for n in names if n != "blas"]
    backend = non_blas[0] if non_blas else "blas"
    flags = []
    if "blas" in names and backend != "blas":
        flags.append("blas")
    for needle, flag in (("tinyblas", "tinyblas"), ("-rtr", "rtr"), ("rocwmma", "rocwmma"),
                         ("(pr)", "pr_build")):
        if needle in low:
            flags.append(flag)
    fork = IK_LLAMA if "ik_llama" in low else None
    return BackendLabel(backend, detail, fork, tuple(flags))


def split_hardware(text: str) -> tuple[str, int]:
    """(device name, number of devices) of ``'NVIDIA GeForce RTX 3090 x2'`` style labels.

    >>> split_hardware("NVIDIA GeForce RTX 3090 x2"), split_hardware("Intel Arc A310")
    (('NVIDIA GeForce RTX 3090', 2), ('Intel Arc A310', 1))
    """
    match = re.match(r"^(.*\S)\s+x(\d+)$", text.strip())
    if match:
        return match.group(1), int(match.group(2))
    return text.strip(), 1


# ---------------------------------------------------------------------------------------------
# Model names
# ---------------------------------------------------------------------------------------------

_ARCH_LABEL = re.compile(r"^([a-z][a-z0-9]*) (\d+(?:\.\d+)?)([MB])(?: \((.+)\))?$")
_PAREN_SUFFIX = re.compile(r"\s*\([^()]*\)$")
_SHARD = re.compile(r"-\d{5}-of-\d{5}$", re.IGNORECASE)
_QUANT_SUFFIX = re.compile(
    r"[-._](?:UD-)?(?:I?Q\d(?:_[A-Z0-9]+)*|BF16|F16|F32|MXFP4)$", re.IGNORECASE)
_IMATRIX_TAG = re.compile(r"\.i1$", re.IGNORECASE)
_CHAT_SUFFIX = re.compile(r"-(?:Instruct|it|chat)(?:-\d{4})?$", re.IGNORECASE)
_LLAMA = re.compile(r"^llama-?(\d(?:\.\d)?)[- ](\d+(?:\.\d+)?)b$", re.IGNORECASE)
_ACTIVE = re.compile(r"-A(\d+(?:\.\d+)?)B(?:-|$)")
_MENTION = re.compile(
    r"(?<![\w-])((?:code|tiny)?llama-?\d(?:\.\d)?[- ]\d+(?:\.\d+)?b[\w.-]*|"
    r"(?:code|tiny)llama-\d+(?:\.\d+)?b[\w.-]*|"
    r"(?:qwen|mistral|gemma|phi)[\w.-]*?\d+(?:\.\d+)?b[\w.-]*)", re.IGNORECASE)

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
        (r"^gemma-(\d+)-", "Gemma {0}"), (r"^gpt-oss-", "gpt-oss"),
        (r"^GLM-([\d.]+)", "GLM-{0}"), (r"^MiniMax-M(\d+)", "MiniMax-M{0}"),
        (r"^(?:NVIDIA-)?Nemotron-(\d+)-", "Nemotron {0}"), (r"^phi-?(\d)", "Phi-{0}"),
    ))

# Mixture-of-experts families whose names do not say so (and whose active count is not in our
# data); rows of these are MoE with active_params_b unknown.
_MOE_NAMES = re.compile(r"^(gpt-oss-|GLM-[\d.]+-Flash|MiniMax-M\d|Mixtral-|DeepSeek-V\d)",
                        re.IGNORECASE)

# Models a source lists in speed/SOURCES.md, for rows that carry only llama-bench's
# architecture label: (source_id, arch, params_b as printed) -> canonical name.
SOURCE_MODEL_LISTS: dict[tuple[str, str, float], str] = {
    ("geerlingguy_ai_benchmarks", "llama", 1.1): "TinyLlama-1.1B",
    ("geerlingguy_ai_benchmarks", "llama", 3.21): "Llama-3.2-3B",
    ("geerlingguy_ai_benchmarks", "qwen2", 14.77): "Qwen2.5-14B",
    ("geerlingguy_ai_benchmarks", "llama", 13.02): "Llama-2-13B",
}


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


def clean_model_name(name: str) -> tuple[str, bool]:
    """A file-like model name without shard, quant, imatrix tag and chat suffix; and whether
    an imatrix tag (``.i1``) was present.

    >>> clean_model_name("gpt-oss-120b-mxfp4-00001-of-00003")
    ('gpt-oss-120b', False)
    >>> clean_model_name("shisa-v2-llama3.1-8b.i1-Q4_K_M")
    ('Llama-3.1-8B', True)
    """
    canonical, imatrix, _ = _clean(name)
    return canonical, imatrix


def _clean(name: str) -> tuple[str, bool, str]:
    text = _PAREN_SUFFIX.sub("", name.strip())
    text = re.sub(r"\.gguf$", "", text, flags=re.IGNORECASE)
    text = _SHARD.sub("", text)
    previous = None
    while previous != text:  # '-UD-Q4_K_XL', '.Q4_0', '-BF16', '-mxfp4'
        previous = text
        text = _QUANT_SUFFIX.sub("", text)
    imatrix = bool(_IMATRIX_TAG.search(text))
    text = _CHAT_SUFFIX.sub("", _IMATRIX_TAG.sub("", text))
    canonical, remark = _canonical_case(text)
    return canonical, imatrix, remark


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


def _family(model: str) -> str | None:
    for pattern, template in _FAMILIES:
        match = pattern.match(model)
        if match:
            return template.format(*match.groups())
    return None


def _size_of(name: str) -> float | None:
    sizes = re.findall(r"(\d+(?:\.\d+)?)b(?![a-z])", name.lower())
    return float(sizes[-1]) if sizes else None


def _from_notes(notes: str, label_size: float) -> str | None:
    """A model named in the notes whose size matches the llama-bench size label."""
    for mention in _MENTION.findall(notes):
        name, _ = clean_model_name(mention)
        size = _size_of(name)
        if size is not None and abs(size - label_size) <= 0.25 * label_size:
            return name
    return None


def parse_model(published: str, params_b: float | None, *, source_id: str = "",
                notes: str = "", catalog: dict[str, tuple[float, float]] | None = None
                ) -> ModelLabel:
    """Normalise a published model label (file name or llama-bench ``arch SIZE`` label).

    ``catalog`` maps lowercased canonical names to (params_b, active_params_b).

    >>> parse_model("llama 8B (LLaMA 3)", 8.03).model
    'Llama-3-8B'
    >>> m = parse_model("Qwen3.5-122B-A10B-UD-Q5_K_XL-00001-of-00003", 122.11)
    >>> m.model, m.moe, m.active_params_b
    ('Qwen3.5-122B-A10B', True, 10.0)
    """
    label = ModelLabel(model=published.strip())
    arch = _ARCH_LABEL.match(published.strip())
    if arch:
        _resolve_arch_label(label, arch, params_b, source_id, notes)
    else:
        label.model, imatrix, remark = _clean(published)
        label.imatrix = True if imatrix else None  # no tag means 'not stated'
        if remark:
            label.flags.append("finetune")
            label.remarks.append(f"{remark} of {label.model}")
    if "model_unidentified" not in label.flags:
        label.family = _family(label.model)
    _resolve_moe(label, params_b, notes, catalog or {})
    return label


def _resolve_arch_label(label: ModelLabel, arch: re.Match[str], params_b: float | None,
                        source_id: str, notes: str) -> None:
    arch_name, size_text, unit, paren = arch.groups()
    size = float(size_text) / (1000 if unit == "M" else 1)
    paren_llama = re.match(r"^llama[ -]?(\d(?:\.\d)?)$", paren or "", re.IGNORECASE)
    if arch_name == "llama" and paren_llama:
        label.model = f"Llama-{paren_llama.group(1)}-{size_text}B"
        return
    named = _from_notes(notes, size)
    if named:
        label.model = named
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
                 catalog: dict[str, tuple[float, float]]) -> None:
    active = _ACTIVE.search(label.model)
    known = catalog.get(label.model.lower())
    if active:
        label.moe, label.active_params_b = True, float(active.group(1))
    elif known and known[1] < known[0]:
        label.moe, label.active_params_b = True, known[1]
        label.remarks.append("active parameters from catalog/architectures.csv")
    elif label.model.lower() in MOE_ACTIVE_PARAMS:
        label.moe, label.active_params_b = True, MOE_ACTIVE_PARAMS[label.model.lower()]
        label.remarks.append("active parameters from the model card (advisor.naming)")
    elif "moe" in notes.lower() or _MOE_NAMES.match(label.model):
        label.moe = True
    if label.moe:
        label.flags.append("moe")
        if label.active_params_b is None:
            label.flags.append("moe_active_unknown")
    else:
        label.active_params_b = params_b


# ---------------------------------------------------------------------------------------------
# Quant labels
# ---------------------------------------------------------------------------------------------

_UD = re.compile(r"\bUD-(I?Q\d(?:_[A-Z0-9]+)*)", re.IGNORECASE)
UNSLOTH_DYNAMIC = "unsloth-dynamic"


@dataclass(frozen=True)
class QuantLabel:
    quant: str | None
    variant: str | None = None
    flags: tuple[str, ...] = ()
    remark: str = ""
    known: bool = True


def parse_quant(label: str, *, model_published: str = "", notes: str = "") -> QuantLabel:
    """The catalog quant of a published quant label; Unsloth dynamic files have none.

    A file is Unsloth dynamic when the label, the model's file name or a file name in the
    notes says ``UD-...`` (llama-bench then prints the type of most tensors, e.g. Q4_K_M).

    >>> parse_quant("mxfp4").quant, parse_quant("UD-Q4_K_XL").variant
    ('MXFP4', 'unsloth-dynamic')
    """
    text = label.strip()
    ud = _UD.match(text) or _UD.search(model_published) or _UD.search(notes)
    if ud:
        remark = "" if _UD.match(text) else (
            f"Unsloth dynamic file UD-{ud.group(1)}; {text} is llama-bench's type label")
        return QuantLabel(None, UNSLOTH_DYNAMIC, ("unsloth_dynamic",), remark)
    found = find_quant(text)
    if found is None:
        return QuantLabel(None, known=False)
    return QuantLabel(found.name)


# ---------------------------------------------------------------------------------------------
# Notes
# ---------------------------------------------------------------------------------------------

_HOST_LIMIT = re.compile(r"pcie[ -]?x1\b|pcie-limited|host-limited|riser|thermal|throttl|"
                         r"power[- ]limit", re.IGNORECASE)


_PR_THREAD = re.compile(r"github\.com/(?:ggml-org|ggerganov)/llama\.cpp/pull/\d+")


@dataclass
class NotesInfo:
    flash_attn: bool | None = None
    batch_size: int | None = None
    depth: int | None = None
    stdev: float | None = None
    host_limit: str | None = None
    pr_build: bool = False
    pr_thread: bool = False
    params_elsewhere: bool = False
    large_stdev_tests: list[tuple[str, float | None]] = field(default_factory=list)
    environment: dict[str, object] = field(default_factory=dict)


def parse_notes(notes: str) -> NotesInfo:
    """Run settings stated in a row's notes (``fa=1``, ``stddev=...``, ``host=...``, ...).

    >>> info = parse_notes("host=Raspberry Pi 5 (PCIe x1; host-limited); fa=1; stddev=0.5")
    >>> info.host_limit, info.flash_attn, info.stdev
    ('Raspberry Pi 5 (PCIe x1; host-limited)', True, 0.5)
    """
    info = NotesInfo()
    fa = (re.search(r"\bfa=([01])\b", notes) or re.search(r"flags=[^;]*\bfa([01])\b", notes)
          or re.search(r"(?:^|\s|=)-fa ([01])\b", notes))
    if fa:
        info.flash_attn = fa.group(1) == "1"
    batch = re.search(r"(?:\bn_batch|\bbatch|(?:^|\s)-b)[= ](\d+)\b", notes)
    if batch:
        info.batch_size = int(batch.group(1))
    depth = re.search(r"@\s*d(\d+)\b", notes) or re.search(r"\bdepth[= ](\d+)\b", notes)
    if depth:
        info.depth = int(depth.group(1))
    stdev = re.search(r"\bstddev=(\d+(?:\.\d+)?)", notes)
    if stdev:
        info.stdev = float(stdev.group(1))
    host = re.search(r"\bhost[= ]([^;]*\([^)]*\)[^;]*|[^;]+)", notes)
    if host and _HOST_LIMIT.search(host.group(1)):
        info.host_limit = host.group(1).strip()
    elif host:
        info.environment["host"] = host.group(1).strip()
    if info.host_limit is None:
        limit = _HOST_LIMIT.search(notes)
        if limit:
            info.host_limit = limit.group(0)
    for segment in (s.strip() for s in notes.split(";")):
        if segment.startswith("with PR #") or "PR branch" in segment:
            info.pr_build = True
    # posted in a llama.cpp pull request: a development build of that day (the PR's branch or
    # the master it compares with), often the PR that first brought a backend's kernels
    info.pr_thread = bool(_PR_THREAD.search(notes))
    info.params_elsewhere = bool(re.search(r"params_b (?:not printed|taken from)", notes))
    for test, size in re.findall(r"large (pp\d+|tg\d+) stddev(?: on (\d+(?:\.\d+)?)B row)?",
                                 notes):
        info.large_stdev_tests.append((test, float(size) if size else None))
    _environment(notes, info.environment)
    return info


def _environment(notes: str, env: dict[str, object]) -> None:
    build = re.search(r"\bbuild[= ]([0-9a-f]{6,}) \((\d+)\)", notes)
    if build:
        env["llama_cpp_build"] = f"{build.group(1)} ({build.group(2)})"
    for key in ("toolbox", "commit"):
        match = re.search(rf"\b{key}=([^;\s]+)", notes)
        if match:
            env["source_commit" if key == "commit" else key] = match.group(1)
    mmap = re.search(r"\bmmap=([01])\b", notes)
    if mmap:
        env["mmap"] = mmap.group(1) == "1"
    hipblaslt = re.search(r"hipblaslt=([01])\b", notes) or re.search(r"\bhblt([01])\b", notes)
    if hipblaslt:
        env["hipblaslt"] = hipblaslt.group(1) == "1"
    isa = re.match(r"^(AVX\d*|ARM_NEON|NEON)\b", notes)
    if isa:
        env["cpu_isa"] = isa.group(1)
