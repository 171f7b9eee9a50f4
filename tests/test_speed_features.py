"""Tests for advisor.predictors.speed_features: the FLOPS basis, build dates and the physical ceilings of speed rows."""

from __future__ import annotations

import pandas as pd
import pytest

from advisor.predictors.speed_features import flops_basis, over_physical_ceiling, speed_features


@pytest.mark.parametrize("text, expected", [
    ("vector (non-tensor) FP16 peak at boost clock as tabulated by Wikipedia", "vector"),
    ("tensor-core FP16 with FP32 accumulate (as tabulated by Wikipedia)", "tensor"),
    ("tensor-core FP16 dense (NVIDIA datasheet value)", "tensor"),
    ("theoretical FP16 WMMA peak (RDNA 3.5) as stated by source", "tensor"),
    ("vector FP16 (2:1 of FP32)", "vector"),
    ("GPU FP32 peak (no separate FP16 figure)", "fp32"),
    ('Wikipedia "Half" column at boost (last value)', "vector"),
    ('HF.js "Arc B50" TFLOPS (FP16 when possible; approximate)', "vector"),
    ('Adreno GPU "TFLOPs" as tabulated by digit.in (precision not stated)', "unknown"),
    ("", "unknown"), (None, "unknown"), (float("nan"), "unknown"), ("datasheet", "unknown"),
])
def test_flops_basis_reads_hardware_csv_texts(text: object, expected: str) -> None:
    assert flops_basis(text) == expected


def test_every_hardware_csv_basis_is_understood() -> None:
    from advisor.data.dataset import load_dataset

    texts = {h.fp16_basis for h in load_dataset().hardware.values() if h.fp16_basis}
    # only a figure whose source does not state its precision stays unknown
    assert texts and all(flops_basis(t) != "unknown" or "precision not stated" in t
                         for t in texts)


def test_speed_features_basis_column_is_optional() -> None:
    row = {"params_b": 8.0, "quant": "Q4_K_M", "n_prompt": 512, "n_gen": 0,
           "bandwidth_gbs": 900.0, "fp16_tflops": 80.0, "hardware_kind": "gpu"}
    without = speed_features(pd.DataFrame([row]))
    with_col = speed_features(pd.DataFrame([{**row, "fp16_basis": "tensor-core FP16 dense"}]))
    assert without["flops_basis"].tolist() == ["unknown"]
    assert with_col["flops_basis"].tolist() == ["tensor"]


def _m1_row(test: str, n_prompt: int, n_gen: int, tokens_per_s: float, **over: object) -> dict:
    """An 8B Q4_K_M (4.92 GB) on a 68 GB/s, 2.29 TFLOPS device: at most ~14 tokens/s generated
    at full bandwidth, and ~143 prompt tokens/s at the full FLOPS figure."""
    row = {"params_b": 8.03, "quant": "Q4_K_M", "model_bytes": 4.92e9, "test": test,
           "n_prompt": n_prompt, "n_gen": n_gen, "tokens_per_s": tokens_per_s,
           "bandwidth_gbs": 68.25, "fp16_tflops": 2.29, "hardware_kind": "apple"}
    return {**row, **over}


def test_rows_faster_than_their_device_allows_are_over_the_ceiling() -> None:
    # the published Apple M1 8GB rows: tg8192 at 1133 tokens/s, pp8192 at 1849 tokens/s
    frame = pd.DataFrame([
        _m1_row("tg512", 0, 512, 10.2), _m1_row("tg8192", 0, 8192, 1133.05),
        _m1_row("pp512", 512, 0, 94.48), _m1_row("pp8192", 8192, 0, 1849.39),
        _m1_row("tg128", 0, 128, 27.0),   # 1.95x the bandwidth: caches, not impossible
        _m1_row("tg128", 0, 128, 29.0),   # 2.09x: over
        _m1_row("pp512", 512, 0, 820.0),  # 5.75x the FLOPS figure: tensor cores could
        _m1_row("pp512", 512, 0, 860.0),  # 6.03x: over
    ])
    assert over_physical_ceiling(frame).tolist() == [False, True, False, True,
                                                     False, True, False, True]


def test_rows_without_the_specs_to_tell_are_never_over() -> None:
    frame = pd.DataFrame([
        _m1_row("tg8192", 0, 8192, 1133.05, bandwidth_gbs=None),
        _m1_row("pp8192", 8192, 0, 1849.39, fp16_tflops=None),
        _m1_row("pp512+tg128", 512, 128, 5000.0),  # a combined test has no single ceiling
    ])
    assert not over_physical_ceiling(frame).any()


