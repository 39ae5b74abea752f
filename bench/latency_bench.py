"""Open-loop latency: commands at fixed rates; how long until their event is on Kafka.

Open loop: command ``i`` of a run at ``rate`` commands/s is due at ``t0 + i / rate``,
whatever became of the earlier ones, on as many keep-alive connections as it takes. A
closed loop (N clients, each waiting for its answer before the next) sends less as the
service slows down and so hides the queueing that latency is about. Every latency counts
from when the command was *due*, not from when a client got round to sending it.

- **labelling**: ``POST /candidatures/{id}/decision`` (label) to ``python -m labelling``
  in its own process (its HTTP, relay and producer in one event loop, as deployed), at
  100, 200 and 400 commands/s; a consumer reads each decision's ``TerritoryLabelled``.
  Reported: command → event read from Kafka, the HTTP answer, the event read after the
  answer (≈ the relay's delay after the commit, plus the consumer's fetch), and command →
  the downstream effect committed: the cité's alliance in partners (``python -m partners``
  beside it on the same topics; its ``alliances`` table read every 5 ms from outside).
- **relay delay after commit**: in one process, the runtime (pool, relay, producer) and
  units of work each committing one ``TerritoryLabelled`` at the same rates; from the
  commit's return to the broker's acknowledgement (the relay's publisher, timed) and to
  the event read by a consumer.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
import uuid
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import asyncpg
from labelling.examples import territory_labelled
from rich.console import Console
from rich.table import Table

from cites_contracts.topics import LABELLING_LABELS
from cites_runtime.app import Runtime, ServiceDefinition, run_migrations
from cites_runtime.kafka import AiokafkaPublisher, OutboundRecord, make_producer, provision
from cites_runtime.testing import delete_topics, eventually
from cites_runtime.testing.http import free_port
from cites_runtime.testing.infra import Infra
from cites_runtime.testing.plugin import ServiceDb, drop_db, new_service_db

from .access import kafka_env
from .labelling_bench import (
    DECISION,
    NATIONAL,
    PIDS,
    WARM_UP,
    _Connection,
    _pct,
    _prepare,
    _read_labels,
    _server,
    labelling_env,
)
from .runtime_bench import Result, _settings

__all__ = ["latency_bench"]

RATES = (100, 200, 400)
MAX_CONNECTIONS = 256
SEQUENTIAL = 200
_TICK = os.sysconf("SC_CLK_TCK")


def _cpu(pid: int) -> float:
    """CPU seconds (user + system) process ``pid`` has used."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICK


@dataclass
class Run:
    rate: int
    due: dict[str, float] = field(default_factory=dict)
    answered: dict[str, float] = field(default_factory=dict)
    cite_of: dict[str, str] = field(default_factory=dict)
    late: float = 0.0
    """Worst lag of a command's sending behind when it was due (the client's own)."""


def _quantiles(values: Sequence[float]) -> str:
    return (f"p50 {_pct(list(values), 50):.1f} ms, p99 {_pct(list(values), 99):.1f} ms, "
            f"p99.9 {_pct999(values):.1f} ms")


def _pct999(values: Sequence[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(0.999 * len(ordered)))] * 1000


async def _open_loop(port: int, ids: Sequence[str], rate: int, run: Run) -> None:
    """POST the decision for each id, id ``i`` due at ``t0 + i / rate``."""
    idle: list[_Connection] = []
    opened: list[_Connection] = []
    slots = asyncio.Semaphore(MAX_CONNECTIONS)  # beyond: a command waits (counted late)

    async def one(cid: str, due: float) -> None:
        async with slots:
            if idle:
                conn = idle.pop()
            else:
                conn = await _Connection(port, NATIONAL).__aenter__()
                opened.append(conn)
            run.late = max(run.late, time.perf_counter() - due)
            status, answer = await conn.request("POST", f"/candidatures/{cid}/decision",
                                                DECISION)
            run.answered[cid] = time.perf_counter()
            idle.append(conn)
        if status != 200:
            raise RuntimeError(f"{status}: {answer}")
        run.cite_of[cid] = answer["cite_id"]

    tasks = []
    t0 = time.perf_counter() + 0.05
    try:
        for i, cid in enumerate(ids):
            due = t0 + i / rate
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
            run.due[cid] = due
            tasks.append(asyncio.ensure_future(one(cid, due)))
        await asyncio.gather(*tasks)
    finally:
        for t in tasks:
            t.cancel()
        for conn in opened:
            await conn.__aexit__(None, None, None)


Figures = list[tuple[str, int, list[float], str]]
"""(what, how many, latencies in seconds, target)"""


