"""Full-precision capability of each catalog model per task category, on one scale per category.

Published scores are comparable only inside one source (same harness, prompts and shots), so
each category has one *primary* benchmark set inside one source block, chosen for the widest
model coverage (see :data:`CATEGORY_PLANS`):

==========================  ==========================================================  ======
category                    primary (source block: benchmarks)                          models
==========================  ==========================================================  ======
reasoning                   OLB_MIRROR: mean of BBH, MuSR, GPQA (normalised, 0=random)    34
math                        OLB_MIRROR: MATH Lvl 5                                        34
knowledge                   OLB_MIRROR: MMLU-PRO                                          34
instruction_following       OLB_MIRROR: IFEval                                            34
coding                      QWEN3_TR post-trained (Tables 13-20): LiveCodeBench v5        24
language                    QWEN3_TR post-trained: mean of MMMLU 14 languages, INCLUDE,   24
                            Multi-IF
==========================  ==========================================================  ======

A model with no primary value gets one *predicted* from an alternative block of the same
category by a straight-line fit over the models both blocks share (at least
:data:`MIN_FIT_MODELS`), keeping the alternative with the lowest leave-one-out mean absolute
error; that error is stored with the value. A prediction off the 0-100 scale is not kept (the next
alternative is tried).
Otherwise the category stays missing for the model.

Variants: catalog rows are architectures; per block the instruct/chat checkpoint is preferred
(what people run), then an unsuffixed name, then a base/pretrained one. Qwen3's hybrid
checkpoints are scored in non-thinking mode (thinking mode costs up to 32K output tokens). When
the Open LLM Leaderboard lists a model twice, the better-ranked entry is used.
"""

from __future__ import annotations

import csv
import io
import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from advisor.data.dataset import _read_csv_models, atomic_write_text
from advisor.vocabulary.errors import InvalidInputError
from advisor.vocabulary.schema import Provenance
from advisor.vocabulary.tasks import CATEGORIES

log = logging.getLogger(__name__)

MIN_FIT_MODELS = 5


