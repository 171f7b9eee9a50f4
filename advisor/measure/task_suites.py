"""Small generated task suites, one per task category, with answers checked by code.

Each item is a prompt and a few continuations, exactly one correct; a model answers with the
continuation of highest log-likelihood (lm-evaluation-harness ``acc``). Items are deterministic
for a given seed. Correct answers are computed, never typed: sums are added up, code snippets
are run, orderings sorted, format constraints checked by a predicate.
"""

from __future__ import annotations

import contextlib
import csv
import io
import random
from collections.abc import Callable
from dataclasses import dataclass
from importlib.resources import files

from advisor.vocabulary.tasks import TaskCategory


@dataclass(frozen=True)
class TaskItem:
    """``prompt`` followed by each of ``choices`` (which start with a space); ``answer`` indexes
    the correct one."""

    category: TaskCategory
    item_id: str
    prompt: str
    choices: tuple[str, ...]
    answer: int


def _choices(rng: random.Random, right: str, wrong: list[str], k: int = 4
             ) -> tuple[tuple[str, ...], int]:
    pool = [w for w in dict.fromkeys(wrong) if w != right]
    picked = rng.sample(pool, min(k - 1, len(pool))) + [right]
    rng.shuffle(picked)
    return tuple(f" {c}" for c in picked), picked.index(right)


# --- math ------------------------------------------------------------------------------------
def _math(rng: random.Random, i: int) -> tuple[str, tuple[str, ...], int]:
    if i % 2 == 0:
        a, b = rng.randint(12, 89), rng.randint(12, 89)
        op = rng.choice("+-*")
        value = {"+": a + b, "-": a - b, "*": a * b}[op]
        prompt = f"Question: What is {a} {op} {b}?\nAnswer:"
    else:
        name = rng.choice(["Tom", "Ana", "Ravi", "Mei", "Lena"])
        item = rng.choice(["apples", "books", "coins", "pencils"])
        have, more, gave = rng.randint(3, 20), rng.randint(2, 15), rng.randint(1, 5)
        value = have + more - gave
        prompt = (f"Question: {name} has {have} {item}, buys {more} more and gives {gave} away. "
                  f"How many {item} does {name} have now?\nAnswer:")
    wrong = [str(value + d) for d in (-10, -2, -1, 1, 2, 10)]
    return (prompt, *_choices(rng, str(value), wrong))


# --- coding ----------------------------------------------------------------------------------
_SNIPPETS: tuple[Callable[[random.Random], str], ...] = (
    lambda r: f"xs = {r.sample(range(1, 30), 5)}\nprint(sorted(xs)[{r.randint(0, 4)}])",
    lambda r: f"print(len({r.choice(['abc', 'hello', 'quant', 'gguf'])!r} * {r.randint(2, 4)}))",
    lambda r: f"print({r.randint(10, 99)} // {r.randint(2, 9)})",
    lambda r: f"print({r.randint(10, 99)} % {r.randint(2, 9)})",
    lambda r: f"xs = {r.sample(range(1, 20), 4)}\nprint(sum(xs[1:]))",
    lambda r: f"s = {r.choice(['banana', 'python', 'module'])!r}\nprint(s[::-1][:3])",
    lambda r: f"print(max({r.sample(range(1, 50), 4)}) - min({r.sample(range(1, 50), 3)}))",
    lambda r: f"d = {{'a': {r.randint(1, 9)}, 'b': {r.randint(1, 9)}}}\nprint(d['a'] * d['b'])",
)


def _run(code: str) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(code, {"__builtins__": {"print": print, "sorted": sorted, "len": len, "sum": sum,
                                     "max": max, "min": min}})
    return out.getvalue().strip()


def _coding(rng: random.Random, i: int) -> tuple[str, tuple[str, ...], int]:
    code = _SNIPPETS[i % len(_SNIPPETS)](rng)
    right = _run(code)
    if right.lstrip("-").isdigit():
        wrong = [str(int(right) + d) for d in (-3, -1, 1, 2, 5)]
    else:
        wrong = [right[::-1], right[1:] + right[0], right.upper(), right[:2]]
    return (f"```python\n{code}\n```\nThe program prints:", *_choices(rng, right, wrong))


# --- reasoning -------------------------------------------------------------------------------
_NAMES = ["Alice", "Bob", "Carol", "Dave", "Erin", "Frank"]


def _reasoning(rng: random.Random, i: int) -> tuple[str, tuple[str, ...], int]:
    people = rng.sample(_NAMES, 4)
    if i % 2 == 0:
        heights = dict(zip(people, rng.sample(range(150, 200), 4), strict=True))
        order = sorted(people, key=lambda p: -heights[p])
        facts = [f"{a} is taller than {b}." for a, b in zip(order, order[1:], strict=False)]
        rng.shuffle(facts)
        ask_tallest = rng.random() < 0.5
        right = order[0] if ask_tallest else order[-1]
        word = "tallest" if ask_tallest else "shortest"
        prompt = f"{' '.join(facts)}\nQuestion: Who is the {word}?\nAnswer:"
        return (prompt, *_choices(rng, right, people))
    truthful = rng.random() < 0.5
    a, b, c = people[:3]
    statements = [f"{a} {'tells the truth' if truthful else 'lies'}."]
    b_true = rng.random() < 0.5  # does b tell the truth?
    says_a_truthful = truthful if b_true else not truthful
    statements.append(f"{b} says {a} {'tells the truth' if says_a_truthful else 'lies'}.")
    c_true = rng.random() < 0.5
    says_b_truthful = b_true if c_true else not b_true
    statements.append(f"{c} says {b} {'tells the truth' if says_b_truthful else 'lies'}.")
    prompt = f"{' '.join(statements)}\nQuestion: Does {c} tell the truth?\nAnswer:"
    return (prompt, *_choices(rng, "Yes" if c_true else "No", ["Yes", "No"], k=2))


