"""Kafka clients configured once: the idempotent producer, the admin, topic creation.

Every client the platform builds — producer, consumer, FastStream broker, admin, the
dead-letter tools, the dashboard's probes, the simulation — starts from one
:class:`~cites_contracts.access.KafkaAccess` (``settings.kafka``): the brokers, and the
principal it authenticates as (:func:`kafka_client_kwargs`).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, NamedTuple, Protocol

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import MessageSizeTooLargeError, TopicAlreadyExistsError
from faststream.security import BaseSecurity, SASLPlaintext, SASLScram512

from cites_contracts import Topic
from cites_contracts.access import KafkaAccess
from cites_contracts.topics import apply as apply_topics

from .logs import get_logger

__all__ = [
    "PRODUCER_SETTINGS",
    "AiokafkaPublisher",
    "OutboundRecord",
    "Publisher",
    "ensure_topics",
    "faststream_security",
    "kafka_client_kwargs",
    "make_producer",
    "provision",
    "read_to_end",
]

log = get_logger(__name__)

# The relay's producer and the benchmark's raw baseline share these, so ratios are fair.
PRODUCER_SETTINGS: dict[str, Any] = {
    "acks": "all",
    "enable_idempotence": True,
    "linger_ms": 5,
    "max_batch_size": 256 * 1024,
    "max_request_size": 1024 * 1024,  # ≤ the broker's message.max.bytes (1 MiB + 12)
    "request_timeout_ms": 30_000,
}
RECORD_OVERHEAD = 512
"""Bytes a record needs beyond its key, value and headers (batch and record framing)."""


class OutboundRecord(NamedTuple):
    """A tuple (cheap to build: the relay makes one per event)."""

    topic: str
    key: bytes
    value: bytes | None
    """None: a tombstone (erases ``key`` on a compacted topic)."""
    headers: list[tuple[str, bytes]]
    partition: int | None = None
    """None: the producer's partitioner chooses from the key, as ``send()`` would."""


class Publisher(Protocol):
    async def enqueue(self, records: Sequence[OutboundRecord]) -> Awaitable[None]:
        """Hand records to the client in order; the result completes once all are acked
        (and raises if any failed). Lets the relay overlap acks with its next fetch."""

    async def publish_batch(self, records: Sequence[OutboundRecord]) -> None:
        """Publish all records, in order per key; return only once every one is acked."""

    async def reset(self) -> None:
        """Start afresh after an error the client does not recover from (an idempotent
        producer whose batch the broker refused is left out of sequence for good)."""


class _HasKafka(Protocol):
    @property
    def kafka(self) -> KafkaAccess: ...


def kafka_client_kwargs(settings: _HasKafka) -> dict[str, Any]:
    """aiokafka's connection arguments for a service's settings: its brokers and its
    principal (``<SERVICE>_KAFKA_USERNAME``/``_PASSWORD``)."""
    return settings.kafka.client_kwargs()


def faststream_security(access: KafkaAccess) -> BaseSecurity | None:
    """The same principal as FastStream's broker takes it."""
    if access.username is None:
        return None
    ssl = access.client_kwargs().get("ssl_context")
    kind = SASLScram512 if access.mechanism == "SCRAM-SHA-512" else SASLPlaintext
    return kind(access.username, access.password or "", ssl_context=ssl,
                use_ssl=access.tls)


def make_producer(access: KafkaAccess, **overrides: Any) -> AIOKafkaProducer:
    return AIOKafkaProducer(**{**access.client_kwargs(), **PRODUCER_SETTINGS, **overrides})


