"""Tests for advisor.predictors.evaluation: per-group-then-median figures, baselines, group checks."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from test_speed_model import synthetic_speed

from advisor.predictors.evaluation import (
    device_groups,
    quality_cv,
    quality_metrics,
    spec_only_summary,
    speed_baseline,
    speed_cv,
    speed_metrics,
)
from advisor.vocabulary.errors import InvalidInputError


def test_speed_metrics_take_the_median_over_devices() -> None:
    # device a: 10 rows with 0% error; device b: 1 row with 50% error; device c: 1 row, 10%
    actual = np.full(12, 100.0)
    pred = np.r_[np.full(10, 100.0), 150.0, 110.0]
    rows = pd.DataFrame({"hardware": ["a"] * 10 + ["b", "c"], "hardware_kind": "gpu",
                         "phase": "generation", "device_class": "gpu",
                         "actual": actual, "pred": pred, "pred_low": pred * 0.9,
                         "pred_high": pred * 1.1, "baseline": actual * 2})
    m = speed_metrics(rows)["generation/gpu"]
    assert m["devices"] == 3
    assert m["median_ape"] == pytest.approx(0.10)          # median of (0, 0.5, 0.1)
    assert m["worst_device_median_ape"] == pytest.approx(0.5)
    assert m["baseline_median_ape"] == pytest.approx(1.0)
    assert m["coverage_90"] == pytest.approx(2 / 3)         # a and c covered, b not: mean 2/3
    assert m["coverage_90_pooled"] == pytest.approx(11 / 12)


@pytest.mark.parametrize("n_prompt, n_gen, expected", [
    (0, 128, 0.55 * 1000e9 / (8e9 * 4.0 / 8)),             # bandwidth rule
    (512, 0, 0.30 * 100e12 / (2 * 8e9)),                   # compute rule
])
def test_speed_baseline(n_prompt: int, n_gen: int, expected: float) -> None:
    frame = pd.DataFrame({"params_b": [8.0], "model_bytes": [8e9 * 4.0 / 8],
                          "quant": ["Q4_K_M"], "n_prompt": [n_prompt], "n_gen": [n_gen],
                          "bandwidth_gbs": [1000.0], "fp16_tflops": [100.0],
                          "hardware_kind": ["gpu"]})
    assert speed_baseline(frame).iloc[0] == pytest.approx(expected)


def test_quality_metrics_in_points() -> None:
    rows = pd.DataFrame({"group": ["m1", "m1", "m2"], "target": "retention",
                         "actual": [0.90, 0.95, 0.80], "pred": [0.92, 0.95, 0.90],
                         "pred_low": 0.0, "pred_high": 1.0, "baseline": [0.9, 0.9, 0.9]})
    m = quality_metrics(rows)["retention"]
    assert m["mean_ae"] == pytest.approx(np.median([1.0, 10.0]))
    assert m["baseline_mean_ae"] == pytest.approx(np.median([2.5, 10.0]))
    assert m["units"] == "points (x100)"


def test_quality_metrics_report_small_model_and_low_bit_slices() -> None:
    rows = pd.DataFrame({"group": ["m1", "m1", "m2", "m2"], "target": "retention",
                         "params_b": [1.5, 1.5, 8.0, 8.0], "bpw": [3.2, 6.6, 3.2, 6.6],
                         "actual": [0.80, 0.99, 0.90, 1.00], "pred": [0.85, 0.99, 0.88, 0.99],
                         "pred_low": [0.7, 0.995, 0.8, 0.9], "pred_high": 1.0,
                         "baseline": [0.9, 0.99, 0.9, 0.99]})
    m = quality_metrics(rows)
    assert set(m) == {"retention", "retention/<4B", "retention/<=3.5bpw"}
    assert m["retention/<4B"]["groups"] == 1 and m["retention/<4B"]["rows"] == 2
    assert m["retention/<4B"]["mean_ae"] == pytest.approx(2.5)
    assert m["retention/<=3.5bpw"]["mean_ae"] == pytest.approx(np.median([5.0, 2.0]))
    assert m["retention/<=3.5bpw"]["baseline_mean_ae"] == pytest.approx(np.median([10.0, 0.0]))
    assert m["retention"]["coverage_90_pooled"] == pytest.approx(0.75)


def test_quality_cv_rejects_unknown_group() -> None:
    with pytest.raises(InvalidInputError, match="group must be"):
        quality_cv(pd.DataFrame({"model": ["a"]}), "hardware")


def test_speed_cv_scores_each_setup_in_its_own_slice() -> None:
    frame = synthetic_speed()
    pi = frame["hardware"] == frame["hardware"].iloc[0]
    frame.loc[pi, "host_limit"] = "Raspberry Pi 5 (PCIe x1)"
    rows = speed_cv(frame, n_jobs=1, speed_params={"calibration_folds": 2})
    cls = rows.groupby("hardware")["device_class"].agg(set)
    assert cls[frame["hardware"].iloc[0]] == {"host_limited"}
    assert cls["gpu-a x2"] == {"multi_device"}
    cpus = frame.loc[frame["hardware_kind"] == "cpu", "hardware"].unique()
    assert all(cls[c] == {"cpu"} for c in cpus) and len(cpus) > 0
    others = set(cls.index) - {frame["hardware"].iloc[0], "gpu-a x2", *cpus}
    kinds = frame.drop_duplicates("hardware").set_index("hardware")["hardware_kind"]
    assert others and all(cls[d] == {kinds[d]} for d in others)
    assert {"gpu", "apple"} <= {c for d in others for c in cls[d]}
    assert "generation/host_limited" in speed_metrics(rows)


def test_speed_cv_by_source_holds_out_the_sources_devices_too(monkeypatch) -> None:
    """Holding out source 'b' (generation on gpu-b and mac-b) also removes source 'c''s rows
    on gpu-b: the fold predicts b's devices from specs alone. Holding out 'c' (prompts on
    gpu-b) removes b's gpu-b rows and keeps its mac-b rows."""
    from advisor.predictors import evaluation as evaluation

    frame = synthetic_speed()
    frame["source_id"] = "a"
    gen = frame["n_gen"] > 0
    frame.loc[frame["hardware"].isin(["gpu-b", "mac-b"]) & gen, "source_id"] = "b"
    frame.loc[(frame["hardware"] == "gpu-b") & ~gen, "source_id"] = "c"
    seen = {}
    real_fold = evaluation._speed_fold

    def spy(train, test, params, known_device=False):
        seen[tuple(sorted(set(test["source_id"])))] = (set(train["hardware"]),
                                                       set(train["source_id"]))
        return real_fold(train, test, params, known_device)

    monkeypatch.setattr(evaluation, "_speed_fold", spy)
    rows = speed_cv(frame, n_jobs=1, speed_params={"calibration_folds": 2}, hold_out="source")
    hardware, sources = seen[("b",)]
    assert not {"gpu-b", "mac-b"} & hardware and sources == {"a"}
    hardware, sources = seen[("c",)]
    assert "gpu-b" not in hardware and "mac-b" in hardware and sources == {"a", "b"}
    assert set(rows["source_id"]) == {"b", "c"}   # a's fold left no training rows: skipped
    assert rows.loc[rows["source_id"] == "b", "hardware"].nunique() == 2


