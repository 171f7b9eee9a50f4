"""``quant-advisor measure``: the click adapter over :func:`advisor.measure.ladder.run_ladder`.

Results go to stdout (summary table, or the rows as JSON with ``--json``); progress and
diagnostics go to stderr. :mod:`advisor.cli.main` registers it when the ``measure`` extra is
installed.
"""

from __future__ import annotations

import functools
import json
import os
import sys
from pathlib import Path

import click

from advisor.measure.quantize import DEFAULT_LADDER
from advisor.vocabulary.errors import AdvisorError

_ROOT = Path(__file__).resolve().parent.parent.parent


def _table(lines: list[dict]) -> str:
    def f(v: object, spec: str) -> str:
        return "-" if v is None else format(v, spec)

    head = (f"{'quant':<8} {'size MB':>8} {'bpw':>6} {'pp512':>8} {'tg128':>7} {'PPL':>8} "
            f"{'KLD':>7} {'top-1':>6} {'tasks':>6}")
    out = [head, "-" * len(head)]
    for x in lines:
        out.append(f"{x['quant']:<8} {f(x['size_mb'], '8.1f')} {f(x['bpw'], '6.3f')} "
                   f"{f(x['pp512'], '8.1f')} {f(x['tg128'], '7.1f')} {f(x['ppl'], '8.3f')} "
                   f"{f(x['kld'], '7.4f')} {f(x['top1'], '6.3f')} {f(x['task_acc'], '6.3f')}")
    return "\n".join(out)


@click.command("measure")
@click.option("--model", "model", required=True,
              help="A .gguf file (F32/F16/BF16 reference); a demo model: smollm2-135m, "
                   "gemma3-270m (dequantized to F16 first); or synthetic:<model> (random "
                   "weights with a published model's shapes, e.g. synthetic:llama-3.1-8b; "
                   "speed and memory only).")
@click.option("--quants", default=",".join(DEFAULT_LADDER), show_default=True,
              help="Comma-separated llama.cpp quant types to build and measure.")
@click.option("--threads", type=click.IntRange(1), default=None,
              help="CPU threads [default: all cores].")
@click.option("--gpu-layers", type=click.IntRange(0), default=0, show_default=True)
@click.option("--repeats", type=click.IntRange(1), default=5, show_default=True,
              help="Timed runs per speed test (after one warm-up), as llama-bench's -r.")
@click.option("--tests", default="pp512,tg128,tg128@d2048", show_default=True,
              help="llama-bench tests; a @dN test is skipped when the model's context is "
                   "shorter.")
@click.option("--eval-chunks", type=click.IntRange(1), default=16, show_default=True,
              help="512-token chunks of the evaluation text for PPL/KLD.")
@click.option("--tasks-per-category", type=click.IntRange(1), default=16, show_default=True)
@click.option("--flash-attn/--no-flash-attn", default=False, show_default=True)
@click.option("--speed-only", is_flag=True,
              help="Time and size each level; skip perplexity, KL divergence and tasks.")
@click.option("--keep-quants/--delete-quants", default=True, show_default=True,
              help="Keep each quantized GGUF in --work-dir after measuring it (delete to "
                   "save disk on large models; a rerun then quantizes again).")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              default=_ROOT / "measurements" / "measured", show_default=True)
@click.option("--work-dir", type=click.Path(file_okay=False, path_type=Path),
              default=_ROOT / "var" / "measure", show_default=True,
              help="Where quantized GGUFs and the reference's logits are kept.")
@click.option("--submit", "submit_url", default=None,
              help="Also POST the rows to URL/v1/measurements.")
@click.option("--force", is_flag=True, help="Redo quants whose result file already exists.")
@click.option("--json", "as_json", is_flag=True, help="Print the rows as JSON on stdout.")
def measure(model: str, quants: str, threads: int | None, gpu_layers: int, repeats: int,
            tests: str, eval_chunks: int, tasks_per_category: int, flash_attn: bool,
            speed_only: bool, keep_quants: bool, out_dir: Path, work_dir: Path,
            submit_url: str | None, force: bool, as_json: bool) -> None:
    """Benchmark a quant ladder of MODEL on this machine: speed, memory, quality."""
    from tqdm import tqdm

    from advisor.measure.environment import isa_flags
    from advisor.measure.ladder import MeasureOptions, run_ladder
    from advisor.measure.llama_backend import RunConfig
    from advisor.measure.quantize import plan_ladder
    from advisor.measure.rows import UNSTEADY_CV, summary, unsteady_tests
    from advisor.recommender.file_memory import predicted_memory_mib
    from advisor.vocabulary.schema import parse_test

    opts = MeasureOptions(
        model=model, quants=[q for q in quants.split(",") if q.strip()], out_dir=out_dir,
        work_dir=work_dir, threads=threads or os.cpu_count() or 1, gpu_layers=gpu_layers,
        repeats=repeats, force=force, flash_attn=flash_attn, n_chunks=eval_chunks,
        tasks_per_category=tasks_per_category, speed_only=speed_only, keep_quants=keep_quants,
        tests=tuple(t.strip() for t in tests.split(",") if t.strip()),
        # the ladder's runs keep llama-cpp-python's default, a full-context sliding-window cache
        memory_model=functools.partial(predicted_memory_mib, isa=isa_flags(),
                                       swa_full=RunConfig.swa_full))
    try:
        for test in opts.tests:
            try:
                parse_test(test)
            except ValueError as e:
                raise click.BadParameter(str(e), param_hint="--tests") from e
        n_steps = len(plan_ladder(opts.quants).build) + 1
        with tqdm(total=n_steps, desc="ladder", unit="file", file=sys.stderr) as bar:
            def progress(message: str, step_done: bool = False) -> None:
                bar.set_postfix_str(message[:60])
                if step_done:
                    bar.update(1)
                elif not message.endswith(("quantizing",)) and "measuring" not in message:
                    tqdm.write(message, file=sys.stderr)

            report = run_ladder(opts, progress)
    except AdvisorError as e:
        raise click.ClickException(str(e)) from e
    for quant, why in report.skipped.items():
        click.echo(f"skipped {quant}: {why}", err=True)
    for quant, why in report.failed.items():
        click.echo(f"FAILED {quant}: {why}", err=True)
    if report.resumed:
        click.echo(f"resumed: kept earlier results for {', '.join(report.resumed)}", err=True)
    all_rows = [r for rows in report.rows.values() for r in rows]
    if as_json:
        click.echo(json.dumps([r.model_dump(mode="json") for r in all_rows], indent=1))
        click.echo(_table(summary(report.rows)), err=True)
    else:
        click.echo(report.reference_note)
        click.echo(_table(summary(report.rows)))
    click.echo(f"{len(all_rows)} rows in {report.out_dir} ({report.seconds:.0f} s)", err=True)
    unsteady = unsteady_tests(report.rows)
    if unsteady:
        click.echo(f"note: the repeats of {len(unsteady)} speed test(s) varied by more than "
                   f"{UNSTEADY_CV:.0%} ({', '.join(unsteady[:4])}"
                   f"{', ...' if len(unsteady) > 4 else ''}): this machine's speed moved while "
                   "it measured, so another run may differ by more; benchmarks/speed_noise.py "
                   "shows by how much", err=True)
    if submit_url:
        from advisor.measure.submit import SubmitError, submit_rows

        try:
            status = submit_rows(submit_url, all_rows)
        except SubmitError as e:
            raise click.ClickException(str(e)) from e
        click.echo(f"submitted {len(all_rows)} rows to {submit_url} (HTTP {status})", err=True)
    if report.failed:
        raise click.exceptions.Exit(1)
