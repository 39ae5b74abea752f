"""The service in isolation: FastStream's in-memory TestKafkaBroker instead of Kafka, the
real PostgreSQL. Same code path: subscriber → inbox → handler → outbox → relay."""

from __future__ import annotations

import asyncio
import json

import asyncpg
from faststream.kafka import KafkaBroker, TestKafkaBroker
from partners.app import definition
from partners.settings import PartnersSettings
from partners_kit import envelope, labelled

from cites_contracts import encode
from cites_runtime.app import Runtime
from cites_runtime.kafka import BrokerPublisher


async def test_a_label_opens_an_alliance_on_the_in_memory_broker(
    migrated: PartnersSettings, pool: asyncpg.Pool
) -> None:
    broker = KafkaBroker(migrated.kafka_bootstrap_servers)
    runtime = Runtime(definition, migrated)
    record = encode(envelope(labelled()))
    async with TestKafkaBroker(broker) as test_broker:
        await runtime.start(publisher=BrokerPublisher(test_broker), broker=test_broker)
        try:
            for _ in range(2):  # the second delivery is absorbed by the inbox
                await test_broker.publish(
                    record.value, migrated.topic("labelling.labels"), key=record.key,
                    headers={k: v.decode() for k, v in record.headers})
            for _ in range(200):  # until the relay has published what the label caused
                if await pool.fetchval(
                        "SELECT count(*) FROM outbox WHERE published_at IS NOT NULL") >= 3:
                    break
                await asyncio.sleep(0.05)
        finally:
            await runtime.stop()
    chef = await pool.fetchrow(
        """SELECT p.uai, m.roles FROM memberships m JOIN partners p USING (partner_id)
           WHERE m.cite_id = 'cite-001'""")
    events = [json.loads(bytes(r["value"])) for r in await pool.fetch(
        "SELECT value FROM outbox WHERE published_at IS NOT NULL ORDER BY id")]
    assert chef is not None and (chef["uai"], chef["roles"]) == ("0930001A", ["chef_de_file"])
    assert [e["type"] for e in events] == ["partners.PartnerRegistered",
                                           "partners.AllianceOpened",
                                           "partners.ChefDeFileDesignated"]
