"""Which device of the hardware table this machine is, and the recommendation inputs it gives.

:func:`detect` reads the machine (:mod:`advisor.machine.probe`) and maps what it found onto the
hardware table (``measurements/hardware.csv`` and ``hardware_added.csv``):

* GPUs: the largest group of identical GPUs (by total memory) is the device, ``"<name> x<n>"``
  for several. A name is matched as :func:`advisor.data.hardware.find_device` does, then by its
  words (``NVIDIA A100 80GB PCIe`` is the table's ``NVIDIA A100 PCIe 80GB``); several matches are
  told apart by memory (an ``RTX 3080`` with 10 GB is the ``RTX 3080 10GB``).
* Apple silicon: ``"<chip> (<n>-core GPU, <memory>GB)"``, the table's naming. A memory size the
  table lacks takes the bandwidth and FP16 figures of the same chip with the same GPU cores
  (memory size does not change them).
* No GPU: the CPU, matched by its model number (``7950X``, ``i7-1165G7``); llama.cpp's default
  thread count, one per physical core, goes with it.
* RAM: what is available now (psutil's ``available``), not the total, is what a model may
  use: the budget without a GPU, and the RAM of offloaded placements beside one. The rest
  holds the system and the programs running; a model planned into it would page from disk.

A device the table does not know is reported with the specs read from the machine (NVML gives
an NVIDIA GPU's memory bandwidth), so the speed predictor can still answer from its specs; one
without a bandwidth figure gets memory only, and the notes say what to give.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict

from pydantic import BaseModel, Field

from advisor.data.hardware import apple_configuration, find_device
from advisor.machine.probe import CpuReading, GpuReading, LocalMachine, Machine, read_cpu, read_gpus
from advisor.vocabulary.errors import InvalidInputError
from advisor.vocabulary.schema import Hardware, HardwareKind
from advisor.vocabulary.units import format_bytes

_KIND_OF_VENDOR = {"nvidia": HardwareKind.GPU, "amd": HardwareKind.GPU,
                   "apple": HardwareKind.APPLE}


class DeviceMatch(BaseModel):
    """The device the recommendation is for."""

    name: str = Field(description="the hardware table's name, or the name the machine reports")
    in_table: bool
    listed_as: str | None = Field(None, description="the table's device this is a memory size "
                                  "of (an Apple chip at a size the table does not list)")
    kind: HardwareKind
    count: int = 1
    memory_gb: float | None = Field(None, description="per device, GB")
    bandwidth_gbs: float | None = None
    fp16_tflops: float | None = None
    basis: str = Field(description="where the specs come from")


class Detection(BaseModel):
    """What :func:`detect` found, and what it fills in a recommendation."""

    system: str
    cpu: CpuReading
    gpus: list[GpuReading]
    device: DeviceMatch | None
    vram_bytes: int | None = Field(None, description="memory the model may use: the GPUs' "
                                   "memory, Apple unified memory, or RAM without a GPU")
    ram_bytes: int | None = Field(None, description="RAM offloaded placements may use beside "
                                  "a discrete GPU: what is available now (psutil), else the "
                                  "total; None without one (the budget already is that memory)")
    threads: int | None = Field(None, description="CPU threads for a CPU device (llama.cpp's "
                                "default: one per physical core)")
    notes: list[str] = Field(default_factory=list)

    def recommend_args(self) -> dict[str, object]:
        """Arguments of :meth:`advisor.recommender.advisor.Advisor.parse_query` this machine
        fills (``vram``, ``ram``, and ``hardware`` or its specs)."""
        args: dict[str, object] = {}
        if self.vram_bytes:
            args["vram"] = _gb(self.vram_bytes)
        if self.ram_bytes:
            args["ram"] = _gb(self.ram_bytes)
        d = self.device
        if d is None:
            return args
        if d.in_table or d.listed_as is not None:  # a name the recommender resolves
            args["hardware"] = d.name if d.count == 1 else f"{d.name} x{d.count}"
        elif d.bandwidth_gbs is not None:
            args.update(hardware=f"{d.name} (detected)", hardware_kind=d.kind.value,
                        bandwidth_gbs=d.bandwidth_gbs, fp16_tflops=d.fp16_tflops,
                        hardware_memory_gb=d.memory_gb)
            if d.count > 1:
                args["devices"] = d.count
        if d.kind is HardwareKind.CPU and self.threads:
            args["threads"] = self.threads
        return args


def _gb(n_bytes: int) -> str:
    """``n_bytes`` as a GB size, rounded down to 10 MB (so it never exceeds what is there)."""
    return f"{math.floor(n_bytes / 1e7) / 100:g}GB"


def _words(name: str) -> set[str]:
    return set(re.findall(r"[a-z0-9]+", name.lower()))


def _closest_memory(found: list[Hardware], memory_gb: float | None) -> Hardware | None:
    if len(found) == 1:
        return found[0]
    if memory_gb is None:
        return None
    near = [h for h in found if h.memory_gb and abs(h.memory_gb - memory_gb) <= 0.1 * memory_gb]
    return near[0] if len(near) == 1 else None


def match_name(name: str, table: dict[str, Hardware], kinds: set[HardwareKind],
               memory_gb: float | None = None) -> Hardware | None:
    """The table's entry for a device name the machine reports (see the module docstring)."""
    try:
        found = find_device(name, table)
    except InvalidInputError:  # ambiguous: several entries hold the name
        found = None
    if found is not None and found.kind in kinds:
        return found
    words = _words(name)
    same_kind = [h for h in table.values() if h.kind in kinds]
    return _closest_memory([h for h in same_kind if words <= _words(h.name)], memory_gb)


