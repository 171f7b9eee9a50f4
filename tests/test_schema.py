import json

import pytest
from pydantic import ValidationError

from advisor.vocabulary.schema import MetricKind, QualityRow, SpeedRow, parse_test

BASE = {"source_id": "s", "model": "M", "model_as_published": "M", "quant_as_published": "Q4_K_M"}


def speed(**kw):
    return SpeedRow(**{**BASE, "hardware": "h", "backend": "cuda", "test": "tg128",
                       "tokens_per_s": 10.0, **kw})


def quality(**kw):
    return QualityRow(**{**BASE, "metric": "mmlu", "metric_kind": MetricKind.ACCURACY,
                         "value": 0.6, **kw})


@pytest.mark.parametrize("test, expected", [
    ("pp512", (512, 0, 0)), ("tg128", (0, 128, 0)), ("pp512+tg128", (512, 128, 0)),
    ("tg128@d2048", (0, 128, 2048)), ("PP4096", (4096, 0, 0)),
])
def test_parse_test(test, expected):
    assert parse_test(test) == expected
    row = speed(test=test)
    assert (row.n_prompt, row.n_gen, row.depth) == expected


@pytest.mark.parametrize("bad", [
    {"tokens_per_s": 0}, {"tokens_per_s": float("nan")}, {"tokens_per_s": float("inf")},
    {"test": "bench"}, {"n_devices": 0}, {"unknown_field": 1}, {"source_id": ""},
])
def test_speed_row_rejects(bad):
    with pytest.raises(ValidationError):
        speed(**bad)


@pytest.mark.parametrize("bad", [
    {"value": float("nan")}, {"retention": -0.1}, {"ppl_ratio": 1.1},
    {"metric_kind": "perplexity", "retention": 0.9}, {"kld": -1.0},
])
def test_quality_row_rejects(bad):
    with pytest.raises(ValidationError):
        quality(**bad)


@pytest.mark.parametrize("row", [speed(raw_tokens_per_s=[9.0, 10.0, 11.0],
                                        environment={"cpu": "x"}),
                                  quality(retention=0.95, baseline_value=0.63, flags=["a"])])
def test_round_trip_through_json(row):
    again = type(row).model_validate(json.loads(row.model_dump_json()))
    assert again == row
    assert again.content_hash() == row.content_hash()


def test_content_hash_changes_with_content():
    assert speed().content_hash() != speed(tokens_per_s=11.0).content_hash()


def test_hardware_threads_are_optional_and_at_least_one():
    from advisor.vocabulary.schema import Hardware

    assert Hardware(name="h", kind="cpu").threads is None
    assert Hardware(name="h", kind="cpu", threads="8").threads == 8  # as a CSV cell
    for bad in (0, -2, 1.5):
        with pytest.raises(ValidationError):
            Hardware(name="h", kind="cpu", threads=bad)
    fields = list(Hardware.model_fields)
    assert fields.index("threads") == fields.index("fp16_basis") + 1


def test_hardware_device_count_is_optional_and_2_to_16():
    from advisor.vocabulary.schema import Hardware

    one = Hardware(name="h", kind="gpu")
    assert one.n_devices is None and one.device_name == "h"
    two = Hardware(name="h x2", kind="gpu", n_devices=2)
    assert (two.n_devices, two.device_name) == (2, "h")
    assert Hardware(name="h", kind="gpu", n_devices=16).device_name == "h"  # no suffix to drop
    for bad in (0, 1, 17, 1.5):
        with pytest.raises(ValidationError):
            Hardware(name="h", kind="gpu", n_devices=bad)
    fields = list(Hardware.model_fields)
    assert fields.index("n_devices") == fields.index("threads") + 1
    assert "split over" in Hardware.model_fields["n_devices"].description
