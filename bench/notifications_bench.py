"""Notifications' sender against raw aiosmtplib, measured in the same run, on the same sink.

**Prepared, not timed** — ``n`` pending notifications written as the service writes them:
for each of ``⌈n / 3⌉`` candidatures, its three troïka cards (``TroikaContactPublished``)
and its ``CandidatureSubmitted``, built as the service's tests build them (its kit's
``troika_cards``), go through the service's own use cases
(``service.keep_troika_card``, ``service.candidature_submitted``: rules table → troïka →
mail rendered in French; its flattened size is
printed), one transaction per 100 candidatures; the surplus over ``n`` is deleted. Every address
carries the run's tag, and the mails the sink stored for it are deleted at the end (the
sink is shared, and tests read its whole maildir).

**Ours** — the notifications service as it runs (``Runtime``: its sender, i.e.
``sender.send_due`` rounds of ``send_batch`` = 50 — claim in one transaction; render,
flatten and send each over ``smtp_connections`` = 4 SMTP connections at once, each reused
for its share; one transaction marking every outcome and writing the round's
``NotificationSent`` to the outbox — and its relay publishing those to Kafka; the consumer
is off, nothing arrives). The runtime is started and its relay leads before the
notifications fall due: the clock (a ``FakeClock``) is then moved to their due time, and
the timing runs from that moment until every notification is ``sent`` *and* its
``NotificationSent`` is acknowledged by Kafka (polled every 20 ms). ``send_interval_s`` is
10 ms instead of 500 ms so the idle sender notices within 10 ms; it plays no part once it
is busy (a busy round is followed at once by the next).

**Baselines** — the same ``n`` messages, rendered and flattened beforehand by the
sender's own ``message_of`` (same bytes, same envelope), to the same sink:
(1) ``aiosmtplib.send`` per message, one after another, a connection each;
(2) one ``aiosmtplib.SMTP`` connection reused for all (``sendmail``), one after another;
(3) as many reused connections as ours uses, sending at once — like for like, without
the database, the rendering or the events.

**Where the time goes** — read from the sender's own histogram
(``notifications_round_seconds{phase}``: claim, send — the concurrent SMTP exchanges,
rendering included —, record), its difference over the run divided by the mails; the
relay's passes (how many, events per pass) and its tail after the last mail; the CPU the
process spent.

Called from ``bench/__main__.py``::

    results += asyncio.run(notifications_bench(infra, args.notifications_mails, console))
"""

from __future__ import annotations

import asyncio
import dataclasses
import email.utils
import functools
import importlib
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any, cast

import aiosmtplib
from notifications import sender as sender_module
from notifications import service
from notifications.app import definition
from notifications.domain.notification import Notification
from notifications.metrics import ROUND
from notifications.settings import NotificationsSettings
from rich.console import Console

from cites_contracts import Envelope
from cites_contracts.events.labelling import CandidatureSubmitted, TroikaContactPublished
from cites_contracts.events.notifications import Recipient
from cites_contracts.types import TroikaRole
from cites_runtime.app import Runtime, run_migrations
from cites_runtime.db import Conn, create_pool
from cites_runtime.relay import OutboxRelay
from cites_runtime.testing import FakeClock, delete_topics
from cites_runtime.testing.infra import Infra
from cites_runtime.testing.plugin import ServiceDb, drop_db, new_service_db

from .access import kafka_settings
from .runtime_bench import Result, _timed, run_alone

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
        database_url=db.dsn, db_schema=db.schema, topic_prefix=prefix, log_json=False,
        log_level="WARNING", clock=clock, smtp_host=infra.smtp_host, smtp_port=infra.smtp_port,
        send_interval_s=0.01, reminder_check_interval_s=86_400, consumers_enabled=False,
        **{**kafka_settings(infra), **kw})


