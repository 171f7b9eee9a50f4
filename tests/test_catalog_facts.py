"""Catalog facts: one cited value per (model, field); disagreements settled on the record."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from advisor.data.catalog import load_catalog
from advisor.data.dataset import default_measurements_dir
from advisor.data.importers.catalog_facts import Fact, parse_count, precision, read_facts, resolve
from advisor.vocabulary.errors import DataFileError

WHERE = Path("resolutions.csv")


def _fact(model: str, field: str, value: str, source: str = "S") -> Fact:
    return Fact(model, field, value, source)


@pytest.mark.parametrize(("text", "billions"), [
    ("32.8B", 32.8), ("270M", 0.27), ("1T", 1000.0), ("~550M", 0.55),
    ("26895998464", 26.895998464), ("7", 7.0), ("", None), ("about 7B", None),
])
def test_parse_count(text: str, billions: float | None) -> None:
    assert parse_count(text) == billions


def test_precision_prefers_exact_counts() -> None:
    assert precision("26895998464") > precision("70.6B") > precision("70B")


def test_gathered_fact_replaces_the_first_catalogs_but_not_a_more_precise_count() -> None:
    old = [_fact("M", "max_context", "131072", "OLD"), _fact("M", "params_total", "70.6B", "OLD")]
    new = [_fact("M", "max_context", "32768", "NEW"), _fact("M", "params_total", "70B", "NEW")]
    got = {f.field: f for f in resolve(old, new, {}, WHERE)}
    assert (got["max_context"].value, got["max_context"].source) == ("32768", "NEW")
    assert (got["params_total"].value, got["params_total"].source) == ("70.6B", "OLD")


def test_the_most_precise_count_wins_among_gathered_facts() -> None:
    new = [_fact("M", "params_total", "1B", "CARD"), _fact("M", "params_total", "1631750144", "GGUF")]
    (fact,) = resolve([], new, {}, WHERE)
    assert (fact.value, fact.source) == ("1631750144", "GGUF")


def test_disagreeing_facts_must_be_settled() -> None:
    new = [_fact("M", "max_context", "131072", "A"), _fact("M", "max_context", "163840", "B")]
    with pytest.raises(DataFileError, match=r"M\.max_context: \['131072', '163840'\]"):
        resolve([], new, {}, WHERE)
    settled = {("M", "max_context"): Fact("M", "max_context", "131072", "", "resolved: report")}
    (fact,) = resolve([], new, settled, WHERE)
    assert (fact.value, fact.source, fact.notes) == ("131072", "A", "resolved: report")
    wrong = {("M", "max_context"): Fact("M", "max_context", "4096", "", "x")}
    with pytest.raises(DataFileError, match="which no source gives"):
        resolve([], new, wrong, WHERE)


def test_a_fact_needs_a_source(tmp_path: Path) -> None:
    (tmp_path / "arch" / "x").mkdir(parents=True)
    (tmp_path / "architectures.csv").write_text("model,family\n", encoding="utf-8")
    with (tmp_path / "arch" / "x" / "arch.csv").open("w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows([["model", "field", "value", "source", "notes"],
                                  ["M", "n_layers", "32", "", ""]])
    with pytest.raises(DataFileError, match=r"arch\.csv:2: fact M\.n_layers has no source"):
        read_facts(tmp_path)


# ---- the shipped catalog -------------------------------------------------------------------

SHIPPED = default_measurements_dir() / "catalog"


def test_every_shipped_fact_and_model_row_is_cited() -> None:
    with (SHIPPED / "facts.csv").open(encoding="utf-8", newline="") as fh:
        facts = list(csv.DictReader(fh))
    assert facts and all(f["source"].strip() for f in facts), \
        [f for f in facts if not f["source"].strip()][:3]
    cited = {f["model"] for f in facts}
    for model in load_catalog(SHIPPED).models:
        assert model.name in cited and model.sources, model.name


def test_shipped_catalog_is_current() -> None:
    models = load_catalog(SHIPPED).models
    recent = [m for m in models if m.released and m.released >= "2025-06"]
    assert len(models) >= 60 and len(recent) >= 30
