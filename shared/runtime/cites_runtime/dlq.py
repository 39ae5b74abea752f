"""Dead letters: list them, and replay them through the consumer that rejected them.

Replaying goes through the same path as live consumption (decode, inbox, handler, one
transaction), so a dead letter whose cause was fixed is applied exactly once, and one
already applied is a no-op. Replay progress is kept in the consumer group
``<consumer>.dlq-replay``: a dead letter replayed successfully is not replayed again.

A letter of a personal-data record carries no value (``dlq.value_withheld``): replay
reads the original record back from its topic, where erasure reaches it, and applies it
as any other. Once compaction has removed it — a newer record of its key, or its
tombstone, replaced it, and the consumer applies that one — the letter is ``superseded``:
counted, and the replay goes on. Removed for another reason (a time retention, deleted
records), it fails, and the letter waits for ``dlq skip``. The value is never written to
the dead-letter topics.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import OffsetOutOfRangeError
from aiokafka.structs import OffsetAndMetadata

from cites_contracts.access import KafkaAccess

from .consumer import ConsumerRunner, RawRecord
from .kafka import OutboundRecord, Publisher, read_to_end
from .logs import get_logger

__all__ = [
    "DeadLetter",
    "OriginGone",
    "ReplayResult",
    "list_dead_letters",
    "replay_dead_letters",
    "set_aside",
]

log = get_logger(__name__)


@dataclass(frozen=True, slots=True)
class DeadLetter:
    partition: int
    offset: int
    reason: str
    error: str
    consumer: str
    original_topic: str
    original_partition: int
    original_offset: int
    failed_at: str
    event_type: str
    event_id: str
    decision_reason: str = ""
    """Why an operator set it aside (skipped or parked letters only)."""

    @classmethod
    def from_record(cls, rec: Any) -> DeadLetter:
        h = {k: (v or b"").decode("utf-8", "replace") for k, v in rec.headers}
        return cls(
            partition=rec.partition,
            offset=rec.offset,
            reason=h.get("dlq.reason", "?"),
            error=h.get("dlq.error", ""),
            consumer=h.get("dlq.consumer", ""),
            original_topic=h.get("dlq.original_topic", ""),
            original_partition=int(h.get("dlq.original_partition", "-1")),
            original_offset=int(h.get("dlq.original_offset", "-1")),
            failed_at=h.get("dlq.failed_at", ""),
            event_type=h.get("type", "tombstone" if "dlq.tombstone" in h else ""),
            event_id=h.get("event_id", ""),
            decision_reason=h.get("dlq.decision_reason", ""),
        )


@dataclass
class ReplayResult:
    applied: int = 0
    duplicates: int = 0
    stale: int = 0
    """Skipped: their aggregate applied a later event since (applying would undo it)."""
    superseded: int = 0
    """Skipped: withheld values whose record a newer one of its key replaced on its
    compacted topic (the consumer applies that one: nothing is left to apply)."""
    failed: list[tuple[DeadLetter, str]] | None = None


class OriginGone(LookupError):
    """A letter's original record is no longer on Kafka, and no newer record of its key
    explains it (a time retention, deleted records, a recreated topic): nothing is left to
    replay. The letter waits for ``dlq skip``."""


class _Origins:
    """Reads original records back from their topics (no group), for letters whose value
    was withheld; a consumer is started at the first one."""

    def __init__(self, access: KafkaAccess, *, timeout_s: float = 30.0):
        self._access = access
        self._timeout_s = timeout_s
        self._consumer: AIOKafkaConsumer | None = None

    async def __call__(self, topic: str, partition: int, offset: int) -> RawRecord | None:
        """The record at ``topic[partition]@offset``; None when the partition holds it no
        more but holds later records (compaction removed it). Raises :class:`OriginGone`
        when the offset is below the partition's start or beyond its end."""
        if self._consumer is None:
            # "none": an offset out of range must raise, not jump to another record.
            self._consumer = AIOKafkaConsumer(**self._access.client_kwargs(),
                                              enable_auto_commit=False,
                                              auto_offset_reset="none")
            await self._consumer.start()
        consumer = self._consumer
        tp = TopicPartition(topic, partition)
        consumer.assign([tp])
        start = (await consumer.beginning_offsets([tp]))[tp]
        end = (await consumer.end_offsets([tp]))[tp]
        where = f"{topic}[{partition}]@{offset}"
        if not start <= offset < end:
            raise OriginGone(f"{where} is no longer on Kafka (the partition now starts at "
                             f"offset {start} and ends before {end}: removed by a time "
                             "retention or by deleted records, or the topic was recreated): "
                             "nothing is left to replay; abandon the letter with dlq skip")
        consumer.seek(tp, offset)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._timeout_s
        while loop.time() < deadline:
            try:
                batch = await consumer.getmany(tp, timeout_ms=500, max_records=1)
            except OffsetOutOfRangeError:  # the retention passed since the check above
                raise OriginGone(f"{where} is no longer on Kafka (removed while it was "
                                 "being read): abandon the letter with dlq skip") from None
            found = batch.get(tp, [])
            if found:
                return found[0] if found[0].offset == offset else None
            if await consumer.position(tp) >= end:
                return None  # every record from there to the end was compacted away
        raise TimeoutError(f"{where} could not be read within {self._timeout_s:.0f} s")

    async def close(self) -> None:
        if self._consumer is not None:
            await self._consumer.stop()


