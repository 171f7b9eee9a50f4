"""Held-out error of the capability fit, next to a simple baseline on the same folds.

Two hold-outs, both k-fold (:data:`FOLDS` folds, fixed seed), scored on the anchor benchmarks
of the recommendable catalog models:

* **score**: the observed anchor scores are split into folds; each fold's scores are hidden
  (every other score of those models stays) and predicted by a refit;
* **model**: the catalog models are split into folds; each fold's models lose every score (in
  every mode) and keep only their covariates, like a model nobody has benchmarked yet.

Baseline: the mean anchor score of the :data:`NEIGHBOURS` training entities with the same
thinking level that are closest in log parameters and release date (standardised): the models
of similar size and age an expert would look at. Figures per category: mean and median
absolute error in anchor points (0-100), the share of held-out scores inside the 90 %
interval, and the baseline's mean absolute error on the same scores.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd

from advisor.predictors.capability import CapabilityModel

log = logging.getLogger(__name__)

FOLDS = 10
NEIGHBOURS = 5
SEED = 0


def baseline(model: CapabilityModel, train: pd.DataFrame, key: str, bench: str) -> float:
    """The kNN baseline for entity ``key`` on ``bench`` from the scores in ``train`` (NaN for
    an entity of unknown size)."""
    feats = model.features_
    if not feats.at[key, "size_known"]:
        return float("nan")
    have = train[bench].dropna().index
    have = have[feats.loc[have, "size_known"].to_numpy(dtype=bool)]
    same = have[(feats.loc[have, "thinking"] == feats.at[key, "thinking"]).to_numpy()]
    pool = same if len(same) >= NEIGHBOURS else have
    dist = ((feats.loc[pool, "log_params"] - feats.at[key, "log_params"]) ** 2
            + (feats.loc[pool, "release_years"] - feats.at[key, "release_years"]) ** 2)
    return float(train.loc[dist.nsmallest(NEIGHBOURS).index, bench].mean())


def _scored(model: CapabilityModel, train: pd.DataFrame, held: list[tuple[str, str]],
            how: str) -> list[dict[str, Any]]:
    pred = model.refit(train).predict(train).set_index(["entity", "category"])
    rows = []
    for key, category in held:
        bench = model.anchors[category]
        p = pred.loc[(key, category)]
        rows.append({"hold_out": how, "category": category, "entity": key,
                     "actual": float(model.values_.at[key, bench]), "pred": float(p["value"]),
                     "low": float(p["low"]), "high": float(p["high"]),
                     "baseline": baseline(model, train, key, bench)})
    return rows


def capability_cv(model: CapabilityModel, recommendable: set[str]) -> pd.DataFrame:
    """Held-out predictions of both hold-outs (see the module docstring) for a fitted model.

    Columns: ``hold_out, category, entity, actual, pred, low, high, baseline``.
    """
    values = model.values_
    names = values.index.str.rsplit("|", n=1).str[0]
    rng = np.random.default_rng(SEED)
    cells = [(key, cat) for cat, bench in model.anchors.items()
             for key in values.index[values[bench].notna() & names.isin(recommendable)]]
    fold = rng.permutation(len(cells)) % FOLDS
    rows: list[dict[str, Any]] = []
    for f in range(FOLDS):
        held = [c for c, g in zip(cells, fold, strict=True) if g == f]
        train = values.copy()
        for key, cat in held:
            train.at[key, model.anchors[cat]] = np.nan
        rows += _scored(model, train, held, "score")
    chosen = sorted(set(names[names.isin(recommendable)]))
    model_fold = dict(zip(chosen, rng.permutation(len(chosen)) % FOLDS, strict=True))
    for f in range(FOLDS):
        out = np.array([model_fold.get(n, -1) == f for n in names], dtype=bool)
        held = [(key, cat) for key, cat in cells if model_fold.get(key.rsplit("|", 1)[0]) == f]
        train = values.copy()
        train.loc[out, :] = np.nan
        rows += _scored(model, train, held, "model")
    return pd.DataFrame(rows)


def capability_metrics(rows: pd.DataFrame) -> dict[str, Any]:
    """``{hold_out: {category: figures}}`` (see the module docstring); ``all`` pools the
    categories."""
    r = rows.assign(ae=(rows["pred"] - rows["actual"]).abs(),
                    base_ae=(rows["baseline"] - rows["actual"]).abs(),
                    covered=(rows["low"] <= rows["actual"]) & (rows["actual"] <= rows["high"]))
    out: dict[str, Any] = {}
    for how, sub in r.groupby("hold_out"):
        figures = {}
        for category, s in [*sub.groupby("category"), ("all", sub)]:
            both = s.dropna(subset=["base_ae"])
            figures[str(category)] = {
                "scores": int(len(s)), "models": int(s["entity"].str.rsplit("|", n=1)
                                                     .str[0].nunique()),
                "mean_ae": float(s["ae"].mean()), "median_ae": float(s["ae"].median()),
                "coverage_90": float(s["covered"].mean()),
                "mean_ae_with_baseline": float(both["ae"].mean()),
                "baseline_mean_ae": float(both["base_ae"].mean()),
                "units": "anchor points (0-100)"}
        out[f"capability_by_{how}"] = figures
    return out


def evaluate_capability(model: CapabilityModel) -> tuple[dict[str, Any], str]:
    """Both hold-outs of a fitted model over its recommendable catalog models: the metrics
    (``capability_by_score``, ``capability_by_model``) and the ``EVALUATION.md`` section."""
    chosen = model.models_.loc[model.models_["recommendable"].astype(str).str.lower()
                               == "true", "name"]
    rows = capability_cv(model, set(chosen))
    metrics = capability_metrics(rows)
    return metrics, render_section(metrics, model.anchors)


def render_section(metrics: dict[str, Any], anchors: dict[str, str]) -> str:
    """The capability part of ``EVALUATION.md``."""
    lines = [
        "## Capability, held out", "",
        "Each category's capability is the expected score (0-100) on its anchor benchmark: "
        + "; ".join(f"{c}: {b}" for c, b in anchors.items()) + ". "
        f"{FOLDS}-fold over the recommendable catalog models' observed anchor scores "
        "(*score*: those scores hidden, the models' other scores kept) and over the models "
        "(*model*: all of a fold's models' scores hidden, size, release, mode and family "
        f"kept). Baseline: the mean anchor score of the {NEIGHBOURS} training models of the "
        "same thinking level closest in size and release date (`mean_ae_with_baseline` is "
        "the fit's error on the scores the baseline could score).", ""]
    keys = ["scores", "models", "mean_ae", "median_ae", "coverage_90",
            "mean_ae_with_baseline", "baseline_mean_ae"]
    for how in ("score", "model"):
        figures = metrics.get(f"capability_by_{how}", {})
        lines += [f"### Leave {how}s out", "", "| category | " + " | ".join(keys) + " |",
                  "|---" * (len(keys) + 1) + "|"]
        for category, vals in figures.items():
            cells = [f"{vals[k]:.3g}" if isinstance(vals[k], float) else str(vals[k])
                     for k in keys]
            lines.append(f"| {category} | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)
