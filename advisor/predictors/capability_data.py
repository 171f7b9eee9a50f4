"""What the capability fit is fitted on: the usable scores, the entities and their covariates.

See :mod:`advisor.predictors.capability` for the model. This module holds its inputs: the
anchor benchmark of each category (the scale), the modes a catalog model is scored in, which
published rows count, guessing floors of multiple-choice tests, and the covariates every
catalog model has (size, active size, release date, thinking level).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.preprocessing import PolynomialFeatures

from advisor.vocabulary.errors import DataFileError


@dataclass(frozen=True)
class Anchor:
    benchmark: str
    why: str


#: The benchmark whose expected score is each category's common scale: per category, a
#: benchmark measured in one harness (or reported the same way by most releases) with wide
#: coverage of the catalog, whose held-out error beats the baseline (EVALUATION.md).
ANCHORS: dict[str, Anchor] = {
    "reasoning": Anchor("AA 2026-07-10: GPQA Diamond",
                        "Artificial Analysis's own runs with the mode stated; the widest "
                        "coverage of the catalog"),
    "math": Anchor("LiveBench 2025-05-30: mathematics",
                   "LiveBench (the seed article's benchmark), one harness, thinking and "
                   "non-thinking runs; no leaderboard measures math across the catalog"),
    "coding": Anchor("AA 2026-07-10: SciCode",
                     "Artificial Analysis's coding test, one harness, the widest coverage"),
    "knowledge": Anchor("reported: MMLU-Pro",
                        "the knowledge test most model cards report"),
    "instruction_following": Anchor("reported: IFEval",
                                    "the instruction-following test most cards report"),
    "language": Anchor("AA 2026-07-10: AA Multilingual index",
                       "multilingual, one harness; the widest coverage of a multilingual test"),
}
CAPABILITY_CATEGORIES: tuple[str, ...] = tuple(ANCHORS)
#: The modes a catalog model is scored in, by its ``modes``; unknown modes: non-thinking only.
OUTPUT_MODES: dict[str, tuple[str, ...]] = {
    "instruct": ("non-thinking",), "thinking": ("thinking",),
    "hybrid": ("thinking", "non-thinking"), "reasoning_effort": ("high", "low"),
}
_THINKING_LEVEL = {"non-thinking": 0.0, "low": 1 / 3, "medium": 2 / 3, "high": 1.0,
                   "thinking": 1.0, "max": 1.0}
#: Columns left out of the fit: a second reading of a run (Aider's first-try pass rate) and
#: edit-format compliance, which is not capability.
_LEFT_OUT = re.compile(r"pass_rate_1|well_formed")
_CLIP = 0.01
#: Scores a model gets by guessing on multiple-choice tests (percent); such a column is fitted
#: on the share of the distance from chance to 100 %, so a prediction never falls below
#: guessing. A score at or below chance counts as chance.
CHANCE: tuple[tuple[re.Pattern[str], float], ...] = (
    (re.compile(r": GPQA|: SuperGPQA"), 25.0),
    (re.compile(r": MMLU-Pro|: MMLU-ProX"), 10.0),
    (re.compile(r": (?:MMLU|MMMLU|Global-MMLU|Global-MMLU-Lite|MMLU-Redux|ARC-C|HellaSwag)$"),
     25.0),
)


def chance(benchmarks: pd.Index) -> np.ndarray:
    """The guessing score (percent) of each benchmark, 0 where guessing scores nothing."""
    return np.array([next((c for pattern, c in CHANCE if pattern.search(b)), 0.0)
                     for b in benchmarks])


def logit(pct: np.ndarray, floor: np.ndarray | float = 0.0) -> np.ndarray:
    p = np.clip((pct - floor) / (100.0 - floor), _CLIP, 1 - _CLIP)
    return np.log(p / (1 - p))


def expit(z: np.ndarray, floor: np.ndarray | float = 0.0) -> np.ndarray:
    return floor + (100.0 - floor) / (1.0 + np.exp(-z))


def usable_scores(scores: pd.DataFrame, models: pd.DataFrame) -> pd.DataFrame:
    """The rows of ``scores.csv`` the fit uses, with an ``entity`` key ``name|mode``."""
    several = set(models.loc[models["modes"].isin(["hybrid", "reasoning_effort"]), "name"])
    rows = scores[scores["scale"].str.startswith("0-100") & (scores["mode"] != "base")
                  & ~scores["benchmark"].str.contains(_LEFT_OUT)
                  & ~((scores["mode"] == "default") & scores["model"].isin(several))]
    name = rows["model"].where(rows["model"] != "", rows["model_id"])
    name = name.where(name != "", rows["source_key"] + ":" + rows["variant"])
    return rows.assign(entity=name + "|" + rows["mode"], score=rows["score"].astype(float))


def catalog_entities(models: pd.DataFrame) -> list[tuple[str, str]]:
    """(model, mode) of every catalog model in the modes it is scored in."""
    return [(str(n), mode) for n, m in zip(models["name"], models["modes"], strict=True)
            for mode in OUTPUT_MODES.get(str(m), ("non-thinking",))]


def entity_features(keys: pd.Index, models: pd.DataFrame) -> pd.DataFrame:
    """Covariates of entities ``name|mode``: ``log_params``, ``log_active`` and
    ``release_years`` (standardised over the catalog's entities; 0 where unknown),
    ``thinking`` (0 non-thinking ... 1 thinking or high effort; NaN for a source's unstated
    mode), ``size_known`` and ``release_guessed`` (a model without a release month takes its
    family's median, else the catalog's)."""
    info = models.set_index("name")
    name = keys.str.rsplit("|", n=1).str[0]
    mode = keys.str.rsplit("|", n=1).str[1]
    params = pd.to_numeric(info["params_b"], errors="coerce")
    active = pd.to_numeric(info["active_params_b"], errors="coerce").fillna(params)
    month = pd.to_datetime(info["released"].replace("", np.nan), format="%Y-%m",
                           errors="coerce")
    years = month.dt.year + (month.dt.month - 1) / 12 - 2024
    guessed = years.isna()
    years = years.fillna(years.groupby(info["family"]).transform("median")).fillna(
        years.median())
    size = pd.DataFrame({"log_params": np.log10(name.map(params)),
                         "log_active": np.log10(name.map(active)),
                         "release_years": name.map(years)}, index=keys)
    known = size.notna().all(axis=1)
    stats = size[name.isin(info.index)].agg(["mean", "std"])
    size = ((size - stats.loc["mean"]) / stats.loc["std"]).where(known, 0.0)
    return size.assign(thinking=pd.Series(mode, index=keys).map(_THINKING_LEVEL),
                       size_known=known,
                       release_guessed=name.map(guessed).fillna(False).astype(bool))


def design(features: pd.DataFrame) -> tuple[np.ndarray, list[str]]:
    """Covariate design (n, p): intercept, flags, and a degree-2 polynomial of size, active
    size, release date and thinking level (zero for an entity of unknown size)."""
    known = features["size_known"].to_numpy(dtype=float)
    base = np.column_stack([features[["log_params", "log_active", "release_years"]].to_numpy(),
                            features["thinking"].fillna(0.5).to_numpy()])
    poly = PolynomialFeatures(2, include_bias=False).fit(base)
    names = ["intercept", "size_known", "mode_unknown", "release_guessed",
             *poly.get_feature_names_out(["log_params", "log_active", "release", "thinking"])]
    X = np.column_stack([np.ones(len(features)), known, features["thinking"].isna(),
                         features["release_guessed"], poly.transform(base) * known[:, None]])
    return X.astype(float), names


def data_hash(catalog_dir: Path) -> str:
    """Hash of the files the capability fit reads (``scores.csv``, ``models.csv``)."""
    digest = hashlib.sha256()
    for name in ("scores.csv", "models.csv"):
        digest.update((Path(catalog_dir) / name).read_bytes())
    return digest.hexdigest()[:16]


def read_catalog_frames(catalog_dir: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``scores.csv`` and ``models.csv`` of a catalog folder as frames of strings."""
    frames = []
    for name in ("scores.csv", "models.csv"):
        path = Path(catalog_dir) / name
        if not path.is_file():
            raise DataFileError(path, None, "catalog file does not exist; run `quant-advisor "
                                "import-published` to create it")
        frames.append(pd.read_csv(path, dtype=str, keep_default_na=False))
    return frames[0], frames[1]


