"""Validating measurement rows sent to the service, one by one, before they are stored.

Beyond the measurement schema (:mod:`advisor.vocabulary.schema`: types, checked strictly as
the OpenAPI schema states them, finite numbers, plausible ranges, bounded free-form fields), a
row sent over HTTP must keep its shape within
bounds (checked first and without recursion, so a body nested thousands of levels deep is a
clear rejection, not a crash), must name a known quant (when ``quant`` is set), must not claim
to be ``predicted`` (predictions are never training data), and a speed row must not be faster
than its device's specs allow (:func:`advisor.predictors.speed_features.over_physical_ceiling`: a
failed run or a wrong test name) nor derive quantities too large for a float. Each rejected row
gets reasons of the form *field: what, got, allowed*; the others are stored.

The same checks screen the stored rows before each retraining
(:mod:`advisor.service.retrain`): a row stored under older, looser rules that fails them is
quarantined with these reasons instead of breaking the training.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, Field, ValidationError

from advisor.data.dataset import rows_frame
from advisor.predictors.speed_features import (
    BANDWIDTH_CEILING,
    FLOPS_CEILING,
    over_physical_ceiling,
    roofline_ratio,
    speed_features,
)
from advisor.service.store import ROW_ADAPTER
from advisor.vocabulary.quants import find_quant, known_names
from advisor.vocabulary.schema import MAX_ENVIRONMENT_DEPTH, Provenance, Row, SpeedRow

log = logging.getLogger(__name__)

MAX_NAME_CHARS = 200       # indexed columns: model, hardware, source_id, quant
MAX_TEXT_CHARS = 10_000    # any other string
MAX_LIST_ITEMS = 1_000
MAX_ROW_BYTES = 64_000
#: levels of nesting in a row: the row, its free-form ``environment``, and what that may hold
MAX_ROW_DEPTH = MAX_ENVIRONMENT_DEPTH + 2
MAX_ROW_VALUES = 5_000
_NAMED = ("model", "hardware", "source_id", "quant", "model_as_published",
          "quant_as_published", "metric", "backend")


class RowProblem(BaseModel):
    field: str | None = Field(description="dotted path of the offending field, if any")
    message: str
    given: Any = None


class RowOutcome(BaseModel):
    index: int = Field(description="position of the row in the request (0 for a single row)")
    status: Literal["stored", "duplicate", "rejected"]
    content_hash: str | None = Field(None, description="the row's key (stored or duplicate)")
    problems: list[RowProblem] = Field(default_factory=list)


class IngestResult(BaseModel):
    stored: int = Field(description="rows stored by this request")
    duplicates: int = Field(description="rows already stored (the request changed nothing)")
    rejected: int
    rows: list[RowOutcome]


@dataclass
class Checked:
    """Rows that passed validation (with their request positions) and the rejections."""

    rows: list[tuple[int, Row]] = field(default_factory=list)
    rejected: list[RowOutcome] = field(default_factory=list)


def as_row_list(payload: object, *, max_rows: int) -> list[object]:
    """The rows of a request body: one JSON object or a list of them.

    Raises ValueError (what, got, allowed) for any other shape or too many rows.
    """
    if isinstance(payload, dict):
        return [payload]
    if isinstance(payload, list):
        if not payload:
            raise ValueError("the batch is empty; allowed: 1 to "
                             f"{max_rows} rows")
        if len(payload) > max_rows:
            raise ValueError(f"the batch has {len(payload)} rows; allowed: at most {max_rows}")
        return payload
    raise ValueError("the body must be a measurement row (JSON object) or a list of rows, "
                     f"got {type(payload).__name__}")


def check_rows(payloads: list[object]) -> Checked:
    """Validate a batch: each row alone, then the checks that run on all of them at once."""
    out = Checked()
    for index, payload in enumerate(payloads):
        try:
            row, problems = check_row(payload)
        except Exception as e:  # a bug in a check must cost one row, not the batch
            log.exception("checking row %d failed", index)
            row, problems = None, [RowProblem(field=None, message=(
                f"the row could not be checked: {type(e).__name__}: {e}"[:300]))]
        if row is None:
            out.rejected.append(RowOutcome(index=index, status="rejected", problems=problems))
        else:
            out.rows.append((index, row))
    over = _batch_problems([row for _, row in out.rows])
    over = {out.rows[pos][0]: problems for pos, problems in over.items()}
    out.rejected += [RowOutcome(index=index, status="rejected", problems=over[index])
                     for index, _ in out.rows if index in over]
    out.rows = [(index, row) for index, row in out.rows if index not in over]
    out.rejected.sort(key=lambda outcome: outcome.index)
    return out


def check_row(payload: object) -> tuple[Row | None, list[RowProblem]]:
    """Validate one row; ``(row, [])`` or ``(None, problems)``."""
    if not isinstance(payload, dict):
        return None, [RowProblem(field=None, given=_short(payload),
                                 message=f"a row must be a JSON object, got "
                                 f"{type(payload).__name__}")]
    problems = _shape_problems(payload) or _size_problems(payload)
    if problems:
        return None, problems
    if payload.get("kind") not in ("quality", "speed"):
        return None, [RowProblem(field="kind", given=_short(payload.get("kind")),
                                 message="kind must be 'quality' or 'speed'")]
    try:  # strict, as the schema says: no "8" for 8, no 0 for false, no 1.0 for 1
        row = ROW_ADAPTER.validate_json(json.dumps(payload), strict=True)
    except ValidationError as e:
        return None, [RowProblem(field=".".join(str(p) for p in err["loc"][1:]) or None,
                                 given=_short(err.get("input")), message=err["msg"])
                      for err in e.errors()[:20]]
    if row.provenance is Provenance.PREDICTED:
        problems.append(RowProblem(field="provenance", given="predicted",
                                   message="predicted rows are never stored; allowed: "
                                   "measured, published"))
    if row.quant is not None and find_quant(row.quant) is None:
        names = known_names()
        problems.append(RowProblem(field="quant", given=row.quant, message=(
            f"unknown quant {row.quant!r}; allowed: {', '.join(names[:40])}, ...")))
    return (None, problems) if problems else (row, [])


def reasons(problems: list[RowProblem]) -> str:
    """One line saying why a row was refused (what a quarantined row keeps)."""
    return "; ".join(f"{p.field}: {p.message}" if p.field else p.message
                     for p in problems)[:1000]


def _batch_problems(rows: list[Row]) -> dict[int, list[RowProblem]]:
    """The checks that run on a frame of the whole batch, by position in ``rows``; should one
    fail on the batch, they run row by row so that it costs only the row that broke it."""
    try:
        return _speed_problems(rows)
    except Exception:
        out = {}
        for i, row in enumerate(rows):
            try:
                problems = _speed_problems([row]).get(0)
            except Exception as e:
                problems = [RowProblem(field=None, message=(
                    f"the row could not be checked: {type(e).__name__}: {e}"[:300]))]
            if problems:
                out[i] = problems
        return out


def _speed_problems(rows: list[Row]) -> dict[int, list[RowProblem]]:
    speed = [(i, r) for i, r in enumerate(rows) if isinstance(r, SpeedRow)]
    if not speed:
        return {}
    frame = rows_frame(r for _, r in speed)
    out = _ceiling_problems(speed, frame)
    numbers = speed_features(frame).select_dtypes("number").to_numpy(dtype="float64")
    for (i, _), overflowed in zip(speed, np.isinf(numbers).any(axis=1), strict=True):
        if overflowed and i not in out:
            out[i] = [RowProblem(field=None, message=(
                "the row's sizes and speeds multiply to numbers too large for training "
                "(model_bytes, params_b, bandwidth_gbs, fp16_tflops); check their units"))]
    return out


def _ceiling_problems(speed: list[tuple[int, SpeedRow]],
                      frame: Any) -> dict[int, list[RowProblem]]:
    """Speed rows faster than their device's specs allow (a failed run, a wrong test name),
    by position in the batch."""
    over = over_physical_ceiling(frame).to_numpy()
    if not over.any():
        return {}
    ratios = roofline_ratio(frame).to_numpy()  # only for the message of a rejected row
    out = {}
    for (i, row), is_over, ratio in zip(speed, over, ratios, strict=True):
        if not is_over:
            continue
        devices = f"{row.n_devices} x {row.hardware}" if row.n_devices > 1 else row.hardware
        if row.n_gen > 0:
            what = (f"reads the weights {ratio:.1f}x faster than the {row.bandwidth_gbs:g} GB/s "
                    f"memory bandwidth of {devices}; allowed: at most {BANDWIDTH_CEILING:g}x")
        else:
            what = (f"computes {ratio:.1f}x faster than the {row.fp16_tflops:g} FP16 TFLOPS of "
                    f"{devices}; allowed: at most {FLOPS_CEILING:g}x")
        out[i] = [RowProblem(field="tokens_per_s", given=row.tokens_per_s, message=(
            f"{row.tokens_per_s:g} tokens/s on {row.test} {what}. Check the test name, the "
            "model size (model_bytes, params_b, active_params_b) and the device specs"))]
    return out


def _shape_problems(payload: dict[str, Any]) -> list[RowProblem]:
    """How deep the row nests and how many values it holds, walked without recursion (before
    anything recursive looks at it)."""
    stack: list[tuple[object, int]] = [(payload, 1)]
    values = 0
    while stack:
        node, depth = stack.pop()
        children = (node.values() if isinstance(node, dict)
                    else node if isinstance(node, list) else ())
        for child in children:
            values += 1
            if values > MAX_ROW_VALUES:
                return [RowProblem(field=None, given=values, message=(
                    f"the row holds more than {MAX_ROW_VALUES} values; allowed: at most "
                    f"{MAX_ROW_VALUES}"))]
            if isinstance(child, dict | list):
                if depth + 1 > MAX_ROW_DEPTH:
                    return [RowProblem(field=None, given=depth + 1, message=(
                        f"the row nests more than {MAX_ROW_DEPTH} levels deep (environment: "
                        f"at most {MAX_ENVIRONMENT_DEPTH}); allowed: at most {MAX_ROW_DEPTH}"))]
                stack.append((child, depth + 1))
    return []


def _size_problems(payload: dict[str, Any]) -> list[RowProblem]:
    try:
        size = len(json.dumps(payload, ensure_ascii=False, allow_nan=True).encode("utf-8"))
    except (UnicodeEncodeError, ValueError, TypeError) as e:
        return [RowProblem(field=None, message=f"the row is not encodable as UTF-8 JSON: {e}")]
    if size > MAX_ROW_BYTES:
        return [RowProblem(field=None, given=size, message=f"the row has {size} bytes of "
                           f"JSON; allowed: at most {MAX_ROW_BYTES}")]
    problems = []
    for path, value in _walk(payload):
        limit = MAX_NAME_CHARS if path in _NAMED else MAX_TEXT_CHARS
        if isinstance(value, str) and "\x00" in value:
            problems.append(RowProblem(field=path, message="strings must not contain NUL"))
        elif isinstance(value, str) and len(value) > limit:
            problems.append(RowProblem(field=path, given=len(value), message=(
                f"the string has {len(value)} characters; allowed: at most {limit}")))
        elif isinstance(value, float) and not math.isfinite(value):
            problems.append(RowProblem(field=path, given=str(value), message=(
                "numbers must be finite; allowed: no NaN or Infinity")))
        elif isinstance(value, list) and len(value) > MAX_LIST_ITEMS:
            problems.append(RowProblem(field=path, given=len(value), message=(
                f"the list has {len(value)} items; allowed: at most {MAX_LIST_ITEMS}")))
    return problems


def _walk(payload: dict[str, Any]) -> list[tuple[str, object]]:
    """Every value of a row (of bounded depth) with its dotted path, keys included."""
    found: list[tuple[str, object]] = []
    stack: list[tuple[str, object]] = [("", payload)]
    while stack:
        path, value = stack.pop()
        found.append((path, value))
        if isinstance(value, dict):
            for k in value:
                if isinstance(k, str) and "\x00" in k:
                    found.append((f"{path}.<key>".lstrip("."), k))
            stack.extend((f"{path}.{k}".lstrip("."), v) for k, v in reversed(value.items()))
        elif isinstance(value, list):
            stack.extend((f"{path}.{i}".lstrip("."), v) for i, v in reversed(list(
                enumerate(value))))
    return found


def _short(value: object) -> object:
    """A given value, cut to a readable size for an error answer."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, str | int | float | bool) or value is None:
        return value[:100] if isinstance(value, str) else value
    return f"<{type(value).__name__}>"
