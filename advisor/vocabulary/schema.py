"""The measurement schema: one typed row per published or measured number.

Two kinds of rows live in ``measurements/``:

* :class:`QualityRow`: a quality metric of a model at a quant level, next to the same source's
  full-precision baseline. Normalised targets: ``retention`` (value / baseline, for
  accuracy-like scores, higher is better), ``ppl_ratio`` (PPL(quant) / PPL(baseline)) and
  ``kld`` (mean KL divergence to the full-precision model, nats).
* :class:`SpeedRow`: llama-bench style throughput of a model at a quant level on a device:
  ``tokens_per_s`` for a test such as ``pp512`` (prompt processing, 512 tokens) or ``tg128``
  (generation, 128 tokens), with the device's specs joined.

Every row keeps ``source_id`` (see ``measurements/sources.csv`` for the citation) and its
``provenance``. Rows that could not be normalised are kept with ``excluded_reason`` set; training
skips them, nothing deletes them.
"""

from __future__ import annotations

import hashlib
import json
import math
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PositiveInt,
    field_validator,
    model_validator,
)

#: Flag of rows whose quality was measured against a reference dequantized from a quantized
#: file (the packaged demo models): their KLD and PPL ratios measure re-quantization of already
#: quantized weights, not the cost of a quant against full precision.
QUANTIZED_REFERENCE = "quantized_reference"


class Provenance(StrEnum):
    MEASURED = "measured"    # measured by this project's pipeline (``run_id`` says which run)
    PUBLISHED = "published"  # transcribed from a cited public source (``source_id``)
    PREDICTED = "predicted"  # output of a fitted model (never stored as training data)


class HardwareKind(StrEnum):
    GPU = "gpu"
    APPLE = "apple"  # Apple silicon GPU (Metal); unified memory
    CPU = "cpu"
    APU = "apu"      # integrated GPU sharing system memory (e.g. Ryzen AI Max)


class MemoryKind(StrEnum):
    UNIFIED = "unified"    # one memory shared by CPU and GPU (Apple, APUs, SoCs)
    DISCRETE = "discrete"  # the GPU's own memory


class MetricKind(StrEnum):
    ACCURACY = "accuracy"        # higher is better, compared as retention = value / baseline
    PERPLEXITY = "perplexity"    # lower is better, compared as ppl_ratio = value / baseline
    KLD = "kld"                  # mean KL divergence to the baseline (nats)
    OTHER = "other"              # kept for reference (bpw tables, deltas, top-token stats)


PositiveFloat = Annotated[float, Field(gt=0, allow_inf_nan=False)]
FiniteFloat = Annotated[float, Field(allow_inf_nan=False)]

# Plausibility limits. A number outside them is a mistake, and one that could break training
# (an integer too large for a 64-bit column, a product that overflows a float), so a row
# holding it is refused whatever its source; every published and measured row is far inside.
#: bytes of a weights file (1 PB)
MAX_BYTES = 10**15
#: parameters, billions (100 trillion)
MAX_PARAMS_B = 100_000.0
#: bits per weight (F64 is 64)
MAX_BPW = 64.0
#: tokens per second of any llama-bench test
MAX_TOKENS_PER_S = 1e7
#: tokens in one part of a llama-bench test name (``pp512``, ``tg128``, ``@d2048``)
MAX_TEST_TOKENS = 10_000_000
#: identical devices one test ran on
MAX_ROW_DEVICES = 64
#: CPU threads llama.cpp ran with
MAX_ROW_THREADS = 1024
#: ``-ngl``: layers offloaded (-1 = all, llama-cpp-python's spelling)
MAX_GPU_LAYERS = 10_000
MAX_BATCH_SIZE = 2**20
#: a device's memory (GB), bandwidth (GB/s) and FP16 TFLOPS
MAX_DEVICE_SPEC = 100_000.0
#: MiB of memory a run took, seconds a load took
MAX_MIB = 1e9
MAX_SECONDS = 1e6
#: any other magnitude: a metric's value, its standard error, a ratio, a divergence
MAX_MAGNITUDE = 1e12
#: ``environment`` (free-form): nesting levels below the field, and values in all
MAX_ENVIRONMENT_DEPTH = 8
MAX_ENVIRONMENT_ITEMS = 1000

