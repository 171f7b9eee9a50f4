"""Import the published device table (``hardware/devices.csv``) into ``measurements/hardware.csv``.

Input (a shared data folder, read only):

* ``hardware/devices.csv``: one device per line with its cited specs, aliases users type, the
  memory kind (unified / discrete) and CPU cores and memory channels (:data:`DEVICE_COLUMNS`);
* ``speed/hardware.csv`` (the older, smaller table): any device it lists that ``devices.csv``
  does not is kept as it is (``devices.csv`` includes all of them today);
* :data:`SPEED_DEVICE_NAMES`: the names speed sources give a device they measured. A name that
  identifies one table device is an alias of it (the speed importer files its rows under the
  table's name); a name that leaves the variant open (an Apple chip whose GPU-core count the
  source did not state) becomes a device of its own that keeps only the specs every variant of
  the chip shares, cited to the table rows they come from.

Nothing is estimated: each spec is copied with its source. ``devices.csv`` kind ``soc`` (Jetson,
Snapdragon: an integrated GPU sharing the system memory) is read as ``apu`` and says so in the
notes. A CPU device's ``threads`` is its core count (llama.cpp runs one thread per physical core
by default), except where the cores are of two kinds (Apple, Intel Core hybrids: llama.cpp uses
the performance cores, which the table does not count). ``measurements/hardware_added.csv``
may fill what the published table leaves blank, never override it
(:func:`advisor.data.dataset.read_hardware_tables`).
"""

from __future__ import annotations

import csv
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from advisor.data.dataset import csv_number
from advisor.vocabulary.errors import DataFileError
from advisor.vocabulary.schema import Hardware, HardwareKind, MemoryKind

DEVICES_FILE = Path("hardware") / "devices.csv"
DEVICE_COLUMNS: tuple[str, ...] = (
    "hardware", "aliases", "vendor", "kind", "memory_gb", "memory_kind", "bandwidth_gbs",
    "fp16_tflops", "fp16_basis", "fp16_tensor_tflops", "fp16_tensor_basis", "gpu_cores",
    "cpu_cores", "cpu_threads", "memory_channels", "memory_type", "released", "source", "notes")
_KINDS = {"gpu": HardwareKind.GPU, "apple": HardwareKind.APPLE, "cpu": HardwareKind.CPU,
          "apu": HardwareKind.APU, "soc": HardwareKind.APU}
SOC_NOTE = "devices.csv kind 'soc' (integrated GPU sharing the system memory) read as apu"
THREADS_NOTE = "threads = CPU cores (llama.cpp runs one thread per physical core by default)"
# CPUs whose cores are of two kinds: llama.cpp's default uses the performance cores only, and the
# table does not say how many those are (Apple silicon, Intel Core hybrids), so no thread count
_HYBRID = re.compile(r"^Apple |^Intel Core ", re.IGNORECASE)


@dataclass(frozen=True)
class SpeedDeviceName:
    """How a speed source's device name relates to the table.

    ``same``: the name identifies ``device`` (``reason`` says how); its rows are filed under
    ``device``. Otherwise the name is a device of its own with the specs of ``device`` listed
    in ``shared`` (those every variant of the chip has), its own ``memory_gb`` if stated.
    """

    device: str
    reason: str
    same: bool = False
    shared: tuple[str, ...] = ()
    memory_gb: float | None = None


