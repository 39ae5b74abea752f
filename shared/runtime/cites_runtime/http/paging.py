"""Paging of every list endpoint: keyset cursors.

A page is ``{"items": [...], "next_cursor": "..."}``; pass ``?cursor=<next_cursor>`` for
the next one, until ``next_cursor`` is null. ``limit`` is 1–200 (default 50). Cursors are
opaque; one that this API did not give is a 422 naming ``cursor``. Chosen over offsets
because a page stays right while rows are inserted and a deep page costs what the first
one does.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Depends, Query
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field

from ..db import unstorable_text

__all__ = ["Page", "PageRequest", "Paging", "page_request"]

T = TypeVar("T")
V = TypeVar("V")


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
"""A list endpoint's paging parameters (``cursor``, ``limit``), as a :class:`PageRequest`."""
