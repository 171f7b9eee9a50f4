"""The answer's explanation in words: what it says of the pick's speed and of faster choices."""

from __future__ import annotations

import pytest

from advisor.recommender.explain import explain, faster_alternative
from advisor.vocabulary.tasks import TaskCategory
from advisor.vocabulary.units import format_bytes


def _at(candidate, tokens_per_s):
    """``candidate`` with its generation speed set (None: unknown)."""
    speed = {k: v for k, v in candidate.speed.items() if k != "tg128"}
    if tokens_per_s is not None:
        speed["tg128"] = candidate.speed["tg128"].model_copy(update={"value": tokens_per_s})
    return candidate.model_copy(update={"speed": speed})


@pytest.fixture(scope="module")
def answer(fake_advisor):
    rec = fake_advisor.recommend(vram="24GB", task="reasoning",
                                 hardware="NVIDIA GeForce RTX 3090", alternatives=6)
    assert "tg128" in rec.pick.speed and len(rec.alternatives) == 6
    return rec


def test_the_best_scoring_alternative_at_twice_the_speed_is_named(answer):
    pick = _at(answer.pick, 10.0)
    alts = [_at(a, 15.0) for a in answer.alternatives]
    alts[1], alts[4] = _at(alts[1], 30.0), _at(alts[4], 20.0)
    expected = max(alts[1], alts[4], key=lambda a: a.quality_score.value)
    assert faster_alternative(pick, alts) is expected
    text = explain(pick, alts, answer.pareto_front, answer.request.budget_bytes,
                   {TaskCategory.REASONING: 1.0})
    tg = expected.speed["tg128"].value
    assert (f"For speed: {expected.model} at {expected.quant} generates about {tg:.0f} "
            f"tokens/s, {tg / 10:.1f}x the pick, and scores "
            f"{expected.quality_score.value:.1f}.") in text


@pytest.mark.parametrize("pick_tg, alt_tg", [(10.0, 19.9), (None, 50.0), (10.0, None),
                                             (0.0, 50.0)])
def test_no_speed_sentence_without_one_twice_as_fast(answer, pick_tg, alt_tg):
    pick = _at(answer.pick, pick_tg)
    alts = [_at(a, alt_tg) for a in answer.alternatives]
    assert faster_alternative(pick, alts) is None
    text = explain(pick, alts, answer.pareto_front, answer.request.budget_bytes,
                   {TaskCategory.REASONING: 1.0})
    assert "For speed:" not in text


def test_a_split_pick_says_how_much_ram_it_leaves(fake_advisor):
    rec = fake_advisor.recommend(vram="12GB", ram="64GB", task="coding",
                                 hardware="NVIDIA GeForce RTX 3090")
    split = next(c for c in [rec.pick, *rec.alternatives] if c.placement is not None)
    mix = {TaskCategory.CODING: 1.0}
    text = explain(split, [], rec.pareto_front, rec.request.budget_bytes, mix, ram_bytes=64 * 10**9)
    left = format_bytes(64 * 10**9 - split.placement.cpu_bytes)
    assert f"leaving {left} of the 64 GB of RAM to the system and other programs." in text
    assert "leaving" not in explain(split, [], rec.pareto_front, rec.request.budget_bytes, mix)
