"""Unit of work: one transaction holding a use case's state changes and its events.

A use case writes its rows through ``uow.conn`` and calls ``uow.emit(event)``; the
events are numbered per aggregate and appended to the outbox when the block ends, in
the same transaction. Roll back (raise) and neither the state nor the events exist.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, tzinfo
from uuid import UUID, uuid4

import asyncpg
from opentelemetry import trace

from cites_contracts import Envelope, Event, Topic, encode
from cites_contracts.codec import EncodedRecord

from .db import Conn
from .errors import EventTooLarge

TOMBSTONE = "tombstone"
"""``event_type`` of an outbox row that erases its key (null value, no event)."""

__all__ = ["TOMBSTONE", "Cause", "Clock", "UnitOfWork", "civil_date", "new_traceparent",
           "unit_of_work", "utc_now"]

Clock = Callable[[], datetime]
"""Returns the current instant, aware. Injected (settings.clock) so tests can move time."""


def utc_now() -> datetime:
    return datetime.now(UTC)


def civil_date(instant: datetime, zone: tzinfo) -> date:
    """The date ``instant`` falls on where the programme is run (``settings.zone``):
    ``uow.today``, and ``Runtime.today()`` for reads outside a unit of work."""
    return instant.astimezone(zone).date()


def new_traceparent(parent: str | None = None) -> str:
    """W3C traceparent for a new span: same trace as ``parent`` when given."""
    trace_id = secrets.token_hex(16)
    if parent:
        parts = parent.split("-")
        if len(parts) == 4 and len(parts[1]) == 32:
            trace_id = parts[1]
    return f"00-{trace_id}-{secrets.token_hex(8)}-01"


@dataclass(frozen=True, slots=True)
class Cause:
    """Why events are being emitted: the incoming event or request that caused them."""

    correlation_id: UUID
    causation_id: UUID | None = None
    traceparent: str | None = None
    imported: bool = False
    """An import of the programme's history, or an event of one: what it causes is
    marked imported too (``Envelope.imported``), so that nobody takes the past for news."""

    @classmethod
    def new(cls, *, imported: bool = False) -> Cause:
        return cls(correlation_id=uuid4(), traceparent=new_traceparent(), imported=imported)

    @classmethod
    def of(cls, envelope: Envelope[Event], traceparent: str | None = None) -> Cause:
        """What an incoming event causes: its correlation, itself, its trace, its mark."""
        return cls(envelope.correlation_id, envelope.event_id, traceparent, envelope.imported)


class UnitOfWork:
    """One transaction of a use case: ``conn`` to read and write, ``emit`` for its events,
    ``now`` and ``today`` for the time it happens at (read once, from the service's clock:
    every fact of one transaction carries the same instant)."""

    def __init__(self, conn: Conn, *, channel: str, cause: Cause | None = None,
                 clock: Clock = utc_now, zone: tzinfo = UTC, max_event_bytes: int | None = None,
                 traced: bool = False):
        self.conn = conn
        self._traced = traced
        """Tracing on: a cause's ``traceparent`` is a span's (the unit of work's, a
        handler's), and its events' rows carry it as it is (none when it has none: the
        relay's publish then starts their trace)."""
        self._channel = channel
        self._max_event_bytes = max_event_bytes
        self._cause = cause or Cause.new()
        self.now = clock().astimezone(UTC)
        """The instant of this unit of work, aware UTC."""
        self.zone = zone
        """Where the programme is run (``settings.timezone``): its civil dates are there."""
        self.today: date = civil_date(self.now, zone)
        """Its civil date where the programme is run."""
        self._pending: list[tuple[Event | tuple[Topic, str], Cause, datetime]] = []
        self.envelopes: list[Envelope[Event]] = []
        """The envelopes written to the outbox, filled when the unit of work commits."""

    @property
    def cause(self) -> Cause:
        return self._cause

    @contextmanager
    def caused_by(self, cause: Cause) -> Iterator[None]:
        """Events emitted inside the block carry ``cause`` (a consumer's incoming event)."""
        previous, self._cause = self._cause, cause
        try:
            yield
        finally:
            self._cause = previous

    def emit(self, event: Event, *, cause: Cause | None = None) -> None:
        """Append ``event`` to this transaction's outbox (numbered when it commits).
        ``cause``: why it happens, when not the unit of work's current :attr:`cause` (a
        consumer applying many events in one transaction gives each one's).

        The envelope's ``occurred_at`` is the wall clock's, not :attr:`now`: it dates the
        record (the relay's retention counts from it); the payload carries business time.
        """
        if event.spec.retired:
            raise TypeError(f"{event.spec.type} v{event.spec.version} is retired: "
                            f"{event.spec.retired}")
        self._pending.append((event, cause or self._cause, datetime.now(UTC)))

    async def erase(self, topic: Topic, key: str) -> int:
        """Right to erasure of one person's key on a personal-data topic: delete every
        outbox row of ``(topic, key)`` — still pending, or published and kept
        (``outbox_published``), whatever address it held — and the events of that key
        emitted in this unit of work, then append a tombstone, published after everything
        already committed for the key. Kafka's
        compaction then removes every earlier value (``cites_contracts.topics``).

        Deleting a pending row loses nothing a consumer needs: the tombstone supersedes
        it. Returns the outbox rows deleted.
        """
        if not topic.personal_data:
            raise ValueError(f"{topic.name} holds no personal data: nothing to erase there "
                             "(its records are kept; only personal-data topics are erasable)")
        self._pending = [p for p in self._pending if not (
            isinstance(p[0], Event) and p[0].spec.topic == topic and p[0].aggregate_id() == key)]
        # Two statements, in this order: the second one's snapshot sees a row the relay
        # moved to outbox_published while the first one waited for it.
        deleted = 0
        for table in ("outbox", "outbox_published"):
            status = await self.conn.execute(
                f"DELETE FROM {table} WHERE topic = $1 AND key = $2", topic.name, key.encode())
            deleted += int(status.split()[-1])
        self._pending.append(((topic, key), self._cause, datetime.now(UTC)))
        return deleted

    async def redact_retired(self, events: Sequence[type[Event]], key: str, *, array: str,
                             field: str, value: str) -> int:
        """Right to erasure in the outbox rows of *retired* event versions, which carried
        personal data in a list (``data.<array>``) before it moved to a personal-data topic:
        the rows of aggregate ``key`` holding ``value`` — published ones are deleted (Kafka
        has them), pending ones lose the list's elements whose ``field`` is ``value`` (the
        event still has to go out). Returns the rows touched. Kafka's own copies, on kept
        topics, are out of compaction's reach (docs/guarantees.md, "Right to erasure")."""
        topics = {e.spec.topic.name for e in events}
        if len(topics) != 1 or not all(e.spec.retired for e in events):
            raise ValueError("redact_retired takes retired versions of one topic's events")
        where = """topic = $1 AND key = $2 AND (event_type, event_version) IN (
                       SELECT * FROM unnest($3::text[], $4::int[]))
                   AND value IS NOT NULL AND position(convert_to($5, 'UTF8') IN value) > 0"""
        args = (topics.pop(), key.encode(), [e.spec.type for e in events],
                [e.spec.version for e in events], value)
        redacted = await self.conn.execute(
            f"""UPDATE outbox SET value = convert_to(jsonb_set(
                    convert_from(value, 'UTF8')::jsonb, ARRAY['data', $6],
                    coalesce((SELECT jsonb_agg(e) FROM jsonb_array_elements(
                                 convert_from(value, 'UTF8')::jsonb -> 'data' -> $6) e
                              WHERE e ->> $7 <> $5), '[]'::jsonb))::text, 'UTF8')
                WHERE published_at IS NULL AND {where}""", *args, array, field)
        # After the update: a row the relay moved to outbox_published while the update
        # waited for it is seen, and deleted, by this later statement.
        touched = int(redacted.split()[-1])
        for table in ("outbox", "outbox_published"):
            status = await self.conn.execute(
                f"DELETE FROM {table} WHERE published_at IS NOT NULL AND {where}", *args)
            touched += int(status.split()[-1])
        return touched

    def _traceparent(self, cause: Cause) -> str | None:
        """The ``traceparent`` an event of ``cause`` carries: the cause's span's itself
        when tracing is on (the relay's publish is its child), else a new span id in the
        cause's trace."""
        if self._traced:
            return cause.traceparent
        return new_traceparent(cause.traceparent)

    def _note_written(self, pending: Sequence[tuple[Event | tuple[Topic, str], Cause,
                                                    datetime]]) -> None:
        """Tracing on: an ``outbox write`` event on the current span (the unit of work's,
        a consumer batch's), how many rows of which types."""
        if self._traced:
            trace.get_current_span().add_event("outbox write", {
                "events": len(pending), "event_types": sorted(
                    {ev.spec.type for ev, _, _ in pending if isinstance(ev, Event)})})

    def _check_size(self, env: Envelope[Event], rec: EncodedRecord) -> None:
        """Refuse (``EventTooLarge``) a record over ``max_event_bytes``: key, value, headers."""
        if self._max_event_bytes is not None:
            size = len(rec.key) + len(rec.value) + sum(len(k) + len(v) for k, v in rec.headers)
            if size > self._max_event_bytes:
                raise EventTooLarge(env.type, size, self._max_event_bytes)

    async def flush(self) -> None:
        """Number pending events per aggregate and insert them into the outbox."""
        if not self._pending:
            return
        pending, self._pending = self._pending, []
        counts: dict[tuple[str, str], int] = {}
        for ev, _, _ in pending:
            if not isinstance(ev, Event):
                continue  # a tombstone: no event, no sequence
            key = (ev.spec.topic.name, ev.aggregate_id())
            counts[key] = counts.get(key, 0) + 1
        ordered = sorted(counts)  # one lock order for all writers: no deadlocks
        rows = [] if not ordered else await self.conn.fetch(
            """INSERT INTO aggregate_sequences AS s (stream, aggregate_id, last_sequence)
               SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[])
               ON CONFLICT (stream, aggregate_id)
               DO UPDATE SET last_sequence = s.last_sequence + EXCLUDED.last_sequence
               RETURNING stream, aggregate_id, last_sequence""",
            [k[0] for k in ordered], [k[1] for k in ordered], [counts[k] for k in ordered],
        )
        next_seq = {(r["stream"], r["aggregate_id"]): r["last_sequence"] - counts[
            (r["stream"], r["aggregate_id"])] + 1 for r in rows}
        cols: tuple[list[object], ...] = ([], [], [], [], [], [], [], [], [])
        for ev, cause, at in pending:
            if not isinstance(ev, Event):
                topic, erased = ev
                row: tuple[object, ...] = (uuid4(), topic.name, erased.encode(), None, TOMBSTONE,
                                           0, cause.correlation_id,
                                           self._traceparent(cause), at)
                for col, cell in zip(cols, row, strict=True):
                    col.append(cell)
                continue
            key = (ev.spec.topic.name, ev.aggregate_id())
            seq = next_seq[key]
            next_seq[key] = seq + 1
            env = Envelope.wrap(ev, sequence=seq, correlation_id=cause.correlation_id,
                                causation_id=cause.causation_id, occurred_at=at,
                                imported=cause.imported)
            tp = self._traceparent(cause)
            rec = encode(env, traceparent=tp)
            self._check_size(env, rec)
            for col, val in zip(cols, (env.event_id, rec.topic, rec.key, rec.value, env.type,
                                       env.version, env.correlation_id, tp, at), strict=True):
                col.append(val)
            self.envelopes.append(env)
        self._note_written(pending)
        # One round trip: the rows, and the relay woken when they commit.
        await self.conn.execute(
            """WITH written AS (
                   INSERT INTO outbox (event_id, topic, key, value, event_type, event_version,
                                       correlation_id, traceparent, created_at)
                   SELECT * FROM unnest($1::uuid[], $2::text[], $3::bytea[], $4::bytea[],
                                        $5::text[], $6::int[], $7::uuid[], $8::text[],
                                        $9::timestamptz[]))
               SELECT pg_notify($10, '')""",
            *cols, self._channel,
        )


def outbox_channel(schema: str) -> str:
    return f"{schema}_outbox"


@asynccontextmanager
async def unit_of_work(pool: asyncpg.Pool, schema: str, *, cause: Cause | None = None,
                       clock: Clock = utc_now, zone: tzinfo = UTC,
                       max_event_bytes: int | None = None, traced: bool = False
                       ) -> AsyncIterator[UnitOfWork]:
    """``async with unit_of_work(pool, schema) as uow:`` — commit on exit, roll back on error.
    An event over ``max_event_bytes`` (key, value and headers) raises ``EventTooLarge``.
    ``traced``: ``cause.traceparent`` is the current span's (see :class:`UnitOfWork`)."""
    async with pool.acquire() as conn, conn.transaction():
        uow = UnitOfWork(conn, channel=outbox_channel(schema), cause=cause, clock=clock,
                         zone=zone, max_event_bytes=max_event_bytes, traced=traced)
        yield uow
        await uow.flush()
