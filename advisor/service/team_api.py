"""Team-service endpoints (under ``/v1``): measurements, quarantine, retraining, predictor
versions.

Reads are open; writes need the bearer token, JSON bodies and a request that no other site's
page sent (:mod:`advisor.service.auth`). Write routes exist only when ``ADVISOR_WRITES_ENABLED``
is true. Quarantined rows (stored rows training cannot use, see
:mod:`advisor.service.retrain_run`) are listed, deleted and restored by the write routes
under ``/v1/quarantine``: what they show is what someone sent, so they need the token too.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from advisor.service.auth import WriterDep
from advisor.service.errors import ErrorBody, ErrorItem, HttpError
from advisor.service.ingest import IngestResult, RowOutcome, as_row_list, check_rows
from advisor.service.jobs import Job
from advisor.service.state import Service
from advisor.service.store import ROW_ADAPTER
from advisor.vocabulary.schema import Provenance, Row

_ROW_SCHEMA = ROW_ADAPTER.json_schema(ref_template="#/components/schemas/{model}")
ROW_DEFS: dict[str, Any] = _ROW_SCHEMA.pop("$defs", {})
for _definition in ROW_DEFS.values():  # the door refuses a row that does not say its kind
    if "kind" in _definition.get("properties", {}):
        _definition["required"] = sorted({*_definition.get("required", []), "kind"})
MAX_PAYLOAD_CHARS = 4000
RowId = Annotated[int, PathParam(ge=1, le=2**62, description="the row's id in the store")]


def _service(request: Request) -> Service:
    return request.app.state.service  # type: ignore[no-any-return]


ServiceDep = Annotated[Service, Depends(_service)]
_WRITE: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorBody, "description": "missing or wrong bearer token"},
    403: {"model": ErrorBody, "description": "sent by a web page of another origin"},
    415: {"model": ErrorBody, "description": "a body that is not application/json"},
    503: {"model": ErrorBody, "description": "the database is unavailable"}}
_NOT_QUARANTINED: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorBody, "description": "no quarantined row has this id"}}


class StoredMeasurement(BaseModel):
    id: int = Field(description="store order; pass the last one as `after` for the next page")
    content_hash: str
    stored_at: datetime
    row: Annotated[Row, Field(discriminator="kind")]


class MeasurementPage(BaseModel):
    items: list[StoredMeasurement]
    next_after: int | None = Field(description="`after` for the next page; null at the end")


class QuarantinedMeasurement(BaseModel):
    id: int
    content_hash: str
    stored_at: datetime
    quarantined_at: datetime
    reason: str = Field(description="why training cannot use it")
    payload: str = Field(description=f"the stored JSON as text (first {MAX_PAYLOAD_CHARS} "
                         "characters; it may not parse)")
    payload_chars: int = Field(description="length of the whole stored JSON")


class QuarantinePage(BaseModel):
    items: list[QuarantinedMeasurement]
    next_after: int | None = Field(description="`after` for the next page; null at the end")


class QuarantineChange(BaseModel):
    id: int
    status: Literal["deleted", "restored"]


class JobOut(BaseModel):
    id: str
    state: Literal["running", "promoted", "kept", "failed"]
    started: str
    finished: str | None
    version: str | None
    message: str
    report: dict[str, Any] = Field(
        description="rows trained on (quality_rows, speed_rows, stored_rows_used), stored rows "
        "quarantined by this job's screening (quarantined, quarantined_reasons) and in all "
        "(quarantined_total); empty until the training set is built, while it runs")
    request_id: str | None = Field(description="the request that started it")


class VersionOut(BaseModel):
    id: str
    created: str
    data_hash: str
    serving: bool
    metrics: dict[str, Any]


def _job(job: Job) -> JobOut:
    return JobOut(id=job.id, state=job.state, started=job.started, finished=job.finished,
                  version=job.version, message=job.message, report=job.report,
                  request_id=job.request_id)


def read_router() -> APIRouter:
    router = APIRouter(prefix="/v1", tags=["service"])

    @router.get("/measurements", response_model=MeasurementPage,
                responses={422: {"model": ErrorBody}, 503: {"model": ErrorBody}})
    def list_measurements(
        service: ServiceDep,
        kind: Literal["quality", "speed"] | None = None,
        model: Annotated[str | None, Query(max_length=200)] = None,
        hardware: Annotated[str | None, Query(max_length=200)] = None,
        source_id: Annotated[str | None, Query(max_length=200)] = None,
        provenance: Provenance | None = None,
        after: Annotated[int, Query(ge=0, le=2**62, description="id to continue after")] = 0,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> MeasurementPage:
        """Stored rows, by id; quarantined rows are left out (see /v1/quarantine)."""
        rows = service.store.list_rows(
            after=after, limit=limit, kind=kind, model=model, hardware=hardware,
            source_id=source_id, provenance=provenance.value if provenance else None)
        items = [StoredMeasurement(id=r.id, content_hash=r.content_hash,
                                   stored_at=r.stored_at, row=r.row) for r in rows]
        return MeasurementPage(items=items,
                               next_after=items[-1].id if len(items) == limit else None)

    @router.get("/retrain", response_model=JobOut | None,
                responses={503: {"model": ErrorBody}})
    def retrain_status(service: ServiceDep) -> JobOut | None:
        """The latest retraining job of any worker or replica (null: none yet)."""
        job = service.retrainer.status()
        return _job(job) if job else None

    @router.get("/predictors", response_model=list[VersionOut])
    def predictors(service: ServiceDep) -> list[VersionOut]:
        return [VersionOut(id=v.id, created=v.created, data_hash=v.data_hash,
                           serving=v.serving, metrics=v.metrics)
                for v in service.registry.list()]

    return router


def write_router() -> APIRouter:
    router = APIRouter(prefix="/v1", tags=["service"], dependencies=[WriterDep])
    body_schema = {"anyOf": [_ROW_SCHEMA, {"type": "array", "items": _ROW_SCHEMA,
                                           "minItems": 1}]}

    @router.post("/measurements", response_model=IngestResult, responses={
        **_WRITE, 400: {"model": ErrorBody}, 413: {"model": ErrorBody},
        422: {"model": IngestResult, "description": "every row was rejected"}},
        openapi_extra={"requestBody": {"required": True, "content": {
            "application/json": {"schema": body_schema}}}})
    async def add_measurements(request: Request, service: ServiceDep) -> Any:
        """Store one row or a batch; rows are keyed by content, so retries never duplicate."""
        settings = service.settings
        payload = await _read_json(request, settings.max_request_bytes)
        try:
            rows = as_row_list(payload, max_rows=settings.max_batch_rows)
        except ValueError as e:
            raise HttpError(400, "invalid_body", str(e)) from e
        checked = await run_in_threadpool(check_rows, rows)
        fresh = await run_in_threadpool(service.store.add_rows, [r for _, r in checked.rows])
        outcomes = list(checked.rejected)
        for (index, row), new in zip(checked.rows, fresh, strict=True):
            outcomes.append(RowOutcome(index=index, status="stored" if new else "duplicate",
                                       content_hash=row.content_hash()))
        outcomes.sort(key=lambda o: o.index)
        stored = sum(fresh)
        service.metrics.stored.inc(stored)
        service.metrics.rejected.inc(len(checked.rejected))
        result = IngestResult(stored=stored, duplicates=len(fresh) - stored,
                              rejected=len(checked.rejected), rows=outcomes)
        return JSONResponse(status_code=200 if checked.rows else 422,
                            content=result.model_dump(mode="json"))

    @router.get("/quarantine", response_model=QuarantinePage,
                responses={**_WRITE, 422: {"model": ErrorBody}})
    def list_quarantine(
        service: ServiceDep,
        after: Annotated[int, Query(ge=0, le=2**62, description="id to continue after")] = 0,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> QuarantinePage:
        """Stored rows that training skips, with the reason."""
        rows = service.store.quarantined(after=after, limit=limit)
        items = [QuarantinedMeasurement(
            id=r.id, content_hash=r.content_hash, stored_at=r.stored_at,
            quarantined_at=r.quarantined_at, reason=r.reason,
            payload=r.payload[:MAX_PAYLOAD_CHARS], payload_chars=len(r.payload)) for r in rows]
        return QuarantinePage(items=items,
                              next_after=items[-1].id if len(items) == limit else None)

    @router.delete("/quarantine/{row_id}", response_model=QuarantineChange,
                   responses={**_WRITE, **_NOT_QUARANTINED, 422: {"model": ErrorBody}})
    def delete_quarantined(row_id: RowId, service: ServiceDep) -> QuarantineChange:
        """Delete a quarantined row for good."""
        if not service.store.delete_quarantined(row_id):
            raise HttpError(404, "not_found", f"no quarantined row has id {row_id}")
        return QuarantineChange(id=row_id, status="deleted")

    @router.post("/quarantine/{row_id}/restore", response_model=QuarantineChange,
                 responses={**_WRITE, **_NOT_QUARANTINED, 422: {
                     "model": ErrorBody, "description": "the row still fails the checks"}})
    def restore_quarantined(row_id: RowId, service: ServiceDep) -> Any:
        """Give a quarantined row back to training, if it passes today's checks."""
        payload = service.store.quarantined_payload(row_id)
        if payload is None:
            raise HttpError(404, "not_found", f"no quarantined row has id {row_id}")
        problems = _recheck(payload)
        if problems:
            message = "the row still fails the checks: " + "; ".join(
                f"{p.parameter}: {p.message}" if p.parameter else p.message for p in problems)
            body = ErrorBody(error="still_invalid", message=message[:2000], detail=problems)
            return JSONResponse(status_code=422, content=body.model_dump(mode="json"))
        service.store.restore(row_id)
        return QuarantineChange(id=row_id, status="restored")

    @router.post("/retrain", status_code=202, response_model=JobOut,
                 responses={**_WRITE, 409: {"model": ErrorBody}})
    def retrain(service: ServiceDep) -> JobOut:
        """Start retraining in the background; poll GET /v1/retrain."""
        return _job(service.retrainer.start())

    @router.post("/predictors/{version}/rollback", response_model=VersionOut,
                 responses={**_WRITE, 404: {"model": ErrorBody}, 422: {"model": ErrorBody}})
    def rollback(version: Annotated[str, PathParam(max_length=100)],
                 service: ServiceDep) -> VersionOut:
        """Serve an earlier predictor version (``shipped`` = the predictors in the image)."""
        service.activate(version)
        return next(VersionOut(id=v.id, created=v.created, data_hash=v.data_hash,
                               serving=v.serving, metrics=v.metrics)
                    for v in service.registry.list() if v.id == version)

    return router


def _recheck(payload: str) -> list[ErrorItem]:
    """What a stored row fails of today's checks (empty: it passes)."""
    try:
        parsed = json.loads(payload)
    except (ValueError, RecursionError) as e:
        return [ErrorItem(parameter=None, message=f"the stored JSON does not parse: {e}"[:300])]
    checked = check_rows([parsed])
    problems = checked.rejected[0].problems if checked.rejected else []
    return [ErrorItem(parameter=p.field, given=p.given, message=p.message) for p in problems]


async def _read_json(request: Request, limit: int) -> object:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise HttpError(413, "too_large", f"the body has {declared} bytes; allowed: at most "
                        f"{limit} (ADVISOR_MAX_REQUEST_BYTES)")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise HttpError(413, "too_large", f"the body exceeds {limit} bytes "
                            "(ADVISOR_MAX_REQUEST_BYTES)")
        chunks.append(chunk)
    try:
        return json.loads(b"".join(chunks))
    except (ValueError, RecursionError) as e:
        raise HttpError(400, "invalid_json", f"the body is not valid JSON: {e}"[:300]) from e