async def _labelling(infra: Infra, seconds: float, console: Console) -> Figures:
    tag = uuid.uuid4().hex[:8]
    prefix = f"bench{tag}."
    db = await new_service_db(infra, f"bench_{tag}")
    partners_db = await new_service_db(infra, f"bench_{tag}_partners")
    env = labelling_env(infra, db, prefix)
    results: Figures = []
    try:
        from labelling.app import definition
        from labelling.settings import LabellingSettings
        from partners.app import definition as partners_definition
        from partners.settings import PartnersSettings

        await run_migrations(definition, LabellingSettings(database_url=db.dsn,
                                                           db_schema=db.schema))
        await run_migrations(partners_definition, PartnersSettings(
            database_url=partners_db.dsn, db_schema=partners_db.schema))
        port, partners_port = free_port(), free_port()
        partners_env = {
            "PARTNERS_DATABASE_URL": partners_db.dsn, "PARTNERS_DB_SCHEMA": partners_db.schema,
            "PARTNERS_TOPIC_PREFIX": prefix, "PARTNERS_AUTH_MODE": "static",
            "PARTNERS_TOKENS": env["LABELLING_TOKENS"],
            "PARTNERS_LOG_LEVEL": "WARNING", "PARTNERS_HTTP_PORT": str(partners_port),
            **kafka_env("partners", infra)}
        async with _server(["-m", "labelling"], {**env, "LABELLING_HTTP_PORT": str(port)},
                           port, "labelling"), \
                _server(["-m", "partners"], partners_env, partners_port, "partners"):
            counts = [int(rate * seconds) for rate in RATES]
            console.print(f"latency: preparing {sum(counts) + WARM_UP + SEQUENTIAL:,} "
                          "candidatures under review…")
            ids = await _prepare(port, sum(counts) + WARM_UP + SEQUENTIAL, 16)
            await _open_loop(port, ids[:WARM_UP], 50, Run(50))
            # What one decision costs the service (its CPU time, from /proc), one at a time:
            # the rate one process can sustain at all.
            async with _Connection(port, NATIONAL) as conn:
                cpu, started = _cpu(PIDS["labelling"]), time.perf_counter()
                for cid in ids[WARM_UP:WARM_UP + SEQUENTIAL]:
                    await conn.request("POST", f"/candidatures/{cid}/decision", DECISION)
                cpu = _cpu(PIDS["labelling"]) - cpu
                wall = time.perf_counter() - started
            console.print(f"  labelling, {SEQUENTIAL} decisions one at a time: the service's "
                          f"CPU {cpu / SEQUENTIAL * 1000:.2f} ms a decision (wall "
                          f"{wall / SEQUENTIAL * 1000:.2f} ms): at most "
                          f"{SEQUENTIAL / cpu:,.0f} decisions/s on one core", soft_wrap=True)
            start = WARM_UP + SEQUENTIAL
            for rate, count in zip(RATES, counts, strict=True):
                run = Run(rate)
                arrived: dict[str, float] = {}
                expected: set[str] = set()
                sent_all = asyncio.Event()
                reader = asyncio.create_task(_read_labels(
                    infra.kafka, f"{prefix}labelling.labels", expected, sent_all,
                    arrived, 300))
                opened: dict[str, float] = {}
                watcher = asyncio.create_task(_alliances_committed(
                    partners_db, expected, sent_all, opened, 300))
                await asyncio.sleep(1.0)  # the reader at the end of the topic
                await _open_loop(port, ids[start:start + count], rate, run)
                start += count
                expected.update(run.cite_of.values())
                sent_all.set()
                await reader
                await watcher
                to_kafka = [arrived[run.cite_of[c]] - run.due[c] for c in run.due]
                to_alliance = [opened[run.cite_of[c]] - run.due[c] for c in run.due]
                http = [run.answered[c] - run.due[c] for c in run.due]
                after = [arrived[run.cite_of[c]] - run.answered[c] for c in run.due]
                console.print(
                    f"  labelling at {rate} commands/s open loop ({count:,} commands; the "
                    f"client sent at most {run.late * 1000:.1f} ms late): command → event on "
                    f"Kafka {_quantiles(to_kafka)}; HTTP answer {_quantiles(http)}; event "
                    f"after the answer {_quantiles(after)}; command → alliance committed in "
                    f"partners {_quantiles(to_alliance)}")
                results.append((f"labelling at {rate}/s: command → event on Kafka", count,
                                to_kafka, "p50 < 15, p99 < 50 at 200/s"))
                results.append((f"labelling at {rate}/s: command → alliance in partners",
                                count, to_alliance, ""))
                results.append((f"labelling at {rate}/s: event after the HTTP answer", count,
                                after, ""))
                await asyncio.sleep(1.0)
    finally:
        await drop_db(db)
        await drop_db(partners_db)
        await delete_topics(infra.kafka, prefix)
    return results


