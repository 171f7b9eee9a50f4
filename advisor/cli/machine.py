"""``quant-advisor detect``: this machine's CPU, GPUs and memory, and the device of the hardware
table they are; ``recommend --detect`` fills its inputs from the same reading."""

from __future__ import annotations

import inspect
import json
from typing import Any

import click

from advisor.cli.common import errors_to_exit

#: Options that name the device: when any is given, detection leaves the device alone.
_DEVICE_OPTIONS = ("hardware", "hardware_kind", "bandwidth_gbs", "fp16_tflops",
                   "hardware_memory_gb", "devices")


@click.command("detect")
@click.option("--json", "as_json", is_flag=True, help="Print the reading as JSON.")
@errors_to_exit
def detect(as_json: bool) -> None:
    """Read this machine's CPU, GPUs and memory and name its device in the hardware table."""
    from advisor.data.hardware import load_hardware
    from advisor.machine.detect import detect as detect_machine
    from advisor.vocabulary.settings import get_settings

    found = detect_machine(table=load_hardware(get_settings().measurements_dir))
    if as_json:
        body = found.model_dump(mode="json")
        body["recommend_args"] = found.recommend_args()
        click.echo(json.dumps(body, indent=2))
    else:
        click.echo(describe(found))


def describe(found: Any) -> str:
    """The reading in a few lines."""
    from advisor.vocabulary.units import format_bytes

    cpu = found.cpu
    ram = format_bytes(cpu.ram_bytes) if cpu.ram_bytes else "unknown"
    if cpu.available_bytes is not None:
        ram += f" ({format_bytes(cpu.available_bytes)} available)"
    lines = [f"CPU: {cpu.model}, {cpu.physical_cores or '?'} cores "
             f"({cpu.logical_cores or '?'} threads), RAM {ram}  [{cpu.tool}]"]
    for g in found.gpus:
        memory = format_bytes(g.memory_bytes) if g.memory_bytes else "memory unknown"
        extra = f", {g.gpu_cores} GPU cores" if g.gpu_cores else ""
        speed = f", {g.bandwidth_gbs:g} GB/s" if g.bandwidth_gbs else ""
        lines.append(f"GPU: {g.name}, {memory}{extra}{speed}  [{g.tool}]")
    if not found.gpus:
        lines.append("GPU: none found (NVML, amdsmi, amdgpu sysfs, macOS system_profiler)")
    d = found.device
    if d is not None:
        count = f"{d.count} x " if d.count > 1 else ""
        where = ("in the hardware table" if d.in_table else
                 f"a memory size of the table's {d.listed_as}" if d.listed_as else
                 "not in the hardware table")
        lines.append(f"Device: {count}{d.name} ({d.kind.value}, {where}; {d.basis})")
    args = found.recommend_args()
    if args:
        lines.append("recommend --detect fills: " + ", ".join(
            f"{k}={v}" for k, v in args.items() if v is not None))
    lines += [f"note: {n}" for n in found.notes]
    return "\n".join(lines)


def recommend_inputs(kwargs: dict[str, Any], advisor: Any, detect: bool) -> dict[str, Any]:
    """A recommendation's options, filled from this machine with ``detect``; without a budget
    (given or detected) a usage error."""
    kwargs = fill_from_machine(kwargs, advisor) if detect else kwargs
    if kwargs.get("vram") is None:
        raise click.UsageError("Missing option '--vram' (or give --detect to read it from this "
                               "machine).")
    return kwargs


def fill_from_machine(kwargs: dict[str, Any], advisor: Any) -> dict[str, Any]:
    """``kwargs`` (a recommendation's options) with the budget, RAM and device of this machine
    where they were not given. Says on stderr what it read and filled."""
    from advisor.machine.detect import detect as detect_machine

    found = detect_machine(table=advisor.hardware_table)
    accepted = inspect.signature(advisor.parse_query).parameters
    device_given = any(kwargs.get(k) is not None for k in _DEVICE_OPTIONS)
    out, filled = dict(kwargs), []
    for key, value in found.recommend_args().items():
        if key not in accepted or value is None or out.get(key) is not None:
            continue
        if device_given and key in (*_DEVICE_OPTIONS, "threads"):
            continue
        out[key] = value
        filled.append(f"{key}={value}")
    click.echo(f"detected: {', '.join(filled) or 'nothing to fill'}", err=True)
    for note in found.notes:
        click.echo(f"note: {note}", err=True)
    return out
