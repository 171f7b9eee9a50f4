"""From raw results to schema rows, one JSONL file per quant, and the summary table."""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from advisor.data.dataset import iter_rows, write_rows
from advisor.measure.gguf_files import GGUFInfo
from advisor.measure.llama_backend import RunConfig
from advisor.measure.task_suites import TaskItem
from advisor.vocabulary.errors import DataFileError
from advisor.vocabulary.schema import (
    HardwareKind,
    MetricKind,
    Provenance,
    QualityRow,
    Row,
    SpeedRow,
)

if TYPE_CHECKING:
    from advisor.measure.worker import FileResult

SOURCE_ID = "quant-advisor-measure"
#: Below this share of the requested threads' CPU time, other processes took the cores and the
#: speed rows are kept but excluded from training.
MIN_CPU_SHARE = 0.8
#: Within-test coefficient of variation above which `measure` says the machine's speed moved.
UNSTEADY_CV = 0.05
BENCHMARK_TEXT = "python-stdlib-docstrings"


@dataclass(frozen=True)
class RowContext:
    """What every row of a run shares."""

    run_id: str
    model: str
    model_as_published: str
    model_family: str
    reference_quant: str
    reference_note: str
    environment: dict[str, Any]
    config: RunConfig
    task_benchmark: str
    flags: tuple[str, ...] = ()


def _common(ctx: RowContext, info: GGUFInfo, quant: str, notes: str) -> dict[str, Any]:
    return {"source_id": SOURCE_ID, "provenance": Provenance.MEASURED, "run_id": ctx.run_id,
            "model": ctx.model, "model_as_published": ctx.model_as_published,
            "model_family": ctx.model_family, "params_b": info.n_params / 1e9,
            "active_params_b": info.n_params / 1e9, "quant": quant, "quant_as_published": quant,
            "imatrix": False, "bpw": info.bpw, "bpw_basis": "file_size",
            "file_bytes": info.file_bytes, "flags": list(ctx.flags), "notes": notes}


def gpu_specs(name: str) -> dict[str, float | None]:
    """Memory, bandwidth and FP16 rate of GPU ``name`` from the hardware tables
    (``measurements/hardware.csv`` completed by ``hardware_added.csv``); Nones when neither lists
    it (the row is kept; training skips rows without bandwidth)."""
    from advisor.data.hardware import find_device, load_hardware
    from advisor.vocabulary.errors import InvalidInputError

    try:
        hw = find_device(name, load_hardware())
    except InvalidInputError:  # ambiguous part match: only an exact line will do
        hw = None
    if hw is None:
        return {"memory_gb": None, "bandwidth_gbs": None, "fp16_tflops": None}
    return {"memory_gb": hw.memory_gb, "bandwidth_gbs": hw.bandwidth_gbs,
            "fp16_tflops": hw.fp16_tflops}


def device_columns(ctx: RowContext) -> dict[str, Any]:
    """Hardware columns of a speed row: the CPU (measured RAM and copy bandwidth) when no layer
    is offloaded, else the first GPU (its specs from :func:`gpu_specs`)."""
    env = ctx.environment
    gpus = env.get("gpus") or []
    if ctx.config.gpu_layers == 0 or not gpus:
        return {"hardware": env["cpu_model"], "hardware_kind": HardwareKind.CPU,
                "backend": "cpu", "memory_gb": env["ram_mib"] * 2**20 / 1e9,
                "bandwidth_gbs": env["copy_bandwidth_gbs"], "fp16_tflops": None}
    specs = gpu_specs(gpus[0]["name"])
    if specs["memory_gb"] is None:
        specs["memory_gb"] = gpus[0]["memory_mib"] * 2**20 / 1e9
    return {"hardware": gpus[0]["name"], "hardware_kind": HardwareKind.GPU,
            "backend": "cuda", "n_devices": len(gpus), **specs}


