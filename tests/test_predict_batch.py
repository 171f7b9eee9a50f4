import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import HARDWARE, FakeCard, FakePredictors, FakeQuality
from thread_fixtures import ThreadedSpeed

from advisor.data.catalog import load_catalog
from advisor.data.hardware import load_hardware
from advisor.predictors.batch import (
    QUALITY_OUT,
    SPEED_OUT,
    catalog_model,
    predict_cases,
    read_cases,
)
from advisor.vocabulary.errors import DataFileError, InvalidInputError
from advisor.vocabulary.schema import Hardware, HardwareKind

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
    ("threads", "0", "threads must be a whole number from 1 to 1024"),
    ("threads", "-4", "threads must be a whole number"),
    ("threads", "1.5", "threads must be a whole number"),
    ("threads", "abc", "threads must be a whole number"),
    ("threads", "2000", "threads must be a whole number"),
    ("n_devices", "0", "n_devices must be a whole number from 1 to 16"),
    ("n_devices", "17", "n_devices must be a whole number from 1 to 16"),
    ("n_devices", "1.5", "n_devices must be a whole number"),
    ("n_devices", "two", "n_devices must be a whole number"),
    ("hardware", "Unknown GPU x17", "asks for 17 devices"),
])
def test_bad_values_name_line_and_column(cases, fake_predictors, column, value, fragment):
    cases.loc[1, column] = value
    with pytest.raises(InvalidInputError, match=fragment) as err:
        predict_cases(cases, fake_predictors, load_catalog(), dict(HARDWARE))
    assert "line 3" in str(err.value) and err.value.parameter == column


@pytest.mark.parametrize("text", ["", "a,b\n1,2\n"])
def test_unreadable_inputs(tmp_path, text):
    path = tmp_path / "x.csv"
    path.write_text(text)
    with pytest.raises(DataFileError):
        read_cases(path)


def test_missing_file(tmp_path):
    with pytest.raises(DataFileError, match="does not exist"):
        read_cases(tmp_path / "nope.csv")


def test_threads_column_reaches_the_speed_predictor(tmp_path):
    path = tmp_path / "cases.csv"
    path.write_text("model,quant,hardware,kind,bandwidth_gbs,threads,test\n"
                    "Llama-3.1-8B,Q4_K_M,My CPU,cpu,80,2,tg128\n"
                    "Llama-3.1-8B,Q4_K_M,My CPU,cpu,80,16,tg128\n"
                    "Llama-3.1-8B,Q4_K_M,My CPU,cpu,80,,tg128\n"
                    "Llama-3.1-8B,Q4_K_M,Box CPU,,,,tg128\n"
                    "Llama-3.1-8B,Q4_K_M,Box CPU,,,4.0,tg128\n")
    cases = read_cases(path)
    hardware = {**HARDWARE, "Box CPU": Hardware(name="Box CPU", kind=HardwareKind.CPU,
                                                bandwidth_gbs=80, threads=12)}
    speed = ThreadedSpeed()
    out = predict_cases(cases, FakePredictors(FakeQuality(), speed, FakeCard()), load_catalog(),
                        hardware)
    (frame,) = speed.frames
    np.testing.assert_array_equal(frame["threads"].to_numpy(dtype=float),
                                  [2.0, 16.0, np.nan, 12.0, 4.0])  # blank: the device's, else NaN
    tps = out["pred_tokens_per_s"].to_numpy(dtype=float)
    assert tps[1] == pytest.approx(8 * tps[0]) and tps[2] == pytest.approx(4 * tps[0])
    assert list(out["threads"]) == ["2", "16", "", "", "4.0"]  # the input comes back as given


def test_n_devices_column_reaches_the_speed_predictor(tmp_path):
    path = tmp_path / "cases.csv"
    path.write_text("model,quant,hardware,n_devices,test\n"
                    "Llama-3.1-8B,Q4_K_M,NVIDIA GeForce RTX 3090,,tg128\n"
                    "Llama-3.1-8B,Q4_K_M,NVIDIA GeForce RTX 3090,2,tg128\n"
                    "Llama-3.1-8B,Q4_K_M,NVIDIA GeForce RTX 3090 x4,,tg128\n"
                    "Llama-3.1-8B,Q4_K_M,2x NVIDIA GeForce RTX 3090,2.0,tg128\n"
                    "Llama-3.1-8B,Q4_K_M,NVIDIA GeForce RTX 3090,1,pp512\n")
    cases = read_cases(path)
    speed = ThreadedSpeed()
    out = predict_cases(cases, FakePredictors(FakeQuality(), speed, FakeCard()), load_catalog(),
                        dict(HARDWARE))
    (frame,) = speed.frames
    np.testing.assert_array_equal(frame["n_devices"].to_numpy(dtype=float),
                                  [1.0, 2.0, 4.0, 2.0, 1.0])  # blank: one device
    # one device's name and specs (the count is apart), so the table's specs are found
    assert set(frame["hardware"]) == {"NVIDIA GeForce RTX 3090"}
    assert set(frame["bandwidth_gbs"]) == {935.8} and set(frame["hardware_kind"]) == {"gpu"}
    assert out["pred_tokens_per_s"].notna().all()
    assert list(out["n_devices"]) == ["", "2", "", "2.0", "1"]  # the input comes back as given


