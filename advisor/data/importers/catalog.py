"""Import the shared model catalog into ``measurements/catalog/``.

Reads the shared catalog folder (its ``SOURCES.md`` files cite every source): the facts
(:mod:`advisor.data.importers.catalog_facts`) and the published full-precision scores, and
writes:

* ``facts.csv``: one fact per (model, field) with the source it was read from;
* ``models.csv``: one :class:`~advisor.data.catalog.ModelRow` per model, built from its facts.
  The only derived numbers are layer counts read from a published layer pattern (``sliding x5,
  full x1``; a KV-sharing model's shared layers taken out), a head size of hidden size / heads
  when a config gives none, and parameter counts in billions. A model missing a number the
  memory estimate needs stays, marked with the reason;
* ``scores.csv``: every published full-precision score, one per row with its model, mode,
  benchmark, source and date (see :mod:`advisor.data.importers.scores`); ``quant-advisor
  train`` fits the capability model on it (:mod:`advisor.predictors.capability`).

Run ``quant-advisor import-published --shared ../shared/data``.
"""

from __future__ import annotations

import csv
import io
import logging
import re
from dataclasses import dataclass
from pathlib import Path

from advisor.data.catalog import ModelRow
from advisor.data.dataset import atomic_write_text, default_measurements_dir
from advisor.data.importers.catalog_facts import FACT_COLUMNS, Fact, parse_count, read_facts
from advisor.data.importers.scores import SCORE_COLUMNS, score_rows, unscored
from advisor.vocabulary.errors import DataFileError

log = logging.getLogger(__name__)

#: Columns of ``models.csv``, in order: the fields of :class:`ModelRow`.
MODEL_COLUMNS: tuple[str, ...] = tuple(ModelRow.model_fields)
# "5 local(512):1 global" -> 5 local layers then one global; "... 1:1" -> alternating.
_LOCAL_GLOBAL = re.compile(r"(\d+)\s*local[^:]*:\s*1\s*global", re.IGNORECASE)
_ALTERNATING = re.compile(r"\b1\s*:\s*1\b|alternating sliding/full", re.IGNORECASE)
# "sliding x5, full x1 (repeat)", "chunked-local(8192) RoPE x3, global NoPE x1"
_SLIDING_FULL = re.compile(r"(?:sliding|local)[^,]*?x(\d+),\s*(?:full|global)[^,]*?x1\b",
                           re.IGNORECASE)
# Nemotron-H's hybrid_override_pattern: one character per layer, M = Mamba-2, * = attention
_LAYER_STRING = re.compile(r"^[ME*\-A]+$")
#: llama.cpp architectures whose memory the estimate does not model (a DeepSeek sparse-attention
#: indexer keeps a cache of its own).
UNMODELLED_ARCHS = {"glm-dsa": "its sparse-attention indexer's cache is not modelled",
                    "deepseek32": "its sparse-attention indexer's cache is not modelled"}
#: Architectures whose config states a sliding window that llama.cpp does not apply
#: (``models/phi3.cpp``: "Phi SWA is currently disabled").
_NO_SWA_ARCHS = frozenset({"phi3"})
_RECURRENT = {"gated_deltanet": "gated_deltanet", "mamba2": "mamba2",
              "short_conv": "short_conv", "kda": "kda"}
_INT_FIELDS = tuple(
    name for name, info in ModelRow.model_fields.items()
    if name not in ("n_swa_layers", "n_full_attn_layers", "num_kv_shared_layers",
                    "n_recurrent_layers")
    and "int" in str(info.annotation) and "bool" not in str(info.annotation))
_TEXT_FIELDS = ("family", "hf_repo", "released", "license", "base_model", "gguf_arch")


@dataclass(frozen=True)
class ImportReport:
    """What :func:`import_catalog` wrote."""

    n_models: int
    n_recommendable: int
    n_scores: int
    out_dir: Path
    #: catalog models without a score of their own in any source
    unscored: tuple[str, ...] = ()


