"""The read routes of the HTTP API: ``/recommend`` (also under ``/v1``), ``/health``,
``/quants``, ``/models``, ``/hardware``, and the operations routes ``/ready`` and ``/metrics``.

The serving :class:`~advisor.recommender.advisor.Advisor` is the app's state
(``app.state.advisor``), swapped whole when another predictor version is promoted.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST

from advisor._version import __version__
from advisor.data.hardware import MAX_DEVICES, MAX_THREADS
from advisor.recommender.footprint import MemoryAnswer
from advisor.recommender.memory import CACHE_TYPES
from advisor.recommender.results import Recommendation
from advisor.service.answer_cache import AnswerCache, query_key
from advisor.service.errors import ErrorBody
from advisor.service.team_api import ROW_DEFS
from advisor.vocabulary.quants import all_quants
from advisor.vocabulary.tasks import CATEGORIES

if TYPE_CHECKING:
    from advisor.recommender.advisor import Advisor
    from advisor.service.state import Service


async def _advisor(request: Request) -> Advisor:
    return request.app.state.advisor  # type: ignore[no-any-return]


AdvisorDep = Annotated["Advisor", Depends(_advisor)]


def ops_router() -> APIRouter:
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


def add_row_schemas(app: FastAPI) -> None:
    """Finish the OpenAPI schema: the measurement row schemas (request bodies) go into the
    components, and every operation may answer 422 with the :class:`ErrorBody` the error
    handlers send (FastAPI documents its own validation body, which this service never sends;
    and any operation refuses a query parameter it does not take)."""
    base = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = base()
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            for name, definition in ROW_DEFS.items():
                components.setdefault(name, definition)
            error = {"description": "invalid input: the parameter, what was given and what "
                     "is allowed", "content": {"application/json": {"schema": {
                         "$ref": "#/components/schemas/ErrorBody"}}}}
            for operations in schema.get("paths", {}).values():
                for operation in operations.values():  # any: an unknown query parameter
                    answer = operation.setdefault("responses", {}).get("422")
                    if answer is None or "HTTPValidationError" in str(answer):
                        operation["responses"]["422"] = error
            for name in ("HTTPValidationError", "ValidationError"):
                components.pop(name, None)
        return app.openapi_schema  # type: ignore[return-value]

    app.openapi = openapi  # type: ignore[method-assign]


def public_router() -> APIRouter:
    router = APIRouter()

    @router.get("/recommend", response_model=Recommendation,
                responses={422: {"model": ErrorBody}})
    async def recommend(
        request: Request,
        advisor: AdvisorDep,
        vram: Annotated[str, Query(min_length=1, max_length=100, description="memory "
                                   "budget: 24GB, 24 GB, 24GiB, 24000MB or 24 (GB = 10^9 "
                                   "bytes, GiB = 2^30)")],
        task: Annotated[str, Query(min_length=1, max_length=1000,
                                   description="category or mix, e.g. reasoning or "
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
        ram: Annotated[str | None, Query(
            description="system RAM beside the GPU that offloaded placements may use (MoE "
            "experts or layers on the CPU), e.g. 64GB; needs hardware")] = None,
        ram_bandwidth_gbs: Annotated[float | None, Query(
            description="system memory bandwidth, GB/s (default 51.2: dual-channel "
            "DDR4-3200)")] = None,
        mode: Annotated[str, Query(description="auto (rank each model in every mode it has), "
                                   "thinking or non-thinking; without context a thinking "
                                   "answer is sized for 32768 tokens")] = "auto",
    ) -> Response:
        query = advisor.parse_query(
            vram=vram, task=task, context=context, cache_type=cache_type, hardware=hardware,
            hardware_kind=hardware_kind, bandwidth_gbs=bandwidth_gbs, fp16_tflops=fp16_tflops,
            hardware_memory_gb=hardware_memory_gb, threads=threads, devices=devices,
            min_tokens_per_s=min_tokens_per_s, family=family,
            models=[m for m in models.split(",") if m.strip()] if models else None,
            alternatives=alternatives, mode=mode, ram=ram,
            ram_bandwidth_gbs=ram_bandwidth_gbs)
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

    @router.get("/memory", response_model=MemoryAnswer, responses={422: {"model": ErrorBody}})
    def memory(
        advisor: AdvisorDep,
        model: Annotated[str, Query(min_length=1, max_length=200,
                                    description="a catalog model (see /models)")],
        quant: Annotated[str, Query(min_length=1, max_length=40,
                                    description="a quant type (see /quants), e.g. Q4_K_M")],
        context: Annotated[int | None, Query(ge=1, description="context length in tokens")
                           ] = None,
        cache_type: Annotated[str, Query(description=f"KV cache type: {', '.join(CACHE_TYPES)}"
                                         )] = "f16",
        hardware: Annotated[str | None, Query(
            min_length=1, max_length=200,
            description="a name from /hardware (where the weights live follows it: CPU, "
            "unified memory or a discrete GPU); several GPUs as 'RTX 3090 x2'")] = None,
    ) -> MemoryAnswer:
        """How much memory ``model`` at ``quant`` takes: weights, KV cache (and recurrent
        state), compute buffers and runtime overhead, with what the estimate assumes."""
        return advisor.memory(model=model, quant=quant, context=context, cache_type=cache_type,
                              hardware=hardware)

    return router