class AiokafkaPublisher:
    """Publisher over one idempotent aiokafka producer (``acks=all``).

    Builds the record batches itself (``create_batch``/``send_batch``) instead of calling
    ``send()`` per record: the relay already holds a whole batch, and skipping the
    per-record accumulator path is what lets it keep up with a raw producer. Records are
    partitioned exactly as ``send()`` would (the producer's own partitioner on the key),
    and appended in order, so per-key order and the idempotent producer's sequence
    numbers are those of ``send()``. Batches are handed over closed: nothing waits for
    ``linger_ms``, which only lets ``send()`` gather records into a batch.
    """

    def __init__(self, producer: AIOKafkaProducer,
                 factory: Callable[[], AIOKafkaProducer] | None):
        self.producer = producer
        if factory is None:
            raise TypeError("AiokafkaPublisher needs the factory of its producer's "
                            "replacement (make_producer with the same access)")
        self._factory = factory
        self._max_record = int(PRODUCER_SETTINGS["max_request_size"]) - RECORD_OVERHEAD

    @classmethod
    def connect(cls, access: KafkaAccess, **overrides: Any) -> AiokafkaPublisher:
        """A publisher on a new producer (not started: ``await p.producer.start()``)."""
        return cls(make_producer(access, **overrides),
                   factory=lambda: make_producer(access, **overrides))

    async def reset(self) -> None:
        old, self.producer = self.producer, self._factory()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(old.stop(), 10)
        await self.producer.start()

    async def _partitions(self, topic: str) -> list[int]:
        cluster = self.producer.client.cluster
        parts = cluster.partitions_for_topic(topic)
        if not parts:
            await self.producer.client._wait_on_metadata(topic)
            parts = cluster.partitions_for_topic(topic)
        return sorted(parts)

    async def enqueue(self, records: Sequence[OutboundRecord]) -> Awaitable[None]:
        for r in records:  # refuse before sending anything: the producer stays usable
            size = len(r.key) + len(r.value or b"") + sum(len(k) + len(v) for k, v in r.headers)
            if size > self._max_record:
                raise MessageSizeTooLargeError(
                    f"a record of {size} bytes for {r.topic} exceeds the producer's limit "
                    f"({self._max_record} bytes)")
        producer = self.producer
        partitioner = producer._partitioner
        builders: dict[tuple[str, int], Any] = {}
        partitions: dict[str, list[int]] = {}
        futures: list[asyncio.Future[Any]] = []
        for r in records:
            parts = partitions.get(r.topic)
            if parts is None:
                parts = partitions[r.topic] = await self._partitions(r.topic)
            tp = (r.topic, partitioner(r.key, parts, parts) if r.partition is None
                  else r.partition)
            builder = builders.get(tp)
            if builder is None:
                builder = builders[tp] = producer.create_batch()
            if builder.append(key=r.key, value=r.value, timestamp=None, headers=r.headers) is None:
                # Full: hand it over (this waits while the partition's queue is full).
                futures.append(await producer.send_batch(builder, tp[0], partition=tp[1]))
                builder = builders[tp] = producer.create_batch()
                # An empty batch takes any record (the size check above bounds it).
                builder.append(key=r.key, value=r.value, timestamp=None, headers=r.headers)
        for (topic, partition), builder in builders.items():
            # Closed: the batch is complete, so the producer sends it now instead of
            # holding it ``linger_ms`` for records that only send() would add.
            builder.close()
            futures.append(await producer.send_batch(builder, topic, partition=partition))
        return _all_acked(futures)

    async def publish_batch(self, records: Sequence[OutboundRecord]) -> None:
        await (await self.enqueue(records))


async def _all_acked(futures: list[asyncio.Future[Any]]) -> None:
    await asyncio.gather(*futures)


async def provision(access: KafkaAccess, topics: Sequence[Topic], *, prefix: str = "") -> None:
    """Create the declared topics that are missing (:func:`cites_contracts.topics.apply`);
    a live topic that differs from its declaration is logged, never altered. Needs the
    administrator's access: services' principals may not create topics."""
    done = await apply_topics(access, list(dict.fromkeys(topics)), prefix=prefix)
    if done.created:
        log.info("topics created", topics=done.created, brokers=done.brokers)
    for line in done.drift:
        log.warning("topic differs from its declaration", drift=line)


async def ensure_topics(access: KafkaAccess, names: Sequence[str], *, partitions: int = 3,
                        replication_factor: int = 1) -> None:
    """Create missing topics that no contract declares (benchmarks' and tests' own):
    the broker creates none by itself (``auto.create.topics.enable=false``)."""
    admin = AIOKafkaAdminClient(**access.client_kwargs())
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


async def read_to_end(consumer: AIOKafkaConsumer, tps: list[TopicPartition]) -> list[Any]:
    """Every record from the consumer's positions on ``tps`` up to their end offsets as of
    now (later records are left), ordered by partition then offset."""
    ends = await consumer.end_offsets(tps)
    records: list[Any] = []
    while any([await consumer.position(tp) < ends[tp] for tp in tps]):
        batch = await consumer.getmany(*tps, timeout_ms=500)
        for recs in batch.values():
            records.extend(r for r in recs if r.offset < ends[TopicPartition(r.topic, r.partition)])
    return sorted(records, key=lambda r: (r.partition, r.offset))
