"""Batch predictions: ``quant-advisor predict --input cases.csv --output preds.csv``.

Input columns, any of which may be blank: ``model, params_b, quant, bpw, task_category, metric,
hardware, kind, backend, bandwidth_gbs, fp16_tflops, memory_gb, threads, n_devices, test,
build``. Names are read as users write them: ``hardware`` as the hardware table resolves it
(``rtx 5090``, ``strix halo``: :func:`advisor.data.hardware.find_device`; an unknown name is
never answered with another device), ``model`` as the catalog spells it or as an uploader's
repository or file names it (``unsloth/gemma-4-26B-A4B-it-GGUF``), ``quant`` also as an
uploader's scheme (``UD-Q4_K_XL``: its base type; see
:func:`advisor.vocabulary.quants.parse_quant_name`).
``build`` is the llama.cpp build to predict for (``b6077``, ``6077`` or a date ``2025-08-05``);
blank: the newest build the predictor was trained on, which ``pred_build`` names.
``threads`` is the CPU threads llama.cpp runs with (a whole number, 1-1024; blank = the
device's, else unknown and the speed predictor assumes a default); it only matters for CPU
devices. ``n_devices`` is the number of identical GPUs the layers are split over (a whole
number, 1-16; blank = 1); a hardware name with a count, ``NVIDIA GeForce RTX 3090 x2``, says the
same (the two must agree). Device specs are one device's.

The output has the same rows and columns plus ``pred_tokens_per_s, pred_tokens_per_s_low,
pred_tokens_per_s_high, pred_build`` for rows with a test, and ``pred_retention, pred_retention_low,
pred_retention_high, pred_ppl_ratio, pred_kld`` for rows with a quant (or bits per weight).

Blanks are filled where the project knows the answer: ``params_b`` (and MoE active
parameters) from the model catalog, device specs and thread count from the hardware table
(given ones win), bits per weight from the quant catalog. A row that still lacks what a
prediction needs gets blank predictions and a reason in ``pred_note``; it never stops the
batch.
"""

from __future__ import annotations

import logging
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd

from advisor.data.catalog import Catalog, ModelSpec, load_catalog
from advisor.data.hardware import MAX_DEVICES, MAX_THREADS, find_device, load_hardware, split_count
from advisor.data.importers.speed_models import clean_model_name, normalised
from advisor.data.moe_active import MOE_ACTIVE_PARAMS
from advisor.data.naming import parse_quant_label
from advisor.predictors.speed import build_name
from advisor.predictors.speed_features import build_number_year, year_of
from advisor.vocabulary.errors import AdvisorError, DataFileError, InvalidInputError
from advisor.vocabulary.quants import QuantType, find_quant, parse_quant_name
from advisor.vocabulary.schema import Hardware, parse_test
from advisor.vocabulary.settings import Settings, get_settings

log = logging.getLogger(__name__)

INPUT_COLUMNS = ("model", "params_b", "quant", "bpw", "task_category", "metric", "hardware",
                 "kind", "backend", "bandwidth_gbs", "fp16_tflops", "memory_gb", "threads",
                 "n_devices", "test", "build")
SPEED_OUT = ("pred_tokens_per_s", "pred_tokens_per_s_low", "pred_tokens_per_s_high")
QUALITY_OUT = ("pred_retention", "pred_retention_low", "pred_retention_high", "pred_ppl_ratio",
               "pred_kld")
KINDS = ("gpu", "apple", "cpu", "apu")
_ACTIVE_RE = re.compile(r"[-_ ]A(\d+(?:\.\d+)?)B\b", re.IGNORECASE)
_PARAMS_RE = re.compile(r"(\d+(?:\.\d+)?)\s*[Bb]\b")


