"""Hardware lookup: a device by name from ``measurements/hardware.csv``, or one described by specs.

Names match case-insensitively, ignoring spaces, dashes and underscores; so do the aliases users
type (``"rtx 5090"``, ``"strix halo"``, ``"m4 max 40 core"``), and the words of a name with its
model number are enough (``"rtx 3090"``, ``"M2 Pro"``): see :func:`find_device`. A name the table
does not list is never answered with another device: it gets "did you mean".

Several identical GPUs that llama.cpp splits the model's layers over (its default
``--split-mode layer``) are asked for with a count on the name, ``"RTX 3090 x2"`` (also
``"×2"``, ``"*2"``) or ``"2x RTX 3090"`` (``"2 x RTX 3090"``), or with the ``devices`` argument
of :func:`resolve_hardware`; 2 to :data:`MAX_DEVICES` devices. The answer is the single
device's entry (its specs are per device) with ``n_devices`` set and the name
``"<device name> x<count>"``. Only discrete GPUs (kind ``gpu``) are combined: llama.cpp does not
split a model over Apple, CPU or APU devices.

A thread count (``threads``: the CPU threads llama.cpp runs with, 1 to :data:`MAX_THREADS`) can
be given with either; it overrides a named device's value. It is kept for any kind of device
but only matters for CPU devices (kind ``cpu``), whose speed it bounds.
"""

from __future__ import annotations

import difflib
import logging
import math
import re
from functools import lru_cache
from pathlib import Path

from advisor.data.dataset import HARDWARE_FILE, default_measurements_dir, read_hardware_tables
from advisor.vocabulary.errors import InvalidInputError, UnknownNameError
from advisor.vocabulary.schema import Hardware, HardwareKind

log = logging.getLogger(__name__)

# "RTX 3090 x2", "RTX 3090 ×2", "RTX 3090 *2" | "2x RTX 3090", "2 x RTX 3090": any count is
# captured here, so that counts outside 2-MAX_DEVICES get a clear refusal.
_SUFFIX = re.compile(r"^(?P<name>.*\S)\s+[x×*]\s*(?P<count>\d+)\s*$", re.IGNORECASE)
_PREFIX = re.compile(r"^\s*(?P<count>\d+)\s*[x×*]\s+(?P<name>\S.*)$", re.IGNORECASE)
_KINDS = ", ".join(k.value for k in HardwareKind)
#: The most CPU threads a device may be given (more than any single host runs llama.cpp with).
MAX_THREADS = 1024
#: The most identical GPUs a model's layers may be split over.
MAX_DEVICES = 16


def load_hardware(folder: Path | None = None) -> dict[str, Hardware]:
    """Devices of ``folder/hardware.csv`` (published) completed by ``folder/hardware_added.csv``
    (devices this project measured on, specs the published table leaves blank) by name;
    ``folder`` defaults to ``measurements/``.

    A missing file gives an empty table; a malformed line raises DataFileError (file:line).
    """
    folder = Path(folder) if folder is not None else default_measurements_dir()
    path = folder / HARDWARE_FILE
    if not path.is_file():
        log.warning("no hardware table at %s", path)
        return {}
    return read_hardware_tables(folder)


@lru_cache(maxsize=8192)  # table names and aliases, asked for on every request
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


def _count(value: object, parameter: str, top: int, meaning: str) -> int | None:
    """A whole number from 1 to ``top`` (``8.0`` is 8; bools refused), or None if not given."""
    if value is None:
        return None
    count: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        count = value
    elif isinstance(value, float) and math.isfinite(value) and value.is_integer():
        count = int(value)
    if count is None or not 1 <= count <= top:
        raise InvalidInputError(
            f"{parameter} must be a whole number from 1 to {top} ({meaning}), got {value!r}",
            parameter=parameter)
    return count


def _threads(value: object) -> int | None:
    return _count(value, "threads", MAX_THREADS, "the CPU threads llama.cpp runs with")


def _devices(value: object) -> int | None:
    return _count(value, "devices", MAX_DEVICES,
                  "identical GPUs the model's layers are split over; 1 = one device")


