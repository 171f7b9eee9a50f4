"""Write ``measurements/catalog/weights.csv``: every recommendable catalog model at every
recommendable quant (see :mod:`advisor.data.weights_table` for the columns and sources)."""

from __future__ import annotations

import csv
import io
import logging
from dataclasses import dataclass
from pathlib import Path

from advisor.data.arch import Architecture, load_architectures
from advisor.data.catalog import ModelRow
from advisor.data.dataset import _read_csv_models, atomic_write_text
from advisor.data.gguf_files import published_file, read_gguf_files
from advisor.data.importers.gguf_files import _RULES_CHANGED
from advisor.data.quant_rules import QuantOptions
from advisor.data.weights import weights_breakdown
from advisor.data.weights_table import WEIGHTS_FILE, WeightsRow, estimated_row
from advisor.vocabulary.errors import AdvisorError
from advisor.vocabulary.quants import RECOMMENDABLE

log = logging.getLogger(__name__)
COLUMNS = tuple(WeightsRow.model_fields)
#: Where computed sizes come from, as the table's ``source`` says it.
RULES = ("llama-quantize's per-tensor types (llama.cpp as vendored by llama-cpp-python "
         "0.3.36; advisor.data.quant_rules) with an importance matrix")


@dataclass(frozen=True)
class WeightsReport:
    rows: int
    published: int
    computed: int
    estimated: int


def _options(model: ModelRow) -> QuantOptions:
    legacy = model.released is not None and model.released < _RULES_CHANGED
    return QuantOptions(imatrix=True, legacy_qkv=legacy)


def _computed(model: ModelRow, arch: Architecture, quant: str) -> WeightsRow:
    b = weights_breakdown(arch, quant, _options(model))
    experts = [e for e in b.expert_bytes if e]
    layers = [total - e for total, e in zip(b.layer_bytes, b.expert_bytes, strict=True)]
    embd = b.named_bytes("token_embd.weight")
    return WeightsRow(
        model=model.name, quant=quant, file_bytes=b.file_bytes,
        bpw=b.file_bytes * 8 / ((model.params_b or 1) * 1e9), size_source="computed",
        loaded_bytes=b.loaded_bytes, token_embd_bytes=embd,
        output_bytes=b.named_bytes("output.weight"),
        layer_bytes=sum(layers) / max(len(layers), 1),
        expert_bytes=sum(experts) / len(experts) if experts else 0.0,
        n_layers=b.n_layers, n_moe_layers=len(experts),
        active_bytes=b.active_bytes_per_token, source=RULES)


def weights_rows(catalog_dir: Path) -> list[WeightsRow]:
    """The table's rows for the catalog in ``catalog_dir`` (``models.csv``, ``facts.csv``,
    ``gguf_files.csv``)."""
    models: list[ModelRow] = _read_csv_models(catalog_dir / "models.csv", ModelRow)
    archs = load_architectures(catalog_dir)
    files = read_gguf_files(catalog_dir / "gguf_files.csv") \
        if (catalog_dir / "gguf_files.csv").is_file() else []
    rows = []
    for model in models:
        if not model.recommendable or model.params_b is None:
            continue
        for quant in RECOMMENDABLE:
            try:
                row = _computed(model, archs.get(model.name), quant)
            except AdvisorError as e:
                row = estimated_row(model, quant, str(e))
            published = published_file(files, model.name, quant)
            if published is not None:
                row = row.model_copy(update={
                    "file_bytes": published.size_bytes, "size_source": "published",
                    "bpw": published.size_bytes * 8 / (model.params_b * 1e9),
                    "source": f"{published.repo} ({published.source}); split by {RULES}"
                              if row.size_source == "computed" else published.source})
            rows.append(row)
    return rows


def import_weights(catalog_dir: Path) -> WeightsReport:
    """Write ``weights.csv`` next to the catalog in ``catalog_dir`` (atomically)."""
    rows = weights_rows(Path(catalog_dir))
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(COLUMNS), lineterminator="\n")
    writer.writeheader()
    for r in rows:
        values = r.model_dump()
        values["bpw"] = f"{r.bpw:.4f}"
        values["layer_bytes"] = f"{r.layer_bytes:.0f}"
        values["expert_bytes"] = f"{r.expert_bytes:.0f}"
        writer.writerow(values)
    atomic_write_text(Path(catalog_dir) / WEIGHTS_FILE, buf.getvalue())
    report = WeightsReport(len(rows), sum(r.size_source == "published" for r in rows),
                           sum(r.size_source == "computed" for r in rows),
                           sum(r.size_source == "estimated" for r in rows))
    log.info("weights: %d files (%d published, %d computed, %d estimated)", report.rows,
             report.published, report.computed, report.estimated)
    return report
