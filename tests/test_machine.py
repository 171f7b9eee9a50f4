"""Detecting the machine, from recorded outputs of NVML, amdsmi, sysfs, sysctl and psutil."""

from __future__ import annotations

import pytest
from machine_fixtures import RecordedMachine, recorded_machines

from advisor.data.hardware import load_hardware, resolve_hardware
from advisor.machine.detect import detect, match_name
from advisor.machine.probe import read_cpu, read_gpus
from advisor.recommender.query import unified_limit
from advisor.vocabulary.schema import HardwareKind
from advisor.vocabulary.units import parse_memory


@pytest.fixture(scope="module")
def table():
    return load_hardware()


# machine, device name, in the table, count, kind, vram passed on, threads passed on
CASES = [
    ("nvidia_2x_rtx3090", "NVIDIA GeForce RTX 3090", True, 2, "gpu", "48GB", None),
    ("nvidia_rtx5090", "NVIDIA GeForce RTX 5090", True, 1, "gpu", "32GB", None),
    ("nvidia_unknown_gpu", "NVIDIA Test Board 9990", False, 1, "gpu", "34.19GB", None),
    ("nvidia_mixed", "NVIDIA RTX A6000", True, 1, "gpu", "48GB", None),
    ("apple_m2_pro_32gb", "Apple M2 Pro (19-core GPU, 32GB)", True, 1, "apple", "32GB", None),
    ("apple_m2_pro_16gb", "Apple M2 Pro (19-core GPU, 16GB)", False, 1, "apple", "15.03GB",
     None),
    ("apple_m4_max_64gb", "Apple M4 Max (40-core GPU, 64GB)", False, 1, "apple", "68.71GB",
     None),
    ("amd_rx7900xtx_amdsmi", "AMD Radeon RX 7900 XTX", True, 1, "gpu", "24GB", None),
    ("amd_rx7900xt_sysfs", "AMD Radeon RX 7900 XT", True, 1, "gpu", "20GB", None),
    ("cpu_ryzen_7950x", "AMD Ryzen 9 7950X (CPU)", True, 1, "cpu", "58.8GB", 16),
]


def test_every_recorded_machine_has_a_case():
    assert {c[0] for c in CASES} | {"cpu_unknown"} == set(recorded_machines())


@pytest.mark.parametrize("machine, name, in_table, count, kind, vram, threads", CASES)
def test_detect_maps_the_machine_onto_the_hardware_table(table, machine, name, in_table, count,
                                                         kind, vram, threads):
    found = detect(RecordedMachine(machine), table)
    assert found.device is not None
    assert (found.device.name, found.device.in_table, found.device.count,
            found.device.kind.value) == (name, in_table, count, kind)
    args = found.recommend_args()
    assert args["vram"] == vram and args.get("threads") == threads
    # what detection fills is a device the recommender accepts
    device = resolve_hardware(args["hardware"], kind=args.get("hardware_kind"),
                              bandwidth_gbs=args.get("bandwidth_gbs"),
                              memory_gb=args.get("hardware_memory_gb"),
                              devices=args.get("devices"), threads=args.get("threads"),
                              table=table)
    assert device is not None and device.kind.value == kind
    assert device.bandwidth_gbs and device.bandwidth_gbs > 0
    # RAM for offloaded placements only beside a discrete GPU, and no more than there is
    assert ("ram" in args) is (kind == "gpu")
    assert "ram" not in args or parse_memory(args["ram"]) <= found.cpu.ram_bytes


def test_nvidia_reading_and_the_nvml_bandwidth_formula(table):
    gpus = read_gpus(RecordedMachine("nvidia_2x_rtx3090"))
    assert [g.name for g in gpus] == ["NVIDIA GeForce RTX 3090"] * 2
    assert gpus[0].memory_bytes == 24 * 2**30
    # 384-bit x 9751 MHz x 2: the table's published 935.8 GB/s within 0.1%
    published = table["NVIDIA GeForce RTX 3090"].bandwidth_gbs
    assert gpus[0].bandwidth_gbs == pytest.approx(published, rel=1e-3)


def test_nvml_is_shut_down_and_missing_figures_read_as_unknown():
    machine = RecordedMachine("nvidia_mixed")
    gpus = read_gpus(machine)
    assert [g.bandwidth_gbs for g in gpus] == [None, None]
    assert machine.modules["pynvml"].calls == ["init", "shutdown"]


def test_mixed_gpus_take_the_largest_and_say_so(table):
    found = detect(RecordedMachine("nvidia_mixed"), table)
    assert any("RTX 3060" in n and "left out" in n for n in found.notes)


def test_unknown_gpu_is_reported_with_its_specs(table):
    found = detect(RecordedMachine("nvidia_unknown_gpu"), table)
    args = found.recommend_args()
    assert args["hardware"] == "NVIDIA Test Board 9990 (detected)"
    assert (args["hardware_kind"], args["bandwidth_gbs"]) == ("gpu", 1792.1)
    assert args["hardware_memory_gb"] == 34.19
    assert "bus" in found.device.basis