def swa_period(pattern: str) -> int | None:
    """Layers per repeating local/global group of a published layer pattern (None if it
    states none).

    A period ``p`` means ``p - 1`` sliding-window layers followed by one global layer, the
    layout llama.cpp uses for Gemma 2 (``p = 2``) and Gemma 3 (``p = 6``).

    >>> swa_period("5 local(512):1 global"), swa_period("sliding x5, full x1 (repeat)")
    (6, 6)
    >>> swa_period("local/global 1:1"), swa_period("alternating sliding/full"), swa_period("")
    (2, 2, None)
    """
    for regex in (_LOCAL_GLOBAL, _SLIDING_FULL):
        match = regex.search(pattern)
        if match:
            return int(match.group(1)) + 1
    if _ALTERNATING.search(pattern):
        return 2
    return None


def _int(fact: Fact) -> int:
    """A whole-number fact; ``1M`` style counts are accepted for contexts."""
    text = fact.value.replace(",", "").strip()
    if text.isdigit():
        return int(text)
    billions = parse_count(text)
    if billions is not None and text[-1:].upper() in "KMBT":
        return round(billions * 1e9)
    raise DataFileError("facts", None, f"{fact.model}.{fact.field} must be a whole number, "
                        f"got {fact.value!r} (source {fact.source})")


def _layer_counts(row: dict[str, object], facts: dict[str, Fact]) -> None:
    """Fill ``n_swa_layers``, ``n_full_attn_layers``, ``n_recurrent_layers`` and
    ``num_kv_shared_layers`` of ``row`` from the published counts and layer pattern."""
    n = int(str(row["n_layers"])) if row.get("n_layers") else 0
    pattern = facts["layer_types"].value if "layer_types" in facts else ""
    count = {f: _int(facts[f]) for f in ("n_swa_layers", "n_full_attn_layers",
                                          "num_kv_shared_layers", "n_linear_attn_layers",
                                          "n_mamba_layers") if f in facts}
    kind = facts["linear_attn_kind"].value.split()[0] if "linear_attn_kind" in facts else ""
    if kind in _RECURRENT:
        row["recurrent_kind"] = _RECURRENT[kind]
        if _LAYER_STRING.match(pattern) and "M" in pattern:
            recurrent = pattern.count("M")
        else:
            recurrent = count.get("n_linear_attn_layers", count.get("n_mamba_layers", 0))
        full = count.get("n_full_attn_layers")
        row["n_recurrent_layers"] = recurrent or (n - full if full is not None else 0)
        row["n_full_attn_layers"] = full if full is not None else n - int(
            str(row["n_recurrent_layers"]))
        return
    if not row.get("sliding_window"):
        if "n_full_attn_layers" in count and count["n_full_attn_layers"] < n:
            row["n_full_attn_layers"] = count["n_full_attn_layers"]  # e.g. attention skipped
        return
    swa = count.get("n_swa_layers")
    if swa is None:
        period = swa_period(pattern)
        if period is None:
            if row.get("gguf_arch") in _NO_SWA_ARCHS:
                row["sliding_window"] = ""  # llama.cpp ignores this config key (_NO_SWA_ARCHS)
                return
            if "n_full_attn_layers" not in count:
                raise DataFileError("facts", None, f"{row['name']}: sliding_window is set but "
                                    "no fact says which layers use it (n_swa_layers, "
                                    f"n_full_attn_layers or a layer pattern), got {pattern!r}")
            swa = n - count["n_full_attn_layers"]
        else:
            swa = n - n // period
    full = n - swa
    shared = count.get("num_kv_shared_layers", 0)
    if shared:
        # the last `shared` layers reuse the cache of earlier ones (Gemma 3n / 4 E-models)
        idxs = [int(i) for i in facts["full_attn_idxs"].value.split(";")] \
            if "full_attn_idxs" in facts else []
        if not idxs:
            raise DataFileError("facts", None, f"{row['name']} shares KV layers but lists no "
                                "full_attn_idxs to tell which of them are full")
        full = sum(1 for i in idxs if i < n - shared)
        swa = n - shared - full
        row["num_kv_shared_layers"] = shared
    row["n_swa_layers"], row["n_full_attn_layers"] = swa, full