def speed_rows(ctx: RowContext, info: GGUFInfo, quant: str, result: FileResult,
               predicted_mib: float | None, notes: str) -> list[SpeedRow]:
    env = ctx.environment
    rows = []
    busy = None
    if ctx.config.gpu_layers == 0 and result.cpu_share < MIN_CPU_SHARE:
        busy = (f"host busy: the run got {result.cpu_share:.0%} of {ctx.config.threads} "
                f"threads' CPU time (1-min load {result.load_avg_1m[1]:.1f})")
    device = device_columns(ctx)
    for test, raw in result.speed.items():
        rows.append(SpeedRow(
            **_common(ctx, info, quant, notes), **device,
            backend_detail=env.get("llama_cpp_system_info", ""), test=test,
            tokens_per_s=statistics.median(raw),
            tokens_per_s_stdev=statistics.stdev(raw) if len(raw) > 1 else 0.0,
            raw_tokens_per_s=raw, model_bytes=info.file_bytes,
            gpu_layers=ctx.config.gpu_layers, threads=ctx.config.threads,
            batch_size=ctx.config.batch_size, flash_attn=ctx.config.flash_attn,
            load_time_s=max(result.load_time_s, 1e-6), peak_rss_mib=result.peak_rss_mib,
            peak_gpu_mib=result.gpu_mib or None,
            predicted_memory_mib=predicted_mib, excluded_reason=busy,
            environment={**env, "mean_tokens_per_s": statistics.fmean(raw),
                         "rss_before_load_mib": round(result.rss_before_load_mib, 1),
                         "copy_bandwidth_gbs_before_tests": result.copy_bandwidth_gbs,
                         "load_avg_1m_before_after": list(result.load_avg_1m),
                         "cpu_share": round(result.cpu_share, 3)}))
    return rows


def _q(ctx: RowContext, info: GGUFInfo, quant: str, notes: str, **kw: Any) -> QualityRow:
    return QualityRow(**_common(ctx, info, quant, notes), baseline_quant=ctx.reference_quant,
                      **kw)


def accuracy(picks: list[int], items: list[TaskItem]) -> dict[str, tuple[float, int]]:
    """Per category: (fraction correct, number of items)."""
    hits: dict[str, list[int]] = defaultdict(list)
    for pick, item in zip(picks, items, strict=True):
        hits[item.category.value].append(int(pick == item.answer))
    return {c: (sum(h) / len(h), len(h)) for c, h in hits.items()}


def quality_rows(ctx: RowContext, info: GGUFInfo, quant: str, result: FileResult,
                 items: list[TaskItem], ref_ppl: float, ref_picks: list[int], notes: str
                 ) -> list[QualityRow]:
    """Perplexity, KL divergence, top-1 agreement and task rows (reference: ratios are 1)."""
    rows: list[QualityRow] = []
    d = result.divergence
    text = {"task_category": "language_modeling", "benchmark": BENCHMARK_TEXT}
    if d:
        n = int(d["n_tokens"])
        rows.append(_q(ctx, info, quant, notes, metric="perplexity",
                       metric_kind=MetricKind.PERPLEXITY, value=d["ppl"], baseline_value=ref_ppl,
                       ppl_ratio=math.exp(d["ln_ppl_ratio"]), stderr=d["ppl_stderr"],
                       n_items=n, **text))
        for metric, kind, value, stderr in (
                ("kl_divergence_mean", MetricKind.KLD, d["kld_mean"], d["kld_stderr"]),
                ("kl_divergence_median", MetricKind.OTHER, d["kld_median"], None),
                ("kl_divergence_p99", MetricKind.OTHER, d["kld_p99"], None),
                ("top1_agreement", MetricKind.OTHER, d["top1_agreement"], d["top1_stderr"]),
                ("ln_ppl_ratio", MetricKind.OTHER, d["ln_ppl_ratio"],
                 d["ln_ppl_ratio_stderr"])):
            extra = {"kld": value} if kind is MetricKind.KLD else {}
            rows.append(_q(ctx, info, quant, notes, metric=metric, metric_kind=kind,
                           value=value, stderr=stderr, n_items=n, **extra, **text))
    else:
        p = result.perplexity
        rows.append(_q(ctx, info, quant, notes, metric="perplexity",
                       metric_kind=MetricKind.PERPLEXITY, value=p["ppl"], baseline_value=p["ppl"],
                       ppl_ratio=1.0, stderr=p["ppl_stderr"], n_items=int(p["n_tokens"]),
                       **text))
    acc = accuracy(result.task_picks, items)
    ref_acc = accuracy(ref_picks, items)
    agree: dict[str, list[int]] = defaultdict(list)
    for pick, ref_pick, item in zip(result.task_picks, ref_picks, items, strict=True):
        agree[item.category.value].append(int(pick == ref_pick))
    for category, (value, n) in acc.items():
        base = ref_acc[category][0]
        common = {"task_category": category, "benchmark": ctx.task_benchmark, "n_items": n}
        rows.append(_q(ctx, info, quant, notes, metric="accuracy",
                       metric_kind=MetricKind.ACCURACY, value=value, baseline_value=base,
                       retention=value / base if value > 0 and base > 0 else None,
                       stderr=math.sqrt(value * (1 - value) / max(n - 1, 1)), **common))
        a = agree[category]
        rows.append(_q(ctx, info, quant, notes, metric="answer_agreement",
                       metric_kind=MetricKind.OTHER, value=sum(a) / len(a), **common))
    return rows


