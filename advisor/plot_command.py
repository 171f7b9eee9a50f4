"""``quant-advisor plot``: the trade-off charts as PNG or SVG files (needs the ``plot`` extra).

``plot recommend`` takes exactly the options of ``quant-advisor recommend`` (it reuses that
command's parameters) plus ``--out``; ``plot data --kind speed|quality`` charts the dataset.
Register with ``cli.add_command(plot)`` after ``recommend`` is defined in :mod:`advisor.cli`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from advisor.cli import _errors_to_exit
from advisor.cli import recommend as recommend_command
from advisor.settings import get_settings

DATA_KINDS = ("speed", "quality")


def _check_out(ctx: click.Context, param: click.Parameter, value: Path) -> Path:
    from advisor.errors import InvalidInputError
    from advisor.plots import check_output

    try:
        check_output(value)
    except InvalidInputError as e:
        raise click.BadParameter(str(e), ctx=ctx, param=param) from e
    return value


_OUT = click.option("--out", required=True, type=click.Path(path_type=Path, dir_okay=False),
                    callback=_check_out, help="Chart file to write: .png or .svg.")


def with_recommend_options(command: click.Command) -> click.Command:
    """Give ``command`` the options of ``quant-advisor recommend`` (all but ``--json``).

    Put it above ``@group.command(...)``: it prepends the shared parameter objects.
    """
    shared = [p for p in recommend_command.params if p.name != "as_json"]
    command.params[:0] = shared
    return command


@click.group()
def plot() -> None:
    """Draw the trade-off charts to PNG or SVG files."""


@with_recommend_options
@plot.command("recommend")
@_OUT
@_errors_to_exit
def plot_recommend(out: Path, models: tuple[str, ...], **kwargs: Any) -> None:
    """Quality against memory for the candidates, with Pareto front, budget line and pick."""
    from advisor.plots import chart_points, plot_recommendation
    from advisor.recommend import Advisor

    advisor = Advisor.load(get_settings())
    query = advisor.parse_query(models=list(models) or None, **kwargs)
    rec = advisor.rank(query)
    written = plot_recommendation(rec, chart_points(advisor, query), out)
    click.echo(f"wrote {written} (pick: {rec.pick.model} {rec.pick.quant})", err=True)


@plot.command("data")
@click.option("--kind", required=True, type=click.Choice(DATA_KINDS),
              help="speed: tokens/s against bandwidth / model bytes by hardware kind; "
              "quality: retention and PPL ratio against bits per weight by model size.")
@click.option("--measurements", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="Measurements folder [measurements/].")
@_OUT
@_errors_to_exit
def plot_data(kind: str, measurements: Path | None, out: Path) -> None:
    """Chart the measurement dataset."""
    from advisor.dataset import load_dataset
    from advisor.plots import plot_quality_data, plot_speed_data

    dataset = load_dataset(measurements or get_settings().measurements_dir)
    draw = plot_speed_data if kind == "speed" else plot_quality_data
    click.echo(f"wrote {draw(dataset, out)}", err=True)