async def _open(access: KafkaAccess, topic: str, group: str | None
                ) -> tuple[AIOKafkaConsumer, list[TopicPartition]]:
    consumer = AIOKafkaConsumer(**access.client_kwargs(), group_id=group,
                                enable_auto_commit=False, auto_offset_reset="earliest")
    await consumer.start()
    parts = consumer.partitions_for_topic(topic)
    if not parts:
        await consumer._client.force_metadata_update()
        parts = consumer.partitions_for_topic(topic) or set()
    tps = [TopicPartition(topic, p) for p in sorted(parts)]
    consumer.assign(tps)
    return consumer, tps


async def list_dead_letters(access: KafkaAccess, topic: str) -> list[DeadLetter]:
    """Every dead letter in ``topic`` (read from the beginning, without a group)."""
    consumer, tps = await _open(access, topic, None)
    try:
        if not tps:
            return []
        await consumer.seek_to_beginning(*tps)
        return [DeadLetter.from_record(r) for r in await read_to_end(consumer, tps)]
    finally:
        await consumer.stop()


async def replay_dead_letters(runner: ConsumerRunner, access: KafkaAccess, topic: str,
                              *, group: str) -> ReplayResult:
    """Replay the dead letters not yet replayed; stop a partition at its first failure.
    Letters whose value was withheld are applied from their original records, read back
    from ``access``'s cluster (see the module's documentation)."""
    result = ReplayResult(failed=[])
    origins = _Origins(access)
    consumer, tps = await _open(access, topic, group)
    try:
        for tp in tps:
            committed = await consumer.committed(tp)
            if committed is None:
                await consumer.seek_to_beginning(tp)
            else:
                consumer.seek(tp, committed)
        stopped: set[int] = set()
        for rec in await read_to_end(consumer, tps):
            if rec.partition in stopped:
                continue
            letter = DeadLetter.from_record(rec)
            try:
                outcome = await runner.replay(rec, origins=origins)
            except Exception as exc:
                assert result.failed is not None
                result.failed.append((letter, repr(exc)))
                stopped.add(rec.partition)  # keep order: later letters wait for this one
                continue
            if outcome == "applied":
                result.applied += 1
            elif outcome == "stale":
                result.stale += 1
            elif outcome == "superseded":
                result.superseded += 1
            else:
                result.duplicates += 1
            tp = TopicPartition(rec.topic, rec.partition)
            await consumer.commit({tp: OffsetAndMetadata(rec.offset + 1, "")})
            log.info("dead letter replayed", offset=rec.offset, outcome=outcome)
        return result
    finally:
        with contextlib.suppress(Exception):
            await consumer.stop()
        with contextlib.suppress(Exception):
            await origins.close()


async def set_aside(publisher: Publisher, access: KafkaAccess, topic: str, *, group: str,
                    partition: int, offset: int, decision: str, reason: str) -> DeadLetter:
    """Take the next dead letter of a partition out of the replay path, with a reason: the
    one letter that can never apply no longer holds back the letters after it.

    ``decision`` ``skipped``: abandoned for good; ``parked``: kept to replay later
    (``dlq replay --parked``). Either way a copy, with ``dlq.decision``,
    ``dlq.decision_reason`` and ``dlq.decided_at``, goes to ``<topic>.<decision>`` (kept for
    audit: provisioned with the service's topics, see ``dead_letter_topics``), then the
    replay group moves past it. Only the letter the replay would take next can be set
    aside (offsets keep no holes)."""
    if decision not in ("skipped", "parked"):
        raise ValueError(f"decision is skipped or parked, not {decision!r}")
    consumer, tps = await _open(access, topic, group)
    try:
        tp = TopicPartition(topic, partition)
        if tp not in tps:
            raise LookupError(f"{topic} has no partition {partition}")
        committed = await consumer.committed(tp)
        next_offset = committed if committed is not None else (
            await consumer.beginning_offsets([tp]))[tp]
        if offset != next_offset:
            raise LookupError(f"the next dead letter to replay on {topic}[{partition}] is at "
                              f"offset {next_offset}: only it can be set aside")
        consumer.seek(tp, offset)
        rec = None
        while rec is None:
            batch = await consumer.getmany(tp, timeout_ms=2000, max_records=1)
            found = batch.get(tp, [])
            if not found:
                raise LookupError(f"no dead letter at {topic}[{partition}]@{offset}")
            rec = found[0]
        await publisher.publish_batch([OutboundRecord(
            topic=f"{topic}.{decision}", key=rec.key or b"", value=rec.value or b"",
            headers=[*[(k, v or b"") for k, v in rec.headers if not k.startswith(
                "dlq.decision")],
                     ("dlq.decision", decision.encode()),
                     ("dlq.decision_reason", reason.encode("utf-8", "backslashreplace")),
                     ("dlq.decided_at", datetime.now(UTC).isoformat().encode())])])
        await consumer.commit({tp: OffsetAndMetadata(offset + 1, "")})
        log.warning("dead letter set aside", topic=topic, partition=partition, offset=offset,
                    decision=decision, reason=reason)
        return DeadLetter.from_record(rec)
    finally:
        with contextlib.suppress(Exception):
            await consumer.stop()
