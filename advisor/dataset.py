"""Reading and writing the measurement dataset (``measurements/``).

Layout:

* ``*.jsonl`` anywhere under the folder: one :class:`~advisor.schema.QualityRow` or
  :class:`~advisor.schema.SpeedRow` per line, told apart by ``kind``;
* ``hardware.csv``: one :class:`~advisor.schema.Hardware` per line;
* ``sources*.csv``: one :class:`~advisor.schema.Source` (citation) per ``source_id``.

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

from advisor.errors import DataFileError
from advisor.schema import Hardware, QualityRow, Row, Source, SpeedRow

_ROW: TypeAdapter[Row] = TypeAdapter(Annotated[Row, Field(discriminator="kind")])
HARDWARE_FILE = "hardware.csv"
#: Devices this project measured on that the published table (imported, regenerated from
#: ../shared/data) does not list; same columns, each line citing its datasheet.
MEASURED_HARDWARE_FILE = "hardware_measured.csv"
_UMASK = os.umask(0)
os.umask(_UMASK)


def default_measurements_dir() -> Path:
    """The ``measurements/`` folder shipped with the project."""
    return Path(__file__).resolve().parent.parent / "measurements"


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
        """Speed rows as a frame, with each device's ``fp16_basis`` joined from the hardware
        table (blank for devices it does not list)."""
        frame = _frame(self.speed, usable_only)
        if not frame.empty:
            basis = {name: h.fp16_basis for name, h in self.hardware.items()}
            frame["fp16_basis"] = frame["hardware"].map(basis).fillna("")
        return frame


def _frame(rows: Iterable[QualityRow | SpeedRow], usable_only: bool) -> pd.DataFrame:
    records = [r.model_dump(mode="json") for r in rows if r.usable or not usable_only]
    return pd.DataFrame.from_records(records)


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
    for hw_path in (folder / HARDWARE_FILE, folder / MEASURED_HARDWARE_FILE):
        if hw_path.exists():
            digest.update(hw_path.read_bytes())
    data.hardware = read_hardware_tables(folder)
    for src_path in sorted(folder.glob("sources*.csv")):
        data.sources.update({s.source_id: s for s in _read_csv_models(src_path, Source)})
    data.content_hash = digest.hexdigest()[:16]
    return data


def read_hardware_tables(folder: Path) -> dict[str, Hardware]:
    """Devices of ``folder``'s published ``hardware.csv`` and of ``hardware_measured.csv`` by
    name; a device in both keeps its published line. Missing files contribute nothing."""
    table: dict[str, Hardware] = {}
    for path in (folder / HARDWARE_FILE, folder / MEASURED_HARDWARE_FILE):
        if path.is_file():
            for h in _read_csv_models(path, Hardware):
                table.setdefault(h.name, h)
    return table


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


def write_csv_models(path: Path, items: Iterable[BaseModel]) -> None:
    items = list(items)
    if not items:
        raise ValueError("nothing to write")
    fields = list(type(items[0]).model_fields)
    import io

    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    for item in items:
        writer.writerow({k: ("" if v is None else v)
                         for k, v in item.model_dump(mode="json").items()})
    atomic_write_text(path, buf.getvalue())
