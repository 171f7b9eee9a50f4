"""Task categories and task mixes (``reasoning:0.7,coding:0.3``)."""

from __future__ import annotations

import math
from enum import StrEnum

from advisor.vocabulary.errors import InvalidInputError, UnknownNameError


class TaskCategory(StrEnum):
    REASONING = "reasoning"
    MATH = "math"
    CODING = "coding"
    KNOWLEDGE = "knowledge"
    INSTRUCTION_FOLLOWING = "instruction_following"
    LANGUAGE = "language"


CATEGORIES: tuple[str, ...] = tuple(c.value for c in TaskCategory)

_ALIASES = {
    "code": "coding",
    "maths": "math",
    "instruction": "instruction_following",
    "instructions": "instruction_following",
    "if": "instruction_following",
    "chat": "instruction_following",
    "writing": "language",
}


def parse_category(name: str, *, parameter: str = "task") -> TaskCategory:
    """A category from its name (case-insensitive; ``-`` or space for ``_``)."""
    key = name.strip().lower().replace("-", "_").replace(" ", "_")
    key = _ALIASES.get(key, key)
    if key not in CATEGORIES:
        raise UnknownNameError("task category", name, CATEGORIES, parameter=parameter)
    return TaskCategory(key)


def parse_task_mix(text: str, *, parameter: str = "task") -> dict[TaskCategory, float]:
    """Parse ``reasoning`` or ``reasoning:0.7,coding:0.3`` into weights that sum to 1.

    >>> parse_task_mix("reasoning:3,coding:1")
    {<TaskCategory.REASONING: 'reasoning'>: 0.75, <TaskCategory.CODING: 'coding'>: 0.25}
    """
    if not text or not text.strip():
        raise InvalidInputError(
            f"{parameter} is empty; give a category ({', '.join(CATEGORIES)}) or a mix "
            "such as 'reasoning:0.7,coding:0.3'", parameter=parameter)
    weights: dict[TaskCategory, float] = {}
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        name, _, raw_weight = part.partition(":")
        category = parse_category(name, parameter=parameter)
        try:
            weight = float(raw_weight) if raw_weight.strip() else 1.0
        except ValueError as e:
            raise InvalidInputError(
                f"{parameter}: weight of {name.strip()!r} must be a number, got {raw_weight!r}",
                parameter=parameter) from e
        if not math.isfinite(weight) or weight < 0:
            raise InvalidInputError(
                f"{parameter}: weight of {name.strip()!r} must be a finite number >= 0, "
                f"got {raw_weight!r}", parameter=parameter)
        weights[category] = weights.get(category, 0.0) + weight
    total = sum(weights.values())
    if total <= 0:
        raise InvalidInputError(
            f"{parameter}: weights must not all be zero, got {text!r}", parameter=parameter)
    if not math.isfinite(total):  # each weight is finite, their sum overflowed
        raise InvalidInputError(
            f"{parameter}: the weights add up to more than the largest number there is, got "
            f"{text[:200]!r}; allowed: finite weights, e.g. 'reasoning:0.7,coding:0.3'",
            parameter=parameter)
    return {c: w / total for c, w in weights.items()}


def format_task_mix(mix: dict[TaskCategory, float]) -> str:
    return ",".join(f"{c.value}:{w:.3g}" for c, w in mix.items())
