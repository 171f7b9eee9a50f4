"""Hardware table loading and name/spec resolution (fake table in a temp dir)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from advisor.data.hardware import load_hardware, resolve_hardware
from advisor.vocabulary.errors import DataFileError, InvalidInputError, UnknownNameError
from advisor.vocabulary.schema import HardwareKind

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
    ("RTX 3090 x17", {}, InvalidInputError, r"asks for 17 devices; a multi-GPU setup is 2 to 16"),
    ("32x RTX 3090", {}, InvalidInputError, r"asks for 32 devices; .* 2 to 16 identical GPUs"),
    ("RTX 3090 x1", {}, InvalidInputError, "asks for 1 devices.*for one device give its name"),
    ("0x RTX 3090", {}, InvalidInputError, "asks for 0 devices"),
    ("RTX 3080 x2", {}, UnknownNameError, "unknown hardware 'RTX 3080'"),
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


# -- threads: the CPU threads llama.cpp runs with -------------------------------------------

@pytest.mark.parametrize("threads", [0, -1, 1.5, "abc", "8", True, False, 1025, math.nan,
                                     math.inf])
def test_threads_must_be_a_whole_number_from_1_to_1024(table, threads) -> None:
    with pytest.raises(InvalidInputError, match=r"threads must be a whole number from 1 to "
                       r"1024 \(the CPU threads llama\.cpp runs with\), got") as err:
        resolve_hardware("7950x", threads=threads, table=table)
    assert err.value.parameter == "threads"


@pytest.mark.parametrize(("threads", "expected"), [(1, 1), (8, 8), (16.0, 16), (1024, 1024)])
def test_threads_override_a_named_device(table, threads, expected: int) -> None:
    found = resolve_hardware("7950x", threads=threads, table=table)
    assert found is not None and found.threads == expected and type(found.threads) is int
    assert (found.name, found.bandwidth_gbs) == ("AMD Ryzen 9 7950X", 83)
    assert table["AMD Ryzen 9 7950X"].threads is None  # table untouched
    assert resolve_hardware("7950x", table=table).threads is None  # unknown unless given


def test_threads_from_the_table_and_their_override(tmp_path: Path) -> None:
    (tmp_path / "hardware.csv").write_text(
        "name,kind,bandwidth_gbs,threads\nBox CPU,cpu,60,12\nOther CPU,cpu,50,\n",
        encoding="utf-8")
    table = load_hardware(tmp_path)
    assert table["Box CPU"].threads == 12 and table["Other CPU"].threads is None
    assert resolve_hardware("box cpu", table=table).threads == 12
    assert resolve_hardware("box cpu", threads=4, table=table).threads == 4


def test_threads_of_a_device_given_by_specs(table) -> None:
    named = resolve_hardware("My box", kind="cpu", bandwidth_gbs=60, threads=6, table=table)
    assert named is not None and (named.name, named.kind, named.threads) == \
        ("My box", HardwareKind.CPU, 6)
    unnamed = resolve_hardware(kind="cpu", bandwidth_gbs=60, threads=2, table=table)
    assert unnamed is not None and unnamed.threads == 2
    assert resolve_hardware(kind="cpu", bandwidth_gbs=60, table=table).threads is None


def test_threads_are_kept_for_other_kinds(table) -> None:
    """Accepted for any device (they only change the speed of CPUs)."""
    gpu = resolve_hardware("rtx 3090", threads=8, table=table)
    assert gpu is not None and gpu.kind is HardwareKind.GPU and gpu.threads == 8


def test_threads_without_a_device_are_refused(table) -> None:
    with pytest.raises(InvalidInputError, match="threads needs the hardware") as err:
        resolve_hardware(threads=8, table=table)
    assert err.value.parameter == "threads"
    with pytest.raises(InvalidInputError, match="needs kind"):  # specs still need kind+bw
        resolve_hardware(kind="cpu", threads=8, table=table)


# -- several identical GPUs (llama.cpp --split-mode layer) ----------------------------------

@pytest.mark.parametrize(("name", "count"), [
    ("RTX 3090 x2", 2), ("RTX 3090 X2", 2), ("rtx 3090 ×2", 2), ("RTX 3090 *2", 2),
    ("RTX 3090 x 2", 2), ("RTX 3090  x3 ", 3), ("2x RTX 3090", 2), ("2 x RTX 3090", 2),
    ("4X rtx-3090", 4), ("16 × RTX 3090", 16), ("NVIDIA GeForce RTX 3090 x16", 16),
    ("3 * RTX 3090", 3),
])
def test_a_count_on_the_name_is_that_many_gpus(table, name: str, count: int) -> None:
    found = resolve_hardware(name, table=table)
    assert found is not None
    assert (found.name, found.n_devices) == (f"NVIDIA GeForce RTX 3090 x{count}", count)
    assert found.device_name == "NVIDIA GeForce RTX 3090"
    # the specs stay one device's
    assert (found.kind, found.memory_gb, found.bandwidth_gbs) == (HardwareKind.GPU, 24, 936)
    assert table["NVIDIA GeForce RTX 3090"].n_devices is None  # table untouched


def test_one_device_has_no_count(table) -> None:
    found = resolve_hardware("rtx 3090", table=table)
    assert found is not None and found.n_devices is None
    assert found.device_name == found.name == "NVIDIA GeForce RTX 3090"


@pytest.mark.parametrize("name", ["RTX 3090 x0", "RTX 3090 x1", "RTX 3090 x17", "1x RTX 3090",
                                  "17 x RTX 3090", "RTX 3090 x100"])
def test_counts_outside_2_to_16_are_refused_on_the_name(table, name: str) -> None:
    with pytest.raises(InvalidInputError, match=r"a multi-GPU setup is 2 to 16 identical GPUs "
                       r"\(e\.g\. 'RTX 3090 x2' or '2x RTX 3090'\); for one device give its name "
                       "alone") as err:
        resolve_hardware(name, table=table)
    assert err.value.parameter == "hardware"


@pytest.mark.parametrize(("name", "kwargs", "kind"), [
    ("M2 Pro x2", {}, "apple"),
    ("2x 7950x", {}, "cpu"),
    ("rtx 3090 x2", {"kind": "apu"}, "apu"),
    ("My box x2", {"kind": "cpu", "bandwidth_gbs": 60}, "cpu"),
])
def test_only_discrete_gpus_are_combined(table, name: str, kwargs: dict, kind: str) -> None:
    with pytest.raises(InvalidInputError, match="only discrete GPUs are split across devices "
                       f"by llama.cpp; got 2 x .* of kind {kind}") as err:
        resolve_hardware(name, table=table, **kwargs)
    assert err.value.parameter == "hardware"
    with pytest.raises(InvalidInputError, match="only discrete GPUs") as err:
        resolve_hardware(name.replace(" x2", "").replace("2x ", ""), devices=2, table=table,
                         **kwargs)
    assert err.value.parameter == "devices"


def test_a_device_given_by_specs_may_have_a_count(table) -> None:
    named = resolve_hardware("My GPU x2", kind="gpu", bandwidth_gbs=500, memory_gb=16,
                             table=table)
    assert named is not None
    assert (named.name, named.n_devices, named.device_name, named.memory_gb) == \
        ("My GPU x2", 2, "My GPU", 16)
    prefixed = resolve_hardware("4x My GPU", kind="gpu", bandwidth_gbs=500, table=table)
    assert prefixed is not None and (prefixed.name, prefixed.n_devices) == ("My GPU x4", 4)
    unnamed = resolve_hardware(kind="gpu", bandwidth_gbs=500, devices=3, table=table)
    assert unnamed is not None and (unnamed.name, unnamed.n_devices) == ("custom x3", 3)
    assert unnamed.device_name == "custom"


@pytest.mark.parametrize(("name", "devices", "expected"), [
    ("rtx 3090", 2, ("NVIDIA GeForce RTX 3090 x2", 2)),
    ("rtx 3090", 16, ("NVIDIA GeForce RTX 3090 x16", 16)),
    ("rtx 3090", 1, ("NVIDIA GeForce RTX 3090", None)),
    ("rtx 3090", 4.0, ("NVIDIA GeForce RTX 3090 x4", 4)),
    ("rtx 3090 x2", 2, ("NVIDIA GeForce RTX 3090 x2", 2)),   # the name and devices agree
    ("3x rtx 3090", 3, ("NVIDIA GeForce RTX 3090 x3", 3)),
    ("M2 Pro", 1, ("Apple M2 Pro", None)),                   # one device of any kind
])
def test_the_devices_keyword(table, name: str, devices, expected: tuple) -> None:
    found = resolve_hardware(name, devices=devices, table=table)
    assert found is not None and (found.name, found.n_devices) == expected


@pytest.mark.parametrize("devices", [0, -1, 17, 1.5, "2", True, math.nan])
def test_devices_must_be_a_whole_number_from_1_to_16(table, devices) -> None:
    with pytest.raises(InvalidInputError, match=r"devices must be a whole number from 1 to 16 "
                       r"\(identical GPUs the model's layers are split over; 1 = one device\), "
                       "got") as err:
        resolve_hardware("rtx 3090", devices=devices, table=table)
    assert err.value.parameter == "devices"


@pytest.mark.parametrize(("name", "devices"), [("RTX 3090 x2", 4), ("RTX 3090 x2", 1),
                                               ("4x RTX 3090", 2)])
def test_devices_disagreeing_with_the_name_are_refused(table, name: str, devices: int) -> None:
    with pytest.raises(InvalidInputError, match=rf"devices={devices} disagrees with the \d+ "
                       "devices in the hardware name; give the count once") as err:
        resolve_hardware(name, devices=devices, table=table)
    assert err.value.parameter == "devices"


def test_devices_without_a_device_are_refused(table) -> None:
    with pytest.raises(InvalidInputError, match="devices needs the hardware") as err:
        resolve_hardware(devices=2, table=table)
    assert err.value.parameter == "devices"
    assert resolve_hardware(devices=1, table=table) is None  # one device of nothing: nothing


def test_a_listed_name_that_looks_like_a_count_is_one_device(tmp_path: Path) -> None:
    (tmp_path / "hardware.csv").write_text("name,kind,bandwidth_gbs\nRig x2,gpu,500\n",
                                           encoding="utf-8")
    table = load_hardware(tmp_path)
    found = resolve_hardware("rig x2", table=table)
    assert found is not None and (found.name, found.n_devices) == ("Rig x2", None)


# -- the shipped table: names users type -------------------------------------------------------

@pytest.mark.parametrize(("name", "expected"), [
    ("rtx 5090", "NVIDIA GeForce RTX 5090"), ("5090", "NVIDIA GeForce RTX 5090"),
    ("NVIDIA RTX 5090", "NVIDIA GeForce RTX 5090"), ("geforce rtx 5090", "NVIDIA GeForce RTX 5090"),
    ("m4 max 40 core", "Apple M4 Max (40-core GPU)"), ("M4 Max 40-core", "Apple M4 Max (40-core GPU)"),
    ("m4 max 32c", "Apple M4 Max (32-core GPU)"), ("apple m4 pro", "Apple M4 Pro (20-core GPU)"),
    ("strix halo", "AMD Ryzen AI Max+ 395 (Radeon 8060S iGPU, 128GB)"),
    ("Ryzen AI Max+ 395", "AMD Ryzen AI Max+ 395 (Radeon 8060S iGPU, 128GB)"),
    ("dgx spark", "NVIDIA DGX Spark (GB10)"), ("gb10", "NVIDIA DGX Spark (GB10)"),
    ("rtx pro 6000", "NVIDIA RTX PRO 6000 Blackwell Workstation Edition"),
    ("mi50", "AMD Instinct MI50 (32GB)"), ("arc b580", "Intel Arc B580"),
    ("RTX 4070", "NVIDIA GeForce RTX 4070"), ("rtx 4070 ti", "NVIDIA GeForce RTX 4070 Ti"),
    ("lunar lake", "Intel Core Ultra 7 258V (Arc 140V)"), ("m3 ultra", "Apple M3 Ultra (80-core GPU)"),
    ("7950x", "AMD Ryzen 9 7950X (CPU)"), ("epyc 9654", "AMD EPYC 9654 (CPU)"),
    ("NVIDIA GeForce RTX 3090", "NVIDIA GeForce RTX 3090"),
])
def test_shipped_table_finds_what_users_type(name: str, expected: str) -> None:
    found = resolve_hardware(name)
    assert found is not None and found.name == expected


@pytest.mark.parametrize("name", ["rtx 5095", "RTX 5090 Laptop", "threadripper", "jetson orin",
                                  "rtx 3050", "M6 Max", "H300"])
def test_an_unlisted_device_is_never_answered_with_another(name: str) -> None:
    with pytest.raises(UnknownNameError, match="unknown hardware") as err:
        resolve_hardware(name)
    assert "give its specs" in str(err.value)


@pytest.mark.parametrize(("name", "expected", "listed_as"), [
    ("Apple M4 Max (40-core GPU, 128GB)", "Apple M4 Max (40-core GPU, 128GB)",
     "Apple M4 Max (40-core GPU)"),
    ("m4 pro (20-core gpu, 48 GB)", "Apple M4 Pro (20-core GPU, 48GB)",
     "Apple M4 Pro (20-core GPU)"),
    ("Apple M2 Pro (19-core GPU, 16GB)", "Apple M2 Pro (19-core GPU, 16GB)",
     "Apple M2 Pro (19-core GPU, 32GB)"),
    ("Apple M2 Pro (19-core GPU, 32GB)", "Apple M2 Pro (19-core GPU, 32GB)", None),  # a row
])
def test_an_apple_chip_at_any_memory_size_is_its_listed_row_with_that_memory(
        name: str, expected: str, listed_as: str | None) -> None:
    found = resolve_hardware(name)
    assert found is not None and (found.name, found.listed_as) == (expected, listed_as)
    size = float(expected.rsplit(", ", 1)[1].removesuffix("GB)"))
    assert found.memory_gb == size
    row = resolve_hardware(listed_as or expected)
    assert (found.bandwidth_gbs, found.fp16_tflops) == (row.bandwidth_gbs, row.fp16_tflops)
    # published figures and the speed predictor's device terms are the listed row's
    assert found.device_name == row.name


@pytest.mark.parametrize("name", ["Apple M4 Max (48-core GPU, 128GB)",
                                  "Apple M9 (10-core GPU, 16GB)"])
def test_an_unlisted_apple_chip_or_core_count_is_unknown(name: str) -> None:
    with pytest.raises(UnknownNameError, match="unknown hardware"):
        resolve_hardware(name)


def test_unknown_names_get_close_devices_as_suggestions() -> None:
    with pytest.raises(UnknownNameError) as err:
        resolve_hardware("rtx 5095")
    assert "NVIDIA GeForce RTX 5090" in err.value.suggestions


def test_a_family_with_several_variants_asks_which() -> None:
    with pytest.raises(InvalidInputError, match="ambiguous.*4060 Ti 16GB.*4060 Ti 8GB"):
        resolve_hardware("rtx 4060 ti")


def test_shipped_table_has_current_devices_with_cited_specs() -> None:
    table = load_hardware()
    assert len(table) >= 100
    for device in table.values():
        assert device.source, device.name
        if device.kind in (HardwareKind.APPLE, HardwareKind.APU):
            assert device.unified, device.name
    for name in ("NVIDIA GeForce RTX 5090", "NVIDIA DGX Spark (GB10)", "Apple M5 Max (40-core GPU)",
                 "AMD Radeon AI PRO R9700", "Intel Arc Pro B70", "AMD Instinct MI300X"):
        assert table[name].bandwidth_gbs and table[name].memory_gb, name
    assert table["NVIDIA GeForce RTX 5090"].fp16_tensor_tflops == 419.0
    assert table["AMD EPYC 9654 (CPU)"].memory_channels == 12
