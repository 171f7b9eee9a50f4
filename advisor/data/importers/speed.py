"""Import the published llama-bench measurements (``data/speed/``) into the project schema.

Input (a shared data folder, read only):

* ``speed/*.csv`` except ``hardware.csv``: one llama-bench result per line, columns
  :data:`SPEED_COLUMNS`; multi-device runs name the device as ``'<device> xN'``;
* ``hardware/devices.csv`` (:mod:`advisor.data.importers.hardware`) and ``speed/hardware.csv``:
  the devices with their published specs; a source's name for a device the table lists under
  another name is filed under the table's (the name as published stays in
  ``environment['hardware_as_published']``);
* ``speed/SOURCES.md``: the citation of every ``source_id`` (numbered ``**source_id**:`` items);
* ``catalog/architectures.csv`` and ``catalog/arch/*/arch.csv`` (optional): model names and
  active parameters of MoE models.

Output: every input line becomes exactly one :class:`~advisor.vocabulary.schema.SpeedRow`
(unusable ones keep ``excluded_reason``), every hardware line one
:class:`~advisor.vocabulary.schema.Hardware`, every
cited source one :class:`~advisor.vocabulary.schema.Source`. Device specs on a row are per device; a
multi-GPU row says how many in ``n_devices``. No published number is changed: tokens/s,
sizes and specs are copied, and everything derived (``bpw`` from the file size) says so.

Rows whose weights were partly in host memory (offload keys of the notes: ``-ot``,
``--n-cpu-moe``, ``--fit-target``...) and rows whose layers ran on networked hosts (llama.cpp
RPC) are kept with their placement (``environment['placement']``, flags ``offload`` / ``rpc``)
and an ``excluded_reason``: the all-on-device speed model does not describe them, and the offload
rows are what the offload speed model's error is measured on.
"""

from __future__ import annotations

import csv
import logging
import re
from collections import Counter
from pathlib import Path
from typing import Literal

from pydantic import ValidationError

from advisor.data.dataset import (
    HARDWARE_FILE,
    HARDWARE_OMIT_BLANK,
    csv_number,
    write_csv_models,
    write_rows,
)
from advisor.data.importers.hardware import SPEED_DEVICE_NAMES, import_hardware
from advisor.data.importers.speed_labels import (
    IK_LLAMA,
    NotesInfo,
    QuantLabel,
    parse_backend,
    parse_notes,
    parse_quant,
    split_hardware,
)
from advisor.data.importers.speed_models import (
    CatalogIndex,
    normalised,
    parse_model,
    read_catalog,
)
from advisor.vocabulary.errors import DataFileError, InvalidInputError
from advisor.vocabulary.quants import get_quant
from advisor.vocabulary.schema import Hardware, HardwareKind, Provenance, Source, SpeedRow

logger = logging.getLogger(__name__)

SPEED_COLUMNS: tuple[str, ...] = (
    "source_id", "hardware", "backend", "model", "params_b", "quant", "bpw", "model_size_gib",
    "test", "tokens_per_s", "ngl", "threads", "notes")
HARDWARE_COLUMNS: tuple[str, ...] = (
    "hardware", "kind", "memory_gb", "bandwidth_gbs", "fp16_tflops", "source", "fp16_basis",
    "cores_or_isa", "notes")
SPEED_OUT = "speed.jsonl"
SOURCES_OUT = "sources_speed.csv"
GIB = 2**30
_KINDS = {"gpu": HardwareKind.GPU, "apple": HardwareKind.APPLE, "cpu": HardwareKind.CPU,
          "apu": HardwareKind.APU, "apple-cpu": HardwareKind.CPU}
APPLE_CPU_NOTE = "hardware.csv kind 'apple-cpu' (Apple SoC, CPU cores only) read as cpu"
_HIGH_VARIANCE = 0.10  # stdev above this fraction of the mean flags the row
#: Sources whose params_b is a rounded integer (speed/SOURCES.md): the catalog's count wins.
ROUNDED_PARAMS_SOURCES = frozenset({"localmaxxing_via_llmfit"})


