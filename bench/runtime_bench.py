"""Relay vs raw aiokafka producer; runtime consumer vs raw aiokafka consumer."""

from __future__ import annotations

import asyncio
import json
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
from aiokafka import AIOKafkaConsumer
from labelling.examples import territory_labelled
from rich.console import Console

from cites_contracts import Envelope, encode
from cites_contracts.access import KafkaAccess
from cites_contracts.events.labelling import TerritoryLabelled
from cites_runtime import tracing
from cites_runtime.app import Runtime, ServiceDefinition, run_migrations
from cites_runtime.consumer import (
    BatchContext,
    ConsumerRunner,
    EventConsumer,
    HandlerContext,
    RawRecord,
)
from cites_runtime.db import create_pool
from cites_runtime.kafka import AiokafkaPublisher, ensure_topics, make_producer
from cites_runtime.relay import OutboxRelay, _headers
from cites_runtime.settings import ServiceSettings
from cites_runtime.testing import delete_topics
from cites_runtime.testing.infra import Infra, resolve_infra
from cites_runtime.testing.plugin import ServiceDb, drop_db, new_service_db
from cites_runtime.uow import unit_of_work

from .access import kafka_settings

TOPIC = TerritoryLabelled.spec.topic.name


@dataclass
class Result:
    name: str
    events: int
    rate: float
    baseline_name: str
    baseline_rate: float
    target: str

    @property
    def ratio(self) -> float:
        return self.rate / self.baseline_rate


async def _timed(fn: Callable[[], Awaitable[Any]]) -> float:
    started = time.perf_counter()
    await fn()
    return time.perf_counter() - started


def _settings(db: ServiceDb, infra: Infra, prefix: str, *, traced: bool = False,
              **kw: Any) -> ServiceSettings:
    """The bench service's settings; ``traced``: tracing on, every trace sampled, spans
    handed to an exporter that drops them (the cost of making spans, not of a network)."""
    if traced:
        kw = {"trace_exporter": _dropping_exporter(), "trace_sample_ratio": 1.0, **kw}
    return ServiceSettings(service_name="bench", database_url=db.dsn, db_schema=db.schema,
                           topic_prefix=prefix, log_json=False, log_level="WARNING",
                           **{**kafka_settings(infra), **kw})


def _dropping_exporter() -> Any:
    from opentelemetry.sdk.trace import ReadableSpan
    from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

    class Dropping(SpanExporter):
        def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
            return SpanExportResult.SUCCESS

    return Dropping()


async def prefill_labels(access: KafkaAccess, topic: str, n: int) -> None:
    """Publish ``n`` realistic TerritoryLabelled records on ``topic`` (setup, not timed)."""
    await ensure_topics(access, [topic])
    producer = make_producer(access)
    await producer.start()
    try:
        futures = []
        for i in range(n):
            rec = encode(Envelope.wrap(territory_labelled(i), sequence=1))
            futures.append(await producer.send(topic, rec.value, key=rec.key,
                                               headers=rec.headers))
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


async def raw_consume(access: KafkaAccess, topic: str | Sequence[str], n: int, *,
                      max_records: int = 1000, decode: bool = False) -> float:
    """The baseline consumer: a raw aiokafka group member reading ``n`` records of
    ``topic`` (one or several), ``max_records`` a batch, committing after each batch,
    doing nothing else (``decode``: ``json.loads`` of each value, as much decoding as a
    reader needs to see an event's fields). Returns the seconds from its first records in
    hand to the commit of the last ones (group join and stop excluded, as they are for
    ours: :class:`ConsumedWindow`)."""
    topics = [topic] if isinstance(topic, str) else list(topic)
    consumer = AIOKafkaConsumer(*topics, **access.client_kwargs(),
                                group_id=f"raw-{uuid.uuid4().hex[:6]}",
                                auto_offset_reset="earliest", enable_auto_commit=False)
    await consumer.start()
    try:
        seen, started = 0, 0.0
        while seen < n:
            batch = await consumer.getmany(timeout_ms=500, max_records=max_records)
            if batch and not seen:
                started = time.perf_counter()
            for records in batch.values():
                if decode:
                    for r in records:
                        json.loads(r.value)
                seen += len(records)
            if batch:
                await consumer.commit()
        return time.perf_counter() - started
    finally:
        await consumer.stop()


