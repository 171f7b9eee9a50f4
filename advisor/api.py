"""The HTTP API (FastAPI): a thin adapter over :class:`advisor.recommend.Advisor`.

``GET /recommend?vram=24GB&task=reasoning`` (also under ``/v1/``), ``/health``, ``/quants``,
``/models``, ``/hardware``; OpenAPI docs at ``/docs``. Bad input answers 422 with the
parameter, what was given and what is allowed.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from advisor import __version__
from advisor.errors import AdvisorError, InvalidInputError, NothingFitsError
from advisor.quants import all_quants
from advisor.recommend import CACHE_TYPES, Advisor
from advisor.results import Recommendation
from advisor.settings import Settings, get_settings
from advisor.tasks import CATEGORIES

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


def _advisor(request: Request) -> Advisor:
    return request.app.state.advisor  # type: ignore[no-any-return]


AdvisorDep = Annotated[Advisor, Depends(_advisor)]


def create_app(settings: Settings | None = None,
               advisor_factory: Callable[[Settings], Advisor] | None = None) -> FastAPI:
    """Build the app; the advisor (catalog, predictors, data) loads once at start-up."""
    settings = settings or get_settings()
    factory = advisor_factory or Advisor.load

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.advisor = factory(settings)
        log.info("advisor loaded: predictors %s", app.state.advisor.predictor_version)
        yield

    app = FastAPI(title="quant-advisor", version=__version__, lifespan=lifespan,
                  description="Which GGUF quant of which LLM to run for a memory budget and "
                  "task mix, with predicted quality, speed and memory, and where each number "
                  "came from.")
    _install_error_handlers(app)
    router = _router()
    app.include_router(router)
    app.include_router(router, prefix="/v1")
    return app


def _router() -> APIRouter:
    router = APIRouter()

    @router.get("/recommend", response_model=Recommendation,
                responses={422: {"model": ErrorBody}})
    def recommend(
        advisor: AdvisorDep,
        vram: Annotated[str, Query(description="memory budget: 24GB, 24 GB, 24GiB, 24000MB "
                                   "or 24 (GB = 10^9 bytes, GiB = 2^30)")],
        task: Annotated[str, Query(description="category or mix, e.g. reasoning or "
                                   f"reasoning:0.7,coding:0.3; categories: {', '.join(CATEGORIES)}"
                                   )] = "reasoning",
        context: Annotated[int | None, Query(description="context length in tokens")] = None,
        cache_type: Annotated[str, Query(description=f"KV cache type: {', '.join(CACHE_TYPES)}"
                                         )] = "f16",
        hardware: Annotated[str | None, Query(description="a name from /hardware")] = None,
        hardware_kind: Annotated[str | None, Query(description="gpu, apple, cpu or apu "
                                                   "(for hardware given by specs)")] = None,
        bandwidth_gbs: Annotated[float | None, Query(description="memory bandwidth, GB/s")] = None,
        fp16_tflops: Annotated[float | None, Query(description="FP16 TFLOPS")] = None,
        hardware_memory_gb: Annotated[float | None, Query(description="device memory, GB")] = None,
        min_tokens_per_s: Annotated[float | None, Query(description="minimum generation "
                                                        "tokens/s (needs hardware)")] = None,
        family: Annotated[str | None, Query(description="restrict to a model family")] = None,
        models: Annotated[str | None, Query(description="comma-separated model names")] = None,
        alternatives: Annotated[int | None, Query(description="number of alternatives")] = None,
    ) -> Recommendation:
        return advisor.recommend(
            vram=vram, task=task, context=context, cache_type=cache_type, hardware=hardware,
            hardware_kind=hardware_kind, bandwidth_gbs=bandwidth_gbs, fp16_tflops=fp16_tflops,
            hardware_memory_gb=hardware_memory_gb, min_tokens_per_s=min_tokens_per_s,
            family=family,
            models=[m for m in models.split(",") if m.strip()] if models else None,
            alternatives=alternatives)

    @router.get("/health")
    def health(request: Request) -> dict[str, Any]:
        advisor = getattr(request.app.state, "advisor", None)
        return {"status": "ok", "version": __version__,
                "predictor_version": advisor.predictor_version if advisor else None}

    @router.get("/quants")
    def quants() -> list[dict[str, Any]]:
        return [{"name": q.name, "family": q.family.value, "nominal_bpw": q.nominal_bpw,
                 "typical_bpw": q.typical_bpw, "typical_bpw_source": q.typical_source,
                 "aliases": list(q.aliases), "description": q.description}
                for q in all_quants()]

    @router.get("/models")
    def models_(advisor: AdvisorDep) -> list[dict[str, Any]]:
        return [m.model_dump(mode="json") for m in advisor.catalog.models]

    @router.get("/hardware")
    def hardware_(advisor: AdvisorDep) -> list[dict[str, Any]]:
        return [h.model_dump(mode="json") for h in advisor.hardware_table.values()]

    return router


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(NothingFitsError)
    async def nothing_fits(_: Request, exc: NothingFitsError) -> JSONResponse:
        body = ErrorBody(error="nothing_fits", message=str(exc), detail=[],
                         smallest_budget_bytes=exc.smallest_budget_bytes)
        return JSONResponse(status_code=422, content=body.model_dump())

    @app.exception_handler(InvalidInputError)
    async def invalid(request: Request, exc: InvalidInputError) -> JSONResponse:
        given = request.query_params.get(exc.parameter) if exc.parameter else None
        body = ErrorBody(error="invalid_input", message=str(exc),
                         detail=[ErrorItem(parameter=exc.parameter, given=given,
                                           message=str(exc))])
        return JSONResponse(status_code=422, content=body.model_dump())

    @app.exception_handler(RequestValidationError)
    async def validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        items = []
        for err in exc.errors():
            loc = [str(p) for p in err.get("loc", ()) if p not in ("query", "body")]
            items.append(ErrorItem(parameter=".".join(loc) or None, given=err.get("input"),
                                   message=str(err.get("msg"))))
        message = "; ".join(f"{i.parameter}: {i.message} (got {i.given!r})" for i in items)
        body = ErrorBody(error="invalid_input", message=message, detail=items)
        return JSONResponse(status_code=422, content=body.model_dump(mode="json"))

    @app.exception_handler(AdvisorError)
    async def other(_: Request, exc: AdvisorError) -> JSONResponse:
        log.error("advisor error: %s", exc)
        body = ErrorBody(error=type(exc).__name__, message=str(exc), detail=[])
        return JSONResponse(status_code=503, content=body.model_dump())
