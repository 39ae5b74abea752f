"""Funding against raw baselines measured in the same run.

**Labels → money** — ``n`` ``TerritoryLabelled`` events (a 12-school perimeter, ~2 KB
each, all of wave ``2024-rolling`` labelled for 2025–2027) on one topic, a P147 and a P230
envelope open, the clock in 2025: ours is the funding service as it runs (``Runtime``: its
consumer and relay on Kafka), timed from start until every cité has its dotation and its
fonds de la cité and every event they caused (two per label) is acknowledged by Kafka.
Baseline: the raw aiokafka consumer reading the same records (``raw_consumed``). Rounds
alternate (``runtime_bench.alternated``), each on a backlog and a schema of its own.

**Commitments under contention** — ``m`` commitments of 10 € sent by 32 concurrent tasks
to 4 allocations (one per cité), each through the use case as a route calls it
(``service.commit_funds`` in a unit of work of the running service, relay on; no HTTP),
on the service's pool (10 connections). Baseline: as many single-statement
``UPDATE … SET balance = balance - x WHERE id = $1 AND balance >= x`` on 4 rows of a plain
table, same tasks, same pool size, same database.

Both run in alternated rounds (``runtime_bench.alternated``: the median of per-round
ratios, CPU per event). Besides, each prints what it measured of where the time goes: the
statements a run of labels' handler and one commitment send (counted on a connection that
notes them; for a commitment, how many come after it locks its allocation) and, for the
commitments, what the pool's sessions wait on.

Called from ``bench/__main__.py``::

    results += asyncio.run(funding_bench(infra, args.funding_events,
                                         args.funding_commitments, console))
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
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
from .runtime_bench import (
    Backlogs,
    Result,
    Timing,
    alternated,
    measured,
    run_alone,
)

__all__ = ["funding_bench"]

OPERATOR = uuid.UUID("00000000-0000-4000-8000-0000000a5501")
TASKS = 32
ALLOCATIONS = 4
COMMITMENT = 10_00
RUN = 100
"""Labels in the run whose statements are counted."""
ROUNDS = 3
"""Alternated rounds of each measure (``runtime_bench.alternated``)."""


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


async def _labels_to_money(infra: Infra, n: int, console: Console, rounds: int = ROUNDS
                           ) -> Result:
    """Labels → money against the raw consumer, in alternated rounds (each on a backlog
    and a schema of its own); the statements of a run of labels counted in the first."""
    tag = uuid.uuid4().hex[:8]
    backlogs = Backlogs(infra, f"bench{tag}", LABELLING_LABELS.name, n, console)
    sent: list[str] = []
    console.print(f"funding: {n:,} TerritoryLabelled → dotation + fonds a round, {rounds} "
                  "rounds")

    async def ours(i: int) -> Timing:
        prefix = await backlogs.prefix(i)
        db = await new_service_db(infra, f"bench_funding_{tag}_{i}")
        try:
            settings = _settings(db, infra, prefix, consumer_batch_size=1000)
            await run_migrations(definition, settings)
            await _opened(db, infra, prefix, n)
            timing = await measured(lambda: _funded(settings, n))
            if not sent:
                sent.extend(await _statements(settings, lambda uow: service.label_cites(
                    uow, [(territory_labelled(n + k), uow.cause) for k in range(RUN)])))
            return timing
        finally:
            await drop_db(db)

    try:
        done = await alternated(rounds, backlogs.raw, ours, console, n)
    finally:
        await backlogs.close()
    handler = next(i for i, s in enumerate(sent) if s.startswith("INSERT INTO aggregate_"))
    console.print(f"  a run of {RUN} labels' handler sends {handler} statements (and "
                  f"{len(sent) - handler} to write the outbox, once per batch)")
    return Result.of_rounds("funding: TerritoryLabelled → dotation + fonds", n,
                            "raw aiokafka consumer", "≥ 2,000 labels/s", done)


async def _opened(db: ServiceDb, infra: Infra, prefix: str, n: int) -> None:
    """The envelopes the labels draw on, opened by a runtime that neither consumes nor
    relays (not timed)."""
    opener = Runtime(definition, _settings(db, infra, prefix, consumers_enabled=False,
                                           relay_enabled=False))
    await opener.start()
    try:
        await _open_envelopes(opener, n)
    finally:
        await opener.stop()


async def _funded(settings: FundingSettings, n: int) -> None:
    """Funding as it runs, from its start until every cité has its dotation and fonds and
    every event they caused is on Kafka."""
    runtime = Runtime(definition, settings)
    await runtime.start()
    try:
        while await runtime.pool.fetchval(
                """SELECT (SELECT count(*) FROM fonds_grants) < $1
                          OR (SELECT count(*) FROM allocations) < $1
                          OR EXISTS (SELECT FROM outbox WHERE published_at IS NULL)""", n):
            await asyncio.sleep(0.1)
    finally:
        await runtime.stop()


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
        if -(-(ROUNDS * m + TASKS) // ALLOCATIONS) * COMMITMENT > held:  # warm-up included
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
            async with _waits(db.dsn, f"cites-{settings.db_schema}") as waits:
                done = await alternated(
                    ROUNDS, lambda _: measured(lambda: _drive(m, update)),
                    lambda _: measured(lambda: _drive(m, commit)), console, m)
        finally:
            await bare.close()
        committed = await runtime.pool.fetchval("SELECT count(*) FROM commitments")
        assert committed == ROUNDS * m + TASKS, committed

        cite_id, subsidy, actor = targets[0]
        sent = await _statements(settings, lambda uow: service.commit_funds(
            uow, cite_id, subsidy, actor, uuid.uuid4()))
        locked = 1 + next(i for i, s in enumerate(sent) if s.startswith("WITH moved AS"))
        console.print(f"  one commitment sends {len(sent)} statements + BEGIN and COMMIT, "
                      f"{len(sent) - locked} of them and COMMIT after it locks its allocation")
        console.print(f"  the pool's {settings.db_pool_max} sessions meanwhile, on average "
                      "(pg_stat_activity every 5 ms): " + "; ".join(
                          f"{n:.1f} {what}" for what, n in waits.most_common(6)))
        return Result.of_rounds(
            f"funding: commitments, {TASKS} tasks on {ALLOCATIONS} allocations", m,
            f"asyncpg UPDATE … balance >= x, {ALLOCATIONS} rows", "≥ 2,000/s, ≥ 0.25×", done)
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
