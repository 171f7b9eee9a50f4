"""Catalog import and catalog lookup (the capability fit: test_capability.py)."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from advisor.data.catalog import ModelSpec, load_catalog
from advisor.data.dataset import default_measurements_dir
from advisor.data.importers.catalog import import_catalog, swa_period
from advisor.vocabulary.errors import DataFileError, UnknownNameError

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


def test_import_writes_models_and_scores(shared: Path, tmp_path: Path) -> None:
    out = tmp_path / "catalog"
    report = import_catalog(shared, out)
    assert (report.n_models, report.n_recommendable, report.n_scores) == (3, 2, 6)
    catalog = load_catalog(out)
    assert catalog.get("big-8b").recommendable
    blank = catalog.get("Blank-7B")
    assert not blank.recommendable
    assert "n_layers" in blank.not_recommendable_reason
    swa = catalog.get("Swa-4B")
    # "5 local(1024):1 global" over 34 layers: llama.cpp's period-6 pattern, 5 global layers
    assert (swa.sliding_window, swa.n_swa_layers, swa.n_full_attn_layers) == (1024, 29, 5)


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


def test_missing_catalog_folder(tmp_path: Path) -> None:
    with pytest.raises(DataFileError, match="does not exist"):
        load_catalog(tmp_path)


def test_modelspec_requires_swa_layers_with_window() -> None:
    with pytest.raises(ValueError, match="n_swa_layers"):
        ModelSpec(name="x", family="f", params_b=1, n_layers=2, hidden_size=8, n_heads=2,
                  n_kv_heads=1, head_dim=4, vocab_size=10, max_context=64, sliding_window=16)