def split_count(name: str) -> tuple[str, int | None]:
    """(device name, count) of ``"NAME x2"`` / ``"NAME ×2"`` / ``"NAME *2"`` / ``"2x NAME"`` /
    ``"2 x NAME"``; (name, None) without a count. A count outside 2 to :data:`MAX_DEVICES`
    raises InvalidInputError (parameter ``hardware``).

    >>> split_count("RTX 3090 x2"), split_count("4x RTX 4090"), split_count("RTX 3090")
    (('RTX 3090', 2), ('RTX 4090', 4), ('RTX 3090', None))
    """
    match = _SUFFIX.match(name) or _PREFIX.match(name)
    if match is None:
        return name.strip(), None
    count = int(match.group("count"))
    if not 2 <= count <= MAX_DEVICES:
        raise InvalidInputError(
            f"hardware {name!r} asks for {count} devices; a multi-GPU setup is 2 to "
            f"{MAX_DEVICES} identical GPUs (e.g. 'RTX 3090 x2' or '2x RTX 3090'); for one "
            "device give its name alone", parameter="hardware")
    return match.group("name").strip(), count


_VENDOR_WORDS = re.compile(r"^(?:nvidia|geforce|amd|radeon|intel|apple|qualcomm|snapdragon)\s+",
                           re.IGNORECASE)


@lru_cache(maxsize=8192)
def _tokens(text: str) -> frozenset[str]:
    return frozenset(re.findall(r"[a-z0-9]+", text.lower()))


def _alias_keys(device: Hardware) -> set[str]:
    return {_key(a) for a in device.aliases}


def find_device(name: str, table: dict[str, Hardware]) -> Hardware | None:
    """The table entry ``name`` means; None when it names none (never a different device).

    In order: the full name (case, spaces, dashes and underscores ignored); an alias users
    type (``"rtx 5090"``, ``"strix halo"``, ``"m4 max 40 core"``; also after a leading vendor
    word, ``"apple m4 pro"``); then the devices whose names hold every word of ``name`` as a
    whole word, where ``name`` has a model number (a word with a digit: ``"rtx 3090"``,
    ``"7950x"``), taking the one with the fewest other words (``"RTX 4070"`` is the 4070, not
    the 4070 Ti). Several equally good matches raise InvalidInputError listing them; a name
    without a model number (``"threadripper"``) matches no device by its words alone.
    """
    key = _key(name)
    exact = [h for n, h in table.items() if _key(n) == key]
    if exact:
        return exact[0]
    keys = {key, _key(_VENDOR_WORDS.sub("", name.strip()))}
    aliased = [h for h in table.values() if keys & _alias_keys(h)]
    if len(aliased) == 1:
        return aliased[0]
    words = _tokens(name)
    if not words or not any(re.search(r"\d", w) for w in words):
        return None
    matches = [(len(_tokens(n) - words), n, h) for n, h in table.items()
               if words <= _tokens(n) | {t for a in h.aliases for t in _tokens(a)}]
    if not matches:
        return None
    fewest = min(m[0] for m in matches)
    best = [(n, h) for extra, n, h in matches if extra == fewest]
    if len(best) == 1:
        return best[0][1]
    names = ", ".join(sorted(n for n, _ in best))
    raise InvalidInputError(f"hardware {name!r} is ambiguous; it matches {names}; "
                            "give the full name", parameter="hardware")


#: An Apple chip named with its GPU cores and memory size, as ``detect`` and the table write it:
#: "Apple M4 Max (40-core GPU, 128GB)".
_APPLE_SIZED = re.compile(r"^\s*(?P<chip>\S.*?)\s*\(\s*(?P<cores>\d+)\s*-?\s*core\s+GPU\s*,\s*"
                          r"(?P<gb>\d+(?:\.\d+)?)\s*GB\s*\)\s*$", re.IGNORECASE)


