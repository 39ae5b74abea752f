"""Rebuilding partners' projection from a history of labelling events, in a fresh schema.

The history (:class:`History`) is what ``labelling.labels`` would hold after years of
cités' lives, valid under labelling's rules so that partners applies every event: cités
labelled in waves (a wave's labels one after another), then, per label period of three
years, perimeter extensions, suspensions (most lifted after weeks), a few withdrawals, a
renewal in the period's last twelve months (at most twice) or else the expiry, the day
after the period ends (one wave's expiries one after another, as labelling's daily check
emits them). Each cité's events carry its sequence 1, 2, 3…; the history is the first
``n`` events in time. It is produced to a fresh topic prefix by a raw aiokafka producer
(the contracts' codec, not timed), then partners — ``Runtime`` with its consumer and
relay, as ``python -m partners`` runs — starts on a fresh schema and consumes it from the
beginning. Timed as the other consumer benches are (:class:`~bench.runtime_bench.
ConsumedWindow`: first records in hand to the last batch done), against a raw aiokafka
consumer reading the same records in the same run. Then the projection is checked against
what the history implies: alliances per status and closure reason, their schools, their
label ends, one chef de file each, no dead letter, nothing stale.

    python -m bench --only replay [--replay-events 1000000]
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from labelling.examples import territory_labelled
from partners.app import definition
from partners.settings import PartnersSettings
from prometheus_client import REGISTRY
from rich.console import Console

from cites_contracts import Envelope, Event, encode
from cites_contracts.access import KafkaAccess
from cites_contracts.events.labelling import (
    LabelExpired,
    LabelReinstated,
    LabelRenewed,
    LabelSuspended,
    LabelWithdrawn,
    PerimeterAddition,
    PerimeterExtended,
    PerimeterSchool,
    Wave,
)
from cites_contracts.topics import LABELLING_LABELS
from cites_contracts.types import ActorRole, EducationPriority, LabelPeriod, SchoolKind
from cites_runtime.app import Runtime, run_migrations
from cites_runtime.kafka import make_producer, provision
from cites_runtime.testing import delete_topics
from cites_runtime.testing.infra import Infra
from cites_runtime.testing.plugin import ServiceDb, drop_db, new_service_db

from .access import kafka_settings
from .runtime_bench import ConsumedWindow, Result, Round, raw_consumed

__all__ = ["History", "replay_bench"]

LABEL, EXTEND, SUSPEND, REINSTATE, RENEW, WITHDRAW, EXPIRE = range(7)
KINDS = ("TerritoryLabelled", "PerimeterExtended", "LabelSuspended", "LabelReinstated",
         "LabelRenewed", "LabelWithdrawn", "LabelExpired")
DAY = 86_400
EPOCH = date(2019, 1, 7).toordinal()
"""The first wave's day (a Monday)."""
TARGET_RATE = 1_000_000 / 120
"""The issue's target: a million events in less than two minutes."""


def _years_later(day: int, years: int) -> int:
    """The ordinal of the same day ``years`` later (never a 29 February: see waves)."""
    d = date.fromordinal(day)
    return d.replace(year=d.year + years).toordinal()


@dataclass(slots=True)
class Cite:
    """What the history implies for one cité's alliance, as its events are folded."""

    status: str = "open"
    reason: str | None = None
    label_end: int = 0
    schools: int = 12