def test_a_model_small_enough_for_a_cache_may_beat_the_bandwidth() -> None:
    tiny = _m1_row("tg128", 0, 128, 1500.0, params_b=0.135, model_bytes=1.45e8)  # 3.2x
    assert over_physical_ceiling(pd.DataFrame([tiny])).tolist() == [False]


def test_ceilings_scale_with_devices_and_active_parameters() -> None:
    split = _m1_row("tg128", 0, 128, 40.0, n_devices=4)  # 2.9x one device, 0.7x of four
    moe = _m1_row("tg128", 0, 128, 25.0, params_b=60.0, model_bytes=36e9, active_params_b=6.0)
    dense = {**moe, "active_params_b": None}  # the same speed reading all 36 GB: over
    assert over_physical_ceiling(pd.DataFrame([split, moe, dense])).tolist() == [
        False, False, True]


@pytest.mark.parametrize(("env", "fork", "expected"), [
    ({"date": "2025-08-05", "llama_cpp_build": "83bc2f28 (6077)"}, None, 2025.59),
    ({"llama_cpp_build": "83bc2f28 (6077)"}, None, 2025.59),       # mainline build number
    ({"llama_cpp_build": "0b14b87 (368)"}, None, float("nan")),   # a shallow clone's count
    ({"llama_cpp_build": "4084ca73 (3673)"}, "ik_llama.cpp", float("nan")),  # a fork's count
    ({"llama_cpp_build": "4084ca73 (3673)", "date": "2025-05-09"}, "ik_llama.cpp", 2025.35),
    ({}, None, float("nan")), (None, None, float("nan")),
])
def test_build_year_of_a_row(env: object, fork: object, expected: float) -> None:
    from advisor.predictors.speed_features import build_years

    frame = pd.DataFrame({"environment": [env], "fork": [fork]})
    got = build_years(frame).iloc[0]
    assert (pd.isna(got) and pd.isna(expected)) or got == pytest.approx(expected, abs=0.01)


def test_a_given_build_year_wins_and_dates_interpolate() -> None:
    from advisor.predictors.speed_features import (
        BUILD_DATES,
        build_number_year,
        build_years,
        year_of,
    )

    frame = pd.DataFrame({"environment": [{"date": "2024-01-01"}], "build_year": [2026.5]})
    assert build_years(frame).iloc[0] == 2026.5
    years = [build_number_year(b) for b, _ in BUILD_DATES]
    assert years == sorted(years)
    assert all(build_number_year(b) == pytest.approx(year_of(d)) for b, d in BUILD_DATES)
    assert build_number_year(12000) > build_number_year(10464)  # the last rate carries on
    assert pd.isna(year_of("2025-13-01")) and pd.isna(year_of("b6077"))


def test_speed_features_read_ubatch_and_flash_attention() -> None:
    rows = pd.DataFrame([{"params_b": 8.0, "quant": "Q4_K_M", "n_prompt": 512, "n_gen": 0,
                          "bandwidth_gbs": 900.0, "hardware_kind": "gpu", "flash_attn": fa,
                          "environment": env}
                         for fa, env in ((True, {"n_ubatch": 2048}), (False, {}), (None, None))])
    x = speed_features(rows)
    assert x["ubatch"].tolist()[0] == 2048 and x["ubatch"].isna().tolist()[1:] == [True, True]
    assert x["flash_attn"].tolist()[:2] == [1.0, 0.0] and pd.isna(x["flash_attn"].iloc[2])


def test_a_tensor_figure_bounds_prompts_too() -> None:
    row = {"params_b": 8.0, "quant": "Q4_K_M", "n_prompt": 512, "n_gen": 0,
           "bandwidth_gbs": 2000.0, "fp16_tflops": None, "fp16_tensor_tflops": 312.0,
           "hardware_kind": "gpu"}
    # 2 x 8e9 x tokens/s against 312 TFLOPS: 20,000 tokens/s is 1.03x, 40,000 is 2.05x
    frame = pd.DataFrame([{**row, "tokens_per_s": 20000.0}, {**row, "tokens_per_s": 40000.0}])
    assert over_physical_ceiling(frame).tolist() == [False, True]
