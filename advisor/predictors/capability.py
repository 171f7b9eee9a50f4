"""Full-precision capability of every catalog model and mode per task category, fitted.

Published scores come from many benchmarks, harnesses and leaderboards
(``measurements/catalog/scores.csv``); no model has them all. They are put on one scale per
category by a factor model over entities x benchmarks
(:class:`~advisor.predictors.factor_model.CovariateFactorModel`). An entity is a model in one
mode: a hybrid model's thinking and non-thinking are two, gpt-oss's high and low reasoning
effort are two (the efforts sources state; no source states a medium-effort run). A benchmark
is one column of ``scores.csv``: a benchmark in one source group and, for leaderboards with
releases, one release. Scores are fitted on the logit of the share of the way from guessing to
100 % (:data:`~advisor.predictors.capability_data.CHANCE`), each column standardised. The
factors' prior mean is a ridge regression on covariates every catalog model has: log total and
log active parameters, release date and thinking level (a degree-2 polynomial of the four), its
family and the model itself (so a hybrid model's two modes and a family's sizes share
strength). A model with few or no scores is predicted from those, with the wider interval that
comes with it; nothing is dropped.

**Scales.** A category's value is the expected score, 0-100, on its anchor benchmark
(:data:`~advisor.predictors.capability_data.ANCHORS`), measured in one harness where possible
and chosen for its coverage of the catalog. ``provenance`` is ``published`` when the anchor
itself was measured for that model and mode (the value is then the published score, the
interval the anchor's fitted noise), else ``predicted``. A published anchor score more than
:data:`OUTLIER_Z` standard deviations from what the model's other scores predict (a failed
run, such as a 1 % coding score of a model that scores 30 % elsewhere) is set aside and the
model refitted without it: the value is then the prediction, and ``sources`` says so. Scores
of pretrained (base) checkpoints, of quantized runs, and rows whose mode a source leaves open
for a model that has several, are not used.
"""

from __future__ import annotations

import copy
import logging
from pathlib import Path
from typing import Annotated

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from advisor.data.dataset import _read_csv_models, write_csv_models
from advisor.predictors.capability_data import (
    ANCHORS,
    catalog_entities,
    chance,
    data_hash,
    design,
    entity_features,
    expit,
    logit,
    read_catalog_frames,
    usable_scores,
)
from advisor.predictors.factor_model import CovariateFactorModel
from advisor.vocabulary.errors import ArtifactError, DataFileError
from advisor.vocabulary.schema import Provenance

log = logging.getLogger(__name__)

CAPABILITY_FILE = "capability.csv"
Z90 = 1.6448536269514722  # two-sided 90 % interval of a normal
OUTLIER_Z = 3.5