@dataclass
class History:
    """The first ``n`` events of a simulated ``labelling.labels``, in time order: entries
    ``(second, cite, kind, sequence, args)``; ``second`` counts from :data:`EPOCH`."""

    n: int
    seed: int = 13
    entries: list[tuple[float, int, int, int, tuple[int, ...]]] = field(default_factory=list)
    cites: int = 0

    @classmethod
    def generate(cls, n: int, seed: int = 13) -> History:
        rng = random.Random(seed)
        history = cls(n, seed)
        generated: list[tuple[float, int, int, int, tuple[int, ...]]] = []
        wave_day, cite = EPOCH, 0
        horizon = float("inf")
        """Once ``n`` events exist, the time of the n-th: a later wave adds none of the
        first ``n`` (more events only bring it earlier)."""
        while (wave_day - EPOCH) * DAY <= horizon:
            # A wave's labels, one session; as many waves whatever ``n`` (a smaller
            # history has smaller waves: the same mix of events, over the same years).
            for k in range(max(1, round(rng.randint(300, 3000) * n / 1_000_000))):
                generated.extend(_life(rng, cite, wave_day, k))
                cite += 1
            wave_day += rng.randint(7, 21)
            if date.fromordinal(wave_day).strftime("%m-%d") == "02-29":
                wave_day += 1
            if horizon == float("inf") and len(generated) >= n:
                generated.sort()
                horizon = generated[n - 1][0]
        generated.sort()
        history.entries = generated[:n]
        history.cites = len({e[1] for e in history.entries if e[2] == LABEL})
        return history

    def expected(self) -> dict[int, Cite]:
        """Each labelled cité's alliance once every event is applied."""
        cites: dict[int, Cite] = {}
        for _, cite, kind, _, args in self.entries:
            if kind == LABEL:
                cites[cite] = Cite(label_end=args[1])
                continue
            c = cites[cite]
            if kind == EXTEND:
                c.schools = 12 + args[0]
            elif kind == SUSPEND:
                c.status = "suspended"
            elif kind == REINSTATE:
                c.status = "open"
            elif kind == RENEW:
                c.label_end = args[2]
            else:
                c.status = "closed"
                c.reason = "label_withdrawn" if kind == WITHDRAW else "label_expired"
        return cites

    def mix(self) -> Counter[str]:
        return Counter(KINDS[e[2]] for e in self.entries)

    def events(self) -> Iterator[Envelope[Event]]:
        """The history as envelopes (each cité's sequence numbers from 1), in order."""
        for second, cite, kind, sequence, args in self.entries:
            at = datetime.fromordinal(EPOCH).replace(tzinfo=UTC) + timedelta(seconds=second)
            data = _event(cite, kind, args, at)
            yield Envelope.wrap(data, sequence=sequence, occurred_at=at)


def _life(rng: random.Random, cite: int, label_day: int, k: int
          ) -> list[tuple[float, int, int, int, tuple[int, ...]]]:
    """One cité's events, labelled on ``label_day`` as the ``k``-th of its wave."""
    out: list[tuple[float, int, int, int, tuple[int, ...]]] = []

    def at(day: int, kind: int, *args: int, second: float | None = None) -> None:
        if second is None:
            second = rng.uniform(9 * 3600, 18 * 3600)  # office hours
        t = (day - EPOCH) * DAY + second
        if out and t <= out[-1][0]:  # two decisions the same day: one after the other
            t = out[-1][0] + 60
        out.append((t, cite, kind, len(out) + 1, args))

    start = label_day
    end = _years_later(start, 3) - 1
    at(label_day, LABEL, start, end, second=10 * 3600 + k * 0.5)  # the wave's session
    status, added, periods = "open", 0, 1
    carried: list[tuple[int, int]] = []
    while True:
        plan = list(carried)
        plan += [(rng.randint(start + 1, end), EXTEND)
                 for _ in range(rng.choice((0, 0, 1, 1, 1, 2, 2, 3)))]
        if rng.random() < 0.3:
            day = rng.randint(start + 1, end - 1)
            plan.append((day, SUSPEND))
            if rng.random() < 0.85:
                plan.append((day + rng.randint(20, 200), REINSTATE))
        if rng.random() < 0.04:
            plan.append((rng.randint(start + 1, end), WITHDRAW))
        if periods < 3 and rng.random() < 0.75:
            plan.append((rng.randint(end - 364, end - 30), RENEW))
        plan.sort()
        renewed, carried = False, []
        for day, kind in plan:
            if day > end:
                carried.append((day, kind))  # after this period: if there is a next one
                continue
            if kind == EXTEND and status == "open":
                added += 1
                at(day, EXTEND, added)
            elif kind == SUSPEND and status == "open":
                status = "suspended"
                at(day, SUSPEND)
            elif kind == REINSTATE and status == "suspended":
                status = "open"
                at(day, REINSTATE)
            elif kind == RENEW and status == "open" and not renewed:
                renewed = True
                at(day, RENEW, start, end, _years_later(end + 1, 3) - 1)
            elif kind == WITHDRAW:
                at(day, WITHDRAW)
                return out
        if not renewed:  # labelling's daily check, the day after: the wave one after another
            at(end + 1, EXPIRE, start, end, second=2 * 3600 + k * 0.01)
            return out
        start, end, periods = end + 1, _years_later(end + 1, 3) - 1, periods + 1


