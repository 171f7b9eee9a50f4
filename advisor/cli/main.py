"""The ``quant-advisor`` command line: thin click commands over the core functions.

Results go to stdout (a table, or JSON with ``--json``), diagnostics to stderr; bad input exits
with status 2 and a message saying what was wrong and what is allowed.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from advisor.cli.common import errors_to_exit, recommend_options
from advisor.cli.export import export
from advisor.cli.machine import detect
from advisor.cli.models import models
from advisor.cli.plot import plot
from advisor.vocabulary.settings import get_settings

if TYPE_CHECKING:
    from advisor.data.dataset import Dataset

log = logging.getLogger("advisor")
F = TypeVar("F", bound=Callable[..., Any])

@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", count=True, help="More diagnostics on stderr (-vv for debug).")
@click.version_option(package_name="quant-advisor")
def cli(verbose: int) -> None:
    """Which GGUF quantization of which LLM to run, for a memory budget and a task mix."""
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")


@cli.command()
@recommend_options(detect=True)
@click.option("--json", "as_json", is_flag=True, help="Print the full answer as JSON.")
@errors_to_exit
def recommend(as_json: bool, models: tuple[str, ...], detect: bool, **kwargs: Any) -> None:
    """Recommend a model and quant for a memory budget and task mix."""
    from advisor.cli.machine import recommend_inputs
    from advisor.cli.report import print_recommendation
    from advisor.recommender.advisor import Advisor

    advisor = Advisor.load(get_settings())
    kwargs = recommend_inputs(kwargs, advisor, detect)
    rec = advisor.recommend(models=list(models) or None, **kwargs)
    if as_json:
        click.echo(rec.model_dump_json(indent=2))
    else:
        print_recommendation(rec)


@cli.command("memory")
@click.option("--model", required=True, help="A catalog model (quant-advisor models).")
@click.option("--quant", required=True, help="A quant type (quant-advisor quants), e.g. Q4_K_M.")
@click.option("--context", type=int, default=None, help="Context length in tokens [4096].")
@click.option("--cache-type", default="f16", show_default=True, help="KV cache: f16, q8_0, q4_0.")
@click.option("--hardware", default=None,
              help="A device from `quant-advisor hardware` (where the weights live follows it: "
              "CPU, unified memory or a discrete GPU); several GPUs as 'RTX 3090 x2'.")
@click.option("--json", "as_json", is_flag=True, help="Print the footprint as JSON.")
@errors_to_exit
def memory_cmd(model: str, quant: str, context: int | None, cache_type: str,
               hardware: str | None, as_json: bool) -> None:
    """How much memory a model at a quant takes: weights, KV cache, compute, overhead."""
    from advisor.cli.report import print_memory
    from advisor.recommender.advisor import Advisor

    answer = Advisor.load(get_settings()).memory(model=model, quant=quant, context=context,
                                                 cache_type=cache_type, hardware=hardware)
    if as_json:
        click.echo(answer.model_dump_json(indent=2))
    else:
        print_memory(answer)


@cli.command()
@click.option("--host", default=None, help="Interface to listen on [127.0.0.1].")
@click.option("--port", type=int, default=None, help="Port [8000].")
def serve(host: str | None, port: int | None) -> None:
    """Serve the HTTP API (docs at /docs)."""
    from advisor.service.app import run

    run(get_settings(), host=host, port=port)


@cli.command()
def mcp() -> None:
    """Serve recommend, memory, models and hardware as MCP tools on stdin/stdout.

    Add it to an MCP client's configuration as the command `quant-advisor mcp`. Needs the
    `mcp` extra (pip install 'quant-advisor[mcp]').
    """
    try:
        from advisor.service.mcp_server import run_stdio
    except ImportError as e:
        raise click.ClickException(f"the MCP server needs the 'mcp' extra (pip install "
                                   f"'quant-advisor[mcp]'): {e}") from e
    run_stdio(get_settings())


@cli.command()
@click.option("--measurements", type=click.Path(path_type=Path), default=None,
              help="Measurements folder [measurements/].")
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="Where to save the predictors [models/].")
@click.option("--device-folds", type=click.IntRange(min=2), default=None,
              help="Hold out this many groups of devices in the speed evaluation instead of "
              "one device at a time (10 groups: a retraining of about 6 minutes instead of 18) "
              "[ADVISOR_EVAL_DEVICE_FOLDS].")
@click.option("--json", "as_json", is_flag=True, help="Print the model card as JSON.")
@errors_to_exit
def train(measurements: Path | None, out: Path | None, device_folds: int | None,
          as_json: bool) -> None:
    """Fit the quality and speed predictors on the measurements and save them."""
    from advisor.data.dataset import load_dataset
    from advisor.predictors.training import train as train_models

    settings = get_settings()
    folder = measurements or settings.measurements_dir
    dataset = load_dataset(folder)
    out_dir = out or settings.models_dir
    card = train_models(dataset, out_dir, catalog_dir=folder / "catalog",
                        device_folds=device_folds or settings.eval_device_folds)
    _add_offload_section(out_dir, out_dir, folder, dataset)
    _print_card(card, as_json)


@cli.command()
@click.option("--measurements", type=click.Path(path_type=Path), default=None)
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="Where EVALUATION.md and plots go [models/].")
@errors_to_exit
def evaluate(measurements: Path | None, out: Path | None) -> None:
    """Grouped cross-validation of the predictors against simple baselines."""
    from advisor.data.dataset import load_dataset
    from advisor.predictors.evaluation import evaluate as run_evaluation

    settings = get_settings()
    out_dir = out or settings.models_dir
    folder = measurements or settings.measurements_dir
    dataset = load_dataset(folder)
    report = run_evaluation(dataset, out_dir, catalog_dir=folder / "catalog")
    _add_offload_section(out_dir, settings.models_dir, folder, dataset)
    for path in report.files:
        click.echo(f"wrote {path}", err=True)
    click.echo((out_dir / "EVALUATION.md").read_text(encoding="utf-8"))


def _add_offload_section(out_dir: Path, predictors_dir: Path, folder: Path,
                         dataset: Dataset) -> None:
    """Add the offload speed evaluation (the split speed on published offload runs, with the
    predictors in ``predictors_dir``) to ``out_dir/EVALUATION.md``."""
    from advisor.data.catalog import load_catalog
    from advisor.data.hardware import load_hardware
    from advisor.predictors.artifacts import load_predictors
    from advisor.recommender.advisor import Advisor
    from advisor.recommender.offload_evaluation import append_offload_section

    settings = get_settings()
    advisor = Advisor(load_catalog(settings.catalog_path, settings.added_models_path),
                      load_predictors(predictors_dir), dataset, load_hardware(folder), settings)
    append_offload_section(out_dir / "EVALUATION.md", advisor, dataset)


@cli.command()
@click.option("--json", "as_json", is_flag=True)
@errors_to_exit
def info(as_json: bool) -> None:
    """Show the saved predictors' card: versions, data hash, held-out metrics."""
    from advisor.predictors.artifacts import load_predictors

    _print_card(load_predictors(get_settings().models_dir).card, as_json)


