"""Whatever bytes a record's key and headers hold, on the real broker: the record is
dead-lettered with a reason naming what is wrong, and the good events of its batch are
applied — no record can make a batch vanish (offsets committed past records never
applied)."""

from __future__ import annotations

from collections.abc import Callable

import asyncpg
import pytest
import runtime_testapp as testapp
from aiokafka import AIOKafkaProducer
from runtime_testapp import THINGS, ThingHappened

from cites_contracts import Envelope, encode
from cites_contracts.access import KafkaAccess
from cites_runtime.app import Runtime
from cites_runtime.dlq import DeadLetter, list_dead_letters
from cites_runtime.settings import ServiceSettings
from cites_runtime.testing import wait_caught_up

pytestmark = pytest.mark.integration

Headers = list[tuple[str, bytes | None]]
Record = tuple[bytes, Headers]  # key, headers (the value is a good event's)


def _with(*extra: tuple[str, bytes | None]) -> Callable[[Record], Record]:
    return lambda rec: (rec[0], [*rec[1], *extra])


# kind → (what makes the record hostile, dlq.reason, a fragment of dlq.error)
KINDS: dict[str, tuple[Callable[[Record], Record], str, str]] = {
    "header value not UTF-8": (_with(("x-tag", b"\xff\xfe")), "bad-header",
                               "header 'x-tag' is not UTF-8 text"),
    "header with no value": (_with(("x-tag", None)), "bad-header",
                             "header 'x-tag' has no value"),
    "1,000 headers": (_with(*[(f"h{i}", b"v") for i in range(996)]), "bad-header",
                      "1000 headers: more than the 32"),
    "64 KB header": (_with(("x-big", b"a" * 65_536)), "bad-header",
                     "header 'x-big' is 65536 bytes"),
    "key not UTF-8": (lambda rec: (b"\xff\xfe" + rec[0], rec[1]), "wrong-key",
                      "is not the aggregate id"),
}


async def _send(producer: AIOKafkaProducer, topic: str, thing_id: str,
                hostile: Callable[[Record], Record] | None = None) -> None:
    rec = encode(Envelope.wrap(ThingHappened(thing_id=thing_id, n=1), sequence=1))
    key, headers = (rec.key, list(rec.headers))
    if hostile is not None:
        key, headers = hostile((key, headers))
    await producer.send_and_wait(topic, rec.value, key=key, headers=headers, partition=0)


async def _consumed(settings: ServiceSettings, pool: asyncpg.Pool, topic: str
                    ) -> tuple[list[str], list[DeadLetter]]:
    """The test app run until its consumer has caught up with ``topic``: the things it
    applied (in order of their ids) and its dead letters."""
    runtime = Runtime(testapp.definition, settings)
    await runtime.start()
    try:
        await wait_caught_up(settings.kafka, settings.topic("tally"), topic)
        applied = await pool.fetch("SELECT thing_id FROM tally ORDER BY thing_id")
        letters = await list_dead_letters(settings.kafka, settings.topic("tally.dlq"))
    finally:
        await runtime.stop()
    return [r["thing_id"] for r in applied], letters


@pytest.mark.parametrize("kind", list(KINDS))
async def test_a_hostile_record_is_dead_lettered_and_its_batch_applied(
    kind: str, migrated: ServiceSettings, producer: AIOKafkaProducer, pool: asyncpg.Pool
) -> None:
    hostile, reason, says = KINDS[kind]
    topic = migrated.topic(THINGS.name)
    # Produced while no consumer runs: the four records come to it in one batch.
    await _send(producer, topic, "good-0")
    await _send(producer, topic, "hostile", hostile)
    await _send(producer, topic, "good-1")
    await _send(producer, topic, "good-2")
    applied, letters = await _consumed(migrated, pool, topic)
    assert applied == ["good-0", "good-1", "good-2"]
    assert [(d.reason, d.original_offset) for d in letters] == [(reason, 1)]
    assert says in letters[0].error


class _NotUtf8Name(str):
    """A header name that encodes to bytes no UTF-8 decoder takes: what a producer of
    another client library can write (aiokafka's own encodes names from text)."""

    def encode(self, *args: object, **kwargs: object) -> bytes:  # type: ignore[override]
        return b"\xff\xfe-name"


async def _send_unreadable_batch(kafka: KafkaAccess, topic: str, partition: int,
                                 *thing_ids: str) -> None:
    """One record batch of good events, one of them with a header name that is not UTF-8
    (built with aiokafka's pure-Python builder, which takes the name above; sent by a
    producer that is not idempotent, as the batch carries no producer id)."""
    from aiokafka.record.default_records import _DefaultRecordBatchBuilderPy

    producer = AIOKafkaProducer(**kafka.client_kwargs())
    await producer.start()
    batch = producer.create_batch()
    batch._builder = _DefaultRecordBatchBuilderPy(
        magic=2, compression_type=0, is_transactional=0, producer_id=-1, producer_epoch=-1,
        base_sequence=-1, batch_size=64 * 1024)
    for n, thing_id in enumerate(thing_ids):
        rec = encode(Envelope.wrap(ThingHappened(thing_id=thing_id, n=1), sequence=1))
        headers = [*rec.headers, *([(_NotUtf8Name("x"), b"1")] if n == 1 else [])]
        batch.append(key=rec.key, value=rec.value, timestamp=None, headers=headers)
    batch.close()
    try:
        await (await producer.send_batch(batch, topic, partition=partition))
    finally:
        await producer.stop()


async def test_a_record_batch_the_client_cannot_read_is_dead_lettered_and_passed(
    migrated: ServiceSettings, producer: AIOKafkaProducer, pool: asyncpg.Pool
) -> None:
    """aiokafka cannot parse a header name that is not UTF-8: its poll raises, every time,
    whatever else it polls. The record and those after it in its record batch (the client
    cannot reach them) are dead-lettered offset by offset, and every other record is
    applied — those before it (in its batch too) and after its batch on its partition, and
    those of another partition."""
    topic = migrated.topic(THINGS.name)
    await _send(producer, topic, "before")
    await _send_unreadable_batch(migrated.kafka, topic, 0,
                                 "batch-0", "batch-1", "batch-2")
    await _send(producer, topic, "after")
    rec = encode(Envelope.wrap(ThingHappened(thing_id="elsewhere", n=1), sequence=1))
    await producer.send_and_wait(topic, rec.value, key=rec.key, headers=rec.headers,
                                 partition=1)
    applied, letters = await _consumed(migrated, pool, topic)
    assert applied == ["after", "batch-0", "before", "elsewhere"]
    assert [(d.reason, d.original_partition, d.original_offset) for d in letters] == [
        ("unreadable", 0, 2), ("unreadable", 0, 3)]
    assert "cannot read offsets 2–3" in letters[0].error
