"""Tests for advisor.predictors.features: the FLOPS-basis label and the physical ceilings of speed rows."""

from __future__ import annotations

import pandas as pd
import pytest

from advisor.predictors.features import flops_basis, over_physical_ceiling, speed_features


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
