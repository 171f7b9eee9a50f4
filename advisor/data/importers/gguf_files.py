"""Import published GGUF file sizes into ``measurements/catalog/gguf_files.csv``.

Reads ``gguf/file_sizes.csv`` of the shared data folder (uploaders' file sizes, see its
``SOURCES.md``) and writes one row per published file:

* ``model``: the catalog name (the published name, or it without an ``-it`` / ``-Instruct``
  suffix when the catalog names the architecture that way); blank when the catalog lacks it;
* ``size_bytes``: the exact byte count where the source prints one, otherwise the printed
  figure times its unit (decimal GB/MB as Hugging Face prints them, GiB); ``size_tolerance``
  is half a unit of the last printed digit relative to the size (0 for exact counts); the
  shards of a split file are summed into one row;
* ``imatrix``: as published where stated; otherwise ``true`` for bartowski, whose cards state
  an importance matrix for every quant, and ``false`` (llama-quantize's default) for the rest;
  ``imatrix_basis`` says which;
* ``legacy_qkv``: ``true`` for models released before 2026-03, whose files were quantized
  before llama.cpp's tensor-category refactor changed the fused-QKV rule
  (:class:`advisor.data.quant_rules.QuantOptions`);
* ``standard``: the file is a plain llama-quantize recipe of a catalog model, so the size
  check counts it; ``exclusion`` says why another row is not counted.

Run through ``quant-advisor import-published`` (after the catalog, whose ``models.csv`` gives
the names and release months).
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from pathlib import Path

from advisor.data.dataset import atomic_write_text
from advisor.vocabulary.errors import DataFileError

COLUMNS = ("model", "published_model", "repo", "file", "quant", "size_bytes", "size_tolerance",
           "imatrix", "imatrix_basis", "legacy_qkv", "uploader_mix", "standard", "exclusion",
           "source", "notes")
_UNITS = {"GB": 1e9, "MB": 1e6, "GiB": 2.0**30, "e9 bytes": 1.0}
_SHARD = re.compile(r"-(\d{5})-of-(\d{5})\.gguf$")
_SUFFIX = re.compile(r"-(Instruct|it)(-\d{4})?$")
#: llama.cpp's tensor-category refactor (fused attn_qkv rule) landed in 2026-03
#: (ggml-org/llama.cpp PR #20112 works on its code on 2026-03-11).
_RULES_CHANGED = "2026-03"
#: Published files that are not llama-quantize's output for their type, and why.
_NOT_STANDARD = {
    ("DevQuasar/openai.gpt-oss-20b-GGUF", "Q8_0"):
        "experts requantized from the checkpoint's MXFP4 to Q8_0 (22.3 GB; the MXFP4 file is "
        "12.1 GB): llama-quantize keeps them unless --allow-requantize",
}


@dataclass(frozen=True)
class GgufFilesReport:
    n_files: int
    n_standard: int
    n_models: int


def _rows(path: Path) -> list[dict[str, str]]:
    if not path.is_file():
        raise DataFileError(path, None, "missing: the shared gguf folder needs file_sizes.csv")
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def _size(row: dict[str, str], path: Path, line: int) -> tuple[float, float]:
    """Bytes and relative tolerance of one row's size."""
    if row["size_bytes"].strip():
        return float(row["size_bytes"]), 0.0
    unit = row["unit"].strip()
    match = re.match(r"\s*([0-9]+(?:\.([0-9]+))?)(e9)?", row["size_as_printed"])
    if unit not in _UNITS or match is None:
        raise DataFileError(path, line, f"size {row['size_as_printed']!r} in unit {unit!r}: "
                            f"expected a number in one of {', '.join(_UNITS)}")
    value = float(match.group(1))
    step = 10.0 ** -len(match.group(2) or "")
    return value * (1e9 if match.group(3) else _UNITS[unit]), step / 2 / value


def _exclusion(row: dict[str, str], model: str) -> str:
    mix, repo, file = row["uploader_mix"], row["repo"], row["file"]
    if not model:
        return "not in the catalog"
    if file.startswith("("):
        return "not a published file: " + file.strip("()")
    if mix.startswith("unsloth"):
        return "unsloth's own mix (recipe not stated on the source)"
    if mix.startswith("ollama"):
        return "an Ollama library build (Ollama's packaging and rounding)"
    if "QAT" in mix:
        return "the maker's quantization-aware Q4_0, not a llama-quantize recipe"
    if repo.startswith("Qwen/"):
        return ("Qwen's own GGUF conversion, not llama.cpp's converter (its Qwen2.5-3B "
                "q5_k_m is 2438740384 bytes where bartowski's Q5_K_M prints 2.22 GB)")
    return _NOT_STANDARD.get((repo, row["quant"]), "")


def _imatrix(row: dict[str, str]) -> tuple[str, str]:
    stated = row["imatrix"].strip().lower()
    if stated in ("true", "false"):
        return stated, "published"
    if row["repo"].startswith("bartowski/"):
        return "true", "uploader: bartowski's cards state an imatrix for every quant"
    return "false", "unknown: llama-quantize's default (no imatrix)"


def _files(rows: list[dict[str, str]]) -> list[list[tuple[dict[str, str], int]]]:
    """Each published file as its rows with their line numbers: one row, or the shards of a
    split file (``-00001-of-00002.gguf``...)."""
    files: dict[tuple[str, str, str], list[tuple[dict[str, str], int]]] = {}
    for line, row in enumerate(rows, start=2):
        key = (row["repo"], _SHARD.sub(".gguf", row["file"]), row["quant"])
        files.setdefault(key, []).append((row, line))
    return list(files.values())


def import_gguf_files(shared_gguf: Path, catalog_models: Path, out_path: Path) -> GgufFilesReport:
    """Write ``out_path`` from ``shared_gguf/file_sizes.csv``; ``catalog_models`` is the
    imported ``models.csv`` (names and release months)."""
    src = shared_gguf / "file_sizes.csv"
    released = {r["name"]: r.get("released", "") for r in _rows(catalog_models)}
    out: list[dict[str, str]] = []
    for parts in _files(_rows(src)):
        row, line = parts[0]
        name = row["model"]
        model = name if name in released else _SUFFIX.sub("", name)
        model = model if model in released else ""
        sizes = [_size(r, src, i) for r, i in parts]
        size = sum(b for b, _ in sizes)
        tolerance = sum(b * t for b, t in sizes) / size
        shard = _SHARD.search(row["file"])
        if shard:
            row = {**row, "file": f"{_SHARD.sub('.gguf', row['file'])} ({len(parts)} of "
                                  f"{int(shard.group(2))} shards)"}
        imatrix, basis = _imatrix(row)
        exclusion = _exclusion(row, model)
        if shard and len(parts) != int(shard.group(2)) and not exclusion:
            exclusion = "not every shard of the split file is listed"
        legacy = bool(model) and (released.get(model) or "9999") < _RULES_CHANGED
        out.append({
            "model": model, "published_model": name, "repo": row["repo"], "file": row["file"],
            "quant": row["quant"].split(" ")[0], "size_bytes": str(round(size)),
            "size_tolerance": f"{tolerance:.5f}", "imatrix": imatrix, "imatrix_basis": basis,
            "legacy_qkv": str(legacy).lower(), "uploader_mix": row["uploader_mix"],
            "standard": str(not exclusion).lower(), "exclusion": exclusion,
            "source": row["source"], "notes": row["notes"],
        })
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(out)
    atomic_write_text(out_path, buf.getvalue())
    standard = [r for r in out if r["standard"] == "true"]
    return GgufFilesReport(len(out), len(standard), len({r["model"] for r in standard}))