def read_cases(path: Path) -> pd.DataFrame:
    """Read a cases CSV; unknown extra columns are kept, missing ones added blank."""
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except FileNotFoundError as e:
        raise DataFileError(path, None, "input file does not exist") from e
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as e:
        raise DataFileError(path, None, f"not a readable CSV: {e}") from e
    if not set(INPUT_COLUMNS) & set(frame.columns):
        raise DataFileError(path, 1, f"no known column; expected some of {', '.join(INPUT_COLUMNS)}"
                            f", got {', '.join(frame.columns)}")
    for col in INPUT_COLUMNS:
        if col not in frame.columns:
            frame[col] = ""
    return frame


def _num(text: str, column: str, line: int) -> float:
    text = text.strip()
    if not text:
        return math.nan
    try:
        value = float(text)
    except ValueError as e:
        raise InvalidInputError(f"line {line}: {column} must be a number, got {text!r}",
                                parameter=column) from e
    if not math.isfinite(value) or value <= 0:
        raise InvalidInputError(f"line {line}: {column} must be a positive number, got {text!r}",
                                parameter=column)
    return value


def _count(text: str, line: int, column: str, top: int, meaning: str) -> float:
    """A count cell: NaN when blank, else a whole number from 1 to ``top``."""
    text = text.strip()
    if not text:
        return math.nan
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value.is_integer() and 1 <= value <= top):
        raise InvalidInputError(f"line {line}: {column} must be a whole number from 1 to {top} "
                                f"({meaning}), got {text!r}", parameter=column)
    return value


def _threads(text: str, line: int) -> float:
    return _count(text, line, "threads", MAX_THREADS, "CPU threads")


def _devices(text: str, line: int) -> float:
    return _count(text, line, "n_devices", MAX_DEVICES,
                  "identical GPUs the layers are split over")


def _find(text: str, hardware: dict[str, Hardware], line: int) -> Hardware | None:
    try:
        return find_device(text, hardware) if text else None
    except InvalidInputError as e:  # an ambiguous name: say which line
        raise InvalidInputError(f"line {line}: {e}", parameter="hardware") from e


def _device_and_count(text: str, given: float, hardware: dict[str, Hardware],
                      line: int) -> tuple[str, Hardware | None, float]:
    """(one device's name, its table entry or None, device count) of a hardware cell, which
    may carry a count (``NAME x2``, ``2x NAME``) that must agree with the n_devices cell."""
    device = _find(text, hardware, line)
    count = None
    if device is None and text:
        try:
            base, count = split_count(text)
        except InvalidInputError as e:
            raise InvalidInputError(f"line {line}: {e}", parameter="hardware") from e
        if count is not None:
            text, device = base, _find(base, hardware, line)
    if device is not None:
        text = device.name
    if count is not None and not math.isnan(given) and given != count:
        raise InvalidInputError(f"line {line}: n_devices {given:g} disagrees with the {count} "
                                f"devices in the hardware name {text!r}", parameter="n_devices")
    n = float(count) if count is not None else (1.0 if math.isnan(given) else given)
    return text, device, n


def catalog_model(model: str, catalog: Catalog) -> ModelSpec | None:
    """The catalog entry a model name means: the name itself, else the name without an
    uploader's repository, file, quant and chat suffixes (``unsloth/gemma-4-26B-A4B-it-GGUF``
    -> ``gemma-4-26B-A4B-it``), compared without a chat suffix; None when none matches."""
    by_key = {normalised(n): n for n in catalog.names} | {n.lower(): n for n in catalog.names}
    for candidate in (model, clean_model_name(model)[0]):
        for key in (candidate.strip().lower(), normalised(candidate)):
            if key in by_key:
                return catalog.get(by_key[key])
    return None


def _params_from_name(model: str, catalog: Catalog) -> tuple[float, float]:
    """(total, active) billions from the catalog, else from the name (``8B``, ``30B-A3B``) and
    the model cards of MoE models whose names do not say it (``gpt-oss-20b``)."""
    spec = catalog_model(model, catalog)
    if spec is not None and spec.params_b is not None:
        return spec.params_b, spec.active_params_b or spec.params_b
    base = clean_model_name(model)[0]
    active = _ACTIVE_RE.search(base)
    total = _PARAMS_RE.search(_ACTIVE_RE.sub("", base))
    t = float(total.group(1)) if total else math.nan
    if active:
        return t, float(active.group(1))
    card = MOE_ACTIVE_PARAMS.get(base.lower())
    return t, card if card is not None else t