@pytest.mark.parametrize("row, fragment", [
    ("Llama-3.1-8B,Q4_K_M,NVIDIA GeForce RTX 3090 x2,,4,tg128", "n_devices 4 disagrees with "
     "the 2 devices in the hardware name"),
    ("Llama-3.1-8B,Q4_K_M,Apple M2 Pro (19-core GPU; 32GB),,2,tg128", "only discrete GPUs"),
    ("Llama-3.1-8B,Q4_K_M,My CPU,cpu,2,tg128", "only discrete GPUs are split across devices "
     "by llama.cpp; got n_devices 2 of kind cpu"),
])
def test_device_counts_that_cannot_be(tmp_path, fake_predictors, row, fragment):
    path = tmp_path / "cases.csv"
    path.write_text(f"model,quant,hardware,kind,n_devices,test\n{row}\n")
    hardware = {**HARDWARE, "Apple M2 Pro (19-core GPU; 32GB)": Hardware(
        name="Apple M2 Pro (19-core GPU; 32GB)", kind=HardwareKind.APPLE, bandwidth_gbs=200)}
    with pytest.raises(InvalidInputError, match=fragment) as err:
        predict_cases(read_cases(path), fake_predictors, load_catalog(), hardware)
    assert "line 2" in str(err.value) and err.value.parameter == "n_devices"


CURRENT = Path(__file__).parent / "data" / "current_speed_cases.csv"


def test_current_models_on_current_devices_are_answered_by_name(fake_predictors):
    """Questions asked by name only (device as users type it, model as its source names it,
    quant as published, test), about 2025-2026 models on 2024-2026 devices: the measured ones
    are imported rows (benchmarks/current_speed_cases.py), the rest are devices no row
    measured. The shipped catalog and hardware table must answer >= 90% of them; a row whose
    model the catalog lists must be answered."""
    cases = read_cases(CURRENT)
    assert len(cases) >= 200 and (cases["source_id"] != "").sum() >= 100
    for device in ("dgx spark", "rtx pro 6000", "mi50", "m3 max", "m4 max", "m3 ultra",
                   "strix halo", "arc pro b70", "rtx 5080"):
        assert device in set(cases["hardware"]), device
    catalog = load_catalog()
    out = predict_cases(cases, fake_predictors, catalog, load_hardware())
    answered = out["pred_tokens_per_s"].notna()
    assert answered.mean() >= 0.90, out.loc[~answered, "pred_note"].value_counts()
    listed = cases["model"].map(lambda m: catalog_model(m, catalog) is not None)
    assert answered[listed].all()
    assert (out.loc[answered, "pred_build"] != "").all()


@pytest.mark.parametrize(("model", "quant", "hardware", "active"), [
    ("unsloth/Qwen3.6-35B-A3B-GGUF", "UD-Q4_K_XL", "strix halo", 3.0),
    ("gpt-oss-20b", "MXFP4", "rtx 5090", 3.6),
    ("gemma-4-26B-A4B-it", "Q4_K_M", "m4 max 40 core", 4.0),
])
def test_names_users_type_are_resolved(model, quant, hardware, active):
    from advisor.predictors.batch import prepare

    cases = pd.DataFrame([{"model": model, "quant": quant, "hardware": hardware,
                           "test": "tg128"}])
    cases = cases.reindex(columns=[*cases.columns, "params_b", "bpw", "task_category", "metric",
                                   "kind", "backend", "bandwidth_gbs", "fp16_tflops",
                                   "memory_gb", "threads", "n_devices", "build"],
                          fill_value="")
    query, notes = prepare(cases, load_catalog(), load_hardware())
    row = query.iloc[0]
    assert notes == [""]
    assert row["active_params_b"] == pytest.approx(active, rel=0.1)
    assert row["quant"] == ("MXFP4" if quant == "MXFP4" else "Q4_K_M")
    assert row["bandwidth_gbs"] > 0 and row["hardware"] in load_hardware()


@pytest.mark.parametrize(("build", "year"), [("b6077", 2025.59), ("6077", 2025.59),
                                             ("2026-02-06", 2026.10)])
def test_build_column_names_the_build_predicted_for(tmp_path, fake_predictors, build, year):
    path = tmp_path / "cases.csv"
    path.write_text("model,quant,hardware,test,build\nQwen3-8B,Q4_K_M,rtx 3090,tg128,"
                    f"{build}\n")
    from advisor.predictors.batch import prepare

    query, _ = prepare(read_cases(path), load_catalog(), load_hardware())
    assert query.loc[0, "build_year"] == pytest.approx(year, abs=0.01)


def test_a_bad_build_names_line_and_column(tmp_path):
    path = tmp_path / "cases.csv"
    path.write_text("model,quant,hardware,test,build\nQwen3-8B,Q4_K_M,rtx 3090,tg128,soon\n")
    from advisor.predictors.batch import prepare

    with pytest.raises(InvalidInputError, match="line 2: build must be"):
        prepare(read_cases(path), load_catalog(), load_hardware())
