"""Funding against raw baselines measured in the same run.

**Labels → money** — ``n`` ``TerritoryLabelled`` events (a 12-school perimeter, ~2 KB
each, all of wave ``2024-rolling`` labelled for 2025–2027) on one topic, a P147 and a P230
envelope open, the clock in 2025: ours is the funding service as it runs (``Runtime``: its
consumer and relay on Kafka), timed from start until every cité has its dotation and its
fonds de la cité and every event they caused (two per label) is acknowledged by Kafka.
Baseline: the raw aiokafka consumer reading the same records (``raw_consume``).

**Commitments under contention** — ``m`` commitments of 10 € sent by 32 concurrent tasks
to 4 allocations (one per cité), each through the use case as a route calls it
(``service.commit_funds`` in a unit of work of the running service, relay on; no HTTP),
on the service's pool (10 connections). Baseline: as many single-statement
``UPDATE … SET balance = balance - x WHERE id = $1 AND balance >= x`` on 4 rows of a plain
table, same tasks, same pool size, same database.

Besides the rates, each prints what it measured of where the time goes: the statements
a run of labels' handler and one commitment send (counted on a connection that notes
them; for a commitment, how many come after it locks its allocation) and the share of
the wall time the process spent on CPU.

Called from ``bench/__main__.py``::

    results += asyncio.run(funding_bench(infra, args.funding_events,
                                         args.funding_commitments, console))
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, cast

import asyncpg
from funding import service
from funding.app import definition
from funding.domain.envelope import EnvelopeTerms
from funding.settings import FundingSettings
from labelling.examples import territory_labelled
from rich.console import Console

from cites_contracts.events.funding import LegalAct
from cites_contracts.topics import LABELLING_LABELS
from cites_contracts.types import BudgetProgramme, LegalActKind
from cites_runtime.actor import Actor, Role
from cites_runtime.app import Runtime, run_migrations
from cites_runtime.db import Conn, create_pool
from cites_runtime.testing import FakeClock, delete_topics
from cites_runtime.testing.infra import Infra
from cites_runtime.testing.plugin import ServiceDb, drop_db, new_service_db
from cites_runtime.uow import UnitOfWork, outbox_channel

from .access import kafka_settings
from .runtime_bench import Result, _timed, prefill_labels, raw_consume, run_alone

__all__ = ["funding_bench"]

OPERATOR = uuid.UUID("00000000-0000-4000-8000-0000000a5501")
TASKS = 32
ALLOCATIONS = 4
COMMITMENT = 10_00
RUN = 100
"""Labels in the run whose statements are counted."""


def _settings(db: ServiceDb, infra: Infra, prefix: str, **kw: Any) -> FundingSettings:
    return FundingSettings(database_url=db.dsn, db_schema=db.schema,
                           topic_prefix=prefix, log_json=False, log_level="WARNING",
                           clock=FakeClock(), yearly_check_interval_s=86_400,
                           **{**kafka_settings(infra), **kw})


async def _open_envelopes(runtime: Runtime[FundingSettings], labels: int) -> None:
    """One envelope per programme for the labels' wave and years, large enough for all."""
    async with runtime.unit_of_work() as uow:
        for programme in BudgetProgramme:
            await service.open_envelope(uow, uuid.uuid4(), EnvelopeTerms(
                name=f"Bench {programme.value}", programme=programme,
                budget_years=(2025, 2026, 2027), wave_ids=("2024-rolling",),
                amount=labels * 700_000_00), Actor(Role.NATIONAL, "bench"))


async def _labels_to_money(infra: Infra, n: int, console: Console) -> Result:
    tag = uuid.uuid4().hex[:8]
    prefix = f"bench{tag}."
    topic = f"{prefix}{LABELLING_LABELS.name}"
    db = await new_service_db(infra, f"bench_funding_{tag}")
    settings = _settings(db, infra, prefix, consumer_batch_size=1000)
    await run_migrations(definition, settings)
    try:
        console.print(f"funding: pre-filling {topic} with {n:,} TerritoryLabelled events…")
        await prefill_labels(infra.kafka, topic, n)
        opener = Runtime(definition, _settings(db, infra, prefix, consumers_enabled=False,
                                               relay_enabled=False))
        await opener.start()
        try:
            await _open_envelopes(opener, n)
        finally:
            await opener.stop()

        async def ours() -> None:
            runtime = Runtime(definition, settings)
            await runtime.start()
            try:
                while await runtime.pool.fetchval(
                        """SELECT (SELECT count(*) FROM fonds_grants) < $1
                                  OR (SELECT count(*) FROM allocations) < $1
                                  OR EXISTS (SELECT FROM outbox WHERE published_at IS NULL)""",
                        n):
                    await asyncio.sleep(0.1)
            finally:
                await runtime.stop()

        raw_s = await _timed(lambda: raw_consume(infra.kafka, topic, n))
        cpu = time.process_time()
        ours_s = await _timed(ours)
        busy = (time.process_time() - cpu) / ours_s
        sent = await _statements(settings, lambda uow: service.label_cites(
            uow, [(territory_labelled(n + k), uow.cause) for k in range(RUN)]))
        handler = next(i for i, s in enumerate(sent) if s.startswith("INSERT INTO aggregate_"))
        console.print(f"  raw {n / raw_s:,.0f} ev/s, funding consumer + relay "
                      f"{n / ours_s:,.0f} labels/s (ratio {raw_s / ours_s:.3f}); a run of "
                      f"{RUN} labels' handler sends {handler} statements (and "
                      f"{len(sent) - handler} to write the outbox, once per batch); the "
                      f"process on CPU {busy:.0%} of the time")
        return Result("funding: TerritoryLabelled → dotation + fonds", n, n / ours_s,
                      "raw aiokafka consumer", n / raw_s, "—")
    finally:
        await drop_db(db)
        await delete_topics(infra.kafka, prefix)