def test_speed_cv_on_known_devices_holds_out_one_model_per_device(monkeypatch) -> None:
    """Each fold removes one (device, model) pair, its split rows too, and predicts it with
    the device named; devices that ran a single model get no fold."""
    from advisor.predictors import evaluation as evaluation

    frame = synthetic_speed()
    frame = frame[(frame["hardware"] != "gpu-d") | (frame["model"] == "model-8b")]
    seen = []
    real_fold = evaluation._speed_fold

    def spy(train, test, params, known_device=False):
        pair = set(zip(test["hardware"], test["model"], strict=True))
        assert len(pair) == 1 and known_device
        assert not pair & set(zip(train["hardware"], train["model"], strict=True))
        seen.append(pair.pop())
        return real_fold(train, test, params, known_device)

    monkeypatch.setattr(evaluation, "_speed_fold", spy)
    rows = speed_cv(frame, n_jobs=1, speed_params={"calibration_folds": 2},
                    hold_out="model_on_device")
    assert ("gpu-a", "model-8b") in seen and not any(d == "gpu-d" for d, _ in seen)
    assert "gpu-a x2" not in set(rows["hardware"])     # split rows are not scored
    assert "gpu-d" not in set(rows["hardware"])
    single = frame[frame["n_devices"] == 1].set_index(["hardware", "model"])
    assert len(rows) == single.index.isin(seen).sum()
    with pytest.raises(InvalidInputError, match="'model' column"):
        speed_cv(frame.drop(columns="model"), n_jobs=1, hold_out="model_on_device")