_BUS = ("bandwidth_gbs", "memory_kind")
#: Device names of the speed sources (``speed/*.csv``) that are not table names.
SPEED_DEVICE_NAMES: dict[str, SpeedDeviceName] = {
    "NVIDIA GeForce RTX 4080 SUPER": SpeedDeviceName(
        "NVIDIA GeForce RTX 4080 Super", "the same card, spelled in capitals", same=True),
    "Apple M4 Max (GPU core count not stated, 128GB)": SpeedDeviceName(
        "Apple M4 Max (40-core GPU)", "128 GB is offered only with the 40-core GPU (the "
        "32-core M4 Max comes with 36 GB: memory_options in devices.csv)", same=True),
    "Apple M3 Ultra (GPU core count not stated, 512GB)": SpeedDeviceName(
        "Apple M3 Ultra (80-core GPU)", "512 GB is offered only with the 80-core GPU (the "
        "60-core M3 Ultra comes with 96 or 256 GB: memory_options in devices.csv)", same=True),
    "Apple M5 Max (GPU core count not stated, 128GB)": SpeedDeviceName(
        "Apple M5 Max (40-core GPU)", "the table's only M5 Max, whose memory options include "
        "128 GB", same=True),
    "Apple M5 (GPU core count not stated, 32GB)": SpeedDeviceName(
        "Apple M5 (10-core GPU)", "the table's only M5, whose memory options include 32 GB",
        same=True),
    "Apple M4 (Mac mini; GPU core count not stated, 16GB)": SpeedDeviceName(
        "Apple M4 (10-core GPU)", "M4 GPU variants (8 and 10 cores) share the 120 GB/s bus "
        "(devices.csv notes, Ars Technica table)", shared=_BUS, memory_gb=16.0),
    "Apple M4 (MacBook Air; GPU core count not stated, memory not reliably stated)":
        SpeedDeviceName("Apple M4 (10-core GPU)", "M4 GPU variants (8 and 10 cores) share the "
                        "120 GB/s bus (devices.csv notes, Ars Technica table)", shared=_BUS),
    "Apple M4 Pro (GPU core count not stated, 24GB)": SpeedDeviceName(
        "Apple M4 Pro (20-core GPU)", "both M4 Pro GPU variants (16 and 20 cores) have the "
        "273 GB/s bus (devices.csv)", shared=_BUS, memory_gb=24.0),
    "Apple M4 Pro (GPU core count not stated, 48GB)": SpeedDeviceName(
        "Apple M4 Pro (20-core GPU)", "both M4 Pro GPU variants (16 and 20 cores) have the "
        "273 GB/s bus (devices.csv)", shared=_BUS, memory_gb=48.0),
    "Apple M1 Max (GPU core count not stated, 64GB)": SpeedDeviceName(
        "Apple M1 Max (32-core GPU, 64GB)", "both M1 Max GPU variants (24 and 32 cores) have "
        "the 400 GB/s bus (devices.csv)", shared=_BUS, memory_gb=64.0),
    "Apple M2 Ultra (Mac Studio; GPU cores and memory not stated in file)": SpeedDeviceName(
        "Apple M2 Ultra (76-core GPU, 192GB)", "the M2 Ultra's 800 GB/s is the chip's "
        "(apple.com newsroom), whichever GPU variant", shared=_BUS),
    "AMD Ryzen AI Max+ 395 (Radeon 8060S iGPU, memory size not stated)": SpeedDeviceName(
        "AMD Ryzen AI Max+ 395 (Radeon 8060S iGPU, 128GB)", "the same chip (its GPU and "
        "256-bit LPDDR5X-8000 bus); only the memory size is not stated",
        shared=(*_BUS, "fp16_tflops", "fp16_basis", "fp16_tensor_tflops", "fp16_tensor_basis",
                "cpu_cores")),
    "AMD Radeon RX 9060 XT": SpeedDeviceName(
        "AMD Radeon RX 9060 XT 16GB", "the 8 GB and 16 GB cards share the chip and its 320 GB/s "
        "bus (devices.csv)", shared=(*_BUS, "fp16_tflops", "fp16_basis")),
    "Intel Arc A770": SpeedDeviceName(
        "Intel Arc A770 16GB", "the 8 GB and 16 GB cards share the chip; their buses differ "
        "(512 vs 560 GB/s), so the bandwidth is not known", shared=("fp16_tflops", "fp16_basis",
                                                                   "memory_kind")),
    "Intel Arc A770 (memory variant not stated)": SpeedDeviceName(
        "Intel Arc A770 16GB", "the 8 GB and 16 GB cards share the chip; their buses differ "
        "(512 vs 560 GB/s), so the bandwidth is not known", shared=("fp16_tflops", "fp16_basis",
                                                                   "memory_kind")),
}


