"""The candidate table: every recommendable catalog model, in each mode it can answer in
(thinking, non-thinking), at every recommendable quant.

Everything that does not depend on a request is computed once here (file size, predicted
retention per task category, the published or measured figures that replace predictions);
memory depends on context and cache type and speed on hardware, so both are computed per
distinct value and cached.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import pandas as pd

from advisor.data.dataset import Dataset, rows_frame
from advisor.data.weights_table import WeightsRow, estimated_row
from advisor.predictors.speed_features import over_physical_ceiling
from advisor.recommender.capability import CapabilityTable, capability_columns
from advisor.recommender.memory import CACHE_TYPES, Runtime, context_limit, estimate_memory
from advisor.recommender.results import SPEED_TESTS
from advisor.vocabulary.errors import AdvisorError
from advisor.vocabulary.quants import RECOMMENDABLE, get_quant
from advisor.vocabulary.schema import QUANTIZED_REFERENCE, Hardware, MetricKind, Provenance
from advisor.vocabulary.tasks import CATEGORIES

if TYPE_CHECKING:
    from advisor.data.catalog import Catalog, ModelSpec

log = logging.getLogger(__name__)

class Predicts(Protocol):
    def predict(self, frame: pd.DataFrame) -> pd.DataFrame: ...


class PredictorSet(Protocol):
    """What the engine needs of fitted predictors (see advisor.predictors.artifacts)."""

    @property
    def quality(self) -> Predicts: ...

    @property
    def speed(self) -> Predicts: ...

    @property
    def card(self) -> Any: ...

    @property
    def capability(self) -> CapabilityTable: ...


#: How each file splits, for placement and MoE speed (:class:`WeightsRow`'s columns).
PLACEMENT_COLUMNS = ("token_embd_bytes", "output_bytes", "layer_bytes", "expert_bytes",
                     "n_layers", "n_moe_layers", "active_bytes")
#: (hardware, model, quant, test, CPU threads or None, devices) of a published/measured speed
#: figure; ``hardware`` is one device's name and ``devices`` how many its layers were split
#: over (1 for a single device).
SpeedKey = tuple[str, str, str, str, int | None, int]


@dataclass(frozen=True)
class Lookup:
    """A published or measured value that replaces a prediction."""

    value: float
    provenance: str
    source: str


@dataclass(frozen=True)
class CacheQuality:
    """What a KV cache type costs every candidate's retention: multiply by ``value`` (90%
    interval ``low``-``high``); f16 is the reference (1)."""

    value: float
    low: float
    high: float
    provenance: str
    source: str


@dataclass
class CandidateTable:
    """Model x quant rows with predicted and looked-up quality; see :func:`build_table`."""

    frame: pd.DataFrame
    specs: dict[str, ModelSpec]
    speed_predictor: Predicts
    quality_lookup: dict[tuple[str, str, str], Lookup] = field(default_factory=dict)
    speed_lookup: dict[SpeedKey, Lookup] = field(default_factory=dict)
    predictor_version: str = ""
    #: cache type -> its retention cost (types the quality predictor has no figure for are left
    #: out; a predictor saved before the KV term existed gives an empty dict)
    cache_quality: dict[str, CacheQuality] = field(default_factory=dict)
    #: (model, fitted mode) -> category -> full-precision capability (the predictors')
    capability: CapabilityTable = field(default_factory=dict)

    def memory(self, context: int, cache_type: str, runtime: Runtime = "gpu",
               n_devices: int = 1) -> pd.DataFrame:
        """Memory breakdown per row; ``runtime`` and ``n_devices`` (GPUs the layers are split
        over) as :func:`advisor.recommender.memory.estimate_memory`."""
        return _memory_frame(self, context, cache_type, runtime, n_devices)

    def speed(self, hardware: Hardware) -> pd.DataFrame:
        return _speed_frame(self, hardware.model_dump_json())

    @cached_property
    def arrays(self) -> dict[str, np.ndarray]:
        """The frame's columns as numpy arrays (fast element access on the request path)."""
        return {str(c): self.frame[c].to_numpy() for c in self.frame.columns}

    def memory_arrays(self, context: int, cache_type: str, runtime: Runtime = "gpu",
                      n_devices: int = 1) -> dict[str, np.ndarray]:
        return _memory_arrays(self, context, cache_type, runtime, n_devices)

    def memory_for(self, contexts: dict[str, int], cache_type: str, runtime: Runtime = "gpu",
                   n_devices: int = 1) -> dict[str, np.ndarray]:
        """Memory per row with each row at the context of its mode (``contexts``: mode ->
        tokens); a ``context`` column says which. Cached: treat the arrays as read-only."""
        return _memory_for(self, tuple(contexts.items()), cache_type, runtime, n_devices)

    def _combine(self, contexts: tuple[tuple[str, int], ...], cache_type: str,
                 runtime: Runtime, n_devices: int) -> dict[str, np.ndarray]:
        modes = self.arrays["mode"]
        (first, *others) = contexts
        out = self._at_context(first[1], cache_type, runtime, n_devices)
        for mode, context in others:
            part = self._at_context(context, cache_type, runtime, n_devices)
            rows = modes == mode
            for key, values in part.items():
                out[key][rows] = values[rows]
        return out

    def _at_context(self, context: int, cache_type: str, runtime: Runtime,
                    n_devices: int) -> dict[str, np.ndarray]:
        part = self.memory_arrays(context, cache_type, runtime, n_devices)
        rows = len(self.arrays["mode"])
        return {**{k: v.copy() for k, v in part.items()},
                "context": np.full(rows, context, dtype=np.int64)}

    def speed_arrays(self, hardware: Hardware) -> dict[str, np.ndarray]:
        return _speed_arrays(self, hardware.model_dump_json())

    def __hash__(self) -> int:  # identity: tables are built once and never mutated
        return id(self)


