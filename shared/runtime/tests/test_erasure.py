"""Right to erasure in the runtime: ``uow.erase`` removes every outbox row of a person's
key and appends a tombstone; the relay publishes it as a null value and nudges segments
to roll; Kafka's compaction then removes every earlier value (real Kafka, real
PostgreSQL, compaction timings shortened for the test)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer
from runtime_kit import SHORT_CARDS, DeadLetters, Rec, Recorder, quick_runner, short_cards_producer
from runtime_testapp import CARDS, THINGS, CardIssued, ThingHappened

from cites_contracts import ContractModel, Envelope, Event, decode, encode, event
from cites_contracts.access import KafkaAccess
from cites_contracts.topics import ROLL_KEY
from cites_runtime.consumer import EventConsumer, HandlerContext
from cites_runtime.kafka import AiokafkaPublisher, make_producer
from cites_runtime.relay import OutboxRelay
from cites_runtime.settings import ServiceSettings
from cites_runtime.testing import eventually, read_topic
from cites_runtime.uow import unit_of_work

pytestmark = pytest.mark.integration


@event("testapp.ThingNoted", topic=THINGS, key="thing_id", emitted_when="never again",
       retired="replaced by testapp.ThingHappened")
class ThingNoted(Event):
    """Test-only retired event. Producer testapp, topic testapp.things, key thing_id."""

    thing_id: str


class Person(ContractModel):
    id: str
    email: str


@event("testapp.RosterPublished", topic=THINGS, key="thing_id", emitted_when="long ago",
       retired="carried addresses; replaced by cards")
class RosterPublished(Event):
    """Test-only retired event with personal data in a list. Producer testapp, topic
    testapp.things, key thing_id."""

    thing_id: str
    people: tuple[Person, ...]


async def outbox(pool: asyncpg.Pool) -> list[tuple[str, str, bytes | None]]:
    """Every row the outbox keeps: pending, or published and kept for the retention."""
    rows = await pool.fetch("SELECT topic, key, value FROM outbox_history ORDER BY id")
    return [(r["topic"], bytes(r["key"]).decode(), r["value"]) for r in rows]


async def publish(relay: OutboxRelay, pool: asyncpg.Pool, expected: int) -> None:
    """Relay passes until ``expected`` rows are out: a pass publishes only rows below its
    barrier, which a transaction of the test's role still open holds back."""
    done = 0
    async with pool.acquire() as conn:
        async def all_out() -> bool:
            nonlocal done
            done += await relay.publish_pending(conn)
            return done >= expected

        await eventually(all_out, what=lambda: f"published {done} of {expected}")
    assert done == expected


async def issue(pool: asyncpg.Pool, schema: str, *cards: CardIssued) -> None:
    async with unit_of_work(pool, schema) as uow:
        for card in cards:
            uow.emit(card)


async def test_erase_deletes_every_row_of_the_key_published_or_pending_and_appends_a_tombstone(
    migrated: ServiceSettings, pool: asyncpg.Pool
) -> None:
    schema = migrated.db_schema
    await issue(pool, schema, CardIssued(card_id="anne", email="anne@old.example"))
    relay = OutboxRelay(migrated.dsn, schema, Recorder(), topic_prefix=migrated.topic_prefix)
    await publish(relay, pool, 1)  # the first address reached Kafka
    await issue(pool, schema, CardIssued(card_id="anne", email="anne@new.example"),
                CardIssued(card_id="bob", email="bob@example.org"))  # pending

    async with unit_of_work(pool, schema) as uow:
        uow.emit(CardIssued(card_id="anne", email="anne@newest.example"))  # same transaction
        assert await uow.erase(CARDS, "anne") == 2  # the published row and the pending one

    rows = await outbox(pool)
    assert rows == [("testapp.cards", "bob", rows[0][2]), ("testapp.cards", "anne", None)]
    assert not any(b"anne@" in (value or b"") for _, _, value in rows)


async def test_the_relay_publishes_a_tombstone_as_a_null_value_without_an_event_type(
    migrated: ServiceSettings, pool: asyncpg.Pool
) -> None:
    async with unit_of_work(pool, migrated.db_schema) as uow:
        await uow.erase(CARDS, "anne")
    recorder = Recorder()
    relay = OutboxRelay(migrated.dsn, migrated.db_schema, recorder,
                        topic_prefix=migrated.topic_prefix)
    await publish(relay, pool, 1)
    [tombstone] = recorder.records
    assert (tombstone.topic, tombstone.key, tombstone.value) == (
        migrated.topic(CARDS.name), b"anne", None)
    names = [name for name, _ in tombstone.headers]
    assert "type" not in names and "version" not in names
    assert {"event_id", "correlation_id", "traceparent"} <= set(names)


async def test_only_personal_data_topics_are_erasable_and_retired_versions_are_not_produced(
    migrated: ServiceSettings, pool: asyncpg.Pool
) -> None:
    async with unit_of_work(pool, migrated.db_schema) as uow:
        with pytest.raises(ValueError, match="holds no personal data"):
            await uow.erase(THINGS, "a")
        with pytest.raises(TypeError, match=r"retired: replaced by testapp\.ThingHappened"):
            uow.emit(ThingNoted(thing_id="a"))
    assert await outbox(pool) == []


