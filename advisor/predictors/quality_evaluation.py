"""Held-out evaluation of the quality predictor, beside a per-quant baseline on the same folds.

Leave one model out (a model nobody measured) and leave one source out (a new text, harness
and set of models). Each target is scored on every held-out row and in two slices where the
advisor is least sure: models under 4 B parameters (``<4B``) and files of 3.5 bits per weight
or fewer (``<=3.5bpw``). The baseline is the mean retention / PPL ratio / KLD per quant name in
the training folds (the overall mean for a quant never seen). The KV-cache term is scored
leave one model out per cache type (:class:`~advisor.predictors.kv_cache.KVCacheTerm`), beside
the cache being free.

Every figure is computed per held-out group first and then the median over groups is taken, so
that one well-measured model cannot hide failures elsewhere; pooled figures sit beside them.
"""

from __future__ import annotations

from typing import Any, Protocol

import pandas as pd
from joblib import Parallel, delayed

from advisor.vocabulary.errors import InvalidInputError


class QualityModel(Protocol):
    """What the folds need of a quality predictor (:class:`QualityPredictor`)."""

    def fit(self, frame: pd.DataFrame) -> QualityModel: ...

    def predict(self, frame: pd.DataFrame) -> pd.DataFrame: ...

    def _training_rows(self, frame: pd.DataFrame) -> pd.DataFrame: ...

TARGETS = {"retention": "retention_ae_pts", "ppl_ratio": "ppl_ratio_ae_pts", "kld": "kld_ae"}
SMALL_PARAMS_B = 4.0
LOW_BPW = 3.5
#: (name, rule on the scored rows) of the slices reported beside every target.
SLICES: tuple[tuple[str, Any], ...] = (
    ("", lambda r: pd.Series(True, index=r.index)),
    (f"<{SMALL_PARAMS_B:g}B", lambda r: r["params_b"] < SMALL_PARAMS_B),
    (f"<={LOW_BPW:g}bpw", lambda r: r["bpw"] <= LOW_BPW),
)


def _quality_fold(make: Any, frame: pd.DataFrame, group: str, held: str) -> pd.DataFrame:
    train, test = frame[frame[group] != held], frame[frame[group] == held]
    model: QualityModel = make().fit(train)
    fit_rows = model._training_rows(test) if len(test) else test
    if fit_rows.empty:
        return pd.DataFrame()
    pred = model.predict(fit_rows)
    means = {t: train.groupby("quant")[t].mean() for t in TARGETS if t in train}
    overall = {t: train[t].mean() for t in TARGETS if t in train}
    rows = []
    for t in TARGETS:
        if t not in fit_rows:
            continue
        sub = fit_rows[fit_rows[t].notna()]
        if sub.empty:
            continue
        base = sub["quant"].map(means[t]).fillna(overall[t]).astype("float64")
        rows.append(pd.DataFrame({
            "group": held, "model": sub["model"], "source_id": sub["source_id"],
            "quant": sub["quant"], "bpw": sub["bpw"], "params_b": sub["params_b"],
            "task_category": sub["task_category"], "target": t,
            "actual": sub[t].astype("float64"), "pred": pred.loc[sub.index, t],
            "pred_low": pred.loc[sub.index, f"{t}_low"],
            "pred_high": pred.loc[sub.index, f"{t}_high"], "baseline": base}))
    return pd.concat(rows) if rows else pd.DataFrame()


def grouped_cv(make: Any, frame: pd.DataFrame, group: str, *, n_jobs: int = 2
               ) -> pd.DataFrame:
    """Leave-one-``group``-out predictions (``group`` is ``'model'`` or ``'source_id'``) of
    the predictors ``make()`` returns (a :class:`QualityModel`)."""
    if group not in ("model", "source_id"):
        raise InvalidInputError(f"group must be 'model' or 'source_id', got {group!r}",
                                parameter="group")
    targets = frame[[t for t in TARGETS if t in frame]].notna().any(axis=1)
    held = sorted(frame.loc[targets, group].dropna().astype(str).unique())
    parts = Parallel(n_jobs=n_jobs)(delayed(_quality_fold)(make, frame, group, h)
                                    for h in held)
    return pd.concat([p for p in parts if len(p)])