def _summarise(groups: dict[Any, list[tuple[float, str, str]]],
               reduce: Any) -> dict[Any, Lookup]:
    """One :class:`Lookup` per key: the reduced value, 'measured' if any row was, the sources."""
    index = {}
    for key, values in groups.items():
        prov = ("measured" if any(p == Provenance.MEASURED.value for _, p, _ in values)
                else "published")
        sources = ",".join(sorted({s for _, _, s in values}))
        index[key] = Lookup(float(reduce([v for v, _, _ in values])), prov, sources)
    return index


def _quality_index(dataset: Dataset) -> dict[tuple[str, str, str], Lookup]:
    """(model, quant, category) -> mean retention over the rows that report it (rows run on a
    quantized KV cache price the cache, not the weights: they are left out)."""
    groups: dict[tuple[str, str, str], list[tuple[float, str, str]]] = {}
    for row in dataset.quality:
        if (not row.usable or row.retention is None or row.quant is None
                or row.metric_kind is not MetricKind.ACCURACY
                or row.task_category not in CATEGORIES or "not_gguf" in row.flags
                or QUANTIZED_REFERENCE in row.flags
                or row.cache_type not in (None, "f16")):
            continue
        key = (row.model, row.quant, row.task_category)
        groups.setdefault(key, []).append((row.retention, row.provenance.value, row.source_id))
    return _summarise(groups, np.mean)


def _cpu_threads(kind: object, threads: int | None) -> int | None:
    """The thread count a CPU figure depends on; None on other devices (or when unknown)."""
    return threads if str(getattr(kind, "value", kind)) == "cpu" else None


def _speed_index(dataset: Dataset) -> dict[SpeedKey, Lookup]:
    """(hardware, model, quant, test, CPU threads, devices) -> median tokens/s.

    A CPU's speed depends on the threads it ran with, so its figures are kept per thread count
    and only answer a question about that count. Likewise a figure of layers split over
    several GPUs answers only a question about that many of them, and a single device's
    figure only a question about one. Figures faster than their device's specs allow (a failed
    run: :func:`advisor.predictors.speed_features.over_physical_ceiling`) answer nothing."""
    groups: dict[SpeedKey, list[tuple[float, str, str]]] = {}
    rows = [row for row in dataset.speed
            if row.usable and not row.fork
            and row.test in SPEED_TESTS and not row.host_limit]
    over = over_physical_ceiling(rows_frame(rows)) if rows else pd.Series(dtype=bool)
    for row, impossible in zip(rows, over, strict=True):
        # an uploader's mix (UD-Q4_K_XL) is not the file of its base type: its figure answers
        # nothing about a plain Q4_K_M
        if impossible or row.quant is None or "quant_mix" in row.flags:
            continue
        key = (row.hardware, row.model, row.quant, row.test,
               _cpu_threads(row.hardware_kind, row.threads), row.n_devices)
        groups.setdefault(key, []).append((row.tokens_per_s, row.provenance.value, row.source_id))
    return _summarise(groups, np.median)