def _cpu_match(model: str, table: dict[str, Hardware]) -> Hardware | None:
    """The table's CPU (or APU) whose name holds this CPU's model number(s)."""
    numbers = {w for w in _words(model) if re.search(r"\d", w) and re.search(r"[a-z]", w)
               and not re.fullmatch(r"\d+(st|nd|rd|th|ghz|mhz|core|cores)", w)}
    numbers |= {w for w in _words(model) if re.fullmatch(r"\d{4,}", w)}
    if not numbers:
        return None
    found = [h for h in table.values() if h.kind in (HardwareKind.CPU, HardwareKind.APU)
             and numbers <= _words(h.name)]
    return found[0] if len(found) == 1 else None


def _apple(gpu: GpuReading, table: dict[str, Hardware]) -> DeviceMatch:
    memory_gb = round(gpu.memory_bytes / 2**30) if gpu.memory_bytes else None
    name = f"{gpu.name} ({gpu.gpu_cores}-core GPU, {memory_gb}GB)"
    found = (apple_configuration(gpu.name, gpu.gpu_cores, memory_gb, table)
             if gpu.gpu_cores and memory_gb else None)
    if found is None:
        return DeviceMatch(name=name, in_table=False, kind=HardwareKind.APPLE,
                           memory_gb=memory_gb, basis="read from the machine (no bandwidth figure)")
    return DeviceMatch(name=found.name, in_table=found.listed_as is None,
                       listed_as=found.listed_as, kind=found.kind, memory_gb=found.memory_gb,
                       bandwidth_gbs=found.bandwidth_gbs, fp16_tflops=found.fp16_tflops,
                       basis="hardware table" if found.listed_as is None else found.notes)


def _gpu_group(gpus: list[GpuReading]) -> tuple[GpuReading, int, list[str]]:
    """The group of identical GPUs with the most memory: (one of them, count, notes)."""
    groups: dict[str, list[GpuReading]] = defaultdict(list)
    for g in gpus:
        groups[g.name].append(g)
    best = max(groups.values(), key=lambda g: (sum(x.memory_bytes or 0 for x in g), len(g)))
    notes = []
    if len(groups) > 1:
        others = ", ".join(f"{len(g)} x {n}" for n, g in groups.items() if g is not best)
        notes.append(f"the answer is for the {len(best)} x {best[0].name}; the other GPUs "
                     f"({others}) are left out (llama.cpp can split over unequal GPUs; the "
                     "estimates do not model it)")
    return best[0], len(best), notes


