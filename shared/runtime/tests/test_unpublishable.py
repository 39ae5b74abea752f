"""An event the broker will never take must not stop a service's outbox: it is refused at
the source when a command would cause it, parked (listed, replayable) when it is already in
the outbox, and a relay that stops advancing shows in readiness."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest
import runtime_testapp as testapp
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from runtime_testapp import THINGS, ThingHappened
from typer.testing import CliRunner

from cites_runtime.app import build_app
from cites_runtime.cli import service_cli
from cites_runtime.errors import EventTooLarge
from cites_runtime.kafka import AiokafkaPublisher, make_producer
from cites_runtime.relay import OutboxRelay
from cites_runtime.settings import ServiceSettings
from cites_runtime.testing import AS_NATIONAL, in_memory, read_topic
from cites_runtime.uow import unit_of_work

pytestmark = pytest.mark.integration



async def test_a_command_whose_event_would_be_too_large_is_a_422_and_changes_nothing(
        settings: ServiceSettings) -> None:
    small = settings.model_copy(update={"event_max_bytes": 2_000})
    async with in_memory(testapp.definition, small) as app:
        refused = await app.http.post("/things", json={"thing_id": "x" * 3_000, "n": 1},
                                      headers=AS_NATIONAL)
        accepted = await app.http.post("/things", json={"thing_id": "x" * 100, "n": 1},
                                       headers=AS_NATIONAL)
        things = await app.runtime.pool.fetchval("SELECT count(*) FROM things")
        events = await app.outbox()
    assert refused.status_code == 422
    [failure] = refused.json()["detail"]
    assert failure["loc"] == ["event", "testapp.ThingHappened"]
    assert failure["type"] == "event_too_large"
    assert "2000 bytes" in failure["msg"]
    assert accepted.status_code == 201
    assert (things, len(events)) == (1, 1)


async def test_emit_refuses_an_event_over_the_limit(
        migrated: ServiceSettings, pool: asyncpg.Pool) -> None:
    with pytest.raises(EventTooLarge, match=r"testapp\.ThingHappened"):
        async with unit_of_work(pool, migrated.db_schema, max_event_bytes=1_000) as uow:
            uow.emit(ThingHappened(thing_id="big", n=1, note="n" * 2_000))
    assert await pool.fetchval("SELECT count(*) FROM outbox") == 0


TOPIC_LIMIT = 20_000  # this test's topic takes records up to 20 kB


@pytest.fixture
async def publisher(migrated: ServiceSettings) -> AsyncIterator[AiokafkaPublisher]:
    bootstrap = migrated.kafka_bootstrap_servers
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:  # provisioned as declared (``migrated``); then an operator lowered its limit
        configs = {**THINGS.configs(brokers=1), "max.message.bytes": str(TOPIC_LIMIT)}
        await admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC,
                                                  migrated.topic(THINGS.name), configs)])
    finally:
        await admin.close()
    producer = make_producer(bootstrap)
    await producer.start()
    published = AiokafkaPublisher(producer, factory=lambda: make_producer(bootstrap))
    yield published
    await published.producer.stop()


async def test_rows_the_broker_refuses_are_parked_and_the_others_go_on(
        migrated: ServiceSettings, pool: asyncpg.Pool, publisher: AiokafkaPublisher) -> None:
    # Written before any size limit existed (or under a misconfigured one): in the outbox.
    async with unit_of_work(pool, migrated.db_schema) as uow:
        uow.emit(ThingHappened(thing_id="a", n=1))
        # The broker refuses it (over the topic's limit): the idempotent producer that
        # sent it is out of sequence afterwards, and must be replaced.
        uow.emit(ThingHappened(thing_id="b", n=2, note="n" * (TOPIC_LIMIT + 10)))
        uow.emit(ThingHappened(thing_id="c", n=3))
        # The producer refuses it before sending (over its own 1 MiB limit).
        uow.emit(ThingHappened(thing_id="e", n=5, note="n" * 1_100_000))
    relay = OutboxRelay(migrated.dsn, migrated.db_schema, publisher,
                        topic_prefix=migrated.topic_prefix, poll_interval=0.1)
    task = asyncio.create_task(relay.run())
    try:
        await read_topic(migrated.kafka_bootstrap_servers, migrated.topic(THINGS.name),
                         until=lambda r: len(r) >= 2)
        async with unit_of_work(pool, migrated.db_schema) as uow:
            uow.emit(ThingHappened(thing_id="d", n=4))  # the relay still publishes
        records = await read_topic(migrated.kafka_bootstrap_servers,
                                   migrated.topic(THINGS.name), until=lambda r: len(r) >= 3)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    parked = await pool.fetch("SELECT key, park_error FROM outbox WHERE parked_at IS NOT NULL "
                              "ORDER BY id")
    assert sorted(json.loads(r.value)["data"]["thing_id"] for r in records) == ["a", "c", "d"]
    assert [bytes(r["key"]) for r in parked] == [b"b", b"e"]
    assert all("MessageSizeTooLarge" in r["park_error"] for r in parked)
    assert relay.is_leader is False  # cancelled; it led throughout


async def test_parked_rows_are_listed_and_replayed_by_the_cli(
        migrated: ServiceSettings, pool: asyncpg.Pool) -> None:
    async with unit_of_work(pool, migrated.db_schema) as uow:
        uow.emit(ThingHappened(thing_id="p", n=1))
    await pool.execute("UPDATE outbox SET parked_at = now(), park_error = 'refused: too big'")
    cli = service_cli(testapp.definition, lambda: migrated)
    listed = await asyncio.to_thread(CliRunner(env={"COLUMNS": "250"}).invoke, cli,
                                     ["outbox", "parked"])
    replayed = await asyncio.to_thread(CliRunner().invoke, cli, ["outbox", "unpark", "--all"])
    assert listed.exit_code == 0, listed.output
    assert "1 parked" in listed.output and "refused: too big" in listed.output
    assert replayed.exit_code == 0, replayed.output
    assert await pool.fetchval("SELECT count(*) FROM outbox WHERE parked_at IS NULL "
                               "AND published_at IS NULL") == 1


async def test_readiness_fails_when_the_relay_stops_advancing_but_not_for_a_broker_outage(
        migrated: ServiceSettings, pool: asyncpg.Pool) -> None:
    stuck = migrated.model_copy(update={"relay_enabled": False, "relay_stall_s": 0.5})
    app = build_app(testapp.definition, stuck)
    async with app.router.lifespan_context(app), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://testapp") as http:
        fresh = await http.get("/health/ready")
        await http.post("/things", json={"thing_id": "t", "n": 1}, headers=AS_NATIONAL)
        await asyncio.sleep(1.0)  # nothing publishes it: the relay is off
        stalled = await http.get("/health/ready")

        async def broker_away() -> None:
            raise ConnectionRefusedError("broker away")

        app.state.runtime.publisher.producer.client.fetch_all_metadata = broker_away
        outage = await http.get("/health/ready")
    assert fresh.status_code == 200
    assert stalled.status_code == 503
    assert stalled.json()["checks"]["relay"].startswith("stalled: 1 event(s) pending")
    # The broker being away explains the backlog: commands still work (the outbox keeps
    # them), so the service stays in rotation and says why the relay waits.
    assert outage.status_code == 200
    assert outage.json()["checks"]["broker"].startswith("unavailable")
    assert outage.json()["checks"]["relay"].startswith("waiting for the broker")
