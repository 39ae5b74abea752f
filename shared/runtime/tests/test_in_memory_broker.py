"""A service tested in isolation: FastStream's TestKafkaBroker instead of Kafka (in
memory), the real PostgreSQL. The same runtime code path: uow → outbox → relay →
subscriber → inbox → handler."""

from __future__ import annotations

import asyncio
import json

import asyncpg
import runtime_testapp as testapp
from faststream.kafka import KafkaBroker, TestKafkaBroker
from runtime_testapp import ThingHappened

from cites_runtime.app import Runtime
from cites_runtime.kafka import faststream_security
from cites_runtime.settings import ServiceSettings
from cites_runtime.testing import BrokerPublisher
from cites_runtime.testing.harness import all_published


async def test_a_service_runs_on_the_in_memory_broker_for_isolated_tests(
    migrated_schema: ServiceSettings, pool: asyncpg.Pool
) -> None:
    broker = KafkaBroker(migrated_schema.kafka_bootstrap_servers,
                         security=faststream_security(migrated_schema.kafka))
    runtime = Runtime(testapp.definition, migrated_schema)
    async with TestKafkaBroker(broker) as test_broker:
        await runtime.start(publisher=BrokerPublisher(test_broker), broker=test_broker)
        try:
            async with runtime.unit_of_work() as uow:
                uow.emit(ThingHappened(thing_id="in-memory", n=7))
            for _ in range(100):
                if await pool.fetchval("SELECT count(*) FROM tally"):
                    break
                await asyncio.sleep(0.05)
            # The same event again (a redelivery): the inbox absorbs it.
            row = await pool.fetchrow("SELECT value, event_type, event_version, event_id, "
                                      "correlation_id FROM outbox_history")
            assert row is not None
            await test_broker.publish(
                bytes(row["value"]), migrated_schema.topic("testapp.things"),
                headers={"type": row["event_type"], "version": str(row["event_version"]),
                         "event_id": str(row["event_id"])})
            # The relay marks the row after the broker (here the consumer itself) took it:
            # stopping before would leave it unmarked, to be sent again at the next start.
            await all_published(runtime, timeout=10)
        finally:
            await runtime.stop()
    rows = await pool.fetch("SELECT thing_id, n FROM tally")
    assert [(r["thing_id"], r["n"]) for r in rows] == [("in-memory", 7)]
    published = await pool.fetchval(
        "SELECT count(*) FROM outbox_history WHERE published_at IS NOT NULL")
    assert published == 1
    assert json.loads(row["value"])["data"]["thing_id"] == "in-memory"