class CapabilityScore(BaseModel):
    """One model's capability in one category and mode, on the category's anchor scale."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    value: Annotated[float, Field(ge=0, le=100, allow_inf_nan=False)]
    low: Annotated[float, Field(ge=0, le=100, allow_inf_nan=False)]
    high: Annotated[float, Field(ge=0, le=100, allow_inf_nan=False)]
    provenance: Provenance = Field(description="published (the anchor was measured) or "
                                               "predicted by the fit")
    n_scores: Annotated[int, Field(ge=0)] = Field(description="the model-mode's scores in "
                                                              "the fit (all inform every "
                                                              "category)")
    n_category: Annotated[int, Field(ge=0)] = Field(description="of which in this category")
    anchor: str = Field(min_length=1, description="the benchmark whose score is the scale")
    sources: str = Field(min_length=1)


class CapabilityRow(CapabilityScore):
    """A line of ``capability.csv``."""

    model: str = Field(min_length=1)
    mode: str = Field(min_length=1)
    category: str = Field(min_length=1)


class CapabilityModel:
    """The fitted capability of every entity (model and mode) on each category's anchor scale.

    ``n_factors``, ``alpha_loadings`` and ``noise_floor`` go to the factor model;
    ``alpha_covariates``, ``alpha_family`` and ``alpha_model`` are the ridge penalties of the
    covariate polynomial, the family effects and the per-model effects; a benchmark needs
    ``min_entities`` scored entities to enter the fit; ``tol`` is the EM stopping step.
    ``anchors`` maps category to anchor
    benchmark (default :data:`ANCHORS`).
    """

    def __init__(self, *, n_factors: int = 4, alpha_loadings: float = 1.0,
                 alpha_covariates: float = 1.0, alpha_family: float = 2.0,
                 alpha_model: float = 1.0, noise_floor: float = 0.1, min_entities: int = 3,
                 tol: float = 3e-3, anchors: dict[str, str] | None = None) -> None:
        self.n_factors = n_factors
        self.alpha_loadings = alpha_loadings
        self.alpha_covariates = alpha_covariates
        self.alpha_family = alpha_family
        self.alpha_model = alpha_model
        self.noise_floor = noise_floor
        self.min_entities = min_entities
        self.tol = tol
        self.data_hash_ = ""
        self.anchors = anchors or {c: a.benchmark for c, a in ANCHORS.items()}

    def fit(self, scores: pd.DataFrame, models: pd.DataFrame) -> CapabilityModel:
        """Fit on ``scores.csv`` rows and ``models.csv`` rows (frames of strings, blanks
        as ``""``)."""
        rows = usable_scores(scores, models)
        values = rows.pivot_table(index="entity", columns="benchmark", values="score",
                                  aggfunc="mean")
        values = values.loc[:, values.notna().sum() >= self.min_entities]
        absent = [a for a in self.anchors.values() if a not in values.columns]
        if absent:
            raise DataFileError("scores.csv", None, f"anchor benchmarks with fewer than "
                                f"{self.min_entities} scored models: {', '.join(absent)}")
        keys = sorted(set(values.index) | {f"{m}|{mode}" for m, mode in
                                           catalog_entities(models)})
        self.values_ = values.reindex(pd.Index(keys, name="entity")).astype(float)
        self.cells_ = rows.loc[rows["benchmark"].isin(values.columns),
                               ["entity", "benchmark", "category", "source_key"]]
        self.categories_ = rows.groupby("benchmark")["category"].first()[values.columns]
        self.models_ = models[["name", "modes", "family", "recommendable"]].copy()
        self.features_ = entity_features(self.values_.index, models)
        X, names = design(self.features_)
        self.base_covariates_ = list(names)
        pen = np.full(X.shape[1], self.alpha_covariates)
        entity_model = self.values_.index.str.rsplit("|", n=1).str[0]
        for column, alpha in (("family", self.alpha_family), ("name", self.alpha_model)):
            level = entity_model.map(dict(zip(models["name"], models[column], strict=True)))
            onehot = pd.get_dummies(pd.Series(level, index=self.values_.index), dtype=float)
            X = np.column_stack([X, onehot.to_numpy()])
            pen = np.concatenate([pen, np.full(onehot.shape[1], alpha)])
            names += [f"{column}={v}" for v in onehot.columns]
        self.design_, self.penalty_, self.covariates_ = X, pen, names
        self.floor_ = chance(self.values_.columns)
        self._fit_values(self.values_)
        self.set_aside_: dict[tuple[str, str], tuple[float, float]] = self._outliers()
        if self.set_aside_:
            for key, bench in self.set_aside_:
                self.values_.at[key, bench] = np.nan
            self._fit_values(self.values_, init=self.factors_)
        log.info("capability: %d entities (%d with scores) x %d benchmarks, %d scores, "
                 "%d EM steps", len(keys), int(self.values_.notna().any(axis=1).sum()),
                 values.shape[1], int(values.notna().sum().sum()), self.factors_.n_iter_)
        return self

    def _fit_values(self, values: pd.DataFrame,
                    init: CovariateFactorModel | None = None) -> None:
        z = logit(values.to_numpy(), self.floor_)
        z[np.isnan(values.to_numpy())] = np.nan
        seen = ~np.isnan(z).all(axis=0)  # a refit may hide every score of a column
        self.col_mean_ = np.zeros(z.shape[1])
        self.col_sd_ = np.ones(z.shape[1])
        self.col_mean_[seen] = np.nanmean(z[:, seen], axis=0)
        self.col_sd_[seen] = np.maximum(np.nanstd(z[:, seen], axis=0), 0.1)
        zs = self._standardise(values)
        rows = ~np.isnan(zs).all(axis=1)
        self.factors_ = CovariateFactorModel(
            self.n_factors, alpha_loadings=self.alpha_loadings,
            covariate_penalty=self.penalty_, noise_floor=self.noise_floor, tol=self.tol,
        ).fit(zs[rows], self.design_[rows], init=init)

    def _standardise(self, values: pd.DataFrame) -> np.ndarray:
        """Standardised logits of ``values`` (NaN stays NaN)."""
        raw = values.to_numpy()
        zs = (logit(raw, self.floor_) - self.col_mean_) / self.col_sd_
        zs[np.isnan(raw)] = np.nan
        return zs

    def refit(self, values: pd.DataFrame) -> CapabilityModel:
        """A copy fitted on ``values`` (the training matrix with some scores hidden), warm
        started from this fit; used by the held-out evaluation."""
        other = copy.copy(self)
        other._fit_values(values.reindex_like(self.values_), init=self.factors_)
        return other

    def predict(self, values: pd.DataFrame | None = None) -> pd.DataFrame:
        """Every entity's expected anchor score per category (0-100) with its 90 % interval,
        given the observed scores ``values`` (default: the training matrix). Columns
        ``entity, category, value, low, high``."""
        values = self.values_ if values is None else values.reindex_like(self.values_)
        mean, var = self.factors_.predict(self._standardise(values), self.design_)
        parts = []
        for category, bench in self.anchors.items():
            j = values.columns.get_loc(bench)
            mu, sd = mean[:, j] * self.col_sd_[j] + self.col_mean_[j], \
                np.sqrt(var[:, j]) * self.col_sd_[j]
            f = self.floor_[j]
            parts.append(pd.DataFrame({
                "entity": values.index, "category": category, "value": expit(mu, f),
                "low": expit(mu - Z90 * sd, f), "high": expit(mu + Z90 * sd, f)}))
        return pd.concat(parts, ignore_index=True)

    def _without(self, bench: str) -> tuple[np.ndarray, np.ndarray]:
        """Every entity's prediction of ``bench`` (logit mean and sd) from its other scores."""
        values = self.values_.copy()
        values[bench] = np.nan
        j = values.columns.get_loc(bench)
        mean, var = self.factors_.predict(self._standardise(values), self.design_)
        return (mean[:, j] * self.col_sd_[j] + self.col_mean_[j],
                np.sqrt(var[:, j]) * self.col_sd_[j])

    def _outliers(self) -> dict[tuple[str, str], tuple[float, float]]:
        """Published anchor scores far from their prediction by the model's other scores:
        ``{(entity, anchor): (score, standard deviations off)}``."""
        out = {}
        for bench in self.anchors.values():
            j = self.values_.columns.get_loc(bench)
            mean, sd = self._without(bench)
            observed = self.values_[bench].to_numpy()
            z = logit(observed, self.floor_[j])
            off = np.abs(z - mean) / sd
            for i in np.flatnonzero(~np.isnan(observed) & (off > OUTLIER_Z)):
                out[(str(self.values_.index[i]), bench)] = (float(observed[i]), float(off[i]))
        if out:
            log.info("capability: %d published anchor scores set aside as outliers: %s",
                     len(out), "; ".join(f"{k} {b} {v:.1f}" for (k, b), (v, _) in out.items()))
        return out

    def table(self) -> list[CapabilityRow]:
        """One row per catalog model, mode and category (see the module docstring)."""
        pred = self.predict().set_index(["entity", "category"])
        counts = self.values_.notna().T.groupby(self.categories_).sum().T
        total = self.values_.notna().sum(axis=1)
        srcs = self.cells_.groupby("entity")["source_key"].agg(
            lambda s: ", ".join(sorted(set(s))))
        cites = self.cells_.groupby(["entity", "benchmark"])["source_key"].agg(
            lambda s: ", ".join(sorted(set(s))))
        out = []
        for category, bench in self.anchors.items():
            j = self.values_.columns.get_loc(bench)
            f = self.floor_[j]
            half = Z90 * float(np.sqrt(self.factors_.noise_[j])) * self.col_sd_[j]
            for model, mode in catalog_entities(self.models_):
                key = f"{model}|{mode}"
                n = int(total[key])
                fit = (f"fit: {n} scores ({srcs[key]})" if n
                       else "fit: no scores; from size, active size, release, mode and family")
                row: dict[str, object] = {
                    "model": model, "mode": mode, "category": category, "anchor": bench,
                    "n_scores": n, "n_category": int(counts.loc[key].get(category, 0)),
                    "provenance": Provenance.PREDICTED}
                p = pred.loc[(key, category)]
                published = float(self.values_.at[key, bench])
                if np.isnan(published):
                    note = ""
                    if (key, bench) in self.set_aside_:
                        score, off = self.set_aside_[(key, bench)]
                        note = (f"; published {bench} {score:.1f} ({cites[(key, bench)]}) set "
                                f"aside: {off:.1f} sd from the other scores' prediction")
                    row.update(value=p["value"], low=p["low"], high=p["high"],
                               sources=f"predicted{note}; {fit}")
                else:
                    z = float(logit(np.array([published]), f)[0])
                    row.update(value=published,
                               low=min(published, float(expit(z - half, f))),
                               high=max(published, float(expit(z + half, f))),
                               provenance=Provenance.PUBLISHED,
                               sources=f"published: {bench} ({cites[(key, bench)]}); {fit}")
                row.update({k: round(float(row[k]), 3)  # type: ignore[arg-type]
                            for k in ("value", "low", "high")})
                out.append(CapabilityRow.model_validate(row))
        order = {c: i for i, c in enumerate(self.anchors)}
        return sorted(out, key=lambda r: (r.model.lower(), r.mode, order[r.category]))