@cli.command()
@click.option("--input", "input_path", required=True, type=click.Path(path_type=Path),
              help="CSV of cases (model, params_b, quant, bpw, task_category, metric, hardware, "
              "kind, backend, bandwidth_gbs, fp16_tflops, memory_gb, threads, n_devices, test).")
@click.option("--output", "output_path", required=True, type=click.Path(path_type=Path),
              help="Where to write the cases with prediction columns.")
@errors_to_exit
def predict(input_path: Path, output_path: Path) -> None:
    """Batch predictions for a CSV of cases (see README for the columns)."""
    from advisor.predictors.batch import predict_file

    n = predict_file(input_path, output_path, get_settings())
    click.echo(f"wrote {n} row{'' if n == 1 else 's'} to {output_path}", err=True)


@cli.command("import-published")
@click.option("--shared", type=click.Path(path_type=Path, exists=True, file_okay=False),
              required=True, help="The shared data folder (with quality/, speed/, catalog/).")
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="Measurements folder to write [measurements/].")
@errors_to_exit
def import_published(shared: Path, out: Path | None) -> None:
    """Re-import the published measurements into the project's schema."""
    from advisor.data.importers.published import import_all

    counts = import_all(shared, out or get_settings().measurements_dir)
    click.echo(json.dumps(counts, indent=2))


@cli.command("hardware")
@click.argument("name", required=False)
@click.option("--json", "as_json", is_flag=True)
@errors_to_exit
def hardware_cmd(name: str | None, as_json: bool) -> None:
    """List the known devices and their specs, or show the one NAME means ("rtx 5090",
    "strix halo", "m4 max 40 core"); an unknown NAME exits 2 with "did you mean"."""
    from advisor.cli.report import print_device, print_hardware
    from advisor.data.hardware import load_hardware, resolve_hardware
    from advisor.data.unified_memory import gpu_memory_limit

    table = load_hardware(get_settings().measurements_dir)
    if name is None:
        if as_json:
            click.echo(json.dumps([h.model_dump(mode="json") for h in table.values()],
                                  indent=2))
        else:
            print_hardware(table)
        return
    device = resolve_hardware(name, table=table)
    if device is None:  # a given name resolves or raises; this keeps the types honest
        raise click.UsageError(f"hardware {name!r} named no device")
    limit = gpu_memory_limit(device)
    if as_json:
        answer = device.model_dump(mode="json")
        answer["gpu_memory_limit"] = None if limit is None else {
            **{k: getattr(limit, k) for k in ("platform", "memory_bytes", "limit_bytes",
                                               "rule", "source", "how_to_raise")},
            "share": limit.share}
        click.echo(json.dumps(answer, indent=2))
    else:
        print_device(device, limit)


@cli.command("quants")
@click.option("--json", "as_json", is_flag=True)
def quants_cmd(as_json: bool) -> None:
    """List the quant types with their bits per weight and family."""
    from advisor.cli.report import print_quants
    from advisor.vocabulary.quants import all_quants

    if as_json:
        click.echo(json.dumps([{"name": q.name, "family": q.family.value,
                                "nominal_bpw": q.nominal_bpw, "typical_bpw": q.typical_bpw}
                               for q in all_quants()], indent=2))
    else:
        print_quants(all_quants())


def _print_card(card: Any, as_json: bool) -> None:
    from advisor.cli.report import card_summary

    click.echo(card.to_json() if as_json else card_summary(card))


def _register_optional() -> None:
    try:
        from advisor.cli.measure import measure
    except ImportError as e:  # the measure extra is not installed
        missing = str(e)

        @cli.command(context_settings={"ignore_unknown_options": True,
                                      "allow_extra_args": True})
        def measure() -> None:
            """Measure a quant ladder on this machine (needs the `measure` extra)."""
            raise click.ClickException(
                f"the measurement pipeline needs the 'measure' extra "
                f"(pip install 'quant-advisor[measure]'): {missing}")
    else:
        cli.add_command(measure)


_register_optional()

cli.add_command(plot)
cli.add_command(export)
cli.add_command(models)
cli.add_command(detect)


def main() -> None:
    cli(prog_name="quant-advisor")