def apple_configuration(chip: str, gpu_cores: int, memory_gb: float,
                        table: dict[str, Hardware]) -> Hardware | None:
    """The table's Apple ``chip`` with ``gpu_cores`` GPU cores and ``memory_gb`` of unified
    memory: its row where the table lists that size, else a listed size of the same chip and
    GPU cores with the memory set (the table lists most chips once, at one size; memory size
    does not change a chip's bandwidth or FP16 figures). None when the pair is not listed."""
    size = f"{memory_gb:g}GB"
    prefix = _key(f"{chip} ({gpu_cores}-core GPU")
    same = [h for n, h in table.items() if h.kind is HardwareKind.APPLE
            and re.fullmatch(re.escape(prefix) + r"(\)|,.*)", _key(n))]
    if not same:
        return None
    exact = [h for h in same if _key(h.name).endswith(f",{_key(size)})")]
    if exact:
        return exact[0]
    sibling = same[0]
    name = f"{sibling.name.split(' (')[0]} ({gpu_cores}-core GPU, {size})"
    return sibling.model_copy(update={
        "name": name, "memory_gb": memory_gb, "aliases": (), "listed_as": sibling.name,
        "notes": f"bandwidth and FP16 of the table's {sibling.name} (same chip and GPU cores; "
                 "memory size does not change them)"})


def _apple_sized(name: str, table: dict[str, Hardware]) -> Hardware | None:
    """:func:`apple_configuration` for a name such as "Apple M4 Max (40-core GPU, 128GB)"."""
    match = _APPLE_SIZED.match(name)
    if match is None:
        return None
    chip = match["chip"] if match["chip"].lower().startswith("apple") else f"Apple {match['chip']}"
    return apple_configuration(chip, int(match["cores"]), float(match["gb"]), table)


def resolve_hardware(name: str | None = None, *, kind: HardwareKind | str | None = None,
                     bandwidth_gbs: float | None = None, fp16_tflops: float | None = None,
                     memory_gb: float | None = None, threads: int | None = None,
                     devices: int | None = None,
                     table: dict[str, Hardware] | None = None) -> Hardware | None:
    """A device from its name and/or specs.

    * known name: the table entry, with any given spec overriding it;
    * unknown name with ``kind`` and ``bandwidth_gbs``: a custom device of that name;
    * unknown name without them: UnknownNameError (did-you-mean, and that specs may be given);
    * no name and no specs: None (nothing to resolve).

    ``threads`` (CPU threads llama.cpp runs with, 1 to :data:`MAX_THREADS`) overrides a named
    device's value and is stored with a device given by specs; it is accepted for any kind
    but only matters for kind ``cpu``. Given without a device (no name, no specs) it is an
    InvalidInputError, as a thread count describes nothing then (as is ``devices`` > 1).

    Several identical GPUs: a count on the name (``"RTX 3090 x2"``, ``"2x RTX 3090"``; see
    :func:`split_count`) or ``devices`` (1 to :data:`MAX_DEVICES`, 1 = one device); given both,
    they must agree. The result is the one device, specs per device, with ``n_devices`` set
    and ``" x<count>"`` added to its name (``"custom x2"`` for specs without a name). Only kind
    ``gpu`` is combined.

    ``table`` defaults to :func:`load_hardware`.
    """
    overrides = {"bandwidth_gbs": _spec("bandwidth_gbs", bandwidth_gbs),
                 "fp16_tflops": _spec("fp16_tflops", fp16_tflops),
                 "memory_gb": _spec("memory_gb", memory_gb)}
    given = {k: v for k, v in overrides.items() if v is not None}
    n_threads = _threads(threads)
    n_given = _devices(devices)
    kind_value = _kind(kind) if kind is not None else None
    if name is not None and not name.strip():
        raise InvalidInputError("hardware name is empty; give a device name or leave it out",
                                parameter="hardware")
    if name is None:
        if kind_value is None and not given:
            # (devices=1, one device, is the default and asks for nothing)
            for value, parameter in ((n_threads, "threads"), (n_given, "devices")):
                if value is not None and not (parameter == "devices" and value == 1):
                    raise InvalidInputError(
                        f"{parameter} needs the hardware: give a hardware name from /hardware "
                        "or its specs (kind and bandwidth_gbs)", parameter=parameter)
            return None
        return _combine(_custom("custom", kind_value, given, n_threads), n_given, "devices")
    table = load_hardware() if table is None else table
    count: int | None = None
    if _key(name) not in {_key(n) for n in table}:  # a listed name is one device as it is
        name, count = split_count(name)
    if count is not None and n_given is not None and n_given != count:
        raise InvalidInputError(
            f"devices={n_given} disagrees with the {count} devices in the hardware name; give "
            "the count once (in the name, e.g. 'RTX 3090 x2', or as devices)",
            parameter="devices")
    n_devices = count if count is not None else n_given
    parameter = "hardware" if count is not None else "devices"
    found = find_device(name, table) or _apple_sized(name, table)
    if found is not None:
        update: dict[str, object] = dict(given)
        if kind_value is not None:
            update["kind"] = kind_value
        if n_threads is not None:
            update["threads"] = n_threads
        return _combine(found.model_copy(update=update) if update else found, n_devices,
                        parameter)
    if kind_value is None or "bandwidth_gbs" not in given:
        raise _unknown(name, table)
    return _combine(_custom(name.strip(), kind_value, given, n_threads), n_devices, parameter)


