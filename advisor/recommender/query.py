"""A validated recommendation request, and what fits it."""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from advisor.data.unified_memory import GpuMemoryLimit, gpu_memory_limit
from advisor.recommender.memory import CACHE_TYPES, Runtime, per_device_bytes
from advisor.recommender.results import RequestEcho
from advisor.vocabulary.schema import Hardware, HardwareKind
from advisor.vocabulary.tasks import TaskCategory
from advisor.vocabulary.units import format_bytes

__all__ = ["CACHE_TYPES", "MAX_CONTEXT", "MIN_CONTEXT", "MODES", "THINKING_CONTEXT", "Query"]

MIN_CONTEXT, MAX_CONTEXT = 128, 1_048_576
#: How a model may be asked to answer: ``auto`` ranks each model in every mode it has.
MODES: tuple[str, ...] = ("auto", "thinking", "non-thinking")
#: Context a model answering in thinking mode is sized for when the request sets none: its
#: reasoning trace shares the context (and so the KV cache) with the prompt and the answer.
#: 32,768 tokens is the output length the Qwen3 model cards recommend for most queries in
#: thinking mode ("Best Practices: Adequate Output Length") and the generation length the
#: DeepSeek-R1 README evaluates its distills with. A non-thinking answer keeps the service's
#: default context (``ADVISOR_DEFAULT_CONTEXT``, 4,096 tokens: a prompt and a reply).
THINKING_CONTEXT = 32768


@dataclass(frozen=True)
class Query:
    """A validated request. ``budget_bytes`` is the memory the answer is held to: ``vram``, or
    the hardware's own memory (all its devices) when that is known and smaller, in which case
    ``requested_bytes`` keeps the ``vram`` asked for."""

    budget_bytes: int
    budget_text: str
    mix: dict[TaskCategory, float]
    context: int
    cache_type: str
    hardware: Hardware | None
    min_tokens_per_s: float | None
    family: str | None
    models: tuple[str, ...] | None
    n_alternatives: int
    requested_bytes: int | None = None
    mode: str = "auto"
    #: system RAM beside the GPU budget that offloaded placements may use, bytes
    ram_bytes: int | None = None
    ram_bandwidth_gbs: float | None = None
    #: the context thinking-mode rows are sized for (``context`` when the request set one)
    thinking_context: int | None = None
    context_given: bool = True
    #: what a unified-memory device's GPU may use by default (None for other devices)
    gpu_limit: GpuMemoryLimit | None = None

    def context_for(self, mode: str) -> int:
        """The context a row answering in ``mode`` is sized for."""
        if mode == "thinking" and self.thinking_context is not None:
            return self.thinking_context
        return self.context

    @property
    def runtime(self) -> Runtime:
        """Where the weights live, for the memory model: host RAM when the device is a CPU,
        else a GPU runtime (Apple and APU devices too: llama.cpp's Metal and ROCm backends
        allocate like one; the host-memory terms were measured on x86 CPUs only)."""
        on_cpu = self.hardware is not None and self.hardware.kind is HardwareKind.CPU
        return "cpu" if on_cpu else "gpu"

    @property
    def n_devices(self) -> int:
        """Identical GPUs the layers are split over (1: one device or no hardware given)."""
        return (self.hardware.n_devices or 1) if self.hardware is not None else 1

    @property
    def device_bytes(self) -> int | None:
        """Memory one device can give the model, bytes: on unified memory the GPU's default
        share (:func:`advisor.data.unified_memory.gpu_memory_limit`), else ``memory_gb``
        (GB = 10^9 bytes); None when not known."""
        return device_capacity(self.hardware, self.gpu_limit)

    def device_fits(self, total_bytes: np.ndarray) -> np.ndarray:
        """Whether each total fits the device's own memory (:attr:`device_bytes`): one device
        holds the total; with layers split evenly over ``n`` devices each holds ``total / n``
        (:func:`advisor.recommender.memory.per_device_bytes`: its share of weights and KV cache
        plus its own overhead and compute buffer). All true when no hardware or no memory size
        is known: the budget alone then says what the user has."""
        capacity = self.device_bytes
        if capacity is None:
            return np.ones(np.shape(total_bytes), dtype=bool)
        return np.asarray(per_device_bytes(np.asarray(total_bytes, dtype=np.int64),
                                           self.n_devices) <= capacity)

    def held_note(self) -> str | None:
        """Why the budget is smaller than ``vram`` (None when it is not)."""
        if self.requested_bytes is None or self.hardware is None:
            return None
        hw, limit = self.hardware, self.gpu_limit
        held = f"the answer is held to {format_bytes(self.budget_bytes)} on the device"
        offload = "" if self.ram_bytes else " (give ram to consider offloading to the CPU)"
        if limit is not None and limit.limit_bytes is not None:
            return (f"vram {self.budget_text} is more than the GPU of {hw.name} may use by "
                    f"default: {limit.rule}, so {held}. To raise the limit: "
                    f"{limit.how_to_raise} (sources: {limit.source})")
        count = f"{self.n_devices} x " if self.n_devices > 1 else ""
        return (f"vram {self.budget_text} is more than the {count}{hw.memory_gb:g} GB of "
                f"{hw.name}: {held}{offload}")

    def fits(self, total_bytes: np.ndarray) -> np.ndarray:
        """Whether each total (bytes, over all devices) fits: within the budget, and each
        device's share within that device's memory when known (:meth:`device_fits`)."""
        total = np.asarray(total_bytes)
        return (total <= self.budget_bytes) & self.device_fits(total)

    def shape(self) -> tuple[object, ...]:
        """Everything of the request but its budget: what the candidates' scores, memory and
        eligibility depend on."""
        hw = self.hardware
        return (tuple(sorted((c.value, w) for c, w in self.mix.items())), self.context,
                self.thinking_context, self.context_given, self.cache_type, self.mode,
                self.family, self.models,
                self.min_tokens_per_s, None if hw is None else (
                    hw.name, hw.kind, hw.memory_gb, hw.bandwidth_gbs, hw.fp16_tflops,
                    hw.fp16_basis, hw.fp16_tensor_tflops, hw.memory_kind, hw.threads,
                    hw.n_devices),
                None if self.gpu_limit is None else self.gpu_limit.limit_bytes)

    def echo(self) -> RequestEcho:
        """The request as the answer repeats it."""
        return RequestEcho(
            budget_bytes=self.budget_bytes, budget=self.budget_text,
            task_mix={c.value: w for c, w in self.mix.items()}, context=self.context,
            cache_type=self.cache_type,
            hardware=self.hardware.name if self.hardware else None,
            threads=self.hardware.threads if self.hardware else None,
            n_devices=self.hardware.n_devices if self.hardware else None,
            min_tokens_per_s=self.min_tokens_per_s, family=self.family,
            models=list(self.models) if self.models else None, mode=self.mode,
            contexts={"non-thinking": self.context_for("non-thinking"),
                      "thinking": self.context_for("thinking")},
            context_given=self.context_given, ram_bytes=self.ram_bytes,
            ram_bandwidth_gbs=self.ram_bandwidth_gbs,
            gpu_limit_bytes=None if self.gpu_limit is None else self.gpu_limit.limit_bytes)


