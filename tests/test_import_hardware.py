"""Tests of advisor.data.importers.hardware: the published device table and the speed sources'
device names."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from published_data import needs_shared, published_dir

from advisor.data.importers.hardware import (
    DEVICE_COLUMNS,
    SOC_NOTE,
    SPEED_DEVICE_NAMES,
    import_hardware,
    read_devices,
    speed_name_devices,
)
from advisor.vocabulary.errors import DataFileError
from advisor.vocabulary.schema import Hardware, HardwareKind, MemoryKind

BASE = dict.fromkeys(DEVICE_COLUMNS, "")
ROWS = [
    {**BASE, "hardware": "NVIDIA GeForce RTX 5090", "aliases": "rtx 5090;5090", "vendor": "NVIDIA",
     "kind": "gpu", "memory_gb": "32", "memory_kind": "discrete", "bandwidth_gbs": "1792",
     "fp16_tflops": "104.8", "fp16_basis": "vector", "fp16_tensor_tflops": "419",
     "gpu_cores": "21760", "source": "gpujson"},
    {**BASE, "hardware": "NVIDIA Jetson AGX Orin 64GB", "aliases": "agx orin", "kind": "soc",
     "memory_gb": "64", "memory_kind": "unified", "cpu_cores": "12", "source": "brief"},
    {**BASE, "hardware": "AMD EPYC 9654 (CPU)", "aliases": "epyc 9654", "vendor": "AMD",
     "kind": "cpu", "bandwidth_gbs": "460.8", "cpu_cores": "96", "cpu_threads": "192",
     "memory_channels": "12", "memory_type": "DDR5-4800", "source": "amdcsv"},
    {**BASE, "hardware": "Intel Core Ultra 9 285K (CPU)", "kind": "cpu", "cpu_cores": "24",
     "source": "ark"},
]


def _write(root: Path, rows: list[dict[str, str]]) -> Path:
    path = root / "hardware" / "devices.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(DEVICE_COLUMNS))
        writer.writeheader()
        writer.writerows(rows)
    return path


def test_devices_are_read_with_their_new_specs(tmp_path: Path) -> None:
    devices = {d.name: d for d in read_devices(_write(tmp_path, ROWS))}
    gpu = devices["NVIDIA GeForce RTX 5090"]
    assert (gpu.memory_kind, gpu.fp16_tensor_tflops, gpu.aliases) == (
        MemoryKind.DISCRETE, 419.0, ("rtx 5090", "5090"))
    orin = devices["NVIDIA Jetson AGX Orin 64GB"]
    assert orin.kind is HardwareKind.APU and SOC_NOTE in orin.notes and orin.unified
    epyc = devices["AMD EPYC 9654 (CPU)"]
    assert (epyc.cpu_cores, epyc.threads, epyc.memory_channels) == (96, 96, 12)
    assert "192 threads" in epyc.cores_or_isa and "DDR5-4800" in epyc.cores_or_isa
    # a hybrid Intel client CPU: llama.cpp uses its performance cores, which are not counted
    assert devices["Intel Core Ultra 9 285K (CPU)"].threads is None


@pytest.mark.parametrize(("column", "value", "message"), [
    ("kind", "tpu", "kind must be one of"),
    ("memory_kind", "shared", "memory_kind must be"),
    ("bandwidth_gbs", "-1", "bandwidth_gbs must be positive"),
    ("cpu_cores", "2.5", "cpu_cores must be a positive whole number"),
])
def test_bad_values_name_file_and_line(tmp_path: Path, column: str, value: str,
                                       message: str) -> None:
    path = _write(tmp_path, [ROWS[0], {**ROWS[2], column: value}])
    with pytest.raises(DataFileError, match=message) as err:
        read_devices(path)
    assert err.value.line == 3


def test_repeated_names_and_aliases_are_refused(tmp_path: Path) -> None:
    with pytest.raises(DataFileError, match="unique"):
        read_devices(_write(tmp_path, [ROWS[0], ROWS[0]]))
    clash = {**ROWS[2], "aliases": "5090"}
    _write(tmp_path, [ROWS[0], clash])
    with pytest.raises(DataFileError, match="aliases must name one device"):
        import_hardware(tmp_path)


def test_a_missing_column_is_named(tmp_path: Path) -> None:
    path = tmp_path / "hardware" / "devices.csv"
    path.parent.mkdir(parents=True)
    path.write_text("hardware,kind\nX,gpu\n", encoding="utf-8")
    with pytest.raises(DataFileError, match="missing columns"):
        read_devices(path)


def test_an_open_variant_keeps_only_the_specs_every_variant_shares() -> None:
    m4_pro = Hardware(name="Apple M4 Pro (20-core GPU)", kind="apple", memory_gb=64,
                      bandwidth_gbs=273.0, fp16_tflops=9.2, memory_kind="unified", source="ars")
    table = {d.device: Hardware(name=d.device, kind="gpu", source="x")
             for d in SPEED_DEVICE_NAMES.values()} | {m4_pro.name: m4_pro}
    devices = {d.name: d for d in speed_name_devices(table)}
    open_variant = devices["Apple M4 Pro (GPU core count not stated, 24GB)"]
    assert (open_variant.bandwidth_gbs, open_variant.memory_gb, open_variant.fp16_tflops) == (
        273.0, 24.0, None)
    assert "'Apple M4 Pro (20-core GPU)': ars" in open_variant.source
    # a name that identifies one table device is no device of its own
    assert "Apple M4 Max (GPU core count not stated, 128GB)" not in devices


@needs_shared
def test_the_published_table() -> None:
    devices = import_hardware(published_dir())
    names = {d.name for d in devices}
    assert len(devices) >= 180 and set(SPEED_DEVICE_NAMES) - names == {
        n for n, r in SPEED_DEVICE_NAMES.items() if r.same}
    assert all(r.device in names for r in SPEED_DEVICE_NAMES.values())
    kinds = {d.kind for d in devices}
    assert kinds == set(HardwareKind)
