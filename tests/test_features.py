"""Tests for advisor.features: the FLOPS-basis label the speed model uses."""

from __future__ import annotations

import pandas as pd
import pytest

from advisor.features import flops_basis, speed_features


@pytest.mark.parametrize("text, expected", [
    ("vector (non-tensor) FP16 peak at boost clock as tabulated by Wikipedia", "vector"),
    ("tensor-core FP16 with FP32 accumulate (as tabulated by Wikipedia)", "tensor"),
    ("tensor-core FP16 dense (NVIDIA datasheet value)", "tensor"),
    ("theoretical FP16 WMMA peak (RDNA 3.5) as stated by source", "tensor"),
    ("vector FP16 (2:1 of FP32)", "vector"),
    ("GPU FP32 peak (no separate FP16 figure)", "fp32"),
    ("", "unknown"), (None, "unknown"), (float("nan"), "unknown"), ("datasheet", "unknown"),
])
def test_flops_basis_reads_hardware_csv_texts(text: object, expected: str) -> None:
    assert flops_basis(text) == expected


def test_every_hardware_csv_basis_is_understood() -> None:
    from advisor.dataset import load_dataset

    texts = {h.fp16_basis for h in load_dataset().hardware.values() if h.fp16_basis}
    assert texts and all(flops_basis(t) != "unknown" for t in texts)


def test_speed_features_basis_column_is_optional() -> None:
    row = {"params_b": 8.0, "quant": "Q4_K_M", "n_prompt": 512, "n_gen": 0,
           "bandwidth_gbs": 900.0, "fp16_tflops": 80.0, "hardware_kind": "gpu"}
    without = speed_features(pd.DataFrame([row]))
    with_col = speed_features(pd.DataFrame([{**row, "fp16_basis": "tensor-core FP16 dense"}]))
    assert without["flops_basis"].tolist() == ["unknown"]
    assert with_col["flops_basis"].tolist() == ["tensor"]