def device_capacity(hardware: Hardware | None, limit: GpuMemoryLimit | None) -> int | None:
    """Bytes one device of ``hardware`` can give the model (see :attr:`Query.device_bytes`)."""
    if limit is not None and limit.limit_bytes is not None:
        return limit.limit_bytes
    if hardware is None or hardware.memory_gb is None:
        return None
    return int(hardware.memory_gb * 1e9)


#: A device name that states its memory size ("..., 32GB)").
_STATES_MEMORY = re.compile(r"\b\d+\s*GB\b", re.IGNORECASE)


def unified_limit(hardware: Hardware | None, budget_bytes: int | None = None
                  ) -> GpuMemoryLimit | None:
    """The default GPU share of ``hardware``'s unified memory (None for other devices).

    A device whose name does not state its memory is listed with its largest configuration
    (an "Apple M4 Max (40-core GPU)" comes with 36 to 128 GB): a ``vram`` below that (or any
    ``vram`` when no size is listed) then says how much memory the machine has, and the share
    is of that: a 64 GB M4 Max gives its GPU 48 GiB. A device named with its memory ("Apple
    M2 Pro (19-core GPU, 32GB)") keeps it, and ``vram`` is the budget within it."""
    if hardware is None:
        return None
    size = hardware.memory_gb
    if hardware.unified and budget_bytes is not None and not _STATES_MEMORY.search(hardware.name):
        given = budget_bytes / 1e9
        size = given if size is None else min(size, given)
    return gpu_memory_limit(hardware, size)
