"""Hardware table loading and name/spec resolution (fake table in a temp dir)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from advisor.errors import DataFileError, InvalidInputError, UnknownNameError
from advisor.hardware import load_hardware, resolve_hardware
from advisor.schema import HardwareKind

CSV = """name,kind,memory_gb,bandwidth_gbs,fp16_tflops,fp16_basis,cores_or_isa,source,notes
NVIDIA GeForce RTX 3090,gpu,24,936,71,tensor,,fake,
NVIDIA GeForce RTX 4090,gpu,24,1008,165,tensor,,fake,
Apple M2 Pro,apple,32,200,13.6,,,fake,
Apple M2 Max,apple,96,400,27.2,,,fake,
AMD Ryzen 9 7950X,cpu,,83,,,,fake,
"""


@pytest.fixture()
def table(tmp_path: Path):
    (tmp_path / "hardware.csv").write_text(CSV, encoding="utf-8")
    return load_hardware(tmp_path)


def test_load_hardware_reads_rows(table) -> None:
    assert len(table) == 5
    assert table["Apple M2 Pro"].kind is HardwareKind.APPLE


def test_load_hardware_missing_file_is_empty(tmp_path: Path) -> None:
    assert load_hardware(tmp_path) == {}


def test_load_hardware_bad_line(tmp_path: Path) -> None:
    (tmp_path / "hardware.csv").write_text("name,kind\nX,tpu\n", encoding="utf-8")
    with pytest.raises(DataFileError, match=r"hardware\.csv:2"):
        load_hardware(tmp_path)


@pytest.mark.parametrize(("name", "expected"), [
    ("NVIDIA GeForce RTX 3090", "NVIDIA GeForce RTX 3090"),
    ("rtx 3090", "NVIDIA GeForce RTX 3090"),
    ("RTX-4090", "NVIDIA GeForce RTX 4090"),
    ("M2 Pro", "Apple M2 Pro"),
    ("apple m2 max", "Apple M2 Max"),
    ("7950x", "AMD Ryzen 9 7950X"),
])
def test_known_names(table, name: str, expected: str) -> None:
    found = resolve_hardware(name, table=table)
    assert found is not None and found.name == expected


def test_given_specs_override_the_table(table) -> None:
    found = resolve_hardware("rtx 3090", memory_gb=20, bandwidth_gbs=900.0, table=table)
    assert found is not None
    assert (found.memory_gb, found.bandwidth_gbs, found.fp16_tflops) == (20, 900.0, 71)
    assert table["NVIDIA GeForce RTX 3090"].memory_gb == 24  # table untouched


def test_unknown_name_with_specs_is_custom(table) -> None:
    hw = resolve_hardware("My Laptop GPU", kind="GPU", bandwidth_gbs=256, memory_gb=8,
                          table=table)
    assert hw is not None
    assert (hw.name, hw.kind, hw.bandwidth_gbs, hw.memory_gb) == \
        ("My Laptop GPU", HardwareKind.GPU, 256, 8)


def test_specs_without_name_is_custom_and_nothing_is_none(table) -> None:
    hw = resolve_hardware(kind="cpu", bandwidth_gbs=60, table=table)
    assert hw is not None and hw.kind is HardwareKind.CPU
    assert resolve_hardware(table=table) is None


@pytest.mark.parametrize(("name", "kwargs", "error", "match"), [
    ("RTX 3080", {}, UnknownNameError, r"Did you mean.*specs"),
    ("RTX 3080", {"kind": "gpu"}, UnknownNameError, "bandwidth_gbs at least"),
    ("M2", {}, InvalidInputError, "ambiguous.*Apple M2 Max.*Apple M2 Pro"),
    ("RTX 3090 x2", {}, InvalidInputError, "one device"),
    ("2x RTX 3090", {}, InvalidInputError, "one device"),
    ("  ", {}, InvalidInputError, "empty"),
    ("x", {"kind": "tpu", "bandwidth_gbs": 1}, InvalidInputError, "kind must be one of gpu"),
    ("x", {"kind": "gpu", "bandwidth_gbs": -1}, InvalidInputError, "bandwidth_gbs must be"),
    ("x", {"kind": "gpu", "bandwidth_gbs": math.inf}, InvalidInputError, "bandwidth_gbs must"),
    ("x", {"kind": "gpu", "bandwidth_gbs": 1, "memory_gb": 0}, InvalidInputError,
     "memory_gb must"),
    ("x", {"kind": "gpu", "bandwidth_gbs": 1, "fp16_tflops": math.nan}, InvalidInputError,
     "fp16_tflops must"),
    (None, {"memory_gb": 8}, InvalidInputError, "needs kind"),
])
def test_errors(table, name, kwargs: dict, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        resolve_hardware(name, table=table, **kwargs)
