"""Reading and writing the measurement dataset (``measurements/``).

Layout:

* ``*.jsonl`` anywhere under the folder: one :class:`~advisor.vocabulary.schema.QualityRow` or
  :class:`~advisor.vocabulary.schema.SpeedRow` per line, told apart by ``kind``;
* ``hardware.csv``: one :class:`~advisor.vocabulary.schema.Hardware` per line;
* ``sources*.csv``: one :class:`~advisor.vocabulary.schema.Source` (citation) per ``source_id``.

A malformed line fails the load with ``file:line`` and what is wrong; writes are atomic.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import pandas as pd
from pydantic import BaseModel, Field, TypeAdapter, ValidationError

from advisor.vocabulary.errors import DataFileError
from advisor.vocabulary.schema import Hardware, QualityRow, Row, Source, SpeedRow

_ROW: TypeAdapter[Row] = TypeAdapter(Annotated[Row, Field(discriminator="kind")])
HARDWARE_FILE = "hardware.csv"
#: Hardware fields that get no CSV column while every device leaves them blank (a table of
#: single devices has no device count; the specs added with the 2024-2026 device table are
#: left out of tables that do not have them, so those keep their columns).
HARDWARE_OMIT_BLANK = ("threads", "n_devices", "memory_kind", "fp16_tensor_tflops",
                       "fp16_tensor_basis", "cpu_cores", "memory_channels", "aliases", "vendor",
                       "released", "listed_as")
#: What this project adds to the published table (imported, regenerated from ../shared/data):
#: devices it measured on that the table lacks, and specs the table leaves blank; same
#: columns, each line citing its datasheet.
ADDED_HARDWARE_FILE = "hardware_added.csv"
#: Spec columns the added table may fill where the published line is blank.
_SPEC_FIELDS = ("memory_gb", "bandwidth_gbs", "fp16_tflops", "fp16_basis", "threads",
                "memory_kind", "fp16_tensor_tflops", "fp16_tensor_basis", "cpu_cores",
                "memory_channels", "cores_or_isa")
_UMASK = os.umask(0)
os.umask(_UMASK)


def default_measurements_dir() -> Path:
    """The ``measurements/`` folder shipped with the project."""
    return Path(__file__).resolve().parents[2] / "measurements"


@dataclass
class Dataset:
    """Everything in a measurements folder, validated."""

    quality: list[QualityRow] = field(default_factory=list)
    speed: list[SpeedRow] = field(default_factory=list)
    hardware: dict[str, Hardware] = field(default_factory=dict)
    sources: dict[str, Source] = field(default_factory=dict)
    content_hash: str = ""

    def quality_frame(self, *, usable_only: bool = True) -> pd.DataFrame:
        return _frame(self.quality, usable_only)

    def speed_frame(self, *, usable_only: bool = True) -> pd.DataFrame:
        """Speed rows as a frame, with each device's specs from the hardware table: a device
        the table lists takes its ``memory_gb``, ``bandwidth_gbs``, ``fp16_tflops``,
        ``fp16_basis`` and ``fp16_tensor_tflops`` from there (rows carry the specs known when
        they were imported; the table may have been corrected or completed since); a device it
        does not list keeps the row's own specs."""
        frame = _frame(self.speed, usable_only)
        if not frame.empty:
            listed = frame["hardware"].isin(list(self.hardware))
            for column in ("memory_gb", "bandwidth_gbs", "fp16_tflops", "fp16_tensor_tflops",
                           "fp16_basis"):
                table = frame["hardware"].map(
                    {n: getattr(h, column) for n, h in self.hardware.items()})
                own = frame[column] if column in frame else pd.Series(None, index=frame.index)
                merged = table.where(listed, own)
                frame[column] = merged.astype("object").fillna("") if column == "fp16_basis" else \
                    pd.to_numeric(merged, errors="coerce")
        return frame


def rows_frame(rows: Iterable[QualityRow | SpeedRow]) -> pd.DataFrame:
    """Rows as a frame, one column per schema field (JSON types), in the given order."""
    return pd.DataFrame.from_records([r.model_dump(mode="json") for r in rows])


def _frame(rows: Iterable[QualityRow | SpeedRow], usable_only: bool) -> pd.DataFrame:
    return rows_frame(r for r in rows if r.usable or not usable_only)


def _parse_line(path: Path, lineno: int, line: str) -> Row:
    try:
        payload = json.loads(line)
    except json.JSONDecodeError as e:
        raise DataFileError(path, lineno, f"not valid JSON: {e.msg} (column {e.colno})") from e
    if not isinstance(payload, dict):
        raise DataFileError(path, lineno, f"expected a JSON object, got {type(payload).__name__}")
    if payload.get("kind") not in ("quality", "speed"):
        raise DataFileError(path, lineno, "field 'kind' must be 'quality' or 'speed', "
                            f"got {payload.get('kind')!r}")
    try:
        return _ROW.validate_python(payload)
    except ValidationError as e:
        raise DataFileError(path, lineno, _describe(e)) from e


def _describe(e: ValidationError) -> str:
    parts = []
    for err in e.errors()[:5]:
        loc = ".".join(str(p) for p in err["loc"][1:]) or str(err["loc"][0])
        parts.append(f"{loc}: {err['msg']} (got {err.get('input')!r})")
    return "; ".join(parts)


