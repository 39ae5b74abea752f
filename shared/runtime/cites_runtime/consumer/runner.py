"""The runner: applies batches of records for one consumer, exactly once in effect.

One transaction per batch: the inbox rows ``(consumer, event_id)``, the aggregates'
positions and the handlers' effects (including the events they emit) commit together;
the caller commits Kafka offsets only afterwards. Transient failures are retried with
backoff, in place, within the batch's budget (:class:`GiveBack` when it is spent); a
batch that fails otherwise is applied one record at a time, and a record that a handler
refuses (a :class:`~cites_runtime.errors.DomainError`) or that keeps failing is
dead-lettered alone.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any
from uuid import UUID

import asyncpg
from opentelemetry.trace import SpanKind, Tracer
from prometheus_client import Counter, Histogram

from cites_contracts import Envelope

from .. import tracing
from ..db import Conn
from ..errors import DomainError
from ..kafka import Publisher
from ..liveness import Heartbeat
from ..logs import CURRENT_EVENT, get_logger
from ..retry import Backoff, is_transient
from ..uow import Cause, Clock, UnitOfWork, outbox_channel, utc_now
from .contexts import BatchContext, HandlerContext, TombstoneContext
from .dead_letters import LETTER_REFUSALS, DeadRecord, Origin, letter, without_values
from .records import Apply, Dead, RawRecord, Skip, Tombstone, classify, traceparent
from .registration import EventConsumer
from .replay import Origins, replayed

__all__ = ["ConsumerRunner", "GiveBack"]

log = get_logger(__name__)

APPLIED = Counter("consumer_events_applied_total", "Events applied", ["consumer", "type"])
DUPLICATES = Counter("consumer_duplicates_total", "Redelivered events absorbed", ["consumer"])
STALE = Counter("consumer_stale_total", "Events older than one applied for their aggregate, "
                "skipped", ["consumer"])
SKIPPED = Counter("consumer_events_skipped_total", "Events this consumer ignores", ["consumer"])
DEAD = Counter("consumer_dead_letters_total", "Records sent to the DLQ", ["consumer", "reason"])
RETRIES = Counter("consumer_retries_total", "Retried attempts", ["consumer", "kind"])
REWOUND = Counter("consumer_batches_rewound_total", "Batches given back to Kafka to be "
                  "fetched again, their retry budget spent", ["consumer"])
BATCH_SECONDS = Histogram("consumer_batch_seconds", "Time to apply one batch", ["consumer"])

_CHUNK = 1000
"""Records per inbox statement while streaming a batch (a set handler's runs end there
too). A batch of up to this many (``consumer_batch_size``: 500) is one chunk: one inbox
statement, each run whole. Smaller chunks would let PostgreSQL work on one while the next
is classified, but were measured no faster (docs/benchmarks.md, "Consumers")."""
_YIELD_EVERY = 100
"""Records classified between two turns of the event loop (the applying transaction's
round trips, the consumer's heartbeats, the relay)."""


class GiveBack(Exception):
    """The batch failed transiently for as long as its retry budget allows: nothing of it
    is done (no effect, no dead letter); rewind it and poll again."""


async def _once(items: list[Apply]) -> AsyncIterator[list[Apply]]:
    yield items


async def _drain(queue: asyncio.Queue[list[Apply] | None]) -> AsyncIterator[list[Apply]]:
    while (chunk := await queue.get()) is not None:
        yield chunk


class ConsumerRunner:
    """Applies batches of records for one :class:`EventConsumer`; never commits offsets."""

    def __init__(
        self,
        consumer: EventConsumer,
        pool: asyncpg.Pool,
        schema: str,
        dead_letters: Publisher,
        *,
        topic_prefix: str = "",
        max_attempts: int = 5,
        max_event_bytes: int = 512 * 1024,
        retry_budget_s: float = float("inf"),
        backoff_base: float = 0.1,
        backoff_cap: float = 10.0,
        clock: Clock = utc_now,
        zone: tzinfo = UTC,
        tracer: Tracer | None = None,
    ):
        self.consumer = consumer
        self.tracer = tracer
        """Tracing on: each batch is a span linked to its records' traces; each handler
        of one event a span child of its record's ``traceparent`` (what it emits carries
        the handler's); each run of a set-based handler a span in the batch's trace,
        linked to its events' (what it emits for an event, ``ctx.cause(e)``, carries that
        event's record's ``traceparent``: its trace goes on)."""
        self.name = consumer.name
        self.pool = pool
        self.channel = outbox_channel(schema)
        self.dead_letters = dead_letters
        self.dlq_topic = topic_prefix + consumer.dlq_topic
        self.max_attempts = max_attempts
        self.max_event_bytes = max_event_bytes
        """A record larger than this is no event of ours: dead-lettered unread; an event a
        handler would emit larger than this dead-letters the record that caused it."""
        self.retry_budget_s = retry_budget_s
        self._deadline = float("inf")
        self._backoff = (backoff_base, backoff_cap)
        self._clock, self._zone = clock, zone
        self.stale = 0
        """Events skipped as stale by this runner so far."""
        self.heartbeat = Heartbeat()
        """Busy while a batch is applied, beating as its handlers run and its retries
        wait (liveness: a batch without progress)."""
        self._intake = consumer.intake(topic_prefix=topic_prefix,
                                       max_event_bytes=max_event_bytes)
        """What :func:`classify` needs to know of the consumer."""
        self._personal = frozenset(topic_prefix + t.name for t in consumer.declared_topics
                                   if t.personal_data)
        """Where a value holds personal data: a dead letter keeps only key and headers."""
        self._tombstones = {topic_prefix + t.name: (t, fn)
                            for t, fn in consumer.tombstone_handlers.items()}
        """Each topic whose tombstones are applied: the topic as declared, its handler."""

    def _new_backoff(self) -> Backoff:
        return Backoff(*self._backoff)

    async def _pause(self, backoff: Backoff) -> None:
        """Wait before a transient retry, or give the batch back if its budget is spent."""
        delay = backoff.next_delay()
        self.heartbeat.beat()
        if time.monotonic() + delay > self._deadline:
            REWOUND.labels(self.name).inc()
            raise GiveBack(f"{self.name}: still failing after {self.retry_budget_s:.0f} s")
        await asyncio.sleep(delay)

    # -- entry points ---------------------------------------------------------------
    async def process_batch(self, records: Sequence[RawRecord]) -> None:
        """Apply or dead-letter every record; returns once all effects are durable.

        Classifying (CPU) and applying (mostly waiting for PostgreSQL) overlap when a
        batch has several chunks: a task classifies the records and feeds the applying
        transaction chunk by chunk, yielding every few records so the transaction's round
        trips progress meanwhile. Should that first attempt fail, the batch is retried
        (transient) or isolated one record at a time.
        """
        started = time.perf_counter()
        self.heartbeat.busy()
        try:
            if self.tracer is None:
                await self._process(records)
            else:
                with self.tracer.start_as_current_span(
                        f"{self.name} batch", kind=SpanKind.CONSUMER,
                        links=tracing.links([traceparent(r) for r in records]),
                        attributes={"messaging.system": "kafka",
                                    "messaging.consumer.group.name": self.name,
                                    "messaging.batch.message_count": len(records)}):
                    await self._process(records)
        finally:
            self.heartbeat.idle()
        BATCH_SECONDS.labels(self.name).observe(time.perf_counter() - started)

    async def _process(self, records: Sequence[RawRecord]) -> None:
        self._deadline = time.monotonic() + self.retry_budget_s
        items: list[Apply] = []
        dead: list[DeadRecord] = []
        chunks: asyncio.Queue[list[Apply] | None] = asyncio.Queue()
        classifier = asyncio.ensure_future(self._classify_all(records, items, dead, chunks))
        try:
            await self._apply_chunks(_drain(chunks))
        except asyncio.CancelledError:
            classifier.cancel()
            raise
        except Exception as exc:
            await classifier
            dead.extend(await self._apply(items, first_failure=exc))
        else:
            await classifier
        await self._dead_letter(dead)

    async def _classify_all(self, records: Sequence[RawRecord], items: list[Apply],
                            dead: list[DeadRecord],
                            chunks: asyncio.Queue[list[Apply] | None]) -> None:
        """Classify ``records`` in order: what to apply goes to ``items`` and, by chunks,
        to ``chunks`` (then None, whatever happens: the applier must never wait forever);
        what to dead-letter to ``dead``; the rest is counted as skipped."""
        try:
            skipped = 0
            chunk: list[Apply] = []
            for index, rec in enumerate(records):
                if index % _YIELD_EVERY == _YIELD_EVERY - 1:
                    await asyncio.sleep(0)  # let the applying transaction's I/O progress
                outcome = classify(rec, self._intake)
                if isinstance(outcome, Apply):
                    items.append(outcome)
                    chunk.append(outcome)
                    if len(chunk) >= _CHUNK:
                        chunks.put_nowait(chunk)
                        chunk = []
                elif isinstance(outcome, Skip):
                    skipped += 1
                else:
                    dead.append(self._dead(rec, outcome))
            if chunk:
                chunks.put_nowait(chunk)
            if skipped:
                SKIPPED.labels(self.name).inc(skipped)
        finally:
            chunks.put_nowait(None)

    def _dead(self, rec: RawRecord, outcome: Dead) -> DeadRecord:
        if outcome.defect:
            log.error("record not decodable, dead-lettering", consumer=self.name,
                      topic=rec.topic, partition=rec.partition, offset=rec.offset,
                      error=outcome.error)
        return DeadRecord(rec, outcome.reason, outcome.error, 0)

    async def replay(self, record: RawRecord, *, origins: Origins | None = None) -> str:
        """Apply one dead letter again (inbox and positions still apply). Returns
        'applied', 'duplicate' (applied before), 'stale' (its aggregate has applied a
        later event since: applying it now would undo that) or 'superseded' (below);
        raises when it fails again.

        A dead-lettered tombstone (``dlq.tombstone``) is applied again in its origin's
        name, once (its inbox id). Nothing tells whether its key got a newer record since:
        it forgets the key all the same — erasure errs on the side of forgetting.

        A letter whose value was withheld (``dlq.value_withheld``: personal data) is
        applied from its original record, read back with ``origins(topic, partition,
        offset)``, which returns None when that record is no longer on its compacted
        topic. Compaction removes a record only once a newer record of its key follows
        it, which this consumer applies (or has applied) in its turn: there is nothing left
        to apply, and the letter is 'superseded'. Raises, the letter then waiting for
        ``dlq skip``: without ``origins``; when the record read back is another one (its
        key or event id differs); when it is gone from a topic that is not compacted, or
        its offset is out of the partition's range (``origins`` raises)."""
        item = await replayed(record, self._intake, self.name, origins)
        if item is None:
            return "superseded"
        backoff = self._new_backoff()
        while True:
            try:
                before = self.stale
                applied = await self._apply_batch([item])
                if applied:
                    return "applied"
                return "stale" if self.stale > before else "duplicate"
            except Exception as exc:
                if not is_transient(exc):
                    raise
                await backoff.sleep()

    # -- applying -------------------------------------------------------------------
    async def _apply(self, items: list[Apply], first_failure: Exception | None = None
                     ) -> list[DeadRecord]:
        """Apply ``items`` in one transaction, retrying transient failures (the first one
        may have happened already: ``first_failure``); on any other failure, one at a
        time. Returns what is to be dead-lettered."""
        if not items:
            return []
        backoff = self._new_backoff()
        while True:
            try:
                if first_failure is not None:
                    exc, first_failure = first_failure, None
                    raise exc
                await self._apply_batch(items)
                return []
            except Exception as exc:
                if not is_transient(exc):
                    log.warning("batch failed, applying one by one", consumer=self.name,
                                error=repr(exc))
                    break
                RETRIES.labels(self.name, "transient").inc()
                log.warning("transient failure, retrying batch", consumer=self.name,
                            error=repr(exc))
                await self._pause(backoff)
        dead: list[DeadRecord] = []
        for item in items:
            failure = await self._apply_one(item)
            if failure is not None:
                dead.append(failure)
        return dead

    async def _apply_one(self, item: Apply) -> DeadRecord | None:
        backoff = self._new_backoff()
        attempts = 0
        subject = item.subject
        name = subject.key if isinstance(subject, Tombstone) else subject.aggregate_id
        while True:
            try:
                await self._apply_batch([item])
                return None
            except DomainError as exc:  # a rule refuses it: retrying cannot help
                return DeadRecord(item.record, "rejected", f"{name}: {exc.message}",
                                  attempts + 1)
            except Exception as exc:
                if is_transient(exc):
                    RETRIES.labels(self.name, "transient").inc()
                    await self._pause(backoff)
                    continue
                attempts += 1
                RETRIES.labels(self.name, "handler").inc()
                if attempts >= self.max_attempts:
                    log.error("handler keeps failing, dead-lettering", consumer=self.name,
                              event_id=str(item.id), type="tombstone" if isinstance(
                                  subject, Tombstone) else subject.type, error=repr(exc))
                    return DeadRecord(item.record, "handler-failed", repr(exc), attempts)
                await backoff.sleep()  # bounded by max_attempts, not by the budget

    async def _apply_batch(self, items: Sequence[Apply]) -> int:
        """One transaction: inbox rows + every new event's handler. Returns events applied."""
        return await self._apply_chunks(_once(list(items)))

    async def _apply_chunks(self, chunks: AsyncIterator[list[Apply]]) -> int:
        """One transaction over chunks as they come: for each, one statement writes the
        inbox rows of its events and locks their aggregates' positions, then the new ones'
        handlers run in order; the positions reached are written once, at the end.
        Returns the number of events applied.

        An event is applied once (the inbox), and never after a later event of its
        aggregate (the positions): a replayed dead letter that its aggregate has moved past
        is skipped as stale, so a replay cannot undo newer state; a redelivery whose inbox
        row was purged is stale too, which is what lets the inbox be purged."""
        seen: set[UUID] = set()
        by_type: dict[str, int] = {}
        positions: dict[tuple[str, str], int] = {}
        """Each aggregate's last applied sequence, as read (locked) or as applied since."""
        moved: set[tuple[str, str]] = set()
        received = applied = stale = 0
        async with self.pool.acquire() as conn, conn.transaction():
            # Events a handler emits are bound like a command's: one too large would be
            # refused by the broker for good, so its cause is dead-lettered instead.
            uow = UnitOfWork(conn, channel=self.channel, clock=self._clock, zone=self._zone,
                             max_event_bytes=self.max_event_bytes,
                             traced=self.tracer is not None)
            async for chunk in chunks:
                received += len(chunk)
                unique: dict[UUID, Apply] = {}  # in the chunk's order: a key's stays
                for item in chunk:
                    if item.id not in seen:
                        unique.setdefault(item.id, item)
                seen.update(unique)
                if not unique:
                    continue
                fresh = await self._admit(conn, unique, positions)
                todo: list[Apply] = []
                for ident, item in unique.items():
                    if ident not in fresh:
                        continue
                    env = item.subject
                    if not isinstance(env, Tombstone):
                        key = (env.data.spec.topic.name, env.aggregate_id)
                        if env.sequence <= positions.get(key, 0):
                            stale += 1
                            continue
                        positions[key] = env.sequence
                        moved.add(key)
                    todo.append(item)
                applied += await self._run(uow, todo, by_type)
            await self._advance(conn, {key: positions[key] for key in moved})
            await uow.flush()
        self._count(received, applied, stale, by_type)
        return applied

    def _count(self, received: int, applied: int, stale: int, by_type: dict[str, int]
               ) -> None:
        self.stale += stale
        if stale:
            STALE.labels(self.name).inc(stale)
            log.warning("stale events skipped: their aggregates applied later ones",
                        consumer=self.name, count=stale)
        if received - applied - stale:
            DUPLICATES.labels(self.name).inc(received - applied - stale)
        for type_, count in by_type.items():
            APPLIED.labels(self.name, type_).inc(count)

    async def _run(self, uow: UnitOfWork, todo: list[Apply], by_type: dict[str, int]) -> int:
        """Run the handlers of ``todo`` (new events and tombstones, in order): one call per
        event, or per run of a set-based handler's events (consecutive, of the classes of
        one registration, no aggregate twice). Returns the number applied."""
        many = self.consumer.many
        i, end = 0, len(todo)
        while i < end:
            self.heartbeat.beat()
            item = todo[i]
            i += 1
            env = item.subject
            if isinstance(env, Tombstone):
                await self._forget(uow, env)
                by_type["tombstone"] = by_type.get("tombstone", 0) + 1
                continue
            apply_many = many.get(type(env.data))
            if apply_many is None:
                await self._handle(uow, item.record, env)
                by_type[env.type] = by_type.get(env.type, 0) + 1
                continue
            run: list[Envelope[Any]] = [env]
            records: dict[UUID, RawRecord] = {env.event_id: item.record}
            aggregates = {env.aggregate_id}
            while i < end:
                following = todo[i].subject
                if (isinstance(following, Tombstone)
                        or many.get(type(following.data)) is not apply_many
                        or following.aggregate_id in aggregates):
                    break
                run.append(following)
                records[following.event_id] = todo[i].record
                aggregates.add(following.aggregate_id)
                i += 1
            if self.tracer is None:
                await apply_many(run, BatchContext(uow, records))
            else:  # one call for many events, of many traces: linked to each
                with self.tracer.start_as_current_span(
                        f"handle {env.type}", kind=SpanKind.CONSUMER,
                        links=tracing.links([traceparent(r) for r in records.values()]),
                        attributes={"messaging.consumer.group.name": self.name,
                                    "messaging.batch.message_count": len(run)}):
                    await apply_many(run, BatchContext(uow, records))
            by_type[env.type] = by_type.get(env.type, 0) + len(run)
        return len(todo)

    async def _handle(self, uow: UnitOfWork, rec: RawRecord, env: Envelope[Any]) -> None:
        """Run the one-event handler of ``env``: what it emits is caused by it, its log
        lines name it."""
        token = CURRENT_EVENT.set((env.event_id, env.correlation_id))
        try:
            handler = self.consumer.handlers[type(env.data)]
            if self.tracer is None:
                with uow.caused_by(Cause.of(env, traceparent(rec))):
                    await handler(env.data, HandlerContext(uow, env))
                return
            with self._span(self.tracer, f"handle {env.type}", traceparent(rec), rec.topic,
                            env.event_id) as tp, \
                    uow.caused_by(Cause.of(env, tp)):
                await handler(env.data, HandlerContext(uow, env))
        finally:
            CURRENT_EVENT.reset(token)

    @contextmanager
    def _span(self, tracer: Tracer, name: str, parent: str | None, topic: str, ident: UUID
              ) -> Iterator[str]:
        """A handler's span, current in the block: a child of its record's ``parent``
        traceparent (the producer's publish), so the trace goes on here. Yields its own
        ``traceparent``."""
        with tracer.start_as_current_span(
                name, context=tracing.parent(parent), kind=SpanKind.CONSUMER,
                attributes={"messaging.system": "kafka",
                            "messaging.consumer.group.name": self.name,
                            "messaging.destination.name": topic,
                            "messaging.message.id": str(ident)}) as span:
            yield tracing.traceparent_of(span)

    async def _forget(self, uow: UnitOfWork, tombstone: Tombstone) -> None:
        """Run the tombstone handler of ``tombstone``'s topic for its key. Events it emits
        are caused by the tombstone, in its producer's correlation when the header says one
        (else it starts its own)."""
        topic, handler = self._tombstones[tombstone.topic]
        ident = tombstone.id
        correlation = tombstone.correlation_id or ident
        token = CURRENT_EVENT.set((ident, correlation))
        try:
            if self.tracer is None:
                with uow.caused_by(Cause(correlation, ident, tombstone.traceparent)):
                    await handler(tombstone.key, TombstoneContext(uow, topic, ident))
                return
            with self._span(self.tracer, f"forget {topic.name}", tombstone.traceparent,
                            tombstone.topic, ident) as tp, \
                    uow.caused_by(Cause(correlation, ident, tp)):
                await handler(tombstone.key, TombstoneContext(uow, topic, ident))
        finally:
            CURRENT_EVENT.reset(token)

    async def _admit(self, conn: Conn, unique: dict[UUID, Apply],
                     positions: dict[tuple[str, str], int]) -> set[UUID]:
        """One round trip: the inbox rows of ``unique`` (returns the ids new to it), then
        the last applied sequence of each of the new events' aggregates, locked until
        commit (a replay and the live consumer take turns on one aggregate), into
        ``positions`` where it holds none yet."""
        streams: list[str | None] = []
        aggregates: list[str | None] = []
        for item in unique.values():
            env = item.subject
            if isinstance(env, Tombstone):  # an inbox row, no position
                streams.append(None)
                aggregates.append(None)
            else:
                streams.append(env.data.spec.topic.name)
                aggregates.append(env.aggregate_id)
        rows = await conn.fetch(
            """WITH fresh AS (
                   INSERT INTO processed_events (consumer, event_id)
                   SELECT $1, unnest($2::uuid[]) ON CONFLICT DO NOTHING
                   RETURNING event_id),
               held AS (
                   SELECT p.stream, p.aggregate_id, p.last_sequence
                     FROM consumer_positions p
                    WHERE p.consumer = $1
                      AND (p.stream, p.aggregate_id) IN (
                          SELECT k.stream, k.aggregate_id
                            FROM unnest($2::uuid[], $3::text[], $4::text[])
                                 AS k (event_id, stream, aggregate_id)
                            JOIN fresh USING (event_id))
                    ORDER BY p.stream, p.aggregate_id
                      FOR UPDATE OF p)
               SELECT event_id, NULL::text AS stream, NULL::text AS aggregate_id,
                      NULL::bigint AS last_sequence FROM fresh
               UNION ALL
               SELECT NULL::uuid, stream, aggregate_id, last_sequence FROM held""",
            self.name, list(unique), streams, aggregates)
        fresh: set[UUID] = set()
        for r in rows:
            if r["event_id"] is not None:
                fresh.add(r["event_id"])
            else:
                positions.setdefault((r["stream"], r["aggregate_id"]), r["last_sequence"])
        return fresh

    async def _advance(self, conn: Conn, positions: dict[tuple[str, str], int]) -> None:
        if not positions:
            return
        keys = sorted(positions)
        await conn.execute(
            """INSERT INTO consumer_positions AS p (consumer, stream, aggregate_id,
                                                    last_sequence)
               SELECT $1, * FROM unnest($2::text[], $3::text[], $4::bigint[])
               ON CONFLICT (consumer, stream, aggregate_id) DO UPDATE
               SET last_sequence = greatest(p.last_sequence, EXCLUDED.last_sequence)""",
            self.name, [k[0] for k in keys], [k[1] for k in keys],
            [positions[k] for k in keys])

    async def purge_inbox(self, retention: timedelta) -> int:
        """Forget inbox rows older than ``retention`` (the positions still stop a late
        redelivery of those events). Returns the rows deleted."""
        status = await self.pool.execute(
            "DELETE FROM processed_events WHERE consumer = $1 "
            "AND processed_at < now() - $2::interval",
            self.name, retention)
        return int(status.split()[-1])

    # -- dead letters ---------------------------------------------------------------
    async def dead_letter_unreadable(self, topic: str, partition: int, offsets: range,
                                     error: str) -> None:
        """Dead-letter records the Kafka client cannot read (``cites_runtime.polling``):
        one letter per offset, reason ``unreadable``, nothing of the record in it."""
        await self._dead_letter([DeadRecord(Origin(topic, partition, offset, None, [], b""),
                                            "unreadable", error, 0) for offset in offsets])

    async def _dead_letter(self, dead: list[DeadRecord]) -> None:
        """Publish the letters of ``dead``; returns once they are stored. The broker
        refusing them for their size sends them again without their records' values;
        any other failure is retried (never move past a record whose letter is not
        safely stored)."""
        if not dead:
            return
        now = datetime.now(UTC).isoformat()
        records = [letter(d, topic=self.dlq_topic, consumer=self.name,
                          personal=d.record.topic in self._personal,
                          tombstone=(d.record.value is None
                                     and d.record.topic in self._tombstones),
                          max_value_bytes=self.max_event_bytes, failed_at=now)
                   for d in dead]
        backoff = self._new_backoff()
        while True:
            try:
                await self.dead_letters.publish_batch(records)
                break
            except LETTER_REFUSALS as exc:
                log.error("dead letters refused by the broker, sent without their values",
                          consumer=self.name, error=repr(exc))
                records = without_values(records, exc)
            except Exception as exc:
                RETRIES.labels(self.name, "dead-letter").inc()
                log.warning("dead letter not stored yet, retrying", consumer=self.name,
                            error=repr(exc))
                await self._pause(backoff)
        for d in dead:
            DEAD.labels(self.name, d.reason).inc()
            log.warning("dead-lettered", consumer=self.name, reason=d.reason, error=d.error,
                        topic=d.record.topic, partition=d.record.partition,
                        offset=d.record.offset)
