"""Relay vs raw aiokafka producer; runtime consumer vs raw aiokafka consumer."""

from __future__ import annotations

import asyncio
import json
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from statistics import median
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


@dataclass(frozen=True)
class Timing:
    """One side of a round: its wall-clock seconds and the CPU seconds this process spent
    in the same window (every thread: the event loop, the drivers' protocol code)."""

    seconds: float
    cpu_s: float


@dataclass(frozen=True)
class Round:
    ours: Timing
    baseline: Timing

    @property
    def ratio(self) -> float:
        """ours' rate / the baseline's, in this round."""
        return self.baseline.seconds / self.ours.seconds


@dataclass
class Result:
    """A benchmark's row. With ``rounds`` (alternated, see :func:`alternated`) its rates
    are the medians of the rounds' and its ratio the median of the per-round ratios —
    the machine is shared, so a ratio of one side's best round to the other's is not a
    stable figure; without, one round."""

    name: str
    events: int
    rate: float
    baseline_name: str
    baseline_rate: float
    target: str
    rounds: list[Round] = field(default_factory=list)

    @classmethod
    def of_rounds(cls, name: str, events: int, baseline_name: str, target: str,
                  rounds: list[Round]) -> Result:
        return cls(name, events, events / median(r.ours.seconds for r in rounds),
                   baseline_name, events / median(r.baseline.seconds for r in rounds),
                   target, rounds)

    @property
    def ratio(self) -> float:
        if self.rounds:
            return median(r.ratio for r in self.rounds)
        return self.rate / self.baseline_rate

    @property
    def spread(self) -> tuple[float, float] | None:
        """The lowest and highest per-round ratio."""
        if len(self.rounds) < 2:
            return None
        ratios = [r.ratio for r in self.rounds]
        return min(ratios), max(ratios)

    def cpu_us_per_event(self) -> tuple[float, float] | None:
        """(ours, the baseline's) median CPU microseconds per event, in this process."""
        if not self.rounds:
            return None
        return (median(r.ours.cpu_s for r in self.rounds) / self.events * 1e6,
                median(r.baseline.cpu_s for r in self.rounds) / self.events * 1e6)


async def alternated(rounds: int, baseline: Callable[[int], Awaitable[Timing]],
                     ours: Callable[[int], Awaitable[Timing]], console: Console,
                     events: int) -> list[Round]:
    """``rounds`` rounds of both sides, one side idle while the other is measured, the
    order swapped every round (so neither always runs on a warmer cache or a quieter
    machine). Each side is called with the round's number and prepares its own fresh
    state before its window starts; each round's rates and ratio are printed."""
    done: list[Round] = []
    for i in range(rounds):
        if i % 2 == 0:
            b = await baseline(i)
            o = await ours(i)
        else:
            o = await ours(i)
            b = await baseline(i)
        done.append(one := Round(o, b))
        console.print(f"  round {i + 1}: baseline {events / b.seconds:,.0f} ev/s, "
                      f"ours {events / o.seconds:,.0f} ev/s, ratio {one.ratio:.3f}; "
                      f"CPU µs/event ours {o.cpu_s / events * 1e6:,.0f}, "
                      f"baseline {b.cpu_s / events * 1e6:,.0f}")
    return done


async def _timed(fn: Callable[[], Awaitable[Any]]) -> float:
    return (await measured(fn)).seconds


async def measured(fn: Callable[[], Awaitable[Any]]) -> Timing:
    """The wall-clock and CPU time of awaiting ``fn()``."""
    started, cpu = time.perf_counter(), time.process_time()
    await fn()
    return Timing(time.perf_counter() - started, time.process_time() - cpu)


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
    """:func:`raw_consumed`'s seconds."""
    return (await raw_consumed(access, topic, n, max_records=max_records,
                               decode=decode)).seconds


async def raw_consumed(access: KafkaAccess, topic: str | Sequence[str], n: int, *,
                       max_records: int = 1000, decode: bool = False) -> Timing:
    """The baseline consumer: a raw aiokafka group member reading ``n`` records of
    ``topic`` (one or several), ``max_records`` a batch, committing after each batch,
    doing nothing else (``decode``: ``json.loads`` of each value, as much decoding as a
    reader needs to see an event's fields). Times from its first records in hand to the
    commit of the last ones (group join and stop excluded, as they are for ours:
    :class:`ConsumedWindow`)."""
    topics = [topic] if isinstance(topic, str) else list(topic)
    consumer = AIOKafkaConsumer(*topics, **access.client_kwargs(),
                                group_id=f"raw-{uuid.uuid4().hex[:6]}",
                                auto_offset_reset="earliest", enable_auto_commit=False)
    await consumer.start()
    try:
        seen, started, cpu = 0, 0.0, 0.0
        while seen < n:
            batch = await consumer.getmany(timeout_ms=500, max_records=max_records)
            if batch and not seen:
                started, cpu = time.perf_counter(), time.process_time()
            for records in batch.values():
                if decode:
                    for r in records:
                        json.loads(r.value)
                seen += len(records)
            if batch:
                await consumer.commit()
        return Timing(time.perf_counter() - started, time.process_time() - cpu)
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
        self.cpu_started = self.cpu_finished = 0.0
        self.done = asyncio.Event()
        self._original: Any = None

    @property
    def seconds(self) -> float:
        return self.finished - self.started

    @property
    def timing(self) -> Timing:
        return Timing(self.seconds, self.cpu_finished - self.cpu_started)

    def __enter__(self) -> ConsumedWindow:
        self._original = original = ConsumerRunner.process_batch
        window = self

        async def process_batch(runner: ConsumerRunner, records: Sequence[RawRecord]) -> None:
            if not window.started:
                window.started, window.cpu_started = time.perf_counter(), time.process_time()
            await original(runner, records)
            window.records += len(records)
            if window.records >= window.n and not window.done.is_set():
                window.finished, window.cpu_finished = time.perf_counter(), time.process_time()
                window.done.set()

        ConsumerRunner.process_batch = process_batch  # type: ignore[method-assign,assignment]
        return self

    def __exit__(self, *exc: object) -> None:
        ConsumerRunner.process_batch = self._original  # type: ignore[method-assign,assignment]


