"""The fitted capability model: the factor model, the table it writes, and what it says about
the shipped catalog (orderings an expert would agree with)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from capability_fixtures import synthetic_catalog, write_synthetic_catalog

from advisor.data.dataset import default_measurements_dir
from advisor.predictors.capability import (
    CAPABILITY_FILE,
    CapabilityModel,
    capability_card,
    fit_capability,
    load_capability,
    write_capability_table,
)
from advisor.predictors.capability_data import ANCHORS, CAPABILITY_CATEGORIES, chance, logit
from advisor.predictors.capability_eval import capability_metrics, evaluate_capability
from advisor.predictors.factor_model import CovariateFactorModel
from advisor.vocabulary.errors import ArtifactError, DataFileError, InvalidInputError
from advisor.vocabulary.schema import Provenance


# ---- the factor model ----
def _low_rank(n: int = 120, d: int = 30, seed: int = 0) -> tuple[np.ndarray, np.ndarray,
                                                                   np.ndarray]:
    rng = np.random.default_rng(seed)
    X = np.column_stack([np.ones(n), rng.normal(size=n)])
    z = X @ np.array([[0.0, 0.0], [1.0, -0.5]]) + rng.normal(size=(n, 2))
    Y = 0.5 + z @ rng.normal(size=(d, 2)).T + rng.normal(scale=0.1, size=(n, d))
    return Y, X, rng.random((n, d)) < 0.4


def test_factor_model_fills_hidden_entries_and_widens_for_empty_rows() -> None:
    Y, X, seen = _low_rank()
    train = np.where(seen, Y, np.nan)
    train[:10] = np.nan  # ten rows with nothing observed: covariates only
    model = CovariateFactorModel(2, noise_floor=0.001, random_state=1).fit(train, X)
    mean, var = model.predict(train, X)
    hidden = ~seen
    hidden[:10] = False
    err = np.abs(mean - Y)[hidden]
    assert np.median(err) < 0.5 * np.median(np.abs(Y - Y.mean(axis=0))[hidden])
    assert var[:10].mean() > 1.5 * var[10:].mean()  # no scores: the prior's wider interval
    inside = (np.abs(mean - Y) <= 1.645 * np.sqrt(var))[hidden]
    assert 0.8 < inside.mean() < 0.98


@pytest.mark.parametrize(("kw", "Y", "X", "match"), [
    ({}, np.ones((3, 2)), np.ones((4, 1)), "same n"),
    ({}, np.ones((3, 2)), np.full((3, 1), np.nan), "X .covariates. must be finite"),
    ({}, np.array([[np.inf, 1.0]]), np.ones((1, 1)), "finite or NaN"),
    ({"n_factors": 0}, np.ones((3, 2)), np.ones((3, 1)), "n_factors must be"),
    ({"noise_floor": 0.0}, np.ones((3, 2)), np.ones((3, 1)), "noise_floor must be > 0"),
])
def test_factor_model_rejects_bad_input(kw, Y, X, match: str) -> None:
    with pytest.raises(InvalidInputError, match=match):
        CovariateFactorModel(**kw).fit(Y, X)


def test_chance_floors() -> None:
    floors = chance(pd.Index(["AA 2026-07-10: GPQA Diamond", "reported: MMLU-Pro",
                              "reported: MMLU", "reported: AIME 2025"]))
    assert floors.tolist() == [25.0, 10.0, 25.0, 0.0]


# ---- the capability model on a synthetic catalog ----
@pytest.fixture(scope="module")
def synthetic() -> CapabilityModel:
    scores, models = synthetic_catalog()
    return CapabilityModel().fit(scores, models)


def test_table_covers_every_model_mode_and_category(synthetic: CapabilityModel) -> None:
    rows = synthetic.table()
    _, models = synthetic_catalog()
    expected = sum(2 if m == "hybrid" else 1 for m in models["modes"]) * len(ANCHORS)
    assert len(rows) == expected
    for row in rows:
        assert row.low <= row.value <= row.high
        assert row.anchor == ANCHORS[row.category].benchmark
        if row.provenance is Provenance.PUBLISHED:
            assert row.sources.startswith(f"published: {row.anchor}")
            assert synthetic.values_.at[f"{row.model}|{row.mode}", row.anchor] == row.value
    empty = [r for r in rows if r.model == "Unscored-8B"]
    assert {r.mode for r in empty} == {"thinking", "non-thinking"}
    assert all(r.provenance is Provenance.PREDICTED and r.n_scores == 0 for r in empty)

    def width(r) -> float:  # on the fitted (logit) scale, where widths compare across levels
        floor = chance(pd.Index([r.anchor]))
        return float(np.diff(logit(np.array([r.low, r.high]), floor))[0])

    scored = [width(r) for r in rows if r.n_scores > 5 and r.provenance is Provenance.PREDICTED]
    assert min(width(r) for r in empty) > np.median(scored)


def test_base_and_unstated_mode_rows_are_not_fitted(synthetic: CapabilityModel) -> None:
    assert {1.0, 2.0}.isdisjoint(set(synthetic.values_.stack().round(3)))
    assert not any(k.endswith(("|base", "|default")) for k in synthetic.values_.index)


def test_thinking_and_size_orderings_are_learned(synthetic: CapabilityModel) -> None:
    pred = synthetic.predict().pivot_table(index="entity", columns="category",
                                           values="value")
    hybrids = [k.rsplit("|", 1)[0] for k in pred.index if k.endswith("|thinking")]
    gains = [pred.at[f"{m}|thinking", "math"] - pred.at[f"{m}|non-thinking", "math"]
             for m in hybrids]
    assert np.mean(gains) > 5


def test_an_outlying_published_anchor_is_set_aside() -> None:
    scores, models = synthetic_catalog(n_models=80)
    anchor = ANCHORS["coding"].benchmark
    coding = scores[scores["benchmark"] == anchor]
    target = coding.loc[coding["score"].astype(float).idxmax()]
    scores.loc[target.name, "score"] = "0.5"  # a failed run of the best coder
    rows = CapabilityModel().fit(scores, models).table()
    row = next(r for r in rows if (r.model, r.mode, r.category)
               == (target["model"], target["mode"], "coding"))
    assert row.provenance is Provenance.PREDICTED and "set aside" in row.sources
    assert row.value > 5


def test_missing_anchor_is_a_clear_error() -> None:
    scores, models = synthetic_catalog()
    with pytest.raises(DataFileError, match="anchor benchmarks with fewer than 3"):
        CapabilityModel(anchors={"math": "nowhere: X"}).fit(scores, models)


def test_table_round_trip_and_loader_errors(synthetic: CapabilityModel, tmp_path: Path) -> None:
    with pytest.raises(ArtifactError, match="quant-advisor train"):
        load_capability(tmp_path)
    rows = synthetic.table()
    write_capability_table(tmp_path / CAPABILITY_FILE, rows)
    loaded = load_capability(tmp_path)
    first = rows[0]
    assert loaded[(first.model, first.mode)][first.category].value == first.value
    assert set(loaded[(first.model, first.mode)]) == set(CAPABILITY_CATEGORIES)
    with (tmp_path / CAPABILITY_FILE).open("a", encoding="utf-8") as fh:
        fh.write((tmp_path / CAPABILITY_FILE).read_text().splitlines()[1] + "\n")
    with pytest.raises(DataFileError, match=r"capability\.csv:\d+: second"):
        load_capability(tmp_path)


def test_evaluation_and_card_on_a_synthetic_catalog(tmp_path: Path) -> None:
    model = fit_capability(write_synthetic_catalog(tmp_path / "catalog"))
    metrics, section = evaluate_capability(model)
    for how in ("score", "model"):
        figures = metrics[f"capability_by_{how}"]
        assert set(figures) == {*CAPABILITY_CATEGORIES, "all"}
        assert figures["all"]["mean_ae"] < figures["all"]["baseline_mean_ae"]
    assert "### Leave models out" in section
    card = capability_card(model)
    assert len(card["data_hash"]) == 16 and card["anchors"]["math"] == ANCHORS["math"].benchmark


def test_metrics_of_known_rows() -> None:
    rows = pd.DataFrame({"hold_out": "score", "category": ["math", "math"],
                         "entity": ["A|thinking", "B|thinking"], "actual": [50.0, 60.0],
                         "pred": [52.0, 54.0], "low": [45.0, 55.0], "high": [55.0, 58.0],
                         "baseline": [40.0, np.nan]})
    math = capability_metrics(rows)["capability_by_score"]["math"]
    assert (math["mean_ae"], math["coverage_90"], math["baseline_mean_ae"]) == (4.0, 0.5, 10.0)
    assert math["mean_ae_with_baseline"] == 2.0


# ---- the shipped catalog ----
@pytest.fixture(scope="module")
def shipped() -> pd.DataFrame:
    model = fit_capability(default_measurements_dir() / "catalog")
    table = pd.DataFrame([r.model_dump() for r in model.table()])
    return table.set_index(["model", "mode", "category"])


def _v(table: pd.DataFrame, model: str, mode: str, category: str) -> float:
    return float(table.at[(model, mode, category), "value"])


@pytest.mark.parametrize(("better", "worse", "categories"), [
    (("Qwen3-32B", "thinking"), ("phi-4", "non-thinking"), ("reasoning", "math")),
    (("Qwen3-32B", "thinking"), ("Qwen2.5-32B", "non-thinking"), ("reasoning", "math")),
    (("Qwen3-32B", "thinking"), ("Qwen3-32B", "non-thinking"), ("reasoning", "math")),
    # a 2026 30B-class MoE above a 2024 14B dense model
    (("Qwen3.5-35B-A3B", "thinking"), ("Qwen2.5-14B", "non-thinking"),
     ("reasoning", "math", "coding", "knowledge")),
    (("Qwen3.6-35B-A3B", "thinking"), ("phi-4", "non-thinking"),
     ("reasoning", "math", "coding")),
    (("gpt-oss-120b", "high"), ("gpt-oss-120b", "low"), ("reasoning", "math")),
    (("gpt-oss-120b", "high"), ("gpt-oss-20b", "high"), ("reasoning", "knowledge")),
    # bigger models of one family above smaller ones
    (("Qwen2.5-72B", "non-thinking"), ("Qwen2.5-7B", "non-thinking"),
     ("reasoning", "knowledge", "coding")),
    (("Qwen3-32B", "thinking"), ("Qwen3-4B", "thinking"), ("reasoning", "math", "coding")),
    (("Qwen3.5-27B", "thinking"), ("Qwen3.5-4B", "thinking"), ("reasoning", "math")),
    (("gemma-3-27b", "non-thinking"), ("gemma-3-4b", "non-thinking"),
     ("reasoning", "knowledge", "coding")),
    (("gemma-4-31B-it", "thinking"), ("gemma-4-E4B-it", "thinking"),
     ("reasoning", "math", "coding")),
    (("Llama-3.1-70B", "non-thinking"), ("Llama-3.1-8B", "non-thinking"),
     ("reasoning", "knowledge", "coding")),
    (("SmolLM2-1.7B", "non-thinking"), ("SmolLM2-135M", "non-thinking"),
     ("reasoning", "knowledge")),
    (("DeepSeek-R1-Distill-Qwen-32B", "thinking"), ("DeepSeek-R1-Distill-Qwen-7B", "thinking"),
     ("reasoning", "coding")),
])
def test_shipped_orderings(shipped: pd.DataFrame, better: tuple[str, str],
                           worse: tuple[str, str], categories: tuple[str, ...]) -> None:
    for category in categories:
        assert _v(shipped, *better, category) > _v(shipped, *worse, category), category


@pytest.mark.parametrize(("model", "mode", "top"), [
    ("gpt-oss-120b", "high", True), ("Qwen3.5-35B-A3B", "thinking", True),
    ("Qwen3.6-27B", "thinking", True), ("gemma-4-31B-it", "thinking", True),
    ("gemma-4-26B-A4B-it", "thinking", True), ("GLM-4.5-Air", "thinking", False),
    ("Qwen3-30B-A3B-Thinking-2507", "thinking", False),
])
def test_shipped_current_models_lead_their_size_class(shipped: pd.DataFrame, model: str,
                                                      mode: str, top: bool) -> None:
    """In reasoning, among the recommendable models and modes of 0.5x-2x its total
    parameters: above every one released before 2025-06, and (``top``) in the top fifth."""
    catalog = pd.read_csv(default_measurements_dir() / "catalog" / "models.csv",
                          keep_default_na=False)
    params = dict(zip(catalog["name"], pd.to_numeric(catalog["params_b"], errors="coerce"),
                      strict=True))
    released = dict(zip(catalog["name"], catalog["released"], strict=True))
    ok = set(catalog.loc[catalog["recommendable"], "name"])
    reasoning = shipped.xs("reasoning", level="category")["value"]
    names = reasoning.index.get_level_values("model")
    peers = reasoning[[m in ok and 0.5 <= params[m] / params[model] <= 2 for m in names]]
    older = peers[[bool(released[m]) and released[m] < "2025-06"
                   for m in peers.index.get_level_values("model")]]
    assert len(older) >= 2 and (peers[(model, mode)] > older).all()
    if top:
        assert peers.rank(ascending=False)[(model, mode)] <= max(2, 0.2 * len(peers))


def test_shipped_table_is_complete_and_honest(shipped: pd.DataFrame) -> None:
    catalog = pd.read_csv(default_measurements_dir() / "catalog" / "models.csv")
    names = set(catalog["name"])
    assert set(shipped.index.get_level_values("model")) == names
    assert set(shipped.index.get_level_values("category")) == set(CAPABILITY_CATEGORIES)
    assert (shipped["low"] <= shipped["value"]).all()
    assert (shipped["value"] <= shipped["high"]).all()
    published = shipped[shipped["provenance"] == "published"]
    predicted = shipped[shipped["provenance"] == "predicted"]
    assert len(published) > 400 and len(predicted) > 400
    unscored = predicted[predicted["n_scores"] == 0]
    assert len(unscored) > 10
    assert (unscored["high"] - unscored["low"]).median() > \
        (published["high"] - published["low"]).median()


@pytest.mark.slow
def test_shipped_fit_beats_its_baseline_held_out() -> None:
    """Both hold-outs, every category: the fit's mean absolute error is below the kNN
    baseline's on the same held-out anchor scores (the figures EVALUATION.md reports)."""
    model = fit_capability(default_measurements_dir() / "catalog")
    metrics, _ = evaluate_capability(model)
    for how in ("score", "model"):
        for category, figures in metrics[f"capability_by_{how}"].items():
            assert figures["mean_ae_with_baseline"] < figures["baseline_mean_ae"], \
                (how, category, figures)
            assert figures["coverage_90"] > 0.75, (how, category, figures)
