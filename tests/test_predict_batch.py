import math

import pandas as pd
import pytest
from conftest import HARDWARE

from advisor.catalog import load_catalog
from advisor.errors import DataFileError, InvalidInputError
from advisor.predict_batch import QUALITY_OUT, SPEED_OUT, predict_cases, read_cases

CSV = """model,params_b,quant,bpw,task_category,metric,hardware,kind,backend,bandwidth_gbs,fp16_tflops,memory_gb,test
Llama-3.1-8B,,Q4_K_M,,reasoning,,NVIDIA GeForce RTX 3090,,cuda,,,,tg128
,8,Q4_K_M,,,,Unknown GPU,gpu,vulkan,500,,16,pp512
Qwen3-30B-A3B,,UD-Q4_K_XL,,coding,,,,,,,,
,13,,3.5,,,,,,,,,
mystery-model,,Q8_0,,,,,,,,,,tg128
,7,Q9_Z,,,,,,,,,,
"""


@pytest.fixture
def cases(tmp_path):
    path = tmp_path / "cases.csv"
    path.write_text(CSV)
    return read_cases(path)


def test_every_row_comes_back_with_predictions_where_possible(cases, fake_predictors):
    out = predict_cases(cases, fake_predictors, load_catalog(), dict(HARDWARE))
    assert len(out) == len(cases)
    assert list(out.columns[:13]) == list(cases.columns[:13])
    # known hardware: specs from the table
    assert out.loc[0, "pred_tokens_per_s_low"] <= out.loc[0, "pred_tokens_per_s"] <= out.loc[0, "pred_tokens_per_s_high"]
    # unknown hardware with specs: predicted from the specs
    assert out.loc[1, "pred_tokens_per_s"] > 0
    # quality for a quant (also an Unsloth mix) or a bare bpw
    for i in (0, 1, 2, 3):
        assert 0 < out.loc[i, "pred_retention"] <= 1
        assert out.loc[i, "pred_ppl_ratio"] >= 1
    # no test -> no speed
    assert math.isnan(out.loc[2, "pred_tokens_per_s"])
    # unknown model and no hardware: blank predictions and a reason
    assert math.isnan(out.loc[4, "pred_tokens_per_s"]) and "speed needs" in out.loc[4, "pred_note"]
    assert "unknown quant" in out.loc[5, "pred_note"]
    assert set(SPEED_OUT + QUALITY_OUT) <= set(out.columns)


def test_moe_active_parameters_from_the_catalog(cases, fake_predictors):
    cases.loc[2, "test"] = "tg128"
    cases.loc[2, "hardware"] = "NVIDIA GeForce RTX 3090"
    out = predict_cases(cases, fake_predictors, load_catalog(), dict(HARDWARE))
    dense = pd.DataFrame([dict(cases.loc[2])])
    dense.loc[0, "model"] = ""
    dense.loc[0, "params_b"] = "30"
    out_dense = predict_cases(dense, fake_predictors, load_catalog(), dict(HARDWARE))
    assert out.loc[2, "pred_tokens_per_s"] > 5 * out_dense.loc[0, "pred_tokens_per_s"]


@pytest.mark.parametrize("column, value, fragment", [
    ("params_b", "eight", "params_b must be a number"),
    ("bandwidth_gbs", "-5", "positive"),
    ("kind", "toaster", "kind must be one of"),
    ("test", "bench", "pp512"),
])
def test_bad_values_name_line_and_column(cases, fake_predictors, column, value, fragment):
    cases.loc[1, column] = value
    with pytest.raises(InvalidInputError, match=fragment) as err:
        predict_cases(cases, fake_predictors, load_catalog(), dict(HARDWARE))
    assert "line 3" in str(err.value)


@pytest.mark.parametrize("text", ["", "a,b\n1,2\n"])
def test_unreadable_inputs(tmp_path, text):
    path = tmp_path / "x.csv"
    path.write_text(text)
    with pytest.raises(DataFileError):
        read_cases(path)


def test_missing_file(tmp_path):
    with pytest.raises(DataFileError, match="does not exist"):
        read_cases(tmp_path / "nope.csv")