def read_complete(path: Path, *, with_quality: bool = True) -> list[Row] | None:
    """Rows of a finished quant file, or None if it is missing, unreadable or incomplete
    (no speed row, or no perplexity row when ``with_quality``)."""
    if not path.is_file():
        return None
    try:
        rows = list(iter_rows(path))
    except DataFileError:
        return None
    has_speed = any(isinstance(r, SpeedRow) for r in rows)
    has_ppl = any(isinstance(r, QualityRow) and r.metric == "perplexity" for r in rows)
    return rows if has_speed and (has_ppl or not with_quality) else None


def write_quant_file(path: Path, rows: list[Row]) -> None:
    write_rows(path, rows)


def summary(rows_by_quant: dict[str, list[Row]]) -> list[dict[str, Any]]:
    """One line per quant: size, bpw, pp512, tg128, PPL, KLD, top-1, task accuracy."""
    lines = []
    for quant, rows in rows_by_quant.items():
        speed = {r.test: r.tokens_per_s for r in rows if isinstance(r, SpeedRow)}
        q = {r.metric: r for r in rows if isinstance(r, QualityRow) and r.task_category in
             ("language_modeling",)}
        acc = [r for r in rows if isinstance(r, QualityRow) and r.metric == "accuracy"]
        n_acc = sum(r.n_items or 0 for r in acc)
        first = rows[0]
        scored = "perplexity" in q  # speed-only runs have no quality columns at all
        lines.append({
            "quant": quant, "size_mb": (first.file_bytes or 0) / 1e6, "bpw": first.bpw,
            "pp512": speed.get("pp512"), "tg128": speed.get("tg128"),
            "tg128@d2048": speed.get("tg128@d2048"),
            "ppl": q["perplexity"].value if "perplexity" in q else None,
            "kld": q["kl_divergence_mean"].value if "kl_divergence_mean" in q
            else (0.0 if scored else None),
            "top1": q["top1_agreement"].value if "top1_agreement" in q
            else (1.0 if scored else None),
            "task_acc": (sum(r.value * (r.n_items or 0) for r in acc) / n_acc) if n_acc else None,
        })
    return lines


def unsteady_tests(rows_by_quant: dict[str, list[Row]], max_cv: float = UNSTEADY_CV
                   ) -> list[str]:
    """``'Q8_0 tg128 7.3%'`` for each timed test whose repeats varied by more than ``max_cv``
    (stdev / mean of the raw tokens/s): the machine's speed moved while it was measured."""
    out = []
    for quant, rows in rows_by_quant.items():
        for r in rows:
            if not isinstance(r, SpeedRow) or len(r.raw_tokens_per_s) < 2:
                continue
            raw = r.raw_tokens_per_s
            cv = statistics.stdev(raw) / statistics.fmean(raw)
            if cv > max_cv:
                out.append(f"{quant} {r.test} {cv:.1%}")
    return out