def test_apple_reading(table):
    gpu, = read_gpus(RecordedMachine("apple_m2_pro_32gb"))
    assert (gpu.vendor, gpu.name, gpu.gpu_cores, gpu.memory_bytes) == (
        "apple", "Apple M2 Pro", 19, 32 * 2**30)
    found = detect(RecordedMachine("apple_m2_pro_32gb"), table)
    assert any("iogpu.wired_limit_mb" in n for n in found.notes)


def test_apple_memory_size_missing_from_the_table_takes_its_siblings_specs(table):
    found = detect(RecordedMachine("apple_m2_pro_16gb"), table)
    sibling = table["Apple M2 Pro (19-core GPU, 32GB)"]
    assert found.device.bandwidth_gbs == sibling.bandwidth_gbs
    assert found.device.memory_gb == 16
    assert found.vram_bytes == 14336 * 2**20  # the raised GPU wired limit, not all 16 GiB
    assert found.device.listed_as == sibling.name
    # passed on by name: the recommender resolves a listed chip at any memory size
    args = found.recommend_args()
    assert args["hardware"] == "Apple M2 Pro (19-core GPU, 16GB)" and "hardware_kind" not in args
    device = resolve_hardware(args["hardware"], table=table)
    assert (device.memory_gb, device.device_name) == (16, sibling.name)


def test_a_chip_listed_without_its_memory_size_gets_its_specs_and_the_gpu_limit(table):
    found = detect(RecordedMachine("apple_m4_max_64gb"), table)
    listed = table["Apple M4 Max (40-core GPU)"]  # listed at 128 GB
    assert (found.device.listed_as, found.device.bandwidth_gbs) == (listed.name,
                                                                   listed.bandwidth_gbs)
    args = found.recommend_args()
    device = resolve_hardware(args["hardware"], table=table)
    # macOS's default share of a 64 GB Mac's memory, 3/4: 48 GiB (not 3/4 of the listed 128)
    limit = unified_limit(device, parse_memory(args["vram"]))
    assert limit is not None and limit.limit_bytes == 48 * 2**30


def test_amd_sysfs_skips_other_vendors():
    gpus = read_gpus(RecordedMachine("amd_rx7900xt_sysfs"))
    assert [(g.name, g.tool) for g in gpus] == [("AMD Radeon RX 7900 XT", "sysfs (amdgpu)")]


def test_amdsmi_reading():
    gpu, = read_gpus(RecordedMachine("amd_rx7900xtx_amdsmi"))
    assert (gpu.memory_bytes, gpu.bandwidth_gbs, gpu.tool) == (24560 * 2**20, 960.0, "amdsmi")


def test_cpu_machine_fills_ram_and_llama_cpp_default_threads(table):
    found = detect(RecordedMachine("cpu_ryzen_7950x"), table)
    assert found.device.kind is HardwareKind.CPU and found.threads == 16
    # the budget is the RAM available now, not all 64 GiB: the rest holds the system
    assert found.vram_bytes == 58_806_484_992 < found.cpu.ram_bytes
    assert found.ram_bytes is None  # the budget is that RAM: nothing to offload to
    assert any("58.81 GB of RAM available now, of 68.72 GB" in n for n in found.notes)
    assert read_cpu(RecordedMachine("cpu_ryzen_7950x")).model.startswith("AMD Ryzen 9 7950X")


def test_offloaded_placements_get_the_ram_available_beside_the_gpus(table):
    found = detect(RecordedMachine("nvidia_2x_rtx3090"), table)
    assert found.recommend_args()["ram"] == "55.83GB"  # of 64 GiB; floored to 10 MB
    assert any(n.startswith("a model too large for the GPU may put part of itself in the "
                            "55.83 GB of RAM available now") for n in found.notes)


def test_without_an_available_reading_the_total_is_used_and_the_notes_say_so(table):
    found = detect(RecordedMachine("cpu_unknown"), table)
    assert found.cpu.available_bytes is None
    assert found.vram_bytes == found.cpu.ram_bytes
    assert any("all of RAM (the system needs some of it too" in n for n in found.notes)


def test_unknown_cpu_fills_memory_only_and_says_what_to_give(table):
    found = detect(RecordedMachine("cpu_unknown"), table)
    assert found.device is None
    assert set(found.recommend_args()) == {"vram"}
    assert any("--bandwidth-gbs" in n for n in found.notes)


@pytest.mark.parametrize("reported, memory_gb, expected", [
    ("NVIDIA GeForce RTX 3090", 24, "NVIDIA GeForce RTX 3090"),
    ("NVIDIA A100-SXM4-80GB", 80, "NVIDIA A100 SXM4 80GB"),
    ("NVIDIA A100 80GB PCIe", 80, "NVIDIA A100 PCIe 80GB"),
    ("NVIDIA GeForce RTX 3080", 10, "NVIDIA GeForce RTX 3080 10GB"),
    ("NVIDIA H100 80GB HBM3", 80, "NVIDIA H100 80GB HBM3"),
    ("Radeon RX 7900 XT", 20, "AMD Radeon RX 7900 XT"),
    ("NVIDIA GeForce RTX 3080", None, None),  # 10GB or Ti: memory tells them apart
    ("Matrox G200eR2", 0.016, None),
])
def test_match_name(table, reported, memory_gb, expected):
    found = match_name(reported, table, {HardwareKind.GPU}, memory_gb)
    assert (found.name if found else None) == expected
