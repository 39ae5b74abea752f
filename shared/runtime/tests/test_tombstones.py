"""Tombstone handlers: a consumer that keeps what a compacted topic's records say forgets
a key on its tombstone, in order with the key's events, once, in the consuming
transaction; a refusal is a dead letter without a value. On real Kafka and PostgreSQL,
on the in-memory broker, and on the runner alone (redeliveries, replay). The consumer is
``runtime_kit``'s address book."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest
from runtime_kit import (
    DeadLetters,
    Rec,
    address_book,
    addresses,
    book,
    card,
    card_erased,
    history,
    quick_runner,
)
from runtime_testapp import CARDS, THINGS, CardIssued

from cites_contracts import Envelope, encode
from cites_contracts.topics import ROLL_KEY
from cites_runtime.app import run_migrations
from cites_runtime.consumer import (
    ConsumerRunner,
    EventConsumer,
    TombstoneContext,
)
from cites_runtime.db import create_pool
from cites_runtime.settings import ServiceSettings
from cites_runtime.testing import in_memory, on_kafka, read_topic


@pytest.fixture
async def pool(settings: ServiceSettings) -> AsyncIterator[asyncpg.Pool]:
    """The address book's schema, for tests of the runner alone."""
    await run_migrations(book, settings)
    p = await create_pool(settings.dsn, settings.db_schema)
    yield p
    await p.close()


def test_tombstones_are_handled_only_on_compacted_topics() -> None:
    with pytest.raises(ValueError, match=r"testapp\.things is not compacted"):
        address_book.handles_tombstones(THINGS)
    with pytest.raises(ValueError, match="already has a tombstone handler"):
        address_book.handles_tombstones(CARDS)(card_erased)


def test_a_topic_read_for_its_tombstones_alone_is_subscribed_to() -> None:
    forgetful = EventConsumer("forgetful")

    @forgetful.handles_tombstones(CARDS)
    async def forget(card_id: str, ctx: TombstoneContext) -> None:
        return None

    assert forgetful.topics == [CARDS.name]
    assert CARDS in forgetful.declared_topics
    assert forgetful.event_types == frozenset()


@pytest.mark.integration
async def test_on_kafka_a_card_then_its_tombstone_are_applied_in_order_once_each(
    settings: ServiceSettings,
) -> None:
    async with on_kafka(book, settings) as service:
        pool = service.runtime.pool
        await service.publish(card("anne", "anne@example.org"), card("bob", "bob@example.org"))
        erased = await service.publish_tombstone(CARDS, "anne")
        await service.publish_tombstone(CARDS, ROLL_KEY.decode())  # a roll nudge: no one
        await service.caught_up()  # offsets committed: after the effects, below
        done = await history(pool)  # in order per key (a partition), not across keys
        assert [a for a, who in done if who == "anne"] == ["card", "forget"]
        assert sorted(done) == [("card", "anne"), ("card", "bob"), ("forget", "anne")]
        assert await addresses(pool) == {"bob": "bob@example.org"}
        # Each handler's effects committed with its inbox row, in the consuming transaction.
        assert await pool.fetchval(
            """SELECT count(*) FROM address_log l WHERE NOT EXISTS (
                   SELECT 1 FROM processed_events p
                    WHERE p.consumer = 'addressbook' AND p.xmin = l.xmin)""") == 0
        assert await pool.fetchval("SELECT count(*) FROM processed_events WHERE event_id = $1",
                                   erased) == 1

        # The relay sends the tombstone again (killed before marking it): nothing more.
        await service.publish_tombstone(CARDS, "anne", event_id=erased)
        await service.publish(card("carl", "carl@example.org"))
        await service.caught_up()
        assert (await history(pool))[3:] == [("card", "carl")]


@pytest.mark.integration
async def test_on_kafka_a_refused_tombstone_is_a_dead_letter_without_a_value(
    settings: ServiceSettings,
) -> None:
    async with on_kafka(book, settings) as service:
        await service.runtime.pool.execute("INSERT INTO legal_holds VALUES ('refused')")
        await service.publish(card("refused", "held@example.org"))
        await service.publish_tombstone(CARDS, "refused")
        await service.publish(card("after", "after@example.org"))
        await service.caught_up()
        [letter] = await read_topic(settings.kafka,
                                    settings.topic("addressbook.dlq"),
                                    until=lambda r: len(r) >= 1)
        assert await history(service.runtime.pool) == [("card", "refused"), ("card", "after")]
    headers = {k: v.decode() for k, v in letter.headers}
    assert (headers["dlq.reason"], headers["dlq.attempts"]) == ("rejected", "1")
    assert headers["dlq.error"] == "refused: this card is under a legal hold"
    assert headers["dlq.tombstone"] == "true"
    assert headers["dlq.original_topic"] == settings.topic(CARDS.name)
    assert "dlq.value_withheld" in headers  # a personal-data topic's letter never has one
    assert letter.key == b"refused" and not letter.value