# --- language --------------------------------------------------------------------------------
_WORDS = ["garden", "window", "python", "planet", "silver", "market", "bottle", "forest",
          "winter", "doctor", "castle", "pocket", "rabbit", "candle", "bridge", "summer"]


def _typo(word: str, rng: random.Random) -> str:
    j = rng.randrange(1, len(word) - 1)
    return word[:j] + word[j + 1] + word[j] + word[j + 2:] if word[j] != word[j + 1] else \
        word[:j] + word[j + 1:]


def _language(rng: random.Random, i: int) -> tuple[str, tuple[str, ...], int]:
    word = rng.choice(_WORDS)
    if i % 2 == 0:
        wrong = [t for t in dict.fromkeys(_typo(word, rng) for _ in range(8)) if t != word]
        prompt = "Question: Which word is spelled correctly?\nAnswer:"
        return (prompt, *_choices(rng, word, wrong))
    letters = list(word)
    while "".join(letters) == word:
        rng.shuffle(letters)
    prompt = f"Question: Unscramble the letters '{''.join(letters)}' into an English word.\n" \
             "Answer:"
    return (prompt, *_choices(rng, word, [w for w in _WORDS if len(w) == len(word)]))


# --- knowledge -------------------------------------------------------------------------------
def load_facts() -> list[dict[str, str]]:
    """Rows of ``data/facts.csv`` (country, capital, continent, currency)."""
    text = files("advisor.measure").joinpath("data/facts.csv").read_text(encoding="utf-8")
    return list(csv.DictReader(io.StringIO(text)))


def _knowledge(rng: random.Random, i: int, facts: list[dict[str, str]]
               ) -> tuple[str, tuple[str, ...], int]:
    row = rng.choice(facts)
    attr = ("capital", "continent", "currency")[i % 3]
    prompt = {"capital": f"The capital city of {row['country']} is",
              "continent": f"{row['country']} is a country in the continent of",
              "currency": f"The currency of {row['country']} is the"}[attr]
    return (prompt, *_choices(rng, row[attr], [f[attr] for f in facts]))


# --- instruction following -------------------------------------------------------------------
_FORMATS: tuple[tuple[str, Callable[[str], bool], list[str]], ...] = (
    ("Reply with the single word YES in capital letters.", lambda s: s == "YES",
     ["yes", "Yes", "Yes, of course.", "YES!", "no"]),
    ("Answer with a number only: how many legs does a dog have?", lambda s: s == "4",
     ["four", "Four legs.", "A dog has 4 legs.", "4 legs"]),
    ("Answer in lowercase letters only: what colour is grass?", lambda s: s == "green",
     ["Green", "GREEN", "Grass is green.", "Green!"]),
    ("Reply with exactly three words: name three colours.", lambda s: s == "red green blue",
     ["red, green, blue and yellow", "Red.", "The colours are red green blue", "red"]),
    ("Answer with a JSON object with key \"ok\" set to true.", lambda s: s == '{"ok": true}',
     ["ok: true", "{ok}", "true", "Sure! {\"ok\": true}"]),
)


def _instruction(rng: random.Random, i: int) -> tuple[str, tuple[str, ...], int]:
    instruction, check, wrong = _FORMATS[i % len(_FORMATS)]
    candidates = wrong + [c for c in ("YES", "4", "green", "red green blue", '{"ok": true}')
                          if check(c)]
    right = next(c for c in candidates if check(c))
    prompt = f"Instruction: {instruction}\nResponse:"
    return (prompt, *_choices(rng, right, [w for w in wrong if not check(w)]))


def build_suites(seed: int = 1234, per_category: int = 16) -> list[TaskItem]:
    """``per_category`` items for each :class:`~advisor.vocabulary.tasks.TaskCategory`,
    deterministic."""
    facts = load_facts()
    makers: dict[TaskCategory, Callable[[random.Random, int], tuple[str, tuple[str, ...], int]]]
    makers = {
        TaskCategory.REASONING: _reasoning,
        TaskCategory.MATH: _math,
        TaskCategory.CODING: _coding,
        TaskCategory.KNOWLEDGE: lambda r, i: _knowledge(r, i, facts),
        TaskCategory.LANGUAGE: _language,
        TaskCategory.INSTRUCTION_FOLLOWING: _instruction,
    }
    items: list[TaskItem] = []
    for category, make in makers.items():
        rng = random.Random(f"{seed}:{category.value}")
        for i in range(per_category):
            prompt, choices, answer = make(rng, i)
            items.append(TaskItem(category, f"{category.value}-{i}", prompt, choices, answer))
    return items