@functools.cache
def _kit() -> ModuleType:
    """Notifications' test kit (it lives beside that service's tests): the troïka's cards
    and candidature the tests build, built here the same way."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "services" / "notifications"
                           / "tests"))
    return importlib.import_module("notifications_kit")


def _candidature(i: int, tag: str) -> tuple[list[TroikaContactPublished], CandidatureSubmitted]:
    """The i-th candidature, its three troïka cards (addresses carrying ``tag``)."""
    built: tuple[list[TroikaContactPublished], CandidatureSubmitted] = _kit().troika_cards(
        uuid.uuid4(), f"{i}.{tag}", territory_name=f"Vaulx-en-Velin {i}")
    return built


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
                        await service.keep_troika_card(uow, card)
                    await service.candidature_submitted(
                        uow, submitted, Envelope.wrap(submitted, sequence=1))
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
    claimed = [Notification(r["notification_id"], r["cause_event_id"], r["cause_type"],
                            r["template"], Recipient.model_validate(r["recipient"]),
                            r["candidature_id"], r["cite_id"], r["subject"], r["body_text"],
                            r["body_html"], r["attempts"], r["email"], r["contact_id"])
               for r in rows]
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


async def _raw_parallel(settings: NotificationsSettings, mails: list[tuple[str, bytes]],
                        lanes: int) -> None:
    """Baseline 3: ``lanes`` reused connections sending at once, each its share in turn."""
    await asyncio.gather(*(_raw_reused(settings, mails[i::lanes]) for i in range(lanes)))


async def _raw_reused(settings: NotificationsSettings, mails: list[tuple[str, bytes]]) -> None:
    """Baseline 2: one SMTP connection, ``sendmail`` for every message, one after another."""
    mail_from = email.utils.parseaddr(settings.mail_from)[1]
    smtp = aiosmtplib.SMTP(hostname=settings.smtp_host, port=settings.smtp_port,
                           timeout=settings.smtp_timeout_s, start_tls=False, use_tls=False)
    async with smtp:
        for to, message in mails:
            await smtp.sendmail(mail_from, [to], message)


def _time_relay(relay: OutboxRelay, passes: list[tuple[float, int]]) -> None:
    """Time the relay's passes (it looks ``publish_pending`` up on itself each pass)."""
    publish_pending = relay.publish_pending

    async def timed(conn: Conn, mark_conn: Conn | None = None) -> int:
        started = time.perf_counter()
        published = await publish_pending(conn, mark_conn)
        if published:
            passes.append((time.perf_counter() - started, published))
        return published

    relay.publish_pending = timed  # type: ignore[method-assign]


def _phases() -> dict[str, tuple[float, float]]:
    """(seconds, rounds) the sender's histogram holds so far, per phase."""
    found: dict[str, list[float]] = {}
    for metric in ROUND.collect():
        for sample in metric.samples:
            if sample.labels.get("channel") != "email":
                continue
            phase = sample.labels["phase"]
            if sample.name.endswith("_sum"):
                found.setdefault(phase, [0.0, 0.0])[0] = sample.value
            elif sample.name.endswith("_count"):
                found.setdefault(phase, [0.0, 0.0])[1] = sample.value
    return {k: (v[0], v[1]) for k, v in found.items()}


@dataclasses.dataclass
class _Run:
    wall: float
    """From the notifications falling due until every NotificationSent is acknowledged."""
    all_sent: float
    """From their falling due until the last is marked sent (as seen by the 20 ms poll)."""
    cpu: float
    """Share of ``wall`` the process spent on CPU."""
    phases: dict[str, tuple[float, float]]
    """(seconds, rounds) per phase of the sender's rounds during the run."""
    relay_passes: list[tuple[float, int]]


