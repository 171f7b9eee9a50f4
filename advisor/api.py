"""The HTTP API (FastAPI): a thin adapter over :class:`advisor.recommend.Advisor`.

``GET /recommend?vram=24GB&task=reasoning`` (also under ``/v1/``), ``/health``, ``/ready``,
``/metrics``, ``/quants``, ``/models``, ``/hardware``; the team service under ``/v1``
(:mod:`advisor.api_service`: measurements, retraining, predictor versions). OpenAPI docs at
``/docs``. Bad input answers 422 with the parameter, what was given and what is allowed;
every error is a JSON body (:mod:`advisor.api_errors`).
"""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST

from advisor import __version__
from advisor.answer_cache import AnswerCache, query_key
from advisor.api_errors import ErrorBody, ErrorItem, install_error_handlers
from advisor.api_service import ROW_DEFS, read_router, write_router
from advisor.hardware import MAX_DEVICES, MAX_THREADS
from advisor.observability import Metrics, install
from advisor.quants import all_quants
from advisor.recommend import CACHE_TYPES, Advisor
from advisor.results import Recommendation
from advisor.retrain import Trainer
from advisor.service import Service, default_trainer
from advisor.settings import Settings, get_settings
from advisor.tasks import CATEGORIES
from advisor.webpage import mount_web

log = logging.getLogger(__name__)
__all__ = ["ErrorBody", "ErrorItem", "create_app"]


async def _advisor(request: Request) -> Advisor:
    return request.app.state.advisor  # type: ignore[no-any-return]


AdvisorDep = Annotated[Advisor, Depends(_advisor)]


def create_app(settings: Settings | None = None,
               advisor_factory: Callable[[Settings], Advisor] | None = None,
               trainer: Trainer | None = None, freeze_heap: bool = False) -> FastAPI:
    """Build the app; store, predictors and data load once at start-up (the lifespan).

    ``advisor_factory`` builds an :class:`Advisor` from settings whose ``models_dir`` is the
    serving predictor version; ``trainer`` is what retraining runs (default
    :func:`advisor.training.train`; tests pass a fast fake). ``freeze_heap`` (the served
    process, :mod:`advisor.serve`) hides what is loaded from the cyclic garbage collector
    (:func:`_freeze_heap`).
    """
    settings = settings or get_settings()
    factory = advisor_factory or Advisor.load
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        service = Service(settings, factory, trainer or default_trainer(), metrics)
        service.on_swap = lambda advisor: _serve(app, advisor, freeze_heap)
        app.state.service, app.state.advisor = service, service.advisor
        if freeze_heap:
            _freeze_heap()
        log.info("advisor loaded: predictors %s (version %s), store %s",
                 service.advisor.predictor_version, service.version, service.store.safe_url)
        yield
        service.close()

    app = FastAPI(title="quant-advisor", version=__version__, lifespan=lifespan,
                  description="Which GGUF quant of which LLM to run for a memory budget and "
                  "task mix, with predicted quality, speed and memory, and where each number "
                  "came from.")
    app.state.settings, app.state.metrics = settings, metrics
    app.state.answers = AnswerCache(settings.answer_cache_entries)
    install_error_handlers(app)
    install(app, metrics)
    if settings.cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=settings.cors_origins,
                           allow_methods=["GET", "POST"],
                           allow_headers=["Authorization", "Content-Type", "X-Request-ID"])
    router = _router()
    app.include_router(router)
    app.include_router(router, prefix="/v1")
    app.include_router(_ops_router())
    app.include_router(read_router())
    if settings.writes_enabled:
        app.include_router(write_router())
    mount_web(app)  # the page at / and its static files
    _add_row_schemas(app)
    return app


def _serve(app: FastAPI, advisor: Advisor, freeze_heap: bool) -> None:
    """Make ``advisor`` the serving one (a promoted or rolled-back predictor version) and
    forget the answers of the one before."""
    app.state.advisor = advisor
    app.state.answers.clear()
    if freeze_heap:
        _freeze_heap()


def _freeze_heap() -> None:
    """Move every object alive now (catalog, data, predictors, candidate table: about 140,000)
    out of the cyclic garbage collector's reach. Otherwise each full collection walks them
    all, an 80 ms pause every few thousand requests that set the p99 latency. Unfrozen first,
    so a swapped-out advisor is collected."""
    gc.unfreeze()
    gc.collect()
    gc.freeze()


