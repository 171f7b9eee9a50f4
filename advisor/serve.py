"""Running the HTTP service (uvicorn): settings checked for the real host, logging configured.

For :mod:`advisor.cli`'s ``serve``: ``run(get_settings(), host=host, port=port)``. A CLI
``--host`` goes through the same start-up checks as ``ADVISOR_HOST`` (a non-loopback host with
write endpoints and no token refuses to start).

The configuration is the one ``benchmarks/load_recommend.py`` measured best on the 2-core
development machine: httptools and uvloop (about 1.4x the throughput of h11 on asyncio),
uvicorn's own access log off (the service writes its JSON one), the loaded state frozen out
of the garbage collector (:func:`advisor.api.create_app`), and ``ADVISOR_WORKERS``
processes (default 2: about twice one process's throughput, since one process is bound to a
core by the interpreter lock). With several workers, uvicorn imports :func:`worker_app` in each
process; the settings reach them through the environment, the database is migrated once
before they start, and each follows the serving predictor version through the registry
(:class:`advisor.service.Service`), and ``/metrics`` sums the workers' counters
(:class:`advisor.observability.Metrics`).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from advisor.errors import InvalidInputError
from advisor.settings import Settings, get_settings

if TYPE_CHECKING:
    from fastapi import FastAPI

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
    """The uvicorn options the service runs with (measured, see the module docstring)."""
    return {"host": settings.host, "port": settings.port, "http": "httptools",
            "loop": "uvloop", "log_config": None, "access_log": False}


def run(settings: Settings, *, host: str | None = None, port: int | None = None) -> None:
    import uvicorn

    from advisor.api import create_app
    from advisor.observability import configure_logging

    settings = effective_settings(settings, host=host, port=port)
    configure_logging(as_json=settings.log_json, access_log=settings.access_log)
    if settings.writes_open:
        logging.getLogger(__name__).warning(
            "local mode: write endpoints are open without a token on %s", settings.host)
    if settings.workers == 1:
        uvicorn.run(create_app(settings, freeze_heap=True), **uvicorn_options(settings))
        return
    from advisor.store import Store

    Store.open(settings.sqlalchemy_url).close()  # migrate once, not in every worker at once
    export_settings(settings)
    metrics_dir = None
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):  # /metrics sums the workers' files
        metrics_dir = tempfile.mkdtemp(prefix="advisor-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
    try:
        uvicorn.run(f"{__name__}:worker_app", factory=True, workers=settings.workers,
                    **uvicorn_options(settings))
    finally:
        if metrics_dir is not None:
            shutil.rmtree(metrics_dir, ignore_errors=True)


def worker_app() -> FastAPI:
    """The app of one worker process: settings from the environment (:func:`export_settings`)."""
    from advisor.api import create_app
    from advisor.observability import configure_logging

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

