"""Tests for advisor.recommender.candidates: the KV-cache term handed to the ranking."""

from __future__ import annotations

import pandas as pd

from advisor.predictors.kv_cache import KVCacheTerm
from advisor.recommender.candidates import _cache_quality


class _Fake:
    """A quality predictor whose KV term was fitted on two models per cache type."""

    def __init__(self) -> None:
        rows = [{"model": m, "source_id": "s", "cache_type": c, "retention": r,
                 "flags": ["kv_cache_only"]}
                for m, c, r in (("a", "q4_0", 0.97), ("b", "q4_0", 0.99), ("a", "q8_0", 1.0),
                                ("b", "q8_0", 0.998))]
        self.kv = KVCacheTerm().fit(pd.DataFrame(rows))

    def predict(self, frame: pd.DataFrame) -> pd.DataFrame:
        raise NotImplementedError

    def cache_effect(self, cache_type: str, target: str = "retention") -> object:
        return self.kv.effect(cache_type, target)


def test_every_offered_cache_type_gets_its_cost() -> None:
    out = _cache_quality(_Fake(), "v1")
    assert set(out) == {"f16", "q8_0", "q4_0"}
    assert out["f16"].value == 1.0 and out["f16"].provenance == "reference"
    assert out["q4_0"].value == 0.98 and out["q4_0"].provenance == "predicted"
    assert out["q4_0"].low < 0.97 and "quality predictor v1" in out["q4_0"].source


def test_a_predictor_without_the_term_prices_nothing() -> None:
    class Old:
        def predict(self, frame: pd.DataFrame) -> pd.DataFrame:
            raise NotImplementedError

    assert _cache_quality(Old(), "v0") == {}


def test_rows_on_a_quantized_cache_do_not_stand_for_the_weights() -> None:
    from advisor.data.dataset import Dataset
    from advisor.recommender.candidates import _quality_index
    from advisor.vocabulary.schema import MetricKind, QualityRow

    def row(cache: str | None, retention: float) -> QualityRow:
        return QualityRow(source_id="s", model="m", model_as_published="m", quant="Q4_0",
                          quant_as_published="Q4_0", metric="mmlu_acc",
                          metric_kind=MetricKind.ACCURACY, task_category="knowledge",
                          value=retention, baseline_value=1.0, retention=retention,
                          cache_type=cache)

    index = _quality_index(Dataset(quality=[row(None, 0.98), row("f16", 0.96),
                                            row("q4_0", 0.5)]))
    assert index[("m", "Q4_0", "knowledge")].value == 0.97
