"""An event the broker will never take must not stop a service's outbox: it is refused at
the source when a command would cause it, parked (listed, replayable) when it is already in
the outbox, and a relay that stops advancing shows in readiness."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest
import runtime_testapp as testapp
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from runtime_kit import DeadLetters
from runtime_testapp import THINGS, ThingHappened
from typer.testing import CliRunner, Result

from cites_runtime.app import build_app
from cites_runtime.cli import service_cli
from cites_runtime.consumer import ConsumerRunner
from cites_runtime.errors import EventTooLarge
from cites_runtime.kafka import AiokafkaPublisher, make_producer
from cites_runtime.relay import ROW_REFUSALS, OutboxRelay
from cites_runtime.settings import ServiceSettings
from cites_runtime.testing import AS_NATIONAL, eventually, in_memory, read_topic
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
    kafka = migrated.kafka
    admin = AIOKafkaAdminClient(**kafka.client_kwargs())
    await admin.start()
    try:  # provisioned as declared (``migrated``); then an operator lowered its limit
        configs = {**THINGS.configs(brokers=1), "max.message.bytes": str(TOPIC_LIMIT)}
        await admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC,
                                                  migrated.topic(THINGS.name), configs)])
    finally:
        await admin.close()
    producer = make_producer(kafka)
    await producer.start()
    published = AiokafkaPublisher(producer, factory=lambda: make_producer(kafka))
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
        await read_topic(migrated.kafka, migrated.topic(THINGS.name),
                         until=lambda r: len(r) >= 2)
        async with unit_of_work(pool, migrated.db_schema) as uow:
            uow.emit(ThingHappened(thing_id="d", n=4))  # the relay still publishes
        records = await read_topic(migrated.kafka,
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


# -- unparking must not drop an event its aggregate has moved past -------------------------
BIG = "n" * (TOPIC_LIMIT + 10)
"""A note that makes an event too large for this test's topic: the broker refuses it."""
PROBE = b"~probe"
"""Key of the records that test whether the broker enforces the topic's lowered limit."""


async def probe(migrated: ServiceSettings, *, taken: bool) -> None:
    """Wait until the broker takes (or refuses) a record over ``TOPIC_LIMIT`` on the things
    topic: a topic's new configuration reaches the broker a moment after the change is
    acknowledged. Probes it takes are keyed ``PROBE``."""
    producer = AIOKafkaProducer(**migrated.kafka.client_kwargs())
    await producer.start()

    async def as_expected() -> bool:
        try:
            await producer.send_and_wait(migrated.topic(THINGS.name), BIG.encode(), key=PROBE)
        except ROW_REFUSALS:
            return not taken
        return taken

    try:
        await eventually(as_expected, what=f"the broker {'taking' if taken else 'refusing'} "
                         f"records over {TOPIC_LIMIT} B")
    finally:
        await producer.stop()


@pytest.fixture
async def refusing(migrated: ServiceSettings, publisher: AiokafkaPublisher
                   ) -> AiokafkaPublisher:
    """``publisher``, once the broker enforces the topic's lowered limit."""
    await probe(migrated, taken=False)
    return publisher


async def relay_until_settled(migrated: ServiceSettings, publisher: AiokafkaPublisher,
                              pool: asyncpg.Pool, *, parked: int = 0) -> list[Any]:
    """Run the relay until nothing is pending and ``parked`` rows are parked; then the
    things topic's records, probes left out (an event may be there twice: a batch the
    broker refused in part is sent again one by one)."""
    relay = OutboxRelay(migrated.dsn, migrated.db_schema, publisher,
                        topic_prefix=migrated.topic_prefix, poll_interval=0.1)
    task = asyncio.create_task(relay.run())
    try:
        await eventually(lambda: _settled(pool, parked),
                         what=f"{parked} row(s) parked, none pending")
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    records = await read_topic(migrated.kafka, migrated.topic(THINGS.name),
                               idle=0.5)
    return [r for r in records if r.key != PROBE]


async def _settled(pool: asyncpg.Pool, parked: int) -> bool:
    row = await pool.fetchrow("SELECT count(*) FILTER (WHERE parked_at IS NULL) AS pending, "
                              "count(*) FILTER (WHERE parked_at IS NOT NULL) AS parked "
                              "FROM outbox")
    return row is not None and (row["pending"], row["parked"]) == (0, parked)


async def emit(pool: asyncpg.Pool, schema: str, *events: ThingHappened) -> None:
    async with unit_of_work(pool, schema) as uow:
        for e in events:
            uow.emit(e)


def things(records: list[Any], thing_id: str) -> list[tuple[int, int]]:
    """(n, sequence) of the thing's events on the topic, in their order there, each once
    (a consumer's inbox absorbs an event sent twice)."""
    found = [json.loads(r.value) for r in sorted(records, key=lambda r: (r.partition,
                                                                          r.offset))]
    return list(dict.fromkeys((e["data"]["n"], e["sequence"]) for e in found
                              if e["data"]["thing_id"] == thing_id))


async def raise_limit(migrated: ServiceSettings) -> None:
    """The cause is fixed: the topic takes large records again."""
    admin = AIOKafkaAdminClient(**migrated.kafka.client_kwargs())
    await admin.start()
    try:
        await admin.alter_configs([ConfigResource(
            ConfigResourceType.TOPIC, migrated.topic(THINGS.name),
            {**THINGS.configs(brokers=1), "max.message.bytes": str(TOPIC_LIMIT * 10)})])
    finally:
        await admin.close()
    await probe(migrated, taken=True)


async def parked_rows(pool: asyncpg.Pool) -> list[tuple[Any, ...]]:
    return [tuple(r) for r in await pool.fetch(
        "SELECT id, event_id, value, parked_at FROM outbox WHERE parked_at IS NOT NULL "
        "ORDER BY id")]


