"""Reading the labels of published llama-bench rows: backend, device, model, quant and notes.

Every function here is pure: it takes the text as published and returns what it means in the
project's vocabulary, so :mod:`advisor.data.importers.speed` only joins and validates. Nothing here
changes a published number; labels that cannot be read are reported, never guessed. Model labels
are read by :mod:`advisor.data.importers.speed_models`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from advisor.data.importers.speed_models import (
    ModelLabel,
    clean_model_name,
    parse_model,
)
from advisor.vocabulary.errors import UnknownNameError
from advisor.vocabulary.quants import UNSLOTH_DYNAMIC, parse_quant_name

__all__ = ["BACKENDS", "IK_LLAMA", "UNSLOTH_DYNAMIC", "BackendLabel", "ModelLabel", "NotesInfo",
           "QuantLabel", "clean_model_name", "parse_backend", "parse_model", "parse_notes",
           "parse_quant", "split_hardware"]

#: Backends a speed row may name (llama.cpp's ggml backends, lowercase).
BACKENDS: tuple[str, ...] = ("cuda", "metal", "rocm", "vulkan", "sycl", "opencl", "cpu", "blas")
_BACKEND_ALIASES = {"mtl": "metal", "hip": "rocm", "cublas": "cuda", "clblast": "opencl"}
IK_LLAMA = "ik_llama.cpp"
#: Backend of a row whose source does not state it.
UNKNOWN_BACKEND = "unknown"


@dataclass(frozen=True)
class BackendLabel:
    backend: str
    detail: str
    fork: str | None = None
    flags: tuple[str, ...] = ()


def parse_backend(text: str, *, allow_blank: bool = False) -> BackendLabel:
    """The ggml backend of a llama-bench backend string, with fork and build flags.

    ``RPC`` (llama.cpp's remote backend, layers on networked hosts) is a flag next to the
    compute backend. A blank string is backend ``'unknown'`` (flag ``backend_not_stated``) when
    ``allow_blank``, an error otherwise.

    >>> b = parse_backend("CPU (ik_llama.cpp, -rtr 1)")
    >>> b.backend, b.fork, b.flags
    ('cpu', 'ik_llama.cpp', ('rtr',))
    >>> parse_backend("MTL,BLAS").backend
    'metal'
    """
    detail = text.strip()
    low = detail.lower()
    if not low and allow_blank:
        return BackendLabel(UNKNOWN_BACKEND, detail, None, ("backend_not_stated",))
    head = re.split(r"[\s(\[]", re.sub(r"^llama\.cpp\s*/\s*", "", low), maxsplit=1)[0]
    names = []
    for part in head.split(","):
        part = _BACKEND_ALIASES.get(part.strip(), part.strip())
        if part not in (*BACKENDS, "rpc"):
            raise UnknownNameError("backend", detail, BACKENDS, parameter="backend")
        names.append(part)
    compute = [n for n in names if n not in ("blas", "rpc")]
    backend = compute[0] if compute else "blas"
    flags = []
    if "blas" in names and backend != "blas":
        flags.append("blas")
    if "rpc" in names:
        flags.append("rpc")
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
# Quant labels
# ---------------------------------------------------------------------------------------------

_UD = re.compile(r"\bUD-(I?Q\d(?:_[A-Z0-9]+)*)", re.IGNORECASE)
_QAT_FILE = re.compile(r"[-_.]qat\b", re.IGNORECASE)
#: Row flags of each quant scheme (:data:`advisor.vocabulary.quants.SCHEMES`).
SCHEME_FLAGS = {UNSLOTH_DYNAMIC: "unsloth_dynamic"}


@dataclass(frozen=True)
class QuantLabel:
    """``quant``: the llama.cpp base type; ``variant``: the scheme on top of it, if any."""

    quant: str | None
    variant: str | None = None
    flags: tuple[str, ...] = ()
    remark: str = ""
    known: bool = True


def parse_quant(label: str, *, model_published: str = "", notes: str = "") -> QuantLabel:
    """The base type and scheme of a published quant label
    (:func:`advisor.vocabulary.quants.parse_quant_name`).

    A file is Unsloth dynamic when the label, the model's file name or a file name in the
    notes says ``UD-...`` (llama-bench then prints the base type, e.g. Q4_K_M); a QAT release
    when the model's name says ``qat``. A row of a scheme is flagged ``quant_mix`` (its size is
    the file's, its speed that of its mix) and with the scheme's own flag.

    >>> q = parse_quant("UD-Q4_K_XL"); q.quant, q.variant
    ('Q4_K_M', 'unsloth-dynamic')
    >>> parse_quant("Q4_0", notes="model=ggml-org/gemma-3-4b-it-qat-GGUF").variant
    'qat'
    """
    text = label.strip()
    ud = _UD.match(text) or _UD.search(model_published) or _UD.search(notes)
    name = f"UD-{ud.group(1)}" if ud else text
    if not ud and _QAT_FILE.search(f"{model_published} {notes}") and "QAT" not in text.upper():
        name = f"{text} QAT"
    parsed = parse_quant_name(name)
    if parsed is None and name != text:
        parsed = parse_quant_name(text)
    if parsed is None:
        return QuantLabel(None, known=False)
    if parsed.scheme is None:
        return QuantLabel(parsed.quant.name)
    remark = "" if name == text else (
        f"{parsed.scheme} file {name}; {text} is the label as published")
    flags = ("quant_mix", SCHEME_FLAGS.get(parsed.scheme, parsed.scheme.replace("-", "_")))
    return QuantLabel(parsed.quant.name, parsed.scheme, flags, remark)


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
    #: where the weights were placed when not all on the device (offload keys of the notes)
    placement: dict[str, str] = field(default_factory=dict)
    large_stdev_tests: list[tuple[str, float | None]] = field(default_factory=list)
    environment: dict[str, object] = field(default_factory=dict)


def parse_notes(notes: str) -> NotesInfo:
    """Run settings stated in a row's notes (``fa=1``, ``stddev=...``, ``host=...``, ...).

    >>> info = parse_notes("host=Raspberry Pi 5 (PCIe x1; host-limited); fa=1; stddev=0.5")
    >>> info.host_limit, info.flash_attn, info.stdev
    ('Raspberry Pi 5 (PCIe x1; host-limited)', True, 0.5)
    """
    info = NotesInfo()
    fa = (re.search(r"\bfa=([01]|True|False)\b", notes)
          or re.search(r"flags=[^;]*\bfa([01])\b", notes)
          or re.search(r"(?:^|\s|=)-fa ([01])\b", notes))
    if fa:
        info.flash_attn = fa.group(1) in ("1", "True")
    elif "--no-flash-attn" in notes:
        info.flash_attn = False
    batch = re.search(r"(?:\bn_batch|\bbatch|(?:^|\s)-b)[= ](\d+)\b", notes)
    if batch:
        info.batch_size = int(batch.group(1))
    depth = re.search(r"@\s*d(\d+)\b", notes) or re.search(r"\bdepth[= ](\d+)\b", notes)
    if depth:
        info.depth = int(depth.group(1))
    stdev = re.search(r"\bstddev=(\d+(?:\.\d+)?)", notes)
    if stdev:
        info.stdev = float(stdev.group(1))
    # "host=..." or "host ..." names the machine; "KV cache in host memory" does not
    host = re.search(r"\bhost(?:=| (?!memory\b))([^;]*\([^)]*\)[^;]*|[^;]+)", notes)
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
    placement = {key: value.strip() for key, value in _PLACEMENT.findall(notes)}
    if placement:
        info.placement = placement
    return info


# Keys of the notes that say where the weights were placed (see speed/SOURCES.md addendum):
# ``ot`` (-ot / --override-tensor), ``n_cpu_moe`` / ``cpu_moe`` (--n-cpu-moe / --cpu-moe),
# ``offload`` (the source's description), ``fit_target`` (--fit-target).
_PLACEMENT = re.compile(r"(?:^|;\s*)(ot|n_cpu_moe|cpu_moe|offload|fit_target)=([^;]+)")


def _environment(notes: str, env: dict[str, object]) -> None:
    build = re.search(r"\bbuild[= ]([0-9a-f]{6,}) \((\d+)\)", notes)
    if build:
        env["llama_cpp_build"] = f"{build.group(1)} ({build.group(2)})"
    for key in ("toolbox", "commit"):
        match = re.search(rf"\b{key}=([^;\s]+)", notes)
        if match:
            env["source_commit" if key == "commit" else key] = match.group(1)
    for key in ("n_ubatch", "rpc_nodes"):
        match = re.search(rf"(?:^|;\s*){key}=(\d+)\b", notes)
        if match:
            env[key] = int(match.group(1))
    for key in ("type_k", "type_v"):
        match = re.search(rf"(?:^|;\s*){key}=([a-z0-9_]+)", notes)
        if match:
            env[key] = match.group(1)
    date = re.search(r"(?:^|;\s*)date=(\d{4}-\d{2}(?:-\d{2})?)\b", notes)
    if date:
        env["date"] = date.group(1)
    mmap = re.search(r"\bmmap=([01])\b", notes)
    if mmap:
        env["mmap"] = mmap.group(1) == "1"
    hipblaslt = re.search(r"hipblaslt=([01])\b", notes) or re.search(r"\bhblt([01])\b", notes)
    if hipblaslt:
        env["hipblaslt"] = hipblaslt.group(1) == "1"
    isa = re.match(r"^(AVX\d*|ARM_NEON|NEON)\b", notes)
    if isa:
        env["cpu_isa"] = isa.group(1)