class ConsumedWindow:
    """Times a runtime's consumer as :func:`raw_consume` times the baseline: from the first
    batch handed to ``ConsumerRunner.process_batch`` to the end of the call that completes
    ``n`` records — no runtime start (pool, provisioning, group join) or stop, and no
    polling of the database to see that it is done. (The last batch's offset commit, one
    round trip, is left out; the baseline's is in.) Used as ``with ConsumedWindow(n) as
    w: ...; await w.done.wait()``: it wraps the class's method for the block's duration."""

    def __init__(self, n: int):
        self.n = n
        self.records = 0
        self.started = self.finished = 0.0
        self.done = asyncio.Event()
        self._original: Any = None

    @property
    def seconds(self) -> float:
        return self.finished - self.started

    def __enter__(self) -> ConsumedWindow:
        self._original = original = ConsumerRunner.process_batch
        window = self

        async def process_batch(runner: ConsumerRunner, records: Sequence[RawRecord]) -> None:
            if not window.started:
                window.started = time.perf_counter()
            await original(runner, records)
            window.records += len(records)
            if window.records >= window.n and not window.done.is_set():
                window.finished = time.perf_counter()
                window.done.set()

        ConsumerRunner.process_batch = process_batch  # type: ignore[method-assign,assignment]
        return self

    def __exit__(self, *exc: object) -> None:
        ConsumerRunner.process_batch = self._original  # type: ignore[method-assign,assignment]


async def consumed_in(definition: ServiceDefinition, settings: ServiceSettings,
                      n: int) -> float:
    """Run ``definition`` (its consumer on the backlog of ``n`` records) and stop it once
    they are processed: the seconds of its :class:`ConsumedWindow`."""
    with ConsumedWindow(n) as window:
        runtime = Runtime(definition, settings)
        await runtime.start()
        try:
            await window.done.wait()
        finally:
            await runtime.stop()
    return window.seconds


def run_alone(bench: Callable[..., Coroutine[Any, Any, list[Result]]], *defaults: int,
              unit: str = "/s") -> None:
    """``python -m bench.<name> [N …]``: ``bench`` on the resolved infrastructure with the
    sizes given on the command line (``defaults`` for those not given), its rows printed
    (rates in ``unit``)."""
    given = [int(a) for a in sys.argv[1:1 + len(defaults)]]
    resolved = resolve_infra()
    try:
        rows = asyncio.run(bench(resolved, *given, *defaults[len(given):]))
    finally:
        resolved.close()
    for row in rows:
        print(f"{row.name}: {row.rate:,.0f}{unit}; {row.baseline_name}: "
              f"{row.baseline_rate:,.0f}{unit}; ratio {row.ratio:.3f}")


async def relay_bench(infra: Infra, n: int, console: Console, *, rounds: int = 3,
                      traced: bool = False) -> list[Result]:
    """The relay (fetching and marking on two sessions, as it runs in a service) against a
    raw producer sending the same records with the same settings. Rounds alternate, each
    on a fresh outbox; the best of each side counts, and each round's ratio is printed
    (the machine is shared: a round is measured while the other side is idle).
    ``traced``: the relay makes its publish spans (see :func:`_settings`)."""
    tag = uuid.uuid4().hex[:8]
    prefix = f"bench{tag}."
    db = await new_service_db(infra, f"bench_{tag}")
    definition = ServiceDefinition(name="bench")
    s = _settings(db, infra, prefix, traced=traced)
    provider = tracing.install(s, name="bench", version="0")
    await run_migrations(definition, s)
    pool = await create_pool(s.dsn, s.db_schema, max_size=4)
    producer = make_producer(infra.kafka)
    try:
        console.print(f"relay: {n:,} TerritoryLabelled events per round, {rounds} rounds")
        events = [territory_labelled(i) for i in range(n)]

        async def fill() -> None:
            for start in range(0, n, 5000):
                async with unit_of_work(pool, s.db_schema) as uow:
                    for ev in events[start:start + 5000]:
                        uow.emit(ev)

        raw_topic, relay_topic = f"{prefix}raw.{TOPIC}", f"{prefix}{TOPIC}"
        await ensure_topics(infra.kafka, [raw_topic, relay_topic])
        await producer.start()
        write_s = await _timed(fill)
        size = await pool.fetchval("SELECT avg(length(value))::int FROM outbox")
        console.print(f"  outbox writes: {n / write_s:,.0f} events/s; mean event {size} B")
        # The rows as the use cases wrote them, copied back in (new ids) for each round.
        await pool.execute("CREATE TABLE outbox_template AS SELECT * FROM outbox")
        rows = await pool.fetch(
            "SELECT topic, key, value, event_type, event_version, event_id, correlation_id,"
            " traceparent FROM outbox ORDER BY id")
        records = [(bytes(r["value"]), bytes(r["key"]), _headers(r)) for r in rows]

        async def refill() -> None:
            # A fresh outbox each round, as the relay meets it in production.
            await pool.execute("TRUNCATE outbox, outbox_published")
            await pool.execute(
                """INSERT INTO outbox (event_id, topic, key, value, event_type, event_version,
                                       correlation_id, traceparent, created_at)
                   SELECT event_id, topic, key, value, event_type, event_version,
                          correlation_id, traceparent, created_at
                   FROM outbox_template ORDER BY id""")

        async def raw() -> None:
            send = producer.send
            futures = [await send(raw_topic, v, key=k, headers=h) for v, k, h in records]
            await asyncio.gather(*futures)

        relay = OutboxRelay(s.dsn, s.db_schema,
                            AiokafkaPublisher(producer, factory=lambda: make_producer(s.kafka)),
                            topic_prefix=prefix, batch_size=5000,
                            tracer=provider.get_tracer("bench") if provider else None)

        async def relay_all() -> None:
            async with pool.acquire() as conn, pool.acquire() as mark_conn:
                assert await relay.publish_pending(conn, mark_conn) == n

        raw_times, relay_times = [], []
        for round_ in range(rounds):
            await refill()
            raw_times.append(await _timed(raw))
            relay_times.append(await _timed(relay_all))
            console.print(f"  round {round_ + 1}: raw {n / raw_times[-1]:,.0f} ev/s, "
                          f"relay {n / relay_times[-1]:,.0f} ev/s, "
                          f"ratio {raw_times[-1] / relay_times[-1]:.2f}")
        return [Result(f"relay: outbox → Kafka{' (traced)' if traced else ''}", n,
                       n / min(relay_times),
                       "raw aiokafka producer", n / min(raw_times), "≥ 0.90×")]
    finally:
        await producer.stop()
        await pool.close()
        await drop_db(db)
        await delete_topics(infra.kafka, prefix)
        if provider is not None:
            provider.shutdown()


