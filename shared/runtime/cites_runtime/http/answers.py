"""Errors → answers, the same in every service, and :func:`install`, which gives an app
the whole shared edge."""

from __future__ import annotations

import json

import asyncpg
from fastapi import FastAPI, Request, Response
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from ..errors import DomainError
from ..logs import get_logger
from ..retry import MAYBE_TRANSIENT, is_transient
from .guards import DEFAULT_MAX_BODY_BYTES, GuardBodies
from .observe import ObserveRequests

__all__ = ["install"]

log = get_logger(__name__)


def install(app: FastAPI, *, max_body_bytes: int | None = None) -> None:
    """Give ``app`` the shared edge: error answers, the body guard (:class:`GuardBodies`:
    size, depth, unstorable text) and the request observer (correlation id in logs and in
    the response, metrics). The body limit is ``max_body_bytes``, else the
    ``http_max_body_bytes`` of the app's settings (``app.state.settings``)."""
    app.add_exception_handler(DomainError, _domain_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(asyncpg.UniqueViolationError, _unique_violation)
    for transient in MAYBE_TRANSIENT:
        app.add_exception_handler(transient, _unavailable)
    if max_body_bytes is None:
        settings = getattr(app.state, "settings", None)
        max_body_bytes = int(getattr(settings, "http_max_body_bytes", DEFAULT_MAX_BODY_BYTES))
    app.add_middleware(GuardBodies, max_body_bytes=max_body_bytes)
    app.add_middleware(ObserveRequests)  # added last: outermost, so it sees GuardBodies' refusals


def _domain_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, DomainError)
    return JSONResponse(exc.body(), status_code=exc.status)


async def _unavailable(request: Request, exc: Exception) -> Response:
    """The database away (refused, reset, shutting down, timing out…) is nobody's fault
    and passes: 503 with Retry-After, so a client retries the same request. Anything else
    of these types is a defect: re-raised, a 500."""
    if not is_transient(exc):
        raise exc
    log.warning("request refused: a dependency is unavailable", path=request.url.path,
                error=repr(exc))
    return JSONResponse({"detail": "the service's database is unavailable for a moment: "
                         "retry the request"}, status_code=503, headers={"Retry-After": "1"})


def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    # ASCII-escaped: an echoed input holding a lone surrogate still encodes.
    body = json.dumps({"detail": jsonable_encoder(exc.errors())}, ensure_ascii=True)
    return Response(body, status_code=422, media_type="application/json")


def _unique_violation(request: Request, exc: Exception) -> Response:
    # A use case checks uniqueness before it writes; a violation escaping it means a
    # concurrent request wrote the same key in between and won: the state changed.
    return JSONResponse({"detail": "changed by a concurrent request: read the current "
                                   "state and retry"}, status_code=409)
