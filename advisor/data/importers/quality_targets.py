"""Reading published quality rows and deciding what each says about quantization loss.

:class:`RawRow` is one CSV line with its parsed quant label; :class:`SourceIndex` finds, within
one source, the full-precision reference of a row, the f16-cache row of the same weights, and
which of a quant's perplexity forms carries its ratio. :func:`weights_target` and
:func:`cache_target` turn a row into a :class:`Target` (see
:mod:`advisor.data.importers.quality` for the rules).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path

from advisor.data.importers.quality_metrics import DELTA_PRIORITY, QUANTIZED_REFERENCE_KLD
from advisor.data.naming import QuantLabel
from advisor.data.quant_tags import DEFAULT_CACHE_TYPE, MODIFIERS
from advisor.vocabulary.schema import QUANTIZED_REFERENCE, MetricKind

#: ``baseline_quant`` of a ratio taken against the source's Q8_0 row because it prints no
#: 16-bit value (Q8_0 keeps PPL within ~0.1% and accuracy within noise of 16-bit weights).
Q8_0_BASELINE = "Q8_0 (the source prints no 16-bit value)"
#: Labels of full-precision reference rows and the float type each names.
FLOAT_QUANTS = {"F16": "F16", "FP16": "F16", "BF16": "BF16", "F32": "F32", "FP32": "F32",
                "FP8": "FP8", "BF16/FP16": "BF16/F16", "ORIGINAL WEIGHTS": "BF16/F16"}
_KV_TAG = re.compile(r"\s*\[kv[- ][^\]]*\]", re.IGNORECASE)


@dataclass(frozen=True)
class RawRow:
    """One line of a quality CSV, as printed, with its parsed quant label."""

    path: Path
    line: int
    source_id: str
    model: str
    params_b: float | None
    quant: str
    bpw: float | None
    metric: str
    task_category: str
    value: float
    baseline_value: float | None
    notes: str
    label: QuantLabel

    @property
    def ref_quant(self) -> str | None:
        """The float type when this row is a full-precision reference (weights and an f16 or
        unstated cache), else None."""
        if self.label.cache_type not in (None, DEFAULT_CACHE_TYPE):
            return None
        core = re.sub(r"\[[^\]]*\]|\([^)]*\)", " ", self.quant)
        return FLOAT_QUANTS.get(" ".join(core.split()).upper())

    @property
    def weights(self) -> str:
        """The quant label without its KV-cache tag and run modifiers (the weights alone)."""
        words = _KV_TAG.sub(" ", self.quant).split()
        return " ".join(w for w in words if w.lower() not in MODIFIERS)


def ratio_from(metric: str, value: float, base_ppl: float | None) -> float | None:
    """PPL(quant) / PPL(F16) from one of :data:`DELTA_PRIORITY`; None when it needs a baseline
    PPL (``base_ppl``) the source does not print."""
    if metric == "ppl_ratio_vs_f16":
        return value
    if metric in ("qerror_pct_ppl_ratio_minus1", "ppl_delta_pct_vs_f16"):
        return 1.0 + value / 100.0
    if metric == "ln_ppl_ratio_vs_f16":
        return math.exp(value)
    if metric == "delta_ppl_vs_f16" and base_ppl:
        return (base_ppl + value) / base_ppl
    return None


class SourceIndex:
    """Look-ups within one source: reference rows and the perplexity forms of each quant."""

    def __init__(self, rows: list[RawRow]) -> None:
        self.refs: dict[tuple[str, str, str], list[RawRow]] = {}
        self.groups: dict[tuple[str, str, str], list[RawRow]] = {}
        self.f16_cache: dict[tuple[str, str, str, str], RawRow] = {}
        self.q8_0: dict[tuple[str, str, str], list[RawRow]] = {}
        self.counts: dict[tuple[str, str, str], int] = {}
        for r in rows:
            key = (r.source_id, r.model, r.metric)
            self.counts[key] = self.counts.get(key, 0) + 1
            if r.ref_quant:
                self.refs.setdefault((r.source_id, r.model, r.metric), []).append(r)
            if (r.label.quant == "Q8_0" and r.label.cache_type in (None, DEFAULT_CACHE_TYPE)
                    and not r.label.not_gguf):
                self.q8_0.setdefault((r.source_id, r.model, r.metric), []).append(r)
            if r.label.cache_type == DEFAULT_CACHE_TYPE:
                self.f16_cache.setdefault((r.source_id, r.model, r.weights, r.metric), r)
            metric = r.metric.lower()
            if metric == "ppl" or metric in DELTA_PRIORITY:
                self.groups.setdefault((r.source_id, r.model, r.quant), []).append(r)

    def baseline(self, r: RawRow) -> tuple[float | None, str | None, RawRow | None]:
        """(baseline value, what it is, the reference row) for an accuracy/perplexity row."""
        refs = self.refs.get((r.source_id, r.model, r.metric), [])
        if r.baseline_value is not None:
            for ref in refs:
                if math.isclose(ref.value, r.baseline_value, rel_tol=1e-9):
                    return r.baseline_value, ref.ref_quant, ref
            return r.baseline_value, baseline_from_notes(r.notes), None
        for wanted in ("F16", "BF16", "BF16/F16", "F32", "FP8"):
            for ref in refs:
                if ref.ref_quant == wanted:
                    return ref.value, wanted, ref
        q8 = self.q8_0.get((r.source_id, r.model, r.metric), [])
        others = self.counts.get((r.source_id, r.model, r.metric), 0) > 1
        if not refs and len(q8) == 1 and others:  # no 16-bit row: the one Q8_0 row stands in
            return q8[0].value, Q8_0_BASELINE, q8[0]
        return None, None, None

    def cache_reference(self, r: RawRow) -> RawRow | None:
        """The row of the same source, model, weights and metric on an f16 cache."""
        return self.f16_cache.get((r.source_id, r.model, r.weights, r.metric))

    def f16_ppl(self, r: RawRow) -> float | None:
        for ref in self.refs.get((r.source_id, r.model, "ppl"), []):
            if ref.ref_quant in ("F16", "BF16"):
                return ref.value
        return None


def baseline_from_notes(notes: str) -> str:
    m = re.search(r"\b(FP8|BF16|FP16|F16|FP32)\b", notes)
    return FLOAT_QUANTS.get(m.group(1), m.group(1)) if m else "full precision (type not named)"


def ppl_carrier(index: SourceIndex, r: RawRow) -> RawRow | None:
    """The one row of r's (source, model, quant) that carries the PPL ratio, if any."""
    group = index.groups.get((r.source_id, r.model, r.quant), [])
    for g in group:
        if g.metric == "ppl" and g.ref_quant is None and index.baseline(g)[0] is not None:
            return g
        if g.metric == "ppl" and notes_qerror(g) is not None:
            return g
    for metric in DELTA_PRIORITY:
        for g in group:
            if g.metric == metric and g.ref_quant is None and ratio_from(
                    metric, g.value, index.f16_ppl(g)) is not None:
                return g
    return None


