"""The services' pool (``cites_runtime.db.create_pool``) on the real PostgreSQL: a unit of
work waits for no session reset after its commit (a round trip each that resets nothing:
pooled sessions change no session state), and a connection released with its
transaction open still comes back rolled back."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest
from runtime_testapp import ThingHappened

from cites_runtime.db import create_pool
from cites_runtime.settings import ServiceSettings
from cites_runtime.uow import unit_of_work


@pytest.fixture
async def one(migrated_schema: ServiceSettings) -> AsyncIterator[asyncpg.Pool]:
    """A pool of one connection: every acquire is the same session."""
    p = await create_pool(migrated_schema.dsn, migrated_schema.db_schema, min_size=1,
                          max_size=1)
    yield p
    await p.close()


async def test_a_unit_of_work_ends_with_its_commit_and_no_reset(
    one: asyncpg.Pool, migrated_schema: ServiceSettings,
) -> None:
    sent: list[str] = []
    async with one.acquire() as conn:
        conn.add_query_logger(lambda q: sent.append(" ".join(q.query.split())))
    sent.clear()  # the release of the connection that added the logger
    async with unit_of_work(one, migrated_schema.db_schema) as uow:
        await uow.conn.execute("INSERT INTO things VALUES ('a', 1)")
        uow.emit(ThingHappened(thing_id="a", n=1))
    assert sent[0] == "BEGIN;" and sent[-1] == "COMMIT;", sent
    assert not [q for q in sent if "RESET" in q or "UNLISTEN" in q], sent


async def test_a_connection_released_inside_a_transaction_comes_back_rolled_back(
    one: asyncpg.Pool,
) -> None:
    async with one.acquire() as conn:
        await conn.execute("BEGIN")
        await conn.execute("INSERT INTO things VALUES ('left open', 1)")
    async with one.acquire() as conn:
        assert not conn.is_in_transaction()
        assert await conn.fetchval("SELECT count(*) FROM things") == 0
