"""Read this machine's CPU, GPUs and memory from the tools each vendor provides.

* NVIDIA: NVML (``nvidia-ml-py``): name, memory, memory bus width and maximum memory clock;
* Apple: ``sysctl`` (chip, unified memory, the GPU wired-memory limit) and ``system_profiler
  SPDisplaysDataType -json`` (GPU cores);
* AMD: the ``amdsmi`` Python library of ROCm where it is installed, else the amdgpu driver's
  sysfs files (``/sys/class/drm/card*/device``: vendor, VRAM size, product name);
* CPU: ``/proc/cpuinfo`` (or ``sysctl`` on macOS, ``lscpu`` on ARM Linux) for the model,
  ``psutil`` for cores and RAM.

Everything goes through a :class:`Machine`, so tests replay recorded outputs of these tools
(``tests/machines/``) instead of reading the machine they run on. A tool that is missing or
fails reads as absent, never as an error: a machine without NVIDIA GPUs has no NVML.
"""

from __future__ import annotations

import json
import logging
import os
import platform
import re
import shutil
import subprocess
from typing import Any, Literal, Protocol

from pydantic import BaseModel, Field

log = logging.getLogger(__name__)

#: NVML reports the memory clock at half the data rate of GDDR and HBM memory (RTX 3090: 9751
#: MHz for 19.5 Gbps), so bandwidth = bus bits / 8 x clock x 2.
DATA_RATE_PER_CLOCK = 2
_AMD_VENDOR = "0x1002"


class Machine(Protocol):
    """What probing reads: commands, files and the vendors' libraries."""

    def system(self) -> str:
        """``platform.system()``: Linux, Darwin, Windows."""

    def run(self, argv: list[str]) -> str | None:
        """The standard output of a command; None when it is missing or fails."""

    def read(self, path: str) -> str | None:
        """A file's text; None when it is absent or unreadable."""

    def listdir(self, path: str) -> list[str]:
        """Names in a folder (empty when it is absent)."""

    def module(self, name: str) -> Any | None:
        """An importable vendor library (``pynvml``, ``amdsmi``), or None."""

    def memory(self) -> tuple[int | None, int | None, int | None]:
        """(RAM bytes, physical cores, logical cores) from psutil; None where unknown."""

    def available_memory(self) -> int | None:
        """RAM bytes new processes can have now without swapping (psutil's ``available``:
        free memory plus what the OS can reclaim, such as the page cache); None if unknown."""


class LocalMachine:
    """The machine this process runs on."""

    def system(self) -> str:
        return platform.system()

    def run(self, argv: list[str]) -> str | None:
        if shutil.which(argv[0]) is None:
            return None
        try:
            done = subprocess.run(argv, capture_output=True, text=True, timeout=20,
                                  check=False)
        except (OSError, subprocess.SubprocessError) as e:
            log.info("%s failed: %s", argv[0], e)
            return None
        return done.stdout if done.returncode == 0 else None

    def read(self, path: str) -> str | None:
        try:
            with open(path, encoding="utf-8", errors="replace") as fh:
                return fh.read()
        except OSError:
            return None

    def listdir(self, path: str) -> list[str]:
        try:
            return sorted(os.listdir(path))
        except OSError:
            return []

    def module(self, name: str) -> Any | None:
        try:
            return __import__(name)
        except Exception as e:  # ImportError, or a library that cannot find its driver
            log.info("%s not usable: %s", name, e)
            return None

    def memory(self) -> tuple[int | None, int | None, int | None]:
        import psutil

        return (int(psutil.virtual_memory().total), psutil.cpu_count(logical=False),
                psutil.cpu_count(logical=True))

    def available_memory(self) -> int | None:
        import psutil

        return int(psutil.virtual_memory().available)


class CpuReading(BaseModel):
    model: str
    physical_cores: int | None
    logical_cores: int | None
    ram_bytes: int | None
    available_bytes: int | None = Field(
        None, description="RAM free for new processes when read (psutil available): the rest "
        "holds the system and running programs")
    tool: str


class GpuReading(BaseModel):
    vendor: Literal["nvidia", "amd", "apple"]
    name: str
    memory_bytes: int | None
    bandwidth_gbs: float | None = None
    bandwidth_basis: str | None = None
    gpu_cores: int | None = None
    memory_limit_bytes: int | None = Field(
        None, description="memory the GPU may use when it is less than memory_bytes (macOS "
        "iogpu.wired_limit_mb)")
    tool: str


def read_cpu(machine: Machine) -> CpuReading:
    """CPU model, cores and RAM (the total, and what is available now)."""
    ram, physical, logical = machine.memory()
    common = dict(physical_cores=physical, logical_cores=logical, ram_bytes=ram,
                  available_bytes=machine.available_memory())
    if machine.system() == "Darwin":
        brand = (machine.run(["sysctl", "-n", "machdep.cpu.brand_string"]) or "").strip()
        return CpuReading(model=brand or "unknown CPU", tool="sysctl, psutil", **common)
    text = machine.read("/proc/cpuinfo") or ""
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("model name", "Model", "Hardware", "cpu model") and value.strip():
            return CpuReading(model=value.strip(), tool="/proc/cpuinfo, psutil", **common)
    lscpu = machine.run(["lscpu"]) or ""  # ARM Linux: no model name in /proc/cpuinfo
    match = re.search(r"^Model name:\s*(.+)$", lscpu, re.MULTILINE)
    return CpuReading(model=match.group(1).strip() if match else platform.machine() or "unknown",
                      tool="lscpu, psutil" if match else "psutil", **common)


