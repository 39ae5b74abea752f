"""The dashboard's projection against a raw aiokafka consumer, on the same records.

**Prepared, not timed** — ``n`` cités' lives on the topics the dashboard reads, as their
producers put them there: per cité its ``TerritoryLabelled`` (labelling's bench payload,
12 schools), ``AllianceOpened``, a ``PartnerJoinedAlliance``, a ``FundsAllocated``, a
``FondsDeLaCiteGranted``, a ``FundsCommitted``, a ``PaymentMade`` and three
``NotificationSent``: 10 events a cité, on 5 topics.

**Ours** — the dashboard as it runs (``Runtime``: its consumer group replaying that
backlog, 500 records a batch, the inbox and positions, its handlers: labels, dotations and
notification outcomes a run at a time, the others one by one), timed by
:class:`~bench.runtime_bench.ConsumedWindow` (first batch in hand → last applied).

**Baseline** — a raw aiokafka group member reading the same topics to the end, committing
after each batch, ``json.loads`` on each value (as much decoding as a reader needs to see
an event's fields), nothing else (:func:`~bench.runtime_bench.raw_consume`, 500 records a
batch).

Then ``GET /api/summary`` over those ``n`` cités, the mean of 20 calls in-process.

Called from ``bench/__main__.py`` (``--only dashboard``, ``--dashboard-cites``)::

    results += asyncio.run(dashboard_bench(infra, args.dashboard_cites, console))
"""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime

import httpx
from dashboard.app import definition
from dashboard.settings import DashboardSettings
from labelling.examples import territory_labelled
from rich.console import Console

from cites_contracts import Envelope, Event, encode
from cites_contracts.access import KafkaAccess
from cites_contracts.events.funding import (
    FondsDeLaCiteGranted,
    FundsAllocated,
    FundsCommitted,
    PaymentMade,
    ProgrammeAmount,
)
from cites_contracts.events.notifications import NotificationSent, Recipient
from cites_contracts.events.partners import AllianceOpened, PartnerJoinedAlliance
from cites_contracts.types import (
    AllianceRole,
    BudgetProgramme,
    NotificationChannel,
    PartnerKind,
    RecipientKind,
    TroikaRole,
)
from cites_runtime.app import build_app, run_migrations
from cites_runtime.kafka import make_producer, provision
from cites_runtime.testing import AS_VIEWER, TOKENS, delete_topics
from cites_runtime.testing.infra import Infra
from cites_runtime.testing.plugin import ServiceDb, drop_db, new_service_db

from .access import kafka_settings
from .runtime_bench import ConsumedWindow, Result, Timing, alternated, raw_consumed, run_alone

__all__ = ["dashboard_bench"]

AT = datetime(2025, 1, 15, 10, 0, tzinfo=UTC)


def _life(i: int) -> list[Event]:
    """One cité's ten events."""
    label = territory_labelled(i)
    cite, allocation = label.cite_id, uuid.uuid4()
    sent = [NotificationSent(
        notification_id=uuid.uuid4(), cause_event_id=uuid.uuid4(),
        cause_type="labelling.TerritoryLabelled", template="cite-labelled",
        channel=NotificationChannel.EMAIL,
        recipient=Recipient(kind=RecipientKind.TROIKA, troika_role=role), cite_id=cite,
        attempts=1, sent_at=AT) for role in (TroikaRole.PREFET, TroikaRole.RECTEUR,
                                             TroikaRole.MAIRE)]
    return [
        label,
        AllianceOpened(cite_id=cite, chef_de_file_partner_id=uuid.uuid4(),
                       chef_de_file_uai=label.lead_college_uai, opened_at=AT),
        PartnerJoinedAlliance(cite_id=cite, partner_id=uuid.uuid4(),
                              partner_kind=PartnerKind.ASSOCIATION,
                              roles=(AllianceRole.ACTION_OPERATOR,), joined_at=AT),
        FundsAllocated(cite_id=cite, allocation_id=allocation, envelope_id=uuid.uuid4(),
                       programme=BudgetProgramme.P147, year=2025, amount=300_000_00,
                       envelope_remaining=0, allocated_at=AT),
        FondsDeLaCiteGranted(cite_id=cite, grant_id=uuid.uuid4(), year=2025,
                             lead_college_uai=label.lead_college_uai, granted_at=AT,
                             contributions=(ProgrammeAmount(programme=BudgetProgramme.P147,
                                                            amount=15_000_00),)),
        FundsCommitted(cite_id=cite, commitment_id=uuid.uuid4(), allocation_id=allocation,
                       operator_partner_id=uuid.uuid4(), action_title="Ateliers",
                       amount=40_000_00, committed_at=AT),
        PaymentMade(cite_id=cite, payment_id=uuid.uuid4(), commitment_id=uuid.uuid4(),
                    allocation_id=allocation, payee_partner_id=uuid.uuid4(),
                    amount=15_000_00, paid_at=AT),
        *sent,
    ]


