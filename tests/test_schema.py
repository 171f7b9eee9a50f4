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


def _nested(levels):
    value: dict = {}
    for _ in range(levels):
        value = {"x": value}
    return value


@pytest.mark.parametrize("bad, words", [
    ({"tokens_per_s": 0}, "greater than 0"), ({"tokens_per_s": float("nan")}, "finite"),
    ({"tokens_per_s": float("inf")}, "finite"), ({"tokens_per_s": 1e30}, "less than or equal"),
    ({"test": "bench"}, "pattern"), ({"test": "pp0"}, "pattern"), ({"test": "tg00"}, "pattern"),
    ({"test": "pp99999999999"}, "counts 1 to 10,000,000"),
    ({"test": "tg128@d99999999999"}, "counts 1 to 10,000,000"),
    ({"n_devices": 0}, "greater than or equal to 1"), ({"n_devices": 10**30}, "less than"),
    ({"threads": 10**30}, "less than"), ({"threads": 0}, "greater than"),
    ({"gpu_layers": -5}, "greater than or equal to -1"), ({"gpu_layers": 10**30}, "less than"),
    ({"model_bytes": 10**30}, "less than"), ({"params_b": 1e300}, "less than"),
    ({"bandwidth_gbs": 1e300}, "less than"), ({"batch_size": 10**20}, "less than"),
    ({"environment": _nested(9)}, "nests 9 levels deep; allowed: at most 8"),
    ({"environment": _nested(240)}, "nests 9 levels deep"),
    ({"environment": {"x": list(range(1001))}}, "more than 1000 values"),
    ({"unknown_field": 1}, "Extra inputs"), ({"source_id": ""}, "at least 1"),
])
def test_speed_row_rejects(bad, words):
    with pytest.raises(ValidationError, match=words):
        speed(**bad)


@pytest.mark.parametrize("good", [
    {"gpu_layers": -1}, {"gpu_layers": 99}, {"environment": _nested(8)},
    {"test": "pp10000000"}, {"test": "tg128@d0"}, {"threads": 1024}, {"n_devices": 64},
])
def test_speed_row_accepts_the_limits(good):
    speed(**good)


@pytest.mark.parametrize("test", ["pp0", "tg0", "pp512+tg0", "tg1@d10000001", "pp-1", "pp½"])
def test_parse_test_refuses_empty_or_huge_counts(test):
    with pytest.raises(ValueError, match="allowed: pp512"):
        parse_test(test)


@pytest.mark.parametrize("bad", [
    {"value": float("nan")}, {"retention": -0.1}, {"ppl_ratio": 1.1},
    {"metric_kind": "perplexity", "retention": 0.9}, {"kld": -1.0}, {"value": 1e300},
    {"retention": 1e300}, {"n_items": 10**30}, {"file_bytes": 10**30},
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
