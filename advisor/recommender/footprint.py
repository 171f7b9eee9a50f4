"""One model at one quant: how much memory it takes, itemised ("how much does X at Q take at
32K?"). The same answer backs ``quant-advisor memory``, ``GET /v1/memory`` and the MCP tool.

Where the weights live follows the device: a CPU runs on the CPU backend (the prediction is
what llama.cpp adds to the process's RSS), Apple, APU and other unified-memory devices hold the
GPU's buffers in system memory, a discrete GPU its own; no device given means a discrete GPU.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field

from advisor.data.weights_table import WeightsRow, estimated_row
from advisor.recommender.memory import (
    CACHE_TYPES,
    MemoryBreakdown,
    Runtime,
    context_limit,
    estimate_memory,
)
from advisor.vocabulary.errors import InvalidInputError
from advisor.vocabulary.quants import get_quant
from advisor.vocabulary.schema import Hardware, HardwareKind

if TYPE_CHECKING:
    from advisor.data.catalog import Catalog, ModelSpec


class MemoryAnswer(BaseModel):
    """The itemised footprint of ``model`` at ``quant`` (bytes), with what it assumes."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    model: str
    quant: str
    params_b: float
    bpw: float = Field(description="bits per weight of the file")
    bpw_source: str
    weights_bytes: int
    kv_cache_bytes: int = Field(description="KV cache plus recurrent state")
    compute_buffer_bytes: int
    overhead_bytes: int
    total_bytes: int
    context: int
    cache_type: str
    runtime: str = Field(description="gpu (discrete), unified or cpu")
    hardware: str | None = None
    device_memory_bytes: int | None = Field(
        None, description="the device's memory (all of its GPUs), when known")
    fits_device: bool | None = Field(None, description="total within the device's memory")
    max_context: int | None = Field(None, description="the longest context the model serves")
    assumptions: list[str] = Field(default_factory=list)


def runtime_of(hardware: Hardware | None) -> Runtime:
    """Where llama.cpp keeps the weights on ``hardware`` (see the module docstring)."""
    if hardware is None:
        return "gpu"
    if hardware.kind is HardwareKind.CPU:
        return "cpu"
    if hardware.kind in (HardwareKind.APPLE, HardwareKind.APU):
        return "unified"
    return "gpu"


def weights_of(spec: ModelSpec, quant: str,
               weights: dict[tuple[str, str], WeightsRow]) -> WeightsRow:
    """``spec``'s file at ``quant``: from the weights table (published or computed), else
    estimated from the parameter count."""
    q = get_quant(quant)
    if spec.params_b is None:
        raise InvalidInputError(f"model {spec.name!r} has no parameter count on record; reason: "
                                f"{spec.not_recommendable_reason or 'none'}", parameter="model")
    found = weights.get((spec.name, q.name))
    return found if found is not None else estimated_row(
        spec, q.name, f"{q.name} is not one of the recommended quants of the weights table")


def memory_answer(catalog: Catalog, weights: dict[tuple[str, str], WeightsRow], *,
                  model: str, quant: str, context: int, cache_type: str = "f16",
                  hardware: Hardware | None = None) -> MemoryAnswer:
    """The footprint of ``model`` at ``quant`` and ``context`` tokens (on ``hardware``)."""
    spec = catalog.get(model)
    cache = cache_type.strip().lower()
    if cache not in CACHE_TYPES:
        raise InvalidInputError(f"cache_type must be one of {', '.join(CACHE_TYPES)}, got "
                                f"{cache_type!r}", parameter="cache_type")
    file = weights_of(spec, quant, weights)
    runtime = runtime_of(hardware)
    n_devices = hardware.n_devices or 1 if hardware is not None else 1
    est: MemoryBreakdown = estimate_memory(spec, weights_bytes=file.file_bytes, context=context,
                                           cache_type=cache, runtime=runtime,
                                           n_devices=n_devices if runtime == "gpu" else 1)
    device = None
    if hardware is not None and hardware.memory_gb is not None:
        device = int(hardware.memory_gb * 1e9) * n_devices
    return MemoryAnswer(
        model=spec.name, quant=get_quant(quant).name, params_b=float(spec.params_b or 0),
        bpw=file.bpw, bpw_source=f"{file.size_source}: {file.source}",
        weights_bytes=est.weights_bytes,
        kv_cache_bytes=est.kv_cache_bytes, compute_buffer_bytes=est.compute_buffer_bytes,
        overhead_bytes=est.overhead_bytes, total_bytes=est.total_bytes, context=context,
        cache_type=cache, runtime=runtime, hardware=hardware.name if hardware else None,
        device_memory_bytes=device, fits_device=None if device is None
        else est.total_bytes <= device, max_context=context_limit(spec),
        assumptions=est.assumptions)
