"""What the runtime retries in place (transient) and what it gives up on: a database that is
failing over, full, out of memory, cancelling statements or not migrated yet is not a
reason to dead-letter an event."""

from __future__ import annotations

import asyncpg
import pytest
from aiokafka.errors import KafkaConnectionError, MessageSizeTooLargeError

from cites_runtime.errors import Conflict
from cites_runtime.retry import is_transient

E = asyncpg.exceptions


@pytest.mark.parametrize("exc", [
    E.ReadOnlySQLTransactionError("read-only after a failover"),  # 25006
    E.DiskFullError("could not extend file"),  # 53100
    E.OutOfMemoryError("out of memory"),  # 53200
    E.TooManyConnectionsError("too many clients"),  # 53300
    E.QueryCanceledError("canceling statement due to statement timeout"),  # 57014
    E.AdminShutdownError("terminating connection"),  # 57P01
    E.CannotConnectNowError("the database system is starting up"),  # 57P03
    E.ConnectionDoesNotExistError("connection does not exist"),  # 08003
    E.SerializationError("could not serialize access"),  # 40001
    E.DeadlockDetectedError("deadlock detected"),  # 40P01
    E.LockNotAvailableError("could not obtain lock"),  # 55P03
    E.UndefinedTableError('relation "x" does not exist'),  # 42P01: not migrated yet
    E.UndefinedColumnError('column "y" does not exist'),  # 42703: not migrated yet
    E.IdleInTransactionSessionTimeoutError("idle in transaction timeout"),  # 25P03
    ConnectionResetError(), TimeoutError(), KafkaConnectionError(),
    # asyncpg's report of a session the server ended mid-COMMIT (fault suite, restart)
    asyncpg.InternalClientError("cannot switch to state 15; another operation (2) is in "
                                "progress"),
], ids=lambda e: type(e).__name__)
def test_a_failure_that_time_or_an_operator_fixes_is_transient(exc: BaseException) -> None:
    assert is_transient(exc)


@pytest.mark.parametrize("exc", [
    E.UniqueViolationError("duplicate key"),  # 23505: the data says no
    E.CheckViolationError("check constraint"),  # 23514
    E.InvalidTextRepresentationError("invalid input syntax"),  # 22P02
    E.DataError("bad data"),  # 22000
    E.UndefinedFunctionError("function does not exist"),  # 42883: a bug, not a deploy
    Conflict("a rule says no"), ValueError("a bug"), MessageSizeTooLargeError(),
], ids=lambda e: type(e).__name__)
def test_a_failure_of_the_event_or_the_code_is_not(exc: BaseException) -> None:
    assert not is_transient(exc)
