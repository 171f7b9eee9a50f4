"""Importing the published quality tables (``<shared>/quality/*.csv``) into :class:`QualityRow`.

Every input row becomes exactly one output row. Targets, each fact counted once per source:

* accuracy rows: ``retention = value / baseline``;
* perplexity rows: ``ppl_ratio = value / baseline``; where a source gives only a delta or a ratio
  (``ppl_ratio_vs_f16``, ``qerror_pct_...``, ``ppl_delta_pct_vs_f16``, ``ln_ppl_ratio_vs_f16``,
  ``delta_ppl_vs_f16`` with a known baseline PPL) the first usable form carries the ratio and the
  other forms of the same (source, model, quant) stay ``other`` without a target;
* mean-KLD rows: ``kld = value``.

The baseline is the row's ``baseline_value`` or the same source's own full-precision row of the
same model and metric; never another source's. Rows that yield no target keep ``excluded_reason``
(``"<code>: <why>"``). Baseline rows (the reference compared with itself) get no target: a ratio
of 1 by definition says nothing about quantization loss.
"""

from __future__ import annotations

import csv
import logging
import math
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from advisor.data.dataset import csv_number, write_csv_models, write_rows
from advisor.data.naming import (
    ModelName,
    QuantLabel,
    normalise_model,
    parse_quant_label,
    size_to_bytes,
)
from advisor.vocabulary.errors import DataFileError
from advisor.vocabulary.schema import MetricKind, QualityRow, Source

log = logging.getLogger(__name__)

COLUMNS = ["source_id", "model", "params_b", "quant", "bpw", "metric", "task_category", "value",
           "baseline_value", "notes"]
_FLOAT_QUANTS = {"F16": "F16", "FP16": "F16", "BF16": "BF16", "F32": "F32", "FP32": "F32",
                 "FP8": "FP8", "BF16/FP16": "BF16/F16"}
_DELTA_PRIORITY = ("ppl_ratio_vs_f16", "qerror_pct_ppl_ratio_minus1", "ppl_delta_pct_vs_f16",
                   "ln_ppl_ratio_vs_f16", "delta_ppl_vs_f16")
_OTHER = re.compile(r"median_kld|q99_kld|top_token|delta_p_pct|same_top_p|ppl_correlation|"
                    r"nominal_bpw|bpw_measured")
_PPL = re.compile(r"^ppl(_wikitext2|_c4|_ptb)?$")
_ACCURACY = re.compile(r"acc|pass|mmlu|gsm8k|ifeval|aider|aime|math|gpqa|mbpp|livecodebench|"
                       r"c-eval|cmmlu|avg|average|winogrande|hellaswag", re.IGNORECASE)
# (regex on the metric, benchmark, category used only when the source left it blank)
_BENCHMARKS: tuple[tuple[str, str, str], ...] = (
    (r"mmlu_pro|mmlu-pro", "MMLU-Pro", "knowledge"), (r"cmmlu", "CMMLU", "knowledge"),
    (r"mmlu", "MMLU", "knowledge"), (r"c-eval", "C-Eval", "knowledge"),
    (r"truthfulqa", "TruthfulQA", "knowledge"), (r"gsm8k", "GSM8K", "math"),
    (r"math.?500", "MATH-500", "math"), (r"aime", "AIME 2024", "math"),
    (r"gpqa", "GPQA", "reasoning"), (r"ifeval", "IFEval", "instruction_following"),
    (r"mbpp\+", "MBPP+", "coding"), (r"mbpp_lua", "MultiPL-MBPP (Lua)", "coding"),
    (r"humaneval_lua", "MultiPL-HumanEval (Lua)", "coding"), (r"mceval", "McEval (Lua)", "coding"),
    (r"mbpp", "MBPP", "coding"), (r"livecodebench", "LiveCodeBench", "coding"),
    (r"aider", "Aider Polyglot", "coding"), (r"arc_challenge", "ARC-Challenge", "reasoning"),
    (r"arc_easy", "ARC-Easy", "reasoning"), (r"hellaswag", "HellaSwag", "reasoning"),
    (r"winogrande", "WinoGrande", "reasoning"), (r"piqa", "PIQA", "reasoning"),
    (r"openbookqa", "OpenBookQA", "reasoning"), (r"boolq", "BoolQ", "reading_comprehension"),
    (r"lambada", "LAMBADA", "language_modeling"), (r"ppl_wikitext2", "WikiText-2",
                                                    "language_modeling"),
    (r"ppl_c4", "C4", "language_modeling"), (r"ppl_ptb", "PTB", "language_modeling"),
    (r"kld|ppl", "", "language_modeling"),
)
_SIZE_IN_NOTES = re.compile(r"(\d+(?:\.\d+)?)\s*(TiB|TB|GiB|GB|MiB|MB|G)\b")
_COLLAPSE_RATIO = 10.0  # PPL more than 10x the baseline: the quantized model is broken
_DISCREPANCY = re.compile(r"discrepan|inconsistent", re.IGNORECASE)