class CategoryScore(BaseModel):
    """One model's full-precision score in one category, on that category's common scale."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    value: Annotated[float, Field(ge=0, le=100, allow_inf_nan=False)] = Field(
        description="score 0-100 on the category's common scale (higher is better)")
    provenance: Provenance = Field(description="published, or predicted by a cross-source fit")
    sources: str = Field(min_length=1, description="source block, benchmarks and variant used")
    scale: str = Field(min_length=1, description="the category's common scale")
    error_mae: Annotated[float, Field(ge=0, allow_inf_nan=False)] | None = Field(
        None, description="leave-one-out mean absolute error of the fit (predicted only)")
    n_fit_models: Annotated[int, Field(ge=2)] | None = Field(
        None, description="models the fit was made on (predicted only)")
    notes: str = ""


class CapabilityRow(CategoryScore):
    """A line of ``capability.csv``."""

    model: str = Field(min_length=1)
    category: str = Field(min_length=1)


@dataclass(frozen=True)
class BenchmarkSet:
    """Benchmarks averaged inside one source block."""

    block: str
    benchmarks: tuple[str, ...]

    def describe(self) -> str:
        return f"{self.block}: {'+'.join(self.benchmarks)}"


@dataclass(frozen=True)
class CategoryPlan:
    primary: BenchmarkSet
    scale: str
    alternatives: tuple[BenchmarkSet, ...] = ()


_OLB = "OLB_MIRROR"
_POST = "QWEN3_TR post-trained"
_BASE = "QWEN3_TR base"
_OLB_SCALE = "Open LLM Leaderboard v2 normalised score (0 = random, 100 = perfect)"


def _table(source: pd.Series) -> pd.Series:
    return source.str.extract(r"Table (\d+)", expand=False).astype(float)


#: Source blocks: rows of one harness. Thinking-mode Qwen3 rows are dropped everywhere.
BLOCKS: dict[str, Callable[[pd.DataFrame], pd.Series]] = {
    _OLB: lambda s: s["source_key"] == "OLB_MIRROR",
    _POST: lambda s: (s["source_key"] == "QWEN3_TR") & (_table(s["source"]) >= 13),
    _BASE: lambda s: (s["source_key"] == "QWEN3_TR") & (_table(s["source"]) <= 8),
}

CATEGORY_PLANS: dict[str, CategoryPlan] = {
    "reasoning": CategoryPlan(BenchmarkSet(_OLB, ("BBH", "MuSR", "GPQA")), _OLB_SCALE, (
        BenchmarkSet(_POST, ("GPQA-Diamond", "ZebraLogic", "AutoLogi")),
        BenchmarkSet(_BASE, ("BBH", "GPQA")))),
    "math": CategoryPlan(BenchmarkSet(_OLB, ("MATH Lvl 5",)), _OLB_SCALE, (
        BenchmarkSet(_POST, ("MATH-500",)), BenchmarkSet(_BASE, ("MATH", "GSM8K")))),
    "knowledge": CategoryPlan(BenchmarkSet(_OLB, ("MMLU-PRO",)), _OLB_SCALE, (
        BenchmarkSet(_POST, ("MMLU-Redux",)), BenchmarkSet(_BASE, ("MMLU-Pro", "MMLU")))),
    "instruction_following": CategoryPlan(BenchmarkSet(_OLB, ("IFEval",)), _OLB_SCALE, (
        BenchmarkSet(_POST, ("IFEval strict prompt",)),)),
    "coding": CategoryPlan(
        BenchmarkSet(_POST, ("LiveCodeBench v5",)),
        "LiveCodeBench v5 pass@1, percent, Qwen3 report harness",
        (BenchmarkSet(_BASE, ("EvalPlus", "MultiPL-E")),)),
    "language": CategoryPlan(
        BenchmarkSet(_POST, ("MMMLU 14 languages", "INCLUDE", "Multi-IF")),
        "mean of MMMLU (14 languages), INCLUDE and Multi-IF, percent, Qwen3 report harness",
        (BenchmarkSet(_BASE, ("MMMLU", "MGSM")),)),
}

#: Published values known to be artefacts, not capability (model, block, benchmark) -> reason.
#: They are left out of the common scale (the published row stays in scores.csv).
SUSPECT: dict[tuple[str, str, str], str] = {
    ("phi-4", _OLB, "IFEval"): "OLB IFEval near 5 looks like a format failure, not capability "
                               "(shared catalog SOURCES.md, caveat 2)",
}

_INSTRUCT = re.compile(r"instruct|chat|-it$", re.IGNORECASE)
_BASE_NAME = re.compile(r"-base\b|-pt$", re.IGNORECASE)
_RANK = re.compile(r"\brank (\d+)")


def _variant_rank(variant: str) -> int:
    if _INSTRUCT.search(variant):
        return 0
    return 2 if _BASE_NAME.search(variant) else 1


def _variant_note(variant: str) -> str:
    return ("scored on the base (pretrained) checkpoint; no instruct score in this source"
            if _variant_rank(variant) == 2 else "")


def block_values(scores: pd.DataFrame, bset: BenchmarkSet,
                 skip: set[str] | None = None) -> dict[str, tuple[float, str]]:
    """``{model: (mean score over the set's benchmarks, variant used)}`` for one block.

    ``scores`` has the columns of ``measurements/catalog/scores.csv``. A model counts only if
    one variant has every benchmark of the set; models in ``skip`` are left out.
    """
    rows = scores[BLOCKS[bset.block](scores) & scores["benchmark"].isin(bset.benchmarks)]
    rows = rows[~rows["setting"].str.startswith("thinking mode")]
    out: dict[str, tuple[float, str]] = {}
    for model, group in rows.groupby("model", sort=True):
        if skip and model in skip:
            continue
        for variant in sorted(group["variant"].unique(), key=lambda v: (_variant_rank(v), v)):
            sub = group[group["variant"] == variant]
            ranks = sub["setting"].str.extract(_RANK, expand=False).astype(float)
            if ranks.notna().any():  # leaderboard listed it twice: keep the better-ranked entry
                sub = sub[ranks == ranks.min()]
            by_bench = sub.groupby("benchmark")["score"].first()
            if set(bset.benchmarks) <= set(by_bench.index):
                value = float(np.mean([by_bench[b] for b in bset.benchmarks]))
                out[str(model)] = (value, str(variant))
                break
    return out


def fit_line_loo(x: Sequence[float], y: Sequence[float]) -> tuple[float, float, float]:
    """Least-squares ``y = intercept + slope * x``; returns (slope, intercept, LOO MAE).

    >>> slope, intercept, mae = fit_line_loo([0, 1, 2, 3], [1, 3, 5, 7])
    >>> round(slope, 6), round(intercept, 6), round(mae, 6)
    (2.0, 1.0, 0.0)
    """
    xs, ys = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if len(xs) != len(ys) or len(xs) < 3:
        raise InvalidInputError(f"a line fit needs at least 3 paired values, got {len(xs)}",
                                parameter="x")
    if len(np.unique(xs)) < 3:
        raise InvalidInputError(f"a line fit with leave-one-out needs at least 3 distinct x "
                                f"values, got {sorted(set(xs.tolist()))}", parameter="x")
    slope, intercept = np.polyfit(xs, ys, 1)
    errors = []
    for i in range(len(xs)):
        keep = np.arange(len(xs)) != i
        s_i, b_i = np.polyfit(xs[keep], ys[keep], 1)
        errors.append(abs(b_i + s_i * xs[i] - ys[i]))
    return float(slope), float(intercept), float(np.mean(errors))


def _suspect_models(bset: BenchmarkSet) -> dict[str, str]:
    return {m: why for (m, block, bench), why in SUSPECT.items()
            if block == bset.block and bench in bset.benchmarks}


def build_capability(scores: pd.DataFrame, models: Sequence[str]) -> list[CapabilityRow]:
    """Common-scale capability rows for ``models`` (catalog names) from the scores table."""
    out: list[CapabilityRow] = []
    for category in CATEGORIES:
        plan = CATEGORY_PLANS[category]
        suspects = _suspect_models(plan.primary)
        primary = block_values(scores, plan.primary, skip=set(suspects))
        fits = []
        for alt in plan.alternatives:
            alt_values = block_values(scores, alt)
            shared = sorted(set(primary) & set(alt_values))
            if len(shared) < MIN_FIT_MODELS:
                log.info("%s: %s shares %d models with the primary, too few to fit",
                         category, alt.describe(), len(shared))
                continue
            slope, intercept, mae = fit_line_loo([alt_values[m][0] for m in shared],
                                                 [primary[m][0] for m in shared])
            fits.append((mae, alt, alt_values, slope, intercept, len(shared)))
        fits.sort(key=lambda f: f[0])
        for model in models:
            note = suspects.get(model, "")
            if model in primary:
                value, variant = primary[model]
                out.append(CapabilityRow(
                    model=model, category=category, value=value,
                    provenance=Provenance.PUBLISHED, scale=plan.scale, error_mae=None,
                    n_fit_models=None,
                    sources=f"{plan.primary.describe()} [{variant}]",
                    notes=_variant_note(variant)))
                continue
            for mae, alt, alt_values, slope, intercept, n in fits:
                if model not in alt_values:
                    continue
                x, variant = alt_values[model]
                value = intercept + slope * x
                if not 0.0 <= value <= 100.0:  # extrapolated off the scale: not credible
                    log.info("%s/%s: fit from %s gives %.1f, off the 0-100 scale; left missing",
                             model, category, alt.describe(), value)
                    continue
                out.append(CapabilityRow(
                    model=model, category=category, value=value,
                    provenance=Provenance.PREDICTED, scale=plan.scale, error_mae=mae,
                    n_fit_models=n,
                    sources=(f"{alt.describe()} [{variant}] -> {plan.primary.describe()} "
                             f"(y = {intercept:.3f} + {slope:.3f} x)"),
                    notes="; ".join(p for p in (_variant_note(variant), note) if p)))
                break
    return out


def write_capability(path: Path, rows: Sequence[CapabilityRow]) -> None:
    """Atomically write ``capability.csv``."""
    columns = ["model", "category", "value", "provenance", "error_mae", "n_fit_models", "scale",
               "sources", "notes"]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        data = row.model_dump(mode="json")
        data["value"] = round(row.value, 3)
        if row.error_mae is not None:
            data["error_mae"] = round(row.error_mae, 3)
        writer.writerow({c: "" if data[c] is None else data[c] for c in columns})
    atomic_write_text(path, buf.getvalue())


def read_capability(path: Path) -> list[CapabilityRow]:
    """Rows of ``capability.csv``; a malformed line raises DataFileError with file:line."""
    return _read_csv_models(path, CapabilityRow)