def model_rows(facts: list[Fact]) -> list[dict[str, object]]:
    """One ``models.csv`` row per model of ``facts`` (models that only point to another
    model's architecture, such as a maker's QAT GGUF repo, are folded into that model)."""
    by_model: dict[str, dict[str, Fact]] = {}
    for fact in facts:
        by_model.setdefault(fact.model, {})[fact.field] = fact
    qat = {f["same_architecture_as"].value: f["hf_repo"].value
           for f in by_model.values() if "same_architecture_as" in f and "hf_repo" in f}
    rows = []
    for name, fx in by_model.items():
        if "same_architecture_as" in fx:
            continue
        row: dict[str, object] = {c: "" for c in MODEL_COLUMNS}
        row["name"] = name
        row["family"] = fx["family"].value if "family" in fx else name.split("-")[0]
        for field in _TEXT_FIELDS[1:]:
            if field in fx:
                row[field] = fx[field].value
        for field in _INT_FIELDS:
            if field in fx:
                row[field] = _int(fx[field])
        if "modes" in fx:
            row["modes"] = fx["modes"].value
        if "tie_word_embeddings" in fx:
            row["tie_word_embeddings"] = fx["tie_word_embeddings"].value.lower() == "true"
        total = fx.get("params_text_gguf") or fx.get("params_total")
        if total is not None:
            row["params_b"] = parse_count(total.value)
        if "params_active" in fx:
            row["active_params_b"] = parse_count(fx["params_active"].value)
        if not row["head_dim"] and row["hidden_size"] and row["n_heads"]:
            row["head_dim"] = int(str(row["hidden_size"])) // int(str(row["n_heads"]))
        _layer_counts(row, fx)
        row["qat_gguf_repo"] = qat.get(name, "")
        if row["gguf_arch"] in UNMODELLED_ARCHS:
            row["recommendable"] = False
            row["not_recommendable_reason"] = (
                f"llama.cpp architecture {row['gguf_arch']}: "
                f"{UNMODELLED_ARCHS[str(row['gguf_arch'])]}")
        row["sources"] = "; ".join(sorted({_source_id(f.source) for f in fx.values()}))
        model = ModelRow.model_validate({k: v for k, v in row.items() if v != ""})
        rows.append({k: "" if v is None else v for k, v in model.model_dump().items()})
    return sorted(rows, key=lambda r: (str(r["family"]).lower(), str(r["name"]).lower()))


def _source_id(citation: str) -> str:
    """The source id a citation starts with (``QWEN3_TR (Table 1)`` -> ``QWEN3_TR``)."""
    return re.split(r"[\s(;,]", citation.strip(), maxsplit=1)[0]


def _to_csv(rows: list[dict[str, object]], columns: tuple[str, ...]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(columns), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({c: row.get(c, "") for c in columns})
    return buf.getvalue()


def import_catalog(shared_dir: Path, out_dir: Path | None = None) -> ImportReport:
    """Write ``facts.csv``, ``models.csv`` and ``scores.csv`` into ``out_dir``.

    ``shared_dir`` is the shared catalog folder; ``out_dir`` defaults to
    ``measurements/catalog``. Files are written atomically.
    """
    shared_dir = Path(shared_dir)
    out_dir = Path(out_dir) if out_dir is not None else default_measurements_dir() / "catalog"
    if not (shared_dir / "scores.csv").is_file():
        raise DataFileError(shared_dir / "scores.csv", None, "catalog input file does not exist")
    facts = read_facts(shared_dir)
    models = model_rows(facts)
    scores = score_rows(shared_dir, models)
    atomic_write_text(out_dir / "facts.csv", _to_csv(
        [{c: getattr(f, c) for c in FACT_COLUMNS} for f in facts], FACT_COLUMNS))
    atomic_write_text(out_dir / "models.csv", _to_csv(models, MODEL_COLUMNS))
    atomic_write_text(out_dir / "scores.csv", _to_csv(scores, SCORE_COLUMNS))
    report = ImportReport(len(models), sum(bool(m["recommendable"]) for m in models),
                          len(scores), out_dir, tuple(unscored(scores, models)))
    log.info("catalog: %d models (%d recommendable), %d scores -> %s",
             report.n_models, report.n_recommendable, report.n_scores, out_dir)
    if report.unscored:
        log.info("catalog models without a score of their own: %s", ", ".join(report.unscored))
    return report


if __name__ == "__main__":  # pragma: no cover - thin entry point
    import sys

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    import_catalog(Path(sys.argv[1]), Path(sys.argv[2]) if len(sys.argv) > 2 else None)