def build_table(catalog: Catalog, predictors: PredictorSet, dataset: Dataset | None,
                quants: tuple[str, ...] = RECOMMENDABLE,
                weights: dict[tuple[str, str], WeightsRow] | None = None) -> CandidateTable:
    """Enumerate candidates and predict their retention per task category (done once).

    ``weights`` (:func:`advisor.data.weights_table.read_weights_table`) gives each file's
    bytes and how they split; a file it lacks (a model the user added) is estimated from the
    parameter count."""
    specs = {m.name: m for m in catalog.models if m.recommendable}
    weights = weights or {}
    records = []
    for spec in specs.values():
        params_b = spec.params_b
        if params_b is None:  # recommendable models always have it
            continue
        for name in quants:
            q = get_quant(name)
            w = weights.get((spec.name, q.name)) or estimated_row(
                spec, q.name, "not in the weights table")
            for mode in spec.run_modes:
                records.append({
                    "model": spec.name, "mode": mode, "family": spec.family,
                    "params_b": params_b, "active_params_b": spec.active_params_b,
                    "quant": q.name, "quant_family": q.family.value, "bpw": w.bpw,
                    "bpw_source": f"{w.size_source}|{w.source}", "file_bytes": w.file_bytes,
                    "expert_share": (spec.n_experts_used or 1) / spec.n_experts
                    if spec.is_moe and spec.n_experts else 1.0,
                    **{k: getattr(w, k) for k in PLACEMENT_COLUMNS},
                })
    frame = pd.DataFrame.from_records(records)
    version = predictor_version(predictors.card)
    table = CandidateTable(frame=frame, specs=specs, predictor_version=version,
                           speed_predictor=predictors.speed,
                           capability=predictors.capability)
    if dataset is not None:
        table.quality_lookup = _quality_index(dataset)
        table.speed_lookup = _speed_index(dataset)
    for category in CATEGORIES:
        _add_category(table, predictors.quality, category)
    table.cache_quality = _cache_quality(predictors.quality, version)
    log.info("candidate table: %d models (with their modes) x %d quants = %d rows", len(specs),
             len(quants), len(frame))
    return table


def _cache_quality(quality: Predicts, version: str) -> dict[str, CacheQuality]:
    """The KV-cache term of the quality predictor for each cache type the advisor offers."""
    effect = getattr(quality, "cache_effect", None)
    if effect is None:
        return {}
    out = {}
    for cache in CACHE_TYPES:
        try:
            e = effect(cache)
        except AdvisorError:  # no published rows price this type
            continue
        out[cache] = CacheQuality(
            e.value, e.low, e.high, "reference" if cache == "f16" else "predicted",
            f"{e.describe()}; quality predictor {version}")
    return out


def _overlay(pred: pd.DataFrame, column: str, predictor: str, found: list[Lookup | None]
             ) -> tuple[np.ndarray, ...]:
    """(value, low, high, provenance, source) arrays: predictions, replaced by published or
    measured values where ``found`` has one (those carry no interval)."""
    value = pred[column].to_numpy(dtype=float).copy()
    low = pred[f"{column}_low"].to_numpy(dtype=float).copy()
    high = pred[f"{column}_high"].to_numpy(dtype=float).copy()
    prov = np.full(len(value), "predicted", dtype=object)
    src = np.full(len(value), predictor, dtype=object)
    for i, hit in enumerate(found):
        if hit is not None:
            value[i], low[i], high[i] = hit.value, np.nan, np.nan
            prov[i], src[i] = hit.provenance, hit.source
    return value, low, high, prov, src


def _add_category(table: CandidateTable, quality: Predicts, category: str) -> None:
    """Columns ``ret|ret_low|ret_high|ret_prov|ret_src|cap|cap_low|cap_high|cap_prov|cap_src
    :<category>``."""
    frame = table.frame
    query = frame[["params_b", "bpw", "quant", "quant_family", "model"]].copy()
    query["model_family"] = frame["family"]
    query["task_category"] = category
    ret, low, high, prov, src = _overlay(
        quality.predict(query), "retention", f"quality predictor {table.predictor_version}",
        [table.quality_lookup.get((m, q, category))
         for m, q in zip(frame["model"], frame["quant"], strict=True)])
    frame[f"ret:{category}"], frame[f"ret_low:{category}"] = ret, low
    frame[f"ret_high:{category}"] = high
    frame[f"ret_prov:{category}"], frame[f"ret_src:{category}"] = prov, src
    for name, column in capability_columns(table.capability, table.specs, frame["model"].to_numpy(),
                                           frame["mode"].to_numpy(), category).items():
        frame[name] = column


def _columns(frame: pd.DataFrame) -> dict[str, np.ndarray]:
    return {str(c): frame[c].to_numpy() for c in frame.columns}


@lru_cache(maxsize=32)
def _memory_arrays(table: CandidateTable, context: int, cache_type: str, runtime: Runtime,
                   n_devices: int = 1) -> dict[str, np.ndarray]:
    return _columns(_memory_frame(table, context, cache_type, runtime, n_devices))


@lru_cache(maxsize=32)
def _memory_for(table: CandidateTable, contexts: tuple[tuple[str, int], ...], cache_type: str,
                runtime: Runtime, n_devices: int) -> dict[str, np.ndarray]:
    return table._combine(contexts, cache_type, runtime, n_devices)


@lru_cache(maxsize=64)
def _speed_arrays(table: CandidateTable, hardware_json: str) -> dict[str, np.ndarray]:
    return _columns(_speed_frame(table, hardware_json))