async def test_in_memory_a_tombstone_is_delivered_to_its_handler_after_the_card(
    settings: ServiceSettings,
) -> None:
    async with in_memory(book, settings) as service:
        pool = service.runtime.pool
        await service.publish(card("anne", "anne@example.org"))
        erased = await service.publish_tombstone(CARDS.name, "anne")
        await service.publish_tombstone(CARDS, "anne", event_id=erased)  # sent twice
        assert await history(pool) == [("card", "anne"), ("forget", "anne")]
        assert await addresses(pool) == {}


def runner(pool: asyncpg.Pool, s: ServiceSettings, dead: DeadLetters) -> ConsumerRunner:
    return quick_runner(address_book, pool, s.db_schema, dead, max_attempts=1,
                        topic_prefix=s.topic_prefix)


def card_record(env: Envelope[CardIssued], topic: str, offset: int) -> Rec:
    rec = encode(env)
    return Rec(value=rec.value, headers=[(k, v) for k, v in rec.headers], key=rec.key,
               topic=topic, offset=offset)


async def test_a_tombstone_redelivered_with_newer_records_cannot_forget_a_newer_card(
    settings: ServiceSettings, pool: asyncpg.Pool,
) -> None:
    """Kafka delivers again from the last committed offset: a tombstone and the card that
    came after it (anne consented again). Both were applied: neither runs again, so her
    newer address stays — without the tombstone's inbox row, it would be forgotten."""
    topic = settings.topic(CARDS.name)
    first, again = card("anne", "anne@example.org"), card("anne", "anne@new.example", 2)
    tombstone = Rec(value=None, key=b"anne", topic=topic, offset=2)  # no event_id header
    tally = runner(pool, settings, DeadLetters())
    await tally.process_batch([card_record(first, topic, 1), tombstone])
    await tally.process_batch([card_record(again, topic, 3)])
    await tally.process_batch([tombstone, card_record(again, topic, 3)])  # redelivered
    assert await history(pool) == [("card", "anne"), ("forget", "anne"), ("card", "anne")]
    assert await addresses(pool) == {"anne": "anne@new.example"}


async def test_a_dead_lettered_tombstone_is_forgotten_once_when_replayed(
    settings: ServiceSettings, pool: asyncpg.Pool,
) -> None:
    topic = settings.topic(CARDS.name)
    dead = DeadLetters()
    tally = runner(pool, settings, dead)
    await pool.execute("INSERT INTO legal_holds VALUES ('refused')")
    await tally.process_batch([card_record(card("refused", "held@example.org"), topic, 1),
                               Rec(value=None, key=b"refused", topic=topic, offset=2)])
    [letter] = dead.records
    assert dict(letter.headers)["dlq.reason"] == b"rejected"
    await pool.execute("DELETE FROM legal_holds")  # the hold is lifted
    read = Rec(value=letter.value, headers=[(k, v) for k, v in letter.headers],
               key=letter.key, topic=letter.topic)  # as dlq replay reads it
    assert await tally.replay(read) == "applied"
    assert await tally.replay(read) == "duplicate"
    assert await history(pool) == [("card", "refused"), ("forget", "refused")]
    assert await addresses(pool) == {}


async def test_a_tombstone_whose_key_is_no_text_is_a_dead_letter(
    settings: ServiceSettings, pool: asyncpg.Pool,
) -> None:
    topic = settings.topic(CARDS.name)
    dead = DeadLetters()
    await runner(pool, settings, dead).process_batch([
        Rec(value=None, key=b"\xff\xfe", topic=topic, offset=1),
        Rec(value=None, key=b"nul\x00", topic=topic, offset=2)])
    assert [dict(d.headers)["dlq.reason"] for d in dead.records] == [b"wrong-key"] * 2
    assert await history(pool) == []
