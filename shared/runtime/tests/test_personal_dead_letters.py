"""Dead letters of personal-data records keep no value (erasure could not reach it on the
kept dead letters), yet replay: it re-reads the original record from its compacted topic
while Kafka keeps it, and says so when a newer record of its key has replaced it there.
Real Kafka and PostgreSQL; the address book of ``runtime_kit`` as the consumer."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, RecordsToDelete
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from runtime_kit import SHORT_CARDS, addresses, book, card, short_cards_producer
from runtime_testapp import CARDS
from typer.testing import CliRunner

from cites_contracts.access import KafkaAccess
from cites_contracts.topics import ROLL_KEY
from cites_runtime.cli import service_cli
from cites_runtime.consumer import ConsumerRunner
from cites_runtime.dlq import replay_dead_letters
from cites_runtime.kafka import AiokafkaPublisher, make_producer
from cites_runtime.settings import ServiceSettings
from cites_runtime.testing import ServiceUnderTest, eventually, on_kafka, read_topic

pytestmark = pytest.mark.integration


@pytest.fixture
async def producer(settings: ServiceSettings) -> AsyncIterator[AIOKafkaProducer]:
    async with short_cards_producer(settings) as p:
        yield p


def runner(service: ServiceUnderTest, producer: AIOKafkaProducer) -> ConsumerRunner:
    """A replaying runner beside the live consumer, as ``dlq replay`` builds one."""
    s = service.settings
    publisher = AiokafkaPublisher(producer, factory=lambda: make_producer(s.kafka))
    return ConsumerRunner(book.consumer, service.runtime.pool,  # type: ignore[arg-type]
                          s.db_schema, publisher, topic_prefix=s.topic_prefix)


async def letters(service: ServiceUnderTest, count: int) -> list[Any]:
    """The consumer's dead letters, once it has written ``count`` of them."""
    s = service.settings
    await service.caught_up()
    return await read_topic(s.kafka, s.topic("addressbook.dlq"),
                            until=lambda r: len(r) >= count)


def origin(letter: Any) -> tuple[int, int]:
    h = dict(letter.headers)
    return int(h["dlq.original_partition"]), int(h["dlq.original_offset"])


async def test_a_personal_dead_letter_is_replayed_from_its_origin_its_value_never_on_the_dlq(
    settings: ServiceSettings, producer: AIOKafkaProducer,
) -> None:
    kafka, dlq = settings.kafka, settings.topic("addressbook.dlq")
    async with on_kafka(book, settings) as service:
        pool = service.runtime.pool
        await pool.execute("INSERT INTO refused_addresses VALUES ('anne@example.org')")
        await service.publish(card("anne", "anne@example.org"), card("bob", "bob@example.org"))
        [letter] = await letters(service, 1)
        await pool.execute("DELETE FROM refused_addresses")  # the cause is fixed

        replayed = await replay_dead_letters(runner(service, producer), kafka, dlq,
                                             group=f"{dlq}-replay")
        again = await replay_dead_letters(runner(service, producer), kafka, dlq,
                                          group=f"{dlq}-replay")
        known = await addresses(pool)
        kept = await read_topic(kafka, dlq, idle=0.5)
    assert (replayed.applied, replayed.failed) == (1, [])
    assert (again.applied, again.duplicates, again.failed) == (0, 0, [])
    assert known == {"anne": "anne@example.org", "bob": "bob@example.org"}
    assert dict(letter.headers)["dlq.value_withheld"]
    assert len(kept) == 1 and not kept[0].value
    assert not any(b"anne@" in (r.value or b"") + b"".join(v or b"" for _, v in r.headers)
                   for r in kept)


async def compacted_away(producer: AIOKafkaProducer, kafka: KafkaAccess, topic: str,
                         partition: int, offset: int) -> None:
    """Nudge ``topic``'s segments to roll until compaction removed ``partition@offset``."""
    async def gone() -> bool:
        for p in range(SHORT_CARDS.partitions):
            await producer.send_and_wait(topic, None, key=ROLL_KEY, partition=p)
        records = await read_topic(kafka, topic, idle=0.3)
        return not any((r.partition, r.offset) == (partition, offset) for r in records)

    await eventually(gone, timeout=120, every=1.0,
                     what=f"{topic}[{partition}]@{offset} compacted away")


async def test_a_letter_whose_record_a_newer_one_replaced_is_superseded_and_replay_goes_on(
    settings: ServiceSettings, producer: AIOKafkaProducer,
) -> None:
    kafka, topic = settings.kafka, settings.topic(CARDS.name)
    cli = service_cli(book, lambda: settings)
    async with on_kafka(book, settings) as service:
        pool = service.runtime.pool
        await pool.execute("INSERT INTO refused_addresses VALUES ('anne@old.example'), "
                           "('anne@third.example')")
        # Her first card is refused, her second applied, her third refused: two letters,
        # one after the other on the partition of her key.
        await service.publish(card("anne", "anne@old.example", 1),
                              card("anne", "anne@new.example", 2),
                              card("anne", "anne@third.example", 3))
        first, third = sorted(await letters(service, 2), key=lambda r: r.offset)
        await compacted_away(producer, kafka, topic, *origin(first))
        await pool.execute("DELETE FROM refused_addresses")

        replayed = await asyncio.to_thread(CliRunner().invoke, cli, ["dlq", "replay"])
        known = await addresses(pool)
    assert first.partition == third.partition
    assert replayed.exit_code == 0, replayed.output
    assert "applied 1," in replayed.output
    assert "superseded (a newer record of their key replaced them on their topic) 1" in (
        " ".join(replayed.output.split()))
    assert known == {"anne": "anne@third.example"}


async def test_a_dead_letter_whose_record_retention_removed_fails_naming_why_and_how_to_skip_it(
    settings: ServiceSettings, producer: AIOKafkaProducer,
) -> None:
    kafka, topic = settings.kafka, settings.topic(CARDS.name)
    dlq = settings.topic("addressbook.dlq")
    async with on_kafka(book, settings) as service:
        pool = service.runtime.pool
        await pool.execute("INSERT INTO refused_addresses VALUES ('anne@example.org')")
        await service.publish(card("anne", "anne@example.org"))
        [letter] = await letters(service, 1)
        partition, offset = origin(letter)
        admin = AIOKafkaAdminClient(**kafka.client_kwargs())
        await admin.start()
        try:  # an operator gave the topic a time retention, which then passed
            await admin.alter_configs([ConfigResource(
                ConfigResourceType.TOPIC, topic,
                {**SHORT_CARDS.configs(brokers=1), "cleanup.policy": "compact,delete"})])
            await admin.delete_records({TopicPartition(topic, partition):
                                        RecordsToDelete(before_offset=offset + 1)})
        finally:
            await admin.close()
        await pool.execute("DELETE FROM refused_addresses")

        replayed = await replay_dead_letters(runner(service, producer), kafka, dlq,
                                             group=f"{dlq}-replay")
        known = await addresses(pool)
    [(failed, error)] = replayed.failed or []
    assert (failed.partition, failed.offset) == (letter.partition, letter.offset)
    assert (replayed.applied, replayed.superseded) == (0, 0)
    assert f"{topic}[{partition}]@{offset} is no longer on Kafka" in error
    assert "dlq skip" in error
    assert known == {}
