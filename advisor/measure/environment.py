"""Hardware and software fingerprint stored on every measured row (``environment``)."""

from __future__ import annotations

import logging
import platform
import time
from pathlib import Path
from typing import Any

import numpy as np

from advisor.vocabulary.errors import NothingFitsError
from advisor.vocabulary.units import MIB

log = logging.getLogger(__name__)

_ISA_FLAGS = ("avx", "avx2", "avx512f", "avx512_vnni", "avx512_bf16", "fma", "f16c", "neon",
              "asimd", "sve", "amx_tile")


def cpu_model(cpuinfo: str | None = None) -> str:
    """CPU model name from /proc/cpuinfo (Linux), else :func:`platform.processor`."""
    text = cpuinfo if cpuinfo is not None else _read_cpuinfo()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("model name", "Model", "Hardware", "cpu model") and value.strip():
            return value.strip()
    return platform.processor() or platform.machine() or "unknown CPU"


def isa_flags(cpuinfo: str | None = None) -> list[str]:
    """The SIMD flags llama.cpp cares about that this CPU reports."""
    text = cpuinfo if cpuinfo is not None else _read_cpuinfo()
    present: set[str] = set()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            present.update(value.split())
    if platform.machine().lower() in ("arm64", "aarch64") and not text:
        present.add("neon")
    return [f for f in _ISA_FLAGS if f in present]


def _read_cpuinfo() -> str:
    path = Path("/proc/cpuinfo")
    return path.read_text(errors="replace") if path.exists() else ""


def copy_bandwidth_gbs(n_bytes: int = 256 * 2**20, repeats: int = 5) -> float:
    """Best-of-``repeats`` memory-copy bandwidth in GB/s (read + write bytes counted)."""
    src = np.ones(n_bytes // 8, dtype=np.float64)
    dst = np.empty_like(src)
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        np.copyto(dst, src)
        best = min(best, time.perf_counter() - t0)
    return 2 * n_bytes / best / 1e9


def gpus() -> list[dict[str, Any]]:
    """Name, memory and driver of each NVIDIA GPU via NVML; empty without NVML or GPUs."""
    try:
        import pynvml
    except ImportError:
        return []
    try:
        pynvml.nvmlInit()
    except Exception as e:  # no driver / no device: report none, say why in the log
        log.info("NVML not usable: %s", e)
        return []
    try:
        driver = pynvml.nvmlSystemGetDriverVersion()
        out = []
        for i in range(pynvml.nvmlDeviceGetCount()):
            h = pynvml.nvmlDeviceGetHandleByIndex(i)
            out.append({"name": str(pynvml.nvmlDeviceGetName(h)),
                        "memory_mib": pynvml.nvmlDeviceGetMemoryInfo(h).total / 2**20,
                        "driver": str(driver)})
        return out
    finally:
        pynvml.nvmlShutdown()


def gpu_memory_used_mib() -> float | None:
    """Memory in use on all NVIDIA GPUs together (NVML), MiB; None without NVML or GPUs.

    NVML's per-process figures are often unavailable inside containers, so callers take the
    difference of this total before loading a model and after running it.
    """
    try:
        import pynvml
    except ImportError:
        return None
    try:
        pynvml.nvmlInit()
    except Exception:  # no driver / no device
        return None
    try:
        n = pynvml.nvmlDeviceGetCount()
        return sum(pynvml.nvmlDeviceGetMemoryInfo(pynvml.nvmlDeviceGetHandleByIndex(i)).used
                   for i in range(n)) / 2**20 if n else None
    finally:
        pynvml.nvmlShutdown()


def fingerprint() -> dict[str, Any]:
    """CPU, ISA, RAM, measured copy bandwidth, GPUs, llama.cpp build info and versions."""
    import psutil

    from advisor.measure.llama_backend import library_version, system_info

    info = _read_cpuinfo()
    return {
        "cpu_model": cpu_model(info),
        "cpu_cores": psutil.cpu_count(logical=False),
        "cpu_threads": psutil.cpu_count(logical=True),
        "isa": isa_flags(info),
        "machine": platform.machine(),
        "os": platform.platform(),
        "ram_mib": round(psutil.virtual_memory().total / 2**20),
        "copy_bandwidth_gbs": round(copy_bandwidth_gbs(), 2),
        "gpus": gpus(),
        "llama_cpp_system_info": system_info(),
        "llama_cpp_python": library_version(),
        "python": platform.python_version(),
    }


def check_free_ram(path: Path, needed_mib: float, available_mib: float | None = None) -> None:
    """Raise :class:`~advisor.vocabulary.errors.NothingFitsError` when ``needed_mib`` exceeds
    free RAM."""
    if available_mib is None:
        import psutil

        available_mib = psutil.virtual_memory().available / MIB
    if needed_mib > available_mib:
        raise NothingFitsError(
            f"not enough free memory to measure {path.name}: needs about {needed_mib:.0f} MiB "
            f"(predicted), {available_mib:.0f} MiB available",
            smallest_budget_bytes=int(needed_mib * MIB))
