"""Database round trips, counted: a connection class whose asyncpg protocol notes every
message a caller awaits (a simple query, a prepare, a bind-execute…) — what a command
waits for, which tests bound and ``bench/roundtrips.py`` prints.

    pool = await create_pool(dsn, schema, connection_class=CountingConnection)
    with counted() as log:
        ...  # every round trip of the pool's connections meanwhile, in ``log``

(Wrapping the protocol is the only place every round trip passes: asyncpg's query
loggers see statements, not the prepares a statement cache miss adds.)
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, ClassVar

import asyncpg

__all__ = ["CountingConnection", "counted"]

_AWAITED = ("query", "prepare", "bind_execute", "bind_execute_many", "copy_in", "copy_out",
            "close_statement")


class _Counted:
    """asyncpg's protocol, each awaited message noted in ``log`` while it is not None."""

    log: ClassVar[list[str] | None] = None

    def __init__(self, protocol: Any):
        self.__dict__["_protocol"] = protocol

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._protocol, name)
        if name not in _AWAITED:
            return attr

        async def noted(*args: Any, **kwargs: Any) -> Any:
            if _Counted.log is not None:
                text = next((a if isinstance(a, str) else a.query
                             for a in (*args, *kwargs.values())
                             if isinstance(a, str) or hasattr(a, "query")), "?")
                _Counted.log.append(f"{name:12s} {' '.join(text.split())[:100]}")
            return await attr(*args, **kwargs)

        return noted

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._protocol, name, value)


class CountingConnection(asyncpg.Connection):  # type: ignore[misc]
    """A connection whose round trips :func:`counted` notes."""

    def __init__(self, protocol: Any, *args: Any, **kwargs: Any):
        super().__init__(_Counted(protocol), *args, **kwargs)  # type: ignore[arg-type]


@contextmanager
def counted() -> Iterator[list[str]]:
    """The round trips of every :class:`CountingConnection` while the block runs, each
    as ``"<message> <statement's first 100 characters>"``."""
    log: list[str] = []
    _Counted.log = log
    try:
        yield log
    finally:
        _Counted.log = None
