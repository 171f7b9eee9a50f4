"""Generated task suites: deterministic, every category, answers verified independently."""

from __future__ import annotations

import re

import pytest

from advisor.measure.task_suites import _run, build_suites, load_facts
from advisor.vocabulary.tasks import CATEGORIES, TaskCategory


def test_deterministic_and_covering_every_category():
    a, b = build_suites(7, 5), build_suites(7, 5)
    assert a == b
    assert build_suites(8, 5) != a
    assert {i.category.value for i in a} == set(CATEGORIES)
    assert len(a) == 5 * len(CATEGORIES)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_items_are_well_formed(seed):
    for item in build_suites(seed, 10):
        assert 2 <= len(item.choices) <= 4
        assert len(set(item.choices)) == len(item.choices)
        assert 0 <= item.answer < len(item.choices)
        assert all(c.startswith(" ") for c in item.choices)


def _check(item):  # an independent verifier per category
    right = item.choices[item.answer].strip()
    if item.category is TaskCategory.MATH:
        m = re.search(r"What is (\d+) ([-+*]) (\d+)\?", item.prompt)
        if m:
            a, op, b = int(m[1]), m[2], int(m[3])
            return int(right) == {"+": a + b, "-": a - b, "*": a * b}[op]
        n = [int(x) for x in re.findall(r"\d+", item.prompt)]
        return int(right) == n[0] + n[1] - n[2]
    if item.category is TaskCategory.CODING:
        code = item.prompt.split("```python\n")[1].split("\n```")[0]
        return _run(code) == right
    if item.category is TaskCategory.KNOWLEDGE:
        facts = load_facts()
        return any(right in row.values() and row["country"] in item.prompt for row in facts)
    if item.category is TaskCategory.LANGUAGE:
        m = re.search(r"letters '(\w+)'", item.prompt)
        return sorted(m[1]) == sorted(right) if m else right.isalpha()
    if item.category is TaskCategory.REASONING:
        return right in item.prompt or right in ("Yes", "No")
    return right in ("YES", "4", "green", "red green blue", '{"ok": true}')


def test_every_answer_checks_out():
    items = build_suites(1234, 16)
    bad = [i.item_id for i in items if not _check(i)]
    assert bad == []


@pytest.mark.parametrize(("code", "out"), [("print(7 // 2)", "3"), ("print(len('ab' * 3))", "6")])
def test_snippets_are_run_for_their_output(code, out):
    assert _run(code) == out