def fit_capability(catalog_dir: Path, **params: object) -> CapabilityModel:
    """A :class:`CapabilityModel` (``params``: its arguments) fitted on a catalog folder."""
    scores, models = read_catalog_frames(catalog_dir)
    model = CapabilityModel(**params).fit(scores, models)  # type: ignore[arg-type]
    model.data_hash_ = data_hash(catalog_dir)
    return model


def capability_card(model: CapabilityModel) -> dict[str, object]:
    """What the model card says about a fitted capability model."""
    return {
        "file": CAPABILITY_FILE, "data_hash": model.data_hash_,
        "anchors": dict(model.anchors), "covariates": model.base_covariates_,
        "covariate_groups": ["family", "model"],
        "entities": int(len(model.values_)),
        "entities_with_scores": int(model.values_.notna().any(axis=1).sum()),
        "benchmarks": int(model.values_.shape[1]),
        "scores": int(model.values_.notna().sum().sum()),
        "params": {k: getattr(model, k) for k in (
            "n_factors", "alpha_loadings", "alpha_covariates", "alpha_family", "alpha_model",
            "noise_floor", "min_entities", "tol")},
        "em_steps": int(model.factors_.n_iter_),
    }


def write_capability_table(path: Path, rows: list[CapabilityRow]) -> None:
    """Atomically write ``capability.csv``."""
    write_csv_models(path, rows)


def load_capability(models_dir: Path) -> dict[tuple[str, str], dict[str, CapabilityScore]]:
    """``{(model, mode): {category: CapabilityScore}}`` from ``models_dir/capability.csv``.

    Modes are those of :data:`OUTPUT_MODES` (gpt-oss: ``high`` and ``low``); a
    missing file raises ArtifactError (run ``quant-advisor train``), a malformed line
    DataFileError with file:line.
    """
    path = Path(models_dir) / CAPABILITY_FILE
    if not path.is_file():
        raise ArtifactError(f"capability table {path} is missing; run `quant-advisor train` "
                            "to rebuild the models")
    out: dict[tuple[str, str], dict[str, CapabilityScore]] = {}
    for lineno, row in enumerate(_read_csv_models(path, CapabilityRow), start=2):
        entry = out.setdefault((row.model, row.mode), {})
        if row.category in entry:
            raise DataFileError(path, lineno, f"second {row.category!r} row for {row.model!r} "
                                f"({row.mode})")
        entry[row.category] = CapabilityScore.model_validate(
            row.model_dump(exclude={"model", "mode", "category"}))
    return out
