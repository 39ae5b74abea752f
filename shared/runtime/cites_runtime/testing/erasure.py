"""Proving an erasure: look for a person's data in every table of every schema and in
every record of every topic, after Kafka's compaction has run (timings shortened).

A service's erasure test runs it with :func:`on_kafka_with_stoppable_relay` (so it can
stop the relay while the person is erased), then :func:`relayed_until_erased`, and looks
with :func:`rows_mentioning` and :func:`records_mentioning`."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient

from cites_contracts import Topic
from cites_contracts.access import KafkaAccess
from cites_contracts.topics import apply

from ..app import ServiceDefinition
from ..kafka import AiokafkaPublisher, make_producer
from ..relay import OutboxRelay
from ..settings import ServiceSettings
from .harness import ServiceUnderTest, all_published, eventually, on_kafka
from .kafka import read_topic

__all__ = ["SHORT_COMPACTION", "StoppableRelay", "on_kafka_with_stoppable_relay",
           "records_mentioning", "relayed_until_erased", "rows_mentioning", "shortened",
           "wait_erased_from_kafka"]

SHORT_COMPACTION: tuple[tuple[str, str], ...] = (
    ("segment.ms", "1000"),
    ("max.compaction.lag.ms", "1000"),
    ("min.compaction.lag.ms", "0"),
    ("min.cleanable.dirty.ratio", "0.01"),
    ("delete.retention.ms", str(24 * 3600 * 1000)),
)
"""The personal-data topics' timings in seconds instead of minutes (the mechanism is the
same: roll on append past the deadline, the relay's nudges, the log cleaner's pass)."""


def shortened(topic: Topic) -> Topic:
    """``topic`` as declared, with compaction timings of seconds: provision it under the
    test's prefix before the service starts (provisioning never alters a live topic)."""
    return dataclasses.replace(topic, extra_configs=SHORT_COMPACTION)


class StoppableRelay:
    """A service's relay that the test runs (start the service with ``relay_enabled=False``)
    so it can stop it while something happens and resume it: it nudges ``nudge_topics``
    every half second, as the service's relay does every few minutes."""

    def __init__(self, settings: ServiceSettings, producer: AIOKafkaProducer,
                 nudge_topics: list[Topic]):
        self._relay = OutboxRelay(
            settings.dsn, settings.db_schema,
            AiokafkaPublisher(producer, factory=lambda: make_producer(settings.kafka)),
            topic_prefix=settings.topic_prefix, poll_interval=0.1, nudge_topics=nudge_topics,
            nudge_every=0.5)
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._relay.run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None


async def rows_mentioning(admin_dsn: str, *texts: str) -> list[str]:
    """``schema.table`` of every row, in every table of every schema of the database,
    that holds any of ``texts`` (as text, or inside a bytea column such as the outbox's
    values)."""
    conn = await asyncpg.connect(admin_dsn)
    try:
        tables = await conn.fetch(
            """SELECT n.nspname AS schema, c.relname AS name,
                      coalesce(array_agg(a.attname::text) FILTER (
                          WHERE a.atttypid = 'bytea'::regtype), '{}') AS binary
               FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
               LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0
                                        AND NOT a.attisdropped
               WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog',
                     'information_schema', 'pg_toast')
               GROUP BY 1, 2""")
        found: list[str] = []
        for t in tables:
            name = f'"{t["schema"]}"."{t["name"]}"'
            tests = [f"position(${i + 1} IN r::text) > 0" for i in range(len(texts))]
            tests += [f'position(convert_to(${i + 1}, \'UTF8\') IN r."{col}") > 0'
                      for col in t["binary"] for i in range(len(texts))]
            try:
                count = await conn.fetchval(
                    f"SELECT count(*) FROM {name} r WHERE {' OR '.join(tests)}", *texts)
            except (asyncpg.UndefinedTableError, asyncpg.InvalidSchemaNameError):
                continue  # dropped since it was listed (another test's schema): empty
            found += [name] * count
        return found
    finally:
        await conn.close()


async def _topics(access: KafkaAccess, prefix: str) -> list[str]:
    admin = AIOKafkaAdminClient(**access.client_kwargs())
    await admin.start()
    try:
        return sorted(t for t in await admin.list_topics() if t.startswith(prefix))
    finally:
        await admin.close()


async def records_mentioning(access: KafkaAccess, prefix: str, *texts: str) -> list[str]:
    """``topic@partition:offset`` of every record, on every topic whose name starts with
    ``prefix``, read from offset 0, whose key, value or headers hold any of ``texts``."""
    needles = [t.encode() for t in texts]
    found: list[str] = []
    for topic in await _topics(access, prefix):
        for r in await read_topic(access, topic, idle=0.3):
            blob = b"\0".join([r.key or b"", r.value or b"",
                               *(v or b"" for _, v in r.headers)])
            if any(n in blob for n in needles):
                found.append(f"{topic}@{r.partition}:{r.offset}")
    return found


async def wait_erased_from_kafka(access: KafkaAccess, prefix: str, *texts: str,
                                 timeout: float = 180.0) -> float:
    """Wait until no record of the prefix's topics holds any of ``texts`` (compaction has
    removed them); return how long it took. Raises AssertionError naming where they are
    still found after ``timeout``."""
    found: list[str] = []

    async def erased() -> bool:
        found[:] = await records_mentioning(access, prefix, *texts)
        return not found

    return await eventually(erased, timeout=timeout, every=1.0,
                            what=lambda: f"erased from Kafka (still in {found})")


@asynccontextmanager
async def on_kafka_with_stoppable_relay(
        definition: ServiceDefinition, settings: ServiceSettings, personal: Topic,
) -> AsyncIterator[tuple[ServiceUnderTest, StoppableRelay]]:
    """``definition`` on real Kafka (:func:`~.harness.on_kafka`) with its own relay off and
    a :class:`StoppableRelay` in its place, not started, nudging ``personal`` (its
    personal-data topic, provisioned first with the timings of :func:`shortened`). Leaving
    the block stops the relay and its producer."""
    settings = settings.model_copy(update={"relay_enabled": False})
    topic = shortened(personal)
    await apply(settings.kafka, [topic], prefix=settings.topic_prefix)
    producer = make_producer(settings.kafka)
    await producer.start()
    relay = StoppableRelay(settings, producer, [topic])
    try:
        async with on_kafka(definition, settings) as service:
            yield service, relay
    finally:
        await relay.stop()
        await producer.stop()


async def relayed_until_erased(service: ServiceUnderTest, relay: StoppableRelay,
                               *texts: str) -> float:
    """Start ``relay``, wait until it has published every committed event of ``service``
    and until no record of the service's topics holds any of ``texts``
    (:func:`wait_erased_from_kafka`), then stop it. Returns how long compaction took."""
    relay.start()
    await all_published(service.runtime)
    took = await wait_erased_from_kafka(service.settings.kafka, service.settings.topic_prefix,
                                        *texts)
    await relay.stop()
    return took
