"""Outbox relay: publishes committed outbox rows to Kafka, in order, at least once.

One relay per service is active at a time: it holds a session-level advisory lock on a
dedicated connection (if the process dies, PostgreSQL drops the lock with the
connection and a standby replica takes over). Rows are marked published only after
the broker acknowledged them, so a crash between publish and mark re-sends them; the
envelope's ``event_id`` lets consumers' inboxes absorb the duplicate.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from datetime import timedelta

import asyncpg
from aiokafka.errors import KafkaError
from prometheus_client import Counter, Gauge

from .db import Conn, quote_ident
from .kafka import OutboundRecord, Publisher
from .logs import get_logger
from .retry import Backoff, is_transient
from .uow import outbox_channel

__all__ = ["OutboxRelay"]

log = get_logger(__name__)

PUBLISHED = Counter("outbox_published_total", "Events published by the relay", ["schema"])
BACKLOG = Gauge("outbox_backlog", "Outbox rows not yet published", ["schema"])
LAG = Gauge("outbox_lag_seconds", "Age of the oldest unpublished outbox row", ["schema"])
LEADER = Gauge("outbox_relay_leader", "1 when this process holds the relay lock", ["schema"])
FAILURES = Counter("outbox_relay_failures_total", "Failed relay passes", ["schema"])


class OutboxRelay:
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
        self.is_leader = False
        self.published = 0
        self._wake = asyncio.Event()

    # -- one pass -----------------------------------------------------------------
    async def publish_pending(self, conn: Conn) -> int:
        """Publish the committed, unpublished rows that are safe to publish now, in id
        order; return how many were published.

        **Order.** One aggregate's rows get increasing ids in sequence order (writers of an
        aggregate serialise on its sequence row, see uow.flush), so publishing in id order
        keeps each aggregate's order — provided no earlier row can still appear. It can:
        a transaction still open when a batch passed its id commits later, and a later
        event of the same aggregate may commit before the next batch. So a pass takes a
        visibility barrier when it starts, ``xmin`` = the oldest transaction then still
        running (``pg_snapshot_xmin(pg_current_snapshot())``), and publishes, in id order,
        only rows written by transactions older than it (``txid < xmin``: all finished, so
        nothing earlier can appear among them), stopping at the first row that is not.
        What it stops at is the next pass's. A long writing transaction anywhere in the
        database therefore delays publication until it ends (never reorders it).

        **Speed.** Three stages overlap so that neither PostgreSQL nor Kafka waits for the
        other: fetch batches → hand them to the producer (in order) → once a batch's acks
        are all in, mark its rows. A row is never marked before the broker has it. Fetch
        and mark share ``conn`` (one at a time, under a lock).
        """
        # With stale statistics (a new table, or a backlog built while they said nothing
        # was pending) the planner answers each batch by scanning every pending row (bitmap
        # scan + sort to fetch, sequential scan to mark): O(backlog) per batch, slowest
        # exactly when catching up. Index walks keep a batch O(batch size) whatever the
        # statistics say. (Session settings: pools reset them when the connection returns.)
        await conn.execute(
            "SET enable_sort = off; SET enable_bitmapscan = off; SET enable_seqscan = off")
        lock = asyncio.Lock()
        fetched: asyncio.Queue[list[asyncpg.Record] | None] = asyncio.Queue(maxsize=2)
        sent: asyncio.Queue[tuple[asyncio.Future[None], list[int]] | None] = asyncio.Queue(
            maxsize=4)

        async def fetch() -> None:
            last_id = 0
            async with lock:
                barrier = int(await conn.fetchval(
                    "SELECT pg_snapshot_xmin(pg_current_snapshot())::text"))
            while True:
                async with lock:
                    rows = await conn.fetch(
                        f"""SELECT id, topic, key, value, event_type, event_version, event_id,
                                   correlation_id, traceparent, txid < $3::xid8 AS settled
                            FROM {self._s}.outbox WHERE published_at IS NULL AND id > $2
                            ORDER BY id LIMIT $1""",
                        self.batch_size, last_id, barrier,
                    )
                settled = next((i for i, r in enumerate(rows) if not r["settled"]), None)
                if settled is not None:  # an earlier row may still appear: next pass
                    rows = rows[:settled]
                if rows:
                    last_id = rows[-1]["id"]
                    await fetched.put(rows)
                if settled is not None or len(rows) < self.batch_size:
                    await fetched.put(None)
                    return

        async def send() -> None:
            prefix = self.topic_prefix
            while (rows := await fetched.get()) is not None:
                acked = await self.publisher.enqueue([
                    OutboundRecord(prefix + r["topic"], r["key"], r["value"], _headers(r))
                    for r in rows
                ])
                await sent.put((asyncio.ensure_future(acked), [r["id"] for r in rows]))
            await sent.put(None)

        async def mark() -> int:
            total = 0
            while (item := await sent.get()) is not None:
                acked, ids = item
                await acked
                async with lock:
                    await conn.execute(
                        f"UPDATE {self._s}.outbox SET published_at = now() "
                        "WHERE id = ANY($1::bigint[])",
                        ids,
                    )
                total += len(ids)
                self.published += len(ids)
                PUBLISHED.labels(self.schema).inc(len(ids))
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

    async def purge(self, conn: Conn) -> int:
        """Delete rows published longer ago than the retention."""
        status = await conn.execute(
            f"DELETE FROM {self._s}.outbox WHERE published_at < now() - $1::interval",
            self.retention,
        )
        return int(status.split()[-1])

    async def export_metrics(self, conn: Conn) -> None:
        row = await conn.fetchrow(
            f"""SELECT count(*) AS backlog,
                       coalesce(extract(epoch FROM now() - min(created_at)), 0) AS lag
                FROM {self._s}.outbox WHERE published_at IS NULL"""
        )
        assert row is not None
        BACKLOG.labels(self.schema).set(row["backlog"])
        LAG.labels(self.schema).set(float(row["lag"]))

    # -- the loop -----------------------------------------------------------------
    async def run(self) -> None:
        """Run forever: wait for leadership, then drain on NOTIFY or every poll interval."""
        backoff = Backoff()
        while True:
            try:
                await self._lead()
                backoff.reset()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                FAILURES.labels(self.schema).inc()
                if not is_transient(exc):
                    log.exception("relay failed", schema=self.schema)
                else:
                    log.warning("relay interrupted, retrying", schema=self.schema, error=str(exc))
                await backoff.sleep()

    async def _lead(self) -> None:
        conn: Conn = await asyncpg.connect(self.dsn)
        try:
            while not await conn.fetchval(
                "SELECT pg_try_advisory_lock(hashtext($1))", f"relay:{self.schema}"
            ):
                await asyncio.sleep(self.poll_interval)
            self._set_leader(True)
            log.info("relay is active", schema=self.schema)
            await conn.add_listener(outbox_channel(self.schema), self._on_notify)
            last_purge = last_metrics = 0.0
            broker_backoff = Backoff()
            while True:
                self._wake.clear()
                try:
                    await self.publish_pending(conn)
                    broker_backoff.reset()
                except asyncpg.PostgresError:
                    raise
                except Exception as exc:
                    if conn.is_closed() or not (is_transient(exc) or isinstance(exc, KafkaError)):
                        raise
                    # Broker away: keep the lock, nothing was marked, try again later.
                    FAILURES.labels(self.schema).inc()
                    log.warning("publish failed, will retry", schema=self.schema, error=repr(exc))
                    await broker_backoff.sleep()
                    continue
                now = time.monotonic()
                if now - last_metrics >= self.metrics_every:
                    await self.export_metrics(conn)
                    last_metrics = now
                if now - last_purge >= self.purge_every:
                    await self.purge(conn)
                    last_purge = now
                # asyncio.timeout, not wait_for: on Python 3.11 wait_for swallows a
                # cancellation that arrives as the NOTIFY wakes it (stop() then hangs).
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self.poll_interval):
                        await self._wake.wait()
        finally:
            self._set_leader(False)
            with contextlib.suppress(Exception):
                await asyncio.shield(conn.close(timeout=2))

    def _on_notify(self, *_: object) -> None:
        self._wake.set()

    def _set_leader(self, value: bool) -> None:
        self.is_leader = value
        LEADER.labels(self.schema).set(1 if value else 0)


def _headers(r: asyncpg.Record) -> list[tuple[str, bytes]]:
    h = [
        ("type", r["event_type"].encode()),
        ("version", str(r["event_version"]).encode()),
        ("event_id", str(r["event_id"]).encode()),
        ("correlation_id", str(r["correlation_id"]).encode()),
    ]
    if r["traceparent"]:
        h.append(("traceparent", r["traceparent"].encode()))
    return h
