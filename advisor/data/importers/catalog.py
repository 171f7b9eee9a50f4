"""Import the shared model catalog into ``measurements/catalog/``.

Reads ``architectures.csv`` and ``scores.csv`` of the shared catalog folder (see its
``SOURCES.md``) and writes:

* ``models.csv``: one row per architecture (base and instruct checkpoints share a row) with the
  numbers the memory model needs, the sliding-window layer pattern, and whether the model can be
  recommended (a row missing a needed number stays, marked with the reason);
* ``scores.csv``: the published full-precision scores, one row per (variant, benchmark), with the
  catalog name, category, scale, source key and full source;
* ``capability.csv``: one common-scale score per model and category
  (see :mod:`advisor.data.capability`).

Values are copied as published; the only derived numbers are the SWA period and fraction, read
from the ``swa_pattern_notes`` text. Run
``python -m advisor.data.importers.catalog SHARED_DIR [OUT_DIR]``.
"""

from __future__ import annotations

import csv
import io
import logging
import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from advisor.data.capability import build_capability, write_capability
from advisor.data.catalog import REQUIRED_FOR_MEMORY
from advisor.data.dataset import atomic_write_text, default_measurements_dir
from advisor.vocabulary.errors import DataFileError

log = logging.getLogger(__name__)

#: Columns of ``models.csv``, in order.
MODEL_COLUMNS: tuple[str, ...] = (
    "name", "family", "params_b", "active_params_b", "n_layers", "hidden_size", "n_heads",
    "n_kv_heads", "head_dim", "vocab_size", "max_context", "sliding_window", "swa_period",
    "swa_fraction", "swa_pattern_notes", "recommendable", "not_recommendable_reason", "source",
    "notes",
)
#: Columns of ``scores.csv``, in order.
SCORE_COLUMNS: tuple[str, ...] = (
    "model", "variant", "benchmark", "category", "score", "scale", "setting", "source_key",
    "source",
)
_INT_COLUMNS = ("n_layers", "hidden_size", "n_heads", "n_kv_heads", "head_dim", "vocab_size",
                "max_context", "sliding_window")

# "5 local(512):1 global" -> 5 local layers then one global; "... 1:1" -> alternating.
_LOCAL_GLOBAL = re.compile(r"(\d+)\s*local[^:]*:\s*1\s*global", re.IGNORECASE)
_ALTERNATING = re.compile(r"\b1\s*:\s*1\b")


@dataclass(frozen=True)
class ImportReport:
    """What :func:`import_catalog` wrote."""

    n_models: int
    n_recommendable: int
    n_scores: int
    n_capability: int
    out_dir: Path


def swa_period(notes: str) -> int | None:
    """Layers per repeating local/global group from the pattern notes (None if not stated).

    A period ``p`` means ``p - 1`` sliding-window layers followed by one global layer, the
    layout llama.cpp uses for Gemma 2 (``p = 2``) and Gemma 3 (``p = 6``).

    >>> swa_period("5 local(512):1 global"), swa_period("local/global 1:1"), swa_period("")
    (6, 2, None)
    """
    match = _LOCAL_GLOBAL.search(notes)
    if match:
        return int(match.group(1)) + 1
    if _ALTERNATING.search(notes):
        return 2
    return None


