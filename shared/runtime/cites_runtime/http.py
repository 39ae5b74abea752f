"""The HTTP edge every service shares: who calls and why, roles, paging, errors → answers.

A route names who may call it with a role alias and gets a :class:`Caller`: the acting
:class:`~cites_runtime.actor.Actor`, the request's :class:`~cites_runtime.uow.Cause` and
the runtime. A command opens its unit of work from it, so the events it causes carry the
caller's correlation id and trace without any parameter threaded by hand::

    @router.post("/cites/{cite_id}/suspension")
    async def suspend(cite_id: CiteId, body: MotiveIn, caller: National) -> CiteView:
        async with caller.unit_of_work() as uow:
            label = await service.suspend_label(uow, cite_id, body.motive, caller.actor)
        return CiteView.of(label)

:func:`install` (called by the app factory) answers domain errors
(:mod:`cites_runtime.errors`) and validation errors the same way in every service, and
before any route (or authentication) sees a request refuses a body larger than
``http_max_body_bytes`` (413, read no further), JSON nested deeper than
:data:`MAX_JSON_DEPTH` (422) and text PostgreSQL cannot store (422).

**Paging** (every list endpoint): keyset cursors. A page is ``{"items": [...],
"next_cursor": "..."}``; pass ``?cursor=<next_cursor>`` for the next one, until
``next_cursor`` is null. ``limit`` is 1–200 (default 50). Cursors are opaque; one that
this API did not give is a 422 naming ``cursor``. Chosen over offsets because a page
stays right while rows are inserted and a deep page costs what the first one does.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import re
import time
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, Generic, TypeVar
from urllib.parse import parse_qsl
from uuid import UUID, uuid4, uuid5

import asyncpg
from fastapi import Depends, FastAPI, Query, Request, Response
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials
from prometheus_client import Counter, Histogram
from pydantic import BaseModel, ConfigDict, Field

from .actor import Actor, Role
from .auth import BEARER, require
from .db import unstorable_text
from .errors import DomainError
from .logs import bind, get_logger
from .retry import MAYBE_TRANSIENT, is_transient
from .uow import Cause, UnitOfWork, new_traceparent

log = get_logger(__name__)

if TYPE_CHECKING:
    from .app import Runtime

__all__ = [
    "CORRELATION_NAMESPACE",
    "MAX_JSON_DEPTH",
    "Anyone",
    "Caller",
    "GuardBodies",
    "Input",
    "National",
    "Operator",
    "Page",
    "PageRequest",
    "Paging",
    "Prefecture",
    "Reader",
    "caller",
    "cause_of",
    "install",
]

T = TypeVar("T")
V = TypeVar("V")

REQUESTS = Counter("http_requests_total", "HTTP requests", ["method", "route", "status"])
LATENCY = Histogram("http_request_seconds", "HTTP request latency", ["method", "route"])


class Input(BaseModel):
    """Base of every body an API accepts: unknown fields are refused (a typo is a 422, not
    a silently ignored field), and the parsed body is immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


# --- who calls, and why ------------------------------------------------------------------

CORRELATION_NAMESPACE = UUID("6f1c3d2e-8a47-4b0e-9c55-2f7d1e0a9b31")
"""A caller's ``X-Correlation-ID`` that is not a UUID (envelopes carry UUIDs) becomes
``uuid5(CORRELATION_NAMESPACE, value)``: the same value always correlates the same
events, and the response's ``X-Correlation-ID`` says which UUID that is."""


def cause_of(request: Request) -> Cause:
    """Why a request's events happen: its correlation id (``X-Correlation-ID``, else a new
    one) and its W3C trace (``traceparent``), the same for every unit of work it opens."""
    found: Cause | None = getattr(request.state, "cause", None)
    if found is not None:
        return found
    raw = request.headers.get("x-correlation-id", "").strip()
    if not raw:
        correlation = uuid4()
    else:
        try:
            correlation = UUID(raw)
        except ValueError:
            correlation = uuid5(CORRELATION_NAMESPACE, raw)
    cause = Cause(correlation_id=correlation,
                  traceparent=new_traceparent(request.headers.get("traceparent")))
    request.state.cause = cause
    return cause


