"""What no route should see, refused before routing and authentication: the body guard.

:class:`GuardBodies` (ASGI middleware, installed on every service's app by
:func:`~cites_runtime.http.install`) refuses a body larger than the limit (413), JSON
nested deeper than :data:`MAX_JSON_DEPTH` (422) and text PostgreSQL cannot store, in the
URL or the body (422 naming where). Authentication and roles are the routes' own guards
(:func:`~cites_runtime.http.caller`, :mod:`cites_runtime.auth`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from fastapi.responses import JSONResponse

from ..db import unstorable_text

__all__ = ["DEFAULT_MAX_BODY_BYTES", "MAX_JSON_DEPTH", "GuardBodies"]

MAX_JSON_DEPTH = 128
"""How deep a JSON body may nest arrays and objects. No API body comes near it; parsing
and validating a deeper one would exhaust Python's recursion (a 400 or a 500 for bad
input), so it is refused as ``json_too_deep`` before it is parsed."""

DEFAULT_MAX_BODY_BYTES = 1024 * 1024
"""The body limit when the app has no settings (``ServiceSettings.http_max_body_bytes``)."""

_NO_BODY_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "DELETE"})
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_OPENERS = frozenset(b"[{")
# JSON escapes that decode to text PostgreSQL cannot store: NUL, or a lone surrogate.
_UNSTORABLE_ESCAPE = re.compile(rb"\\u(?:0000|[dD][89a-fA-F][0-9a-fA-F]{2})")

Receive = Callable[[], Awaitable[Any]]
Refusal = tuple[list[str | int], tuple[str, str]]
"""Where (a FastAPI ``loc``) and what (error type, message) a 422 names."""


class GuardBodies:
    """ASGI middleware: what no route should see, refused before routing and
    authentication, for every route of every service.

    - **A body larger than** ``max_body_bytes``: a 413, answered at once when the
      ``Content-Length`` says so, else as soon as the chunks read add up to more; nothing
      more is read, so an oversized body never sits in memory, even before its 401.
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

    async def __call__(self, scope: Any, receive: Receive, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if (found := _unstorable_in_url(scope)) is not None:
            await _refuse(found, scope, receive, send)
            return
        head = _Head.of(scope)
        if scope["method"] in _NO_BODY_METHODS and not head.chunked and not head.declared:
            await self.app(scope, receive, send)
            return
        if head.declared is not None and head.declared > self.max_body_bytes:
            await self._too_large(scope, receive, send)
            return
        body = await self._read(receive)
        if body is None:
            await self._too_large(scope, receive, send)
            return
        if (found := self._refusal(body, head.content_type)) is not None:
            await _refuse(found, scope, receive, send)
            return
        await self.app(scope, _replaying(body, receive), send)

    async def _read(self, receive: Receive) -> bytes | None:
        """The whole body, or None as soon as it is larger than the limit (read no
        further)."""
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                return None
            chunks.append(chunk)
            more = message.get("more_body", False)
        return b"".join(chunks)  # no copy for the usual single chunk

    def _refusal(self, body: bytes, content_type: bytes | None) -> Refusal | None:
        """What is wrong with a body within the size limit: too deep, or text PostgreSQL
        cannot store; None when nothing is."""
        depth = self.max_json_depth
        if len(body) > depth and body.count(b"[") + body.count(b"{") > depth \
                and _read_as_json(content_type) and _too_deep(body, depth):
            return ["body"], ("json_too_deep",
                              f"JSON nested deeper than {depth} levels (arrays and objects)")
        if _UNSTORABLE_ESCAPE.search(body):
            try:
                in_body = _find_unstorable(json.loads(body))
            except (ValueError, RecursionError):
                in_body = None  # not JSON (or not read as JSON): FastAPI reports it
            if in_body is not None:
                path, why = in_body
                return ["body", *path], why
        return None

    async def _too_large(self, scope: Any, receive: Receive, send: Any) -> None:
        response = JSONResponse(
            {"detail": f"request body larger than {self.max_body_bytes} bytes"},
            status_code=413)
        await response(scope, receive, send)


@dataclass(frozen=True, slots=True)
class _Head:
    """What a request's headers say of its body."""

    declared: int | None
    """``Content-Length``, when it is a number (else the body is counted as read)."""
    chunked: bool
    content_type: bytes | None

    @classmethod
    def of(cls, scope: Any) -> _Head:
        declared: int | None = None
        chunked = False
        content_type: bytes | None = None
        for name, value in scope["headers"]:  # names are lower-case bytes in ASGI
            if name == b"content-length":
                declared = int(value) if value.isdigit() else None
            elif name == b"transfer-encoding":
                chunked = True
            elif name == b"content-type":
                content_type = value
        return cls(declared, chunked, content_type)


def _replaying(body: bytes, receive: Receive) -> Receive:
    """The app's ``receive``: the body read, in one message, then the client's own
    messages (a disconnect)."""
    sent = False

    async def replay() -> Any:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


async def _refuse(found: Refusal, scope: Any, receive: Receive, send: Any) -> None:
    loc, (kind, why) = found
    response = JSONResponse({"detail": [{"type": kind, "loc": loc, "msg": why}]},
                            status_code=422)
    await response(scope, receive, send)


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


def _unstorable_in_url(scope: Any) -> Refusal | None:
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
