"""The HTTP API (FastAPI): a thin adapter over :class:`advisor.recommender.advisor.Advisor`.

``GET /recommend?vram=24GB&task=reasoning`` (also under ``/v1/``), ``/health``, ``/ready``,
``/metrics``, ``/quants``, ``/models``, ``/hardware``; the team service under ``/v1``
(:mod:`advisor.service.team_api`: measurements, retraining, predictor versions). OpenAPI docs at
``/docs``. Bad input answers 422 with the parameter, what was given and what is allowed;
every error is a JSON body (:mod:`advisor.service.errors`).

Serving it: :func:`run` (``quant-advisor serve``) checks the settings for the real host (a CLI
``--host`` goes through the same start-up checks as ``ADVISOR_HOST``: a non-loopback host with
write endpoints and no token refuses to start) and configures logging.

The configuration is the one ``benchmarks/load_recommend.py`` measured best on the 2-core
development machine: httptools and uvloop (about 1.4x the throughput of h11 on asyncio),
uvicorn's own access log off (the service writes its JSON one), the loaded state frozen out
of the garbage collector (:func:`create_app`), and ``ADVISOR_WORKERS``
processes (default 2: about twice one process's throughput, since one process is bound to a
core by the interpreter lock). With several workers, uvicorn imports :func:`worker_app` in each
process; the settings reach them through the environment, the database is migrated once
before they start, and each follows the serving predictor version through the registry
(:class:`advisor.service.state.Service`), and ``/metrics`` sums the workers' counters
(:class:`advisor.service.observability.Metrics`).
"""

from __future__ import annotations

import gc
import json
import logging
import os
import shutil
import signal
import tempfile
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastapi import Depends, FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.routing import APIRoute
from pydantic import ValidationError

from advisor._version import __version__
from advisor.recommender.advisor import Advisor
from advisor.service import lifeline
from advisor.service.answer_cache import AnswerCache
from advisor.service.errors import ErrorBody, ErrorItem, install_error_handlers, internal_error
from advisor.service.observability import Metrics, configure_logging, install
from advisor.service.retrain import Retrainer, Trainer
from advisor.service.routes import add_row_schemas, ops_router, public_router
from advisor.service.state import Service
from advisor.service.team_api import read_router, write_router
from advisor.service.webpage import mount_web
from advisor.vocabulary.errors import InvalidInputError, UnknownNameError
from advisor.vocabulary.settings import Settings, get_settings, is_loopback

if TYPE_CHECKING:
    from advisor.data.dataset import Dataset
    from advisor.predictors.card import ModelCard

log = logging.getLogger(__name__)
__all__ = ["ErrorBody", "ErrorItem", "create_app"]


def create_app(settings: Settings | None = None,
               advisor_factory: Callable[[Settings], Advisor] | None = None,
               trainer: Trainer | None = None, freeze_heap: bool = False,
               train_in_child: bool | None = None) -> FastAPI:
    """Build the app; store, predictors and data load once at start-up (the lifespan).

    ``advisor_factory`` builds an :class:`Advisor` from settings whose ``models_dir`` is the
    serving predictor version; ``trainer`` is what retraining runs (default
    :func:`advisor.predictors.training.train`; tests pass a fast fake), in a process of its own
    when ``train_in_child`` (default: for the default trainer), else in a thread.
    ``freeze_heap`` (the served process) hides what is loaded from the cyclic garbage
    collector (:func:`_freeze_heap`).
    """
    settings = settings or get_settings()
    factory = advisor_factory or Advisor.load
    metrics = Metrics()
    in_child = trainer is None if train_in_child is None else train_in_child

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        train = trainer or _default_trainer
        service = Service(settings, factory, metrics, lambda store, registry, activate:
                          Retrainer(settings, store, registry, train, activate,
                                    in_child=in_child))
        service.on_swap = lambda advisor: _serve(app, advisor, freeze_heap)
        app.state.service, app.state.advisor = service, service.advisor
        if freeze_heap:
            _freeze_heap()
        log.info("advisor loaded: predictors %s (version %s), store %s",
                 service.advisor.predictor_version, service.version, service.store.safe_url)
        yield
        service.close()
        metrics.close()

    app = FastAPI(title="quant-advisor", version=__version__, lifespan=lifespan,
                  dependencies=[Depends(known_query_parameters)],
                  description="Which GGUF quant of which LLM to run for a memory budget and "
                  "task mix, with predicted quality, speed and memory, and where each number "
                  "came from.")
    app.state.settings, app.state.metrics = settings, metrics
    app.state.answers = AnswerCache(settings.answer_cache_entries)
    app.state.query_names = {}  # (path, method) -> the query parameters it takes
    install_error_handlers(app)
    install(app, metrics, crash=internal_error)
    if settings.cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=settings.cors_origins,
                           allow_methods=["GET", "POST"],
                           allow_headers=["Authorization", "Content-Type", "X-Request-ID"])
    router = public_router()
    app.include_router(router)
    app.include_router(router, prefix="/v1")
    app.include_router(ops_router())
    app.include_router(read_router())
    if settings.writes_enabled:
        app.include_router(write_router())
    mount_web(app)  # the page at / and its static files
    add_row_schemas(app)
    return app


