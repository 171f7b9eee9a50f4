"""From a pick to a running model: where to download its file and the llama.cpp command lines.

:func:`build_commands` is a pure function of a :class:`LaunchSpec`; :func:`launch_for` fills
the spec from an answer's pick (its model, quant, context and KV cache type, the device, and the
pick's ``placement`` where the memory model sets one) and the repo table
(:mod:`advisor.data.downloads`).

The flags are those of the llama.cpp that llama-cpp-python 0.3.36 vendors (``common/arg.cpp``):
``-hf <user>/<model>[:quant]`` downloads the repo's file whose name holds ``<quant>`` followed by
``.`` or ``-`` (case-insensitive; every part of a split file), ``-c`` the context, ``-ngl`` the
layers offloaded to the GPU, ``--n-cpu-moe N`` keeps the MoE expert weights of the first N layers
in host memory, ``-ot <regex>=<buffer type>`` places the tensors matching a pattern,
``-ctk``/``-ctv`` the K and V cache types, ``-fa on|off|auto`` flash attention (a quantized V
cache requires it), ``-t`` the CPU threads, ``--no-mmproj`` skips the multimodal projector that
``-hf`` would also fetch (the memory estimate covers the text model only), and the mode the pick
answers in: ``--reasoning on|off`` for a model that can think or not (a hybrid), or
``--reasoning-effort high|low`` for one whose trace length is set (gpt-oss; the catalog's
thinking and non-thinking modes of it are high and low effort).
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from typing import Any

from advisor.data.catalog import ModelSpec
from advisor.data.downloads import RepoTable
from advisor.recommender.results import Candidate, Download, RunCommands
from advisor.vocabulary.schema import Hardware, HardwareKind

#: ``-ngl`` for "every layer": llama.cpp clamps a larger count to the model's layers + output.
ALL_LAYERS = 99
_UNQUANTIZED_CACHE = frozenset({"f32", "f16", "bf16"})


@dataclass(frozen=True)
class LaunchSpec:
    """What a command line needs. ``gpu_layers`` None = every layer on the GPU; 0 = CPU only."""

    hf_repo: str | None
    quant: str
    context: int
    cache_type: str = "f16"
    n_layers: int | None = None
    gpu_layers: int | None = None
    n_cpu_moe: int | None = None
    override_tensor: tuple[str, ...] = ()
    threads: int | None = None
    no_mmproj: bool = False
    reasoning: str | None = None
    reasoning_effort: str | None = None
    model_file: str | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)


def _ngl(spec: LaunchSpec) -> int:
    if spec.gpu_layers is not None:
        return spec.gpu_layers
    if spec.n_layers is not None and spec.n_layers + 1 > ALL_LAYERS:
        return spec.n_layers + 1  # every block plus the output layer
    return ALL_LAYERS


def _args(spec: LaunchSpec) -> list[str]:
    if spec.hf_repo:
        args = ["-hf", f"{spec.hf_repo}:{spec.quant}"]
    else:
        args = ["-m", spec.model_file or f"model-{spec.quant}.gguf"]
    args += ["-c", str(spec.context), "-ngl", str(_ngl(spec))]
    if spec.n_cpu_moe:
        args += ["--n-cpu-moe", str(spec.n_cpu_moe)]
    if spec.override_tensor:
        args += ["-ot", ",".join(spec.override_tensor)]
    cache = spec.cache_type.lower()
    if cache != "f16":
        args += ["-ctk", cache, "-ctv", cache]
    if cache not in _UNQUANTIZED_CACHE:
        args += ["-fa", "on"]
    if spec.threads:
        args += ["-t", str(spec.threads)]
    if spec.reasoning:
        args += ["--reasoning", spec.reasoning]
    if spec.reasoning_effort:
        args += ["--reasoning-effort", spec.reasoning_effort]
    if spec.no_mmproj and spec.hf_repo:
        args.append("--no-mmproj")
    return args


def build_commands(spec: LaunchSpec) -> RunCommands:
    """``llama-server`` and ``llama-cli`` command lines (shell-quoted) for ``spec``.

    >>> spec = LaunchSpec("unsloth/Qwen3-8B-GGUF", "Q4_K_M", 8192, "q8_0", n_layers=36)
    >>> build_commands(spec).llama_server
    'llama-server -hf unsloth/Qwen3-8B-GGUF:Q4_K_M -c 8192 -ngl 99 -ctk q8_0 -ctv q8_0 -fa on'
    """
    args = _args(spec)
    notes = list(spec.notes)
    if spec.cache_type.lower() not in _UNQUANTIZED_CACHE:
        notes.append(f"a {spec.cache_type} V cache needs flash attention (-fa on)")
    return RunCommands(llama_server=shlex.join(["llama-server", *args]),
                       llama_cli=shlex.join(["llama-cli", *args]), gpu_layers=_ngl(spec),
                       notes=notes)


def _placement(candidate: Candidate) -> tuple[int | None, int | None, tuple[str, ...]]:
    """(gpu layers, n_cpu_moe, override-tensor patterns) of the pick's placement, if it has
    one (a mapping or an object with ``n_gpu_layers``, ``n_cpu_moe``, ``override_tensor``)."""
    placement: Any = getattr(candidate, "placement", None)
    if placement is None:
        return None, None, ()

    def get(name: str) -> Any:
        return placement.get(name) if isinstance(placement, dict) else getattr(placement, name,
                                                                               None)

    ot = get("override_tensor") or ()
    patterns = (ot,) if isinstance(ot, str) else tuple(str(p) for p in ot)
    layers, moe = get("n_gpu_layers"), get("n_cpu_moe")
    if get("kind") == "experts_on_cpu":  # every layer (and the output) on the GPU but experts
        layers = None
    return (None if layers is None else int(layers), None if not moe else int(moe), patterns)


def download_for(candidate: Candidate, repos: RepoTable) -> Download | None:
    """Where to get ``candidate``'s file (:meth:`RepoTable.choose`), or None if no repo is
    known to hold it."""
    choice = repos.choose(candidate.model, candidate.quant)
    if choice is None:
        return None
    e = choice.entry
    return Download(
        repo=e.repo, url=f"https://huggingface.co/{e.repo}", kind=e.kind, quant=candidate.quant,
        file_pattern=e.file_name(candidate.quant),
        file_pattern_basis=e.file_pattern_basis or None,
        quant_basis=choice.quant_basis,  # type: ignore[arg-type]
        ollama_tag=repos.ollama_tag(candidate.model), other_repos=list(choice.others),
        source=e.source)


def launch_for(candidate: Candidate, model: ModelSpec | None, hardware: Hardware | None,
               repos: RepoTable) -> tuple[Download | None, RunCommands]:
    """The download and the command lines for ``candidate`` run on ``hardware``."""
    download = download_for(candidate, repos)
    layers, n_cpu_moe, patterns = _placement(candidate)
    notes: list[str] = []
    threads = None
    if hardware is not None and hardware.kind is HardwareKind.CPU:
        layers = 0
        threads = hardware.threads
    if download is None:
        notes.append(f"no published repo of {candidate.model} is known to hold {candidate.quant}"
                     ": point -m at the file")
    elif download.quant_basis == "assumed":
        notes.append(f"{download.repo} follows a naming pattern that has every quant type; "
                     f"{candidate.quant} itself was not seen in a source")
    thinking = candidate.mode == "thinking"
    modes = model.modes if model else None
    spec = LaunchSpec(
        hf_repo=download.repo if download else None, quant=candidate.quant,
        reasoning=("on" if thinking else "off") if modes == "hybrid" else None,
        reasoning_effort=("high" if thinking else "low") if modes == "reasoning_effort" else None,
        context=candidate.memory.context, cache_type=candidate.memory.cache_type,
        n_layers=model.n_layers if model else None, gpu_layers=layers, n_cpu_moe=n_cpu_moe,
        override_tensor=patterns, threads=threads,
        no_mmproj=repos.multimodal(candidate.model),
        model_file=download.file_pattern if download else None, notes=tuple(notes))
    return download, build_commands(spec)


def attach_launch(candidate: Candidate, model: ModelSpec | None, hardware: Hardware | None,
                  repos: RepoTable) -> Candidate:
    """``candidate`` with its ``download`` and ``run`` filled in."""
    download, run = launch_for(candidate, model, hardware, repos)
    return candidate.model_copy(update={"download": download, "run": run})
