"""Tests for advisor.predictors.speed_calibration (the rule and its learned calibration) and the
MoE active bytes the rule divides by."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from advisor.predictors.speed_calibration import (
    GEN_EFFICIENCY,
    PP_EFFICIENCY,
    RuleCalibration,
    choose_blend,
    interval,
    rule,
)
from advisor.predictors.speed_features import speed_features


def features(**over: object) -> pd.DataFrame:
    """Speed features of one question, with the columns the calibration reads."""
    base = {"params_b": 8.0, "active_params_b": np.nan, "quant": "Q4_K_M", "n_prompt": 0,
            "n_gen": 128, "depth": 0, "hardware_kind": "gpu", "backend": "cuda",
            "bandwidth_gbs": 1000.0, "fp16_tflops": 80.0, "model_bytes": 5e9}
    base.update(over)
    x = speed_features(pd.DataFrame([base]))
    return x.assign(flops_filled=x["flops"], threads=8.0, year_gap=0.0, log_ubatch=0.0,
                    quant_class=x["quant_family"], flash_attn="unknown",
                    **{c: x[c].map({True: "yes", False: "no"}) for c in
                       ("fork", "moe", "host_limited", "dev_build")})


def test_the_rule_is_the_issues_formula() -> None:
    tg = features()
    assert np.exp(rule(tg))[0] == pytest.approx(GEN_EFFICIENCY * 1000e9 / 5e9)
    pp = features(n_prompt=512, n_gen=0)
    assert np.exp(rule(pp))[0] == pytest.approx(PP_EFFICIENCY * 80e12 / (2 * 8e9))


def test_moe_generation_reads_the_active_bytes_and_prompts_the_active_flops() -> None:
    """A 30B-A3B model reads a tenth of its weights per token: the rule (and every model
    built on these features) runs it ten times as fast as its dense 30B twin."""
    dense = features(params_b=30.0, model_bytes=18e9)
    moe = features(params_b=30.0, active_params_b=3.0, model_bytes=18e9)
    assert moe["active_bytes"][0] == pytest.approx(1.8e9)
    assert bool(moe["moe"][0] == "yes") and bool(dense["moe"][0] == "no")
    assert np.exp(rule(moe) - rule(dense))[0] == pytest.approx(10.0)
    pp_dense = features(params_b=30.0, model_bytes=18e9, n_prompt=512, n_gen=0)
    pp_moe = features(params_b=30.0, active_params_b=3.0, model_bytes=18e9, n_prompt=512,
                      n_gen=0)
    assert np.exp(rule(pp_moe) - rule(pp_dense))[0] == pytest.approx(10.0)


def _rows(n: int = 400, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """Generation rows whose devices reach 0.8 of the rule's efficiency on GPUs and 0.4 on
    CPUs: the calibration has to learn a kind's share of its bandwidth."""
    rng = np.random.default_rng(seed)
    parts = []
    for i in range(n):
        kind = "cpu" if i % 4 == 0 else "gpu"
        parts.append(features(hardware_kind=kind, backend="cpu" if kind == "cpu" else "cuda",
                              bandwidth_gbs=float(rng.uniform(50, 1500)),
                              params_b=float(rng.uniform(1, 30)),
                              model_bytes=float(rng.uniform(0.6, 18)) * 1e9))
    x = pd.concat(parts, ignore_index=True)
    share = np.where(x["kind"] == "cpu", 0.4, 0.8) / GEN_EFFICIENCY
    y = rule(x) + np.log(share) + rng.normal(0, 0.05, len(x))
    return x, y


def test_the_calibration_learns_what_share_of_the_rule_a_kind_reaches() -> None:
    x, y = _rows()
    model = RuleCalibration().fit(x, y, np.ones(len(x)))
    held, y_held = _rows(seed=1)
    err = np.abs(model.predict(held) - y_held)
    assert np.median(err) < 0.08  # the rule alone is off by log(0.8/0.55) = 0.37 or more
    assert np.median(np.abs(rule(held) - y_held)) > 0.3


