"""Sessions of another role — another service's, an operator's — can neither hold this
service's relay back nor take its lead: the relay waits only on transactions of its own
role, and leads by locking a table that only its own role can lock."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
import pytest
from runtime_kit import (
    Recorder,
    a_pass_resumes_when_the_older_transaction_ends,
    an_earlier_event_committing_late,
    emit,
    holds,
)
from runtime_testapp import ThingHappened

from cites_runtime.relay import OutboxRelay
from cites_runtime.settings import ServiceSettings
from cites_runtime.testing import eventually
from cites_runtime.testing.infra import Infra
from cites_runtime.testing.plugin import ServiceDb, drop_db, new_service_db

pytestmark = pytest.mark.integration


@pytest.fixture
async def other(infra: Infra, service_db: ServiceDb) -> AsyncIterator[ServiceDb]:
    """Another service's schema and role."""
    db = await new_service_db(infra, service_db.schema + "_b")
    yield db
    await drop_db(db)


@asynccontextmanager
async def open_transaction(dsn: str) -> AsyncIterator[asyncpg.Connection]:
    """A session of ``dsn``'s role holding a transaction id, left open for the block."""
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("BEGIN; SELECT pg_current_xact_id()")
        yield conn
    finally:
        await conn.close()  # rolled back


async def test_another_roles_open_transactions_do_not_hold_back_publication(
    migrated: ServiceSettings, pool: asyncpg.Pool, other: ServiceDb
) -> None:
    """Another service's transaction and an operator's (superuser) one, both older than
    the events: one pass publishes every event while they stay open."""
    recorder = Recorder()
    relay = OutboxRelay(migrated.dsn, migrated.db_schema, recorder)
    async with open_transaction(other.dsn), open_transaction(other.admin_dsn):
        await emit(pool, migrated.db_schema, *(ThingHappened(thing_id="k", n=i) for i in range(3)))
        async with pool.acquire() as conn:
            assert await relay.publish_pending(conn) == 3
    assert [json.loads(r.value)["data"]["n"] for r in recorder.records] == [0, 1, 2]


async def test_a_pass_stopped_behind_its_own_roles_transaction_resumes_when_that_one_ends(
    migrated: ServiceSettings, pool: asyncpg.Pool, other: ServiceDb
) -> None:
    """The relay stops at a row younger than a transaction of its own role, and publishes
    it as soon as that transaction ends, although another role's older one stays open (no
    NOTIFY tells that end, and the poll interval is 30 s here)."""
    async with open_transaction(other.dsn):
        await a_pass_resumes_when_the_older_transaction_ends(migrated, pool)


async def test_an_aggregates_order_holds_when_its_earlier_event_commits_late_beside_another_role(
    migrated: ServiceSettings, pool: asyncpg.Pool, other: ServiceDb
) -> None:
    # While another role holds a transaction open: T1 writes X's event 1 and stays open;
    # T3 (aggregate Y) commits after it; the relay's first batch sees only T3's row; then
    # T1 commits and T2 writes X's event 2. X's events must go out as 1, 2.
    async with open_transaction(other.dsn):
        late = await an_earlier_event_committing_late(migrated, pool)
    assert late.first_pass == 0
    assert late.stopped  # stopped at Y's row, behind T1
    assert late.published == [("X", 1), ("Y", 1), ("X", 2)]


# -- leadership ---------------------------------------------------------------------------

async def test_another_role_cannot_take_the_relays_lock_nor_hold_its_lead_with_advisory_locks(
    migrated: ServiceSettings, pool: asyncpg.Pool, other: ServiceDb
) -> None:
    schema = migrated.db_schema
    intruder = await asyncpg.connect(other.dsn)
    try:
        async with intruder.transaction():
            with pytest.raises(asyncpg.InsufficientPrivilegeError, match="permission denied"):
                await intruder.execute(
                    f'LOCK TABLE "{schema}".relay_leader IN EXCLUSIVE MODE NOWAIT')
        # Any advisory lock it likes, among them the key a relay once led with.
        await intruder.execute("SELECT pg_advisory_lock(hashtext($1))", f"relay:{schema}")
        recorder = Recorder()
        relay = OutboxRelay(migrated.dsn, schema, recorder, poll_interval=0.05)
        task = asyncio.create_task(relay.run())
        try:
            await emit(pool, schema, *(ThingHappened(thing_id="k", n=i) for i in range(3)))
            await eventually(lambda: holds(len(recorder.records) == 3), timeout=10,
                             what="the relay leads and publishes")
            assert relay.is_leader
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    finally:
        await intruder.close()


async def test_the_lead_passes_to_a_standby_when_the_leaders_lock_session_ends(
    migrated: ServiceSettings, pool: asyncpg.Pool, service_db: ServiceDb
) -> None:
    """Only the session holding the lock ends (the relay's other sessions live on): the
    leader stops publishing at once and a standby takes over."""
    schema = migrated.db_schema
    records = Recorder(), Recorder()
    relays = [OutboxRelay(migrated.dsn, schema, r, poll_interval=0.05) for r in records]
    tasks = [asyncio.create_task(r.run()) for r in relays]
    admin = await asyncpg.connect(service_db.admin_dsn)

    async def lock_holders() -> list[int]:
        return [r["pid"] for r in await admin.fetch(
            "SELECT pid FROM pg_locks WHERE relation = $1::regclass AND granted",
            f'"{schema}".relay_leader')]

    try:
        await emit(pool, schema, ThingHappened(thing_id="k", n=0))
        await eventually(lambda: holds(sum(r.published for r in relays) == 1),
                         what="the first event published and marked")
        leader = next(i for i, r in enumerate(relays) if r.is_leader)
        standby = 1 - leader
        [holder] = await lock_holders()
        relays[leader].dsn = "postgresql://nobody@127.0.0.1:1/none"  # it cannot come back

        assert await admin.fetchval("SELECT pg_terminate_backend($1)", holder)
        await eventually(lambda: holds(not relays[leader].is_leader), timeout=2,
                         what="the old leader stops")
        await eventually(lambda: holds(relays[standby].is_leader), timeout=10,
                         what="the standby leads")
        await emit(pool, schema, *(ThingHappened(thing_id="k", n=i) for i in range(1, 4)))
        await eventually(lambda: holds(len(records[standby].records) == 3), timeout=10,
                         what="the standby publishes")
        await asyncio.sleep(0.3)  # time for the old leader to publish too, were it still
        assert [json.loads(r.value)["data"]["n"] for r in records[leader].records] == [0]
        assert holder not in await lock_holders()
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await admin.close()
