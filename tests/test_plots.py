"""Chart data (advisor.recommender.charts.chart_points), the matplotlib charts and the ``plot`` command."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from advisor.cli.main import recommend as recommend_command
from advisor.cli.plot import plot
from advisor.data.dataset import Dataset, load_dataset
from advisor.recommender.advisor import TIE_POINTS, Advisor
from advisor.recommender.charts import (
    POINT_COLUMNS,
    chart_points,
    check_output,
    plot_quality_data,
    plot_recommendation,
    plot_speed_data,
    points_records,
    size_class,
)
from advisor.vocabulary.errors import InvalidInputError

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
RTX = "NVIDIA GeForce RTX 3090"


def assert_chart_file(path: Path) -> None:
    assert path.is_file() and path.stat().st_size > 1000
    if path.suffix.lower() == ".png":
        assert path.read_bytes()[:8] == PNG_MAGIC
    else:
        assert ET.parse(path).getroot().tag == "{http://www.w3.org/2000/svg}svg"


@pytest.fixture(scope="module")
def dataset() -> Dataset:
    return load_dataset()


@pytest.fixture
def matplotlib_agg():
    pytest.importorskip("matplotlib", reason="the plot extra is not installed")


# -- chart data ------------------------------------------------------------------------------
@pytest.mark.parametrize("params", [
    {"vram": "24GB", "task": "reasoning", "hardware": RTX},
    {"vram": "8GB", "task": "coding:0.5,math:0.5"},
    {"vram": "48GB", "task": "knowledge", "context": 32768, "cache_type": "q8_0"},
])
def test_points_agree_with_the_recommendation(fake_advisor: Advisor, params):
    query = fake_advisor.parse_query(**params)
    rec = fake_advisor.rank(query)
    points = chart_points(fake_advisor, query)
    assert tuple(points.columns) == POINT_COLUMNS
    assert points["total_bytes"].is_monotonic_increasing
    assert len(points) == rec.candidates_considered
    assert int(points["fits"].sum()) == rec.candidates_fitting
    assert (points["fits"] == (points["total_bytes"] <= query.budget_bytes)).all()
    row = points[(points["model"] == rec.pick.model) & (points["quant"] == rec.pick.quant)
                 & (points["mode"] == rec.pick.mode)]
    assert len(row) == 1
    assert row["quality_score"].iloc[0] == pytest.approx(rec.pick.quality_score.value)
    assert row["total_bytes"].iloc[0] == rec.pick.memory.total_bytes
    assert row["retention"].iloc[0] == pytest.approx(rec.pick.retention.value)
    # nothing that fits beats the pick by more than a near-tie
    assert points.loc[points["fits"], "quality_score"].max() <= (
        rec.pick.quality_score.value + TIE_POINTS)
    if "hardware" in params:
        assert row["tg128"].iloc[0] == pytest.approx(rec.pick.speed["tg128"].value)
    else:
        assert points["tg128"].isna().all()


def test_filters_and_speed_floor(fake_advisor: Advisor):
    query = fake_advisor.parse_query(vram="24GB", task="reasoning", family="Qwen3",
                                     hardware=RTX, min_tokens_per_s=50)
    points = chart_points(fake_advisor, query)
    assert set(points["family"]) == {"Qwen3"}
    assert (points["fast_enough"] == (points["tg128"] >= 50)).all()
    assert points["fast_enough"].any() and not points["fast_enough"].all()


def test_records_are_json_ready(fake_advisor: Advisor):
    query = fake_advisor.parse_query(vram="12GB", task="math")
    records = points_records(chart_points(fake_advisor, query))
    assert records and set(records[0]) == set(POINT_COLUMNS)
    assert records[0]["tg128"] is None
    assert all(type(r["fits"]) is bool and type(r["total_bytes"]) is int for r in records)


@pytest.mark.parametrize("params_b, label", [(0.5, "< 4B"), (4.0, "4-10B"), (32.0, "10-35B"),
                                             (70.6, "35B +")])
def test_size_class(params_b, label):
    assert size_class(params_b) == label


# -- files -----------------------------------------------------------------------------------
@pytest.mark.parametrize("name, fmt", [("a.png", "png"), ("b.SVG", "svg")])
def test_check_output_accepts_png_and_svg(name, fmt):
    assert check_output(Path(name)) == fmt


@pytest.mark.parametrize("name", ["chart.jpg", "chart", "chart.png.txt"])
def test_check_output_refuses_other_suffixes(name):
    with pytest.raises(InvalidInputError, match=r"\.png or \.svg, got") as e:
        check_output(Path(name))
    assert e.value.parameter == "out"


@pytest.mark.parametrize("suffix", [".png", ".svg"])
def test_recommendation_chart(matplotlib_agg, fake_advisor: Advisor, tmp_path, suffix):
    query = fake_advisor.parse_query(vram="24GB", task="reasoning", hardware=RTX)
    out = plot_recommendation(fake_advisor.rank(query), chart_points(fake_advisor, query),
                              tmp_path / "sub" / f"rec{suffix}")
    assert_chart_file(out)


@pytest.mark.parametrize("draw, name", [(plot_speed_data, "speed.png"),
                                        (plot_quality_data, "quality.svg")])
def test_data_charts(matplotlib_agg, dataset, tmp_path, draw, name):
    assert_chart_file(draw(dataset, tmp_path / name))


@pytest.mark.parametrize("draw", [plot_speed_data, plot_quality_data])
def test_data_charts_refuse_an_empty_dataset(matplotlib_agg, tmp_path, draw):
    with pytest.raises(InvalidInputError, match="no .* rows"):
        draw(Dataset(), tmp_path / "x.png")
    assert not (tmp_path / "x.png").exists()


# -- the plot command ------------------------------------------------------------------------
@pytest.fixture
def runner(fake_advisor, monkeypatch):
    monkeypatch.setattr(Advisor, "load", classmethod(lambda cls, settings=None: fake_advisor))
    return CliRunner()


def test_plot_recommend_has_the_recommend_options():
    ours = {p.name for p in plot.commands["recommend"].params}
    theirs = {p.name for p in recommend_command.params} - {"as_json"}
    assert ours == theirs | {"out"}


@pytest.mark.parametrize("args, name", [
    (["recommend", "--vram", "24GB", "--task", "reasoning", "--hardware", RTX], "rec.png"),
    (["recommend", "--vram", "16GB", "--task", "coding:0.6,math:0.4", "--context", "8192"],
     "rec.svg"),
    (["data", "--kind", "speed"], "speed.svg"),
    (["data", "--kind", "quality"], "quality.png"),
])
def test_plot_command_writes_the_file(matplotlib_agg, runner, tmp_path, args, name):
    out = tmp_path / name
    result = runner.invoke(plot, [*args, "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert_chart_file(out)
    assert f"wrote {out}" in result.stderr


@pytest.mark.parametrize("args, code, fragment", [
    (["recommend", "--vram", "24GB", "--out", "x.jpg"], 2, "must end in .png or .svg"),
    (["recommend", "--vram", "lots", "--out", "x.png"], 2, "vram"),
    (["recommend", "--vram", "24GB", "--task", "poetry", "--out", "x.png"], 2, "task category"),
    (["recommend", "--vram", "1MB", "--out", "x.png"], 3, "nothing fits"),
    (["recommend", "--out", "x.png"], 2, "--vram"),
    (["data", "--kind", "latency", "--out", "x.png"], 2, "'speed', 'quality'"),
    (["data", "--kind", "speed", "--out", "x.pdf"], 2, "must end in .png or .svg"),
])
def test_plot_command_bad_options(runner, tmp_path, monkeypatch, args, code, fragment):
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(plot, args)
    assert result.exit_code == code, result.output
    assert fragment in result.stderr
    assert not list(tmp_path.iterdir())


def test_quality_points_have_no_nan_scores(fake_advisor: Advisor):
    points = chart_points(fake_advisor, fake_advisor.parse_query(vram="24GB", task="language"))
    assert np.isfinite(points["quality_score"]).all()
    assert points["retention"].between(0, 1.0 + 1e-9).all()
