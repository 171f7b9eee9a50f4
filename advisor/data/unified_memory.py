"""How much of a unified-memory device's memory its GPU may use by default, and how to raise it.

On Apple silicon, AMD APUs and NVIDIA's DGX Spark the GPU shares the system memory, but not all
of it: the platform caps what the GPU may allocate (or the OS holds part of it). The rules
below are the published observations of ``hardware/unified_memory_limits.csv`` in the shared
data (issue threads and kernel commits, cited per rule); :func:`gpu_memory_limit` applies them
to a device of the hardware table and a memory size.

* **Apple** (macOS, Metal ``recommendedMaxWorkingSetSize``): 2/3 of the memory up to 36 GB
  (llama.cpp logs of 16 and 32 GB Macs: 10,922.67 and 21,845.34 MiB), 3/4 above (a 96 GB M2
  Max: 73,728 MiB; a 64 GB M2 Max "around 49 GB"). Newer macOS versions were seen to allow
  more (11.84 of 16 GB on an M3, 17.76 of 24 GB, 107.52 of 128 GB on macOS 26), so the rule is
  the conservative default. Raised with ``sudo sysctl iogpu.wired_limit_mb=<MiB>`` (until
  reboot).
* **AMD APU** (Strix Halo, Strix Point; Linux amdgpu): the GTT pool defaults to
  max(3 GiB, half the RAM) (kernel commit f7ba887f, 2022), Windows' shared GPU memory to about
  half as well (AMD's apu-memory-tuner notes); a BIOS UMA carve-out adds dedicated memory.
  Raised with the kernel parameter ``ttm.pages_limit=<GiB x 262144>`` (``amdgpu.gttsize`` is
  deprecated), the BIOS UMA frame buffer size, or Adrenalin's Variable Graphics Memory.
* **NVIDIA DGX Spark** (GB10, DGX OS): no static cap; CUDA reports 121.69 GiB of the 128 GB and
  101.3-102.2 GiB free at boot (headless, caches dropped), so 101.3 GiB is what a model can
  count on. Freeing the page cache (``sync; echo 3 > /proc/sys/vm/drop_caches``) helps.

Other unified devices (Intel APUs, Jetson, Snapdragon) have no published default here: their
limit is None (the caller assumes the whole memory and should say so). Sizes are the marketed
``memory_gb``, which for these devices is binary (a "32GB" Mac has 32 GiB), so limits are
computed in GiB and returned in bytes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from advisor.vocabulary.errors import InvalidInputError
from advisor.vocabulary.schema import Hardware, HardwareKind

GIB = 2**30
#: Apple: the memory size (GB) up to which the default is 2/3, and the shares.
APPLE_SMALL_GB = 36.0
APPLE_SMALL_SHARE = 2.0 / 3.0
APPLE_LARGE_SHARE = 0.75
#: AMD APU on Linux: the GTT default, max(3 GiB, RAM / 2).
AMD_GTT_SHARE = 0.5
AMD_GTT_MIN_GIB = 3.0
#: DGX Spark: free at boot of the 128 GB (the lower of the two observed figures, GiB).
SPARK_FREE_GIB = 101.3
SPARK_MEMORY_GB = 128.0

_APPLE_SOURCE = ("llama.cpp PR #2011 and issue #3213, ollama #434, llama-cpp-python #687 "
                 "(Metal recommendedMaxWorkingSetSize logged on 16/32/96 GB Macs); newer "
                 "values: llmfit PR #754, sglang PR #29949, antirez/ds4 PR #893")
_AMD_SOURCE = ("Linux commit f7ba887f606b 'drm/amdgpu: Adjust logic around GTT size (v3)' "
               "(2022); amd/skills @0a8a3e52 staging/apu-memory-tuner; ROCm/rocm-systems #351")
_SPARK_SOURCE = ("MiaAI-Lab/GLM-5.3-Flash-EXL3-2x-DGX-Sparks #47 (CUDA total 121.69 GiB, free at "
                 "boot 101.3-102.2 GiB); NVIDIA/dgx-spark-playbooks @0db7c141 (UMA note)")


@dataclass(frozen=True)
class GpuMemoryLimit:
    """The GPU-usable share of a unified memory, with its rule, citation and how to raise it.

    ``limit_bytes`` is None where no default is published for the platform.
    """

    platform: str
    memory_bytes: int | None
    limit_bytes: int | None
    rule: str
    source: str
    how_to_raise: str

    @property
    def share(self) -> float | None:
        """``limit_bytes / memory_bytes``, None where either is unknown."""
        if self.limit_bytes is None or not self.memory_bytes:
            return None
        return self.limit_bytes / self.memory_bytes


def _platform(device: Hardware) -> str | None:
    name = f"{device.name} {device.vendor}".lower()
    if device.kind is HardwareKind.APPLE:
        return "apple"
    if re.search(r"dgx spark|\bgb10\b", name):
        return "dgx_spark"
    if device.kind is HardwareKind.APU and re.search(r"\bamd\b|ryzen|radeon", name):
        return "amd_apu"
    return "unified_other"


def gpu_memory_limit(device: Hardware, memory_gb: float | None = None
                     ) -> GpuMemoryLimit | None:
    """The default GPU memory limit of ``device`` with ``memory_gb`` of memory (default: the
    device's ``memory_gb``); None for a device whose GPU has its own memory (or a CPU).

    >>> from advisor.vocabulary.schema import Hardware
    >>> mac = Hardware(name="Apple M2 Pro", kind="apple", memory_gb=32)
    >>> round(gpu_memory_limit(mac).limit_bytes / 2**30, 2)
    21.33
    >>> gpu_memory_limit(Hardware(name="RTX 3090", kind="gpu", memory_gb=24)) is None
    True
    """
    if device.kind is HardwareKind.CPU or not device.unified:
        return None
    size = memory_gb if memory_gb is not None else device.memory_gb
    if size is not None and not (isinstance(size, int | float) and size > 0):
        raise InvalidInputError(f"memory_gb must be a positive number of GB, got {size!r}",
                                parameter="memory_gb")
    memory = int(size * GIB) if size is not None else None
    platform = _platform(device)
    if platform == "apple":
        share = APPLE_SMALL_SHARE if size is not None and size <= APPLE_SMALL_GB \
            else APPLE_LARGE_SHARE
        rule = ("macOS lets the GPU wire 2/3 of unified memory up to 36 GB and 3/4 above "
                "(Metal's recommendedMaxWorkingSetSize; newer macOS versions may allow more)")
        return GpuMemoryLimit(
            "apple", memory, int(share * memory) if memory else None, rule, _APPLE_SOURCE,
            "sudo sysctl iogpu.wired_limit_mb=<MiB> (needs root, lasts until reboot); "
            "leave several GB to macOS")
    if platform == "amd_apu":
        limit = int(max(AMD_GTT_MIN_GIB * GIB, AMD_GTT_SHARE * memory)) if memory else None
        rule = ("the amdgpu GTT pool defaults to max(3 GiB, half the RAM) on Linux (Windows "
                "shares about half too); a BIOS UMA carve-out adds dedicated memory")
        return GpuMemoryLimit(
            "amd_apu", memory, limit, rule, _AMD_SOURCE,
            "Linux: kernel parameter ttm.pages_limit=<GiB x 262144> (e.g. 25165824 for 96 GiB; "
            "amdgpu.gttsize is deprecated), reboot; or raise the BIOS UMA frame buffer size; "
            "Windows: AMD Adrenalin > System > Variable Graphics Memory, or the BIOS")
    if platform == "dgx_spark":
        scale = (size / SPARK_MEMORY_GB) if size is not None else 1.0
        limit = int(SPARK_FREE_GIB * scale * GIB)
        rule = ("no static cap: GPU and OS share the memory dynamically; 101.3-102.2 GiB of the "
                "128 GB are free at boot (CUDA reports 121.69 GiB in all)")
        return GpuMemoryLimit(
            "dgx_spark", memory if memory else int(SPARK_MEMORY_GB * GIB), limit, rule,
            _SPARK_SOURCE, "free the page cache (sync; echo 3 > /proc/sys/vm/drop_caches) and "
            "run headless; nothing else raises it")
    return GpuMemoryLimit(
        "unified_other", memory, None,
        "no published default GPU share for this platform; the whole memory is assumed",
        "hardware/unified_memory_limits.csv lists none for it", "not known")
