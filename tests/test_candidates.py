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