async def _count(db: ServiceDb, table: str) -> int:
    conn = await asyncpg.connect(db.dsn, server_settings={"search_path": db.schema})
    try:
        return int(await conn.fetchval(f"SELECT count(*) FROM {table}"))
    finally:
        await conn.close()


bench_consumer = EventConsumer("bench-alliances")


@bench_consumer.handles_many(TerritoryLabelled)
async def open_alliances(events: list[Envelope[TerritoryLabelled]], ctx: BatchContext) -> None:
    """One state row per event, the run's rows in one statement."""
    await ctx.conn.execute(
        """INSERT INTO alliances (cite_id, name, lead_college)
           SELECT * FROM unnest($1::text[], $2::text[], $3::text[])""",
        [e.data.cite_id for e in events], [e.data.name for e in events],
        [e.data.lead_college_uai for e in events],
    )


one_by_one = EventConsumer("bench-alliances-1by1")


@one_by_one.handles(TerritoryLabelled)
async def open_alliance(event: TerritoryLabelled, ctx: HandlerContext) -> None:
    """The same row, one statement per event (a handler of ``handles``)."""
    await ctx.conn.execute(
        "INSERT INTO alliances_one_by_one (cite_id, name, lead_college) VALUES ($1, $2, $3)",
        event.cite_id, event.name, event.lead_college_uai,
    )


async def consumer_bench(infra: Infra, n: int, console: Console, *, traced: bool = False
                         ) -> list[Result]:
    """The runtime's consumer (FastStream subscriber, runner: decode and validate, inbox,
    positions, one state row per event, commit, offsets) with a set-based handler, then
    with a handler of one event at a time, against the raw aiokafka consumer, all three on
    the same pre-filled topic (each its own consumer group)."""
    tag = uuid.uuid4().hex[:8]
    prefix = f"bench{tag}."
    topic = f"{prefix}{TOPIC}"
    db = await new_service_db(infra, f"bench_{tag}")
    definitions = [ServiceDefinition(name="bench", migrations_dir=Path(__file__).parent / "sql",
                                     consumer=c) for c in (bench_consumer, one_by_one)]
    s = _settings(db, infra, prefix, traced=traced, relay_enabled=False,
                  consumer_batch_size=1000)
    traced_ = " (traced)" if traced else ""
    await run_migrations(definitions[0], s)
    try:
        console.print(f"consumer: pre-filling {topic} with {n:,} events…")
        await prefill_labels(infra.kafka, topic, n)

        async def ours(definition: ServiceDefinition, table: str) -> float:
            seconds = await consumed_in(definition, s, n)
            assert await _count(db, table) == n
            return seconds

        raw_s = await raw_consume(infra.kafka, topic, n)
        many_s = await ours(definitions[0], "alliances")
        one_s = await ours(definitions[1], "alliances_one_by_one")
        console.print(f"  raw {n / raw_s:,.0f} ev/s, runtime consumer {n / many_s:,.0f} ev/s "
                      f"(set-based handler), {n / one_s:,.0f} ev/s (one event at a time)")
        return [Result(f"consumer: inbox + 1 write/event (handles_many){traced_}", n,
                       n / many_s, "raw aiokafka consumer", n / raw_s,
                       "≥ 15,000 ev/s, ≥ 0.25×"),
                Result(f"consumer: inbox + 1 write/event (handles, one at a time){traced_}", n,
                       n / one_s, "raw aiokafka consumer", n / raw_s, "(report)")]
    finally:
        await drop_db(db)
        await delete_topics(infra.kafka, prefix)