def _quant_of(label: str) -> QuantType | None:
    """The catalog type of a label, also for uploaders' schemes such as ``UD-Q4_K_XL`` (their
    base type) and labels with tags (``Q4_K_M [imatrix]``)."""
    named = parse_quant_name(label)
    if named is not None:
        return named.quant
    try:
        parsed = parse_quant_label(label)
    except AdvisorError:
        return None
    return find_quant(parsed.quant or parsed.base_type or "")


def _build_year(text: str, line: int) -> float:
    """A build cell (``b6077``, ``6077``, ``2025-08-05``) as a fractional year; NaN if blank."""
    text = text.strip()
    if not text:
        return math.nan
    number = re.fullmatch(r"b?(\d{3,6})", text, re.IGNORECASE)
    if number:
        return build_number_year(int(number.group(1)))
    year = year_of(text)
    if math.isnan(year):
        raise InvalidInputError(f"line {line}: build must be a llama.cpp build number (b6077 or "
                                f"6077) or a date (2025-08-05), got {text!r}", parameter="build")
    return year


def prepare(cases: pd.DataFrame, catalog: Catalog,
            hardware: dict[str, Hardware]) -> tuple[pd.DataFrame, list[str]]:
    """The predictor inputs for every case, and a note per case ('' when complete)."""
    rows, notes = [], []
    for i, case in enumerate(cases.to_dict("records")):
        line = i + 2
        note: list[str] = []
        model = case["model"].strip()
        params = _num(case["params_b"], "params_b", line)
        total, active = _params_from_name(model, catalog) if model else (math.nan, math.nan)
        if math.isnan(params):
            params = total
        if math.isnan(active) or active > params:
            active = params
        quant_name, family = None, None
        if case["quant"].strip():
            q = _quant_of(case["quant"])
            if q is None:
                note.append(f"unknown quant {case['quant']!r}")
            else:
                quant_name, family = q.name, q.family.value
        bpw = _num(case["bpw"], "bpw", line)
        if math.isnan(bpw) and quant_name:
            q = find_quant(quant_name)
            bpw = q.typical_bpw if q else math.nan
        name, device, n_devices = _device_and_count(
            case["hardware"].strip(), _devices(case["n_devices"], line), hardware, line)
        kind = case["kind"].strip().lower() or (device.kind.value if device else "")
        if kind and kind not in KINDS:
            raise InvalidInputError(f"line {line}: kind must be one of {', '.join(KINDS)}, "
                                    f"got {case['kind']!r}", parameter="kind")
        if n_devices > 1 and kind and kind != "gpu":
            raise InvalidInputError(f"line {line}: only discrete GPUs are split across devices "
                                    f"by llama.cpp; got n_devices {n_devices:g} of kind {kind}",
                                    parameter="n_devices")
        spec = {c: _num(case[c], c, line) for c in ("bandwidth_gbs", "fp16_tflops", "memory_gb")}
        for c, v in spec.items():
            if math.isnan(v) and device is not None and getattr(device, c) is not None:
                spec[c] = float(getattr(device, c))
        threads = _threads(case["threads"], line)
        if math.isnan(threads) and device is not None and device.threads is not None:
            threads = float(device.threads)
        n_prompt = n_gen = depth = 0
        if case["test"].strip():
            try:
                n_prompt, n_gen, depth = parse_test(case["test"].strip())
            except ValueError as e:
                raise InvalidInputError(f"line {line}: {e}", parameter="test") from e
        rows.append({
            "model": model or None, "params_b": params, "active_params_b": active,
            "quant": quant_name, "quant_family": family, "bpw": bpw,
            "task_category": case["task_category"].strip().lower() or None,
            "model_family": None, "model_bytes": params * 1e9 * bpw / 8,
            "n_prompt": n_prompt, "n_gen": n_gen, "depth": depth, "hardware_kind": kind or None,
            "backend": case["backend"].strip().lower() or None,
            "hardware": name or None, **spec, "threads": threads, "n_devices": n_devices,
            "fp16_basis": device.fp16_basis if device is not None else "",
            "fp16_tensor_tflops": device.fp16_tensor_tflops if device is not None else None,
            "build_year": _build_year(case["build"], line),
        })
        notes.append("; ".join(note))
    return pd.DataFrame.from_records(rows, index=cases.index), notes