@dataclass(frozen=True, slots=True)
class Caller:
    """Who sends the request and why, with the runtime to act through."""

    actor: Actor
    cause: Cause
    runtime: Runtime[Any]

    def unit_of_work(self) -> contextlib.AbstractAsyncContextManager[UnitOfWork]:
        """A transaction whose events carry this request's cause."""
        return self.runtime.unit_of_work(self.cause)

    @property
    def pool(self) -> asyncpg.Pool:
        """For queries (reads need no unit of work)."""
        return self.runtime.pool


def caller(*roles: Role) -> Callable[..., Coroutine[Any, Any, Caller]]:
    """FastAPI dependency: the :class:`Caller`, authenticated, holding one of ``roles``."""
    check = require(*roles)

    async def dependency(request: Request, credentials: HTTPAuthorizationCredentials | None
                         = Depends(BEARER)) -> Caller:
        actor = await check(request, credentials)
        return Caller(actor, cause_of(request), request.app.state.runtime)

    return dependency


National = Annotated[Caller, Depends(caller(Role.NATIONAL))]
"""The national coordination only."""
Prefecture = Annotated[Caller, Depends(caller(Role.PREFECTURE))]
"""A préfecture only (in its own département: ``actor.ensure_acts_for``)."""
Operator = Annotated[Caller, Depends(caller(Role.NATIONAL, Role.PREFECTURE))]
"""The national coordination, or a préfecture in its own département: who operates the
programme (not to be confused with the role ``operator``, who runs the platform and reads
only its metrics and documents)."""
Reader = Annotated[Caller, Depends(caller(Role.NATIONAL, Role.PREFECTURE, Role.RECTORAT,
                                          Role.VIEWER))]
"""The State's readers: national coordination, préfectures, rectorats, viewers."""
Anyone = Annotated[Caller, Depends(caller(Role.NATIONAL, Role.PREFECTURE, Role.RECTORAT,
                                          Role.PARTNER, Role.VIEWER))]
"""Any holder of a programme role, partners included (not ``operator`` alone)."""


# --- paging ---------------------------------------------------------------------------------


class Page(BaseModel, Generic[T]):
    """One page of a list. See the module's docstring for the contract."""

    items: list[T]
    next_cursor: str | None = Field(
        description="Pass as ?cursor= for the next page; null on the last page")

    def map(self, view: Callable[[T], V]) -> Page[V]:
        """The same page with each item made into ``view``'s (page the store's rows by a
        key the response model does not show, then build the response models)."""
        return Page[V](items=[view(item) for item in self.items],
                       next_cursor=self.next_cursor)


def _cursor_error(cursor: str, why: str) -> RequestValidationError:
    return RequestValidationError([{
        "loc": ("query", "cursor"), "type": "cursor", "input": cursor,
        "msg": f"cursor is not one this API gave ({why}): pass the previous page's "
               "next_cursor unchanged",
    }])


@dataclass(frozen=True, slots=True)
class PageRequest:
    """What a list endpoint was asked for: the position after which to read, and how many."""

    cursor: str | None
    limit: int

    @property
    def fetch(self) -> int:
        """Rows to ask the store for: one more than the page tells whether another follows."""
        return self.limit + 1

    def after(self, *types: Callable[[str], Any]) -> tuple[Any, ...] | None:
        """The keyset position the cursor holds, each value converted by ``types`` (e.g.
        ``datetime.fromisoformat, UUID``); None on the first page. A cursor that does not
        decode to that many valid values is a 422."""
        if self.cursor is None:
            return None
        try:
            raw = base64.urlsafe_b64decode(self.cursor + "=" * (-len(self.cursor) % 4))
            values = json.loads(raw)
        except (binascii.Error, ValueError) as exc:
            raise _cursor_error(self.cursor, "not decodable") from exc
        if not isinstance(values, list) or len(values) != len(types) or not all(
                isinstance(v, str) for v in values):
            raise _cursor_error(self.cursor, "wrong shape")
        if any(unstorable_text(v) for v in values):
            raise _cursor_error(self.cursor, "unstorable text")
        try:
            return tuple(convert(v) for convert, v in zip(types, values, strict=True))
        except (ValueError, TypeError) as exc:
            raise _cursor_error(self.cursor, "bad value") from exc

    def page(self, rows: Sequence[T], key: Callable[[T], Sequence[object]]) -> Page[T]:
        """The page of ``rows`` (fetched with :attr:`fetch`); ``key`` gives a row's sort key,
        whose values (as ``str``) the next cursor holds."""
        items = list(rows[:self.limit])
        more = len(rows) > self.limit
        cursor = None
        if more:
            raw = json.dumps([_cursor_text(v) for v in key(items[-1])]).encode()
            cursor = base64.urlsafe_b64encode(raw).decode().rstrip("=")
        return Page(items=items, next_cursor=cursor)