async def consumed_in(definition: ServiceDefinition, settings: ServiceSettings,
                      n: int) -> float:
    """:func:`consumed`'s seconds."""
    return (await consumed(definition, settings, n)).seconds


async def consumed(definition: ServiceDefinition, settings: ServiceSettings,
                   n: int) -> Timing:
    """Run ``definition`` (its consumer on the backlog of ``n`` records) and stop it once
    they are processed: the time and CPU of its :class:`ConsumedWindow`."""
    with ConsumedWindow(n) as window:
        runtime = Runtime(definition, settings)
        await runtime.start()
        try:
            await window.done.wait()
        finally:
            await runtime.stop()
    return window.timing


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


async def relay_bench(infra: Infra, n: int, console: Console, *, rounds: int = 5,
                      traced: bool = False) -> list[Result]:
    """The relay (fetching and marking on two sessions, as it runs in a service) against a
    raw producer sending the same records with the same settings, in alternated rounds
    (:func:`alternated`), the relay's each on a fresh outbox.
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

        async def ours(_: int) -> Timing:
            await refill()
            return await measured(relay_all)

        rounds_ = await alternated(rounds, lambda _: measured(raw), ours, console, n)
        return [Result.of_rounds(f"relay: outbox → Kafka{' (traced)' if traced else ''}", n,
                                 "raw aiokafka producer", "≥ 0.90× (median)", rounds_)]
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


async def consumer_bench(infra: Infra, n: int, console: Console, *, traced: bool = False,
                         rounds: int = 3) -> list[Result]:
    """The runtime's consumer (FastStream subscriber, runner: decode and validate, inbox,
    positions, one state row per event, commit, offsets) with a set-based handler against
    the raw aiokafka consumer in alternated rounds, each on a backlog of its own
    (:class:`Backlogs`); then, once, with a handler of one event at a time."""
    tag = uuid.uuid4().hex[:8]
    backlogs = Backlogs(infra, f"bench{tag}", TOPIC, n, console)
    definitions = [ServiceDefinition(name="bench", migrations_dir=Path(__file__).parent / "sql",
                                     consumer=c) for c in (bench_consumer, one_by_one)]
    traced_ = " (traced)" if traced else ""

    async def ours(i: int, definition: ServiceDefinition = definitions[0],
                   table: str = "alliances") -> Timing:
        db = await new_service_db(infra, f"bench_{tag}_{i}_{table}")
        try:
            s = _settings(db, infra, await backlogs.prefix(i), traced=traced,
                          relay_enabled=False, consumer_batch_size=1000)
            await run_migrations(definition, s)
            timing = await consumed(definition, s, n)
            assert await _count(db, table) == n
            return timing
        finally:
            await drop_db(db)

    try:
        many = await alternated(rounds, backlogs.raw, ours, console, n)
        one = await ours(0, definitions[1], "alliances_one_by_one")
        console.print(f"  one event at a time: {n / one.seconds:,.0f} ev/s")
        return [Result.of_rounds(f"consumer: inbox + 1 write/event (handles_many){traced_}",
                                 n, "raw aiokafka consumer", "≥ 15,000 ev/s, ≥ 0.30×", many),
                Result.of_rounds(
                    f"consumer: inbox + 1 write/event (handles, one at a time){traced_}", n,
                    "raw aiokafka consumer", "(report)",
                    [Round(one, many[0].baseline)])]
    finally:
        await backlogs.close()


class Backlogs:
    """A fresh backlog per round: ``topic`` under a prefix of the round's own, pre-filled
    with ``n`` labels when the round first asks for it (untimed), so that a consumer
    group named under that prefix starts from the first record; all deleted by
    :meth:`close`."""

    def __init__(self, infra: Infra, stem: str, topic: str, n: int, console: Console):
        self.infra, self.stem, self.topic, self.n, self.console = infra, stem, topic, n, console
        self.filled: set[int] = set()

    async def prefix(self, i: int) -> str:
        prefix = f"{self.stem}r{i}."
        if i not in self.filled:
            self.console.print(f"  round {i + 1}: pre-filling {prefix}{self.topic} with "
                               f"{self.n:,} events…")
            await prefill_labels(self.infra.kafka, f"{prefix}{self.topic}", self.n)
            self.filled.add(i)
        return prefix

    async def raw(self, i: int) -> Timing:
        """The baseline of round ``i``: the raw consumer on that round's backlog."""
        return await raw_consumed(self.infra.kafka, f"{await self.prefix(i)}{self.topic}",
                                  self.n)

    async def close(self) -> None:
        await delete_topics(self.infra.kafka, self.stem)