def _combine(device: Hardware, count: int | None, parameter: str) -> Hardware:
    """``device`` as ``count`` identical GPUs with layers split over them (1 or None: itself);
    ``parameter`` is where the count came from (for the error of a device that is no GPU)."""
    if count is None or count == 1:
        return device
    if device.kind is not HardwareKind.GPU:
        raise InvalidInputError(
            "only discrete GPUs are split across devices by llama.cpp; got "
            f"{count} x {device.name!r} of kind {device.kind.value}", parameter=parameter)
    return device.model_copy(update={"name": f"{device.name} x{count}", "n_devices": count})


def _similarity(key: str, known: str) -> float:
    """Best match of ``key`` against equally long windows of ``known`` (both normalised)."""
    width = min(len(key), len(known))
    windows = [known[i:i + width] for i in range(len(known) - width + 1)] or [known]
    return max(difflib.SequenceMatcher(None, key, w).ratio() for w in windows)


def _unknown(name: str, table: dict[str, Hardware]) -> UnknownNameError:
    error = UnknownNameError("hardware", name, table, parameter="hardware")
    # names and the aliases users type, each pointing at its device
    spellings = {n: n for n in table} | {a: n for n, h in table.items() for a in h.aliases}
    close = difflib.get_close_matches(_key(name), [_key(s) for s in spellings], n=6, cutoff=0.75)
    by_key = {_key(s): n for s, n in spellings.items()}
    suggestions = list(dict.fromkeys([by_key[c] for c in close] + error.suggestions))[:3]
    if not suggestions:
        scored = sorted(((_similarity(_key(name), _key(n)), n) for n in table), reverse=True)
        suggestions = [n for score, n in scored[:3] if score >= 0.7]
    error.suggestions = suggestions
    hint = (f" Did you mean {', '.join(repr(s) for s in error.suggestions)}?"
            if error.suggestions else "")
    names = sorted(table, key=str.lower)
    listing = (", ".join(names[:60]) + (", ..." if len(names) > 60 else "")) or "(none)"
    error.args = (f"unknown hardware {name!r}.{hint} Known: {listing}. For an unlisted device "
                  f"give its specs: kind ({_KINDS}) and bandwidth_gbs at least (fp16_tflops "
                  "and memory_gb help)",)
    return error


def _custom(name: str, kind: HardwareKind | None, given: dict[str, float],
            threads: int | None = None) -> Hardware:
    if kind is None or "bandwidth_gbs" not in given:
        raise InvalidInputError(
            f"a device described by specs needs kind ({_KINDS}) and bandwidth_gbs at least, "
            f"got kind={kind.value if kind else None!r}, specs={sorted(given)}",
            parameter="hardware")
    return Hardware(name=name, kind=kind, source="user-given specs",
                    bandwidth_gbs=given["bandwidth_gbs"], fp16_tflops=given.get("fp16_tflops"),
                    memory_gb=given.get("memory_gb"), threads=threads)