def _read_csv(path: Path, columns: tuple[str, ...]) -> list[tuple[int, dict[str, str]]]:
    """(first line number, record) pairs; a wrong header or field count names file:line."""
    if not path.is_file():
        raise DataFileError(path, None, "file does not exist")
    out = []
    with path.open(encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        missing = [c for c in columns if c not in (reader.fieldnames or [])]
        if missing:
            raise DataFileError(path, 1, f"missing columns {missing}, got "
                                f"{reader.fieldnames}, required {list(columns)}")
        start = reader.line_num + 1
        width = len(reader.fieldnames or [])
        for record in reader:
            extra = record.pop(None, None)  # type: ignore[call-overload]
            short = sum(v is None for v in record.values())
            if extra or short:
                raise DataFileError(path, start, f"expected {width} fields, "
                                    f"got {width + len(extra or []) - short}")
            out.append((start, {k: v.strip() for k, v in record.items()}))
            start = reader.line_num + 1
    return out




def _whole(path: Path, line: int, column: str, text: str) -> int | None:
    value = csv_number(path, line, column, text)
    if value is None:
        return None
    if value != int(value):
        raise DataFileError(path, line, f"{column} must be a whole number, got {text!r}")
    return int(value)


# ---------------------------------------------------------------------------------------------
# hardware.csv and SOURCES.md
# ---------------------------------------------------------------------------------------------

def read_hardware(path: Path) -> list[Hardware]:
    """Devices of ``hardware.csv``; a spec that is not one number becomes None with a note."""
    devices: list[Hardware] = []
    for line, rec in _read_csv(path, HARDWARE_COLUMNS):
        kind = _KINDS.get(rec["kind"].lower())
        if kind is None:
            raise DataFileError(path, line, f"kind must be one of {sorted(_KINDS)}, "
                                f"got {rec['kind']!r}")
        notes = [rec["notes"]] if rec["notes"] else []
        if rec["kind"].lower() == "apple-cpu":
            notes.append(APPLE_CPU_NOTE)
        specs: dict[str, float | None] = {}
        for column in ("memory_gb", "bandwidth_gbs", "fp16_tflops"):
            try:
                specs[column] = csv_number(path, line, column, rec[column])
            except DataFileError:
                specs[column] = None
                notes.append(f"{column} as published: {rec[column]!r} (not one number)")
            if specs[column] is not None and specs[column] <= 0:  # type: ignore[operator]
                raise DataFileError(path, line, f"{column} must be positive, got "
                                    f"{rec[column]!r}")
        try:
            devices.append(Hardware(
                name=rec["hardware"], kind=kind, fp16_basis=rec["fp16_basis"],
                cores_or_isa=rec["cores_or_isa"], source=rec["source"],
                notes="; ".join(notes), **specs))
        except ValidationError as e:
            raise DataFileError(path, line, str(e.errors()[0]["msg"])) from e
    names = Counter(d.name for d in devices)
    duplicated = [n for n, c in names.items() if c > 1]
    if duplicated:
        raise DataFileError(path, None, f"device names must be unique, got repeats {duplicated}")
    return devices


_ITEM = re.compile(r"^\d+\.\s+\*\*(?P<id>(?:[^*\\]|\\\*)+)\*\*:\s*(?P<text>.*)$")
_SUBITEM = re.compile(r"^\s+-\s+(?P<text>.*)$")


def read_citations(path: Path) -> dict[str, str]:
    """``source_id`` (or ``prefix*``) -> citation, from the numbered list of SOURCES.md.

    An item's sub-bullets are appended; for a ``prefix*`` item they are kept apart per line
    so :func:`citation_for` can pick the one naming the source's number.
    """
    if not path.is_file():
        raise DataFileError(path, None, "file does not exist")
    items: dict[str, list[str]] = {}
    current: str | None = None
    for raw in path.read_text(encoding="utf-8").splitlines():
        match = _ITEM.match(raw)
        if match:
            current = match.group("id").replace("\\", "").strip()
            items[current] = [_plain(match.group("text"))]
            continue
        sub = _SUBITEM.match(raw)
        if current and sub:
            items[current].append(_plain(sub.group("text")))
        elif not raw.strip() or raw.startswith("#"):
            current = None
    return {k: "\n".join(v) for k, v in items.items()}


def _plain(text: str) -> str:
    parts = text.split("`")  # odd parts are code spans: keep them as written
    text = "".join(p if i % 2 else p.replace("**", "") for i, p in enumerate(parts))
    return re.split(r"\s+Caveats?:", text)[0].strip()


def citation_for(source_id: str, citations: dict[str, str]) -> str | None:
    """The citation of ``source_id``: its own item, or the matching line of a ``prefix*`` item."""
    if source_id in citations:
        return citations[source_id].replace("\n", " | ")
    for key, text in citations.items():
        if key.endswith("*") and source_id.startswith(key[:-1]):
            head, *subs = text.split("\n")
            number = source_id[len(key) - 1:]
            picked = [s for s in subs if re.search(rf"#{re.escape(number)}\b", s)]
            return " | ".join([head, *picked]) if picked else head
    return None


# ---------------------------------------------------------------------------------------------
# speed rows
# ---------------------------------------------------------------------------------------------

def speed_files(shared_dir: Path) -> list[Path]:
    """The llama-bench CSVs of a shared data folder (every ``speed/*.csv`` but hardware)."""
    folder = shared_dir / "speed"
    files = sorted(p for p in folder.glob("*.csv") if p.name != HARDWARE_FILE)
    if not files:
        raise DataFileError(folder, None, "no speed CSV files (expected speed/*.csv)")
    return files


def build_row(path: Path, line: int, rec: dict[str, str], devices: dict[str, Hardware],
              catalog: CatalogIndex) -> SpeedRow:
    """One published llama-bench line as a :class:`SpeedRow`."""
    notes = rec["notes"]
    flags: list[str] = []
    remarks: list[str] = []
    excluded: list[str] = []
    num = {c: csv_number(path, line, c, "" if rec[c] == "None" else rec[c])
           for c in ("params_b", "bpw", "model_size_gib")}
    tokens = csv_number(path, line, "tokens_per_s", rec["tokens_per_s"], required=True)
    if tokens is None or tokens <= 0:
        raise DataFileError(path, line,
                            f"tokens_per_s must be positive, got {rec['tokens_per_s']!r}")
    if not rec["source_id"]:
        raise DataFileError(path, line, "source_id is empty")

    device, n_devices = split_hardware(rec["hardware"])
    renamed = SPEED_DEVICE_NAMES.get(device)
    environment: dict[str, object] = {}
    if renamed is not None and renamed.same:
        remarks.append(f"device {renamed.device!r} ({renamed.reason})")
        environment["hardware_as_published"] = device
        device = renamed.device
    hw = devices.get(device)
    if n_devices > 1:
        flags.append("multi_gpu")
    if hw is None:
        excluded.append(f"device {device!r} is not in hardware.csv")

    try:
        backend = parse_backend(rec["backend"], allow_blank=True)
    except InvalidInputError as e:
        raise DataFileError(path, line, str(e)) from e
    flags += backend.flags
    fork = backend.fork
    fork_note = re.search(r"\bfork=([\w.-]+)", notes)
    if fork is None and "llama.cpp" not in rec["backend"] and (
            fork_note or "ik_llama" in rec["source_id"]):
        fork = fork_note.group(1) if fork_note else IK_LLAMA
        remarks.append(f"fork {fork} from the {'notes' if fork_note else 'source'}")
    if fork:
        flags.append("fork")

    info = parse_notes(notes)
    info.environment.update(environment)
    if info.placement:
        flags.append("offload")
        info.environment["placement"] = info.placement
        excluded.append("weights partly in host memory (offload: " + "; ".join(
            f"{k}={v}" for k, v in info.placement.items()) + "): kept for the offload speed "
            "error, not for the all-on-device model")
    doubted = re.search(r"\bflag=([^;]*(?:source-side discrepancy|unusually low|far below)[^;]*)",
                        notes)
    if doubted:
        flags.append("source_flagged")
        excluded.append(f"the source doubts the figure: {doubted.group(1).strip()}")
    if "rpc" in backend.flags:
        excluded.append("layers split over networked hosts (llama.cpp RPC): the model has "
                        "no term for the network")
    build = re.search(r"\bbuild ([0-9a-f]{6,})/(\d+)", rec["backend"])
    if build and "llama_cpp_build" not in info.environment:
        info.environment["llama_cpp_build"] = f"{build.group(1)} ({build.group(2)})"
    if num["params_b"] is not None and num["params_b"] <= 0:
        remarks.append(f"params_b as published {rec['params_b']!r} is no parameter count")
        num["params_b"] = None
    model = parse_model(rec["model"], num["params_b"], source_id=rec["source_id"], notes=notes,
                        catalog=catalog)
    flags += model.flags
    remarks += model.remarks
    known = catalog.get(normalised(model.model))
    if known is not None and known[1] and (num["params_b"] is None or (
            rec["source_id"] in ROUNDED_PARAMS_SOURCES
            and abs(num["params_b"] - known[1]) > 0.05 * known[1])):
        remarks.append(f"params_b {known[1]:g} from the model catalog (published: "
                       f"{rec['params_b'] or 'blank'})")
        num["params_b"] = known[1]
        if not model.moe:
            model.active_params_b = known[1]
    quant = parse_quant(rec["quant"], model_published=rec["model"], notes=notes)
    if model.model.startswith("gpt-oss-") and quant.quant in ("F16", "BF16"):
        # speed/SOURCES.md: gpt-oss "F16" GGUFs keep the experts in MXFP4 (llama-bench prints
        # the file type of the rest); the experts are nearly all of the bytes
        quant = QuantLabel("MXFP4", None, ("float_non_experts",), f"gpt-oss {rec['quant']} "
                           f"file: experts in MXFP4, the rest {rec['quant']}")
    flags += quant.flags
    if quant.remark:
        remarks.append(quant.remark)
    if not quant.known:
        excluded.append(f"quant {rec['quant']!r} is not in the quant catalog "
                        "(advisor.vocabulary.quants)")

    model_bytes = round(num["model_size_gib"] * GIB) if num["model_size_gib"] else None
    bpw, bpw_basis = _bpw(num["bpw"], model_bytes, num["params_b"])
    if model_bytes is None:
        flags.append("no_model_size")
    if bpw_basis == "file_size" and quant.quant and _bpw_high(bpw, quant.quant):
        flags.append("bpw_above_quant_typical")
        remarks.append(f"file-size bpw {bpw:.2f} is over 1.25x the catalog's typical for "
                       f"{quant.quant}: the file may be a mixed quant or hold extra tensors")
    if info.params_elsewhere:
        flags.append("params_from_other_table")

    test = _test_name(rec["test"], info.depth)
    gpu_layers = _whole(path, line, "ngl", rec["ngl"])
    threads = _whole(path, line, "threads", rec["threads"])
    if gpu_layers == 0 and backend.backend not in ("cpu", "blas"):
        flags.append("no_gpu_offload")
    if hw is not None and hw.kind is HardwareKind.CPU and backend.backend not in ("cpu", "blas"):
        flags.append("gpu_backend_on_cpu_device")
    if hw is not None and APPLE_CPU_NOTE in hw.notes:
        flags.append("apple_cpu")
    if info.host_limit:
        flags.append("host_limited")
    if info.pr_build:
        flags.append("pr_build")
    if info.pr_thread:
        flags.append("pr_thread")
    if info.environment.get("hipblaslt"):
        flags.append("hipblaslt")
    if _high_variance(info, tokens, test, num["params_b"]):
        flags.append("high_variance")

    try:
        return SpeedRow(
            source_id=rec["source_id"], provenance=Provenance.PUBLISHED, run_id=None,
            model=model.model, model_as_published=rec["model"], model_family=model.family,
            params_b=num["params_b"], active_params_b=model.active_params_b, moe=model.moe,
            quant=quant.quant, quant_as_published=rec["quant"], quant_variant=quant.variant,
            imatrix=model.imatrix, bpw=bpw, bpw_basis=bpw_basis,
            flags=list(dict.fromkeys(flags)),
            excluded_reason="; ".join(excluded) or None,
            notes=notes + "".join(f" [import: {r}]" for r in remarks),
            hardware=device, hardware_kind=hw.kind if hw else None, n_devices=n_devices,
            backend=backend.backend, backend_detail=backend.detail, fork=fork, test=test,
            tokens_per_s=tokens, tokens_per_s_stdev=info.stdev, model_bytes=model_bytes,
            gpu_layers=gpu_layers, threads=threads, batch_size=info.batch_size,
            flash_attn=info.flash_attn, host_limit=info.host_limit,
            memory_gb=hw.memory_gb if hw else None, bandwidth_gbs=hw.bandwidth_gbs if hw else None,
            fp16_tflops=hw.fp16_tflops if hw else None, environment=info.environment)
    except ValidationError as e:
        problems = "; ".join(f"{'.'.join(map(str, err['loc']))}: {err['msg']} "
                             f"(got {err.get('input')!r})" for err in e.errors()[:3])
        raise DataFileError(path, line, problems) from e


def _bpw(stated: float | None, model_bytes: int | None, params_b: float | None
         ) -> tuple[float | None, Literal["stated", "file_size"] | None]:
    if stated is not None and stated > 0:
        return stated, "stated"
    if model_bytes and params_b and params_b > 0:
        # llama-bench's params count may differ from the model name's (embeddings, vision).
        return model_bytes * 8 / (params_b * 1e9), "file_size"
    return None, None


def _bpw_high(bpw: float | None, quant: str) -> bool:
    return bpw is not None and bpw > 1.25 * get_quant(quant).typical_bpw


def _test_name(test: str, depth: int | None) -> str:
    name = re.sub(r"\s+", "", test).lower()
    return f"{name}@d{depth}" if depth and "@d" not in name else name


def _high_variance(info: NotesInfo, tokens: float, test: str, params_b: float | None) -> bool:
    if info.stdev is not None and info.stdev > _HIGH_VARIANCE * tokens:
        return True
    for flagged_test, size in info.large_stdev_tests:
        if flagged_test == test and (size is None or (
                params_b is not None and abs(params_b - size) <= 0.25 * size)):
            return True
    return False


# ---------------------------------------------------------------------------------------------
# entry points
# ---------------------------------------------------------------------------------------------

def import_speed(shared_dir: Path) -> tuple[list[SpeedRow], list[Hardware], list[Source]]:
    """(rows, devices, sources) of a shared data folder; one row per input CSV line."""
    shared_dir = Path(shared_dir)
    published = read_hardware(shared_dir / "speed" / HARDWARE_FILE)
    devices = import_hardware(shared_dir, extra=published) \
        if (shared_dir / "hardware" / "devices.csv").is_file() else published
    by_name = {d.name: d for d in devices}
    citations = read_citations(shared_dir / "speed" / "SOURCES.md")
    catalog = read_catalog(shared_dir)
    rows: list[SpeedRow] = []
    for path in speed_files(shared_dir):
        records = _read_csv(path, SPEED_COLUMNS)
        rows += [build_row(path, line, rec, by_name, catalog) for line, rec in records]
        logger.info("%s: %d rows", path.name, len(records))
    sources = []
    for source_id in dict.fromkeys(r.source_id for r in rows):
        citation = citation_for(source_id, citations)
        if citation is None:
            raise DataFileError(shared_dir / "speed" / "SOURCES.md", None,
                                f"no citation for source_id {source_id!r}; cited: "
                                f"{sorted(citations)}")
        sources.append(Source(source_id=source_id, kind="speed", citation=citation))
    excluded = sum(not r.usable for r in rows)
    if excluded:
        logger.warning("%d of %d speed rows excluded", excluded, len(rows))
    return rows, devices, sources


def write_speed(shared_dir: Path, out_dir: Path) -> dict[str, object]:
    """Import and atomically write ``speed.jsonl``, ``hardware.csv`` and ``sources_speed.csv``
    under ``out_dir``; returns counts (rows, usable, excluded, by source/backend/kind/flag)."""
    rows, devices, sources = import_speed(shared_dir)
    out_dir = Path(out_dir)
    write_rows(out_dir / SPEED_OUT, rows)
    # the published table gives no thread counts: keep the file's columns
    write_csv_models(out_dir / HARDWARE_FILE, devices, omit_blank=HARDWARE_OMIT_BLANK)
    write_csv_models(out_dir / SOURCES_OUT, sources)
    return {
        "rows": len(rows),
        "usable": sum(r.usable for r in rows),
        "excluded": dict(Counter(r.excluded_reason for r in rows if not r.usable)),
        "hardware": len(devices),
        "sources": len(sources),
        "by_source": dict(Counter(r.source_id for r in rows)),
        "by_backend": dict(Counter(r.backend for r in rows)),
        "by_hardware_kind": dict(Counter(str(r.hardware_kind) for r in rows)),
        "by_flag": dict(Counter(f for r in rows for f in r.flags)),
    }