def _ops_router() -> APIRouter:
    router = APIRouter(tags=["operations"])

    @router.get("/ready", responses={503: {"model": ErrorBody}})
    def ready(request: Request) -> JSONResponse:
        """200 when the predictors are loaded and the store answers, else 503."""
        service: Service | None = getattr(request.app.state, "service", None)
        checks = {"model_loaded": service is not None and service.advisor is not None,
                  "store_reachable": service is not None and service.store.ping()}
        ok = all(checks.values())
        return JSONResponse(status_code=200 if ok else 503, content={
            "status": "ready" if ok else "not_ready", **checks,
            "model_version": service.version if service else None})

    @router.get("/metrics", include_in_schema=False)
    def metrics(request: Request) -> Response:
        return Response(request.app.state.metrics.exposition(), media_type=CONTENT_TYPE_LATEST)

    return router


def _add_row_schemas(app: FastAPI) -> None:
    """Put the measurement row schemas (request bodies) into the OpenAPI components."""
    base = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = base()
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            for name, definition in ROW_DEFS.items():
                components.setdefault(name, definition)
        return app.openapi_schema  # type: ignore[return-value]

    app.openapi = openapi  # type: ignore[method-assign]


def _router() -> APIRouter:
    router = APIRouter()

    @router.get("/recommend", response_model=Recommendation,
                responses={422: {"model": ErrorBody}})
    async def recommend(
        request: Request,
        advisor: AdvisorDep,
        vram: Annotated[str, Query(description="memory budget: 24GB, 24 GB, 24GiB, 24000MB "
                                   "or 24 (GB = 10^9 bytes, GiB = 2^30)")],
        task: Annotated[str, Query(description="category or mix, e.g. reasoning or "
                                   f"reasoning:0.7,coding:0.3; categories: {', '.join(CATEGORIES)}"
                                   )] = "reasoning",
        context: Annotated[int | None, Query(description="context length in tokens")] = None,
        cache_type: Annotated[str, Query(description=f"KV cache type: {', '.join(CACHE_TYPES)}"
                                         )] = "f16",
        hardware: Annotated[str | None, Query(
            description="a name from /hardware; several identical GPUs with a count, "
            "'RTX 3090 x2' or '2x RTX 3090' (or give devices)")] = None,
        hardware_kind: Annotated[str | None, Query(description="gpu, apple, cpu or apu "
                                                   "(for hardware given by specs)")] = None,
        bandwidth_gbs: Annotated[float | None, Query(description="memory bandwidth, GB/s")] = None,
        fp16_tflops: Annotated[float | None, Query(description="FP16 TFLOPS")] = None,
        hardware_memory_gb: Annotated[float | None, Query(description="device memory, GB")] = None,
        threads: Annotated[int | None, Query(
            ge=1, le=MAX_THREADS, description="CPU threads llama.cpp runs with (needs hardware; "
            "overrides the device's; only changes the speed of CPU devices)")] = None,
        devices: Annotated[int | None, Query(
            ge=1, le=MAX_DEVICES, description="identical GPUs the model's layers are split "
            "over (llama.cpp --split-mode layer; needs hardware; 1 = one device); vram is "
            "the budget over all of them. Same as a ' x2' count on the hardware name")] = None,
        min_tokens_per_s: Annotated[float | None, Query(description="minimum generation "
                                                        "tokens/s (needs hardware)")] = None,
        family: Annotated[str | None, Query(description="restrict to a model family")] = None,
        models: Annotated[str | None, Query(description="comma-separated model names")] = None,
        alternatives: Annotated[int | None, Query(description="number of alternatives")] = None,
    ) -> Response:
        query = advisor.parse_query(
            vram=vram, task=task, context=context, cache_type=cache_type, hardware=hardware,
            hardware_kind=hardware_kind, bandwidth_gbs=bandwidth_gbs, fp16_tflops=fp16_tflops,
            hardware_memory_gb=hardware_memory_gb, threads=threads, devices=devices,
            min_tokens_per_s=min_tokens_per_s, family=family,
            models=[m for m in models.split(",") if m.strip()] if models else None,
            alternatives=alternatives)
        answers: AnswerCache = request.app.state.answers
        key = query_key(query)
        body = answers.get(advisor, key)
        if body is None:
            # Already a validated Recommendation: serialize once, skip FastAPI's
            # re-validation, and keep the bytes for the next identical query.
            body = advisor.rank(query).model_dump_json().encode()
            answers.put(advisor, key, body)
        return Response(content=body, media_type="application/json")

    @router.get("/health")
    async def health(request: Request) -> dict[str, Any]:
        """Alive: the process answers (see /ready for whether it can serve)."""
        advisor = getattr(request.app.state, "advisor", None)
        service = getattr(request.app.state, "service", None)
        return {"status": "ok", "version": __version__,
                "predictor_version": advisor.predictor_version if advisor else None,
                "model_version": service.version if service else None}

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
        """The known single devices (ask for several GPUs with a count on the name, 'x2')."""
        return [h.model_dump(mode="json") for h in advisor.hardware_table.values()]

    return router
