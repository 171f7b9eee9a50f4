"""Hardware lookup: a device by name from ``measurements/hardware.csv``, or one described by specs.

Names match case-insensitively, ignoring spaces, dashes and underscores, and an unambiguous
part of a name is enough (``"rtx 3090"``, ``"M2 Pro"``). Multi-GPU setups (``"RTX 3090 x2"``)
are not single devices and are refused.
"""

from __future__ import annotations

import difflib
import logging
import math
import re
from pathlib import Path

from advisor.dataset import HARDWARE_FILE, default_measurements_dir, read_hardware_tables
from advisor.errors import InvalidInputError, UnknownNameError
from advisor.schema import Hardware, HardwareKind

log = logging.getLogger(__name__)

# "RTX 3090 x2", "RTX 3090 *2", "2x RTX 3090", "2 x RTX 3090" (counts 2-16)
_MULTI = re.compile(r"(?:\s[x×*]\s*(?:[2-9]|1[0-6])\s*$|^\s*(?:[2-9]|1[0-6])\s*[x×*]\s)",
                    re.IGNORECASE)
_KINDS = ", ".join(k.value for k in HardwareKind)


def load_hardware(folder: Path | None = None) -> dict[str, Hardware]:
    """Devices of ``folder/hardware.csv`` (published) and ``folder/hardware_measured.csv``
    (devices this project measured on) by name; ``folder`` defaults to ``measurements/``.

    A missing file gives an empty table; a malformed line raises DataFileError (file:line).
    """
    folder = Path(folder) if folder is not None else default_measurements_dir()
    path = folder / HARDWARE_FILE
    if not path.is_file():
        log.warning("no hardware table at %s", path)
        return {}
    return read_hardware_tables(folder)


def _key(text: str) -> str:
    return re.sub(r"[\s_\-]+", "", text.lower())


def _kind(kind: HardwareKind | str) -> HardwareKind:
    try:
        return HardwareKind(str(kind).strip().lower())
    except ValueError as e:
        raise InvalidInputError(f"kind must be one of {_KINDS}, got {kind!r}",
                                parameter="kind") from e


def _spec(name: str, value: float | None) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) \
            or value <= 0:
        raise InvalidInputError(f"{name} must be a finite number > 0, got {value!r}",
                                parameter=name)
    return float(value)


def find_device(name: str, table: dict[str, Hardware]) -> Hardware | None:
    """The table entry matching ``name`` exactly or as an unambiguous part; None if none.

    Several partial matches raise InvalidInputError listing them.
    """
    key = _key(name)
    exact = [h for n, h in table.items() if _key(n) == key]
    if exact:
        return exact[0]
    partial = [h for n, h in table.items() if key and key in _key(n)]
    if len(partial) == 1:
        return partial[0]
    if partial:
        names = ", ".join(sorted(h.name for h in partial))
        raise InvalidInputError(f"hardware {name!r} is ambiguous; it matches {names}; "
                                "give the full name", parameter="hardware")
    return None


def resolve_hardware(name: str | None = None, *, kind: HardwareKind | str | None = None,
                     bandwidth_gbs: float | None = None, fp16_tflops: float | None = None,
                     memory_gb: float | None = None,
                     table: dict[str, Hardware] | None = None) -> Hardware | None:
    """A device from its name and/or specs.

    * known name: the table entry, with any given spec overriding it;
    * unknown name with ``kind`` and ``bandwidth_gbs``: a custom device of that name;
    * unknown name without them: UnknownNameError (did-you-mean, and that specs may be given);
    * no name and no specs: None (nothing to resolve).

    ``table`` defaults to :func:`load_hardware`.
    """
    overrides = {"bandwidth_gbs": _spec("bandwidth_gbs", bandwidth_gbs),
                 "fp16_tflops": _spec("fp16_tflops", fp16_tflops),
                 "memory_gb": _spec("memory_gb", memory_gb)}
    given = {k: v for k, v in overrides.items() if v is not None}
    kind_value = _kind(kind) if kind is not None else None
    if name is not None and not name.strip():
        raise InvalidInputError("hardware name is empty; give a device name or leave it out",
                                parameter="hardware")
    if name is None:
        if kind_value is None and not given:
            return None
        return _custom("custom", kind_value, given)
    if _MULTI.search(name):
        raise InvalidInputError(
            f"hardware must be one device, got {name!r} (a multi-device setup); give the single "
            "device's name", parameter="hardware")
    table = load_hardware() if table is None else table
    found = find_device(name, table)
    if found is not None:
        update: dict[str, object] = dict(given)
        if kind_value is not None:
            update["kind"] = kind_value
        return found.model_copy(update=update) if update else found
    if kind_value is None or "bandwidth_gbs" not in given:
        raise _unknown(name, table)
    return _custom(name.strip(), kind_value, given)


def _similarity(key: str, known: str) -> float:
    """Best match of ``key`` against equally long windows of ``known`` (both normalised)."""
    width = min(len(key), len(known))
    windows = [known[i:i + width] for i in range(len(known) - width + 1)] or [known]
    return max(difflib.SequenceMatcher(None, key, w).ratio() for w in windows)


def _unknown(name: str, table: dict[str, Hardware]) -> UnknownNameError:
    error = UnknownNameError("hardware", name, table, parameter="hardware")
    if not error.suggestions:
        scored = sorted(((_similarity(_key(name), _key(n)), n) for n in table), reverse=True)
        error.suggestions = [n for score, n in scored[:3] if score >= 0.7]
    hint = (f" Did you mean {', '.join(repr(s) for s in error.suggestions)}?"
            if error.suggestions else "")
    names = sorted(table, key=str.lower)
    listing = (", ".join(names[:60]) + (", ..." if len(names) > 60 else "")) or "(none)"
    error.args = (f"unknown hardware {name!r}.{hint} Known: {listing}. For an unlisted device "
                  f"give its specs: kind ({_KINDS}) and bandwidth_gbs at least (fp16_tflops "
                  "and memory_gb help)",)
    return error


def _custom(name: str, kind: HardwareKind | None, given: dict[str, float]) -> Hardware:
    if kind is None or "bandwidth_gbs" not in given:
        raise InvalidInputError(
            f"a device described by specs needs kind ({_KINDS}) and bandwidth_gbs at least, "
            f"got kind={kind.value if kind else None!r}, specs={sorted(given)}",
            parameter="hardware")
    return Hardware(name=name, kind=kind, source="user-given specs",
                    bandwidth_gbs=given["bandwidth_gbs"], fp16_tflops=given.get("fp16_tflops"),
                    memory_gb=given.get("memory_gb"))