@dataclass(frozen=True)
class _Raw:
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

    @property
    def ref_quant(self) -> str | None:
        """The float type when this row is a full-precision reference, else None."""
        return _FLOAT_QUANTS.get(self.quant.strip().upper())




def read_quality_csv(path: Path) -> list[_Raw]:
    """Rows of one long-format quality CSV; a malformed row fails with ``file:line``."""
    out: list[_Raw] = []
    with path.open(encoding="utf-8", newline="") as fh:
        reader = csv.reader(fh)
        header = next(reader, None)
        if header != COLUMNS:
            raise DataFileError(path, 1, f"header must be {','.join(COLUMNS)}, got "
                                f"{','.join(header) if header else '(empty file)'}")
        for record in reader:
            line = reader.line_num
            if not any(cell.strip() for cell in record):
                continue
            if len(record) != len(COLUMNS):
                raise DataFileError(path, line, f"expected {len(COLUMNS)} columns, got "
                                    f"{len(record)}")
            row = dict(zip(COLUMNS, record, strict=True))
            for column in ("source_id", "model", "quant", "metric"):
                if not row[column].strip():
                    raise DataFileError(path, line, f"column {column!r} is empty")
            params = csv_number(path, line, "params_b", row["params_b"], required=False)
            if params is not None and params <= 0:
                raise DataFileError(path, line, f"params_b must be > 0, got {params}")
            out.append(_Raw(path, line, row["source_id"].strip(), row["model"].strip(), params,
                            row["quant"].strip(),
                            csv_number(path, line, "bpw", row["bpw"], required=False),
                            row["metric"].strip(), row["task_category"].strip(),
                            csv_number(path, line, "value", row["value"], required=True) or 0.0,
                            csv_number(path, line, "baseline_value", row["baseline_value"],
                                    required=False), row["notes"].strip()))
    return out


def _kind(raw: _Raw) -> MetricKind:
    metric = raw.metric.lower()
    if metric.startswith("mean_kld"):
        return MetricKind.KLD
    if _OTHER.search(metric) or metric in _DELTA_PRIORITY:
        return MetricKind.OTHER
    if _PPL.match(metric):
        return MetricKind.PERPLEXITY
    if _ACCURACY.search(metric):
        return MetricKind.ACCURACY
    raise DataFileError(raw.path, raw.line, f"unknown metric {raw.metric!r}; known: ppl*, "
                        "mean_kld*, accuracy-like (acc, pass@1, mmlu, ...), "
                        f"{', '.join(_DELTA_PRIORITY)}")


def _ratio_from(metric: str, value: float, base_ppl: float | None) -> float | None:
    if metric == "ppl_ratio_vs_f16":
        return value
    if metric in ("qerror_pct_ppl_ratio_minus1", "ppl_delta_pct_vs_f16"):
        return 1.0 + value / 100.0
    if metric == "ln_ppl_ratio_vs_f16":
        return math.exp(value)
    if metric == "delta_ppl_vs_f16" and base_ppl:
        return (base_ppl + value) / base_ppl
    return None


