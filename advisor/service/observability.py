"""Request ids, JSON logs and Prometheus metrics for the HTTP service.

Every request gets an id (a sane incoming ``X-Request-ID`` is kept, otherwise a new one), sent
back in ``X-Request-ID`` on every answer, a crash's 500 included, and put on every log line
written while it is handled. Metrics live in a registry per app, so several apps in one process
(tests) do not collide; the store's row counts (usable, quarantined) are read at each scrape.
"""

from __future__ import annotations

import contextvars
import json
import logging
import os
import re
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

if TYPE_CHECKING:
    from advisor.service.store import Store

log = logging.getLogger(__name__)

request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")
_SANE_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class Metrics:
    """The service's Prometheus metrics.

    With several worker processes (``serve`` sets ``PROMETHEUS_MULTIPROC_DIR``), each writes
    its values to files there and ``/metrics`` sums every worker's, whichever one answers; the
    version gauge is reported per process (label ``pid``), so a scrape shows which version each
    worker serves while they follow a promotion.
    """

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.multiprocess = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))
        self._version: str | None = None
        r = self.registry
        self.requests = Counter("advisor_http_requests_total", "HTTP requests",
                                ["method", "route", "status"], registry=r)
        self.latency = Histogram("advisor_http_request_seconds", "HTTP request latency",
                                 ["method", "route"], registry=r,
                                 buckets=(.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1,
                                          2.5, 5, 10))
        self.errors = Counter("advisor_http_errors_total", "answers with status >= 500",
                              ["route"], registry=r)
        self.model_version = Gauge("advisor_model_info", "serving predictor version (1)",
                                   ["version"], registry=r, multiprocess_mode="liveall")
        self.stored = Counter("advisor_measurements_stored_total",
                              "measurement rows stored by this process", registry=r)
        self.rejected = Counter("advisor_measurements_rejected_total",
                                "measurement rows rejected by this process", registry=r)
        self._store: StoreRows | None = None

    def set_version(self, version: str) -> None:
        if self._version is not None:
            # Multiprocess files cannot forget a label: the old version reads 0, not stale 1.
            if self.multiprocess:
                self.model_version.labels(version=self._version).set(0)
            else:
                self.model_version.remove(self._version)
        self.model_version.labels(version=version).set(1)
        self._version = version

    def watch_store(self, store: Store) -> None:
        """Report the store's row counts (usable, quarantined) at each scrape."""
        self._store = StoreRows(store)
        if not self.multiprocess:
            self.registry.register(self._store)

    def exposition(self) -> bytes:
        """The text format for ``/metrics``: this process's, or every worker's summed."""
        if not self.multiprocess:
            return generate_latest(self.registry)  # type: ignore[no-any-return]
        from prometheus_client import multiprocess

        combined = CollectorRegistry()
        multiprocess.MultiProcessCollector(combined)
        if self._store is not None:
            combined.register(self._store)
        return generate_latest(combined)  # type: ignore[no-any-return]

    def close(self) -> None:
        """This process stops: with several workers, drop its live gauges' file."""
        if self.multiprocess:
            from prometheus_client import multiprocess

            multiprocess.mark_process_dead(os.getpid())


class StoreRows(Collector):
    """``advisor_stored_rows{state="usable"|"quarantined"}``, counted in the store when
    scraped (the same from every worker); nothing when the store does not answer."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def collect(self) -> Iterator[GaugeMetricFamily]:
        try:
            quarantined = self.store.count(quarantined=True)
            usable = self.store.count(quarantined=False)
        except Exception as e:  # /metrics still answers; /ready says the store is down
            log.debug("cannot count the stored rows: %s", e)
            return
        family = GaugeMetricFamily("advisor_stored_rows", "measurement rows in the store: "
                                   "usable, or quarantined (skipped by training; see GET "
                                   "/v1/quarantine)", labels=["state"])
        family.add_metric(["usable"], usable)
        family.add_metric(["quarantined"], quarantined)
        yield family


def install(app: FastAPI, metrics: Metrics, crash: Callable[[], Response]) -> None:
    """Add the request-id, logging and metrics middleware (pure ASGI: no per-request task).
    ``crash()`` is the answer to an unhandled error (a 500 body)."""
    app.add_middleware(ObserveMiddleware, metrics=metrics, crash=crash)


class ObserveMiddleware:
    """Request id (``X-Request-ID``, kept when sane, else new), latency and status metrics,
    one access-log line per HTTP request, and the 500 answer to an unhandled error (here, so
    that it carries the request id like every other answer)."""

    def __init__(self, app: ASGIApp, metrics: Metrics, crash: Callable[[], Response]) -> None:
        self.app = app
        self.metrics = metrics
        self.crash = crash
        self.access = logging.getLogger("advisor.access")
        # The labelled series per (method, route, status), looked up once: labels() takes a
        # lock and builds a key on every call. Bounded like the series themselves.
        self._series: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = ""
        for key, value in scope.get("headers", ()):
            if key == b"x-request-id":
                incoming = value.decode("latin-1")
        rid = incoming if _SANE_ID.match(incoming) else uuid.uuid4().hex
        token = request_id.set(rid)
        start = time.perf_counter()
        status = 500
        started = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, started
            if message["type"] == "http.response.start":
                status, started = message["status"], True
                message["headers"] = [*message.get("headers", ()),
                                      (b"x-request-id", rid.encode("latin-1"))]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception as exc:
            log.error("unhandled %s: %s", type(exc).__name__, exc, exc_info=exc)
            if started:  # the answer is under way: nothing left to say but to cut it
                raise
            await self.crash()(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - start
            route = getattr(scope.get("route"), "path", "<unmatched>")
            method = scope.get("method", "")
            series = self._series.get((method, route, status))
            if series is None:
                series = self._series[(method, route, status)] = (
                    self.metrics.requests.labels(method, route, str(status)),
                    self.metrics.latency.labels(method, route))
            series[0].inc()
            series[1].observe(elapsed)
            if status >= 500:
                self.metrics.errors.labels(route).inc()
            self.access.info("%s %s %d", method, route, status,
                             extra={"status": status, "duration_ms": round(elapsed * 1000, 2)})
            request_id.reset(token)


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time, level, logger, message, request_id and extras."""

    _PLAIN = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message"}

    def format(self, record: logging.LogRecord) -> str:
        out = {"time": datetime.fromtimestamp(record.created, UTC).isoformat(
                   timespec="milliseconds"),
               "level": record.levelname, "logger": record.name,
               "message": record.getMessage(), "request_id": request_id.get()}
        out.update({k: v for k, v in record.__dict__.items()
                    if k not in self._PLAIN and not k.startswith("_")})
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str)


def configure_logging(*, as_json: bool, level: int = logging.INFO,
                      access_log: bool = True) -> None:
    """Configure the root logger (entry points only); ``access_log=False`` drops the line per
    request (``advisor.access``, about a third of the middleware's cost)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(_with_request_id)
    handler.setFormatter(JsonFormatter() if as_json else logging.Formatter(
        "%(asctime)s %(levelname)s %(name)s [%(request_id)s]: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.getLogger("advisor.access").setLevel(logging.NOTSET if access_log else logging.WARNING)
    # Alembic narrates every start ("setup plugin ...", "Context impl ..."); the store logs
    # the one line that matters, a migration that changed the schema.
    logging.getLogger("alembic").setLevel(max(level, logging.WARNING))


def _with_request_id(record: logging.LogRecord) -> bool:
    """Give every record the id of the request being handled (``-`` outside requests)."""
    if not hasattr(record, "request_id"):
        record.request_id = request_id.get()
    return True
