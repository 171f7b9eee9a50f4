"""The catalog's facts: one value per (model, field), each with the source it was read from.

Inputs, in the shared catalog folder (see its ``SOURCES.md`` files):

* ``architectures.csv``: the first catalog, one wide row per model (``source`` names the
  sources of the whole row);
* ``arch/*/arch.csv``: facts gathered per model, one per row (``model, field, value, source,
  notes``): model-card and ``config.json`` figures, GGUF metadata, tensor maps;
* ``resolutions.csv``: for each (model, field) where two gathered facts disagree, the value
  kept and why.

A gathered fact replaces the first catalog's value for the same field. Of parameter counts the
most precise figure is kept, whichever file gives it (an exact count over "70B"). Two gathered
facts that disagree on anything else must be settled in ``resolutions.csv``; an unsettled one
stops the import with the list of disagreements.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path

from advisor.vocabulary.errors import DataFileError

#: Columns of the first catalog's wide file and the fact each holds.
_WIDE_FIELDS = {
    "family": "family", "params_b": "params_total", "active_params_b": "params_active",
    "n_layers": "n_layers", "hidden_size": "hidden_size", "n_heads": "n_heads",
    "n_kv_heads": "n_kv_heads", "head_dim": "head_dim", "vocab_size": "vocab_size",
    "max_context": "max_context", "sliding_window": "sliding_window",
    "swa_pattern_notes": "layer_types",
}
#: Facts whose most precise figure wins over the newest one.
_PRECISION_FIELDS = ("params_total", "params_active")
FACT_COLUMNS = ("model", "field", "value", "source", "notes")


@dataclass(frozen=True)
class Fact:
    """One published figure of one model, with where it was read."""

    model: str
    field: str
    value: str
    source: str
    notes: str = ""


def parse_count(text: str) -> float | None:
    """A parameter count in billions: ``32762123264``, ``32.8B``, ``270M``, ``1T``, ``~550M``.

    >>> parse_count("14.8B"), parse_count("270M"), parse_count("1T"), parse_count("26895998464")
    (14.8, 0.27, 1000.0, 26.895998464)
    """
    m = re.fullmatch(r"~?\s*([\d.]+)\s*([KMBT]?)", text.strip(), re.IGNORECASE)
    if not m or not text.strip():
        return None
    value = float(m.group(1))
    unit = m.group(2).upper()
    if not unit:
        return round(value / 1e9, 9) if value > 1e4 else value
    return round(value * {"K": 1e-6, "M": 1e-3, "B": 1.0, "T": 1e3}[unit], 9)


def precision(text: str) -> int:
    """How exactly a count is given: its number of significant digits (exact counts win)."""
    digits = re.sub(r"[^\d]", "", text.split(".")[0] if "." not in text else text)
    return len(digits.lstrip("0"))


def _read(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        return [{k: (v or "").strip() for k, v in row.items()} for row in csv.DictReader(fh)]


def wide_facts(path: Path) -> list[Fact]:
    """The first catalog's rows as facts (the row's ``source`` cites each of its figures)."""
    facts = []
    rows = _read(path)
    names = [row["model"] for row in rows]
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        raise DataFileError(path, None, f"model names must be unique, got duplicates {duplicated}")
    for row in rows:
        for column, field in _WIDE_FIELDS.items():
            value = row.get(column, "")
            if not value or (column == "active_params_b" and value == row.get("params_b")):
                continue  # a dense model's "active" count is its total: no fact of its own
            if field in _PRECISION_FIELDS:
                value = f"{value}B"
            facts.append(Fact(row["model"], field, value, row.get("source", ""),
                              row.get("notes", "")))
    return facts


def gathered_facts(folder: Path) -> list[Fact]:
    """Every ``arch/*/arch.csv`` fact with a value; a fact without a source is an error."""
    facts = []
    for path in sorted(folder.glob("*/arch.csv")):
        for lineno, row in enumerate(_read(path), start=2):
            if not row.get("value"):
                continue
            if not row.get("source"):
                raise DataFileError(path, lineno, f"fact {row['model']}.{row['field']} has no "
                                    "source; every fact needs one")
            facts.append(Fact(row["model"], row["field"], row["value"], row["source"],
                              row.get("notes", "")))
    return facts


def resolve(old: list[Fact], new: list[Fact], resolutions: dict[tuple[str, str], Fact],
            where: Path) -> list[Fact]:
    """One fact per (model, field): see the module docstring for the rules."""
    chosen: dict[tuple[str, str], Fact] = {(f.model, f.field): f for f in old}
    grouped: dict[tuple[str, str], list[Fact]] = {}
    for fact in new:
        grouped.setdefault((fact.model, fact.field), []).append(fact)
    unsettled = []
    for key, facts in grouped.items():
        values = {f.value for f in facts}
        if len(values) > 1 and key[1] in _PRECISION_FIELDS and key not in resolutions:
            facts = [max(facts, key=lambda f: precision(f.value))]  # an exact count wins
            values = {facts[0].value}
        if len(values) > 1:
            if key not in resolutions:
                unsettled.append(f"{key[0]}.{key[1]}: {sorted(values)}")
                continue
            fact = resolutions[key]
            if fact.value not in values:
                raise DataFileError(where, None, f"resolution for {key[0]}.{key[1]} keeps "
                                    f"{fact.value!r}, which no source gives; given: "
                                    f"{sorted(values)}")
            sources = "; ".join(f.source for f in facts if f.value == fact.value)
            fact = Fact(fact.model, fact.field, fact.value, sources, fact.notes)
        else:
            fact = facts[0]
        before = chosen.get(key)
        if (before is not None and key[1] in _PRECISION_FIELDS
                and precision(before.value) > precision(fact.value)):
            continue
        chosen[key] = fact
    if unsettled:
        raise DataFileError(where, None, "facts disagree; settle each in resolutions.csv "
                            f"(model, field, value, reason): {'; '.join(unsettled)}")
    return sorted(chosen.values(), key=lambda f: (f.model.lower(), f.field))


def read_facts(shared_dir: Path) -> list[Fact]:
    """The resolved facts of the shared catalog folder ``shared_dir``."""
    shared_dir = Path(shared_dir)
    wide = shared_dir / "architectures.csv"
    if not wide.is_file():
        raise DataFileError(wide, None, "catalog input file does not exist")
    resolutions_path = shared_dir / "resolutions.csv"
    resolutions = {}
    if resolutions_path.is_file():
        for row in _read(resolutions_path):
            resolutions[(row["model"], row["field"])] = Fact(
                row["model"], row["field"], row["value"], "", f"resolved: {row['reason']}")
    return resolve(wide_facts(wide), gathered_facts(shared_dir / "arch"), resolutions,
                   resolutions_path)