def _period(start: int, end: int) -> LabelPeriod:
    return LabelPeriod(start=date.fromordinal(start), end=date.fromordinal(end))


def _added_school(cite: int, departement: str, j: int) -> PerimeterSchool:
    """The school the ``j``-th extension of the cité's perimeter adds."""
    return PerimeterSchool(uai=f"{departement}{(cite * 12 + j) % 100000:05d}E",
                           kind=SchoolKind.ECOLE, name=f"École {cite}-extension {j}",
                           education_priority=EducationPriority.REP)


def _event(cite: int, kind: int, args: tuple[int, ...], at: datetime) -> Event:
    who = ActorRole.NATIONAL_COORDINATION
    cite_id = f"cite-{cite + 1:03d}"
    if kind == LABEL:  # the benches' label (a 12-school perimeter), at its date
        return territory_labelled(cite).model_copy(update={
            "label_period": _period(*args), "labelled_at": at,
            "wave": Wave(id=f"{at.year}-rolling", year=at.year)})
    if kind == EXTEND:
        label = territory_labelled(cite)
        added = tuple(_added_school(cite, label.departement, j) for j in range(1, args[0] + 1))
        perimeter = label.perimeter.model_copy(
            update={"schools": label.perimeter.schools + added})
        return PerimeterExtended(cite_id=cite_id,
                                 added=PerimeterAddition(schools=added[-1:]),
                                 perimeter=perimeter, decided_by=who, extended_at=at)
    if kind == SUSPEND:
        return LabelSuspended(cite_id=cite_id, motive="Revue annuelle non rendue",
                              decided_by=who, suspended_at=at)
    if kind == REINSTATE:
        return LabelReinstated(cite_id=cite_id, motive="Revue reçue", decided_by=who,
                               reinstated_at=at)
    if kind == RENEW:
        return LabelRenewed(cite_id=cite_id, previous_period=_period(args[0], args[1]),
                            label_period=_period(args[1] + 1, args[2]), decided_by=who,
                            renewed_at=at)
    if kind == WITHDRAW:
        return LabelWithdrawn(cite_id=cite_id, motive="Convention rompue",
                              effective_on=at.date(), decided_by=who, withdrawn_at=at)
    return LabelExpired(cite_id=cite_id, label_period=_period(*args), expired_at=at)


async def produce(access: KafkaAccess, topic: str, history: History, console: Console
                  ) -> float:
    """Send the history to ``topic`` with a raw aiokafka producer (the relay's settings),
    encoded by the contracts' codec. Returns the seconds it took (setup, not compared)."""
    started = time.perf_counter()
    producer = make_producer(access)
    await producer.start()
    try:
        pending: list[asyncio.Future[Any]] = []
        for i, envelope in enumerate(history.events()):
            rec = encode(envelope)
            pending.append(await producer.send(topic, rec.value, key=rec.key,
                                               headers=rec.headers))
            if len(pending) >= 20_000:
                await asyncio.gather(*pending)
                pending.clear()
                if (i + 1) % 200_000 == 0:
                    console.print(f"  … {i + 1:,} produced")
        await asyncio.gather(*pending)
    finally:
        await producer.stop()
    return time.perf_counter() - started


def _counter_total(name: str, consumer: str) -> float:
    return sum(sample.value for metric in REGISTRY.collect() for sample in metric.samples
               if sample.name == name and sample.labels.get("consumer") == consumer)


async def check_projection(db: ServiceDb, history: History) -> dict[str, Any]:
    """What partners' schema holds against what the history implies; raises on any
    difference."""
    import asyncpg

    expected = history.expected()
    conn = await asyncpg.connect(db.dsn, server_settings={"search_path": db.schema})
    try:
        statuses = Counter({(r["status"], r["closure_reason"]): r["count"] for r in
                            await conn.fetch("SELECT status, closure_reason, count(*) "
                                             "FROM alliances GROUP BY 1, 2")})
        row = await conn.fetchrow(
            """SELECT sum(jsonb_array_length(schools)) AS schools,
                      sum(label_end - DATE '0001-01-01') AS ends,
                      count(*) FILTER (WHERE chef_de_file_partner_id IS NULL) AS leaderless
               FROM alliances""")
        chefs = await conn.fetchval(
            "SELECT count(*) FROM memberships WHERE 'chef_de_file' = ANY (roles)")
    finally:
        await conn.close()
    want = Counter((c.status, c.reason) for c in expected.values())
    # date.toordinal() of 0001-01-01 is 1.
    want_ends = sum(c.label_end - 1 for c in expected.values())
    want_schools = sum(c.schools for c in expected.values())
    assert statuses == want, f"alliances by status: {dict(statuses)}, expected {dict(want)}"
    assert row is not None
    assert row["schools"] == want_schools, (row["schools"], want_schools)
    assert row["ends"] == want_ends, (row["ends"], want_ends)
    assert row["leaderless"] == 0 and chefs == len(expected), (row["leaderless"], chefs)
    return {f"{s}{'/' + r if r else ''}": n for (s, r), n in sorted(want.items())}