def predictor_version(card: Any) -> str:
    """A readable id of the fitted predictors: when they were trained, on which data."""
    created = str(getattr(card, "created", "") or "")[:19]
    data = getattr(card, "data_hash", "") or ""
    if created and data:
        return f"{created}Z data {data}"
    return str(getattr(card, "version", "") or "unknown")


@lru_cache(maxsize=32)
def _memory_frame(table: CandidateTable, context: int, cache_type: str, runtime: Runtime,
                  n_devices: int = 1) -> pd.DataFrame:
    """Memory of every row at ``context`` tokens. Only the weights differ between the quants of
    one model, so each model's cache, compute buffer and overhead are estimated once.
    ``context_ok`` is False for a model whose longest context is shorter than ``context`` (its
    rows then never fit: the memory is not estimated at a context the model cannot serve)."""
    per_model: dict[str, Any] = {}
    for name, spec in table.specs.items():
        limit = context_limit(spec)
        if limit is not None and context > limit:
            per_model[name] = None
            continue
        per_model[name] = estimate_memory(spec, weights_bytes=1, context=context,
                                          cache_type=cache_type, runtime=runtime,
                                          n_devices=n_devices)
    rows = []
    for model, file_bytes in zip(table.frame["model"], table.frame["file_bytes"], strict=True):
        base = per_model[model]
        if base is None:
            rows.append({"weights_bytes": int(file_bytes), "kv_cache_bytes": 0,
                         "compute_buffer_bytes": 0, "overhead_bytes": 0,
                         "total_bytes": _NEVER_FITS, "context_ok": False, "assumptions": []})
            continue
        rows.append({"weights_bytes": int(file_bytes), "kv_cache_bytes": base.kv_cache_bytes,
                     "compute_buffer_bytes": base.compute_buffer_bytes,
                     "overhead_bytes": base.overhead_bytes,
                     "total_bytes": base.total_bytes - 1 + int(file_bytes), "context_ok": True,
                     "assumptions": base.assumptions})
    return pd.DataFrame.from_records(rows, index=table.frame.index)


#: The total of a row that can never fit (a context beyond the model's longest).
_NEVER_FITS = np.iinfo(np.int64).max // 4


@lru_cache(maxsize=64)
def _speed_frame(table: CandidateTable, hardware_json: str) -> pd.DataFrame:
    hardware = Hardware.model_validate_json(hardware_json)
    base = table.frame
    out = pd.DataFrame(index=base.index)
    threads = _cpu_threads(hardware.kind, hardware.threads)
    n_devices = hardware.n_devices or 1
    device = hardware.device_name  # one device's name: figures and device terms are keyed by it
    for test, (n_prompt, n_gen) in SPEED_TESTS.items():
        query = pd.DataFrame({
            "model_bytes": base["file_bytes"].astype(float),
            "params_b": base["params_b"], "active_params_b": base["active_params_b"],
            "quant": base["quant"], "n_prompt": n_prompt, "n_gen": n_gen, "depth": 0,
            "hardware_kind": hardware.kind.value, "backend": _default_backend(hardware),
            "bandwidth_gbs": hardware.bandwidth_gbs, "fp16_tflops": hardware.fp16_tflops,
            "fp16_basis": hardware.fp16_basis, "memory_gb": hardware.memory_gb,
            "hardware": device,
            # CPU threads llama.cpp runs with; NaN = unknown (the predictor assumes a default)
            "threads": np.nan if hardware.threads is None else float(hardware.threads),
            # identical GPUs the layers are split over (llama.cpp --split-mode layer)
            "n_devices": float(n_devices),
        }, index=base.index)
        value, low, high, prov, src = _overlay(
            table.speed_predictor.predict(query), "tokens_per_s",
            f"speed predictor {table.predictor_version}",
            [table.speed_lookup.get((device, m, q, test, threads, n_devices))
             for m, q in zip(base["model"], base["quant"], strict=True)])
        out[f"tps:{test}"], out[f"tps_low:{test}"], out[f"tps_high:{test}"] = value, low, high
        out[f"tps_prov:{test}"], out[f"tps_src:{test}"] = prov, src
    return out


def _default_backend(hardware: Hardware) -> str:
    """The backend llama.cpp users run on each kind of device by default."""
    name = hardware.name.lower()
    if hardware.kind.value == "apple":
        return "metal"
    if hardware.kind.value == "cpu":
        return "cpu"
    if "nvidia" in name or "rtx" in name or "gtx" in name or "tesla" in name:
        return "cuda"
    if "amd" in name or "radeon" in name:
        return "rocm" if hardware.kind.value == "gpu" else "vulkan"
    if "intel" in name or "arc" in name:
        return "sycl"
    return "vulkan"
