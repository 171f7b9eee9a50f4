"""Human-readable tables for the CLI (rich), kept apart from the core."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from advisor.data.unified_memory import GpuMemoryLimit
from advisor.recommender.footprint import MemoryAnswer
from advisor.recommender.memory import per_device_bytes
from advisor.recommender.results import Candidate, Figure, Recommendation
from advisor.vocabulary.quants import QuantType
from advisor.vocabulary.schema import Hardware
from advisor.vocabulary.units import format_bytes


def _fig(f: Figure | None, fmt: str = "{:.1f}") -> str:
    if f is None:
        return "-"
    text = fmt.format(f.value)
    if f.low is not None and f.high is not None:
        text += f" [{fmt.format(f.low)}-{fmt.format(f.high)}]"
    return text


def _row(c: Candidate) -> list[str]:
    speed = [f"{c.speed[t].value:.0f}" if t in c.speed else "-" for t in ("pp512", "tg128")]
    return [c.model, c.quant, f"{c.bpw.value:.2f}", format_bytes(c.memory.total_bytes),
            f"{c.quality_score.value:.1f}", f"{c.retention.value:.1%}", *speed]


def print_recommendation(rec: Recommendation, console: Console | None = None) -> None:
    console = console or Console()
    pick = rec.pick
    m = pick.memory
    used = (f"{format_bytes(pick.placement.gpu_bytes)} of {format_bytes(rec.request.budget_bytes)}"
            f" on the GPU + {format_bytes(pick.placement.cpu_bytes)} of RAM"
            if pick.placement is not None else
            f"{format_bytes(m.total_bytes)} of {format_bytes(rec.request.budget_bytes)}")
    console.print(f"[bold]Pick:[/bold] {pick.model} {pick.quant}, {pick.mode}  ({used})")
    console.print(f"  memory: weights {format_bytes(m.weights_bytes)}, KV cache "
                  f"{format_bytes(m.kv_cache_bytes)} ({m.context} tokens, {m.cache_type}), "
                  f"compute {format_bytes(m.compute_buffer_bytes)}, overhead "
                  f"{format_bytes(m.overhead_bytes)}")
    if rec.request.n_devices:
        n = rec.request.n_devices
        console.print(f"  split over {n} GPUs ({rec.request.hardware}): about "
                      f"{format_bytes(per_device_bytes(m.total_bytes, n))} on each")
    if pick.placement is not None:
        pl = pick.placement
        console.print(f"  placement: {pl.kind.replace('_', ' ')}, GPU "
                      f"{format_bytes(pl.gpu_bytes)}, RAM {format_bytes(pl.cpu_bytes)} "
                      f"({' '.join(pl.flags)})")
    for task, fig in pick.quality_by_task.items():
        ret = pick.retention_by_task[task]
        console.print(f"  {task}: {_fig(fig)} (retention {ret.value:.1%}, {ret.provenance}: "
                      f"{ret.source})")
    for test, fig in pick.speed.items():
        console.print(f"  {test}: {_fig(fig, '{:.0f}')} tokens/s ({fig.provenance})")
    print_launch(pick, console)
    console.print(rec.explanation)
    console.print(candidates_table([pick, *rec.alternatives]))
    for note in rec.notes:
        console.print(f"[dim]note: {note}[/dim]")
    console.print(f"[dim]predictors {rec.predictor_version}; {rec.candidates_fitting} of "
                  f"{rec.candidates_considered} candidates fit[/dim]")


def candidates_table(candidates: list[Candidate]) -> Table:
    """The pick and alternatives as a table that fits 80 columns: no vertical borders, headers
    never cut (a long model name folds onto a second line instead)."""
    table = Table(title="Within budget (pp512, tg128: tokens/s)",
                  box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, padding=(0, 0))
    table.add_column("model", overflow="fold", min_width=len("model"))
    for col in ("quant", "bpw", "memory", "quality", "kept", "pp512", "tg128"):
        table.add_column(col, justify="left" if col == "quant" else "right", no_wrap=True,
                         min_width=len(col))
    for c in candidates:
        table.add_row(*_row(c))
    return table


def print_launch(pick: Candidate, console: Console) -> None:
    """Where to download the pick and the command lines that run it (never wrapped, so they
    can be pasted)."""
    d = pick.download
    if d is not None:
        file = f", file {d.file_pattern}" if d.file_pattern else ""
        tag = f"; Ollama: ollama run {d.ollama_tag}" if d.ollama_tag else ""
        console.print(Text(f"  download: {d.url}{file}{tag}"), soft_wrap=True)
    if pick.run is not None:
        console.print(Text(f"  run: {pick.run.llama_server}"), soft_wrap=True)
        console.print(Text(f"   or: {pick.run.llama_cli}"), soft_wrap=True)
        for note in pick.run.notes:
            console.print(Text(f"  ({note})", style="dim"), soft_wrap=True)


def print_hardware(table: dict[str, Hardware], console: Console | None = None) -> None:
    out = Table(title="Known hardware")
    for col in ("name", "kind", "memory GB", "bandwidth GB/s", "FP16 TFLOPS"):
        out.add_column(col)
    for h in table.values():
        out.add_row(h.name, h.kind.value, *("-" if v is None else f"{v:g}" for v in
                                            (h.memory_gb, h.bandwidth_gbs, h.fp16_tflops)))
    (console or Console()).print(out)


def print_device(device: Hardware, limit: GpuMemoryLimit | None,
                 console: Console | None = None) -> None:
    """One device's specs, with the default GPU share of a unified memory."""
    out = Table(title=device.name, show_header=False)
    rows = [("kind", device.kind.value), ("memory kind", device.memory_kind or "-"),
            ("memory GB", device.memory_gb), ("bandwidth GB/s", device.bandwidth_gbs),
            ("FP16 TFLOPS (vector)", device.fp16_tflops),
            ("FP16 TFLOPS (tensor, dense)", device.fp16_tensor_tflops),
            ("CPU cores", device.cpu_cores), ("memory channels", device.memory_channels),
            ("aliases", ", ".join(device.aliases) or "-"), ("source", device.source or "-")]
    for label, value in rows:
        out.add_row(label, "-" if value is None else f"{value:g}" if isinstance(value, float)
                    else str(value))
    if limit is not None:
        shown = "not published" if limit.limit_bytes is None else \
            f"{limit.limit_bytes / 2**30:.1f} GiB ({limit.share:.0%})" if limit.share else \
            f"{limit.limit_bytes / 2**30:.1f} GiB"
        out.add_row("GPU memory limit", f"{shown}: {limit.rule}")
        out.add_row("raise it", limit.how_to_raise)
    (console or Console()).print(out)


