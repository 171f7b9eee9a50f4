"""Error answers of the HTTP API: every error is a JSON :class:`ErrorBody`, never a trace.

The project's errors (:mod:`advisor.vocabulary.errors`) map to 4xx/5xx here and only here.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from advisor.service.auth import AuthError, CrossSiteError, MediaTypeError
from advisor.service.jobs import RetrainBusyError
from advisor.service.observability import request_id
from advisor.service.store import StoreError
from advisor.vocabulary.errors import (
    AdvisorError,
    InvalidInputError,
    NothingFitsError,
    UnknownNameError,
)

log = logging.getLogger(__name__)


class ErrorItem(BaseModel):
    parameter: str | None
    given: Any = None
    message: str


class ErrorBody(BaseModel):
    error: str
    message: str
    detail: list[ErrorItem]
    smallest_budget_bytes: int | None = None
    request_id: str | None = None


class HttpError(AdvisorError):
    """An error with its own HTTP status and error code (body too large, bad JSON, ...)."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code = status, code


def _answer(status: int, code: str, message: str, detail: list[ErrorItem] | None = None,
            headers: dict[str, str] | None = None, **extra: Any) -> JSONResponse:
    body = ErrorBody(error=code, message=message, detail=detail or [],
                     request_id=request_id.get(), **extra)
    return JSONResponse(status_code=status, content=body.model_dump(mode="json"),
                        headers=headers)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(NothingFitsError)
    async def nothing_fits(_: Request, exc: NothingFitsError) -> JSONResponse:
        return _answer(422, "nothing_fits", str(exc),
                       smallest_budget_bytes=exc.smallest_budget_bytes)

    @app.exception_handler(InvalidInputError)
    async def invalid(request: Request, exc: InvalidInputError) -> JSONResponse:
        if isinstance(exc, UnknownNameError) and exc.kind == "predictor version":
            return _answer(404, "not_found", str(exc))
        given = request.query_params.get(exc.parameter) if exc.parameter else None
        return _answer(422, "invalid_input", str(exc),
                       [ErrorItem(parameter=exc.parameter, given=given, message=str(exc))])

    @app.exception_handler(RequestValidationError)
    async def validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        items = []
        for err in exc.errors():
            loc = [str(p) for p in err.get("loc", ()) if p not in ("query", "body", "path")]
            items.append(ErrorItem(parameter=".".join(loc) or None, given=_plain(err.get(
                "input")), message=str(err.get("msg"))))
        message = "; ".join(f"{i.parameter}: {i.message} (got {i.given!r})" for i in items)
        return _answer(422, "invalid_input", message, items)

    @app.exception_handler(AuthError)
    async def unauthorized(_: Request, exc: AuthError) -> JSONResponse:
        return _answer(401, "unauthorized", str(exc), headers={"WWW-Authenticate": "Bearer"})

    @app.exception_handler(CrossSiteError)
    async def cross_site(_: Request, exc: CrossSiteError) -> JSONResponse:
        return _answer(403, "cross_site", str(exc))

    @app.exception_handler(MediaTypeError)
    async def media_type(_: Request, exc: MediaTypeError) -> JSONResponse:
        return _answer(415, "unsupported_media_type", str(exc))

    @app.exception_handler(RetrainBusyError)
    async def busy(_: Request, exc: RetrainBusyError) -> JSONResponse:
        return _answer(409, "busy", str(exc))

    @app.exception_handler(HttpError)
    async def http_error(_: Request, exc: HttpError) -> JSONResponse:
        return _answer(exc.status, exc.code, str(exc))

    @app.exception_handler(StoreError)
    async def store_down(_: Request, exc: StoreError) -> JSONResponse:
        log.error("store error: %s", exc)
        return _answer(503, "store_unavailable", "the database is unavailable; retry later")

    @app.exception_handler(AdvisorError)
    async def other(_: Request, exc: AdvisorError) -> JSONResponse:
        log.error("advisor error: %s", exc)
        return _answer(503, type(exc).__name__, str(exc))

    @app.exception_handler(StarletteHTTPException)
    async def http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        headers = dict(getattr(exc, "headers", None) or {})
        if exc.status_code == 405:  # every method of the path, not only the first route's
            headers["Allow"] = allowed_methods(request, headers.get("Allow", ""))
        return _answer(exc.status_code, code, str(exc.detail), headers=headers or None)

    @app.exception_handler(Exception)
    async def crash(_: Request, exc: Exception) -> JSONResponse:
        # Only for errors outside ObserveMiddleware, which answers the others itself.
        log.error("unhandled %s", type(exc).__name__, exc_info=exc)
        return internal_error()


def allowed_methods(request: Request, fallback: str) -> str:
    """The methods the OpenAPI schema lists for this request's path (a path's GET and POST are
    different routes, and Starlette's 405 names only the first one's); ``fallback`` (its
    ``Allow``) for a path the schema leaves out."""
    path = request.url.path
    for template, operations in request.app.openapi().get("paths", {}).items():
        pattern = re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template))
        if re.fullmatch(pattern, path):
            return ", ".join(sorted(m.upper() for m in operations))
    return fallback


def internal_error() -> JSONResponse:
    """The answer to an unhandled error: no trace, the request id to quote."""
    return _answer(500, "internal_error", "internal error; quote the request_id "
                   f"({request_id.get()}) when reporting it")


def _plain(value: Any) -> Any:
    """A JSON-safe, short rendering of a given value."""
    if isinstance(value, str | int | bool) or value is None:
        return value[:200] if isinstance(value, str) else value
    if isinstance(value, float):
        return value if value == value and abs(value) != float("inf") else str(value)
    return f"<{type(value).__name__}>"