async def _prefill(access: KafkaAccess, prefix: str, n: int) -> tuple[int, list[str]]:
    producer = make_producer(access)
    await producer.start()
    topics: set[str] = set()
    count = 0
    try:
        sequences: dict[tuple[str, str], int] = {}
        for i in range(n):
            for event in _life(i):
                key = (event.spec.topic.name, event.aggregate_id())
                sequences[key] = sequences.get(key, 0) + 1
                rec = encode(Envelope.wrap(event, sequence=sequences[key]))
                await producer.send(prefix + rec.topic, rec.value, key=rec.key,
                                    headers=rec.headers)
                topics.add(prefix + rec.topic)
                count += 1
        await producer.flush()
    finally:
        await producer.stop()
    return count, sorted(topics)


async def dashboard_bench(infra: Infra, n: int = 1_000, console: Console | None = None,
                          rounds: int = 3) -> list[Result]:
    """The dashboard's projection of ``n`` cités' lives against the raw consumer (which
    also parses each value), in alternated rounds, each on topics and a schema of its own;
    then its summary's answer time over the last round's projection."""
    console = console or Console()
    tag = uuid.uuid4().hex[:8]
    filled: dict[int, tuple[int, list[str]]] = {}
    console.print(f"dashboard: {n:,} cités' lives a round ({n * 10:,} events), {rounds} rounds")

    async def backlog(i: int) -> tuple[str, int, list[str]]:
        prefix = f"bench{tag}r{i}."
        if i not in filled:
            await provision(infra.kafka, definition.topics(), prefix=prefix)
            filled[i] = await _prefill(infra.kafka, prefix, n)
            assert filled[i][0] == n * 10, filled[i][0]
        return prefix, *filled[i]

    async def raw(i: int) -> Timing:
        _, events, topics = await backlog(i)
        return await raw_consumed(infra.kafka, topics, events, max_records=500, decode=True)

    summary: list[float] = []

    async def ours(i: int) -> Timing:
        prefix, events, _ = await backlog(i)
        db = await new_service_db(infra, f"bench_dashboard_{tag}_{i}")
        try:
            return await _projected(infra, db, prefix, events, n, summary)
        finally:
            await drop_db(db)

    try:
        done = await alternated(rounds, raw, ours, console, n * 10)
        console.print(f"  GET /api/summary over {n:,} cités: {summary[-1] * 1000:.0f} ms")
        return [Result.of_rounds("dashboard: 10 events a cité → projection", n * 10,
                                 "raw aiokafka consumer + json.loads", "—", done)]
    finally:
        await delete_topics(infra.kafka, f"bench{tag}")


async def _projected(infra: Infra, db: ServiceDb, prefix: str, events: int, n: int,
                     summary: list[float]) -> Timing:
    """The dashboard started on ``prefix``'s backlog: the time and CPU until its
    projection holds every event; then its summary's mean answer time over 20 calls is
    added to ``summary``."""
    settings = DashboardSettings(
        database_url=db.dsn, db_schema=db.schema, topic_prefix=prefix, auth_mode="static",
        tokens=TOKENS, services={}, health_interval_s=86_400, log_json=False,
        log_level="WARNING", **kafka_settings(infra))
    await run_migrations(definition, settings)
    app = build_app(definition, settings)
    with ConsumedWindow(events) as window:
        async with app.router.lifespan_context(app), httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://dashboard") as http:
            await asyncio.wait_for(window.done.wait(), timeout=600)
            started = time.perf_counter()
            for _ in range(20):
                answer = await http.get("/api/summary", headers=AS_VIEWER)
                assert answer.status_code == 200, answer.text
            summary.append((time.perf_counter() - started) / 20)
            assert answer.json()["cites"] == {"labelled": n}, answer.json()["cites"]
    return window.timing


if __name__ == "__main__":  # python -m bench.dashboard_bench [N]
    run_alone(dashboard_bench, 1000)