async def _ours(settings: NotificationsSettings, clock: FakeClock, n: int) -> _Run:
    """Start the service, let its relay lead, make the ``n`` notifications due; time until
    they are all sent and their NotificationSent all acknowledged by Kafka (or, with the
    relay off in ``settings``, until they are all sent)."""
    clock.now = DUE - timedelta(minutes=1)
    runtime = Runtime(definition, settings)
    passes: list[tuple[float, int]] = []
    await runtime.start()
    try:
        relay = runtime.relay
        if relay is not None:
            _time_relay(relay, passes)
            while not relay.is_leader:
                await asyncio.sleep(0.01)
        await asyncio.sleep(0.05)  # the sender's first round has found nothing due
        all_sent = 0.0
        before = _phases()
        cpu = time.process_time()
        started = time.perf_counter()
        clock.now = DUE
        while True:
            row = await runtime.pool.fetchrow(
                """SELECT (SELECT count(*) FROM notifications WHERE status = 'sent'),
                          (SELECT count(*) FROM outbox_history
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
        after = _phases()
    finally:
        await runtime.stop()
    phases = {k: (v[0] - before.get(k, (0.0, 0.0))[0], v[1] - before.get(k, (0.0, 0.0))[1])
              for k, v in after.items()}
    return _Run(wall, all_sent, busy, phases, passes)


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


def _where(run: _Run, n: int) -> str:
    """The run's time per mail, phase by phase (the sender's histogram)."""
    per = 1000 * run.wall / n
    parts = []
    for phase in ("claim", "send", "record"):
        seconds, rounds = run.phases.get(phase, (0.0, 0.0))
        ms = 1000 * seconds / n
        parts.append(f"{phase} {ms:.2f} ({ms / per:.0%})")
    rounds = int(run.phases.get("claim", (0.0, 0.0))[1])
    busy = sum(1000 * run.phases.get(p, (0.0, 0.0))[0] / n for p in ("claim", "send", "record"))
    return (f"{n / run.wall:,.0f}/s, {per:.2f} ms a mail (the process on CPU "
            f"{per * run.cpu:.2f}): {', '.join(parts)} over {rounds} rounds (those that "
            f"found nothing included); outside the rounds {per - busy:.2f} ms")


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
        lanes = settings.smtp_connections
        parallel_s = await _timed(lambda: _raw_parallel(settings, mails, lanes))
        ours = await _ours(settings, clock, n)
        console.print(
            f"  mean message {size:,.0f} B; raw aiosmtplib.send {n / send_s:,.0f}/s "
            f"({1000 * send_s / n:.2f} ms each), one reused connection {n / reused_s:,.0f}/s "
            f"({1000 * reused_s / n:.2f} ms each), {lanes} reused connections at once "
            f"{n / parallel_s:,.0f}/s; ours {n / ours.wall:,.0f}/s "
            f"({1000 * ours.wall / n:.2f} ms each; all sent after {ours.all_sent:.2f} s, "
            f"all acknowledged by Kafka after {ours.wall:.2f} s; the process on CPU "
            f"{ours.cpu:.0%} of the time)")

        off = await _ours((await fresh()).model_copy(update={"relay_enabled": False}),
                          clock, n)
        console.print(f"  where the time goes, per mail (raw aiosmtplib.send's CPU "
                      f"{send_cpu:.2f} ms a mail):")
        for what, run in (("relay on ", ours), ("relay off", off)):
            console.print(f"    {what}: {_where(run, n)}")
        passes = ours.relay_passes
        relayed = sum(k for _, k in passes)
        console.print(
            f"    relay on: {len(passes)} relay passes publishing "
            f"{relayed / max(1, len(passes)):.1f} events each, their wall time (mostly "
            f"awaiting Kafka, overlapping the sender) {1000 * sum(t for t, _ in passes) / n:.2f}"
            f" ms a mail; the relay's tail after the last mail "
            f"{1000 * (ours.wall - ours.all_sent):.0f} ms in all")
        return [
            Result("notifications: sender → sink, events acked", n,
                   n / ours.wall, "aiosmtplib.send, a connection each", n / send_s,
                   "report"),
            Result("notifications: sender → sink, events acked", n,
                   n / ours.wall, "aiosmtplib, one reused connection", n / reused_s,
                   "report"),
            Result("notifications: sender → sink, events acked", n,
                   n / ours.wall, f"aiosmtplib, {lanes} reused connections at once",
                   n / parallel_s, "report"),
        ]
    finally:
        for db in dbs:
            await drop_db(db)
        await delete_topics(infra.kafka, prefix)
        forgotten = await asyncio.to_thread(_forget_mails, infra, tag, since_ns)
        console.print(f"  (deleted this run's {forgotten:,} mails from the sink's maildir)")


if __name__ == "__main__":  # python -m bench.notifications_bench [N]
    run_alone(notifications_bench, 2_000)
