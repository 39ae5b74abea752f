"""Where a consumer's time goes, per event: the runner alone (no Kafka), on PostgreSQL.

``ConsumerRunner.process_batch`` is driven with pre-encoded ``TerritoryLabelled`` records
(the benches' payload, ~2 KB; with ``--history``, the replay bench's history of every
kind of label event), in batches as the subscriber hands them over, for one of
three consumers: ``bench`` (the consumer bench's set-based handler), ``bench1`` (its
handler of one event at a time) or ``partners`` (the service's own). It prints per event:
wall time, this process's CPU time, the garbage collections (count and time), and with
``--sql`` the time spent awaiting each statement (the client's view: PostgreSQL's work,
the round trip, and whatever else ran on the loop meanwhile). ``--gc`` chooses the
collector's settings: ``default`` (CPython's), ``service`` (``cites_runtime.tuning``, as a
started service has), ``freeze`` or ``T0,T1,T2`` (thresholds only); ``--loop uvloop``
as a service runs. ``--cprofile FILE`` writes a cProfile of the measured batches; to
sample instead, ``--pause`` waits 3 s before them, time to attach
``py-spy record --pid PID --idle --format raw``.

    python -m bench.consumer_profile partners --events 6000 --gc service --loop uvloop --sql
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import os
import time
import uuid
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg.connection
from labelling.examples import territory_labelled

from cites_contracts import Envelope, encode
from cites_contracts.topics import LABELLING_LABELS
from cites_runtime import tuning
from cites_runtime.app import ServiceDefinition, run_migrations
from cites_runtime.consumer import ConsumerRunner
from cites_runtime.db import create_pool
from cites_runtime.kafka import OutboundRecord
from cites_runtime.settings import ServiceSettings
from cites_runtime.testing.infra import resolve_infra
from cites_runtime.testing.plugin import drop_db, new_service_db

from .access import kafka_settings

__all__ = ["main"]


@dataclass
class Record:
    """A consumed record (fits :class:`~cites_runtime.consumer.RawRecord`)."""

    value: bytes | None
    headers: list[tuple[str, bytes | None]]
    key: bytes | None
    topic: str
    partition: int
    offset: int
    timestamp: int = 0


class NoDeadLetters:
    async def publish_batch(self, records: Sequence[OutboundRecord]) -> None:
        raise AssertionError(f"a benchmark record was dead-lettered: {records[0].headers}")

    async def enqueue(self, records: Sequence[OutboundRecord]) -> Awaitable[None]:
        raise AssertionError("no dead letters expected")

    async def reset(self) -> None:
        return None


def _definition(which: str) -> ServiceDefinition:
    if which == "partners":
        from partners.app import definition

        return definition
    from .runtime_bench import bench_consumer, one_by_one

    return ServiceDefinition(name="bench", migrations_dir=Path(__file__).parent / "sql",
                             consumer=bench_consumer if which == "bench" else one_by_one)


def _set_gc(choice: str) -> None:
    if choice == "service":
        tuning.tune_gc()
    elif choice == "freeze":
        gc.collect()
        gc.freeze()
    elif choice != "default":
        first, second, third = (int(x) for x in choice.split(","))
        gc.set_threshold(first, second, third)


def _time_statements(times: dict[str, list[float]]) -> None:
    """Wrap asyncpg's query methods to add each call's awaited time under its query."""
    for name in ("execute", "fetch", "fetchval", "fetchrow"):
        original = getattr(asyncpg.connection.Connection, name)

        def timed(original: Any = original) -> Any:
            async def call(self: Any, query: str, *args: Any, **kwargs: Any) -> Any:
                started = time.perf_counter()
                try:
                    return await original(self, query, *args, **kwargs)
                finally:
                    key = " ".join(query.split())[:70]
                    times.setdefault(key, []).append(time.perf_counter() - started)
            return call

        setattr(asyncpg.connection.Connection, name, timed())


async def profile(args: argparse.Namespace) -> None:
    infra = resolve_infra()
    definition = _definition(args.consumer)
    assert definition.consumer is not None
    db = await new_service_db(infra, f"profile_{uuid.uuid4().hex[:8]}")
    settings = ServiceSettings(service_name="bench", database_url=db.dsn, db_schema=db.schema,
                               log_json=False, log_level="WARNING", **kafka_settings(infra))
    pool = None
    try:
        await run_migrations(definition, settings)
        pool = await create_pool(settings.dsn, settings.db_schema, max_size=4)
        records = []
        if args.history:  # the replay bench's history of labelling.labels
            from .replay_bench import History

            envelopes = History.generate(args.events + args.batch).events()
        else:
            envelopes = (Envelope.wrap(territory_labelled(i), sequence=1)
                         for i in range(args.events + args.batch))
        for i, envelope in enumerate(envelopes):  # the first batch warms up
            rec = encode(envelope)
            records.append(Record(rec.value, list(rec.headers), rec.key,
                                  LABELLING_LABELS.name, i % 3, i))
        runner = ConsumerRunner(definition.consumer, pool, settings.db_schema, NoDeadLetters())
        _set_gc(args.gc)
        await runner.process_batch(records[:args.batch])
        statements: dict[str, list[float]] = {}
        if args.sql:
            _time_statements(statements)
        if args.pause:
            print(f"pid {os.getpid()}: measuring in 3 s", flush=True)
            await asyncio.sleep(3)
        collecting = [0.0, 0.0]

        def on_gc(phase: str, info: dict[str, Any]) -> None:
            if phase == "start":
                collecting[1] = time.perf_counter()
            else:
                collecting[0] += time.perf_counter() - collecting[1]

        gc.callbacks.append(on_gc)
        before = [s["collections"] for s in gc.get_stats()]
        profiler = cProfile.Profile() if args.cprofile else None
        wall, cpu = time.perf_counter(), time.process_time()
        if profiler:
            profiler.enable()
        for start in range(args.batch, len(records), args.batch):
            await runner.process_batch(records[start:start + args.batch])
        if profiler:
            profiler.disable()
            profiler.dump_stats(args.cprofile)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        gc.callbacks.remove(on_gc)
        collections = [s["collections"] - b for s, b in zip(gc.get_stats(), before, strict=True)]
        n = args.events
        print(f"{args.consumer} (gc {args.gc}, loop {args.loop}, batches of {args.batch}): "
              f"{n:,} events in {wall:.2f} s = {n / wall:,.0f} ev/s; per event "
              f"{wall / n * 1e6:.0f} µs wall, {cpu / n * 1e6:.0f} µs CPU; collections "
              f"(young, middle, full) {collections}, {collecting[0] / n * 1e6:.1f} µs/event")
        for query, times in sorted(statements.items(), key=lambda kv: -sum(kv[1])):
            print(f"  {sum(times) / n * 1e6:7.1f} µs/event  {len(times):4d} calls  {query}")
    finally:
        if pool is not None:
            await pool.close()
        await drop_db(db)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("consumer", choices=["bench", "bench1", "partners"])
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--batch", type=int, default=1_000)
    parser.add_argument("--gc", default="service",
                        help="default | service | freeze | T0,T1,T2 (default: service)")
    parser.add_argument("--loop", choices=["asyncio", "uvloop"], default="uvloop")
    parser.add_argument("--sql", action="store_true", help="time each statement")
    parser.add_argument("--history", action="store_true",
                        help="partners: the replay bench's history (every kind of label "
                             "event) instead of labels only")
    parser.add_argument("--cprofile", metavar="FILE")
    parser.add_argument("--pause", action="store_true", help="3 s for py-spy to attach")
    args = parser.parse_args()
    if args.loop == "uvloop":
        tuning.run(profile(args))
    else:
        asyncio.run(profile(args))


if __name__ == "__main__":
    main()