async def replay_bench(infra: Infra, n: int = 1_000_000, console: Console | None = None
                       ) -> list[Result]:
    """Events/s (and seconds) for partners to apply ``n`` labelling events from a fresh
    schema, vs the raw consumer on the same topic."""
    console = console or Console()
    started = time.perf_counter()
    history = History.generate(n)
    console.print(f"replay: a history of {n:,} events ({history.cites:,} cités) in "
                  f"{time.perf_counter() - started:.0f} s; mix "
                  + ", ".join(f"{k} {v:,}" for k, v in history.mix().most_common()))
    tag = uuid.uuid4().hex[:8]
    prefix = f"bench{tag}."
    topic = f"{prefix}{LABELLING_LABELS.name}"
    db = await new_service_db(infra, f"bench_replay_{tag}")
    settings = PartnersSettings(
        database_url=db.dsn, db_schema=db.schema, topic_prefix=prefix, log_json=False,
        log_level="WARNING", **kafka_settings(infra),
    )
    await run_migrations(definition, settings)
    try:
        await provision(infra.kafka, [LABELLING_LABELS], prefix=prefix)
        produced_s = await produce(infra.kafka, topic, history, console)
        console.print(f"  produced to {topic} in {produced_s:.0f} s "
                      f"({n / produced_s:,.0f} ev/s, encoding included)")
        raw = await raw_consumed(infra.kafka, topic, n)
        raw_s = raw.seconds
        console.print(f"  raw aiokafka consumer: {raw_s:.1f} s ({n / raw_s:,.0f} ev/s)")
        dead = _counter_total("consumer_dead_letters_total", "partners")
        stale = _counter_total("consumer_stale_total", "partners")
        with ConsumedWindow(n) as window:
            runtime = Runtime(definition, settings)
            await runtime.start()
            try:
                idle, seen = 0, 0
                while not window.done.is_set():
                    try:
                        await asyncio.wait_for(window.done.wait(), 30)
                    except TimeoutError:
                        idle = idle + 1 if window.records == seen else 0
                        seen = window.records
                        assert idle < 10, f"nothing applied for 300 s, {seen:,} of {n:,}"
                        if window.started:
                            spent = time.perf_counter() - window.started
                            console.print(f"  … {seen:,} applied in {spent:.0f} s "
                                          f"({seen / spent:,.0f} ev/s)")
            finally:
                await runtime.stop()
        ours_s = window.seconds
        dead = _counter_total("consumer_dead_letters_total", "partners") - dead
        stale = _counter_total("consumer_stale_total", "partners") - stale
        assert dead == 0, f"{dead:.0f} events dead-lettered"
        assert stale == 0, f"{stale:.0f} events skipped as stale"
        statuses = await check_projection(db, history)
        met = n / ours_s >= TARGET_RATE
        console.print(f"  partners: {n:,} events in {ours_s:.1f} s ({n / ours_s:,.0f} ev/s; "
                      f"target 1,000,000 in < 2 min, {TARGET_RATE:,.0f} ev/s: "
                      f"{'met' if met else 'NOT met'}; at this rate 1,000,000 take "
                      f"{1e6 / (n / ours_s):,.0f} s); ratio {raw_s / ours_s:.3f}; "
                      "projection checked: "
                      + ", ".join(f"{k} {v:,}" for k, v in statuses.items()))
        return [Result.of_rounds(f"replay: {n:,} labelling events → partners, fresh schema "
                                 f"({ours_s:,.0f} s)", n, "raw aiokafka consumer",
                                 f"1 M in < 2 min (≥ {TARGET_RATE:,.0f} ev/s)",
                                 [Round(window.timing, raw)])]
    finally:
        await drop_db(db)
        await delete_topics(infra.kafka, prefix)