def notes_qerror(r: RawRow) -> float | None:
    m = re.search(r"quantization error ([0-9.]+)%", r.notes)
    return float(m.group(1)) if m else None


@dataclass
class Target:
    """What a row's value says about quantization loss, and why it may say nothing."""

    kind: MetricKind
    baseline_value: float | None
    baseline_quant: str | None = None
    retention: float | None = None
    ppl_ratio: float | None = None
    kld: float | None = None
    excluded: str | None = None
    extra: list[str] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)


def weights_target(raw: RawRow, index: SourceIndex, kind: MetricKind) -> Target:
    """The target of a row whose KV cache is f16 or not stated: the weights' cost."""
    t = Target(kind, raw.baseline_value)
    if kind is MetricKind.KLD:
        if raw.ref_quant:
            t.excluded = "baseline_row: KLD of the reference against itself"
        elif raw.metric in QUANTIZED_REFERENCE_KLD:
            t.kld, t.baseline_quant = raw.value, quantized_reference(raw)
            t.flags.append(QUANTIZED_REFERENCE)
        else:
            t.kld = raw.value
            t.baseline_quant = "F16" if "f16" in raw.metric else "full precision"
    elif kind in (MetricKind.ACCURACY, MetricKind.PERPLEXITY):
        ratio_target(raw, index, t)
    elif raw.metric in DELTA_PRIORITY:
        carrier = ppl_carrier(index, raw)
        if raw.ref_quant:
            t.excluded = "baseline_row: delta of a full-precision row, not a quantization loss"
        elif carrier is raw:
            t.kind = MetricKind.PERPLEXITY
            t.ppl_ratio = ratio_from(raw.metric, raw.value, index.f16_ppl(raw))
            t.baseline_quant = "F16"
            t.extra.append(f"ppl_ratio derived from {raw.metric}")
        elif carrier is not None:
            t.excluded = (f"duplicate_fact: the same quant's {carrier.metric} row carries the "
                          "ratio")
        else:
            t.excluded = "no_baseline: delta only, the source prints no baseline PPL"
    elif "bpw" in raw.metric:
        t.excluded = "bpw_reference: bits-per-weight row, no quality metric"
    else:
        t.excluded = f"reference_metric: {raw.metric} is kept for reference, not a target"
    return t