def print_quants(quants: Iterable[QuantType], console: Console | None = None) -> None:
    out = Table(title="Quant types")
    for col in ("name", "family", "nominal bpw", "typical bpw", "typical source"):
        out.add_column(col)
    for q in quants:
        out.add_row(q.name, q.family.value, f"{q.nominal_bpw:.4g}", f"{q.typical_bpw:.4g}",
                    q.typical_source)
    (console or Console()).print(out)


def card_summary(card: Any) -> str:
    """The model card in a few lines: what was trained on what, and its held-out errors."""
    lines = [f"predictors {card.version} (created {card.created}, git {card.git_sha or '-'})",
             f"training data hash {card.data_hash}; rows {card.rows}",
             "libraries: " + ", ".join(f"{k} {v}" for k, v in sorted(card.libraries.items()))]
    for group, metrics in sorted(card.metrics.items()):
        for target, m in sorted(metrics.items()):
            if not isinstance(m, dict):
                continue
            parts = [f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}"
                     for k, v in sorted(m.items()) if k != "units"]
            lines.append(f"{group}/{target} ({m.get('units', '')}): " + ", ".join(parts))
    return "\n".join(lines)


def print_memory(answer: MemoryAnswer, console: Console | None = None) -> None:
    """The itemised footprint of one model at one quant."""
    console = console or Console()
    where = f" on {answer.hardware}" if answer.hardware else ""
    console.print(f"[bold]{answer.model} {answer.quant}[/bold]{where}: "
                  f"{format_bytes(answer.total_bytes)} at {answer.context} tokens "
                  f"({answer.cache_type} KV cache, {answer.runtime} memory)")
    for label, value in (("weights", answer.weights_bytes),
                         ("KV cache and state", answer.kv_cache_bytes),
                         ("compute buffers", answer.compute_buffer_bytes),
                         ("runtime overhead", answer.overhead_bytes)):
        console.print(f"  {label:<19} {format_bytes(value):>10}")
    console.print(f"  weights at {answer.bpw:.2f} bits/weight: {answer.bpw_source}")
    if answer.fits_device is not None and answer.device_memory_bytes is not None:
        verdict = "fits" if answer.fits_device else "does not fit"
        console.print(f"  {verdict} the device's {format_bytes(answer.device_memory_bytes)}")
    for line in answer.assumptions:
        console.print(f"  - {line}")
