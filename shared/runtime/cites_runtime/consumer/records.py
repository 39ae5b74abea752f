"""What a consumed record is to a consumer: :func:`classify` says apply, skip or dead.

Pure: no database, no broker, no clock. Whatever bytes and headers a record carries,
:func:`classify` returns one of

- :class:`Apply` — an event of a class the consumer handles (decoded, on its own topic,
  under its aggregate's key), or of a retired version the contracts upcast to a class it
  handles (applied as that version: see :func:`upcast`), or a tombstone of a topic it has
  a tombstone handler for;
- :class:`Skip` — nothing for this consumer: an event it handles in no version, a class
  it does not handle, a roll nudge, a tombstone of a topic it keeps nothing of;
- :class:`Dead` — a record no consumer of ours should apply, with the reason its dead
  letter carries (``dlq.reason``) and what is wrong (``dlq.error``).

The runner (:mod:`.runner`) applies, counts or dead-letters accordingly.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol
from uuid import UUID

from cites_contracts import DecodeError, Envelope, Event, Topic, UnknownEvent, decode, registry
from cites_contracts.codec import BadHeaders, header_problem, version_header
from cites_contracts.topics import ROLL_KEY

from ..db import unstorable_text

__all__ = [
    "Apply",
    "Dead",
    "Intake",
    "RawRecord",
    "Skip",
    "Tombstone",
    "classify",
    "compacted",
    "upcast",
]


class RawRecord(Protocol):
    """What we read of a Kafka record (aiokafka's ConsumerRecord fits)."""

    @property
    def topic(self) -> str: ...
    @property
    def partition(self) -> int: ...
    @property
    def offset(self) -> int: ...
    @property
    def key(self) -> bytes | None: ...
    @property
    def value(self) -> bytes | None: ...
    @property
    def headers(self) -> Sequence[tuple[str, bytes | None]]: ...  # values are nullable
    @property
    def timestamp(self) -> int: ...


def compacted(topic: Topic) -> bool:
    """Kafka compacts it by key: a null value there is a tombstone (the key erased)."""
    return "compact" in topic.cleanup_policy.split(",")


_TOMBSTONES = uuid.UUID("5b1f0c9e-2a52-4b8e-9d3e-7c1a4f0b6d21")
"""Namespace of the inbox ids derived from a tombstone's place on its topic."""


@dataclass(frozen=True, slots=True)
class Tombstone:
    """A key erased from a compacted topic: a record with a null value, as the runner
    applies it (:meth:`of` reads it from its record)."""

    topic: str
    """The topic it was read from (with the deployment's prefix)."""
    partition: int
    offset: int
    key: str
    """The key erased, as its handler gets it: UTF-8 text PostgreSQL can store."""
    event_id: UUID | None = None
    """The ``event_id`` header our relay gives every tombstone (its outbox row's); None
    from another producer, or when the header is no UUID."""
    correlation_id: UUID | None = None
    """The ``correlation_id`` header, when it is a UUID: the handler's events join that
    correlation; else the tombstone starts its own."""
    traceparent: str | None = None

    @classmethod
    def of(cls, rec: RawRecord) -> Tombstone | None:
        """The tombstone ``rec`` is, or None when its key is no text a handler could be
        given (not UTF-8, or text PostgreSQL cannot store): such a tombstone is a dead
        letter."""
        key = key_text(rec)
        if key is None:
            return None
        event_id = correlation_id = None
        for name, raw in rec.headers:
            if name == "event_id" and raw is not None:
                # Not a UUID: not ours, its place identifies it.
                with contextlib.suppress(UnicodeDecodeError, ValueError):
                    event_id = UUID(raw.decode("ascii"))
                break
        for name, raw in rec.headers:
            if name == "correlation_id" and raw is not None:
                # Not a UUID: not ours, the tombstone starts its own correlation.
                with contextlib.suppress(UnicodeDecodeError, ValueError):
                    correlation_id = UUID(raw.decode("ascii"))
        return cls(rec.topic, rec.partition, rec.offset, key, event_id, correlation_id,
                   traceparent(rec))

    @property
    def id(self) -> UUID:
        """Its identity in the inbox, which tombstones get like events.

        "Idempotent by nature" is not enough once the events around a tombstone are
        deduplicated: a redelivered [tombstone, newer card] would run the tombstone's
        delete again, then skip the card as a duplicate — and forget an address that is
        current. With the row, the redelivered tombstone is skipped as well.

        The id is :attr:`event_id`, so that a tombstone the relay sends twice, at two
        offsets, is recognised too; without one, a UUID derived from its place (topic,
        partition, offset), which recognises Kafka's redelivery of the same record. A
        handler must still be idempotent (a delete): the inbox forgets its rows after its
        retention, and positions, which guard events then, know no sequence for a
        tombstone."""
        if self.event_id is not None:
            return self.event_id
        return uuid.uuid5(_TOMBSTONES, f"{self.topic}\0{self.partition}\0{self.offset}")


@dataclass(frozen=True, slots=True)
class Apply:
    """A record to apply: its event, decoded and checked, or the tombstone it is."""

    record: RawRecord
    subject: Envelope[Event] | Tombstone

    @property
    def id(self) -> UUID:
        """Its identity in the inbox: the event's id, or the tombstone's."""
        s = self.subject
        return s.id if isinstance(s, Tombstone) else s.event_id


@dataclass(frozen=True, slots=True)
class Skip:
    """A record that is nothing for this consumer; ``reason`` says which kind."""

    reason: str
    """``not-handled``: an event type of the contracts it handles in no version;
    ``other-class``: an event of a class it does not handle (another event of a topic it
    reads, or another version of one it handles); ``roll-nudge``: the producer's nudge for
    compaction (a tombstone of ``ROLL_KEY``); ``no-tombstone-handler``: a tombstone of a
    compacted topic it keeps nothing of; ``no-key``: a tombstone without a key."""


@dataclass(frozen=True, slots=True)
class Dead:
    """A record to dead-letter: ``reason`` becomes its letter's ``dlq.reason``, ``error``
    its ``dlq.error``. ``defect``: decoding raised what the codec never should (a bug of
    ours, not the record's fault), which the runner logs as an error."""

    reason: str
    error: str
    defect: bool = False


@dataclass(frozen=True, slots=True)
class Intake:
    """What :func:`classify` needs to know of a consumer, as deployed (topic names with
    the deployment's prefix)."""

    handlers: frozenset[type[Event]]
    """Every event class it handles."""
    event_types: frozenset[str]
    """The wire types it handles in at least one version."""
    topic_prefix: str
    compacted: frozenset[str]
    """Topics it reads where a null value is a tombstone (a key erased), not a broken
    record."""
    tombstone_topics: frozenset[str]
    """Topics whose tombstones it applies (with their handler) rather than skips."""
    max_event_bytes: int
    """A record larger than this (key and value) is no event of ours."""


def classify(rec: RawRecord, intake: Intake) -> Apply | Skip | Dead:
    """What the consumer described by ``intake`` does with ``rec``; never raises.

    In order: headers that break the wire rules are dead (``bad-header``); a null value
    on a compacted topic is a tombstone — skipped without a handler, a key or when it is
    a roll nudge, dead when its key is no text (``wrong-key``), else applied; a record
    larger than ``max_event_bytes`` is dead (``too-large``); an event type of the
    contracts the consumer handles in no version is skipped, on its headers alone when
    they name it (the body is not parsed); what does not decode is dead with the codec's
    reason (``malformed``, ``invalid-envelope``, ``invalid-payload``, ``unknown-event``
    for a type no contract declares or a version of a handled type no contract has;
    ``undecodable`` when the codec itself fails); an event of a retired version is upcast
    to the version the consumer handles when the contracts declare how (:func:`upcast`);
    an event of a class not handled, nor upcast to one, is skipped; an event that came on
    another topic than its own (``wrong-topic``), whose aggregate id PostgreSQL cannot
    store (``invalid-payload``) or whose key is not its aggregate id (``wrong-key``) is
    dead; the rest is applied."""
    if (problem := header_problem(rec.headers)) is not None:
        return Dead(BadHeaders.reason, problem)
    if rec.value is None and rec.topic in intake.compacted:
        return _tombstone(rec, intake)
    size = len(rec.value or b"") + len(rec.key or b"")
    if size > intake.max_event_bytes:
        return Dead("too-large", f"{size} bytes: more than the {intake.max_event_bytes} an "
                                 "event may have")
    try:
        if _named_elsewhere(rec, intake.event_types):
            return Skip("not-handled")
        env = decode(rec.value, rec.headers)
    except UnknownEvent as exc:
        if _known_elsewhere(exc.event_type, intake.event_types):
            return Skip("not-handled")  # a version of an event it handles in none
        return Dead(exc.reason, str(exc))
    except DecodeError as exc:
        return Dead(exc.reason, str(exc))
    except Exception as exc:  # a defect, not the record's fault: still move on
        return Dead(DecodeError.reason, repr(exc), defect=True)
    try:
        applied = upcast(env, intake.handlers)
    except Exception as exc:  # an upcaster is total: one that fails is a defect of ours
        return Dead(DecodeError.reason, f"upcasting {env.type} v{env.version}: {exc!r}",
                    defect=True)
    return _checked(rec, applied or env, intake)


def upcast(env: Envelope[Event], handled: frozenset[type[Event]]) -> Envelope[Event] | None:
    """``env`` as the version its consumer handles, when it handles another version of the
    event and the contracts upcast this one to it (a retired version's records, still on
    the kept topics, applied as the newer version); None when there is nothing to upcast
    (a class it handles, or none it could become). The envelope keeps its metadata (id,
    sequence, correlation, dates); its ``version`` becomes the payload's."""
    if type(env.data) in handled:
        return None
    data = registry.upcast(env.data, handled)
    return None if data is None else env.upcast(data)


def _tombstone(rec: RawRecord, intake: Intake) -> Apply | Skip | Dead:
    """A tombstone: the producer erased this key. Applied by its topic's tombstone
    handler, if any; a roll nudge (``ROLL_KEY``) erases no one."""
    if rec.topic not in intake.tombstone_topics:
        return Skip("no-tombstone-handler")
    if rec.key is None:
        return Skip("no-key")
    if rec.key == ROLL_KEY:
        return Skip("roll-nudge")
    tombstone = Tombstone.of(rec)
    if tombstone is None:
        return Dead("wrong-key", f"tombstone key {shown(rec.key)} is no text a handler "
                                 "could be given")
    return Apply(rec, tombstone)


def _checked(rec: RawRecord, env: Envelope[Event], intake: Intake) -> Apply | Skip | Dead:
    """A decoded event: applied when this consumer handles its class and the record is
    where, and under the key, its contract puts it."""
    if type(env.data) not in intake.handlers:
        return Skip("other-class")
    if rec.topic != intake.topic_prefix + env.data.spec.topic.name:
        # Only its producer may write an event's topic (ACLs): one that came on another
        # topic was written by someone else, in its producer's name.
        return Dead("wrong-topic", f"{env.type} is {env.producer}'s, published on "
                                   f"{env.data.spec.topic.name}: it came on "
                                   f"{rec.topic[:200]!r}")
    if unstorable_text(env.aggregate_id):  # no position could record it
        return Dead("invalid-payload", f"aggregate id {env.aggregate_id[:200]!r} holds text "
                                       "PostgreSQL cannot store (NUL or a lone surrogate)")
    if rec.key != env.aggregate_id.encode("utf-8", "surrogatepass"):
        # Kafka orders a key's records only: an event under another key may overtake, or
        # be overtaken by, its aggregate's other events.
        return Dead("wrong-key", f"key {shown(rec.key)} is not the aggregate id "
                                 f"{env.aggregate_id[:200]!r} of {env.type}")
    return Apply(rec, env)


def _known_elsewhere(event_type: str | None, handled: frozenset[str]) -> bool:
    """A type the contracts declare (in some version) that this consumer handles in none."""
    return (event_type is not None and event_type not in handled
            and bool(registry.versions(event_type)))


def _named_elsewhere(rec: RawRecord, handled: frozenset[str]) -> bool:
    """Whether the headers name an event type of the contracts this consumer handles in
    no version (whether or not it knows that version): skipped without parsing the body.
    A type no contract declares is not: it is a dead letter (``unknown-event``). Headers
    that are missing or malformed say nothing: the body decides."""
    t = v = None
    for name, raw in rec.headers:
        if name == "type":
            t = raw
        elif name == "version":
            v = raw
    if t is None or version_header(v) is None:
        return False
    try:
        return _known_elsewhere(t if isinstance(t, str) else t.decode("utf-8"), handled)
    except UnicodeDecodeError:
        return False


def traceparent(rec: RawRecord) -> str | None:
    """The record's W3C ``traceparent`` header, if any."""
    for name, raw in rec.headers:
        if name == "traceparent" and raw is not None:
            return raw.decode("ascii", "replace")
    return None


def shown(key: bytes | None) -> str:
    """A record's key quoted in an error message (bounded)."""
    if key is None:
        return "none"
    return repr(key[:200].decode("utf-8", "backslashreplace"))


def key_text(rec: RawRecord) -> str | None:
    """A tombstone's key as its handler gets it: UTF-8 text PostgreSQL can store, or None
    (such a tombstone is a dead letter: no handler could look the key up)."""
    try:
        key = (rec.key or b"").decode("utf-8")
    except UnicodeDecodeError:
        return None
    return None if unstorable_text(key) else key
