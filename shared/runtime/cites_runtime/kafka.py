"""Kafka clients configured once: the idempotent producer, the admin, topic creation."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

__all__ = [
    "PRODUCER_SETTINGS",
    "AiokafkaPublisher",
    "OutboundRecord",
    "Publisher",
    "ensure_topics",
    "make_producer",
]

# The relay's producer and the benchmark's raw baseline share these, so ratios are fair.
PRODUCER_SETTINGS: dict[str, Any] = {
    "acks": "all",
    "enable_idempotence": True,
    "linger_ms": 5,
    "max_batch_size": 256 * 1024,
    "request_timeout_ms": 30_000,
}


@dataclass(frozen=True, slots=True)
class OutboundRecord:
    topic: str
    key: bytes
    value: bytes
    headers: list[tuple[str, bytes]]


class Publisher(Protocol):
    async def enqueue(self, records: Sequence[OutboundRecord]) -> Awaitable[None]:
        """Hand records to the client in order; the result completes once all are acked
        (and raises if any failed). Lets the relay overlap acks with its next fetch."""

    async def publish_batch(self, records: Sequence[OutboundRecord]) -> None:
        """Publish all records, in order per key; return only once every one is acked."""


def make_producer(bootstrap: str, **overrides: Any) -> AIOKafkaProducer:
    return AIOKafkaProducer(bootstrap_servers=bootstrap, **{**PRODUCER_SETTINGS, **overrides})


class AiokafkaPublisher:
    """Publisher over one idempotent aiokafka producer (``acks=all``)."""

    def __init__(self, producer: AIOKafkaProducer):
        self.producer = producer

    async def enqueue(self, records: Sequence[OutboundRecord]) -> Awaitable[None]:
        send = self.producer.send
        # send() only enqueues (awaiting when the buffer is full); acks come as futures.
        futures = [await send(r.topic, r.value, key=r.key, headers=r.headers) for r in records]
        return _all_acked(futures)

    async def publish_batch(self, records: Sequence[OutboundRecord]) -> None:
        await (await self.enqueue(records))


async def _all_acked(futures: list[asyncio.Future[Any]]) -> None:
    await asyncio.gather(*futures)


async def ensure_topics(bootstrap: str, names: Sequence[str], *, partitions: int = 3,
                        replication_factor: int = 1) -> None:
    """Create missing topics (producers own their topics; creation is idempotent)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [n for n in dict.fromkeys(names) if n not in existing]
        if not missing:
            return
        with contextlib.suppress(TopicAlreadyExistsError):  # created meanwhile by a replica
            await admin.create_topics(
                [NewTopic(n, num_partitions=partitions, replication_factor=replication_factor)
                 for n in missing]
            )
    finally:
        await admin.close()