def _architecture_rows(path: Path) -> list[dict[str, object]]:
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    missing = {"model", "family", "params_b", "n_layers", "n_kv_heads", "head_dim"} - set(frame)
    if missing:
        raise DataFileError(path, 1, f"missing columns {sorted(missing)}")
    rows: list[dict[str, object]] = []
    for lineno, rec in enumerate(frame.to_dict("records"), start=2):
        row: dict[str, object] = {c: "" for c in MODEL_COLUMNS}
        row["name"] = rec["model"].strip()
        for col in MODEL_COLUMNS:
            if col in rec and col != "name":
                row[col] = rec[col].strip()
        for col in _INT_COLUMNS:
            value = str(row[col])
            if value and not value.isdigit():
                raise DataFileError(path, lineno,
                                    f"{col} must be a whole number, got {value!r}")
        notes = str(row["swa_pattern_notes"])
        if row["sliding_window"]:
            period = swa_period(notes)
            if period is None:
                raise DataFileError(path, lineno, "sliding_window is set but swa_pattern_notes "
                                    f"states no local:global pattern, got {notes!r}")
            row["swa_period"] = period
            row["swa_fraction"] = round((period - 1) / period, 4)
        missing_numbers = [c for c in REQUIRED_FOR_MEMORY if not row[c]]
        row["recommendable"] = not missing_numbers
        row["not_recommendable_reason"] = (
            f"missing {', '.join(missing_numbers)} (needed by the memory estimate)"
            if missing_numbers else "")
        rows.append(row)
    return rows


def _score_rows(path: Path, known_models: set[str]) -> list[dict[str, object]]:
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    rows: list[dict[str, object]] = []
    for lineno, rec in enumerate(frame.to_dict("records"), start=2):
        arch = rec["arch_model"].strip()
        if arch not in known_models:
            raise DataFileError(path, lineno, f"arch_model {arch!r} is not in architectures.csv")
        try:
            score = float(rec["score"])
        except ValueError as e:
            raise DataFileError(path, lineno, f"score must be a number, got {rec['score']!r}") \
                from e
        rows.append({
            "model": arch, "variant": rec["model"].strip(), "benchmark": rec["benchmark"].strip(),
            "category": rec["task_category"].strip(), "score": score,
            "scale": rec["scale"].strip(), "setting": rec["shots/setting"].strip(),
            "source_key": rec["source"].split()[0], "source": rec["source"].strip(),
        })
    return rows


def _to_csv(rows: list[dict[str, object]], columns: tuple[str, ...]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(columns), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({c: row.get(c, "") for c in columns})
    return buf.getvalue()


def import_catalog(shared_dir: Path, out_dir: Path | None = None) -> ImportReport:
    """Write ``models.csv``, ``scores.csv`` and ``capability.csv`` into ``out_dir``.

    ``shared_dir`` holds ``architectures.csv`` and ``scores.csv``; ``out_dir`` defaults to
    ``measurements/catalog``. Files are written atomically.
    """
    shared_dir = Path(shared_dir)
    out_dir = Path(out_dir) if out_dir is not None else default_measurements_dir() / "catalog"
    for name in ("architectures.csv", "scores.csv"):
        if not (shared_dir / name).is_file():
            raise DataFileError(shared_dir / name, None, "catalog input file does not exist")
    models = _architecture_rows(shared_dir / "architectures.csv")
    names = [str(m["name"]) for m in models]
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        raise DataFileError(shared_dir / "architectures.csv", None,
                            f"model names must be unique, got duplicates {duplicated}")
    scores = _score_rows(shared_dir / "scores.csv", set(names))
    atomic_write_text(out_dir / "models.csv", _to_csv(models, MODEL_COLUMNS))
    atomic_write_text(out_dir / "scores.csv", _to_csv(scores, SCORE_COLUMNS))
    capability = build_capability(pd.DataFrame(scores, columns=list(SCORE_COLUMNS)), names)
    write_capability(out_dir / "capability.csv", capability)
    report = ImportReport(len(models), sum(bool(m["recommendable"]) for m in models),
                          len(scores), len(capability), out_dir)
    log.info("catalog: %d models (%d recommendable), %d scores, %d capability values -> %s",
             report.n_models, report.n_recommendable, report.n_scores, report.n_capability,
             out_dir)
    return report


if __name__ == "__main__":  # pragma: no cover - thin entry point
    import sys

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    import_catalog(Path(sys.argv[1]), Path(sys.argv[2]) if len(sys.argv) > 2 else None)
