"""Team-service endpoints (under ``/v1``): measurements, retraining, predictor versions.

Reads are open; writes need the bearer token (:mod:`advisor.service.auth`). Write routes exist only
when ``ADVISOR_WRITES_ENABLED`` is true.
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
from advisor.service.errors import ErrorBody, HttpError
from advisor.service.ingest import IngestResult, RowOutcome, as_row_list, check_rows
from advisor.service.jobs import Job
from advisor.service.state import Service
from advisor.service.store import ROW_ADAPTER
from advisor.vocabulary.schema import Provenance, Row

_ROW_SCHEMA = ROW_ADAPTER.json_schema(ref_template="#/components/schemas/{model}")
ROW_DEFS: dict[str, Any] = _ROW_SCHEMA.pop("$defs", {})


def _service(request: Request) -> Service:
    return request.app.state.service  # type: ignore[no-any-return]


ServiceDep = Annotated[Service, Depends(_service)]
_AUTH: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorBody, "description": "missing or wrong bearer token"}}


class StoredMeasurement(BaseModel):
    id: int = Field(description="store order; pass the last one as `after` for the next page")
    content_hash: str
    stored_at: datetime
    row: Annotated[Row, Field(discriminator="kind")]


class MeasurementPage(BaseModel):
    items: list[StoredMeasurement]
    next_after: int | None = Field(description="`after` for the next page; null at the end")


class JobOut(BaseModel):
    id: str
    state: Literal["running", "promoted", "kept", "failed"]
    started: str
    finished: str | None
    version: str | None
    message: str


class VersionOut(BaseModel):
    id: str
    created: str
    data_hash: str
    serving: bool
    metrics: dict[str, Any]


def _job(job: Job) -> JobOut:
    return JobOut(id=job.id, state=job.state, started=job.started, finished=job.finished,
                  version=job.version, message=job.message)


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
        rows = service.store.list_rows(
            after=after, limit=limit, kind=kind, model=model, hardware=hardware,
            source_id=source_id, provenance=provenance.value if provenance else None)
        items = [StoredMeasurement(id=r.id, content_hash=r.content_hash,
                                   stored_at=r.stored_at, row=r.row) for r in rows]
        return MeasurementPage(items=items,
                               next_after=items[-1].id if len(items) == limit else None)

    @router.get("/retrain", response_model=JobOut | None)
    def retrain_status(service: ServiceDep) -> JobOut | None:
        job = service.retrainer.job
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
        **_AUTH, 400: {"model": ErrorBody}, 413: {"model": ErrorBody},
        422: {"model": IngestResult, "description": "every row was rejected"},
        503: {"model": ErrorBody}},
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
        checked = check_rows(rows)
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

    @router.post("/retrain", status_code=202, response_model=JobOut,
                 responses={**_AUTH, 409: {"model": ErrorBody}})
    def retrain(service: ServiceDep) -> JobOut:
        """Start retraining in the background; poll GET /v1/retrain."""
        return _job(service.retrainer.start())

    @router.post("/predictors/{version}/rollback", response_model=VersionOut,
                 responses={**_AUTH, 404: {"model": ErrorBody}})
    def rollback(version: Annotated[str, PathParam(max_length=100)],
                 service: ServiceDep) -> VersionOut:
        """Serve an earlier predictor version (``shipped`` = the predictors in the image)."""
        service.activate(version)
        return next(VersionOut(id=v.id, created=v.created, data_hash=v.data_hash,
                               serving=v.serving, metrics=v.metrics)
                    for v in service.registry.list() if v.id == version)

    return router


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