class _Index:
    """Look-ups within one source: reference rows and the perplexity forms of each quant."""

    def __init__(self, rows: list[_Raw]) -> None:
        self.refs: dict[tuple[str, str, str], list[_Raw]] = {}
        self.groups: dict[tuple[str, str, str], list[_Raw]] = {}
        for r in rows:
            if r.ref_quant:
                self.refs.setdefault((r.source_id, r.model, r.metric), []).append(r)
            metric = r.metric.lower()
            if metric == "ppl" or metric in _DELTA_PRIORITY:
                self.groups.setdefault((r.source_id, r.model, r.quant), []).append(r)

    def baseline(self, r: _Raw) -> tuple[float | None, str | None, _Raw | None]:
        """(baseline value, what it is, the reference row) for an accuracy/perplexity row."""
        refs = self.refs.get((r.source_id, r.model, r.metric), [])
        if r.baseline_value is not None:
            for ref in refs:
                if math.isclose(ref.value, r.baseline_value, rel_tol=1e-9):
                    return r.baseline_value, ref.ref_quant, ref
            return r.baseline_value, _baseline_from_notes(r.notes), None
        for wanted in ("F16", "BF16", "BF16/F16", "F32", "FP8"):
            for ref in refs:
                if ref.ref_quant == wanted:
                    return ref.value, wanted, ref
        return None, None, None

    def f16_ppl(self, r: _Raw) -> float | None:
        for ref in self.refs.get((r.source_id, r.model, "ppl"), []):
            if ref.ref_quant in ("F16", "BF16"):
                return ref.value
        return None


def _baseline_from_notes(notes: str) -> str:
    m = re.search(r"\b(FP8|BF16|FP16|F16|FP32)\b", notes)
    return _FLOAT_QUANTS.get(m.group(1), m.group(1)) if m else "full precision (type not named)"


def _carrier(index: _Index, r: _Raw) -> _Raw | None:
    """The one row of r's (source, model, quant) that carries the PPL ratio, if any."""
    group = index.groups.get((r.source_id, r.model, r.quant), [])
    for g in group:
        if g.metric == "ppl" and g.ref_quant is None and index.baseline(g)[0] is not None:
            return g
        if g.metric == "ppl" and _notes_qerror(g) is not None:
            return g
    for metric in _DELTA_PRIORITY:
        for g in group:
            if g.metric == metric and g.ref_quant is None and _ratio_from(
                    metric, g.value, index.f16_ppl(g)) is not None:
                return g
    return None


def _notes_qerror(r: _Raw) -> float | None:
    m = re.search(r"quantization error ([0-9.]+)%", r.notes)
    return float(m.group(1)) if m else None


def _file_size(raw: _Raw, label: QuantLabel) -> tuple[int | None, str]:
    sizes = {size_to_bytes(n, u): f"{n} {u}" for n, u in _SIZE_IN_NOTES.findall(raw.notes)}
    if label.file_bytes is not None:
        sizes.setdefault(label.file_bytes, "size in quant label")
    if len(sizes) == 1:
        (nbytes, text), = sizes.items()
        note = f"file size {text}" + (" (bare 'G' read as GiB)" if text.endswith(" G") else "")
        return nbytes, note
    if len(sizes) > 1:
        return None, "several different sizes printed; file_bytes left empty"
    return None, ""


def _category(raw: _Raw) -> tuple[str | None, str | None]:
    """(benchmark, task category); the source's category is kept when it gave one."""
    given = raw.task_category if raw.task_category not in ("", "n/a") else None
    for pattern, benchmark, category in _BENCHMARKS:
        if re.search(pattern, raw.metric, re.IGNORECASE):
            return benchmark or None, given or category
    return None, given


