"""Each request observed: its correlation id in its log lines and in its answer, one access
log line, its count and latency per route."""

from __future__ import annotations

import time
from typing import Any

from fastapi import Request
from prometheus_client import Counter, Histogram

from ..logs import bind, get_logger
from .caller import cause_of

__all__ = ["ObserveRequests"]

REQUESTS = Counter("http_requests_total", "HTTP requests", ["method", "route", "status"])
LATENCY = Histogram("http_request_seconds", "HTTP request latency", ["method", "route"])
QUIET = ("/health/live", "/health/ready", "/metrics")
"""Probes and scrapes, every few seconds from the orchestrator and Prometheus: counted,
never logged."""

log = get_logger(__name__)


class ObserveRequests:
    """ASGI middleware: each request's correlation id bound in its log lines and answered
    in ``X-Correlation-ID``, its count and latency per route (``http_requests_total``,
    ``http_request_seconds``), and an access line ``request`` (method, route, path, status,
    milliseconds) at INFO — inside the request's span when tracing is on, so it carries
    the trace id.

    Plain ASGI rather than ``@app.middleware("http")``: Starlette's ``BaseHTTPMiddleware``
    runs the rest of the app in a task of its own and streams the answer back through
    memory channels, which costs CPU on every request (measured: docs/benchmarks.md,
    "Labelling"). Here the app runs in the request's own task and the answer passes
    straight through, the header added to its start message."""

    def __init__(self, app: Any):
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        cause = cause_of(Request(scope))
        correlation = str(cause.correlation_id)
        status = 500  # what the server answers if the app raises before its answer starts

        async def answer(message: Any) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()),
                                      (b"x-correlation-id", correlation.encode())]
            await send(message)

        with bind(correlation_id=cause.correlation_id):
            try:
                await self.app(scope, receive, answer)
            finally:
                route = getattr(scope.get("route"), "path", "unmatched")
                method, seconds = scope["method"], time.perf_counter() - started
                REQUESTS.labels(method, route, str(status)).inc()
                LATENCY.labels(method, route).observe(seconds)
                if scope["path"] not in QUIET:
                    log.info("request", method=method, route=route, path=scope["path"],
                             status=status, ms=round(seconds * 1000, 1))