def _group_stat(rows: pd.DataFrame, value: str, how: str) -> pd.Series:
    g = rows.groupby("group")[value]
    return g.median() if how == "median" else g.mean()


def _target_metrics(s: pd.DataFrame, t: str) -> dict[str, Any]:
    how = "mean" if t == "retention" else "median"  # retention: MAE; others: median AE
    per = _group_stat(s, "ae", how)
    return {
        "groups": int(s["group"].nunique()), "rows": int(len(s)),
        f"{how}_ae": float(per.median()),
        f"baseline_{how}_ae": float(_group_stat(s, "base_ae", how).median()),
        "worst_group_ae": float(per.max()),
        "pooled_median_ae": float(s["ae"].median()),
        "baseline_pooled_median_ae": float(s["base_ae"].median()),
        "pooled_mean_ae": float(s["ae"].mean()),
        "coverage_90": float(_group_stat(s, "covered", "mean").median()),
        "coverage_90_pooled": float(s["covered"].mean()),
        "units": "points (x100)" if t != "kld" else "nats",
    }


def quality_metrics(rows: pd.DataFrame) -> dict[str, Any]:
    """Per-group absolute errors (points of ratio for retention/ppl_ratio), median over groups,
    for each target and each of its :data:`SLICES` that has rows (``'retention/<4B'``, ...)."""
    scale = {"retention": 100.0, "ppl_ratio": 100.0, "kld": 1.0}
    out: dict[str, Any] = {}
    for t, sub in rows.groupby("target"):
        s = sub.assign(ae=(sub["pred"] - sub["actual"]).abs() * scale[str(t)],
                       base_ae=(sub["baseline"] - sub["actual"]).abs() * scale[str(t)],
                       covered=(sub["pred_low"] <= sub["actual"])
                       & (sub["actual"] <= sub["pred_high"]))
        for name, rule in SLICES:
            if name and not {"params_b", "bpw"} <= set(s.columns):
                continue
            part = s[rule(s)] if name else s
            if len(part):
                out[f"{t}/{name}" if name else str(t)] = _target_metrics(part, str(t))
    return out


def table(metrics: dict[str, Any]) -> str:
    """A markdown table of ``{slice: {figure: value}}``."""
    keys = sorted({k for v in metrics.values() for k in v})
    lines = ["| slice | " + " | ".join(keys) + " |", "|---" * (len(keys) + 1) + "|"]
    for name, vals in metrics.items():
        cells = [f"{vals[k]:.3g}" if isinstance(vals.get(k), float) else str(vals.get(k, ""))
                 for k in keys]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def markdown_sections(metrics: dict[str, Any]) -> list[str]:
    """The quality parts of ``EVALUATION.md``."""
    return [
        "## Quality, leave one model out", "",
        f"Slices: `<{SMALL_PARAMS_B:g}B` models under {SMALL_PARAMS_B:g} B parameters, "
        f"`<={LOW_BPW:g}bpw` files of {LOW_BPW:g} bits per weight or fewer. Retention: "
        "`mean_ae` is the median over held-out models of each model's mean absolute error; "
        "PPL ratio and KLD: `median_ae`, the median over models of each model's median. "
        "`coverage_90_pooled` is the share of all held-out rows inside their 90% interval.", "",
        table(metrics["quality_by_model"]), "",
        "## Quality, leave one source out", "", table(metrics["quality_by_source"]), "",
        "## KV cache, leave one model out", "",
        "Cost of a quantized KV cache against an f16 cache with the same weights (the ratio "
        "of accuracies, or of PPLs), one figure per cache type: each model is predicted from "
        "the others' median. Baseline: the cache is free (ratio 1), as the advisor assumed "
        "before. `coverage_90`: the share of held-out models inside the 90% prediction "
        "interval of the others (NaN with fewer than 3 models).", "",
        table(metrics["kv_cache"]), "",
    ]