def _read(path: Path) -> list[tuple[int, dict[str, str]]]:
    if not path.is_file():
        raise DataFileError(path, None, "file does not exist")
    with path.open(encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        missing = [c for c in DEVICE_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise DataFileError(path, 1, f"missing columns {missing}, required "
                                f"{list(DEVICE_COLUMNS)}")
        return [(i + 2, {k: (v or "").strip() for k, v in rec.items() if k is not None})
                for i, rec in enumerate(reader)]


def _whole(path: Path, line: int, column: str, text: str) -> int | None:
    value = csv_number(path, line, column, text)
    if value is None:
        return None
    if value != int(value) or value <= 0:
        raise DataFileError(path, line, f"{column} must be a positive whole number, got {text!r}")
    return int(value)


def _cores(rec: dict[str, str]) -> str:
    parts = []
    if rec["gpu_cores"]:
        parts.append(f"{rec['gpu_cores']} GPU cores ({rec['vendor'] or 'vendor'} units)")
    if rec["cpu_cores"]:
        threads = f" / {rec['cpu_threads']} threads" if rec["cpu_threads"] else ""
        parts.append(f"{rec['cpu_cores']} CPU cores{threads}")
    if rec["memory_type"]:
        parts.append(rec["memory_type"])
    return "; ".join(parts)


def read_devices(path: Path) -> list[Hardware]:
    """Devices of ``devices.csv`` (see the module docstring)."""
    devices = []
    for line, rec in _read(path):
        kind = _KINDS.get(rec["kind"].lower())
        if kind is None:
            raise DataFileError(path, line, f"kind must be one of {sorted(_KINDS)}, got "
                                f"{rec['kind']!r}")
        memory_kind = rec["memory_kind"].lower() or None
        if memory_kind is not None and memory_kind not in {m.value for m in MemoryKind}:
            raise DataFileError(path, line, "memory_kind must be 'unified', 'discrete' or blank, "
                                f"got {rec['memory_kind']!r}")
        notes = [rec["notes"]] if rec["notes"] else []
        if rec["kind"].lower() == "soc":
            notes.append(SOC_NOTE)
        cores = _whole(path, line, "cpu_cores", rec["cpu_cores"])
        threads = cores if kind is HardwareKind.CPU and not _HYBRID.search(rec["hardware"]) \
            else None
        if threads is not None:
            notes.append(THREADS_NOTE)
        specs = {}
        for column in ("memory_gb", "bandwidth_gbs", "fp16_tflops", "fp16_tensor_tflops"):
            value = csv_number(path, line, column, rec[column])
            if value is not None and value <= 0:
                raise DataFileError(path, line, f"{column} must be positive, got {rec[column]!r}")
            specs[column] = value
        try:
            devices.append(Hardware(
                name=rec["hardware"], kind=kind, memory_kind=memory_kind,
                fp16_basis=rec["fp16_basis"], fp16_tensor_basis=rec["fp16_tensor_basis"],
                threads=threads, cpu_cores=cores,
                memory_channels=_whole(path, line, "memory_channels", rec["memory_channels"]),
                cores_or_isa=_cores(rec), aliases=rec["aliases"], vendor=rec["vendor"],
                released=rec["released"], source=rec["source"], notes="; ".join(notes),
                **specs))
        except ValidationError as e:
            raise DataFileError(path, line, str(e.errors()[0]["msg"])) from e
    repeats = [n for n, c in Counter(d.name for d in devices).items() if c > 1]
    if repeats:
        raise DataFileError(path, None, f"device names must be unique, got repeats {repeats}")
    return devices


def speed_name_devices(table: dict[str, Hardware]) -> list[Hardware]:
    """The devices of :data:`SPEED_DEVICE_NAMES` that are variants left open, with the specs
    every variant shares (each cited to the table row it comes from)."""
    out = []
    for name, rel in SPEED_DEVICE_NAMES.items():
        base = table.get(rel.device)
        if base is None:
            raise DataFileError(DEVICES_FILE, None, f"speed device name {name!r} refers to "
                                f"{rel.device!r}, which devices.csv does not list")
        if rel.same:
            continue
        fields = {f: getattr(base, f) for f in rel.shared}
        shared = ", ".join(f for f in rel.shared if fields[f] not in (None, "")) or "none"
        out.append(Hardware(
            name=name, kind=base.kind, memory_gb=rel.memory_gb, vendor=base.vendor,
            source=f"specs shared by every variant of the chip ({shared}) from "
                   f"'{base.name}': {base.source}",
            notes=f"a device name of the speed sources; variant not stated: {rel.reason}",
            **fields))
    return out


def import_hardware(shared_dir: Path, extra: list[Hardware] | None = None) -> list[Hardware]:
    """The published device table: ``devices.csv``, then any ``extra`` device (the older speed
    table's) it lacks, then the speed sources' open-variant names; unique names."""
    devices = read_devices(Path(shared_dir) / DEVICES_FILE)
    table = {d.name: d for d in devices}
    for d in extra or []:
        if d.name not in table:
            table[d.name] = d
            devices.append(d)
    aliases = Counter(a.lower() for d in devices for a in d.aliases)
    clash = sorted(a for a, n in aliases.items() if n > 1)
    if clash:
        raise DataFileError(DEVICES_FILE, None, f"aliases must name one device each, got "
                            f"repeats {clash}")
    return devices + speed_name_devices(table)