def test_speed_cv_rejects_unknown_hold_out() -> None:
    with pytest.raises(InvalidInputError, match="hold_out must be"):
        speed_cv(synthetic_speed(), hold_out="model")


def test_speed_cv_by_source_says_when_no_fold_can_be_fitted() -> None:
    frame = synthetic_speed()
    frame["source_id"] = np.where(frame["n_gen"] > 0, "a", "b")  # both measured every device
    with pytest.raises(InvalidInputError, match="no speed fold"):
        speed_cv(frame, n_jobs=1, speed_params={"calibration_folds": 2}, hold_out="source")
    with pytest.raises(InvalidInputError, match="needs >= 2 sources"):
        speed_cv(frame.assign(source_id="a"), n_jobs=1, hold_out="source")


def test_device_groups_spread_every_kind_over_the_groups() -> None:
    chips = pd.Series(["g1", "g2", "g3", "g4", "m1", "m2", "c1", "c1"])
    kinds = pd.Series(["gpu"] * 4 + ["apple"] * 2 + ["cpu"] * 2)
    groups = device_groups(kinds, chips, 2)
    assert sorted(d for g in groups for d in g) == ["c1", "g1", "g2", "g3", "g4", "m1", "m2"]
    assert all({"g1", "g2", "g3", "g4"} & set(g) for g in groups)
    assert all({"m1", "m2"} & set(g) for g in groups)
    assert len(device_groups(kinds, chips, 50)) == 7  # never an empty group
    with pytest.raises(InvalidInputError, match="device_folds"):
        device_groups(kinds, chips, 1)


def test_spec_only_summary_sets_each_phase_beside_its_rule() -> None:
    figures = {"devices": 3, "median_ape": 0.2, "baseline_median_ape": 0.3,
               "coverage_90": 0.9}
    metrics = {"generation/gpu": figures,
               "prompt/gpu": {**figures, "median_ape": 0.5},
               "generation/cpu": {**figures, "devices": 2},
               "generation/multi_device": figures}
    summary = spec_only_summary(metrics)
    assert set(summary) == {"gpu", "cpu"}
    assert summary["gpu"]["tg_bandwidth_rule_median_ape"] == 0.3
    assert summary["gpu"]["tg_beats_rule"] == "yes" and summary["gpu"]["pp_beats_rule"] == "no"
    assert summary["gpu"]["pp_flops_rule_median_ape"] == 0.3
    assert "pp_median_ape" not in summary["cpu"] and summary["cpu"]["devices"] == 2


def test_grouped_folds_hold_out_every_source_and_model_once(monkeypatch):
    """folds=k: k fits, each never seeing its held-out sources (with their devices) or its
    held-out models on their devices, and every scored row predicted once."""
    from advisor.predictors import evaluation as evaluation

    frame = synthetic_speed()
    frame["source_id"] = np.where(frame["hardware"].str.startswith("gpu"), "a", "b")
    frame.loc[frame["hardware"] == "gpu-b", "source_id"] = "c"
    fits = []
    real_fold = evaluation._speed_fold

    def spy(train, test, params, known_device=False):
        fits.append((set(test["source_id"]), set(train["source_id"]),
                     set(zip(test["hardware"], test["model"], strict=True)),
                     set(zip(train["hardware"], train["model"], strict=True))))
        return real_fold(train, test, params, known_device)

    monkeypatch.setattr(evaluation, "_speed_fold", spy)
    rows = speed_cv(frame, n_jobs=1, speed_params={"calibration_folds": 2},
                    hold_out="source", folds=2)
    assert len(fits) == 2 and rows.index.is_unique
    assert all(not held & seen for held, seen, _, _ in fits)
    fits.clear()
    rows = speed_cv(frame, n_jobs=1, speed_params={"calibration_folds": 2},
                    hold_out="model_on_device", folds=2)
    assert len(fits) == 2 and rows.index.is_unique
    assert all(not held & seen for _, _, held, seen in fits)
    with pytest.raises(InvalidInputError, match="folds"):
        speed_cv(frame, n_jobs=1, hold_out="source", folds=1)
