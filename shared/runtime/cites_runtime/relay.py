"""Outbox relay: publishes committed outbox rows to Kafka, in order, at least once.

One relay per service is active at a time: it holds its schema's ``relay_leader`` table
locked, in a transaction left open on a session of its own. Only the service's role can
lock that table (no other role has USAGE on the schema), so no other service can hold the
relay back. If the process dies, PostgreSQL drops the lock with the session and a standby
replica takes over; if that session ends under a living relay, the relay stops publishing
at once. Rows are marked published only after the broker acknowledged them, so a crash
between publish and mark re-sends them; the envelope's ``event_id`` lets consumers'
inboxes absorb the duplicate.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import asyncpg
from aiokafka.errors import (
    CorruptRecordException,
    InvalidMessageError,
    InvalidTimestampError,
    KafkaError,
    KafkaTimeoutError,
    MessageSizeTooLargeError,
    RecordListTooLargeError,
    RecordTooLargeError,
    UnsupportedForMessageFormatError,
)
from opentelemetry.trace import Span, SpanKind, Tracer
from prometheus_client import Counter, Gauge

from cites_contracts import Topic
from cites_contracts.topics import ROLL_KEY, ROLL_NUDGE_S

from . import tracing
from .db import Conn, quote_ident
from .kafka import OutboundRecord, Publisher
from .liveness import Heartbeat
from .logs import get_logger
from .retry import Backoff, is_transient
from .uow import outbox_channel

__all__ = ["ROW_REFUSALS", "LeadershipLost", "OutboxRelay"]

ROW_REFUSALS: tuple[type[KafkaError], ...] = (
    MessageSizeTooLargeError, RecordTooLargeError, RecordListTooLargeError,
    CorruptRecordException, InvalidMessageError, InvalidTimestampError,
    UnsupportedForMessageFormatError)
"""What the broker refuses for good because of a record itself: that row is parked and
the others go on. A timeout is the broker away: the relay keeps its lock and tries again.
Any other error the client does not retry (an ACL missing, a topic that does not exist)
is no row's fault either: nothing is parked, the relay recreates its producer, gives its
lock up and tries again later (or a standby does)."""

log = get_logger(__name__)


class LeadershipLost(ConnectionError):
    """The session holding the relay's lock ended, or stopped answering: the relay stops
    publishing, and tries to lead again (a standby may lead meanwhile)."""


_INDEX_WALK_SETTINGS = {"enable_sort": "off", "enable_bitmapscan": "off",
                        "enable_seqscan": "off", "jit": "off"}
"""The fetching session's planner settings (see :meth:`OutboxRelay.publish_pending`). A
plan these price out of reach (a sequential scan of a one-row table) must not look
expensive enough to be JIT-compiled: compiling costs far more than the fetch itself."""
_INDEX_WALKS = "; ".join(f"SET {k} = {v}" for k, v in _INDEX_WALK_SETTINGS.items())

PUBLISHED = Counter("outbox_published_total", "Events published by the relay", ["schema"])
PARKED = Counter("outbox_parked_total", "Rows the broker refused for good, parked",
                 ["schema"])
BACKLOG = Gauge("outbox_backlog", "Outbox rows not yet published", ["schema"])
LAG = Gauge("outbox_lag_seconds", "Age of the oldest unpublished outbox row", ["schema"])
PARKED_ROWS = Gauge("outbox_parked_rows", "Outbox rows parked (refused by the broker for good)",
                    ["schema"])
LEADER = Gauge("outbox_relay_leader", "1 when this process holds the relay lock", ["schema"])
FAILURES = Counter("outbox_relay_failures_total", "Failed relay passes", ["schema"])


def _mark_statements(s: str) -> tuple[str, str]:
    """The statements marking published rows (``$1``: their ids) in schema ``s`` (quoted):
    deleting them, or moving them to ``outbox_published`` (kept for the retention); both
    count them in ``outbox_relay``."""
    columns = ("id, event_id, topic, key, value, event_type, event_version, "
               "correlation_id, traceparent, created_at, txid")
    drop = f"""
            WITH done AS (DELETE FROM {s}.outbox WHERE id = ANY($1::bigint[]) RETURNING 1)
            UPDATE {s}.outbox_relay SET published_at = now(),
                                        published = published + (SELECT count(*) FROM done)
             WHERE one"""
    keep = f"""
            WITH done AS (DELETE FROM {s}.outbox WHERE id = ANY($1::bigint[])
                          RETURNING {columns}),
                 kept AS (INSERT INTO {s}.outbox_published ({columns}, published_at)
                          SELECT {columns}, now() FROM done)
            UPDATE {s}.outbox_relay SET published_at = now(),
                                        published = published + (SELECT count(*) FROM done)
             WHERE one"""
    return drop, keep


class OutboxRelay:
    """The relay of one service's outbox (``schema``) to Kafka through ``publisher``: it
    leads (see the module's documentation), publishes each pass in id order, marks what
    the broker acknowledged, parks what it refuses for good."""

    def __init__(
        self,
        dsn: str,
        schema: str,
        publisher: Publisher,
        *,
        topic_prefix: str = "",
        batch_size: int = 2000,
        poll_interval: float = 1.0,
        retention: timedelta = timedelta(days=7),
        purge_every: float = 300.0,
        metrics_every: float = 5.0,
        command_timeout: float = 60.0,
        lock_check_every: float = 5.0,
        nudge_topics: Sequence[Topic] = (),
        nudge_every: float = ROLL_NUDGE_S,
        tracer: Tracer | None = None,
    ):
        self.dsn = dsn
        self.schema = schema
        self._s = quote_ident(schema)
        self.publisher = publisher
        self.topic_prefix = topic_prefix
        self.batch_size = batch_size
        self.poll_interval = poll_interval
        self.retention = retention
        self.purge_every = purge_every
        self.metrics_every = metrics_every
        self.command_timeout = command_timeout
        self.lock_check_every = lock_check_every
        """How often the leader checks that its lock's session still answers (see
        :meth:`_watch_lock`)."""
        self.nudge_topics = tuple(nudge_topics)
        """Personal-data topics it produces: their segments must roll for compaction to
        erase (see :meth:`nudge`)."""
        self.nudge_every = nudge_every
        self.tracer = tracer
        """Tracing on: each row published is a span, child of the row's ``traceparent``,
        ended when the broker acknowledged it; the record carries the span's."""
        self.keeps_published = retention > timedelta(0)
        """Whether published rows are kept (in ``outbox_published``) for the retention."""
        self._take_lock_sql = ("SET LOCAL idle_in_transaction_session_timeout = 0; "
                               f"LOCK TABLE {self._s}.relay_leader IN EXCLUSIVE MODE NOWAIT")
        self._mark_drop, self._mark_keep = _mark_statements(self._s)
        self.waits_on: int | None = None
        """The transaction of the row the last pass stopped at (it was not below the
        barrier), if it stopped at one: the next pass can publish it once the barrier is
        above this."""
        self.is_leader = False
        self.published = 0
        self.advanced_at = time.monotonic()
        """When the relay last marked rows published (monotonic clock)."""
        self._wake = asyncio.Event()
        self.heartbeat = Heartbeat(every=poll_interval)
        """Beats as the relay's loop turns — a pass, a batch marked, a wait, a retry — at
        least every poll interval (liveness)."""
        self._set_leader(False)  # a series from the start: a standby's 0 is seen too

    # -- one pass -----------------------------------------------------------------
    async def publish_pending(self, conn: Conn, mark_conn: Conn | None = None) -> int:
        """Publish the committed, unpublished rows that are safe to publish now, in id
        order; return how many were published.

        **Order.** One aggregate's rows get increasing ids in sequence order (writers of an
        aggregate serialise on its sequence row, see uow.flush), so publishing in id order
        keeps each aggregate's order — provided no earlier row can still appear. It can:
        a transaction still open when a batch passed its id commits later, and a later
        event of the same aggregate may commit before the next batch. So a pass takes a
        visibility barrier in its first fetch's snapshot S (:data:`_BARRIER`): the oldest
        transaction S sees running that may write this outbox, or S's ``xmax`` if none;
        and publishes, in id order, only rows of transactions below it, stopping at the
        first row that is not. What it stops at is the next pass's (:attr:`waits_on`).

        Why that holds: a transaction below the barrier either had finished when S was
        taken (below ``xmax``, not running) — then its rows, and every earlier row of
        their aggregates (whose writers committed before it wrote), are visible to S and
        to each later fetch of the pass, so none can appear behind a published row — or
        it writes no row here. Only sessions logged in as the service's role write its
        outbox (no other role has USAGE on its schema; a superuser writing it by hand is
        outside this rule), so the barrier passes over a running transaction only when
        ``pg_stat_activity`` shows a session of another role holding it and none of this
        role. That view is read after S, in the same statement: a transaction that ended
        in between (it may have committed rows S does not see) is no longer shown and is
        waited for; a stale view (it is read once per transaction: the fetch runs in
        autocommit) could only make the barrier lower. A long transaction of this role
        delays publication until it ends (never reorders it); another service's, or an
        operator's, delays nothing.

        **At least once.** A row leaves the outbox (deleted; moved to ``outbox_published``
        when published events are kept, see ``retention``) only once the broker has
        acknowledged it: a crash before that sends it again.

        **Speed.** Three stages overlap so that neither PostgreSQL nor Kafka waits for the
        other: fetch batches on ``conn`` → hand them to the producer (in order) → once a
        batch's acks are all in, mark its rows on ``mark_conn`` (on ``conn`` too when not
        given, one statement at a time). A row is never marked before the broker has it.
        """
        # With stale statistics (a new table, or a backlog built while they said nothing
        # was pending) the planner answers each batch by scanning every pending row (bitmap
        # scan + sort to fetch, sequential scan to mark): O(backlog) per batch, slowest
        # exactly when catching up. Index walks keep a batch O(batch size) whatever the
        # statistics say. (Session settings: pools reset them when the connection returns;
        # the relay's own fetching session has them from its start, see _connect.)
        await conn.execute(_INDEX_WALKS)
        return await self._publish(conn, mark_conn)

    async def _publish(self, conn: Conn, mark_conn: Conn | None) -> int:
        shared = mark_conn is None
        marker_conn = conn if mark_conn is None else mark_conn
        lock: contextlib.AbstractAsyncContextManager[Any] = (
            asyncio.Lock() if shared else contextlib.nullcontext())
        fetched: asyncio.Queue[list[asyncpg.Record] | None] = asyncio.Queue(maxsize=2)
        sent: asyncio.Queue[tuple[asyncio.Future[None], list[int], list[Span]] | None] = \
            asyncio.Queue(maxsize=4)

        async def fetch() -> None:
            barrier: int | None = None
            last_id = 0
            self.waits_on = None
            while True:
                async with lock:
                    rows, cut, barrier = await self._settled_rows(conn, barrier, last_id,
                                                                  self.batch_size)
                if rows:
                    last_id = rows[-1]["id"]
                    await fetched.put(rows)
                if cut is not None or len(rows) < self.batch_size:
                    self.waits_on = cut
                    await fetched.put(None)
                    return

        async def send() -> None:
            while (rows := await fetched.get()) is not None:
                spans: list[Span] = []
                acked = await self.publisher.enqueue(self._records_of(rows, spans))
                await sent.put((asyncio.ensure_future(acked), [r["id"] for r in rows], spans))
            await sent.put(None)

        async def mark() -> int:
            total = 0
            while (item := await sent.get()) is not None:
                acked, ids, spans = item
                await acked
                for span in spans:
                    span.end()
                async with lock:
                    await self._mark(marker_conn, ids)
                total += len(ids)
            return total

        stages = [asyncio.ensure_future(fetch()), asyncio.ensure_future(send())]
        marker = asyncio.ensure_future(mark())
        try:
            await asyncio.gather(*stages, marker)
        except BaseException:
            for task in (*stages, marker):
                task.cancel()
            await asyncio.gather(*stages, marker, return_exceptions=True)
            while not sent.empty():  # acks nobody will wait for: observe, don't leak
                item = sent.get_nowait()
                if item is not None:
                    item[0].cancel()
            raise
        return marker.result()

    async def publish_one_by_one(self, conn: Conn, mark_conn: Conn | None = None
                                 ) -> tuple[int, int]:
        """After the broker refused a batch for good: publish the next safe rows one at a
        time on a fresh producer, parking each the broker refuses for good (with its
        error) so that the rows after it go on. Returns (published, parked).

        Parking breaks the order of that row's aggregate (a consumer sees a gap in its
        sequence); it is the last resort — ``uow.emit`` already refuses events over the
        size limit — and each parked row is listed (``python -m <service> outbox parked``)
        and, once the cause is fixed, handed back with its sequence while no later event of
        its aggregate went out, else re-sequenced on request (``cites_runtime.parked``).
        """
        await self.publisher.reset()
        rows, _, _ = await self._settled_rows(conn, None, 0, self.batch_size)
        marker_conn = conn if mark_conn is None else mark_conn
        published = parked = 0
        for row in rows:
            try:
                await self.publisher.publish_batch([self._record(row)])
            except Exception as exc:
                if not isinstance(exc, ROW_REFUSALS):
                    raise  # not this row's fault: park nothing (see ROW_REFUSALS)
                await self.publisher.reset()  # the refused batch left it out of sequence
                await marker_conn.execute(
                    f"UPDATE {self._s}.outbox SET parked_at = now(), park_error = $2 "
                    "WHERE id = $1", row["id"], repr(exc)[:2000])
                parked += 1
                PARKED.labels(self.schema).inc()
                log.error("event parked: the broker refuses it", schema=self.schema,
                          outbox_id=row["id"], type=(row["h_type"] or b"tombstone").decode(),
                          event_id=row["h_event_id"].decode(), error=repr(exc))
                continue
            await self._mark(marker_conn, [row["id"]])
            published += 1
        return published, parked

    async def _settled_rows(self, conn: Conn, barrier: int | None, after: int, limit: int
                            ) -> tuple[list[asyncpg.Record], int | None, int | None]:
        """Up to ``limit`` pending rows after id ``after``, in id order, cut before the first
        one the barrier does not clear; and that row's transaction (None if no cut), and
        the barrier — the pass's first fetch (``barrier`` None) takes it, in its own
        snapshot: rows of this role's transactions below it are all visible to this
        statement."""
        rows = await conn.fetch(
            f"""WITH b AS (SELECT coalesce($3::xid8, {_BARRIER}) AS barrier)
                SELECT id, topic, key, value, {_HEADERS},
                       txid < (SELECT barrier FROM b) AS settled, txid,
                       (SELECT barrier FROM b) AS barrier
                FROM {self._s}.outbox
                WHERE published_at IS NULL AND parked_at IS NULL AND id > $2
                ORDER BY id LIMIT $1""",
            limit, after, barrier,
        )
        if rows:
            barrier = rows[0]["barrier"]
        for i, r in enumerate(rows):
            if not r["settled"]:  # an earlier row may still appear: the next pass's
                return rows[:i], r["txid"], barrier
        return rows, None, barrier

    def _records_of(self, rows: list[asyncpg.Record], spans: list[Span]
                    ) -> list[OutboundRecord]:
        """The records of ``rows``; with tracing on, each one's publish span started
        (into ``spans``, ended once the broker acknowledged it)."""
        if self.tracer is None:
            return [self._record(r) for r in rows]
        return self._traced_records(self.tracer, rows, spans)

    def _traced_records(self, tracer: Tracer, rows: list[asyncpg.Record],
                        spans: list[Span]) -> list[OutboundRecord]:
        """The records of ``rows``, each with a publish span started (into ``spans``): a
        child of the row's ``traceparent``, whose own the record carries."""
        records = []
        for r in rows:
            stored = r[6].decode() if r[6] is not None else None
            span = tracer.start_span(f"publish {r[1]}", context=tracing.parent(stored),
                                     kind=SpanKind.PRODUCER, attributes={
                                         "messaging.system": "kafka",
                                         "messaging.destination.name": r[1],
                                         "messaging.message.id": r[4].decode()})
            spans.append(span)
            records.append(self._record(r, tracing.traceparent_of(span).encode()))
        return records

    def _record(self, r: asyncpg.Record, traceparent: bytes | None = None) -> OutboundRecord:
        # The header values come as bytes from the fetch (_HEADERS, by position): building
        # them here (str(uuid), encode) was the relay's largest Python cost per event.
        headers = [("event_id", r[4]), ("correlation_id", r[5])]
        if traceparent is not None or r[6] is not None:
            headers.append(("traceparent", traceparent or r[6]))
        if r[7] is not None:  # a tombstone is no event: no type or version
            headers[:0] = [("type", r[7]), ("version", r[8])]
        return OutboundRecord(self.topic_prefix + r[1], r[2], r[3], headers)

    async def _mark(self, conn: Conn, ids: list[int]) -> None:
        """The rows are on Kafka: out of the outbox, in one statement (kept in
        ``outbox_published`` for the retention, if any), and the relay's progress noted."""
        await conn.execute(self._mark_keep if self.keeps_published else self._mark_drop, ids)
        self.published += len(ids)
        self.advanced_at = time.monotonic()
        self.heartbeat.beat()
        PUBLISHED.labels(self.schema).inc(len(ids))

    async def nudge(self) -> None:
        """Append a roll nudge — a tombstone of :data:`~cites_contracts.topics.ROLL_KEY`,
        which no person has — to every partition of each personal-data topic.

        Kafka rolls a segment only when a record is appended to it, and never compacts the
        active one: without a later record, an erased person's earlier value and its
        tombstone could sit in an active segment for ever. These appends bound it
        (``ERASURE_PROMISE``). Consumers skip tombstones; compaction drops the nudges.
        """
        records = [OutboundRecord(self.topic_prefix + t.name, ROLL_KEY, None, [], partition=p)
                   for t in self.nudge_topics for p in range(t.partitions)]
        if records:
            await self.publisher.publish_batch(records)

    async def purge(self, conn: Conn) -> int:
        """Delete kept rows published longer ago than the retention."""
        status = await conn.execute(
            f"DELETE FROM {self._s}.outbox_published WHERE published_at < now() - $1::interval",
            self.retention,
        )
        return int(status.split()[-1])

    async def export_metrics(self, conn: Conn) -> None:
        row = await conn.fetchrow(
            f"""SELECT count(*) FILTER (WHERE parked_at IS NULL) AS backlog,
                       count(*) FILTER (WHERE parked_at IS NOT NULL) AS parked,
                       coalesce(extract(epoch FROM now() - min(created_at)
                                        FILTER (WHERE parked_at IS NULL)), 0) AS lag
                FROM {self._s}.outbox WHERE published_at IS NULL"""
        )
        assert row is not None
        BACKLOG.labels(self.schema).set(row["backlog"])
        PARKED_ROWS.labels(self.schema).set(row["parked"])
        LAG.labels(self.schema).set(float(row["lag"]))

    # -- the loop -----------------------------------------------------------------
    async def run(self) -> None:
        """Run forever: wait for leadership, then drain on NOTIFY or every poll interval."""
        backoff = Backoff()
        while True:
            self.heartbeat.beat()
            try:
                await self._lead()
                backoff.reset()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                # The lock went with the connection: a standby may lead meanwhile.
                FAILURES.labels(self.schema).inc()
                if not is_transient(exc):
                    log.exception("relay failed", schema=self.schema)
                    with contextlib.suppress(Exception):  # whatever state it is left in
                        await self.publisher.reset()
                else:
                    log.warning("relay interrupted, retrying", schema=self.schema, error=str(exc))
                await backoff.sleep()

    async def _connect(self, *, fetching: bool = False) -> Conn:
        """One of the relay's own sessions: one holds the leadership lock, so a relay that
        vanished must lose it soon (server-side TCP keepalives end a dead client's session
        in about a minute) and a server that stopped answering must not hold the relay
        (commands time out, the relay reconnects). One fetches (in autocommit: LISTEN's
        notifications arrive only between transactions), one marks, so that marking a
        batch overlaps fetching the next."""
        conn: Conn = await asyncpg.connect(
            self.dsn, command_timeout=self.command_timeout,
            server_settings={"application_name": f"cites-relay-{self.schema}",
                             "tcp_keepalives_idle": "30", "tcp_keepalives_interval": "10",
                             "tcp_keepalives_count": "3",
                             **(_INDEX_WALK_SETTINGS if fetching else {})})
        return conn

    async def _lead(self) -> None:
        holder = await self._connect()
        conn: Conn | None = None
        mark_conn: Conn | None = None
        try:
            lost = asyncio.Event()
            holder.add_termination_listener(lambda _: lost.set())
            while not await self._take_lock(holder):
                self.heartbeat.beat()  # a standby is live too
                await asyncio.sleep(self.poll_interval)
            conn = await self._connect(fetching=True)
            mark_conn = await self._connect()
            self._set_leader(True)
            log.info("relay is active", schema=self.schema)
            await conn.add_listener(outbox_channel(self.schema), self._on_notify)
            serving = asyncio.ensure_future(self._serve(conn, mark_conn))
            watching = asyncio.ensure_future(self._watch_lock(holder, lost))
            try:
                await asyncio.wait([serving, watching], return_when=asyncio.FIRST_COMPLETED)
            finally:
                for task in (serving, watching):
                    task.cancel()
                await asyncio.gather(serving, watching, return_exceptions=True)
            # Whichever ended first (neither returns) says why, to run().
            (watching if not watching.cancelled() else serving).result()
        finally:
            self._set_leader(False)
            for c in (mark_conn, conn, holder):
                if c is not None:
                    with contextlib.suppress(Exception):
                        await asyncio.shield(c.close(timeout=2))

    async def _take_lock(self, holder: Conn) -> bool:
        """Lock the schema's ``relay_leader`` table in a transaction left open on
        ``holder``; False when another relay of the service holds it. Only the service's
        role can lock it: no other role can hold the relay back."""
        tx = holder.transaction()
        await tx.start()
        try:
            # EXCLUSIVE: conflicts with itself, not with readers (pg_dump's ACCESS SHARE).
            await holder.execute(self._take_lock_sql)
        except asyncpg.LockNotAvailableError:
            await tx.rollback()
            return False
        return True

    async def _watch_lock(self, holder: Conn, lost: asyncio.Event) -> None:
        """Raise :class:`LeadershipLost` when the session holding the lock has ended: at
        once when the connection closes, or when a check every ``lock_check_every`` is
        not answered within as long (a connection that died without closing)."""
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.lock_check_every):
                    await lost.wait()
                raise LeadershipLost("the session holding the relay's lock ended")
            try:
                await holder.fetchval("SELECT 1", timeout=self.lock_check_every)
            except Exception as exc:
                raise LeadershipLost(
                    f"the session holding the relay's lock does not answer: {exc!r}") from exc

    async def _serve(self, conn: Conn, mark_conn: Conn) -> None:
        """Drain on NOTIFY or every poll interval while leading; raises only."""
        last_purge = last_metrics = last_nudge = 0.0
        broker_backoff = Backoff()
        while True:
            self.heartbeat.beat()
            self._wake.clear()
            try:
                await self._publish(conn, mark_conn)
                broker_backoff.reset()
            except (asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError):
                raise  # the database side: reconnect (and take the lock again)
            except Exception as exc:
                if conn.is_closed() or mark_conn.is_closed():
                    raise
                FAILURES.labels(self.schema).inc()
                if isinstance(exc, ROW_REFUSALS):
                    # The broker refused a batch for good: find the row, park it, go on.
                    log.warning("the broker refused a batch, publishing one by one",
                                schema=self.schema, error=repr(exc))
                    await self.publish_one_by_one(conn, mark_conn)
                    continue
                if not is_transient(exc) and not isinstance(exc, KafkaTimeoutError):
                    raise  # run(): a fresh producer, the lock given up, later again
                # Broker away: keep the lock, nothing was marked, try again later.
                log.warning("publish failed, will retry", schema=self.schema, error=repr(exc))
                await broker_backoff.sleep()
                continue
            now = time.monotonic()
            if now - last_metrics >= self.metrics_every:
                await self.export_metrics(mark_conn)
                last_metrics = now
            if now - last_purge >= self.purge_every:
                await self.purge(mark_conn)
                last_purge = now
            if self.nudge_topics and now - last_nudge >= self.nudge_every:
                try:
                    await self.nudge()
                except Exception as exc:  # the next pass tries again; rows come first
                    log.warning("roll nudge failed", schema=self.schema, error=repr(exc))
                last_nudge = now
            await self._until_due(conn)

    async def _until_due(self, conn: Conn) -> None:
        """Wait for the next pass: a NOTIFY (a commit wrote rows), the poll interval, or,
        when the last pass stopped at a row because an older transaction of this role was
        still running (:attr:`waits_on`), the moment the barrier clears it — checked after
        1 ms, then at doubling intervals up to 100 ms. That transaction may write no row:
        no NOTIFY would tell its end."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.poll_interval
        delay = 0.001
        while True:
            self.heartbeat.beat()
            left = deadline - loop.time()
            if self.waits_on is not None:
                left = min(left, delay)
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for swallows a
            # cancellation that arrives as the NOTIFY wakes it (stop() then hangs).
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(left):
                    await self._wake.wait()
                return
            if loop.time() >= deadline or self.waits_on is None:
                return
            if await conn.fetchval(f"SELECT {_BARRIER} > $1::xid8", self.waits_on):
                return
            delay = min(delay * 2, 0.1)

    def _on_notify(self, *_: object) -> None:
        self._wake.set()

    def _set_leader(self, value: bool) -> None:
        self.is_leader = value
        LEADER.labels(self.schema).set(1 if value else 0)


_BARRIER = """(SELECT coalesce(min(x), pg_snapshot_xmax(pg_current_snapshot()))
                FROM pg_snapshot_xip(pg_current_snapshot()) AS x
               WHERE x::xid NOT IN (SELECT backend_xid FROM pg_stat_activity
                                     WHERE backend_xid IS NOT NULL
                                     GROUP BY backend_xid
                                    HAVING bool_or(usename = current_user) IS NOT TRUE))"""
"""The relay's barrier, in the statement's snapshot: the oldest transaction it lists as
running (``pg_snapshot_xip``), passing over those that only sessions of other roles hold;
else its ``xmax`` (see :meth:`OutboxRelay.publish_pending`). ``backend_xid`` is the low 32
bits of the ``xid8`` (unique among running transactions); sessions with no role
(background workers) count as another role's. The set holds no NULL: ``NOT IN`` would then
be NULL for every running transaction, and the barrier ``xmax``."""

_HEADERS = """convert_to(event_id::text, 'UTF8') AS h_event_id,
              convert_to(correlation_id::text, 'UTF8') AS h_correlation_id,
              convert_to(nullif(traceparent, ''), 'UTF8') AS h_traceparent,
              CASE WHEN value IS NOT NULL THEN convert_to(event_type, 'UTF8') END AS h_type,
              convert_to(event_version::text, 'UTF8') AS h_version"""
"""Columns 4 to 8 of the relay's fetch: its records' header values, as bytes."""


def _headers(r: asyncpg.Record) -> list[tuple[str, bytes]]:
    """The headers of an outbox row read by name (the relay's records get the same ones
    from :data:`_HEADERS`)."""
    # A tombstone is no event: no type or version a consumer could route on.
    h = [] if r["value"] is None else [
        ("type", r["event_type"].encode()),
        ("version", str(r["event_version"]).encode()),
    ]
    h += [
        ("event_id", str(r["event_id"]).encode()),
        ("correlation_id", str(r["correlation_id"]).encode()),
    ]
    if r["traceparent"]:
        h.append(("traceparent", r["traceparent"].encode()))
    return h