def _convert(raw: _Raw, index: _Index) -> QualityRow:
    name: ModelName = normalise_model(raw.model, raw.params_b)
    label = parse_quant_label(raw.quant)
    kind = _kind(raw)
    flags = list(label.flags)
    extra: list[str] = []
    excluded: str | None = None
    retention = ppl_ratio = kld = None
    baseline_value, baseline_quant = raw.baseline_value, None

    if label.not_gguf or re.search(r"\bnot GGUF\b", raw.notes, re.IGNORECASE):
        flags.append("not_gguf")
    if re.search(r"fake-quant", raw.notes, re.IGNORECASE) and "fake_quant" not in flags:
        flags.append("fake_quant")
    if "DERIVED:" in raw.notes:
        flags.append("derived")
    if raw.source_id.startswith("ik_llama"):
        flags.append("fork")
    if name.moe:
        flags.append("moe")
    if name.remark:
        extra.append(f"model remark: {name.remark}")
        for key, flag in (("qat", "qat_checkpoint"), ("thinking", "thinking_mode"),
                          ("not stated", "variant_not_stated")):
            if key in name.remark.lower():
                flags.append(flag)
    discrepancy = bool(_DISCREPANCY.search(raw.notes))
    if discrepancy:
        flags.append("source_discrepancy")

    if kind is MetricKind.KLD:
        kld, baseline_quant = raw.value, "F16" if "f16" in raw.metric else "full precision"
    elif kind in (MetricKind.ACCURACY, MetricKind.PERPLEXITY):
        baseline_value, baseline_quant, ref = index.baseline(raw)
        if ref is raw or (ref is None and raw.ref_quant and raw.baseline_value == raw.value):
            excluded = "baseline_row: the reference compared with itself (ratio 1 by definition)"
        elif baseline_value is None:
            qerr = _notes_qerror(raw) if kind is MetricKind.PERPLEXITY else None
            if qerr is not None:
                ppl_ratio, baseline_quant = 1.0 + qerr / 100.0, "F16"
                extra.append("ppl_ratio from the quantization error % printed by the source")
            else:
                carrier = _carrier(index, raw) if kind is MetricKind.PERPLEXITY else None
                why = f" (the ratio is carried by its {carrier.metric} row)" if carrier else ""
                excluded = ("no_baseline: the source prints no full-precision value for this "
                            f"model and metric{why}")
        elif baseline_value <= 0:
            excluded = f"bad_baseline: baseline {baseline_value} is not > 0"
        elif kind is MetricKind.ACCURACY:
            if raw.value > 1.0 >= baseline_value:
                excluded = "scale_mismatch: value in %, baseline as a fraction"
            elif raw.value <= 0:
                excluded = "zero_score: retention 0 cannot be stored (must be > 0)"
            else:
                retention = raw.value / baseline_value
        else:
            ppl_ratio = raw.value / baseline_value
    elif raw.metric in _DELTA_PRIORITY:
        carrier = _carrier(index, raw)
        if raw.ref_quant:
            excluded = "baseline_row: delta of a full-precision row, not a quantization loss"
        elif carrier is raw:
            kind = MetricKind.PERPLEXITY
            ppl_ratio = _ratio_from(raw.metric, raw.value, index.f16_ppl(raw))
            baseline_quant = "F16"
            extra.append(f"ppl_ratio derived from {raw.metric}")
        elif carrier is not None:
            excluded = (f"duplicate_fact: the same quant's {carrier.metric} row carries the "
                        "ratio")
        else:
            excluded = "no_baseline: delta only, the source prints no baseline PPL"
    elif "bpw" in raw.metric:
        excluded = "bpw_reference: bits-per-weight row, no quality metric"
    else:
        excluded = f"reference_metric: {raw.metric} is kept for reference, not a target"
    if discrepancy:
        excluded = "source_discrepancy: flagged inconsistent in the source notes"
    if ppl_ratio is not None and ppl_ratio > _COLLAPSE_RATIO:
        flags.append("ppl_collapse")

    basis: Literal["stated", "file_size"] | None = "stated" if raw.bpw is not None else None
    bpw = raw.bpw
    file_bytes, size_note = _file_size(raw, label)
    if size_note:
        extra.append(size_note)
    params_for_bpw = name.catalog_params_b or raw.params_b
    if bpw is None and file_bytes is not None and params_for_bpw:
        bpw, basis = file_bytes * 8 / (params_for_bpw * 1e9), "file_size"  # 1e9 params per B
        src = "catalog" if name.catalog_params_b else "row"
        extra.append(f"bpw from file size and {params_for_bpw} B params ({src})")
    stderr_match = re.search(r"±\s*([0-9.]+)", raw.notes)
    items = re.search(r"(\d+)/(\d+) passing tasks|(\d+) tasks", raw.notes)
    benchmark, category = _category(raw)
    imatrix = label.imatrix
    if imatrix is None:
        if re.search(r"imatrix=None|no imatrix", raw.notes):
            imatrix = False
        elif re.search(r"imatrix=\w|imatrix from|imatrix quants|\bwith imatrix", raw.notes):
            imatrix = True
    variant = label.variant
    if variant == "unsloth" and "Unsloth Dynamic" in raw.notes:
        variant = "unsloth-dynamic"
    notes = raw.notes + (" | import: " + "; ".join(extra) if extra else "")
    return QualityRow(
        source_id=raw.source_id, run_id=None, model=name.canonical, model_as_published=raw.model,
        model_family=name.family, params_b=raw.params_b,
        active_params_b=name.active_params_b if name.moe else raw.params_b, moe=name.moe,
        quant=label.quant, quant_as_published=raw.quant, quant_variant=variant, imatrix=imatrix,
        bpw=bpw, bpw_basis=basis, file_bytes=file_bytes, flags=sorted(set(flags)),
        excluded_reason=excluded, notes=notes, metric=raw.metric, metric_kind=kind,
        task_category=category, benchmark=benchmark, value=raw.value,
        baseline_value=baseline_value, baseline_quant=baseline_quant, retention=retention,
        ppl_ratio=ppl_ratio, kld=kld,
        stderr=float(stderr_match.group(1).rstrip(".")) if stderr_match else None,
        n_items=int(items.group(2) or items.group(3)) if items else None)