def _cursor_text(value: object) -> str:
    isoformat = getattr(value, "isoformat", None)
    return str(isoformat() if callable(isoformat) else value)


async def page_request(
    cursor: Annotated[str | None, Query(max_length=1000,
                                        description="next_cursor of the previous page")] = None,
    limit: Annotated[int, Query(ge=1, le=200, description="Items per page")] = 50,
) -> PageRequest:
    return PageRequest(cursor, limit)


Paging = Annotated[PageRequest, Depends(page_request)]


# --- answers ----------------------------------------------------------------------------------


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


# JSON escapes that decode to text PostgreSQL cannot store: NUL, or a lone surrogate.
_UNSTORABLE_ESCAPE = re.compile(rb"\\u(?:0000|[dD][89a-fA-F][0-9a-fA-F]{2})")


def _find_unstorable(value: Any, path: tuple[str | int, ...] = ()
                     ) -> tuple[tuple[str | int, ...], tuple[str, str]] | None:
    """Where, in decoded JSON, a key or string holds text PostgreSQL cannot store."""
    if isinstance(value, str):
        why = unstorable_text(value)
        return (path, why) if why else None
    items = value.items() if isinstance(value, dict) else enumerate(value) \
        if isinstance(value, list) else ()
    for key, item in items:
        if isinstance(key, str) and (why := unstorable_text(key)):
            return (*path, key), why
        found = _find_unstorable(item, (*path, key))
        if found is not None:
            return found
    return None


def _unstorable_in_url(scope: Any) -> tuple[list[str | int], tuple[str, str]] | None:
    """A NUL in the path or a query parameter (``%00``): the URL decodes to it, and no
    column could store it."""
    if "\x00" in scope.get("path", ""):
        return ["path"], ("text_nul", "The path may not contain the NUL character (%00)")
    query = scope.get("query_string", b"")
    if b"%00" in query:
        for name, value in parse_qsl(query.decode("latin-1"), keep_blank_values=True):
            if "\x00" in name or "\x00" in value:
                return ["query", name.replace("\x00", "")], (
                    "text_nul", "Text may not contain the NUL character (%00)")
    return None


MAX_JSON_DEPTH = 128
"""How deep a JSON body may nest arrays and objects. No API body comes near it; parsing
and validating a deeper one would exhaust Python's recursion (a 400 or a 500 for bad
input), so it is refused as ``json_too_deep`` before it is parsed."""

DEFAULT_MAX_BODY_BYTES = 1024 * 1024
"""The body limit when the app has no settings (``ServiceSettings.http_max_body_bytes``)."""

_NO_BODY_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "DELETE"})
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_OPENERS = frozenset(b"[{")


def _read_as_json(content_type: bytes | None) -> bool:
    """Whether FastAPI reads a body of this Content-Type as JSON: none, or
    ``application/json`` or ``application/…+json``."""
    if not content_type:
        return True
    media = content_type.split(b";", 1)[0].strip().lower()
    return media.startswith(b"application/") and media.endswith((b"/json", b"+json"))


def _too_deep(body: bytes, limit: int) -> bool:
    """Whether JSON ``body`` nests deeper than ``limit``, without parsing it: the text of
    strings removed (escaped quotes and backslashes first), the brackets left are counted,
    stopping as soon as they are ``limit`` deep. Valid JSON is measured exactly; invalid
    JSON well enough (its parse fails anyway)."""
    structure = body
    if b'"' in structure:
        if b"\\" in structure:
            structure = structure.replace(b"\\\\", b"").replace(b'\\"', b"")
        structure = b"".join(structure.split(b'"')[::2])
    depth = 0
    for bracket in structure.translate(None, _NOT_BRACKETS):
        if bracket in _OPENERS:
            depth += 1
            if depth > limit:
                return True
        else:
            depth -= 1
    return False