async def unpark(migrated: ServiceSettings, *args: str) -> Result:
    cli = service_cli(testapp.definition, lambda: migrated)
    return await asyncio.to_thread(CliRunner(env={"COLUMNS": "250"}).invoke, cli,
                                   ["outbox", "unpark", *args])


async def park_then_publish_a_later_event(migrated: ServiceSettings, pool: asyncpg.Pool,
                                          publisher: AiokafkaPublisher) -> int:
    """Thing b's first event parked (too large), its second published: the parked id."""
    await emit(pool, migrated.db_schema, ThingHappened(thing_id="b", n=1, note=BIG))
    await emit(pool, migrated.db_schema, ThingHappened(thing_id="b", n=2))
    records = await relay_until_settled(migrated, publisher, pool, parked=1)
    assert things(records, "b") == [(2, 2)]
    [(parked_id, *_)] = await parked_rows(pool)
    return int(parked_id)


async def test_unpark_refuses_an_event_whose_aggregate_published_a_later_one_and_changes_nothing(
        migrated: ServiceSettings, pool: asyncpg.Pool, refusing: AiokafkaPublisher) -> None:
    parked_id = await park_then_publish_a_later_event(migrated, pool, refusing)
    await raise_limit(migrated)
    before = await parked_rows(pool)

    refused = await unpark(migrated, "--all")

    assert refused.exit_code == 1, refused.output
    said = " ".join(refused.output.split())
    assert "0 event(s) handed back to the relay" in said
    assert (f"refused {parked_id} (testapp.ThingHappened sequence 1 of b on testapp.things): "
            "sequence 2 of its aggregate was already published") in said
    assert "consumers would skip this one as stale" in said
    assert f"outbox unpark --id {parked_id} --resequence" in said
    assert await parked_rows(pool) == before


async def test_unpark_hands_back_events_whose_aggregate_has_not_moved_on_published_in_order(
        migrated: ServiceSettings, pool: asyncpg.Pool, refusing: AiokafkaPublisher) -> None:
    # Both of c's events too large, parked; d's published.
    await emit(pool, migrated.db_schema, ThingHappened(thing_id="c", n=1, note=BIG),
               ThingHappened(thing_id="c", n=2, note=BIG), ThingHappened(thing_id="d", n=1))
    await relay_until_settled(migrated, refusing, pool, parked=2)
    first, second = (r[0] for r in await parked_rows(pool))
    await raise_limit(migrated)

    alone = await unpark(migrated, "--id", str(second))  # c's first would stay behind
    together = await unpark(migrated, "--id", str(first), "--id", str(second))
    records = await relay_until_settled(migrated, refusing, pool)

    assert alone.exit_code == 1, alone.output
    said = " ".join(alone.output.split())
    assert (f"refused {second} (testapp.ThingHappened sequence 2 of c on testapp.things): "
            f"an earlier event of its aggregate, {first} (sequence 1), stays parked") in said
    assert together.exit_code == 0, together.output
    assert "2 event(s) handed back to the relay" in together.output
    assert things(records, "c") == [(1, 1), (2, 2)]
    assert await parked_rows(pool) == []


async def test_unpark_refuses_an_event_while_a_later_one_of_its_aggregate_is_on_its_way(
        migrated: ServiceSettings, pool: asyncpg.Pool) -> None:
    """A relay pass may hold the later event already: the unparked one would follow it."""
    await emit(pool, migrated.db_schema, ThingHappened(thing_id="e", n=1))
    await pool.execute("UPDATE outbox SET parked_at = now(), park_error = 'refused: too big'")
    await emit(pool, migrated.db_schema, ThingHappened(thing_id="e", n=2))  # pending
    [(parked_id, *_)] = await parked_rows(pool)

    refused = await unpark(migrated, "--id", str(parked_id))

    assert refused.exit_code == 1, refused.output
    said = " ".join(refused.output.split())
    assert "sequence 2 of its aggregate is not published yet" in said
    assert len(await parked_rows(pool)) == 1


async def test_a_resequenced_event_is_published_as_its_aggregates_next_and_is_applied(
        migrated: ServiceSettings, pool: asyncpg.Pool, refusing: AiokafkaPublisher) -> None:
    parked_id = await park_then_publish_a_later_event(migrated, pool, refusing)
    [(_, event_id, *_)] = await parked_rows(pool)
    await raise_limit(migrated)

    not_all = await unpark(migrated, "--all", "--resequence")
    resequenced = await unpark(migrated, "--id", str(parked_id), "--resequence")
    records = await relay_until_settled(migrated, refusing, pool)
    tally = ConsumerRunner(testapp.consumer, pool, migrated.db_schema, DeadLetters(),
                           topic_prefix=migrated.topic_prefix)
    await tally.process_batch(records)

    assert not_all.exit_code == 2, not_all.output
    assert resequenced.exit_code == 0, resequenced.output
    said = " ".join(resequenced.output.split())
    assert (f"re-sequenced {parked_id} (testapp.ThingHappened of b on testapp.things): "
            "sequence 1 → 3, published after sequence 2") in said
    assert things(records, "b") == [(2, 2), (1, 3)]
    [renumbered] = [e for e in (json.loads(r.value) for r in records) if e["sequence"] == 3]
    assert renumbered["event_id"] == str(event_id)  # still the same event
    assert await pool.fetchval("SELECT last_sequence FROM aggregate_sequences "
                               "WHERE stream = 'testapp.things' AND aggregate_id = 'b'") == 3
    applied = await pool.fetch("SELECT n, sequence FROM tally ORDER BY applied_at")
    assert [tuple(r) for r in applied] == [(2, 2), (1, 3)]
    assert tally.stale == 0
