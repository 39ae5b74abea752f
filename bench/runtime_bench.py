"""Relay vs raw aiokafka producer; runtime consumer vs raw aiokafka consumer."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer
from labelling.examples import territory_labelled
from rich.console import Console

from cites_contracts import Envelope, encode
from cites_contracts.events.labelling import TerritoryLabelled
from cites_runtime.app import Runtime, ServiceDefinition, run_migrations
from cites_runtime.consumer import EventConsumer, HandlerContext
from cites_runtime.db import create_pool
from cites_runtime.kafka import AiokafkaPublisher, ensure_topics, make_producer
from cites_runtime.relay import OutboxRelay, _headers
from cites_runtime.settings import ServiceSettings
from cites_runtime.testing import delete_topics
from cites_runtime.testing.infra import Infra
from cites_runtime.testing.plugin import ServiceDb, drop_db, new_service_db
from cites_runtime.uow import unit_of_work

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


def _settings(db: ServiceDb, infra: Infra, prefix: str, **kw: Any) -> ServiceSettings:
    return ServiceSettings(service_name="bench", database_url=db.dsn, db_schema=db.schema,
                           kafka_bootstrap_servers=infra.kafka_bootstrap, topic_prefix=prefix,
                           log_json=False, log_level="WARNING", **kw)


async def prefill_labels(bootstrap: str, topic: str, n: int) -> None:
    """Publish ``n`` realistic TerritoryLabelled records on ``topic`` (setup, not timed)."""
    await ensure_topics(bootstrap, [topic])
    producer = make_producer(bootstrap)
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


async def raw_consume(bootstrap: str, topic: str, n: int) -> None:
    """The baseline consumer: a raw aiokafka group member reading ``n`` records,
    committing after each batch, doing nothing else."""
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap,
                                group_id=f"raw-{uuid.uuid4().hex[:6]}",
                                auto_offset_reset="earliest", enable_auto_commit=False)
    await consumer.start()
    try:
        seen = 0
        while seen < n:
            batch = await consumer.getmany(timeout_ms=500, max_records=1000)
            seen += sum(len(v) for v in batch.values())
            if batch:
                await consumer.commit()
    finally:
        await consumer.stop()


async def relay_bench(infra: Infra, n: int, console: Console, *, rounds: int = 3
                      ) -> list[Result]:
    """The relay (fetching and marking on two sessions, as it runs in a service) against a
    raw producer sending the same records with the same settings. Rounds alternate, each
    on a fresh outbox; the best of each side counts, and each round's ratio is printed
    (the machine is shared: a round is measured while the other side is idle)."""
    tag = uuid.uuid4().hex[:8]
    prefix = f"bench{tag}."
    db = await new_service_db(infra, f"bench_{tag}")
    definition = ServiceDefinition(name="bench")
    s = _settings(db, infra, prefix)
    await run_migrations(definition, s)
    pool = await create_pool(s.dsn, s.db_schema, max_size=4)
    producer = make_producer(infra.kafka_bootstrap)
    try:
        console.print(f"relay: {n:,} TerritoryLabelled events per round, {rounds} rounds")
        events = [territory_labelled(i) for i in range(n)]

        async def fill() -> None:
            for start in range(0, n, 5000):
                async with unit_of_work(pool, s.db_schema) as uow:
                    for ev in events[start:start + 5000]:
                        uow.emit(ev)

        raw_topic, relay_topic = f"{prefix}raw.{TOPIC}", f"{prefix}{TOPIC}"
        await ensure_topics(infra.kafka_bootstrap, [raw_topic, relay_topic])
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

        relay = OutboxRelay(s.dsn, s.db_schema, AiokafkaPublisher(producer),
                            topic_prefix=prefix, batch_size=5000)

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
        return [Result("relay: outbox → Kafka", n, n / min(relay_times),
                       "raw aiokafka producer", n / min(raw_times), "≥ 0.90×")]
    finally:
        await producer.stop()
        await pool.close()
        await drop_db(db)
        await delete_topics(infra.kafka_bootstrap, prefix)


bench_consumer = EventConsumer("bench-alliances")


@bench_consumer.handles(TerritoryLabelled)
async def open_alliance(event: TerritoryLabelled, ctx: HandlerContext) -> None:
    await ctx.conn.execute(
        "INSERT INTO alliances (cite_id, name, lead_college) VALUES ($1, $2, $3)",
        str(event.cite_id), event.name, event.lead_college_uai,
    )


async def consumer_bench(infra: Infra, n: int, console: Console) -> list[Result]:
    tag = uuid.uuid4().hex[:8]
    prefix = f"bench{tag}."
    topic = f"{prefix}{TOPIC}"
    db = await new_service_db(infra, f"bench_{tag}")
    definition = ServiceDefinition(name="bench", migrations_dir=Path(__file__).parent / "sql",
                                   consumer=bench_consumer)
    s = _settings(db, infra, prefix, relay_enabled=False, consumer_batch_size=1000)
    await run_migrations(definition, s)
    try:
        console.print(f"consumer: pre-filling {topic} with {n:,} events…")
        await prefill_labels(infra.kafka_bootstrap, topic, n)

        async def raw() -> None:
            await raw_consume(infra.kafka_bootstrap, topic, n)

        async def ours() -> None:
            runtime = Runtime(definition, s)
            await runtime.start()
            try:
                while await runtime.pool.fetchval("SELECT count(*) FROM alliances") < n:
                    await asyncio.sleep(0.05)
            finally:
                await runtime.stop()

        raw_s = await _timed(raw)
        ours_s = await _timed(ours)
        console.print(f"  raw {n / raw_s:,.0f} ev/s, runtime consumer {n / ours_s:,.0f} ev/s")
        return [Result("consumer: inbox + 1 write/event", n, n / ours_s,
                       "raw aiokafka consumer", n / raw_s, "≥ 5,000 ev/s")]
    finally:
        await drop_db(db)
        await delete_topics(infra.kafka_bootstrap, prefix)