def _nvml_call(nvml: Any, name: str, *args: Any) -> Any | None:
    try:
        return getattr(nvml, name)(*args)
    except Exception:  # NVMLError_NotSupported and friends: the figure is unknown
        return None


def read_nvidia(machine: Machine) -> list[GpuReading]:
    """NVIDIA GPUs through NVML; empty without the library, the driver or a GPU."""
    nvml = machine.module("pynvml")
    if nvml is None:
        return []
    try:
        nvml.nvmlInit()
    except Exception as e:  # no driver or no device
        log.info("NVML not usable: %s", e)
        return []
    try:
        out = []
        for i in range(nvml.nvmlDeviceGetCount()):
            h = nvml.nvmlDeviceGetHandleByIndex(i)
            name = nvml.nvmlDeviceGetName(h)
            name = name.decode() if isinstance(name, bytes) else str(name)
            memory = _nvml_call(nvml, "nvmlDeviceGetMemoryInfo", h)
            bus = _nvml_call(nvml, "nvmlDeviceGetMemoryBusWidth", h)
            clock = _nvml_call(nvml, "nvmlDeviceGetMaxClockInfo", h, nvml.NVML_CLOCK_MEM)
            bandwidth = basis = None
            if bus and clock:
                bandwidth = round(bus / 8 * clock * 1e6 * DATA_RATE_PER_CLOCK / 1e9, 1)
                basis = (f"NVML: {bus}-bit bus x {clock} MHz max memory clock x "
                         f"{DATA_RATE_PER_CLOCK} transfers per clock")
            out.append(GpuReading(vendor="nvidia", name=name,
                                  memory_bytes=int(memory.total) if memory else None,
                                  bandwidth_gbs=bandwidth, bandwidth_basis=basis, tool="NVML"))
        return out
    finally:
        _nvml_call(nvml, "nvmlShutdown")


def read_apple(machine: Machine) -> GpuReading | None:
    """The Apple silicon GPU (chip name, GPU cores, unified memory); None off macOS/Apple."""
    if machine.system() != "Darwin":
        return None
    chip = (machine.run(["sysctl", "-n", "machdep.cpu.brand_string"]) or "").strip()
    if not chip.startswith("Apple"):
        return None  # an Intel Mac: its GPU is not what llama.cpp's Metal backend targets
    memsize = (machine.run(["sysctl", "-n", "hw.memsize"]) or "").strip()
    cores = None
    try:
        shown = json.loads(machine.run(["system_profiler", "SPDisplaysDataType", "-json"]) or "{}")
        for gpu in shown.get("SPDisplaysDataType", []):
            if str(gpu.get("sppci_cores", "")).isdigit():
                cores = int(gpu["sppci_cores"])
                break
    except ValueError:
        log.info("system_profiler printed no JSON")
    limit = (machine.run(["sysctl", "-n", "iogpu.wired_limit_mb"]) or "").strip()
    return GpuReading(
        vendor="apple", name=chip, memory_bytes=int(memsize) if memsize.isdigit() else None,
        gpu_cores=cores,
        memory_limit_bytes=int(limit) * 2**20 if limit.isdigit() and int(limit) > 0 else None,
        tool="sysctl, system_profiler")


def _amdsmi(amdsmi: Any) -> list[GpuReading]:
    amdsmi.amdsmi_init()
    try:
        out = []
        for h in amdsmi.amdsmi_get_processor_handles():
            asic = amdsmi.amdsmi_get_gpu_asic_info(h)
            vram = amdsmi.amdsmi_get_gpu_vram_info(h)
            size_mb = vram.get("vram_size", vram.get("vram_size_mb"))
            peak = vram.get("vram_max_bandwidth")
            out.append(GpuReading(
                vendor="amd", name=str(asic.get("market_name") or "AMD GPU"),
                memory_bytes=int(size_mb) * 2**20 if isinstance(size_mb, int) else None,
                bandwidth_gbs=float(peak) if isinstance(peak, int | float) and peak > 0 else None,
                bandwidth_basis="amdsmi vram_max_bandwidth" if isinstance(peak, int | float)
                and peak > 0 else None, tool="amdsmi"))
        return out
    finally:
        amdsmi.amdsmi_shut_down()


def read_amd(machine: Machine) -> list[GpuReading]:
    """AMD GPUs through amdsmi, else the amdgpu driver's sysfs files; empty without any."""
    amdsmi = machine.module("amdsmi")
    if amdsmi is not None:
        try:
            return _amdsmi(amdsmi)
        except Exception as e:  # the library is there but the driver is not
            log.info("amdsmi not usable: %s", e)
    out = []
    for card in machine.listdir("/sys/class/drm"):
        if not re.fullmatch(r"card\d+", card):
            continue
        base = f"/sys/class/drm/{card}/device"
        if (machine.read(f"{base}/vendor") or "").strip() != _AMD_VENDOR:
            continue
        vram = (machine.read(f"{base}/mem_info_vram_total") or "").strip()
        name = (machine.read(f"{base}/product_name") or "").strip()
        device = (machine.read(f"{base}/device") or "").strip()
        out.append(GpuReading(vendor="amd", name=name or f"AMD GPU (PCI device {device})",
                              memory_bytes=int(vram) if vram.isdigit() else None,
                              tool="sysfs (amdgpu)"))
    return out


def read_gpus(machine: Machine) -> list[GpuReading]:
    """Every GPU llama.cpp could offload to: NVIDIA, AMD, or the Apple silicon GPU."""
    apple = read_apple(machine)
    return [apple] if apple is not None else [*read_nvidia(machine), *read_amd(machine)]
