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


class MetricKind(StrEnum):
    ACCURACY = "accuracy"        # higher is better, compared as retention = value / baseline
    PERPLEXITY = "perplexity"    # lower is better, compared as ppl_ratio = value / baseline
    KLD = "kld"                  # mean KL divergence to the baseline (nats)
    OTHER = "other"              # kept for reference (bpw tables, deltas, top-token stats)


PositiveFloat = Annotated[float, Field(gt=0, allow_inf_nan=False)]
FiniteFloat = Annotated[float, Field(allow_inf_nan=False)]


class _Row(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=False, use_enum_values=False)

    source_id: str = Field(min_length=1, description="key into measurements/sources.csv")
    provenance: Provenance = Provenance.PUBLISHED
    run_id: str | None = Field(None, description="measurement run id (provenance=measured)")
    model: str = Field(min_length=1, description="normalised model name, e.g. 'Llama-3.1-8B'")
    model_as_published: str = Field(min_length=1)
    model_family: str | None = Field(None, description="e.g. 'Llama 3', 'Qwen2.5', 'Gemma 2'")
    params_b: PositiveFloat | None = Field(None, description="total parameters, billions")
    active_params_b: PositiveFloat | None = Field(
        None, description="parameters used per token (MoE); equals params_b for dense models")
    moe: bool = False
    quant: str | None = Field(
        None,
        description="canonical llama.cpp type (advisor.vocabulary.quants) or None if not GGUF")
    quant_as_published: str = Field(min_length=1)
    quant_variant: str | None = Field(
        None, description="maker or recipe when it matters: 'imatrix', 'unsloth-dynamic', ...")
    imatrix: bool | None = Field(None, description="importance matrix used; None = not stated")
    bpw: PositiveFloat | None = Field(None, description="effective bits per weight of the file")
    bpw_basis: Literal["stated", "file_size", "catalog"] | None = None
    file_bytes: Annotated[int, Field(gt=0)] | None = None
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
    value: FiniteFloat
    baseline_value: FiniteFloat | None = None
    baseline_quant: str | None = Field(None, description="what the baseline is: F16, BF16, FP8")
    retention: PositiveFloat | None = Field(None, description="value / baseline (accuracy)")
    ppl_ratio: PositiveFloat | None = Field(None, description="PPL / baseline PPL")
    kld: Annotated[float, Field(ge=0, allow_inf_nan=False)] | None = Field(
        None, description="mean KL divergence to the baseline, nats")
    stderr: Annotated[float, Field(ge=0, allow_inf_nan=False)] | None = None
    n_items: Annotated[int, Field(gt=0)] | None = None
    cache_type: str | None = Field(
        None, description="KV cache the row ran with, as llama.cpp's --cache-type-k spells it "
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
    n_devices: Annotated[int, Field(ge=1)] = 1
    backend: str = Field(min_length=1, description="cuda, metal, rocm, vulkan, sycl, cpu, ...")
    backend_detail: str = ""
    fork: str | None = Field(None, description="e.g. 'ik_llama.cpp' when not upstream")
    test: str = Field(pattern=r"^(pp\d+|tg\d+|pp\d+\+tg\d+)(@d\d+)?$",
                      description="llama-bench test: pp512, tg128, pp512+tg128, tg128@d2048")
    n_prompt: Annotated[int, Field(ge=0)] = 0
    n_gen: Annotated[int, Field(ge=0)] = 0
    depth: Annotated[int, Field(ge=0)] = 0
    tokens_per_s: PositiveFloat
    tokens_per_s_stdev: Annotated[float, Field(ge=0, allow_inf_nan=False)] | None = None
    raw_tokens_per_s: list[PositiveFloat] = Field(default_factory=list)
    model_bytes: Annotated[int, Field(gt=0)] | None = Field(
        None, description="size of the weights file(s), bytes")
    gpu_layers: int | None = None
    threads: Annotated[int, Field(ge=1)] | None = None
    batch_size: Annotated[int, Field(ge=1)] | None = None
    flash_attn: bool | None = None
    host_limit: str | None = Field(None, description="e.g. 'PCIe x1 riser' when the host limits")
    # Device specs joined from hardware.csv (or measured), so each row stands alone.
    memory_gb: PositiveFloat | None = None
    bandwidth_gbs: PositiveFloat | None = None
    fp16_tflops: PositiveFloat | None = None
    load_time_s: PositiveFloat | None = None
    peak_rss_mib: PositiveFloat | None = None
    peak_gpu_mib: PositiveFloat | None = None
    predicted_memory_mib: PositiveFloat | None = None
    environment: dict[str, Any] = Field(
        default_factory=dict, description="hardware fingerprint and software versions")

    @field_validator("test", mode="before")
    @classmethod
    def _lower(cls, v: object) -> object:
        return v.strip().lower() if isinstance(v, str) else v

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
    cores_or_isa: str = ""
    source: str = ""
    notes: str = ""

    @property
    def device_name(self) -> str:
        """The name of one of the devices: ``name`` without the ``" xN"`` of a multi-device
        setup (what published figures and the speed predictor's device terms are keyed by)."""
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

    >>> parse_test("pp512"), parse_test("tg128@d2048"), parse_test("pp512+tg128")
    ((512, 0, 0), (0, 128, 2048), (512, 128, 0))
    """
    body, _, depth_part = test.lower().partition("@d")
    depth = int(depth_part) if depth_part else 0
    n_prompt = n_gen = 0
    for part in body.split("+"):
        if part.startswith("pp"):
            n_prompt = int(part[2:])
        elif part.startswith("tg"):
            n_gen = int(part[2:])
        else:
            raise ValueError(f"test must look like pp512, tg128 or pp512+tg128, got {test!r}")
    return n_prompt, n_gen, depth


def is_finite(x: float | None) -> bool:
    return x is not None and math.isfinite(x)
