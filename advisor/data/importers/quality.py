"""Importing the published quality tables (``<shared>/quality/*.csv``) into :class:`QualityRow`.

Every input row becomes exactly one output row. Targets, each fact counted once per source:

* accuracy rows: ``retention = value / baseline``;
* perplexity rows: ``ppl_ratio = value / baseline``; where a source gives only a delta or a ratio
  (``ppl_ratio_vs_f16``, ``qerror_pct_...``, ``ppl_delta_pct_vs_f16``, ``ln_ppl_ratio_vs_f16``,
  ``delta_ppl_vs_f16`` with a known baseline PPL) the first usable form carries the ratio and the
  other forms of the same (source, model, quant) stay ``other`` without a target;
* mean-KLD rows: ``kld = value``.

The baseline is the row's ``baseline_value`` or the same source's own full-precision row of the
same model and metric, or, where the source prints no 16-bit value, its one Q8_0 row of that
model and metric (flag ``q8_0_baseline``); never another source's. Rows that yield no target
keep ``excluded_reason`` (``"<code>: <why>"``). Baseline rows (the reference compared with
itself) get no target: a ratio of 1 by definition says nothing about quantization loss.

KV-cache rows (a ``[kv q8_0]`` tag, :mod:`advisor.data.quant_tags`) carry ``cache_type``. A row
with a quantized cache is compared with the same source's row of the same weights and metric on
an f16 cache: its target is the cache's own cost (flag ``kv_cache_only``), whatever weights
baseline the source printed. Without that row, a KLD of 16-bit weights is the cache's cost too;
anything else mixes the two costs (``kv_combined``) and is kept without a target. KLD against a
quantized model (:data:`QUANTIZED_REFERENCE_KLD`) keeps its value, flagged
``quantized_reference`` (training skips it). What each metric name means is in
:mod:`advisor.data.importers.quality_metrics`.
"""

from __future__ import annotations

import csv
import logging
import re
from collections import Counter
from pathlib import Path
from typing import Literal

from advisor.data.dataset import csv_number, write_csv_models, write_rows
from advisor.data.importers.quality_metrics import (
    DELTA_PRIORITY,
    benchmark_and_category,
    metric_kind,
)
from advisor.data.importers.quality_targets import (
    Q8_0_BASELINE,
    RawRow,
    SourceIndex,
    cache_target,
    weights_target,
)
from advisor.data.naming import (
    ModelName,
    QuantLabel,
    normalise_model,
    parse_quant_label,
    size_to_bytes,
)
from advisor.data.quant_tags import DEFAULT_CACHE_TYPE
from advisor.vocabulary.errors import DataFileError
from advisor.vocabulary.quants import find_quant
from advisor.vocabulary.schema import MetricKind, QualityRow, Source

log = logging.getLogger(__name__)

COLUMNS = ["source_id", "model", "params_b", "quant", "bpw", "metric", "task_category", "value",
           "baseline_value", "notes"]
_SIZE_IN_NOTES = re.compile(r"(\d+(?:\.\d+)?)\s*(TiB|TB|GiB|GB|MiB|MB|G)\b")
_COLLAPSE_RATIO = 10.0  # PPL more than 10x the baseline: the quantized model is broken
_DISCREPANCY = re.compile(r"discrepan|inconsistent", re.IGNORECASE)


def read_quality_csv(path: Path) -> list[RawRow]:
    """Rows of one long-format quality CSV; a malformed row fails with ``file:line``."""
    out: list[RawRow] = []
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
            try:
                label = parse_quant_label(row["quant"])
            except ValueError as e:
                raise DataFileError(path, line, str(e)) from e
            out.append(RawRow(path, line, row["source_id"].strip(), row["model"].strip(), params,
                            row["quant"].strip(),
                            csv_number(path, line, "bpw", row["bpw"], required=False),
                            row["metric"].strip(), row["task_category"].strip(),
                            csv_number(path, line, "value", row["value"], required=True) or 0.0,
                            csv_number(path, line, "baseline_value", row["baseline_value"],
                                    required=False), row["notes"].strip(), label))
    return out


def _kind(raw: RawRow) -> MetricKind:
    kind = metric_kind(raw.metric)
    if kind is None:
        raise DataFileError(raw.path, raw.line, f"unknown metric {raw.metric!r}; known: ppl, "
                            "ppl_<corpus>, mean_kld*, accuracy-like (acc, pass@1, mmlu, "
                            "mc_score, ...), reference-only (median/max KLD, same-top, Δp, "
                            f"confidence, refusal), {', '.join(DELTA_PRIORITY)}")
    return kind


def _file_size(raw: RawRow, label: QuantLabel) -> tuple[int | None, str]:
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


def _pure_bpw(raw: RawRow, label: QuantLabel) -> float | None:
    """Nominal bits per weight of a pure quant's one type (``base_type``), or None."""
    if "pure" not in label.flags or label.base_type is None:
        return None
    found = find_quant(label.base_type)
    return found.nominal_bpw if found is not None else None


def _convert(raw: RawRow, index: SourceIndex) -> QualityRow:
    name: ModelName = normalise_model(raw.model, raw.params_b)
    label = raw.label
    kind = _kind(raw)
    flags = list(label.flags)
    extra: list[str] = []

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

    if label.cache_type in (None, DEFAULT_CACHE_TYPE):
        t = weights_target(raw, index, kind)
    else:
        t = cache_target(raw, index, kind)
    flags += t.flags
    extra += t.extra
    if t.baseline_quant == Q8_0_BASELINE and not t.excluded:
        flags.append("q8_0_baseline")
    excluded = t.excluded
    if discrepancy:
        excluded = "source_discrepancy: flagged inconsistent in the source notes"
    if t.ppl_ratio is not None and t.ppl_ratio > _COLLAPSE_RATIO:
        flags.append("ppl_collapse")

    basis: Literal["stated", "file_size", "catalog"] | None = (
        "stated" if raw.bpw is not None else None)
    bpw = raw.bpw
    file_bytes, size_note = _file_size(raw, label)
    if size_note:
        extra.append(size_note)
    params_for_bpw = name.catalog_params_b or raw.params_b
    if bpw is None and file_bytes is not None and params_for_bpw:
        bpw, basis = file_bytes * 8 / (params_for_bpw * 1e9), "file_size"  # 1e9 params per B
        src = "catalog" if name.catalog_params_b else "row"
        extra.append(f"bpw from file size and {params_for_bpw} B params ({src})")
    if bpw is None and (nominal := _pure_bpw(raw, label)) is not None:
        bpw, basis = nominal, "catalog"
        extra.append(f"bpw = nominal {nominal:g} of the pure quant's one type "
                     f"{label.base_type} (embeddings and output at another type not counted)")
    stderr_match = re.search(r"±\s*([0-9.]+)", raw.notes)
    items = re.search(r"(\d+)/(\d+) passing tasks|(?<!the )\b(\d+) tasks", raw.notes)
    benchmark, category = benchmark_and_category(raw.metric, raw.task_category)
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
        excluded_reason=excluded, notes=notes, metric=raw.metric, metric_kind=t.kind,
        task_category=category, benchmark=benchmark, value=raw.value,
        baseline_value=t.baseline_value, baseline_quant=t.baseline_quant,
        retention=t.retention, ppl_ratio=t.ppl_ratio, kld=t.kld, cache_type=label.cache_type,
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
    index = SourceIndex(raws)
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
