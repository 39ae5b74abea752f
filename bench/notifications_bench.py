"""Notifications' sender against raw aiosmtplib, measured in the same run, on the same sink.

**Prepared, not timed** — ``n`` pending notifications written as the service writes them:
for each of ``⌈n / 3⌉`` candidatures, its three troïka cards (``TroikaContactPublished``)
and its ``CandidatureSubmitted`` go through the service's own projection and
``service.notify`` (rules table → troïka → mail rendered in French; its flattened size is
printed), one transaction per 100 candidatures; the surplus over ``n`` is deleted. Every address
carries the run's tag, and the mails the sink stored for it are deleted at the end (the
sink is shared, and tests read its whole maildir).

**Ours** — the notifications service as it runs (``Runtime``: its sender, i.e.
``sender.send_due`` rounds of ``send_batch`` = 50 — claim in one transaction, then per
notification: render and flatten the MIME message, ``aiosmtplib.send`` (a connection per
message), and one transaction that marks it sent and writes ``NotificationSent`` to the
outbox — and its relay publishing those to Kafka; the consumer is off, nothing arrives).
The runtime is started and its relay leads before the notifications fall due: the clock
(a ``FakeClock``) is then moved to their due time, and the timing runs from that moment
until every notification is ``sent`` *and* its ``NotificationSent`` is acknowledged by
Kafka (polled every 20 ms). ``send_interval_s`` is 10 ms instead of 500 ms so the idle
sender notices within 10 ms; it plays no part once it is busy (a busy round is followed
at once by the next).

**Baselines** — the same ``n`` messages, rendered and flattened beforehand by the
sender's own ``message_of`` (same bytes, same envelope), sent one after another to the
same sink: (1) ``aiosmtplib.send`` per message, a connection each, as ours does;
(2) one ``aiosmtplib.SMTP`` connection reused for all (``sendmail``), the natural fast
path, which tells what connection reuse would pay.

**Where the time goes** — a second run of ours, on fresh notifications, with timers
wrapped around the sender's steps (``send_due`` rounds, the runtime's units of work — the
first of a round is the claim, the others record outcomes —, ``_send`` and the
``aiosmtplib.send`` inside it; render + flatten is ``_send`` minus the SMTP call, with its
CPU time), the statements one outcome's transaction sends (counted on its connection),
the relay's passes (how many, events per pass) and its tail after the last mail, and the
CPU the process spent (against raw ``aiosmtplib.send``'s CPU a message). Its rate is
printed too, so the timers' own cost shows. Last, a third run of ours on fresh
notifications with the relay off (timed until all are sent) tells what publishing the
events costs the sender, which shares its event loop.

Called from ``bench/__main__.py``::

    results += asyncio.run(notifications_bench(infra, args.notifications_mails, console))
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import dataclasses
import email.utils
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import aiosmtplib
from notifications import projection, service, store
from notifications import sender as sender_module
from notifications.app import definition
from notifications.settings import NotificationsSettings
from rich.console import Console

from cites_contracts.events.labelling import (
    CandidatureSubmitted,
    Perimeter,
    PerimeterCommune,
    PerimeterQpv,
    PerimeterSchool,
    TroikaContactPublished,
    TroikaSeat,
    Wave,
)
from cites_contracts.types import ActorRole, EducationPriority, SchoolKind, TroikaRole
from cites_runtime.app import Runtime, run_migrations
from cites_runtime.db import Conn, create_pool
from cites_runtime.relay import OutboxRelay
from cites_runtime.testing import FakeClock, delete_topics
from cites_runtime.testing.infra import Infra
from cites_runtime.testing.plugin import ServiceDb, drop_db, new_service_db
from cites_runtime.uow import UnitOfWork

from .funding_bench import _Counted
from .runtime_bench import Result, _timed

__all__ = ["notifications_bench"]

DUE = datetime(2025, 3, 10, 9, 0, tzinfo=UTC)
"""When the prepared notifications fall due (the service's clock before: a minute less)."""
PER_TRANSACTION = 100
"""Candidatures prepared per transaction."""
ROLES = (TroikaRole.PREFET, TroikaRole.RECTEUR, TroikaRole.MAIRE)


def _settings(db: ServiceDb, infra: Infra, prefix: str, clock: FakeClock, **kw: Any
              ) -> NotificationsSettings:
    assert infra.smtp_host is not None and infra.smtp_port is not None
    return NotificationsSettings(
        database_url=db.dsn, db_schema=db.schema, kafka_bootstrap_servers=infra.kafka_bootstrap,
        topic_prefix=prefix, log_json=False, log_level="WARNING", clock=clock,
        smtp_host=infra.smtp_host, smtp_port=infra.smtp_port, send_interval_s=0.01,
        reminder_check_interval_s=86_400, consumers_enabled=False, **kw)


def _candidature(i: int, tag: str) -> tuple[list[TroikaContactPublished], CandidatureSubmitted]:
    """The i-th candidature, its three troïka cards (addresses carrying ``tag``)."""
    candidature = uuid.uuid4()
    seats = {role: uuid.uuid4() for role in ROLES}
    cards = [TroikaContactPublished(contact_id=cid, candidature_id=candidature, role=role,
                                    email=f"{role.value}.{i}.{tag}@example.gouv.fr",
                                    published_at=DUE) for role, cid in seats.items()]
    submitted = CandidatureSubmitted(
        candidature_id=candidature, territory_name=f"Vaulx-en-Velin {i}", departement="69",
        wave=Wave(id="2024-generalisation", year=2024),
        perimeter=Perimeter(
            communes=(PerimeterCommune(insee_code="69256", name="Vaulx-en-Velin"),),
            qpvs=(PerimeterQpv(code="QN06901M", name="Mas du Taureau", population=8000),),
            schools=(PerimeterSchool(uai="0693874L", kind=SchoolKind.COLLEGE,
                                     name="Collège Aimé Césaire",
                                     education_priority=EducationPriority.REP_PLUS),)),
        lead_college_uai="0693874L",
        troika=tuple(TroikaSeat(role=r, contact_id=c) for r, c in seats.items()),
        submitted_by=ActorRole.PREFECTURE, submitted_at=DUE)
    return cards, submitted


async def _prepare(settings: NotificationsSettings, n: int, tag: str) -> None:
    """``n`` pending notifications due at :data:`DUE`, written by the service's own code
    (the runtime without its jobs: nothing is sent)."""
    clock = FakeClock(DUE)
    quiet = dataclasses.replace(definition, background=[])
    writer = Runtime(quiet, settings.model_copy(update={"relay_enabled": False,
                                                        "clock": clock}))
    await writer.start()
    try:
        candidatures = -(-n // len(ROLES))
        for start in range(0, candidatures, PER_TRANSACTION):
            async with writer.unit_of_work() as uow:
                for i in range(start, min(start + PER_TRANSACTION, candidatures)):
                    cards, submitted = _candidature(i, tag)
                    for card in cards:
                        await projection.troika_card(uow, card)
                    await projection.candidature_submitted(uow, submitted)
                    await service.notify(uow, submitted, uuid.uuid4())
        await writer.pool.execute(
            """DELETE FROM notifications WHERE notification_id IN (
                   SELECT notification_id FROM notifications ORDER BY notification_id
                   OFFSET $1)""", n)
        assert await writer.pool.fetchval(
            "SELECT count(*) FROM notifications WHERE status = 'pending'") == n
    finally:
        await writer.stop()


async def _rendered(settings: NotificationsSettings) -> list[tuple[str, bytes]]:
    """(recipient, message bytes) of every pending notification, as the sender renders it."""
    pool = await create_pool(settings.dsn, settings.db_schema, min_size=1, max_size=1)
    try:
        rows = await pool.fetch(
            """SELECT n.*, c.email FROM notifications n JOIN contacts c USING (contact_id)
               WHERE n.status = 'pending' ORDER BY n.next_attempt_at, n.notification_id""")
    finally:
        await pool.close()
    claimed = [store.Claimed(r["notification_id"], r["cause_event_id"], r["cause_type"],
                             r["template"], dict(r["recipient"]), r["candidature_id"],
                             r["cite_id"], r["subject"], r["body_text"], r["body_html"],
                             r["attempts"], r["email"]) for r in rows]
    # The sender's own policy (CRLF, the Message-ID on one line): the same bytes it sends.
    policy = sender_module._POLICY
    return [(cast(str, c.email), sender_module.message_of(c, settings).as_bytes(policy=policy))
            for c in claimed]


async def _raw_send(settings: NotificationsSettings, mails: list[tuple[str, bytes]]) -> None:
    """Baseline 1: ``aiosmtplib.send`` per message, one after another (a connection each)."""
    mail_from = email.utils.parseaddr(settings.mail_from)[1]
    for to, message in mails:
        await aiosmtplib.send(message, sender=mail_from, recipients=[to],
                              hostname=settings.smtp_host, port=settings.smtp_port,
                              timeout=settings.smtp_timeout_s, start_tls=False, use_tls=False)


async def _raw_reused(settings: NotificationsSettings, mails: list[tuple[str, bytes]]) -> None:
    """Baseline 2: one SMTP connection, ``sendmail`` for every message, one after another."""
    mail_from = email.utils.parseaddr(settings.mail_from)[1]
    smtp = aiosmtplib.SMTP(hostname=settings.smtp_host, port=settings.smtp_port,
                           timeout=settings.smtp_timeout_s, start_tls=False, use_tls=False)
    async with smtp:
        for to, message in mails:
            await smtp.sendmail(mail_from, [to], message)


@dataclasses.dataclass
class _Phases:
    """Seconds spent in each step of the sender, as timed by :func:`_instrumented`."""

    rounds: list[float] = dataclasses.field(default_factory=list)
    claims: list[float] = dataclasses.field(default_factory=list)
    records: list[float] = dataclasses.field(default_factory=list)
    sends: list[float] = dataclasses.field(default_factory=list)
    smtp: list[float] = dataclasses.field(default_factory=list)
    sends_cpu: list[float] = dataclasses.field(default_factory=list)
    smtp_cpu: list[float] = dataclasses.field(default_factory=list)
    record_statements: list[int] = dataclasses.field(default_factory=list)
    relay_passes: list[tuple[float, int]] = dataclasses.field(default_factory=list)
    """(seconds, events published) of each relay pass that published something."""


@dataclasses.dataclass
class _Round:
    """The steps of one sender round, kept if it claimed something."""

    claim: float | None = None
    records: list[float] = dataclasses.field(default_factory=list)
    statements: list[int] = dataclasses.field(default_factory=list)


_ROUND: contextvars.ContextVar[_Round | None] = contextvars.ContextVar("round", default=None)
"""The round the sender's task is in (the reminder job's units of work are not timed)."""


@contextlib.contextmanager
def _instrumented(running: Runtime[NotificationsSettings], phases: _Phases) -> Any:
    """Timers around the sender's steps, on this runtime, while the block runs."""
    send_due, send, smtp_send = sender_module.send_due, sender_module._send, aiosmtplib.send
    make_uow = running.unit_of_work

    async def timed_round(runtime: Runtime[NotificationsSettings]) -> int:
        steps = _Round()
        token = _ROUND.set(steps)
        started = time.perf_counter()
        try:
            claimed = await send_due(runtime)
        finally:
            _ROUND.reset(token)
        if claimed:  # idle rounds (before the mail falls due, after it is sent) not kept
            phases.rounds.append(time.perf_counter() - started)
            assert steps.claim is not None
            phases.claims.append(steps.claim)
            phases.records += steps.records
            phases.record_statements += steps.statements
        return claimed

    @contextlib.asynccontextmanager
    async def timed_uow(cause: Any = None) -> AsyncIterator[UnitOfWork]:
        steps = _ROUND.get()
        if steps is None:
            async with make_uow(cause) as uow:
                yield uow
            return
        started = time.perf_counter()
        async with make_uow(cause) as uow:
            counted = _Counted(uow.conn)
            uow.conn = cast(Conn, counted)
            yield uow
        elapsed = time.perf_counter() - started
        if steps.claim is None:  # a round's first unit of work claims
            steps.claim = elapsed
        else:
            steps.records.append(elapsed)
            steps.statements.append(len(counted.statements))

    async def timed_send(*args: Any, **kw: Any) -> tuple[str, str]:
        started, cpu = time.perf_counter(), time.thread_time()
        try:
            return await send(*args, **kw)
        finally:
            phases.sends.append(time.perf_counter() - started)
            phases.sends_cpu.append(time.thread_time() - cpu)

    async def timed_smtp(*args: Any, **kw: Any) -> Any:
        started, cpu = time.perf_counter(), time.thread_time()
        try:
            return await smtp_send(*args, **kw)
        finally:
            phases.smtp.append(time.perf_counter() - started)
            phases.smtp_cpu.append(time.thread_time() - cpu)

    running.unit_of_work = timed_uow  # type: ignore[method-assign]
    sender_module.send_due = timed_round
    sender_module._send = timed_send
    aiosmtplib.send = timed_smtp
    try:
        yield
    finally:
        sender_module.send_due, sender_module._send = send_due, send
        aiosmtplib.send = smtp_send


def _time_relay(relay: OutboxRelay, phases: _Phases) -> None:
    """Time the relay's passes (it looks ``publish_pending`` up on itself each pass)."""
    publish_pending = relay.publish_pending

    async def timed(conn: Conn) -> int:
        started = time.perf_counter()
        published = await publish_pending(conn)
        if published:
            phases.relay_passes.append((time.perf_counter() - started, published))
        return published

    relay.publish_pending = timed  # type: ignore[method-assign]


@dataclasses.dataclass
class _Run:
    wall: float
    """From the notifications falling due until every NotificationSent is acknowledged."""
    all_sent: float
    """From their falling due until the last is marked sent (as seen by the 20 ms poll)."""
    cpu: float
    """Share of ``wall`` the process spent on CPU."""
    phases: _Phases | None


async def _ours(settings: NotificationsSettings, clock: FakeClock, n: int,
                instrument: bool = False) -> _Run:
    """Start the service, let its relay lead, make the ``n`` notifications due; time until
    they are all sent and their NotificationSent all acknowledged by Kafka (or, with the
    relay off in ``settings``, until they are all sent)."""
    clock.now = DUE - timedelta(minutes=1)
    runtime = Runtime(definition, settings)
    phases = _Phases() if instrument else None
    with contextlib.ExitStack() as stack:
        if phases is not None:  # before start: the sender's loop looks send_due up each round
            stack.enter_context(_instrumented(runtime, phases))
        await runtime.start()
        try:
            relay = runtime.relay
            if relay is not None:
                if phases is not None:
                    _time_relay(relay, phases)
                while not relay.is_leader:
                    await asyncio.sleep(0.01)
            await asyncio.sleep(0.05)  # the sender's first round has found nothing due
            all_sent = 0.0
            cpu = time.process_time()
            started = time.perf_counter()
            clock.now = DUE
            while True:
                row = await runtime.pool.fetchrow(
                    """SELECT (SELECT count(*) FROM notifications WHERE status = 'sent'),
                              (SELECT count(*) FROM outbox
                                WHERE event_type = 'notifications.NotificationSent'
                                  AND published_at IS NOT NULL)""")
                assert row is not None
                sent, acked = row
                if sent == n and not all_sent:
                    all_sent = time.perf_counter() - started
                if acked == n or (relay is None and sent == n):
                    break
                await asyncio.sleep(0.02)
            wall = time.perf_counter() - started
            busy = (time.process_time() - cpu) / wall
        finally:
            await runtime.stop()
    return _Run(wall, all_sent, busy, phases)


def _forget_mails(infra: Infra, tag: str, since_ns: int) -> int:
    """Delete the messages the sink stored for this run (their envelope names ``tag``)."""
    if not infra.smtp_maildir:
        return 0
    deleted = 0
    for path in Path(infra.smtp_maildir).glob("*.eml"):
        if int(path.name.split("-", 1)[0]) < since_ns:
            continue
        with path.open("rb") as f:
            head = f.read(512)
        if tag.encode() in head.split(b"\r\n\r\n", 1)[0]:
            path.unlink(missing_ok=True)
            deleted += 1
    return deleted


def _ms(seconds: list[float], per: int) -> float:
    return 1000 * sum(seconds) / per


def _where(run: _Run, n: int, batch: int) -> str:
    """One instrumented run's time per mail, step by step."""
    p = run.phases
    assert p is not None and len(p.smtp) == len(p.sends) == len(p.records) == n
    per = 1000 * run.wall / n
    smtp = _ms(p.smtp, n)
    render = _ms(p.sends, n) - smtp
    # Rendering is synchronous: nothing else runs meanwhile, so its CPU is its own.
    render_cpu = _ms(p.sends_cpu, n) - _ms(p.smtp_cpu, n)
    record = _ms(p.records, n)
    claim = _ms(p.claims, n)
    rounds = _ms(p.rounds, n)
    rest = rounds - smtp - render - record - claim
    between = 1000 * run.all_sent / n - rounds
    statements = "/".join(map(str, sorted(set(p.record_statements))))
    return (f"{n / run.wall:,.0f}/s, {per:.2f} ms (CPU {per * run.cpu:.2f}): SMTP "
            f"{smtp:.2f} ({smtp / per:.0%}; CPU meanwhile {_ms(p.smtp_cpu, n):.2f}), "
            f"render + flatten {render:.2f} ({render / per:.0%};"
            f" CPU {render_cpu:.2f}), outcome's transaction {record:.2f} ({record / per:.0%};"
            f" {statements} statements + BEGIN, COMMIT), claim {claim:.2f} ({claim / per:.0%};"
            f" {len(p.claims)} rounds of ≤ {batch}), the rest of the rounds {rest:.2f}, "
            f"between rounds and the 20 ms poll {between:.2f} ms")


async def notifications_bench(infra: Infra, n: int = 2_000, console: Console | None = None
                              ) -> list[Result]:
    """``n`` mails by the service's sender, and by raw aiosmtplib two ways."""
    console = console or Console()
    if infra.smtp_host is None or infra.smtp_port is None:
        raise RuntimeError("no SMTP sink: the notifications benchmark needs one")
    tag = uuid.uuid4().hex[:10]
    prefix = f"bench{tag}."
    since_ns = time.time_ns()
    clock = FakeClock(DUE)
    dbs: list[ServiceDb] = []
    try:
        async def fresh() -> NotificationsSettings:
            db = await new_service_db(infra, f"bench_notif_{tag}_{len(dbs)}")
            dbs.append(db)
            s = _settings(db, infra, prefix, clock)
            await run_migrations(definition, s)
            await _prepare(s, n, tag)
            return s

        console.print(f"notifications: {n:,} mails to the sink at "
                      f"{infra.smtp_host}:{infra.smtp_port}, by the service's sender and by "
                      "raw aiosmtplib…")
        settings = await fresh()
        mails = await _rendered(settings)
        assert len(mails) == n
        size = sum(len(m) for _, m in mails) / n
        cpu = time.process_time()
        send_s = await _timed(lambda: _raw_send(settings, mails))
        send_cpu = 1000 * (time.process_time() - cpu) / n
        reused_s = await _timed(lambda: _raw_reused(settings, mails))
        ours = await _ours(settings, clock, n)
        console.print(
            f"  mean message {size:,.0f} B; raw aiosmtplib.send {n / send_s:,.0f}/s "
            f"({1000 * send_s / n:.2f} ms each), one reused connection {n / reused_s:,.0f}/s "
            f"({1000 * reused_s / n:.2f} ms each); ours {n / ours.wall:,.0f}/s "
            f"({1000 * ours.wall / n:.2f} ms each; all sent after {ours.all_sent:.2f} s, "
            f"all acknowledged by Kafka after {ours.wall:.2f} s; the process on CPU "
            f"{ours.cpu:.0%} of the time)")

        on = await _ours(await fresh(), clock, n, instrument=True)
        off = await _ours((await fresh()).model_copy(update={"relay_enabled": False}),
                          clock, n, instrument=True)
        console.print(f"  where the time goes, per mail (two more runs of ours, timed step by "
                      f"step, on fresh notifications; raw aiosmtplib.send's CPU "
                      f"{send_cpu:.2f} ms a mail):")
        for what, run in (("relay on ", on), ("relay off", off)):
            console.print(f"    {what}: {_where(run, n, settings.send_batch)}")
        assert on.phases is not None
        passes = on.phases.relay_passes
        relayed = sum(k for _, k in passes)
        console.print(
            f"    relay on: {len(passes)} relay passes publishing {relayed / len(passes):.1f} "
            f"events each (one NOTIFY per outcome's commit), their wall time (mostly awaiting "
            f"Kafka, overlapping the sender) {1000 * sum(t for t, _ in passes) / n:.2f} ms a "
            f"mail; the relay's tail after the last mail {1000 * (on.wall - on.all_sent):.0f} "
            "ms in all")
        return [
            Result("notifications: sender → sink, events acked", n,
                   n / ours.wall, "aiosmtplib.send, a connection each", n / send_s,
                   "report"),
            Result("notifications: sender → sink, events acked", n,
                   n / ours.wall, "aiosmtplib, one reused connection", n / reused_s,
                   "report"),
        ]
    finally:
        for db in dbs:
            await drop_db(db)
        await delete_topics(infra.kafka_bootstrap, prefix)
        forgotten = await asyncio.to_thread(_forget_mails, infra, tag, since_ns)
        console.print(f"  (deleted this run's {forgotten:,} mails from the sink's maildir)")


if __name__ == "__main__":  # python -m bench.notifications_bench [N]
    import sys

    from cites_runtime.testing.infra import resolve_infra

    resolved = resolve_infra()
    try:
        rows = asyncio.run(notifications_bench(resolved, int(sys.argv[1]) if sys.argv[1:]
                                               else 2_000))
    finally:
        resolved.close()
    for row in rows:
        print(f"{row.name}: {row.rate:,.0f}/s; {row.baseline_name}: "
              f"{row.baseline_rate:,.0f}/s; ratio {row.ratio:.3f}")
