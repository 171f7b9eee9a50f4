"""Catalog import, common-scale capability and catalog lookup."""

from __future__ import annotations

import csv
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from advisor.data.capability import (
    CATEGORY_PLANS,
    BenchmarkSet,
    block_values,
    fit_line_loo,
    read_capability,
)
from advisor.data.catalog import ModelSpec, load_catalog
from advisor.data.dataset import default_measurements_dir
from advisor.data.importers.catalog import import_catalog, swa_period
from advisor.vocabulary.errors import DataFileError, InvalidInputError, UnknownNameError
from advisor.vocabulary.schema import Provenance
from advisor.vocabulary.tasks import CATEGORIES

ARCH_HEADER = ["model", "family", "params_b", "active_params_b", "n_layers", "hidden_size",
               "n_heads", "n_kv_heads", "head_dim", "vocab_size", "max_context",
               "sliding_window", "swa_pattern_notes", "source", "notes"]
ARCHS = [
    ["Big-8B", "Toy", "8", "8", "32", "4096", "32", "8", "128", "128256", "131072", "", "",
     "S", ""],
    ["Swa-4B", "ToyG", "4", "4", "34", "2560", "8", "4", "256", "262144", "131072", "1024",
     "5 local(1024):1 global", "S", ""],
    ["Blank-7B", "Toy", "7", "7", "", "", "", "", "", "", "", "", "", "S", "no config"],
]
SCORE_HEADER = ["model", "arch_model", "benchmark", "task_category", "score", "scale",
                "shots/setting", "source"]
# OLB scores for 6 models (Big-8B has a base and an instruct variant), a second block for the fit
OLB = [("Big-8B-Instruct", "Big-8B", 30.0), ("Big-8B", "Big-8B", 10.0),
       ("Blank-7B", "Blank-7B", 20.0)]