def test_the_calibration_keeps_the_rules_physics() -> None:
    """Monotonic: a bigger model is never faster, more bandwidth never slower."""
    x, y = _rows()
    model = RuleCalibration().fit(x, y, np.ones(len(x)))
    sizes = pd.concat([features(model_bytes=b * 1e9) for b in np.linspace(1, 40, 25)])
    speeds = np.exp(model.predict(sizes))
    assert np.all(np.diff(speeds) <= 1e-9 * speeds[:-1])
    bands = pd.concat([features(bandwidth_gbs=b) for b in np.linspace(100, 3000, 25)])
    speeds = np.exp(model.predict(bands))
    assert np.all(np.diff(speeds) >= -1e-9 * speeds[:-1])


def test_the_blend_goes_to_the_model_held_out_devices_favour() -> None:
    rng = np.random.default_rng(0)
    y = rng.normal(3, 1, 200)
    groups = np.repeat([f"d{i}" for i in range(10)], 20)
    good, bad = y + rng.normal(0, 0.02, 200), y + 0.5
    phase = np.array(["tg"] * 100 + ["pp"] * 100)
    kind = np.array(["gpu"] * 200)
    blend = choose_blend(np.column_stack([good, bad]), y, phase, kind, groups)
    assert blend["tg"] == 1.0 and blend["pp"] == 1.0   # physics column wins
    blend = choose_blend(np.column_stack([bad, good]), y, phase, kind, groups)
    assert blend["tg"] == 0.0 and blend["tg:gpu"] == 0.0  # the calibrated rule wins


def test_the_plain_rule_is_chosen_where_nothing_learned_beats_it_on_held_out_devices() -> None:
    rng = np.random.default_rng(1)
    y = rng.normal(3, 1, 200)
    groups = np.repeat([f"d{i}" for i in range(10)], 20)
    phase, kind = np.array(["tg"] * 200), np.array(["cpu"] * 200)
    rule_good = y + rng.normal(0, 0.05, 200)
    physics, calibrated = y + rng.normal(0.4, 0.05, 200), y - 0.6
    blend = choose_blend(np.column_stack([physics, calibrated, rule_good]), y, phase, kind,
                         groups)
    assert blend == {"tg": "rule", "tg:cpu": "rule"}
    # a learned model that is clearly better wins over the rule
    blend = choose_blend(np.column_stack([y + rng.normal(0, 0.01, 200), calibrated, y + 0.3]),
                         y, phase, kind, groups)
    assert blend["tg:cpu"] == 1.0


def test_a_choice_within_the_margin_of_the_best_goes_to_the_simpler_model() -> None:
    """Physics 3% worse than a blend on held-out devices is kept: with a dozen devices a
    difference that small is chance."""
    y = np.zeros(100)
    groups = np.repeat([f"d{i}" for i in range(10)], 10)
    phase, kind = np.array(["tg"] * 100), np.array(["apple"] * 100)
    # the calibrated rule alone is 19.7% off, the physics 20.3% (3% worse)
    physics, calibrated = np.full(100, np.log(1.203)), np.full(100, np.log(1.197))
    blend = choose_blend(np.column_stack([physics, calibrated]), y, phase, kind, groups)
    assert blend["tg:apple"] == 1.0
    far = np.full(100, np.log(1.4))  # 40% off: the blend is now clearly better
    blend = choose_blend(np.column_stack([far, calibrated]), y, phase, kind, groups)
    assert blend["tg:apple"] != 1.0


def test_the_interval_is_the_weighted_central_range_and_holds_the_point() -> None:
    r = pd.Series(np.linspace(-1, 1, 101))
    lo, hi = interval(r, np.ones(101))
    assert lo == pytest.approx(-0.9, abs=0.03) and hi == pytest.approx(0.9, abs=0.03)
    lo, hi = interval(pd.Series(np.linspace(0.1, 1, 50)), np.ones(50))
    assert lo == 0.0 and hi > 0.8


def test_few_held_out_devices_widen_the_interval() -> None:
    """Split conformal at the level of devices: from n devices the central 0.9 x (1 + 1/n) of
    the residuals, so 9 devices or fewer give their whole range."""
    r = pd.Series(np.linspace(-1, 1, 101))
    plain = interval(r, np.ones(101))
    wide = interval(r, np.ones(101), n_groups=20)
    assert wide[0] < plain[0] and wide[1] > plain[1]
    assert wide[0] == pytest.approx(-0.945, abs=0.03) and wide[1] == pytest.approx(0.945, abs=0.03)
    assert interval(r, np.ones(101), n_groups=9) == (-1.0, 1.0)