async def _statements(settings: FundingSettings, act: Callable[[UnitOfWork], Awaitable[Any]]
                      ) -> list[str]:
    """The statements ``act`` and its events' outbox write send, in one transaction."""
    pool = await create_pool(settings.dsn, settings.db_schema, min_size=1, max_size=1)
    try:
        async with pool.acquire() as conn, conn.transaction():
            counted = _Counted(conn)
            uow = UnitOfWork(cast(Conn, counted), channel=outbox_channel(settings.db_schema),
                             clock=settings.clock, zone=settings.zone)
            await act(uow)
            await uow.flush()
        return counted.statements
    finally:
        await pool.close()


class _Counted:
    """A connection that keeps the first words of every statement sent through it."""

    def __init__(self, conn: Any):
        self._conn = conn
        self.statements: list[str] = []

    def __getattr__(self, name: str) -> Any:
        found = getattr(self._conn, name)
        if name not in ("execute", "executemany", "fetch", "fetchrow", "fetchval"):
            return found

        async def counted(query: str, *args: Any, **kw: Any) -> Any:
            self.statements.append(" ".join(query.split()[:4]))
            return await found(query, *args, **kw)

        return counted


@contextlib.asynccontextmanager
async def _waits(dsn: str, application: str) -> AsyncIterator[Counter[str]]:
    """How many of ``application``'s sessions are in each state while the block runs, on
    average (sampled every 5 ms): waiting for a lock, or idle in a transaction waiting for
    the client (its next statement), after which statement."""
    found: Counter[str] = Counter()
    conn = await asyncpg.connect(dsn)
    done = asyncio.Event()

    async def sample() -> int:
        samples = 0
        while not done.is_set():
            for r in await conn.fetch(
                    """SELECT state, wait_event_type, wait_event, query FROM pg_stat_activity
                       WHERE application_name = $1 AND state NOT IN ('idle')""",
                    application):
                waiting = f"waiting for a {r['wait_event']} lock" if r["wait_event_type"] == \
                    "Lock" else "waiting for the client" if r["wait_event_type"] == \
                    "Client" else r["state"]
                found[f"{waiting} ({' '.join(r['query'].split()[:3])[:24]}…)"] += 1
            samples += 1
            await asyncio.sleep(0.005)
        return samples

    sampler = asyncio.create_task(sample())
    try:
        yield found
    finally:
        done.set()
        samples = max(await sampler, 1)
        await conn.close()
        for key in found:
            found[key] /= samples  # type: ignore[assignment]


async def _drive(m: int, act: Any) -> None:
    """``m`` calls of ``act(i)`` from :data:`TASKS` concurrent tasks."""
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(m):
        queue.put_nowait(i)

    async def worker() -> None:
        while not queue.empty():
            await act(queue.get_nowait())

    await asyncio.gather(*(worker() for _ in range(TASKS)))