Bytes = Annotated[int, Field(gt=0, le=MAX_BYTES)]
Billions = Annotated[float, Field(gt=0, le=MAX_PARAMS_B, allow_inf_nan=False)]
Bits = Annotated[float, Field(gt=0, le=MAX_BPW, allow_inf_nan=False)]
TokensPerS = Annotated[float, Field(gt=0, le=MAX_TOKENS_PER_S, allow_inf_nan=False)]
DeviceSpec = Annotated[float, Field(gt=0, le=MAX_DEVICE_SPEC, allow_inf_nan=False)]
Magnitude = Annotated[float, Field(ge=-MAX_MAGNITUDE, le=MAX_MAGNITUDE, allow_inf_nan=False)]
PositiveMagnitude = Annotated[float, Field(gt=0, le=MAX_MAGNITUDE, allow_inf_nan=False)]
Mib = Annotated[float, Field(gt=0, le=MAX_MIB, allow_inf_nan=False)]


class _Row(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=False, use_enum_values=False)

    source_id: str = Field(min_length=1, description="key into measurements/sources.csv")
    provenance: Provenance = Provenance.PUBLISHED
    run_id: str | None = Field(None, description="measurement run id (provenance=measured)")
    model: str = Field(min_length=1, description="normalised model name, e.g. 'Llama-3.1-8B'")
    model_as_published: str = Field(min_length=1)
    model_family: str | None = Field(None, description="e.g. 'Llama 3', 'Qwen2.5', 'Gemma 2'")
    params_b: Billions | None = Field(None, description="total parameters, billions")
    active_params_b: Billions | None = Field(
        None, description="parameters used per token (MoE); equals params_b for dense models")
    moe: bool = False
    quant: str | None = Field(
        None,
        description="canonical llama.cpp type (advisor.vocabulary.quants) or None if not GGUF")
    quant_as_published: str = Field(min_length=1)
    quant_variant: str | None = Field(
        None, description="maker or recipe when it matters: 'imatrix', 'unsloth-dynamic', ...")
    imatrix: bool | None = Field(None, description="importance matrix used; None = not stated")
    bpw: Bits | None = Field(None, description="effective bits per weight of the file")
    bpw_basis: Literal["stated", "file_size", "catalog"] | None = None
    file_bytes: Bytes | None = None
    flags: list[str] = Field(default_factory=list,
                             description="e.g. 'not_gguf', 'fork', 'quantized_reference'")
    excluded_reason: str | None = Field(
        None, description="why training skips this row (the row is still kept)")
    notes: str = ""

    @property
    def usable(self) -> bool:
        return self.excluded_reason is None

    def content_hash(self) -> str:
        """Stable hash of the row's content (its identity for deduplication)."""
        payload = json.dumps(self.model_dump(mode="json"), sort_keys=True,
                             separators=(",", ":"))
        return hashlib.sha256(payload.encode()).hexdigest()[:16]


class QualityRow(_Row):
    kind: Literal["quality"] = "quality"
    metric: str = Field(min_length=1, description="metric name as published")
    metric_kind: MetricKind
    task_category: str | None = Field(
        None, description="reasoning, math, coding, knowledge, instruction_following, "
        "language, language_modeling, aggregate, reading_comprehension")
    benchmark: str | None = None
    value: Magnitude
    baseline_value: Magnitude | None = None
    baseline_quant: str | None = Field(None, description="what the baseline is: F16, BF16, FP8")
    retention: PositiveMagnitude | None = Field(None, description="value / baseline (accuracy)")
    ppl_ratio: PositiveMagnitude | None = Field(None, description="PPL / baseline PPL")
    kld: Annotated[float, Field(ge=0, le=MAX_MAGNITUDE, allow_inf_nan=False)] | None = Field(
        None, description="mean KL divergence to the baseline, nats")
    stderr: Annotated[float, Field(ge=0, le=MAX_MAGNITUDE, allow_inf_nan=False)] | None = None
    n_items: Annotated[int, Field(gt=0, le=10**12)] | None = None
    cache_type: str | None = Field(
        None, max_length=40, description="KV cache the row ran with, as llama.cpp's "
        "--cache-type-k spells it "
        "('f16', 'q8_0', 'q4_0'; 'k=q8_0,v=f16' when K and V differ); None: not stated "
        "(llama.cpp's default is f16). A row with a quantized cache compares it with the same "
        "weights on an f16 cache where the source has that row: its target is the cache's "
        "own cost (flag 'kv_cache_only')")

    @model_validator(mode="after")
    def _targets_match_kind(self) -> QualityRow:
        if self.retention is not None and self.metric_kind is not MetricKind.ACCURACY:
            raise ValueError("retention is only defined for accuracy metrics")
        if self.ppl_ratio is not None and self.metric_kind is not MetricKind.PERPLEXITY:
            raise ValueError("ppl_ratio is only defined for perplexity metrics")
        return self