async def known_query_parameters(request: Request) -> None:
    """Refuse a query parameter the operation does not take (a typo such as ``vrma=24GB``
    would otherwise be ignored without a word), 422 naming it. What an operation takes is
    what its OpenAPI schema lists."""
    route = request.scope.get("route")
    if not isinstance(route, APIRoute) or not route.include_in_schema or not request.query_params:
        return  # the page at / keeps its form in the query string
    method = "get" if request.method == "HEAD" else request.method.lower()
    cache: dict[tuple[str, str], frozenset[str]] = request.app.state.query_names
    known = cache.get((route.path_format, method))
    if known is None:  # once per operation: this runs on every request
        operation = request.app.openapi()["paths"].get(route.path_format, {}).get(method, {})
        known = cache[(route.path_format, method)] = frozenset(
            p["name"] for p in operation.get("parameters", []) if p["in"] == "query")
    for name in request.query_params:
        if name not in known:
            raise UnknownNameError("query parameter", name, known or ["(none)"],
                                   parameter=name)


def _default_trainer(dataset: Dataset, out_dir: Path) -> ModelCard:
    """:func:`advisor.predictors.training.train`, imported only when a retraining runs."""
    from advisor.predictors.training import train

    return train(dataset, out_dir, device_folds=get_settings().eval_device_folds)


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


ENV_PREFIX = "ADVISOR_"


def effective_settings(settings: Settings, *, host: str | None = None,
                       port: int | None = None) -> Settings:
    """``settings`` with CLI overrides, validated again (raises InvalidInputError)."""
    values = settings.model_dump()
    values.update({k: v for k, v in (("host", host), ("port", port)) if v is not None})
    try:
        return Settings.model_validate(values)
    except ValidationError as e:
        raise InvalidInputError("; ".join(str(err["msg"]) for err in e.errors()),
                                parameter="host") from e


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """The uvicorn options the service runs with (measured, see the module docstring); a stop
    waits at most 10 s for requests under way."""
    return {"host": settings.host, "port": settings.port, "http": "httptools",
            "loop": "uvloop", "log_config": None, "access_log": False,
            "timeout_graceful_shutdown": 10}


def run(settings: Settings, *, host: str | None = None, port: int | None = None) -> None:
    import uvicorn

    settings = effective_settings(settings, host=host, port=port)
    configure_logging(as_json=settings.log_json, access_log=settings.access_log)
    if settings.writes_open:  # by design on loopback; worth a warning anywhere else
        loopback = is_loopback(settings.host)
        log.log(logging.INFO if loopback else logging.WARNING,
                "local mode: write endpoints are open without a token on %s", settings.host)
    if settings.workers == 1:
        uvicorn.run(create_app(settings, freeze_heap=True), **uvicorn_options(settings))
        return
    from advisor.service.store import Store

    Store.open(settings.sqlalchemy_url).close()  # migrate once, not in every worker at once
    export_settings(settings)
    os.environ[lifeline.PARENT_ENV] = str(os.getpid())  # the workers end when this process does
    metrics_dir = None
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):  # /metrics sums the workers' files
        _remove_stale_metrics_dirs()
        metrics_dir = tempfile.mkdtemp(prefix=f"{_METRICS_PREFIX}{os.getpid()}-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
    try:
        uvicorn.run(f"{__name__}:worker_app", factory=True, workers=settings.workers,
                    **uvicorn_options(settings))
    finally:
        if metrics_dir is not None:
            shutil.rmtree(metrics_dir, ignore_errors=True)


_METRICS_PREFIX = "advisor-metrics-"


def _remove_stale_metrics_dirs() -> None:
    """The workers' metrics folders of a ``serve`` that was killed before it could remove its
    own (``advisor-metrics-<pid>-*`` whose process is gone)."""
    for folder in Path(tempfile.gettempdir()).glob(f"{_METRICS_PREFIX}*-*"):
        pid = folder.name[len(_METRICS_PREFIX):].partition("-")[0]
        if pid.isdigit() and not lifeline.is_running(int(pid)):
            shutil.rmtree(folder, ignore_errors=True)


def worker_app() -> FastAPI:
    """The app of one worker process: settings from the environment (:func:`export_settings`).
    It stops when the process that started it is gone (:func:`lifeline.watch_parent`), even
    one killed with SIGKILL, so no worker keeps the port."""
    parent = os.environ.get(lifeline.PARENT_ENV, "")
    lifeline.watch_parent(lifeline.stop_self, parent=int(parent) if parent.isdigit() else None,
                          pdeathsig=signal.SIGTERM)
    settings = get_settings()
    configure_logging(as_json=settings.log_json, access_log=settings.access_log)
    return create_app(settings, freeze_heap=True)


def export_settings(settings: Settings) -> None:
    """Write ``settings`` to this process's environment (``ADVISOR_*``), which worker processes
    inherit, so each builds exactly these settings (CLI overrides included)."""
    values = settings.model_dump(mode="json")
    if settings.api_token is not None:  # dumped masked
        values["api_token"] = settings.api_token.get_secret_value()
    for name, value in values.items():
        key = ENV_PREFIX + name.upper()
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value if isinstance(value, str) else json.dumps(value)
    get_settings.cache_clear()