async def _commitments(infra: Infra, m: int, console: Console) -> Result:
    tag = uuid.uuid4().hex[:8]
    prefix = f"bench{tag}."
    db = await new_service_db(infra, f"bench_funding_{tag}")
    settings = _settings(db, infra, prefix, consumers_enabled=False)
    await run_migrations(definition, settings)
    runtime = Runtime(definition, settings)
    await runtime.start()
    try:
        await _open_envelopes(runtime, ALLOCATIONS)
        targets: list[tuple[str, service.Subsidy, Actor]] = []
        for i in range(ALLOCATIONS):
            label = territory_labelled(i)
            async with runtime.unit_of_work() as uow:
                await service.label_cite(uow, label)
                await service.member_changed(uow, label.cite_id, OPERATOR, "association",
                                             current=True)
            allocation = await runtime.pool.fetchrow(
                "SELECT allocation_id, year FROM allocations WHERE cite_id = $1 LIMIT 1",
                label.cite_id)
            assert allocation is not None
            subsidy = service.Subsidy(  # an arrêté signed on 1 January of its budget year
                allocation["allocation_id"], OPERATOR, "Atelier", COMMITMENT, LegalAct(
                    kind=LegalActKind.ARRETE, reference="AR-1",
                    signed_on=datetime.date(allocation["year"], 1, 1)))
            targets.append((label.cite_id, subsidy, Actor(
                Role.PREFECTURE, "bench", departement=label.departement)))
        national = Actor(Role.NATIONAL, "bench")
        for year in sorted({s.legal_act.signed_on.year for _, s, _ in targets}):
            async with runtime.unit_of_work() as uow:  # AE for every commitment to come
                await service.vote_credits(uow, BudgetProgramme.P147, year, 10**12, 10**12,
                                           national)
                for departement in sorted({a.departement or "" for _, _, a in targets}):
                    await service.delegate_credits(uow, BudgetProgramme.P147, year,
                                                   departement, 10**12 // 100, 0, national)
        held = await runtime.pool.fetchval("SELECT min(amount) FROM allocations")
        if -(-(m + TASKS) // ALLOCATIONS) * COMMITMENT > held:  # warm-up included
            raise ValueError(f"{m:,} commitments of {COMMITMENT} cents do not fit in "
                             f"{ALLOCATIONS} allocations of {held} cents")
        await runtime.pool.execute(
            "CREATE TABLE bare_accounts (id integer PRIMARY KEY, balance bigint NOT NULL)")
        await runtime.pool.execute(
            "INSERT INTO bare_accounts SELECT g, $1 FROM generate_series(0, $2 - 1) g",
            held, ALLOCATIONS)
        bare = await asyncpg.create_pool(db.dsn, min_size=settings.db_pool_max,
                                         max_size=settings.db_pool_max)
        assert bare is not None

        async def commit(i: int) -> None:
            cite_id, subsidy, actor = targets[i % ALLOCATIONS]
            async with runtime.unit_of_work() as uow:
                await service.commit_funds(uow, cite_id, subsidy, actor, uuid.uuid4())

        async def update(i: int) -> None:
            done = await bare.execute(
                "UPDATE bare_accounts SET balance = balance - $2 WHERE id = $1 "
                "AND balance >= $2", i % ALLOCATIONS, COMMITMENT)
            assert done == "UPDATE 1", done

        try:
            console.print(f"funding: {m:,} commitments by {TASKS} tasks on {ALLOCATIONS} "
                          "allocations, and as many bare UPDATEs…")
            await _drive(TASKS, commit)  # warm-up: prepared statements, pool connections
            await _drive(TASKS, update)
            cpu = time.process_time()
            async with _waits(db.dsn, f"cites-{settings.db_schema}") as waits:
                ours_s = await _timed(lambda: _drive(m, commit))
            busy = (time.process_time() - cpu) / ours_s
            cpu = time.process_time()
            bare_s = await _timed(lambda: _drive(m, update))
            bare_busy = (time.process_time() - cpu) / bare_s
        finally:
            await bare.close()
        committed = await runtime.pool.fetchval("SELECT count(*) FROM commitments")
        assert committed == m + TASKS, committed

        cite_id, subsidy, actor = targets[0]
        sent = await _statements(settings, lambda uow: service.commit_funds(
            uow, cite_id, subsidy, actor, uuid.uuid4()))
        locked = 1 + next(i for i, s in enumerate(sent) if s.startswith("WITH moved AS"))
        console.print(f"  commitments {m / ours_s:,.0f}/s, bare UPDATEs {m / bare_s:,.0f}/s "
                      f"(ratio {bare_s / ours_s:.3f}); one commitment sends {len(sent)} "
                      f"statements + BEGIN and COMMIT, {len(sent) - locked} of them and "
                      f"COMMIT after it locks its allocation; the process on CPU {busy:.0%} "
                      f"of the time (bare: {bare_busy:.0%})")
        console.print(f"  the pool's {settings.db_pool_max} sessions meanwhile, on average "
                      "(pg_stat_activity every 5 ms): " + "; ".join(
                          f"{n:.1f} {what}" for what, n in waits.most_common(6)))
        return Result(f"funding: commitments, {TASKS} tasks on {ALLOCATIONS} allocations",
                      m, m / ours_s, f"asyncpg UPDATE … balance >= x, {ALLOCATIONS} rows",
                      m / bare_s, "report")
    finally:
        await runtime.stop()
        await drop_db(db)
        await delete_topics(infra.kafka, prefix)


async def funding_bench(infra: Infra, n: int = 10_000, m: int = 4_000,
                        console: Console | None = None) -> list[Result]:
    """Labels → dotations and fonds (``n`` events), then ``m`` contended commitments."""
    console = console or Console()
    return [await _labels_to_money(infra, n, console), await _commitments(infra, m, console)]


if __name__ == "__main__":  # python -m bench.funding_bench [N [M]]
    run_alone(funding_bench, 10_000, 4_000)
