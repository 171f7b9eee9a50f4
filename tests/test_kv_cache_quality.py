"""Tests for advisor.predictors.kv_cache: the cost of a quantized KV cache."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from advisor.predictors.kv_cache import KVCacheTerm
from advisor.vocabulary.errors import InvalidInputError, UnknownNameError


def cache_rows() -> pd.DataFrame:
    """q4_0 costs models a few points; q8_0 nothing measurable; one row is not GGUF."""
    rows = []
    for model, q4 in (("a", 0.96), ("b", 0.99), ("c", 0.98), ("d", 0.985)):
        for _benchmark, shift in (("mmlu", 0.0), ("gpqa", -0.01)):
            rows.append({"model": model, "source_id": f"src-{model}", "cache_type": "q4_0",
                         "retention": q4 + shift, "flags": ["kv_cache_only"]})
            rows.append({"model": model, "source_id": f"src-{model}", "cache_type": "q8_0",
                         "retention": 1.0 + shift / 4, "flags": ["kv_cache_only"]})
    rows.append({"model": "e", "source_id": "exl2", "cache_type": "q4_0", "retention": 0.5,
                 "flags": ["kv_cache_only", "not_gguf"]})
    rows.append({"model": "a", "source_id": "src-a", "cache_type": "q4_0", "ppl_ratio": 1.02,
                 "flags": ["kv_cache_only"]})
    rows.append({"model": "f", "source_id": "src-f", "cache_type": "q4_0", "ppl_ratio": 1.01,
                 "flags": ["kv_cache_only"]})
    rows.append({"model": "g", "source_id": "src-g", "cache_type": "q4_0", "retention": 0.2,
                 "flags": ["kv_combined"]})  # weights and cache together: not the cache's cost
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def term() -> KVCacheTerm:
    return KVCacheTerm().fit(cache_rows())


def test_median_over_models_of_each_models_mean(term: KVCacheTerm) -> None:
    q4 = term.effect("q4_0")
    per_model = [0.955, 0.985, 0.975, 0.98]
    assert q4.value == pytest.approx(np.median(per_model))
    assert q4.n_models == 4 and q4.n_rows == 8 and "exl2" not in q4.sources
    assert q4.low < min(per_model) and q4.high > max(per_model)
    assert "median over 4 models" in q4.describe()
    ppl = term.effect("q4_0", "ppl_ratio")
    assert ppl.value == pytest.approx(1.015) and ppl.n_models == 2


def test_f16_is_the_reference(term: KVCacheTerm) -> None:
    f16 = term.effect("F16")
    assert (f16.value, f16.low, f16.high) == (1.0, 1.0, 1.0)
    assert term.cache_types == ["f16", "q4_0", "q8_0"]


@pytest.mark.parametrize(("cache", "target", "error"), [
    ("q5_1", "retention", UnknownNameError),
    ("q8_0", "ppl_ratio", UnknownNameError),   # only one model measured its PPL: not priced
    ("q4_0", "kld", UnknownNameError),
])
def test_unpriced_requests_name_what_is_allowed(term: KVCacheTerm, cache: str, target: str,
                                                error: type[Exception]) -> None:
    with pytest.raises(error) as info:
        term.effect(cache, target)
    assert "q4_0" in str(info.value) or "retention" in str(info.value)


def test_held_out_figures_beside_the_free_baseline(term: KVCacheTerm) -> None:
    q4 = term.held_out_["q4_0/retention"]
    assert q4["models"] == 4 and q4["mean_ae_pts"] < q4["baseline_mean_ae_pts"]
    assert 0.0 <= q4["coverage_90"] <= 1.0


def test_unfitted_term_raises() -> None:
    with pytest.raises(InvalidInputError, match="not fitted"):
        KVCacheTerm().effect("q8_0")
