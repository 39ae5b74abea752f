"""Backoff and the line between transient failures (retry, never skip) and the rest."""

from __future__ import annotations

import asyncio
import random

import asyncpg
from aiokafka.errors import KafkaConnectionError, KafkaError, KafkaTimeoutError

__all__ = ["MAYBE_TRANSIENT", "Backoff", "is_transient"]

_TRANSIENT: tuple[type[Exception], ...] = (
    OSError,  # includes ConnectionError: refused, reset, unreachable
    TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,  # connection closed under us
    # The server ended the session mid-operation (e.g. a COMMIT in flight at a fast
    # shutdown): asyncpg reports "cannot switch to state 15; another operation is in
    # progress" (MagicStack/asyncpg#784, sqlalchemy#13241). Seen by our PostgreSQL-restart
    # fault test; the pool replaces the connection, the same work succeeds once it is back.
    asyncpg.InternalClientError,
    asyncpg.CannotConnectNowError,
    asyncpg.AdminShutdownError,
    asyncpg.CrashShutdownError,
    asyncpg.TooManyConnectionsError,
    asyncpg.SerializationError,
    asyncpg.DeadlockDetectedError,
    asyncpg.LockNotAvailableError,
    KafkaConnectionError,
    KafkaTimeoutError,
)


# PostgreSQL errors that time or an operator fix, by SQLSTATE class or code: the event
# is fine, the database is not (yet). A consumer retries these in place, never
# dead-letters for them: it stalls visibly (lag) rather than drops work.
_TRANSIENT_CLASSES = (
    "08",  # connection exception
    "53",  # insufficient resources: disk full, out of memory, too many connections
    "57P",  # operator intervention: shutdown, crash recovery, cannot connect now
)
_TRANSIENT_CODES = frozenset({
    "40001",  # serialization failure
    "40P01",  # deadlock detected
    "55P03",  # lock not available (lock_timeout)
    "57014",  # query cancelled (statement_timeout)
    "25006",  # read-only transaction: a standby just promoted, or not yet
    "25P03",  # idle-in-transaction timeout
    "42P01",  # undefined table: a rolling deploy, consumer before its migration
    "42703",  # undefined column: idem
})


MAYBE_TRANSIENT: tuple[type[Exception], ...] = (*_TRANSIENT, asyncpg.PostgresError, KafkaError)
"""Every exception type :func:`is_transient` may answer True for (to register handlers)."""


def is_transient(exc: BaseException) -> bool:
    """True when retrying later may succeed without anyone changing code or data."""
    if isinstance(exc, _TRANSIENT):
        return True
    sqlstate = getattr(exc, "sqlstate", None)
    if isinstance(exc, asyncpg.PostgresError) and isinstance(sqlstate, str):
        return sqlstate in _TRANSIENT_CODES or sqlstate.startswith(_TRANSIENT_CLASSES)
    if isinstance(exc, KafkaError):
        return bool(getattr(exc, "retriable", False))
    return False


class Backoff:
    """Exponential backoff with full jitter, capped."""

    def __init__(self, base: float = 0.1, cap: float = 10.0):
        self.base, self.cap, self.attempt = base, cap, 0

    def reset(self) -> None:
        self.attempt = 0

    def next_delay(self) -> float:
        delay = min(self.cap, self.base * 2**self.attempt)
        self.attempt += 1
        return random.uniform(delay / 2, delay)

    async def sleep(self) -> None:
        await asyncio.sleep(self.next_delay())
