"""Tests for advisor.predictors.quality_features: inputs of the quality predictor."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from advisor.data.naming import parse_quant_label
from advisor.predictors.quality_features import (
    SCHEME_COLUMNS,
    SCHEMES,
    quality_features,
    scheme_columns,
)
from advisor.vocabulary.errors import InvalidInputError


def _row(label: str, **extra: object) -> dict[str, object]:
    parsed = parse_quant_label(label)
    return {"params_b": 8.0, "quant": parsed.quant, "quant_as_published": label,
            "quant_variant": parsed.variant, "imatrix": parsed.imatrix,
            "flags": parsed.flags, **extra}


@pytest.mark.parametrize(("label", "extra", "on"), [
    ("Q4_K_M", {}, set()),
    ("Q4_K_M [imatrix WT 10m]", {}, {"imatrix"}),
    ("IQK-6 mix [no imatrix, w=1; ik_llama.cpp]", {}, {"static", "dynamic", "ik_type"}),
    ("UD-Q4_K_XL [unsloth]", {}, {"dynamic"}),
    ("Q4_K_L [bartowski]", {}, {"dynamic"}),
    ("q4_K [pure; imatrix]", {}, {"pure", "imatrix"}),
    ("MXFP4_MOE", {}, {"mx"}),  # a llama-quantize preset since MXFP4 support landed
    ("MXFP4", {}, {"mx"}),
    ("Q4_0 [QAT] [google gguf]", {}, {"qat"}),
    ("Q4_K_M", {"flags": ["qat_checkpoint"]}, {"qat"}),
    ("iq2_kt [pure; imatrix; ik_llama.cpp-only type]", {}, {"pure", "imatrix", "ik_type"}),
])
def test_schemes_from_published_labels(label: str, extra: dict[str, object],
                                       on: set[str]) -> None:
    cols = scheme_columns(pd.DataFrame([_row(label, **extra)])).iloc[0]
    assert {s for s in SCHEMES if cols[f"scheme_{s}"] == 1.0} == on


def test_a_bare_prediction_frame_has_every_column() -> None:
    x = quality_features(pd.DataFrame({"params_b": [8.0, 1.0], "quant": ["Q4_K_M", None],
                                       "bpw": [np.nan, 3.2],
                                       "task_category": ["coding", "vision"]}))
    assert list(x["task_group"]) == ["exact", "unknown"]
    assert x["bpw"].iloc[0] == pytest.approx(4.8944) and x["bpw"].iloc[1] == 3.2
    assert (x[list(SCHEME_COLUMNS)] == 0.0).all().all()
    assert x["log_params"].iloc[1] == 0.0


def test_params_are_required() -> None:
    with pytest.raises(InvalidInputError) as info:
        quality_features(pd.DataFrame({"params_b": [8.0, 0.0], "quant": ["Q4_K_M"] * 2}))
    assert info.value.parameter == "params_b"