async def test_a_consumer_skips_tombstones_and_keeps_personal_data_off_its_dead_letters(
    migrated: ServiceSettings, pool: asyncpg.Pool
) -> None:
    holder = EventConsumer("cardholder")

    @holder.handles(CardIssued)
    async def keep(event: CardIssued, ctx: HandlerContext) -> None:
        raise ValueError("this consumer is broken")

    dead = DeadLetters()
    runner = quick_runner(holder, pool, migrated.db_schema, dead, max_attempts=1,
                          topic_prefix=migrated.topic_prefix)
    card = encode(Envelope.wrap(CardIssued(card_id="anne", email="anne@example.org"),
                                sequence=1))
    topic = migrated.topic(CARDS.name)
    await runner.process_batch([
        Rec(value=None, key=b"anne", topic=topic, offset=1),  # erased: nothing to apply
        Rec(value=None, key=ROLL_KEY, topic=topic, offset=2),  # a roll nudge
        Rec(value=card.value, headers=card.headers, key=card.key, topic=topic, offset=3),
    ])
    [letter] = dead.records  # the broken handler's, not the tombstones'
    assert letter.value == b""
    headers = dict(letter.headers)
    assert headers["dlq.reason"] == b"handler-failed"
    assert headers["dlq.original_offset"] == b"3"
    assert b"personal data" in headers["dlq.value_withheld"]


async def test_rows_of_retired_events_holding_a_person_are_deleted_or_redacted(
    migrated: ServiceSettings, pool: asyncpg.Pool
) -> None:
    """Written before the addresses moved: published rows go, pending rows lose her."""
    def row(thing: str, n: int, *people: str) -> tuple[Any, ...]:
        env = Envelope.wrap(RosterPublished(thing_id=thing, people=tuple(
            Person(id=p, email=f"{p}@example.org") for p in people)), sequence=n)
        rec = encode(env)
        return (env.event_id, rec.topic, rec.key, rec.value, env.type, env.version,
                env.correlation_id)

    insert = """INSERT INTO outbox (event_id, topic, key, value, event_type, event_version,
                                    correlation_id)
                VALUES ($1, $2, $3, $4, $5, $6, $7)"""
    await pool.execute(insert, *row("r1", 1, "anne", "bob"))
    await pool.execute(insert, *row("r1", 2, "anne", "bob"))
    await pool.execute(insert, *row("r2", 1, "anne"))  # another aggregate: kept
    # The first one was published (the relay moves a published row, keeping it).
    await pool.execute(
        """WITH done AS (DELETE FROM outbox WHERE id = (SELECT min(id) FROM outbox)
                         RETURNING *)
           INSERT INTO outbox_published
           SELECT id, event_id, topic, key, value, event_type, event_version, correlation_id,
                  traceparent, created_at, $1, txid FROM done""", datetime.now(UTC))
    async with unit_of_work(pool, migrated.db_schema) as uow:
        with pytest.raises(ValueError, match="retired versions"):
            await uow.redact_retired([ThingHappened], "r1", array="people", field="id",
                                     value="anne")
        assert await uow.redact_retired([RosterPublished], "r1", array="people", field="id",
                                        value="anne") == 2
    rows = await pool.fetch("SELECT key, value, published_at FROM outbox_history ORDER BY id")
    assert [(bytes(r["key"]), r["published_at"]) for r in rows] == [(b"r1", None),
                                                                    (b"r2", None)]
    pending = decode(bytes(rows[0]["value"]))
    assert isinstance(pending.data, RosterPublished)
    assert [p.id for p in pending.data.people] == ["bob"]  # still a valid event
    assert b"anne@" in bytes(rows[1]["value"])


# -- on real Kafka: compaction erases ------------------------------------------------------
@pytest.fixture
async def producer(migrated: ServiceSettings) -> AsyncIterator[AIOKafkaProducer]:
    async with short_cards_producer(migrated) as p:
        yield p


async def wait_compacted(kafka: KafkaAccess, topic: str, gone: bytes,
                         timeout: float = 120.0) -> list[Any]:
    """Read ``topic`` from offset 0 until no record holds ``gone``."""
    records: list[Any] = []

    async def compacted() -> bool:
        records[:] = await read_topic(kafka, topic, idle=0.5)
        return not any(gone in (r.value or b"") for r in records)

    await eventually(compacted, timeout=timeout, every=1.0,
                     what=f"{topic}: {gone!r} compacted away")
    return records


async def test_compaction_removes_every_earlier_value_of_an_erased_key_from_kafka(
    migrated: ServiceSettings, pool: asyncpg.Pool, producer: AIOKafkaProducer
) -> None:
    schema, kafka = migrated.db_schema, migrated.kafka
    topic = migrated.topic(CARDS.name)
    relay = OutboxRelay(migrated.dsn, schema,
                        AiokafkaPublisher(producer, factory=lambda: make_producer(kafka)),
                        topic_prefix=migrated.topic_prefix, poll_interval=0.1,
                        nudge_topics=[SHORT_CARDS], nudge_every=0.5)
    task = asyncio.create_task(relay.run())
    try:
        await issue(pool, schema, CardIssued(card_id="anne", email="anne@first.example"),
                    CardIssued(card_id="bob", email="bob@example.org"))
        await issue(pool, schema, CardIssued(card_id="anne", email="anne@second.example"))
        before = await read_topic(kafka, topic, until=lambda r: sum(
            b"anne@" in (x.value or b"") for x in r) >= 2)
        assert len([r for r in before if r.key == b"anne"]) == 2  # both addresses on Kafka

        async with unit_of_work(pool, schema) as uow:
            await uow.erase(CARDS, "anne")

        after = await wait_compacted(kafka, topic, b"anne@")
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    anne = [r for r in after if r.key == b"anne"]
    assert anne and all(r.value is None for r in anne)  # only her tombstone is left
    assert any(r.key == b"bob" and b"bob@example.org" in (r.value or b"") for r in after)
