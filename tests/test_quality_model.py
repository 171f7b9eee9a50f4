"""Tests for advisor.predictors.quality: monotone in bits, intervals, exclusions, errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from advisor.predictors.quality import OUTPUTS, QualityPredictor
from advisor.vocabulary.errors import InvalidInputError

QUANTS = {"Q2_K": 3.16, "Q3_K_M": 3.91, "Q4_K_M": 4.89, "Q5_K_M": 5.7, "Q6_K": 6.56,
          "Q8_0": 8.5}
CATEGORIES = ["reasoning", "math", "coding", "knowledge"]


def synthetic_quality(seed: int = 0) -> pd.DataFrame:
    """Rows from log(ppl_ratio - 1) = 2 - 1.3 bpw - 0.3 log(params), retention from it."""
    rng = np.random.default_rng(seed)
    rows = []
    for i, params in enumerate([1.5, 3.0, 7.0, 8.0, 14.0, 32.0, 70.0]):
        model, family, source = f"m{i}", f"fam{i % 3}", f"src{i % 4}"
        for quant, bpw in QUANTS.items():
            err = np.exp(2 - 1.3 * bpw - 0.3 * np.log(params) + rng.normal(0, 0.3))
            common = {"model": model, "model_family": family, "source_id": source,
                      "params_b": params, "quant": quant, "bpw": bpw, "flags": []}
            rows.append({**common, "metric_kind": "perplexity",
                         "task_category": "language_modeling", "ppl_ratio": 1 + err})
            rows.append({**common, "metric_kind": "kld", "task_category": "language_modeling",
                         "kld": 0.8 * err * np.exp(rng.normal(0, 0.2))})
            for j, cat in enumerate(CATEGORIES):
                s = err / (1 + err)
                rows.append({**common, "metric_kind": "accuracy", "task_category": cat,
                             "retention": 1 - (0.3 + 0.2 * j) * s + rng.normal(0, 0.005)})
    frame = pd.DataFrame(rows)
    fake = frame.iloc[:4].assign(flags=[["not_gguf"]] * 4, model="paper")
    return pd.concat([frame, fake], ignore_index=True)


@pytest.fixture(scope="module")
def fitted() -> QualityPredictor:
    return QualityPredictor(calibration_folds=3).fit(synthetic_quality())


def test_fit_recovers_shape_and_counts_exclusions(fitted: QualityPredictor) -> None:
    assert fitted.exclusions_["not_gguf"] == 4
    assert -1.6 < fitted.bpw_slope_ < -1.0
    # the synthetic tasks lose 0.3 (reasoning) to 0.9 (knowledge) of the error's share
    kept = fitted.predict(pd.DataFrame({"params_b": 8.0, "quant": "Q2_K",
                                        "task_category": ["knowledge", "coding", "reasoning"]}))
    assert list(kept["retention"].rank()) == [1.0, 2.0, 3.0]
    assert fitted.retention_curve_.log_b_ > -1.0  # a clear gain per bit
    # the size effect on retention follows the log-error model's ratio of slopes (~0.3 / 1.3)
    assert 0.1 < fitted.size_ratio_ < 0.4


def test_output_columns_and_index(fitted: QualityPredictor) -> None:
    frame = pd.DataFrame({"params_b": [8.0, 70.0], "quant": ["Q4_K_M", "IQ2_XS"],
                          "task_category": ["math", np.nan]}, index=[10, 20])
    out = fitted.predict(frame)
    assert list(out.columns) == list(OUTPUTS) and list(out.index) == [10, 20]
    assert (out["retention"] <= 1).all() and (out["ppl_ratio"] >= 1).all()


@pytest.mark.parametrize("frame, parameter", [
    (pd.DataFrame({"params_b": [np.nan], "quant": ["Q4_K_M"]}), "params_b"),
    (pd.DataFrame({"params_b": [-1.0], "quant": ["Q4_K_M"]}), "params_b"),
    (pd.DataFrame({"params_b": [8.0], "quant": ["NOPE"]}), "bpw"),
])
def test_bad_rows_raise(fitted: QualityPredictor, frame: pd.DataFrame, parameter: str) -> None:
    with pytest.raises(InvalidInputError) as err:
        fitted.predict(frame)
    assert err.value.parameter == parameter


def test_retention_curve_beats_per_quant_mean_on_held_out_model() -> None:
    frame = synthetic_quality(1)
    train, test = frame[frame["model"] != "m2"], frame[frame["model"] == "m2"]
    acc = test[test["retention"].notna()]
    pred = QualityPredictor(calibration_folds=3).fit(train).predict(acc)["retention"]
    base = acc["quant"].map(train.groupby("quant")["retention"].mean())
    assert (pred - acc["retention"]).abs().mean() < (base - acc["retention"]).abs().mean()


def test_no_accuracy_rows_predicts_no_loss() -> None:
    frame = synthetic_quality()
    model = QualityPredictor(calibration_folds=2).fit(frame[frame["retention"].isna()])
    out = model.predict(pd.DataFrame({"params_b": [8.0], "quant": ["Q2_K"]}))
    assert out["retention"].iloc[0] == pytest.approx(1.0)


def test_data_without_a_bits_effect_is_refused() -> None:
    frame = synthetic_quality()
    frame["ppl_ratio"] = frame["ppl_ratio"].where(frame["ppl_ratio"].isna(),
                                                  1 + 0.01 * frame["bpw"])
    frame["kld"] = frame["kld"].where(frame["kld"].isna(), 0.01 * frame["bpw"])
    with pytest.raises(InvalidInputError, match="negative bpw slope"):
        QualityPredictor(calibration_folds=2).fit(frame)


@settings(max_examples=50, deadline=None)
@given(params=st.floats(0.3, 700), bpw=st.floats(1.5, 15), extra=st.floats(0.01, 8),
       cat=st.sampled_from([*CATEGORIES, "language", None]),
       family=st.sampled_from(["fam0", "fam2", "never-seen", None]))
def test_more_bits_never_hurt(fitted: QualityPredictor, params: float, bpw: float,
                              extra: float, cat: str | None, family: str | None) -> None:
    frame = pd.DataFrame({"params_b": [params, params], "bpw": [bpw, bpw + extra],
                          "task_category": [cat, cat], "model_family": [family, family]})
    out = fitted.predict(frame)
    low, high = out.iloc[0], out.iloc[1]
    assert high.retention >= low.retention - 1e-12
    assert high.ppl_ratio <= low.ppl_ratio + 1e-12
    assert high.kld <= low.kld + 1e-12


@settings(max_examples=50, deadline=None)
@given(params=st.floats(0.3, 700), bpw=st.floats(1.5, 16),
       cat=st.sampled_from([*CATEGORIES, None]))
def test_intervals_contain_point(fitted: QualityPredictor, params: float, bpw: float,
                                 cat: str | None) -> None:
    out = fitted.predict(pd.DataFrame({"params_b": [params], "bpw": [bpw],
                                       "task_category": [cat]})).iloc[0]
    for t in ("retention", "ppl_ratio", "kld"):
        assert out[f"{t}_low"] <= out[t] <= out[f"{t}_high"]


def test_noisy_retention_rows_are_left_out_of_the_fit() -> None:
    """A tiny suite near chance (standard error 0.2 of the baseline) that says a tiny model
    loses 40 points at every quant must not bend the curve; rows without a stderr stay in."""
    frame = synthetic_quality()
    noise = frame[frame["retention"].notna() & (frame["model"] == "m0")].assign(
        model="tiny", params_b=0.1, retention=0.6, stderr=0.05, baseline_value=0.25)
    clean = QualityPredictor(calibration_folds=3).fit(frame)
    with_noise = QualityPredictor(calibration_folds=3).fit(pd.concat([frame, noise],
                                                                     ignore_index=True))
    assert with_noise.exclusions_["noisy_retention"] == len(noise)
    assert clean.exclusions_["noisy_retention"] == 0
    q = pd.DataFrame({"params_b": [0.5, 8.0], "quant": ["Q4_K_M", "Q4_K_M"],
                      "task_category": ["math", "math"]})
    pd.testing.assert_frame_equal(clean.predict(q), with_noise.predict(q))
    # a precise row (standard error 2% of the baseline) is used
    precise = noise.assign(stderr=0.005)
    used = QualityPredictor(calibration_folds=3).fit(pd.concat([frame, precise],
                                                               ignore_index=True))
    assert used.exclusions_["noisy_retention"] == 0
    assert used.predict(q)["retention"].iloc[0] < clean.predict(q)["retention"].iloc[0]


def test_rows_against_a_quantized_reference_are_left_out() -> None:
    """Re-quantizing an already quantized model (the demo models' reference) measures how far
    each quant is from that file, not from full precision: such rows must not bend the fit."""
    frame = synthetic_quality()
    requant = frame[frame["model"] == "m0"].assign(model="demo", params_b=0.27)
    requant["flags"] = [["quantized_reference"]] * len(requant)
    requant["ppl_ratio"] = requant["ppl_ratio"].where(requant["ppl_ratio"].isna(), 3.0)
    clean = QualityPredictor(calibration_folds=3).fit(frame)
    with_requant = QualityPredictor(calibration_folds=3).fit(
        pd.concat([frame, requant], ignore_index=True))
    assert with_requant.exclusions_["quantized_reference"] == len(requant)
    assert clean.exclusions_["quantized_reference"] == 0
    q = pd.DataFrame({"params_b": [0.27, 8.0], "quant": ["Q8_0", "Q4_K_M"],
                      "task_category": ["math", "math"]})
    pd.testing.assert_frame_equal(clean.predict(q), with_requant.predict(q))


def test_a_target_measured_on_few_models_borrows_the_pooled_interval() -> None:
    """KLD published for two models only cannot show how much models differ: its 90% interval
    must not be the tight spread of those two, but that of every log-error residual."""
    frame = synthetic_quality()
    is_kld = frame["kld"].notna()
    few = frame[~is_kld | frame["model"].isin(["m2", "m3"])].copy()
    exact = 0.8 * np.exp(2 - 1.3 * few["bpw"] - 0.3 * np.log(few["params_b"]))
    few["kld"] = few["kld"].where(few["kld"].isna(), exact)  # two models, no noise at all
    fitted = QualityPredictor(calibration_folds=3).fit(few)
    lo, hi = fitted.quantiles_["kld"]
    own = QualityPredictor(calibration_folds=3).fit(frame)  # KLD on all 7 models
    assert hi - lo >= 0.8 * (own.quantiles_["ppl"][1] - own.quantiles_["ppl"][0])
    assert fitted.quantiles_["kld"] != fitted.quantiles_["ppl"]  # own ppl residuals (7 models)


def test_rows_on_a_quantized_kv_cache_price_the_cache_not_the_weights() -> None:
    """Rows run with a q4_0 cache measure weights and cache together: the weights' fit leaves
    them out, and the cache term prices q4_0 from the rows that isolate it."""
    frame = synthetic_quality()
    cached = frame[frame["retention"].notna() & (frame["model"] == "m3")].assign(
        retention=0.5, cache_type="q4_0")
    cached["flags"] = [["kv_cache_only"]] * len(cached)
    other = cached.assign(model="m4", retention=0.9)
    clean = QualityPredictor(calibration_folds=2).fit(frame)
    both = QualityPredictor(calibration_folds=2).fit(pd.concat([frame, cached, other],
                                                               ignore_index=True))
    assert both.exclusions_["kv_cache_quantized"] == 2 * len(cached)
    q = pd.DataFrame({"params_b": [8.0], "quant": ["Q4_K_M"], "task_category": ["math"]})
    pd.testing.assert_frame_equal(clean.predict(q), both.predict(q))
    effect = both.cache_effect("q4_0")
    assert effect.value == pytest.approx(0.7) and effect.n_models == 2
    assert effect.low < 0.5 and effect.high > 0.9
    assert both.cache_effect("f16").value == 1.0


def test_binomial_noise_of_a_small_suite_leaves_it_out() -> None:
    """A 40-question suite has a standard error near 8 points of accuracy: a retention from it
    cannot inform the curve; the same scores on 10,000 questions can."""
    frame = synthetic_quality()
    suite = frame[frame["retention"].notna() & (frame["model"] == "m1")].assign(
        value=30.0, baseline_value=50.0, n_items=40)
    small = QualityPredictor(calibration_folds=2).fit(pd.concat([frame, suite],
                                                                ignore_index=True))
    assert small.exclusions_["noisy_retention"] == len(suite)
    big = QualityPredictor(calibration_folds=2).fit(pd.concat(
        [frame, suite.assign(n_items=10_000)], ignore_index=True))
    assert big.exclusions_["noisy_retention"] == 0


def test_retention_interval_never_reaches_below_what_the_data_shows() -> None:
    frame = synthetic_quality()
    fitted = QualityPredictor(calibration_folds=3).fit(frame)
    acc = frame[frame["retention"].notna()]
    q = pd.DataFrame({"params_b": [0.5, 0.5, 8.0], "bpw": [3.16, 6.56, 1.5],
                      "task_category": ["knowledge", "knowledge", "coding"]})
    out = fitted.predict(q)
    for bpw, low, point in zip(q["bpw"], out["retention_low"], out["retention"], strict=True):
        seen = acc.loc[acc["bpw"] >= bpw - 0.25, "retention"]
        floor = seen.min() if len(seen) else acc["retention"].min()
        assert low >= min(floor, point) - 1e-12  # a point below the floor is its own bound


def test_a_scheme_is_worth_the_bits_the_error_model_gives_it() -> None:
    """imatrix files show 40% less PPL error at the same bits and sources: the error model
    values the scheme in bits per weight; retention follows bits per weight alone."""
    frame = synthetic_quality()
    err = frame["ppl_ratio"].notna() | frame["kld"].notna()
    imat = frame[err].assign(imatrix=True)  # the same sources measured both
    for col in ("ppl_ratio", "kld"):
        base = 1.0 if col == "ppl_ratio" else 0.0
        imat[col] = base + (imat[col] - base) * 0.6
    fitted = QualityPredictor(calibration_folds=2).fit(pd.concat([frame, imat],
                                                                 ignore_index=True))
    assert 0.2 < fitted.scheme_bits_["imatrix"] < 0.7
    q = pd.DataFrame({"params_b": [8.0, 8.0], "quant": ["Q2_K", "Q2_K"],
                      "imatrix": [None, True], "task_category": ["coding", "coding"]})
    out = fitted.predict(q)
    assert out["ppl_ratio"].iloc[1] < out["ppl_ratio"].iloc[0]
    assert out["kld"].iloc[1] < out["kld"].iloc[0]
    assert out["retention"].iloc[1] == out["retention"].iloc[0]


def test_retention_curves_per_category(fitted: QualityPredictor) -> None:
    curves = fitted.retention_curves(8.0, [2.5, 4.0, 6.5], ["coding", "knowledge"])
    assert len(curves) == 6
    assert set(curves["task_group"]) == {"exact", "recall"}
    for _, c in curves.groupby("task_category"):
        assert c["retention"].is_monotonic_increasing
        assert (c["retention_low"] <= c["retention"]).all()