def speed_answerable(query: pd.DataFrame) -> pd.Series:
    """Which prepared cases hold what a speed prediction needs: a size (``params_b`` and a
    quant or bpw) and a device (a kind and its bandwidth)."""
    return query["params_b"].notna() & query["bpw"].notna() & \
        query["hardware_kind"].notna() & query["bandwidth_gbs"].notna()


def predict_cases(cases: pd.DataFrame, predictors: object, catalog: Catalog,
                  hardware: dict[str, Hardware]) -> pd.DataFrame:
    """``cases`` plus the prediction columns (blank where a case lacks what is needed)."""
    query, notes = prepare(cases, catalog, hardware)
    out = cases.copy()
    for col in (*SPEED_OUT, *QUALITY_OUT):
        out[col] = np.nan
    out["pred_build"] = ""
    has_test = cases["test"].str.strip() != ""
    speed_ok = has_test & speed_answerable(query)
    for i in np.flatnonzero(has_test & ~speed_ok):
        notes[i] = "; ".join(filter(None, [notes[i], "speed needs params_b, quant or bpw, and "
                                           "a known hardware name or kind + bandwidth_gbs"]))
    if speed_ok.any():
        speed = predictors.speed  # type: ignore[attr-defined]
        pred = speed.predict(query[speed_ok])
        for src, dst in zip(("tokens_per_s", "tokens_per_s_low", "tokens_per_s_high"), SPEED_OUT,
                            strict=True):
            out.loc[speed_ok, dst] = pred[src].to_numpy()
        newest = getattr(speed, "assumed_build", "")
        asked = query.loc[speed_ok, "build_year"]
        out.loc[speed_ok, "pred_build"] = np.where(
            asked.notna(), asked.map(lambda y: build_name(y) if y == y else ""), newest)
    quality_ok = query["bpw"].notna() & query["params_b"].notna()
    wants_quality = (cases["quant"].str.strip() != "") | (cases["bpw"].str.strip() != "")
    for i in np.flatnonzero(wants_quality & ~quality_ok):
        notes[i] = "; ".join(filter(None, [notes[i], "quality needs params_b (or a known "
                                           "model) and a known quant or bpw"]))
    if quality_ok.any():
        pred = predictors.quality.predict(query[quality_ok])  # type: ignore[attr-defined]
        for src, dst in zip(("retention", "retention_low", "retention_high", "ppl_ratio", "kld"),
                            QUALITY_OUT, strict=True):
            out.loc[quality_ok, dst] = pred[src].to_numpy()
    out["pred_note"] = notes
    return out


def predict_file(input_path: Path, output_path: Path, settings: Settings | None = None) -> int:
    """Read cases, predict, write the output CSV atomically; returns the number of rows."""
    from advisor.data.dataset import atomic_write_text
    from advisor.predictors.artifacts import load_predictors

    settings = settings or get_settings()
    cases = read_cases(input_path)
    predictors = load_predictors(settings.models_dir)
    catalog = load_catalog(settings.catalog_path, settings.added_models_path)
    result = predict_cases(cases, predictors, catalog, load_hardware(settings.measurements_dir))
    atomic_write_text(output_path, result.to_csv(index=False))
    return len(result)