def iter_rows(path: Path) -> Iterator[Row]:
    """Rows of one JSONL file; blank lines are skipped."""
    with path.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, start=1):
            if line.strip():
                yield _parse_line(path, lineno, line)


def _read_csv_models(path: Path, model: type[BaseModel]) -> list[Any]:
    out = []
    with path.open(encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        for lineno, record in enumerate(reader, start=2):
            clean = {k: v for k, v in record.items() if k is not None and v not in ("", None)}
            try:
                out.append(model.model_validate(clean))
            except ValidationError as e:
                raise DataFileError(path, lineno, _describe(e)) from e
    return out


def csv_number(path: Path, line: int, column: str, text: str, *,
               required: bool = False) -> float | None:
    """A finite number from a CSV cell, None for a blank one; errors name ``file:line``."""
    text = text.strip()
    if not text:
        if required:
            raise DataFileError(path, line, f"column {column!r} is empty; a number is required")
        return None
    try:
        number = float(text)
    except ValueError as e:
        raise DataFileError(path, line, f"column {column!r} must be a number, got {text!r}") from e
    if not math.isfinite(number):
        raise DataFileError(path, line, f"column {column!r} must be finite, got {text!r}")
    return number


def load_dataset(folder: Path | None = None) -> Dataset:
    """Load and validate every file of a measurements folder."""
    folder = Path(folder) if folder is not None else default_measurements_dir()
    if not folder.is_dir():
        raise DataFileError(folder, None, "measurements folder does not exist")
    data = Dataset()
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*.jsonl")):
        digest.update(path.relative_to(folder).as_posix().encode())
        digest.update(path.read_bytes())
        for row in iter_rows(path):
            if isinstance(row, QualityRow):
                data.quality.append(row)
            else:
                data.speed.append(row)
    for hw_path in (folder / HARDWARE_FILE, folder / ADDED_HARDWARE_FILE):
        if hw_path.exists():
            digest.update(hw_path.read_bytes())
    data.hardware = read_hardware_tables(folder)
    for src_path in sorted(folder.glob("sources*.csv")):
        data.sources.update({s.source_id: s for s in _read_csv_models(src_path, Source)})
    data.content_hash = digest.hexdigest()[:16]
    return data


def read_hardware_tables(folder: Path) -> dict[str, Hardware]:
    """Devices of ``folder``'s published ``hardware.csv`` completed by ``hardware_added.csv``.

    A device only in the added table is taken as it is. A device in both keeps every spec its
    published line gives; the added line fills only the blank ones, and its citation is
    appended to ``source`` so each figure stays traceable. Missing files contribute nothing.
    """
    table: dict[str, Hardware] = {}
    path = folder / HARDWARE_FILE
    if path.is_file():
        for h in _read_csv_models(path, Hardware):
            table.setdefault(h.name, h)
    path = folder / ADDED_HARDWARE_FILE
    if path.is_file():
        for h in _read_csv_models(path, Hardware):
            table[h.name] = _complete(table[h.name], h) if h.name in table else h
    return table


def _complete(published: Hardware, added: Hardware) -> Hardware:
    filled = {f: getattr(added, f) for f in _SPEC_FIELDS
              if getattr(published, f) in (None, "") and getattr(added, f) not in (None, "")}
    if not filled:
        return published
    source = "; ".join(t for t in (published.source, f"added {', '.join(filled)}: {added.source}")
                       if t)
    notes = "; ".join(t for t in (published.notes, added.notes) if t)
    return published.model_copy(update={**filled, "source": source, "notes": notes})


def atomic_write(path: Path, write: Callable[[str], object]) -> None:
    """Let ``write(tmp_path)`` fill a temporary file beside ``path``, make it durable, then
    rename it over ``path``: readers see the old file or the new one, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~_UMASK)  # mkstemp makes 0600 files
        os.close(fd)
        write(tmp)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically (see :func:`atomic_write`)."""
    atomic_write(path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))


def write_rows(path: Path, rows: Iterable[Row]) -> int:
    """Atomically (re)write a JSONL file with ``rows``; returns how many were written."""
    lines = [json.dumps(r.model_dump(mode="json", exclude_defaults=False), sort_keys=False,
                        ensure_ascii=False) for r in rows]
    atomic_write_text(path, "\n".join(lines) + ("\n" if lines else ""))
    return len(lines)


def write_csv_models(path: Path, items: Iterable[BaseModel], *,
                     omit_blank: tuple[str, ...] = ()) -> None:
    """Atomically write ``items`` as CSV, one column per field; a field named in
    ``omit_blank`` gets no column when every item leaves it blank (readers take a missing
    column as blank, so files keep their columns when a schema grows an optional field)."""
    items = list(items)
    if not items:
        raise ValueError("nothing to write")
    fields = [f for f in type(items[0]).model_fields
              if f not in omit_blank or any(getattr(i, f) not in (None, "", ()) for i in items)]
    import io

    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    for item in items:  # a list field (hardware aliases) is written ';'-separated
        writer.writerow({k: ("" if v is None else ";".join(v) if isinstance(v, list) else v)
                         for k, v in item.model_dump(mode="json", include=set(fields)).items()})
    atomic_write_text(path, buf.getvalue())
