"""Polling past records the Kafka client cannot read.

Kafka's broker accepts a record batch whose bytes aiokafka then cannot parse — a header
name that is not UTF-8 (any producer but ours can write one), a batch whose checksum
fails. aiokafka raises from ``getmany`` for it, every time, for every partition polled
together (and drops what that poll had taken from the others): one such batch would stop
the consumer for good. :func:`guard_polls` wraps the consumer's ``getmany``: when it
raises so, every partition goes back to its committed offset, records are taken one
partition at a time — on the failing one, those before the record it cannot parse — and
once that record comes first, the unreadable range — from it to the end of its record
batch, which the client cannot reach past it — is found, dead-lettered offset by offset
(``unreadable``: nothing of it can be applied or replayed), committed and passed.

Hand-written because the client offers no hook for a record it cannot parse; the wrapper
uses only the consumer's public API (``getmany``, ``position``, ``seek``, ``commit``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from aiokafka import TopicPartition
from aiokafka.errors import CorruptRecordException
from aiokafka.structs import OffsetAndMetadata

from .logs import get_logger

__all__ = ["UNREADABLE", "guard_polls"]

log = get_logger(__name__)

UNREADABLE: tuple[type[Exception], ...] = (UnicodeDecodeError, CorruptRecordException)
"""What aiokafka raises from a poll for bytes of a record batch it cannot parse."""

GetMany = Callable[..., Awaitable[dict[TopicPartition, list[Any]]]]


class DeadLetters(Protocol):
    async def dead_letter_unreadable(self, topic: str, partition: int, offsets: range,
                                     error: str) -> None: ...


def guard_polls(client: Any, letters: DeadLetters, *, probe_timeout_ms: int = 2000) -> None:
    """Make ``client.getmany`` (an AIOKafkaConsumer's) step over record batches it
    cannot parse, dead-lettering them through ``letters``, instead of raising for ever."""
    poll: GetMany = client.getmany

    async def getmany(*partitions: TopicPartition, timeout_ms: int = 0,
                      max_records: int | None = None) -> dict[TopicPartition, list[Any]]:
        try:
            return await poll(*partitions, timeout_ms=timeout_ms, max_records=max_records)
        except UNREADABLE as exc:
            log.error("a record batch the client cannot read: dead-lettering it",
                      error=repr(exc))
        # The failed poll may have taken other partitions' records with it: back to what
        # was committed (all that was taken before it was), then one partition at a time.
        polled = list(partitions) or sorted(client.assignment())
        for tp in polled:
            committed = await client.committed(tp)
            if committed is None:
                await client.seek_to_beginning(tp)  # what auto_offset_reset=earliest did
            else:
                client.seek(tp, committed)
        taken: dict[TopicPartition, list[Any]] = {}
        left = max_records
        for tp in polled:
            if left is not None and left <= 0:
                break
            try:
                got = await poll(tp, timeout_ms=probe_timeout_ms, max_records=left)
            except UNREADABLE as exc:
                # The records before the unreadable batch first, as a batch of their own;
                # the unreadable one is stepped over when it comes first.
                client.seek(tp, await client.position(tp))
                readable = await _readable_prefix(poll, tp, left, probe_timeout_ms)
                if not readable:
                    await _step_over(client, poll, letters, tp, repr(exc), probe_timeout_ms)
                    continue
                got = {tp: readable}
            taken.update(got)
            if left is not None:
                left -= sum(len(records) for records in got.values())
        return taken

    client.getmany = getmany


async def _readable_prefix(poll: GetMany, tp: TopicPartition, most: int | None,
                           probe_timeout_ms: int) -> list[Any]:
    """The records of ``tp`` from its position up to the first one the client cannot
    read, taken one at a time (a poll of one record parses nothing after it)."""
    records: list[Any] = []
    while most is None or len(records) < most:
        try:
            got = await poll(tp, timeout_ms=probe_timeout_ms, max_records=1)
        except UNREADABLE:
            break
        if not got:
            break
        records.extend(got.get(tp, []))
    return records


async def _step_over(client: Any, poll: GetMany, letters: DeadLetters, tp: TopicPartition,
                     error: str, probe_timeout_ms: int) -> None:
    """Dead-letter the unreadable offsets of ``tp`` from its position, commit past them
    and seek there. Every record before the position was handled already: the consumer
    applies one batch at a time, and commits it before it polls again."""
    start = await client.position(tp)
    end = await _first_readable(client, poll, tp, start, probe_timeout_ms)
    await letters.dead_letter_unreadable(
        tp.topic, tp.partition, range(start, end),
        f"the Kafka client cannot read offsets {start}–{end - 1} of "
        f"{tp.topic}[{tp.partition}] (a record it cannot parse, and the rest of its record "
        f"batch: {error}): nothing of them can be applied or replayed")
    client.seek(tp, end)
    await client.commit({tp: OffsetAndMetadata(end, "")})
    log.error("unreadable records dead-lettered and passed", topic=tp.topic,
              partition=tp.partition, first=start, last=end - 1)


async def _first_readable(client: Any, poll: GetMany, tp: TopicPartition, start: int,
                          probe_timeout_ms: int) -> int:
    """The first offset after ``start`` from which ``tp`` can be read: past the record
    batch that holds ``start`` (reaching a record of it parses those before it). Found by
    doubling steps, then halving; leaves the position anywhere."""
    end = int((await client.end_offsets([tp]))[tp])

    async def readable(offset: int) -> bool:
        if offset >= end:
            return True
        client.seek(tp, offset)
        try:
            await poll(tp, timeout_ms=probe_timeout_ms, max_records=1)
        except UNREADABLE:
            return False
        return True

    bad, step = start, 1
    good = min(start + step, end)
    while not await readable(good):
        bad, step = good, step * 2
        good = min(start + step, end)
    while good - bad > 1:
        middle = (bad + good) // 2
        if await readable(middle):
            good = middle
        else:
            bad = middle
    return good