def _write(path: Path, header: list[str], rows: list[list[str]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)


@pytest.fixture()
def shared(tmp_path: Path) -> Path:
    folder = tmp_path / "shared"
    folder.mkdir()
    _write(folder / "architectures.csv", ARCH_HEADER, ARCHS)
    rows = []
    for variant, arch, score in OLB:
        for bench, cat in (("MMLU-PRO", "knowledge"), ("IFEval", "instruction_following")):
            rows.append([variant, arch, bench, cat, str(score), "OLB", "0-shot; rank 5",
                         "OLB_MIRROR"])
    _write(folder / "scores.csv", SCORE_HEADER, rows)
    return folder


def test_import_writes_models_scores_capability(shared: Path, tmp_path: Path) -> None:
    out = tmp_path / "catalog"
    report = import_catalog(shared, out)
    assert (report.n_models, report.n_recommendable, report.n_scores) == (3, 2, 6)
    catalog = load_catalog(out)
    big = catalog.get("big-8b")
    # the instruct variant is preferred over the base one
    assert big.capability["knowledge"].value == 30.0
    assert big.capability["knowledge"].provenance is Provenance.PUBLISHED
    assert "Big-8B-Instruct" in big.capability["knowledge"].sources
    blank = catalog.get("Blank-7B")
    assert not blank.recommendable
    assert "n_layers" in blank.not_recommendable_reason
    swa = catalog.get("Swa-4B")
    # "5 local(1024):1 global" over 34 layers: llama.cpp's period-6 pattern, 5 global layers
    assert (swa.sliding_window, swa.n_swa_layers, swa.n_full_attn_layers) == (1024, 29, 5)
    assert swa.missing_categories == list(CATEGORIES)


def test_user_added_row_is_loaded_and_incomplete_rows_marked(shared: Path,
                                                             tmp_path: Path) -> None:
    out = tmp_path / "catalog"
    import_catalog(shared, out)
    with (out / "models.csv").open("a", encoding="utf-8", newline="") as fh:
        header = (out / "models.csv").read_text(encoding="utf-8").splitlines()[0].split(",")
        csv.DictWriter(fh, header, lineterminator="\n").writerow(
            {"name": "Mine-1B", "family": "Mine", "params_b": "1.0", "n_layers": "16",
             "hidden_size": "2048", "n_heads": "32", "n_kv_heads": "8", "head_dim": "64",
             "max_context": "131072"})
    mine = load_catalog(out).get("mine-1b")
    assert not mine.recommendable and "vocab_size" in mine.not_recommendable_reason


@pytest.mark.parametrize(("text", "period"), [
    ("5 local(512):1 global; local RoPE base 10k", 6),
    ("alternating local(4096)/global(8192) layers 1:1, first layer local", 2),
    ("", None),
    ("global only", None),
])
def test_swa_period(text: str, period: int | None) -> None:
    assert swa_period(text) == period


@pytest.mark.parametrize(("edit", "match"), [
    (lambda rows: rows[0].__setitem__(4, "32.5"), "n_layers must be a whole number"),
    (lambda rows: rows[1].__setitem__(12, "unknown"), "no fact says which layers use it"),
    (lambda rows: rows.append(list(rows[0])), "duplicates"),
])
def test_import_rejects_bad_architectures(tmp_path: Path, shared: Path, edit, match: str) -> None:
    rows = [list(r) for r in ARCHS]
    edit(rows)
    _write(shared / "architectures.csv", ARCH_HEADER, rows)
    with pytest.raises(DataFileError, match=match):
        import_catalog(shared, tmp_path / "out")


def test_import_rejects_score_for_unknown_model(tmp_path: Path, shared: Path) -> None:
    _write(shared / "scores.csv", SCORE_HEADER,
           [["X", "Nope-1B", "MMLU", "knowledge", "1", "p", "", "SRC"]])
    with pytest.raises(DataFileError, match="Nope-1B"):
        import_catalog(shared, tmp_path / "out")


def _scores(rows: list[tuple[str, str, str, float, str]]) -> pd.DataFrame:
    return pd.DataFrame([{"model": m, "variant": v, "benchmark": b, "category": "x",
                          "score": s, "scale": "", "setting": setting,
                          "source_key": "OLB_MIRROR", "source": "OLB_MIRROR"}
                         for m, v, b, s, setting in rows])


def test_block_values_prefers_better_ranked_duplicate_and_complete_variant() -> None:
    frame = _scores([
        ("A", "A-Instruct", "BBH", 10.0, "3-shot; rank 900"),
        ("A", "A-Instruct", "BBH", 20.0, "3-shot; rank 5"),
        ("B", "B-Instruct", "BBH", 50.0, "rank 1"),   # lacks MuSR: falls back to base
        ("B", "B-Base", "BBH", 40.0, "rank 2"),
        ("B", "B-Base", "MuSR", 60.0, "rank 2"),
        ("A", "A-Instruct", "MuSR", 30.0, "rank 5"),
        ("A", "A-Instruct", "MuSR", 99.0, "rank 900"),
    ])
    values = block_values(frame, BenchmarkSet("OLB_MIRROR", ("BBH", "MuSR")))
    assert values == {"A": (25.0, "A-Instruct"), "B": (50.0, "B-Base")}


@given(st.floats(-5, 5), st.floats(-50, 50),
       st.lists(st.integers(0, 10_000).map(lambda i: i / 100), min_size=3, max_size=12,
                unique=True))
def test_line_fit_recovers_exact_lines(slope: float, intercept: float, xs: list[float]) -> None:
    s, b, mae = fit_line_loo(xs, [intercept + slope * x for x in xs])
    assert s == pytest.approx(slope, abs=1e-6)
    assert b == pytest.approx(intercept, abs=1e-4)
    assert mae == pytest.approx(0, abs=1e-4)


@pytest.mark.parametrize(("x", "y", "match"), [
    ([1, 2], [1, 2], "at least 3"),
    ([1, 2, 3], [1, 2], "at least 3"),
    ([2, 2, 2], [1, 2, 3], "distinct"),
])
def test_line_fit_errors(x: list[float], y: list[float], match: str) -> None:
    with pytest.raises(InvalidInputError, match=match):
        fit_line_loo(x, y)


# ---- the shipped catalog (measurements/catalog, built from the shared data) ----

SHIPPED = default_measurements_dir() / "catalog"


@pytest.fixture(scope="module")
def shipped():
    return load_catalog(SHIPPED)


def test_shipped_catalog_lookup_and_filter(shipped) -> None:
    assert len(shipped) >= 40
    assert shipped.get("LLAMA-3.1-8b").n_kv_heads == 8
    assert {m.name for m in shipped.filter(family="gemma 3")} >= {"gemma-3-1b", "gemma-3-27b"}
    assert [m.name for m in shipped.filter(names=["qwen3-8b"])] == ["Qwen3-8B"]
    assert load_catalog(SHIPPED) is shipped  # cached per folder


@pytest.mark.parametrize(("call", "match"), [
    (lambda c: c.get("Llama-3.1-8"), "Did you mean 'Llama-3.1-8B'"),
    (lambda c: c.filter(family="Lama 3.1"), "unknown model family"),
    (lambda c: c.filter(names=["nope"]), "unknown model 'nope'"),
])
def test_shipped_catalog_unknown_names(shipped, call, match: str) -> None:
    with pytest.raises(UnknownNameError, match=match):
        call(shipped)


def test_shipped_capability_is_complete_and_sourced(shipped) -> None:
    rows = read_capability(SHIPPED / "capability.csv")
    assert {r.category for r in rows} == set(CATEGORIES) == set(CATEGORY_PLANS)
    for row in rows:
        if row.provenance is Provenance.PREDICTED:
            assert row.error_mae is not None and row.n_fit_models and "->" in row.sources
        else:
            assert row.error_mae is None
    # every recommendable model has at least the four OLB-scale categories or a prediction
    llama = shipped.get("Llama-3.1-8B")
    assert set(llama.capability) == set(CATEGORIES)


@pytest.mark.parametrize(("small", "large", "category"), [
    ("Qwen2.5-1.5B", "Qwen2.5-7B", "knowledge"),
    ("Qwen2.5-7B", "Qwen2.5-32B", "reasoning"),
    ("Llama-3.1-8B", "Llama-3.1-70B", "math"),
    ("gemma-2-2b", "gemma-2-27b", "knowledge"),
    ("Qwen3-0.6B", "Qwen3-32B", "coding"),
    ("gemma-3-12b", "gemma-3-27b", "language"),
    ("SmolLM2-135M", "SmolLM2-1.7B", "reasoning"),
])
def test_shipped_larger_models_score_higher(shipped, small: str, large: str,
                                            category: str) -> None:
    assert shipped.get(large).capability[category].value > \
        shipped.get(small).capability[category].value


def test_capability_file_errors_name_the_line(tmp_path: Path, shared: Path) -> None:
    out = tmp_path / "catalog"
    import_catalog(shared, out)
    with (out / "capability.csv").open("a", encoding="utf-8") as fh:
        fh.write("Ghost-1B,math,10,published,,,s,src,\n")
    with pytest.raises(DataFileError, match=r"capability\.csv:\d+: model 'Ghost-1B'"):
        load_catalog(out)


def test_missing_catalog_folder(tmp_path: Path) -> None:
    with pytest.raises(DataFileError, match="does not exist"):
        load_catalog(tmp_path)


def test_modelspec_requires_swa_layers_with_window() -> None:
    with pytest.raises(ValueError, match="n_swa_layers"):
        ModelSpec(name="x", family="f", params_b=1, n_layers=2, hidden_size=8, n_heads=2,
                  n_kv_heads=1, head_dim=4, vocab_size=10, max_context=64, sliding_window=16)