def read_citations(path: Path) -> dict[str, str]:
    """``source_id -> citation`` from the tables of a SOURCES.md.

    Table rows look like ``| id[, id2, _suffix] | file | rows | citation |``; an id written as
    ``_pr53`` after ``ik_llama_pr312`` means ``ik_llama_pr53``.
    """
    if not path.is_file():
        raise DataFileError(path, None, "SOURCES.md is missing; every source_id needs a citation")
    citations: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if not line.lstrip().startswith("|") or len(cells) < 4:
            continue
        if cells[0] in ("source_id", "") or set(cells[0]) <= {"-", ":"}:
            continue
        ids = [t.strip().strip("`") for t in cells[0].split(",") if t.strip()]
        first = ids[0]
        citation = re.sub(r"\*\*|`", "", " | ".join(cells[3:])).strip()
        for token in ids:
            if token.startswith("_"):
                m = re.match(r"_([A-Za-z]+)", token)
                cut = first.rfind("_" + m.group(1)) if m else -1
                token = first[:cut] + token if cut > 0 else first + token
            citations[token] = f"{citation} (file: {cells[1]})"
    return citations


def import_quality(shared_dir: Path) -> tuple[list[QualityRow], list[Source]]:
    """All rows of ``<shared_dir>/quality/*.csv`` as QualityRows, and their Sources."""
    folder = Path(shared_dir) / "quality"
    paths = sorted(folder.glob("*.csv"))
    if not paths:
        raise DataFileError(folder, None, "no quality CSV files found (expected *.csv)")
    raws = [r for path in paths for r in read_quality_csv(path)]
    index = _Index(raws)
    rows = []
    for raw in raws:
        try:
            rows.append(_convert(raw, index))
        except ValueError as e:  # pydantic/validation problems name the input line
            raise DataFileError(raw.path, raw.line, str(e)) from e
    citations = read_citations(folder / "SOURCES.md")
    sources = []
    for source_id in sorted({r.source_id for r in rows}):
        if source_id not in citations:
            raise DataFileError(folder / "SOURCES.md", None,
                                f"no citation for source_id {source_id!r}")
        sources.append(Source(source_id=source_id, kind="quality", citation=citations[source_id]))
    log.info("imported %d quality rows from %d files, %d sources", len(rows), len(paths),
             len(sources))
    return rows, sources


def write_quality(shared_dir: Path, out_dir: Path) -> dict[str, object]:
    """Write ``quality.jsonl`` and ``sources_quality.csv`` to ``out_dir``; returns counts."""
    rows, sources = import_quality(shared_dir)
    out_dir = Path(out_dir)
    written = write_rows(out_dir / "quality.jsonl", rows)
    write_csv_models(out_dir / "sources_quality.csv", sources)
    return {
        "rows": written,
        "usable": sum(r.usable for r in rows),
        "sources": len(sources),
        "by_source": dict(Counter(r.source_id for r in rows)),
        "by_metric_kind": dict(Counter(r.metric_kind.value for r in rows)),
        "excluded": dict(Counter((r.excluded_reason or "").split(":")[0]
                                 for r in rows if r.excluded_reason)),
    }
