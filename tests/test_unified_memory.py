"""The GPU-usable share of unified memory (advisor.data.unified_memory), against the published
observations of the shared data's hardware/unified_memory_limits.csv."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from advisor.data.hardware import load_hardware
from advisor.data.importers.published import default_gathered_dir
from advisor.data.unified_memory import GIB, gpu_memory_limit
from advisor.vocabulary.errors import InvalidInputError
from advisor.vocabulary.schema import Hardware


def _device(kind: str, name: str = "x", memory_gb: float | None = None, **kw: object) -> Hardware:
    return Hardware(name=name, kind=kind, memory_gb=memory_gb, **kw)


@pytest.mark.parametrize(("memory_gb", "limit_gib"), [
    (8, 8 * 2 / 3), (16, 10.667), (32, 21.333), (36, 24.0), (48, 36.0), (64, 48.0), (96, 72.0),
    (128, 96.0), (192, 144.0), (512, 384.0)])
def test_apple_default_working_set(memory_gb: float, limit_gib: float) -> None:
    limit = gpu_memory_limit(_device("apple", "Apple M2 Max", memory_gb))
    assert limit is not None and limit.platform == "apple"
    assert limit.limit_bytes / GIB == pytest.approx(limit_gib, abs=0.01)
    assert "iogpu.wired_limit_mb" in limit.how_to_raise and "recommendedMaxWorkingSet" in \
        limit.rule


@pytest.mark.parametrize(("memory_gb", "limit_gib"), [(4, 3.0), (16, 8.0), (64, 32.0),
                                                      (128, 64.0)])
def test_amd_apu_gtt_default(memory_gb: float, limit_gib: float) -> None:
    apu = _device("apu", "AMD Ryzen AI Max+ 395 (Radeon 8060S iGPU, 128GB)", memory_gb,
                  vendor="AMD", memory_kind="unified")
    limit = gpu_memory_limit(apu)
    assert limit is not None and limit.platform == "amd_apu"
    assert limit.limit_bytes / GIB == pytest.approx(limit_gib)
    assert "ttm.pages_limit" in limit.how_to_raise and "BIOS" in limit.how_to_raise


def test_dgx_spark_counts_on_what_is_free_at_boot() -> None:
    spark = _device("apu", "NVIDIA DGX Spark (GB10)", 128, memory_kind="unified")
    limit = gpu_memory_limit(spark)
    assert limit is not None and limit.platform == "dgx_spark"
    assert limit.limit_bytes / GIB == pytest.approx(101.3)
    assert 0.75 < limit.share < 0.8


@pytest.mark.parametrize("device", [
    _device("gpu", "NVIDIA GeForce RTX 3090", 24, memory_kind="discrete"),
    _device("cpu", "AMD EPYC 9654 (CPU)"),
    _device("cpu", "Apple M2 Max (CPU only)", memory_kind="unified"),
])
def test_discrete_gpus_and_cpus_have_no_unified_limit(device: Hardware) -> None:
    assert gpu_memory_limit(device) is None


def test_other_unified_devices_have_no_published_default() -> None:
    limit = gpu_memory_limit(_device("apu", "Intel Core Ultra 7 258V (Arc 140V)", 32,
                                     vendor="Intel", memory_kind="unified"))
    assert limit is not None and limit.limit_bytes is None and limit.share is None
    assert limit.memory_bytes == 32 * GIB


def test_memory_size_overrides_the_device_and_must_be_positive() -> None:
    mac = _device("apple", "Apple M4 Max (40-core GPU)", 128)
    assert gpu_memory_limit(mac, 32).limit_bytes == int(32 * GIB * 2 / 3)
    assert gpu_memory_limit(_device("apple")).limit_bytes is None  # memory not known
    with pytest.raises(InvalidInputError, match="memory_gb"):
        gpu_memory_limit(mac, -1)


def test_every_unified_device_of_the_table_gets_an_answer() -> None:
    for device in load_hardware().values():
        limit = gpu_memory_limit(device)
        assert (limit is None) == (not device.unified or device.kind.value == "cpu"), device.name
        if limit is not None and limit.limit_bytes is not None and limit.memory_bytes:
            assert 0 < limit.limit_bytes < limit.memory_bytes


def _limits_csv() -> Path:
    return default_gathered_dir() / "hardware" / "unified_memory_limits.csv"


def test_apple_rule_never_exceeds_an_observed_default() -> None:
    """The rule is the conservative default: at every memory size an Apple default was logged,
    it is at most the logged figure and within 25% of it."""
    with _limits_csv().open(encoding="utf-8", newline="") as fh:
        observed = [(float(r["memory_gb"]), float(r["default_gpu_limit_gb"]))
                    for r in csv.DictReader(fh)
                    if r["platform"].startswith("macOS") and "omlx" not in r["platform"]
                    and r["memory_gb"] and r["default_gpu_limit_gb"]]
    assert len(observed) >= 6
    for memory_gb, limit_gib in observed:
        rule = gpu_memory_limit(_device("apple", "Apple", memory_gb)).limit_bytes / GIB
        assert rule <= limit_gib + 0.01 and rule >= 0.75 * limit_gib, (memory_gb, limit_gib)
