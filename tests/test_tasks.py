import pytest
from hypothesis import given
from hypothesis import strategies as st

from advisor.vocabulary.errors import InvalidInputError, UnknownNameError
from advisor.vocabulary.tasks import CATEGORIES, TaskCategory, parse_category, parse_task_mix


@pytest.mark.parametrize("text, expected", [
    ("reasoning", {TaskCategory.REASONING: 1.0}),
    ("Reasoning:0.7, coding:0.3", {TaskCategory.REASONING: 0.7, TaskCategory.CODING: 0.3}),
    ("math:1,math:1,coding:2", {TaskCategory.MATH: 0.5, TaskCategory.CODING: 0.5}),
    ("instruction-following", {TaskCategory.INSTRUCTION_FOLLOWING: 1.0}),
    ("code", {TaskCategory.CODING: 1.0}),
    ("reasoning,coding", {TaskCategory.REASONING: 0.5, TaskCategory.CODING: 0.5}),
])
def test_parse_task_mix(text, expected):
    got = parse_task_mix(text)
    assert got.keys() == expected.keys()
    for k, v in expected.items():
        assert got[k] == pytest.approx(v)


@pytest.mark.parametrize("text, error, fragment", [
    ("", InvalidInputError, "empty"),
    ("poetry", UnknownNameError, "Known:"),
    ("reasonin", UnknownNameError, "Did you mean 'reasoning'"),
    ("reasoning:abc", InvalidInputError, "must be a number"),
    ("reasoning:-1", InvalidInputError, ">= 0"),
    ("reasoning:0", InvalidInputError, "not all be zero"),
    ("reasoning:nan", InvalidInputError, "finite"),
    ("reasoning:inf", InvalidInputError, "finite"),
    ("reasoning:1e309", InvalidInputError, "finite"),
    ("reasoning:1e308,coding:1e308", InvalidInputError, "add up to more than"),
    ("math:1.7e308,math:1.7e308", InvalidInputError, "add up to more than"),
])
def test_parse_task_mix_errors(text, error, fragment):
    with pytest.raises(error) as err:
        parse_task_mix(text)
    assert fragment in str(err.value)
    assert err.value.parameter == "task"


@given(st.dictionaries(st.sampled_from(CATEGORIES), st.floats(0.01, 100), min_size=1))
def test_weights_are_normalised(weights):
    mix = parse_task_mix(",".join(f"{k}:{v}" for k, v in weights.items()))
    assert sum(mix.values()) == pytest.approx(1.0)
    assert set(c.value for c in mix) == set(weights)


def test_parse_category_rejects_unknown():
    with pytest.raises(UnknownNameError):
        parse_category("vibes")
