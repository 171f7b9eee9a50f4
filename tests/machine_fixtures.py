"""Recorded machines for the detection tests: what each vendor tool returned, replayed.

``tests/machines/<name>.json`` holds a machine's tool outputs: ``system`` (platform.system()),
``commands`` (argv joined by spaces -> stdout), ``files`` (path -> text), ``dirs`` (path ->
names), ``psutil`` ([RAM bytes, physical cores, logical cores]), ``nvml`` (the devices as
nvidia-ml-py reports them; a missing figure raises as NVML's NotSupported does) and ``amdsmi``
(the dictionaries amdsmi returns). Nothing here reads the machine the tests run on.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

MACHINES = Path(__file__).resolve().parent / "machines"


class NVMLError(Exception):
    """What nvidia-ml-py raises (NVMLError_NotSupported) for a figure the GPU does not give."""


class FakeNvml:
    NVML_CLOCK_MEM = 2

    def __init__(self, recorded: dict[str, Any]) -> None:
        self.devices = recorded["devices"]
        self.driver = recorded.get("driver", "")
        self.calls: list[str] = []

    def nvmlInit(self) -> None:
        self.calls.append("init")

    def nvmlShutdown(self) -> None:
        self.calls.append("shutdown")

    def nvmlSystemGetDriverVersion(self) -> str:
        return self.driver

    def nvmlDeviceGetCount(self) -> int:
        return len(self.devices)

    def nvmlDeviceGetHandleByIndex(self, i: int) -> dict[str, Any]:
        return self.devices[i]

    def nvmlDeviceGetName(self, h: dict[str, Any]) -> str:
        return str(h["name"])

    def nvmlDeviceGetMemoryInfo(self, h: dict[str, Any]) -> SimpleNamespace:
        return SimpleNamespace(total=h["memory_total"], used=0, free=h["memory_total"])

    def _figure(self, h: dict[str, Any], key: str) -> Any:
        if key not in h:
            raise NVMLError("Not Supported")
        return h[key]

    def nvmlDeviceGetMemoryBusWidth(self, h: dict[str, Any]) -> int:
        return int(self._figure(h, "bus_width"))

    def nvmlDeviceGetMaxClockInfo(self, h: dict[str, Any], clock: int) -> int:
        assert clock == self.NVML_CLOCK_MEM
        return int(self._figure(h, "max_memory_clock_mhz"))


class FakeAmdSmi:
    def __init__(self, recorded: dict[str, Any]) -> None:
        self.devices = recorded["devices"]

    def amdsmi_init(self) -> None:
        pass

    def amdsmi_shut_down(self) -> None:
        pass

    def amdsmi_get_processor_handles(self) -> list[int]:
        return list(range(len(self.devices)))

    def amdsmi_get_gpu_asic_info(self, h: int) -> dict[str, Any]:
        return dict(self.devices[h]["asic"])

    def amdsmi_get_gpu_vram_info(self, h: int) -> dict[str, Any]:
        return dict(self.devices[h]["vram"])


class RecordedMachine:
    """A :class:`advisor.machine.probe.Machine` that replays ``tests/machines/<name>.json``."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.data = json.loads((MACHINES / f"{name}.json").read_text(encoding="utf-8"))
        self.modules: dict[str, Any] = {}
        if "nvml" in self.data:
            self.modules["pynvml"] = FakeNvml(self.data["nvml"])
        if "amdsmi" in self.data:
            self.modules["amdsmi"] = FakeAmdSmi(self.data["amdsmi"])

    def system(self) -> str:
        return str(self.data["system"])

    def run(self, argv: list[str]) -> str | None:
        return self.data.get("commands", {}).get(" ".join(argv))

    def read(self, path: str) -> str | None:
        return self.data.get("files", {}).get(path)

    def listdir(self, path: str) -> list[str]:
        return list(self.data.get("dirs", {}).get(path, []))

    def module(self, name: str) -> Any | None:
        return self.modules.get(name)

    def memory(self) -> tuple[int | None, int | None, int | None]:
        ram, physical, logical = self.data["psutil"]
        return ram, physical, logical

    def available_memory(self) -> int | None:
        return self.data.get("psutil_available")


def recorded_machines() -> list[str]:
    return sorted(p.stem for p in MACHINES.glob("*.json"))