class GuardBodies:
    """ASGI middleware: what no route should see, refused before routing and
    authentication, for every route of every service.

    - **A body larger than** ``max_body_bytes``: a 413, answered at once when the
      ``Content-Length`` says so, else as soon as the chunks read add up to more; nothing
      more is read (a 100 MB body no longer costs 100 MB of memory before its 401).
    - **JSON nested deeper than** ``max_json_depth``: a 422 ``json_too_deep`` on
      ``body`` (parsing it would exhaust the recursion limit). A body no longer than the
      limit cannot be that deep (a length check); a longer one is counted (two C-speed
      counts of ``[`` and ``{``), and scanned only when it holds more of them than the
      limit.
    - **Text PostgreSQL cannot store**: ``\\u0000`` and lone ``\\udXXX`` escapes are
      valid JSON and ``%00`` a valid URL escape, but they decode to text PostgreSQL
      cannot store; pydantic lets such strings through and the write then fails (a 500
      for bad input). A 422 naming the field. A body is parsed here only when such an
      escape appears in it (a cheap scan).

    A body is read whole (up to the limit) and replayed to the app; a GET, HEAD, OPTIONS
    or DELETE without one passes straight through."""

    def __init__(self, app: Any, *, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
                 max_json_depth: int = MAX_JSON_DEPTH):
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.max_json_depth = max_json_depth

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        found = _unstorable_in_url(scope)
        if found is not None:
            await _refuse(found, scope, receive, send)
            return
        declared: int | None = None
        chunked = False
        content_type: bytes | None = None
        for name, value in scope["headers"]:  # names are lower-case bytes in ASGI
            if name == b"content-length":
                declared = int(value) if value.isdigit() else None  # else: counted as read
            elif name == b"transfer-encoding":
                chunked = True
            elif name == b"content-type":
                content_type = value
        if scope["method"] in _NO_BODY_METHODS and not chunked and not declared:
            await self.app(scope, receive, send)
            return
        limit = self.max_body_bytes
        if declared is not None and declared > limit:
            await self._too_large(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                await self._too_large(scope, receive, send)
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)  # no copy for the usual single chunk
        depth = self.max_json_depth
        if len(body) > depth and body.count(b"[") + body.count(b"{") > depth \
                and _read_as_json(content_type) and _too_deep(body, depth):
            await _refuse((["body"], ("json_too_deep", f"JSON nested deeper than {depth} "
                                                       "levels (arrays and objects)")),
                          scope, receive, send)
            return
        if _UNSTORABLE_ESCAPE.search(body):
            try:
                in_body = _find_unstorable(json.loads(body))
            except (ValueError, RecursionError):
                in_body = None  # not JSON (or not read as JSON): FastAPI reports it
            if in_body is not None:
                path, why = in_body
                await _refuse((["body", *path], why), scope, receive, send)
                return
        sent = False

        async def replay() -> Any:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _too_large(self, scope: Any, receive: Any, send: Any) -> None:
        response = JSONResponse(
            {"detail": f"request body larger than {self.max_body_bytes} bytes"},
            status_code=413)
        await response(scope, receive, send)


async def _refuse(found: tuple[list[str | int], tuple[str, str]], scope: Any, receive: Any,
                  send: Any) -> None:
    loc, (kind, why) = found
    response = JSONResponse({"detail": [{"type": kind, "loc": loc, "msg": why}]},
                            status_code=422)
    await response(scope, receive, send)


class ObserveRequests:
    """ASGI middleware: each request's correlation id bound in its log lines and answered
    in ``X-Correlation-ID``, its count and latency per route (``http_requests_total``,
    ``http_request_seconds``).

    Plain ASGI rather than ``@app.middleware("http")``: Starlette's ``BaseHTTPMiddleware``
    runs the rest of the app in a task of its own and streams the answer back through
    memory channels: labelling's CPU per label decision was 7.17–7.23 ms with it, 6.27–6.90
    without (two alternated runs of ``python -m bench.decision_profile``). Here the app
    runs in the request's own task and the answer passes straight through, the header
    added to its start message."""

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

        try:
            with bind(correlation_id=cause.correlation_id):
                await self.app(scope, receive, answer)
        finally:
            route = scope.get("route")
            path = getattr(route, "path", "unmatched")
            method = scope["method"]
            REQUESTS.labels(method, path, str(status)).inc()
            LATENCY.labels(method, path).observe(time.perf_counter() - started)


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
