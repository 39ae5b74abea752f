"""Parked outbox rows: list them, and hand them back to the relay without dropping any.

The relay parks a row the broker refuses for good and goes on (``OutboxRelay.
publish_one_by_one``), so later events of the same aggregate may be published meanwhile.
Consumers apply an aggregate's events in ``sequence`` order and skip one below what they
applied (stale, ``consumer_positions``): a parked event handed back after a later one of
its aggregate was published would be skipped by every consumer — silently dropped.

So :func:`unpark` hands back only the events no consumer would skip, and refuses the
others with why. With ``resequence``, an event refused because its aggregate moved on is
instead renumbered as its aggregate's next event (same event id: no consumer has seen
it) and queued after everything already written: consumers apply it after the later
events, which is right only when it still makes sense then — an operator's decision.

A tombstone (null value) has no sequence: it is handed back as it is.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from uuid import UUID

from cites_contracts import DecodeError, Envelope, Event, decode, encode

from .db import Conn

__all__ = ["ParkedEvent", "Refusal", "Resequenced", "Unparked", "list_parked", "unpark"]


@dataclass(frozen=True, slots=True)
class ParkedEvent:
    """A parked outbox row as an operator reads it (``size``: its value's bytes)."""

    id: int
    event_type: str
    event_id: UUID
    topic: str
    key: str
    size: int
    parked_at: datetime
    park_error: str


@dataclass(frozen=True, slots=True)
class Refusal:
    """A parked event :func:`unpark` left parked, and why."""

    id: int
    event_type: str
    topic: str
    aggregate_id: str
    sequence: int
    why: str
    moved_on: bool
    """Its aggregate has a later event published or on its way: ``resequence`` applies."""


@dataclass(frozen=True, slots=True)
class Resequenced:
    """A parked event renumbered as its aggregate's next and handed back."""

    id: int
    """Its outbox id now (a new row, after every row written before)."""
    was_id: int
    event_type: str
    topic: str
    aggregate_id: str
    old_sequence: int
    new_sequence: int


@dataclass
class Unparked:
    """What :func:`unpark` did with each row it was asked for."""

    handed_back: list[int] = field(default_factory=list)
    """Outbox ids handed back as they were (their sequence kept)."""
    resequenced: list[Resequenced] = field(default_factory=list)
    refused: list[Refusal] = field(default_factory=list)
    not_parked: list[int] = field(default_factory=list)
    """Ids asked for that name no parked row."""


async def list_parked(conn: Conn) -> list[ParkedEvent]:
    """Every parked row, in id order."""
    rows = await conn.fetch(
        """SELECT id, event_type, event_id, topic, key, coalesce(length(value), 0) AS size,
                  parked_at, park_error
             FROM outbox WHERE parked_at IS NOT NULL AND published_at IS NULL ORDER BY id""")
    return [ParkedEvent(r["id"], r["event_type"], r["event_id"], r["topic"],
                        bytes(r["key"]).decode("utf-8", "replace"), r["size"], r["parked_at"],
                        r["park_error"]) for r in rows]


@dataclass(slots=True)
class _Row:
    id: int
    topic: str
    key: bytes
    envelope: Envelope[Event] | None
    """None for a tombstone (or a value no contract reads): no sequence to check."""


def _envelope(value: bytes | None) -> Envelope[Event] | None:
    if value is None:
        return None
    try:
        return decode(value)
    except DecodeError:
        return None


async def unpark(conn: Conn, channel: str, *, ids: Sequence[int] = (),
                 every: bool = False, resequence: bool = False) -> Unparked:
    """Hand the parked rows ``ids`` (or ``every`` parked row) back to the relay, in one
    transaction, and wake the relay (``channel``). Returns what was handed back, what was
    renumbered and what was refused, with why.

    A row of sequence *s* of aggregate *A* is handed back with its sequence when every
    later sequence of *A* is still parked (the relay publishes rows in id order: it goes
    out before them). Refused, and left as it is:

    - when a later sequence of *A* was published (consumers would skip this one as stale),
      or is still pending (a relay pass may already be sending it: this one would follow);
      with ``resequence``, such a row is instead renumbered *A*'s next sequence, its
      aggregate's counter moved on with it, and queued as a new outbox row;
    - when an earlier sequence of *A* stays parked and nothing has made it stale yet:
      published after this one, it would be skipped (hand both back together).
    """
    done = Unparked()
    async with conn.transaction():
        rows = await conn.fetch(
            """SELECT id, topic, key, value FROM outbox
                WHERE parked_at IS NOT NULL AND published_at IS NULL
                  AND ($1 OR id = ANY($2::bigint[]))
                ORDER BY id FOR UPDATE""", every, list(ids))
        found = {r["id"] for r in rows}
        done.not_parked = [i for i in dict.fromkeys(ids) if i not in found]
        chosen = [_Row(r["id"], r["topic"], bytes(r["key"]), _envelope(r["value"]))
                  for r in rows]
        by_aggregate: dict[tuple[str, str], list[_Row]] = {}
        for row in chosen:
            if row.envelope is None:
                done.handed_back.append(row.id)
            else:
                by_aggregate.setdefault((row.topic, row.envelope.aggregate_id), []).append(row)
        # One lock order for all writers of aggregate_sequences (as uow.flush): no deadlock.
        for aggregate in sorted(by_aggregate):
            await _unpark_aggregate(conn, aggregate, by_aggregate[aggregate], resequence, done)
        await conn.execute(
            "UPDATE outbox SET parked_at = NULL, park_error = NULL WHERE id = ANY($1::bigint[])",
            done.handed_back)
        if done.handed_back or done.resequenced:
            await conn.execute("SELECT pg_notify($1, '')", channel)
    done.handed_back.sort()
    return done


@dataclass(slots=True)
class _Aggregate:
    """What the outbox holds of one aggregate, read with its sequence row locked."""

    topic: str
    aggregate_id: str
    last: int
    """Its last sequence given, or written to the outbox (whichever is higher)."""
    parked: dict[int, int]
    """Sequence → outbox id of each parked row of the aggregate."""
    pending: set[int]
    """Sequences of its rows waiting for the relay (neither parked nor published)."""

    def moved_on(self, s: int) -> tuple[int, bool] | None:
        return _moved_on(s, self.last, self.parked, self.pending)


async def _unpark_aggregate(conn: Conn, aggregate: tuple[str, str],
                            chosen: list[_Row], resequence: bool, done: Unparked) -> None:
    """Decide each of ``chosen`` (rows of one aggregate) in sequence order — handed back,
    renumbered (``resequence``) or refused — into ``done``, and renumber those to be."""
    agg = await _read_aggregate(conn, aggregate, chosen[0].key)
    staying = set(agg.parked)
    """Parked sequences left parked, as the rows are decided in sequence order."""
    renumber: list[tuple[_Row, Envelope[Event]]] = []
    for row in sorted(chosen, key=lambda r: r.envelope.sequence if r.envelope else 0):
        env = row.envelope
        assert env is not None
        s = env.sequence
        later = agg.moved_on(s)
        if later is not None and resequence:
            staying.discard(s)
            renumber.append((row, env))
        elif later is not None:
            done.refused.append(await _refused_as_stale(conn, agg, row, env, later))
        elif earlier := [e for e in sorted(staying) if e < s and agg.moved_on(e) is None]:
            done.refused.append(_refused_before(agg, row, env, agg.parked[earlier[0]],
                                                earlier[0]))
        else:
            staying.discard(s)
            done.handed_back.append(row.id)
    if renumber:
        await _renumber(conn, agg, renumber, done)


async def _read_aggregate(conn: Conn, aggregate: tuple[str, str], key: bytes) -> _Aggregate:
    topic, aggregate_id = aggregate
    # Locked: a use case emitting for this aggregate waits, so what is read below holds.
    last = await conn.fetchval(
        """SELECT last_sequence FROM aggregate_sequences
            WHERE stream = $1 AND aggregate_id = $2 FOR UPDATE""", topic, aggregate_id)
    unpublished = await conn.fetch(
        "SELECT id, value, parked_at IS NOT NULL AS parked FROM outbox "
        "WHERE topic = $1 AND key = $2 AND value IS NOT NULL", topic, key)
    parked: dict[int, int] = {}
    pending: set[int] = set()
    for r in unpublished:
        env = _envelope(r["value"])
        if env is None:
            continue
        if r["parked"]:
            parked[env.sequence] = r["id"]
        else:
            pending.add(env.sequence)
    return _Aggregate(topic, aggregate_id, max([last or 0, *parked, *pending]), parked,
                      pending)


async def _refused_as_stale(conn: Conn, agg: _Aggregate, row: _Row, env: Envelope[Event],
                            later: tuple[int, bool]) -> Refusal:
    """A row a later event of its aggregate would make stale: published, or pending."""
    seq, published = later
    why = (f"sequence {seq} of its aggregate was already published"
           f"{await _kept(conn, agg.topic, row.key, seq)}" if published else
           f"sequence {seq} of its aggregate is not published yet and a relay pass "
           "may be sending it already: this one would follow it")
    return Refusal(row.id, env.type, agg.topic, agg.aggregate_id, env.sequence, (
        f"{why}; consumers would skip this one as stale. Leave it parked, or "
        "publish it as its aggregate's next event, after the later ones (only if "
        f"it still makes sense then): outbox unpark --id {row.id} --resequence"), True)


def _refused_before(agg: _Aggregate, row: _Row, env: Envelope[Event], earlier_id: int,
                    earlier: int) -> Refusal:
    """A row whose aggregate's earlier event, ``earlier_id``, stays parked."""
    return Refusal(row.id, env.type, agg.topic, agg.aggregate_id, env.sequence, (
        f"an earlier event of its aggregate, {earlier_id} (sequence {earlier}), stays "
        "parked: published after this one, consumers would skip it as stale. Hand them "
        f"back together: outbox unpark --id {earlier_id} --id {row.id}"), False)


async def _renumber(conn: Conn, agg: _Aggregate, rows: list[tuple[_Row, Envelope[Event]]],
                    done: Unparked) -> None:
    """Give ``rows`` the aggregate's next sequences, in order, each as a new outbox row
    (the relay takes it as just written, after every row written before)."""
    await conn.execute(
        """INSERT INTO aggregate_sequences (stream, aggregate_id, last_sequence)
           VALUES ($1, $2, $3)
           ON CONFLICT (stream, aggregate_id)
           DO UPDATE SET last_sequence = EXCLUDED.last_sequence""",
        agg.topic, agg.aggregate_id, agg.last + len(rows))
    for n, (row, env) in enumerate(rows, start=agg.last + 1):
        value = encode(env.model_copy(update={"sequence": n})).value
        old = await conn.fetchrow("DELETE FROM outbox WHERE id = $1 RETURNING *", row.id)
        assert old is not None
        new_id = await conn.fetchval(
            """INSERT INTO outbox (event_id, topic, key, value, event_type, event_version,
                                   correlation_id, traceparent, created_at)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id""",
            old["event_id"], old["topic"], old["key"], value, old["event_type"],
            old["event_version"], old["correlation_id"], old["traceparent"], old["created_at"])
        done.resequenced.append(Resequenced(new_id, row.id, env.type, agg.topic,
                                            agg.aggregate_id, env.sequence, n))


async def _kept(conn: Conn, topic: str, key: bytes, sequence: int) -> str:
    """The aggregate's last published event, when it is kept and is ``sequence``."""
    row = await conn.fetchrow(
        """SELECT event_type, event_id, published_at, value FROM outbox_published
            WHERE topic = $1 AND key = $2 AND value IS NOT NULL ORDER BY id DESC LIMIT 1""",
        topic, key)
    env = _envelope(row["value"]) if row is not None else None
    if row is None or env is None or env.sequence != sequence:
        return ""
    return f" ({row['event_type']} {row['event_id']}, at {row['published_at'].isoformat()})"


def _moved_on(s: int, last: int, parked: dict[int, int], pending: set[int]
              ) -> tuple[int, bool] | None:
    """A later event of the aggregate consumers could apply before sequence ``s``: the
    latest published (sequence, True), else the first pending (sequence, False); None
    when every later one, up to ``last``, is parked."""
    published = next((x for x in range(last, s, -1) if x not in parked and x not in pending),
                     None)
    if published is not None:
        return published, True
    waiting = min((x for x in pending if x > s), default=None)
    return None if waiting is None else (waiting, False)
