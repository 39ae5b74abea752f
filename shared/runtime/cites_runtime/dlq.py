"""Dead letters: list them, and replay them through the consumer that rejected them.

Replaying goes through the same path as live consumption (decode, inbox, handler, one
transaction), so a dead letter whose cause was fixed is applied exactly once, and one
already applied is a no-op. Replay progress is kept in the consumer group
``<consumer>.dlq-replay``: a dead letter replayed successfully is not replayed again.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.structs import OffsetAndMetadata

from .consumer import ConsumerRunner
from .kafka import read_to_end
from .logs import get_logger

__all__ = ["DeadLetter", "ReplayResult", "list_dead_letters", "replay_dead_letters"]

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

    @classmethod
    def from_record(cls, rec: Any) -> DeadLetter:
        h = {k: v.decode("utf-8", "replace") for k, v in rec.headers}
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
            event_type=h.get("type", ""),
            event_id=h.get("event_id", ""),
        )


@dataclass
class ReplayResult:
    applied: int = 0
    duplicates: int = 0
    stale: int = 0
    """Skipped: their aggregate applied a later event since (applying would undo it)."""
    failed: list[tuple[DeadLetter, str]] | None = None


async def _open(bootstrap: str, topic: str, group: str | None) -> tuple[AIOKafkaConsumer,
                                                                        list[TopicPartition]]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group,
                                enable_auto_commit=False, auto_offset_reset="earliest")
    await consumer.start()
    parts = consumer.partitions_for_topic(topic)
    if not parts:
        await consumer._client.force_metadata_update()
        parts = consumer.partitions_for_topic(topic) or set()
    tps = [TopicPartition(topic, p) for p in sorted(parts)]
    consumer.assign(tps)
    return consumer, tps


async def list_dead_letters(bootstrap: str, topic: str) -> list[DeadLetter]:
    """Every dead letter in ``topic`` (read from the beginning, without a group)."""
    consumer, tps = await _open(bootstrap, topic, None)
    try:
        if not tps:
            return []
        await consumer.seek_to_beginning(*tps)
        return [DeadLetter.from_record(r) for r in await read_to_end(consumer, tps)]
    finally:
        await consumer.stop()


async def replay_dead_letters(runner: ConsumerRunner, bootstrap: str, topic: str,
                              *, group: str) -> ReplayResult:
    """Replay the dead letters not yet replayed; stop a partition at its first failure."""
    result = ReplayResult(failed=[])
    consumer, tps = await _open(bootstrap, topic, group)
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
                outcome = await runner.replay(rec)
            except Exception as exc:
                assert result.failed is not None
                result.failed.append((letter, repr(exc)))
                stopped.add(rec.partition)  # keep order: later letters wait for this one
                continue
            if outcome == "applied":
                result.applied += 1
            elif outcome == "stale":
                result.stale += 1
            else:
                result.duplicates += 1
            tp = TopicPartition(rec.topic, rec.partition)
            await consumer.commit({tp: OffsetAndMetadata(rec.offset + 1, "")})
            log.info("dead letter replayed", offset=rec.offset, outcome=outcome)
        return result
    finally:
        with contextlib.suppress(Exception):
            await consumer.stop()