def _gpu_device(gpu: GpuReading, count: int, table: dict[str, Hardware]) -> DeviceMatch:
    memory_gb = gpu.memory_bytes / 2**30 if gpu.memory_bytes else None
    found = match_name(gpu.name, table, {HardwareKind.GPU}, memory_gb)
    if found is not None:
        return DeviceMatch(name=found.name, in_table=True, kind=found.kind, count=count,
                           memory_gb=found.memory_gb, bandwidth_gbs=found.bandwidth_gbs,
                           fp16_tflops=found.fp16_tflops, basis="hardware table")
    return DeviceMatch(name=gpu.name, in_table=False, kind=HardwareKind.GPU, count=count,
                       memory_gb=round(gpu.memory_bytes / 1e9, 2) if gpu.memory_bytes else None,
                       bandwidth_gbs=gpu.bandwidth_gbs,
                       basis=gpu.bandwidth_basis or f"{gpu.tool} (no bandwidth figure)")


def _held_to(detected: int | None, device: DeviceMatch) -> int | None:
    """The detected memory, no more than the table's figure for the device(s)."""
    if device.in_table and device.memory_gb and detected:
        return min(detected, int(device.memory_gb * 1e9) * device.count)
    return detected


def detect(machine: Machine | None = None,
           table: dict[str, Hardware] | None = None) -> Detection:
    """Read ``machine`` (default: this one) and map it onto ``table`` (default: the hardware
    table of ``measurements/``)."""
    from advisor.data.hardware import load_hardware

    machine = machine or LocalMachine()
    table = load_hardware() if table is None else table
    cpu, gpus = read_cpu(machine), read_gpus(machine)
    notes: list[str] = []
    device: DeviceMatch | None = None
    vram = threads = None
    ram, ram_words = _usable_ram(cpu)
    if gpus and gpus[0].vendor == "apple":
        device = _apple(gpus[0], table)
        vram = _held_to(gpus[0].memory_limit_bytes or gpus[0].memory_bytes, device)
        if gpus[0].memory_limit_bytes is None:
            notes.append("macOS limits the unified memory the GPU may wire below the total "
                         "(sysctl iogpu.wired_limit_mb, 0 = the system's default); give "
                         "--vram to hold the answer to less")
    elif gpus:
        gpu, count, notes = _gpu_group(gpus)
        device = _gpu_device(gpu, count, table)
        vram = _held_to((gpu.memory_bytes or 0) * count or None, device)
        if ram is not None:
            notes.append(f"a model too large for the GPU may put part of itself in "
                         f"{ram_words}; give --ram to change it)")
    else:
        found = _cpu_match(cpu.model, table)
        threads = cpu.physical_cores
        vram = ram
        if found is not None:
            device = DeviceMatch(name=found.name, in_table=True, kind=found.kind,
                                 memory_gb=found.memory_gb, bandwidth_gbs=found.bandwidth_gbs,
                                 fp16_tflops=found.fp16_tflops, basis="hardware table")
        notes.append(f"no GPU found: the model runs from RAM on the CPU, and the budget is "
                     f"{ram_words}; give --vram to change it)")
    if device is not None and not device.in_table and device.bandwidth_gbs is None:
        notes.append(f"{device.name} is not in the hardware table and its memory bandwidth "
                     "could not be read: give --hardware-kind and --bandwidth-gbs for speed "
                     "estimates")
    if device is None:
        notes.append(f"the CPU {cpu.model!r} is not in the hardware table: give "
                     "--hardware-kind cpu and --bandwidth-gbs for speed estimates")
    offload_ram = ram if gpus and gpus[0].vendor != "apple" else None  # beside a discrete GPU
    return Detection(system=machine.system(), cpu=cpu, gpus=gpus, device=device,
                     vram_bytes=vram, ram_bytes=offload_ram, threads=threads, notes=notes)


def _usable_ram(cpu: CpuReading) -> tuple[int | None, str]:
    """The RAM a model may count on: what is available now (a model planned into all of RAM
    pages from disk), else the total; and the notes' words for it, an amount and an open
    parenthesis saying why, which the note closes after its own advice."""
    total, available = cpu.ram_bytes, cpu.available_bytes
    if available is None or total is None or available >= total:
        return total, "all of RAM (the system needs some of it too"
    return available, (f"the {format_bytes(available)} of RAM available now, of "
                       f"{format_bytes(total)} (the rest holds the system and running programs")
