"""Reading what really reached a Kafka topic, for assertions."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from cites_contracts.access import KafkaAccess

from ..kafka import read_to_end

__all__ = ["delete_topics", "group_members", "read_topic", "wait_caught_up"]


async def read_topic(
    access: KafkaAccess,
    topic: str,
    *,
    until: Callable[[list[Any]], bool] | None = None,
    timeout: float = 30.0,
    idle: float = 1.0,
) -> list[Any]:
    """All records of ``topic`` from the beginning (no consumer group).

    Returns when ``until(records)`` holds, or — without ``until`` — once every partition
    is read to its end offset and nothing new came for ``idle`` seconds (a relay may still
    be publishing). Raises
    ``TimeoutError`` when ``until`` is not met within ``timeout``.
    """
    consumer = AIOKafkaConsumer(**access.client_kwargs(), enable_auto_commit=False,
                                auto_offset_reset="earliest")
    await consumer.start()
    try:
        deadline = time.monotonic() + timeout
        parts: set[int] | None = None
        while parts is None:
            parts = consumer.partitions_for_topic(topic)
            if parts is None:
                await consumer._client.force_metadata_update()  # topic may be new
                parts = consumer.partitions_for_topic(topic)
            if parts is None:
                if time.monotonic() > deadline:
                    if until is None:
                        return []
                    raise TimeoutError(f"topic {topic} never appeared")
                await asyncio.sleep(0.2)
        tps = [TopicPartition(topic, p) for p in sorted(parts)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        records: list[Any] = []
        if until is None:
            quiet_since = time.monotonic()
            while True:
                new = await read_to_end(consumer, tps)
                now = time.monotonic()
                if new:
                    records.extend(new)
                    quiet_since = now
                elif now - quiet_since >= idle or now > deadline:
                    return records
                await asyncio.sleep(0.1)
        while True:
            batch = await consumer.getmany(*tps, timeout_ms=200)
            for recs in batch.values():
                records.extend(recs)
            if until(records):
                return records
            if time.monotonic() > deadline:
                raise TimeoutError(f"{topic}: condition not met; got {len(records)} records")
    finally:
        await consumer.stop()


async def wait_caught_up(access: KafkaAccess, group: str, topic: str, *, timeout: float = 30.0
                         ) -> None:
    """Wait until ``group`` has committed every record of ``topic`` (its offsets reached
    the end offsets): everything published so far was consumed and its effects committed.
    """
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(**access.client_kwargs())
    consumer = AIOKafkaConsumer(**access.client_kwargs())
    await admin.start()
    await consumer.start()
    try:
        await consumer._client.force_metadata_update()
        parts = consumer.partitions_for_topic(topic)
        if not parts:
            raise LookupError(f"topic {topic} does not exist")
        tps = [TopicPartition(topic, p) for p in sorted(parts)]
        ends = await consumer.end_offsets(tps)
        deadline = time.monotonic() + timeout
        while True:
            committed = await admin.list_consumer_group_offsets(group, partitions=tps)
            # A partition the group never committed comes back as -1 (or not at all).
            done = {tp: max(0, committed[tp].offset) if tp in committed else 0 for tp in tps}
            behind = {tp: ends[tp] - done[tp] for tp in tps if ends[tp] > done[tp]}
            if not behind:
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"group {group} still behind on {topic}: {behind}")
            await asyncio.sleep(0.1)
    finally:
        await consumer.stop()
        await admin.close()


async def delete_topics(access: KafkaAccess, prefix: str | tuple[str, ...]) -> None:
    """Delete every topic whose name starts with ``prefix`` (a test's or a benchmark's; or
    any of several)."""
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(**access.client_kwargs())
    await admin.start()
    try:
        names = [t for t in await admin.list_topics() if t.startswith(prefix)]
        if names:
            await admin.delete_topics(names)
    finally:
        await admin.close()


async def group_members(access: KafkaAccess, group: str) -> list[set[TopicPartition]]:
    """The live members of consumer group ``group`` (as its coordinator describes them),
    each as the partitions it is assigned: what a replica joining or leaving changes."""
    from aiokafka.admin import AIOKafkaAdminClient
    from aiokafka.coordinator.protocol import ConsumerProtocolMemberAssignment

    admin = AIOKafkaAdminClient(**access.client_kwargs())
    await admin.start()
    try:
        members: list[set[TopicPartition]] = []
        for response in await admin.describe_consumer_groups([group]):
            for described in response.groups:
                # (error_code, group, state, protocol_type, protocol, members, ...)
                for member in described[5]:
                    raw = member[4]  # (member_id, client_id, host, metadata, assignment)
                    assigned = ConsumerProtocolMemberAssignment.decode(raw).assignment \
                        if raw else []
                    members.append({TopicPartition(topic, p)
                                    for topic, partitions in assigned for p in partitions})
        return members
    finally:
        await admin.close()