class SpeedRow(_Row):
    kind: Literal["speed"] = "speed"
    hardware: str = Field(min_length=1, description="device name, a key of hardware.csv")
    hardware_kind: HardwareKind | None = None
    n_devices: Annotated[int, Field(ge=1, le=MAX_ROW_DEVICES)] = 1
    backend: str = Field(min_length=1, description="cuda, metal, rocm, vulkan, sycl, cpu, ...")
    backend_detail: str = ""
    fork: str | None = Field(None, description="e.g. 'ik_llama.cpp' when not upstream")
    test: str = Field(pattern=r"^(pp[1-9]\d*|tg[1-9]\d*|pp[1-9]\d*\+tg[1-9]\d*)(@d\d+)?$",
                      description="llama-bench test: pp512, tg128, pp512+tg128, tg128@d2048")
    n_prompt: Annotated[int, Field(ge=0, le=MAX_TEST_TOKENS)] = 0
    n_gen: Annotated[int, Field(ge=0, le=MAX_TEST_TOKENS)] = 0
    depth: Annotated[int, Field(ge=0, le=MAX_TEST_TOKENS)] = 0
    tokens_per_s: TokensPerS
    tokens_per_s_stdev: Annotated[float, Field(ge=0, le=MAX_TOKENS_PER_S,
                                               allow_inf_nan=False)] | None = None
    raw_tokens_per_s: list[TokensPerS] = Field(default_factory=list, max_length=1000)
    model_bytes: Bytes | None = Field(
        None, description="size of the weights file(s), bytes")
    gpu_layers: Annotated[int, Field(ge=-1, le=MAX_GPU_LAYERS)] | None = Field(
        None, description="layers offloaded to the GPU (-ngl); -1 = all")
    threads: Annotated[int, Field(ge=1, le=MAX_ROW_THREADS)] | None = None
    batch_size: Annotated[int, Field(ge=1, le=MAX_BATCH_SIZE)] | None = None
    flash_attn: bool | None = None
    host_limit: str | None = Field(None, description="e.g. 'PCIe x1 riser' when the host limits")
    # Device specs joined from hardware.csv (or measured), so each row stands alone.
    memory_gb: DeviceSpec | None = None
    bandwidth_gbs: DeviceSpec | None = None
    fp16_tflops: DeviceSpec | None = None
    load_time_s: Annotated[float, Field(gt=0, le=MAX_SECONDS, allow_inf_nan=False)] | None = None
    peak_rss_mib: Mib | None = None
    peak_gpu_mib: Mib | None = None
    predicted_memory_mib: Mib | None = None
    environment: dict[str, Any] = Field(
        default_factory=dict, description="hardware fingerprint and software versions (JSON: "
        f"at most {MAX_ENVIRONMENT_DEPTH} levels of nesting and {MAX_ENVIRONMENT_ITEMS} values)")

    @field_validator("test", mode="before")
    @classmethod
    def _lower(cls, v: object) -> object:
        return v.strip().lower() if isinstance(v, str) else v

    @field_validator("environment", mode="before")
    @classmethod
    def _bounded(cls, v: object) -> object:
        check_json_shape(v, max_depth=MAX_ENVIRONMENT_DEPTH, max_items=MAX_ENVIRONMENT_ITEMS)
        return v

    @model_validator(mode="after")
    def _parse_test(self) -> SpeedRow:
        n_prompt, n_gen, depth = parse_test(self.test)
        self.n_prompt, self.n_gen, self.depth = n_prompt, n_gen, depth
        return self


