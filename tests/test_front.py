"""The Pareto front of quality against memory, and its cache by request shape."""

from __future__ import annotations

import numpy as np

from advisor.recommender.front import FrontCache, pareto_front


def test_steps_smaller_than_min_gain_are_left_out():
    score = np.array([10.0, 10.05, 10.2, 11.0, 10.9, 12.0])
    total = np.array([1, 2, 3, 4, 5, 6])
    idx = np.arange(6)
    assert pareto_front(idx, score, total) == [0, 1, 2, 3, 5]
    assert pareto_front(idx, score, total, min_gain=0.1) == [0, 2, 3, 5]
    assert pareto_front(idx, score, total, min_gain=1.5) == [0, 5]


def test_a_shape_computes_its_front_and_points_once_and_budgets_only_change_fits(fake_advisor):
    small = fake_advisor.recommend(vram="8GB", task="reasoning")
    large = fake_advisor.recommend(vram="24GB", task="reasoning")
    assert [(p.model, p.quant) for p in small.pareto_front] == \
        [(p.model, p.quant) for p in large.pareto_front]
    for answer, budget in ((small, 8e9), (large, 24e9)):
        assert all(p.fits == (p.total_bytes <= budget) for p in answer.pareto_front)
    other = fake_advisor.recommend(vram="8GB", task="coding")
    assert [p.quality_score for p in other.pareto_front] != \
        [p.quality_score for p in small.pareto_front]


def test_points_are_built_once_per_key():
    cache: FrontCache[tuple[int, bool]] = FrontCache(size=2)
    made = []

    def make(i: int, fit: bool) -> tuple[int, bool]:
        made.append((i, fit))
        return (i, fit)

    front = np.array([0, 2])
    fits = np.array([True, False, False])
    assert cache.points(("a",), front, fits, make) == [(0, True), (2, False)]
    assert cache.points(("a",), front, ~fits, make) == [(0, False), (2, True)]
    assert len(made) == 4  # both values of fits for 2 rows, once
    assert cache.points(None, front, fits, make) == [(0, True), (2, False)]
    assert len(made) == 8  # no key: built afresh, not kept
