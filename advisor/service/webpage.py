"""The web page: ``/`` (a form and inline-SVG charts over ``/v1/recommend``), its static files
under ``/static``, and the read-only chart data endpoint ``/v1/candidates``.

Call :func:`mount_web` on the app from :func:`advisor.service.app.create_app`. The page is plain
HTML, CSS and JavaScript in ``advisor/web/``: no build step, nothing fetched from elsewhere.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, FastAPI, Query, Request
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field

from advisor.data.hardware import MAX_DEVICES, MAX_THREADS
from advisor.recommender.charts import chart_points, points_records
from advisor.service.errors import ErrorBody

if TYPE_CHECKING:
    from advisor.recommender.advisor import Advisor

WEB_DIR = Path(__file__).resolve().parent / "web"


class CandidatePoint(BaseModel):
    """One candidate, compact: what the trade-off charts plot."""

    model: str
    mode: str = Field(description="thinking or non-thinking")
    family: str
    params_b: float
    quant: str
    bpw: float = Field(description="typical bits per weight of the quant")
    file_bytes: int
    total_bytes: int = Field(description="memory estimate at the query's context, bytes")
    quality_score: float = Field(description="task-weighted quality, 0-100 scale")
    retention: float = Field(description="capability-weighted fraction of quality kept")
    fits: bool = Field(description="total_bytes is within the budget")
    fast_enough: bool = Field(description="tg128 reaches min_tokens_per_s (true when unset)")
    tg128: float | None = Field(None, description="generation tokens/s on the hardware")
    pp512: float | None = Field(None, description="prompt tokens/s on the hardware")


class CandidateSet(BaseModel):
    budget_bytes: int
    task_mix: dict[str, float]
    context: int
    cache_type: str
    hardware: str | None
    threads: int | None = Field(None, description="CPU threads the speed figures assume")
    n_devices: int | None = Field(None, description="identical GPUs the layers are split over; "
                                  "None = one device")
    min_tokens_per_s: float | None
    points: list[CandidatePoint] = Field(description="sorted by total_bytes")


def mount_web(app: FastAPI) -> None:
    """Serve the page at ``/``, its files at ``/static`` and ``/v1/candidates``."""
    app.mount("/static", StaticFiles(directory=WEB_DIR), name="static")
    app.include_router(_router())


def _router() -> APIRouter:
    router = APIRouter()

    @router.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(WEB_DIR / "index.html", media_type="text/html")

    @router.get("/v1/candidates", response_model=CandidateSet,
                responses={422: {"model": ErrorBody}})
    def candidates(
        request: Request,
        vram: Annotated[str, Query(min_length=1, max_length=100,
                                   description="memory budget, as for /v1/recommend")],
        task: Annotated[str, Query(min_length=1, max_length=1000,
                                   description="category or mix, as for /v1/recommend")
                        ] = "reasoning",
        context: int | None = None,
        cache_type: str = "f16",
        hardware: str | None = None,
        hardware_kind: str | None = None,
        bandwidth_gbs: float | None = None,
        fp16_tflops: float | None = None,
        hardware_memory_gb: float | None = None,
        threads: Annotated[int | None, Query(ge=1, le=MAX_THREADS)] = None,
        devices: Annotated[int | None, Query(ge=1, le=MAX_DEVICES)] = None,
        min_tokens_per_s: float | None = None,
        family: str | None = None,
        models: str | None = None,
        ram: Annotated[str | None, Query(max_length=100, description="as for /v1/recommend "
                                         "(validated; the points are placed on the GPU)")] = None,
        ram_bandwidth_gbs: float | None = None,
        mode: Annotated[str, Query(max_length=20, description="as for /v1/recommend")] = "auto",
    ) -> CandidateSet:
        """Every candidate for the query (same parameters and errors as /v1/recommend)."""
        advisor: Advisor = request.app.state.advisor
        query = advisor.parse_query(
            vram=vram, task=task, context=context, cache_type=cache_type, hardware=hardware,
            hardware_kind=hardware_kind, bandwidth_gbs=bandwidth_gbs, fp16_tflops=fp16_tflops,
            hardware_memory_gb=hardware_memory_gb, threads=threads, devices=devices,
            min_tokens_per_s=min_tokens_per_s, family=family,
            models=[m for m in models.split(",") if m.strip()] if models else None,
            mode=mode, ram=ram, ram_bandwidth_gbs=ram_bandwidth_gbs)
        points: list[dict[str, Any]] = points_records(chart_points(advisor, query))
        return CandidateSet(
            budget_bytes=query.budget_bytes,
            task_mix={c.value: w for c, w in query.mix.items()}, context=query.context,
            cache_type=query.cache_type,
            hardware=query.hardware.name if query.hardware else None,
            threads=query.hardware.threads if query.hardware else None,
            n_devices=query.hardware.n_devices if query.hardware else None,
            min_tokens_per_s=query.min_tokens_per_s,
            points=[CandidatePoint.model_validate(p) for p in points])

    return router
