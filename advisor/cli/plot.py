"""``quant-advisor plot``: the trade-off charts as PNG or SVG files (needs the ``plot`` extra).

``plot recommend`` takes exactly the options of ``quant-advisor recommend``
(:func:`advisor.cli.common.recommend_options`) plus ``--out``; ``plot data --kind speed|quality``
charts the dataset.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from advisor.cli.common import errors_to_exit, recommend_options
from advisor.vocabulary.settings import get_settings

DATA_KINDS = ("speed", "quality")


def _check_out(ctx: click.Context, param: click.Parameter, value: Path) -> Path:
    from advisor.recommender.charts import check_output
    from advisor.vocabulary.errors import InvalidInputError

    try:
        check_output(value)
    except InvalidInputError as e:
        raise click.BadParameter(str(e), ctx=ctx, param=param) from e
    return value


_OUT = click.option("--out", required=True, type=click.Path(path_type=Path, dir_okay=False),
                    callback=_check_out, help="Chart file to write: .png or .svg.")


@click.group()
def plot() -> None:
    """Draw the trade-off charts to PNG or SVG files."""


@plot.command("recommend")
@recommend_options(detect=True)
@_OUT
@errors_to_exit
def plot_recommend(out: Path, models: tuple[str, ...], detect: bool, **kwargs: Any) -> None:
    """Quality against memory for the candidates, with Pareto front, budget line and pick."""
    from advisor.cli.machine import recommend_inputs
    from advisor.recommender.advisor import Advisor
    from advisor.recommender.charts import chart_points, plot_recommendation

    advisor = Advisor.load(get_settings())
    kwargs = recommend_inputs(kwargs, advisor, detect)
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
@errors_to_exit
def plot_data(kind: str, measurements: Path | None, out: Path) -> None:
    """Chart the measurement dataset."""
    from advisor.data.dataset import load_dataset
    from advisor.recommender.charts import plot_quality_data, plot_speed_data

    dataset = load_dataset(measurements or get_settings().measurements_dir)
    draw = plot_speed_data if kind == "speed" else plot_quality_data
    click.echo(f"wrote {draw(dataset, out)}", err=True)
