"""What the relay costs per event without Kafka (``python -m bench --only relay-cost``): a
publisher that acknowledges at once, 30,000 TerritoryLabelled rows a round; wall time,
this process's CPU, and each PostgreSQL session's CPU (the relay's fetching and marking
sessions, read from ``/proc/<backend pid>/stat``: the server runs on this machine).
Modes: two sessions keeping published rows (the default), two sessions keeping none
(``retention=0``), one session for both."""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import Awaitable, Sequence
from datetime import timedelta

from labelling.examples import territory_labelled
from rich.console import Console

from cites_runtime.app import ServiceDefinition, run_migrations
from cites_runtime.db import create_pool
from cites_runtime.kafka import OutboundRecord
from cites_runtime.relay import OutboxRelay
from cites_runtime.testing.infra import Infra
from cites_runtime.testing.plugin import drop_db, new_service_db
from cites_runtime.uow import unit_of_work

from .runtime_bench import Result, _settings

__all__ = ["relay_cost"]

_TICK = os.sysconf("SC_CLK_TCK")


def _cpu(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICK


class _AcksAtOnce:
    async def enqueue(self, records: Sequence[OutboundRecord]) -> Awaitable[None]:
        return asyncio.sleep(0)

    async def publish_batch(self, records: Sequence[OutboundRecord]) -> None:
        return None

    async def reset(self) -> None:
        return None


async def relay_cost(infra: Infra, console: Console, *, n: int = 30_000, rounds: int = 3
                     ) -> list[Result]:
    tag = uuid.uuid4().hex[:8]
    db = await new_service_db(infra, f"bench_{tag}")
    s = _settings(db, infra, f"bench{tag}.")
    await run_migrations(ServiceDefinition(name="bench"), s)
    pool = await create_pool(s.dsn, s.db_schema, max_size=3)
    try:
        events = [territory_labelled(i) for i in range(n)]
        for start in range(0, n, 5000):
            async with unit_of_work(pool, s.db_schema) as uow:
                for ev in events[start:start + 5000]:
                    uow.emit(ev)
        del events
        await pool.execute("CREATE TABLE outbox_template AS SELECT * FROM outbox")
        console.print(f"relay cost: {n:,} events a round, a publisher acking at once "
                      "(µs per event)")
        for round_ in range(rounds):
            for mode in ("two sessions, kept", "two sessions, none kept", "one session, kept"):
                await pool.execute("TRUNCATE outbox, outbox_published")
                await pool.execute(
                    """INSERT INTO outbox (event_id, topic, key, value, event_type,
                                           event_version, correlation_id, traceparent,
                                           created_at)
                       SELECT event_id, topic, key, value, event_type, event_version,
                              correlation_id, traceparent, created_at
                         FROM outbox_template ORDER BY id""")
                relay = OutboxRelay(s.dsn, s.db_schema, _AcksAtOnce(), batch_size=5000,
                                    retention=timedelta(0) if "none" in mode
                                    else timedelta(days=7))
                async with pool.acquire() as conn, pool.acquire() as mark_conn:
                    fetch_pid = await conn.fetchval("SELECT pg_backend_pid()")
                    mark_pid = await mark_conn.fetchval("SELECT pg_backend_pid()")
                    fetch0, mark0, own0 = _cpu(fetch_pid), _cpu(mark_pid), time.process_time()
                    started = time.perf_counter()
                    done = await relay.publish_pending(
                        conn, None if mode.startswith("one") else mark_conn)
                    wall = time.perf_counter() - started
                    fetch_s, mark_s = _cpu(fetch_pid) - fetch0, _cpu(mark_pid) - mark0
                    own_s = time.process_time() - own0
                if done != n:
                    raise RuntimeError(f"published {done} of {n} (an older transaction open?)")
                console.print(
                    f"  round {round_ + 1}, {mode}: {n / wall:,.0f} ev/s, wall "
                    f"{wall / n * 1e6:.1f}; relay process CPU {own_s / n * 1e6:.1f}; "
                    f"PostgreSQL fetching session {fetch_s / n * 1e6:.1f}, marking session "
                    f"{mark_s / n * 1e6:.1f}", soft_wrap=True)
    finally:
        await pool.close()
        await drop_db(db)
    return []