async def _alliances_committed(db: ServiceDb, expected: set[str], sent_all: asyncio.Event,
                               seen: dict[str, float], timeout: float) -> None:
    """When each cité's alliance became visible in partners' schema, i.e. committed: its
    ``alliances`` table read every 5 ms (a read on its own connection, outside partners'
    process), until every cité of ``expected`` is seen once ``sent_all`` is set."""
    conn = await asyncpg.connect(db.dsn, server_settings={"search_path": db.schema})
    try:
        deadline = time.monotonic() + timeout
        while not (sent_all.is_set() and expected <= seen.keys()):
            if time.monotonic() > deadline:
                raise RuntimeError(f"{len(expected - seen.keys())} alliances never opened")
            rows = await conn.fetch("SELECT cite_id FROM alliances "
                                    "WHERE NOT (cite_id = ANY($1::text[]))", list(seen))
            now = time.perf_counter()
            for row in rows:
                seen[row["cite_id"]] = now
            await asyncio.sleep(0.005)
    finally:
        await conn.close()


class _TimedPublisher(AiokafkaPublisher):
    """The relay's publisher, noting when the broker acknowledged each record (by key)."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.acked: dict[bytes, float] = {}

    async def enqueue(self, records: Sequence[OutboundRecord]) -> Awaitable[None]:
        acked = await super().enqueue(records)

        async def timed() -> None:
            await acked
            now = time.perf_counter()
            for r in records:
                self.acked.setdefault(r.key, now)

        return timed()


async def _all_in(keys: dict[bytes, float], timed: dict[bytes, float]) -> bool:
    return all(k in timed for k in keys)


async def _relay(infra: Infra, seconds: float, console: Console) -> Figures:
    tag = uuid.uuid4().hex[:8]
    prefix = f"bench{tag}."
    db = await new_service_db(infra, f"bench_{tag}")
    definition = ServiceDefinition(name="bench", produces=[LABELLING_LABELS])
    s = _settings(db, infra, prefix)
    await run_migrations(definition, s)
    await provision(infra.kafka, [LABELLING_LABELS], prefix=prefix)
    publisher = _TimedPublisher(make_producer(infra.kafka),
                                factory=lambda: make_producer(infra.kafka))
    await publisher.producer.start()
    runtime = Runtime(definition, s)
    await runtime.start(publisher=publisher)
    results: Figures = []
    try:
        n = 0
        for rate in (50, *RATES):  # 50/s: the warm-up
            count = int(rate * seconds)
            events = [territory_labelled(n + i) for i in range(count)]
            n += count
            committed: dict[bytes, float] = {}
            arrived: dict[str, float] = {}
            expected = {str(e.cite_id) for e in events}
            sent_all = asyncio.Event()
            reader = asyncio.create_task(_read_labels(
                infra.kafka, f"{prefix}labelling.labels", expected, sent_all,
                arrived, 300))
            await asyncio.sleep(1.0)

            async def commit(event: Any, committed: dict[bytes, float]) -> None:
                async with runtime.unit_of_work() as uow:
                    uow.emit(event)
                committed[str(event.cite_id).encode()] = time.perf_counter()

            tasks = []
            t0 = time.perf_counter()
            for i, event in enumerate(events):
                await asyncio.sleep(max(0.0, t0 + i / rate - time.perf_counter()))
                tasks.append(asyncio.ensure_future(commit(event, committed)))
            await asyncio.gather(*tasks)
            sent_all.set()
            await reader
            # The reader may see a record before the producer's future for it has run
            # its callback: wait for every ack to be timed (bounded).
            await eventually(partial(_all_in, committed, publisher.acked), timeout=30,
                             what="every record's ack timed")
            if rate == 50:
                continue
            to_ack = [publisher.acked[k] - t for k, t in committed.items()]
            to_read = [arrived[k.decode()] - t for k, t in committed.items()]
            console.print(f"  relay at {rate} commits/s: commit → broker ack "
                          f"{_quantiles(to_ack)}; commit → event read {_quantiles(to_read)}")
            results.append((f"relay at {rate}/s: commit → broker ack", count, to_ack,
                            "p50 < 3 at 200/s"))
            results.append((f"relay at {rate}/s: commit → event read", count, to_read, ""))
    finally:
        with contextlib.suppress(Exception):
            await runtime.stop()
        await drop_db(db)
        await delete_topics(infra.kafka, prefix)
    return results


async def latency_bench(infra: Infra, console: Console, *, seconds: float = 6.0
                        ) -> list[Result]:
    """Both measures, ``seconds`` at each rate (labelling prepares 700 × seconds + 450
    candidatures, at most ~5,000: the bench's territories are distinct up to there).
    Prints its own table (latencies, not rates): returns no rate results."""
    console.print(f"latency: open loop at {', '.join(map(str, RATES))} per second, "
                  f"{seconds:g} s each")
    figures = [*await _relay(infra, seconds, console),
               *await _labelling(infra, seconds, console)]
    table = Table(title="Latency, open loop (ms, from when each command was due or "
                        "committed)")
    for col in ("measure", "n", "p50", "p99", "p99.9", "max", "target"):
        table.add_column(col)
    for what, n, values, target in figures:
        table.add_row(what, f"{n:,}", f"{_pct(values, 50):.1f}", f"{_pct(values, 99):.1f}",
                      f"{_pct999(values):.1f}", f"{max(values) * 1000:.1f}", target)
    console.print(table)
    return []
