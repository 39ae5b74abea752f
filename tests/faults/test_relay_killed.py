"""Labelling's relay killed after Kafka acknowledged a batch and before the outbox rows
were marked: the batch is sent again on restart (duplicates on the wire, counted), and
partners applies every label once."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import asyncpg
import pytest
from e2e_platform import Platform
from faults_kit import Figures, label_all, outcome, report

from cites_runtime.testing import eventually, read_topic

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

CITES = 300
KILL_AT = 60  # cités labelled when the relay is caught between publish and mark

# Sessions waiting for a lock this one holds: with only unpublished outbox rows locked,
# that is the relay's UPDATE ... SET published_at (its query text is not reliably shown).
MARKING = """SELECT pid FROM pg_stat_activity
              WHERE pg_backend_pid() = ANY (pg_blocking_pids(pid))"""


async def test_relay_killed_between_publish_and_mark(platform: Platform) -> None:
    labelled: list[str] = []
    driving = asyncio.ensure_future(label_all(platform, labelled, CITES))

    async def kill_time() -> bool:
        return len(labelled) >= KILL_AT

    # Rows the relay has not marked yet, locked by us: it still reads and publishes them
    # (a read takes no row lock), then its UPDATE ... SET published_at waits on our lock.
    held = await asyncpg.connect(platform.labelling.db.dsn)  # labelling's own role
    try:
        await eventually(kill_time, timeout=120, what=f"{KILL_AT} cités")
        tx = held.transaction()
        await tx.start()
        locked: list[asyncpg.Record] = []

        async def some_locked() -> bool:
            locked.extend(await held.fetch(
                "SELECT event_id FROM outbox WHERE published_at IS NULL AND parked_at IS NULL "
                "AND topic = 'labelling.labels' ORDER BY id FOR UPDATE SKIP LOCKED"))
            return bool(locked)

        await eventually(some_locked, timeout=60, every=0.005, what="unmarked rows to lock")
        # The relay publishes some of them: rows it cannot have marked, as we hold them.
        locked_ids = {str(r["event_id"]) for r in locked}

        def published(records: list[Any]) -> set[str]:
            return locked_ids & {json.loads(r.value)["event_id"] for r in records}

        wire = await read_topic(platform.kafka, platform.topic("labelling.labels"),
                                until=lambda rs: bool(published(rs)), timeout=30)
        ids = published(wire)
        marking: list[int] = []

        async def relay_waits_to_mark() -> bool:
            marking.extend(r["pid"] for r in await held.fetch(MARKING))
            return bool(marking)

        await eventually(relay_waits_to_mark, timeout=30, what="the relay blocked marking")
        # The crash: the process dies, and its session with it (the server would notice
        # the dead peer by TCP keepalive; here at once), before our lock is released.
        platform.labelling.kill()
        await held.execute("SELECT pg_terminate_backend(pid) FROM unnest($1::int[]) pid",
                           marking)
        await tx.rollback()
    finally:
        await held.close()
    await platform.labelling.start()
    try:
        await driving
    finally:
        if not driving.done():
            driving.cancel()
    result = await outcome(platform, labelled)
    report(Figures("relay killed", "labelling SIGKILLed between Kafka's ack and the outbox "
                   "mark", len(labelled), result.lost, result.doubled, result.dead_letters,
                   None, f"published, not marked at the kill: {len(ids)}; "
                   f"sent again after the restart: {result.wire_duplicates} (absorbed by "
                   f"partners' inbox); {platform.resent} requests sent again"))

    assert ids  # some events were on Kafka while their rows were not marked
    assert len(set(labelled)) == CITES
    assert (result.lost, result.doubled, result.dead_letters) == (0, 0, 0)
    assert result.wire_duplicates >= len(ids)  # the fault really happened, and was absorbed