def ratio_target(raw: RawRow, index: SourceIndex, t: Target) -> None:
    """Accuracy / perplexity against the full-precision baseline (``t`` is filled in)."""
    if (raw.label.cache_type is not None and not raw.ref_quant
            and raw.baseline_value == raw.value):
        t.excluded = ("kv_reference_row: the f16-cache row this source compares its cache "
                      "types with; it prints no full-precision value")
        return
    t.baseline_value, t.baseline_quant, ref = index.baseline(raw)
    if ref is raw or (ref is None and raw.ref_quant and raw.baseline_value == raw.value):
        t.excluded = "baseline_row: the reference compared with itself (ratio 1 by definition)"
    elif raw.ref_quant:
        t.excluded = "baseline_row: a second full-precision row, not a quantization loss"
    elif t.baseline_value is None:
        qerr = notes_qerror(raw) if t.kind is MetricKind.PERPLEXITY else None
        if qerr is not None:
            t.ppl_ratio, t.baseline_quant = 1.0 + qerr / 100.0, "F16"
            t.extra.append("ppl_ratio from the quantization error % printed by the source")
        else:
            carrier = ppl_carrier(index, raw) if t.kind is MetricKind.PERPLEXITY else None
            why = f" (the ratio is carried by its {carrier.metric} row)" if carrier else ""
            t.excluded = ("no_baseline: the source prints no full-precision value for this "
                          f"model and metric{why}")
    elif t.baseline_value <= 0:
        t.excluded = f"bad_baseline: baseline {t.baseline_value} is not > 0"
    elif t.kind is MetricKind.ACCURACY:
        if raw.value > 1.0 >= t.baseline_value:
            t.excluded = "scale_mismatch: value in %, baseline as a fraction"
        elif raw.value <= 0:
            t.excluded = "zero_score: retention 0 cannot be stored (must be > 0)"
        else:
            t.retention = raw.value / t.baseline_value
    else:
        t.ppl_ratio = raw.value / t.baseline_value


def cache_target(raw: RawRow, index: SourceIndex, kind: MetricKind) -> Target:
    """The target of a row with a quantized KV cache: the cache's own cost where the source
    lets it be separated from the weights' (see the module docstring)."""
    if kind is MetricKind.OTHER:
        return weights_target(raw, index, kind)
    t = Target(kind, raw.baseline_value)
    ref = index.cache_reference(raw)
    float_weights = FLOAT_QUANTS.get(raw.weights.upper())
    if kind is not MetricKind.KLD and ref is not None and ref.value > 0 and raw.value > 0:
        ratio = raw.value / ref.value
        if kind is MetricKind.ACCURACY:
            t.retention = ratio
        else:
            t.ppl_ratio = ratio
        t.baseline_value = ref.value
        t.baseline_quant = f"{raw.weights} weights, f16 cache"
        t.flags.append("kv_cache_only")
        printed = ("" if raw.baseline_value in (None, ref.value) else
                   f"; the source's baseline {raw.baseline_value:g} (other weights) not used")
        t.extra.append(f"cache-only ratio against the same weights on an f16 cache "
                       f"({ref.value:g}){printed}")
    elif kind is MetricKind.KLD and float_weights is not None:
        t.kld, t.baseline_quant = raw.value, f"{float_weights} weights, f16 cache"
        t.flags.append("kv_cache_only")
    else:
        t.flags.append("kv_combined")
        t.excluded = ("kv_combined: weights and cache quantized together, and the source has "
                      "no f16-cache row of these weights to tell the cache's cost apart")
    return t


def quantized_reference(raw: RawRow) -> str:
    m = re.search(r"reference model = (?:pure )?([\w.]+)", raw.notes)
    if m:
        return f"{m.group(1)} (quantized reference)"
    return "Q8_0 (quantized reference)" if "q8_0" in raw.metric else "a quantized reference"