class Hardware(BaseModel):
    """A device and the specs the speed model needs."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    kind: HardwareKind
    memory_gb: PositiveFloat | None = None
    bandwidth_gbs: PositiveFloat | None = None
    fp16_tflops: PositiveFloat | None = None
    fp16_basis: str = ""
    threads: PositiveInt | None = Field(
        None, description="CPU threads llama.cpp runs with on this device (its physical cores "
        "by default); used for CPU devices only, None = not known (the speed model assumes a "
        "default)")
    n_devices: Annotated[int, Field(ge=2, le=16)] | None = Field(
        None, description="identical devices the model's layers are split over (llama.cpp "
        "--split-mode layer); None = one device. The specs (memory_gb, bandwidth_gbs, ...) are "
        "those of one device")
    memory_kind: MemoryKind | None = Field(
        None, description="'unified' (GPU and CPU share the memory: Apple, APUs, SoCs) or "
        "'discrete' (the GPU's own memory); None = not stated (CPU devices)")
    fp16_tensor_tflops: PositiveFloat | None = Field(
        None, description="dense FP16 tensor-core / matrix-unit peak (fp16_tflops is the vector "
        "peak); None where only a sparse figure or none is published")
    fp16_tensor_basis: str = ""
    cpu_cores: PositiveInt | None = Field(None, description="CPU cores (CPU and SoC devices)")
    memory_channels: PositiveInt | None = Field(None, description="DRAM channels (CPUs)")
    aliases: tuple[str, ...] = Field(
        (), description="short names users type ('rtx 5090', 'strix halo'); ';'-separated in "
        "the CSV")
    vendor: str = ""
    released: str = Field("", description="launch date as the source gives it")
    cores_or_isa: str = ""
    source: str = ""
    notes: str = ""
    listed_as: str | None = Field(
        None, description="the table's row a configuration of a listed device takes its specs, "
        "published figures and the speed predictor's device terms from (an Apple chip at a "
        "memory size the table does not list); None = the device is a row itself")

    @field_validator("aliases", mode="before")
    @classmethod
    def _split_aliases(cls, v: object) -> object:
        if isinstance(v, str):
            return tuple(a.strip() for a in v.split(";") if a.strip())
        return v

    @property
    def unified(self) -> bool:
        """Whether the GPU shares the system memory (``memory_kind``, else the kind says so)."""
        if self.memory_kind is not None:
            return self.memory_kind is MemoryKind.UNIFIED
        return self.kind in (HardwareKind.APPLE, HardwareKind.APU)

    @property
    def device_name(self) -> str:
        """The name of one of the devices: ``name`` without the ``" xN"`` of a multi-device
        setup, or the row it is a configuration of (:attr:`listed_as`): what published figures
        and the speed predictor's device terms are keyed by."""
        if self.listed_as is not None:
            return self.listed_as
        suffix = f" x{self.n_devices}" if self.n_devices else ""
        if suffix and self.name.endswith(suffix) and len(self.name) > len(suffix):
            return self.name[:-len(suffix)]
        return self.name


class Source(BaseModel):
    """A citation: where a ``source_id``'s numbers come from."""

    model_config = ConfigDict(extra="forbid")

    source_id: str = Field(min_length=1)
    kind: Literal["quality", "speed", "catalog", "measured"]
    citation: str = Field(min_length=1)


Row = QualityRow | SpeedRow


def parse_test(test: str) -> tuple[int, int, int]:
    """(prompt tokens, generated tokens, depth) of a llama-bench test name.

    Each count is 1 to :data:`MAX_TEST_TOKENS` (a depth may be 0); anything else raises
    ValueError.

    >>> parse_test("pp512"), parse_test("tg128@d2048"), parse_test("pp512+tg128")
    ((512, 0, 0), (0, 128, 2048), (512, 128, 0))
    """
    body, _, depth_part = test.lower().partition("@d")
    n_prompt = n_gen = 0
    try:
        depth = _count(depth_part, minimum=0) if depth_part else 0
        for part in body.split("+"):
            if part.startswith("pp"):
                n_prompt = _count(part[2:], minimum=1)
            elif part.startswith("tg"):
                n_gen = _count(part[2:], minimum=1)
            else:
                raise ValueError(part)
    except ValueError as e:
        raise ValueError(
            f"test must be a llama-bench test name, got {test[:100]!r}; allowed: pp512, tg128, "
            f"pp512+tg128 or tg128@d2048, with counts 1 to {MAX_TEST_TOKENS:,}") from e
    return n_prompt, n_gen, depth


def _count(digits: str, *, minimum: int) -> int:
    if not (digits.isascii() and digits.isdigit()) or len(digits) > 9:
        raise ValueError(digits)
    n = int(digits)
    if not minimum <= n <= MAX_TEST_TOKENS:
        raise ValueError(digits)
    return n


def check_json_shape(value: object, *, max_depth: int, max_items: int,
                     name: str = "environment") -> None:
    """Raise ValueError when the JSON value ``value`` nests more than ``max_depth`` levels
    below itself or holds more than ``max_items`` values. It walks without recursing: a hostile
    value may nest thousands of levels deep.

    >>> check_json_shape({"gpu": {"name": {"first": "x"}}}, max_depth=1, max_items=10)
    Traceback (most recent call last):
    ...
    ValueError: environment nests 2 levels deep; allowed: at most 1
    """
    stack: list[tuple[object, int]] = [(value, 0)]
    items = 0
    while stack:
        node, depth = stack.pop()
        children = (node.values() if isinstance(node, dict)
                    else node if isinstance(node, list) else ())
        for child in children:
            items += 1
            if items > max_items:
                raise ValueError(f"{name} holds more than {max_items} values; allowed: at "
                                 f"most {max_items}")
            if isinstance(child, dict | list):
                if depth + 1 > max_depth:
                    raise ValueError(f"{name} nests {depth + 1} levels deep; allowed: at most "
                                     f"{max_depth}")
                stack.append((child, depth + 1))


def is_finite(x: float | None) -> bool:
    return x is not None and math.isfinite(x)
