"""Idempotent event consumers: decode, apply once, commit after, dead-letter the rest.

A service declares its handlers on an :class:`EventConsumer`::

    consumer = EventConsumer("partners")

    @consumer.handles(TerritoryLabelled)
    async def open_alliance(event: TerritoryLabelled, ctx: HandlerContext) -> None:
        await service.open_alliance(ctx.uow, event)

A handler may also take many events at once, to write them with one statement (a round
trip per event was ~40% of the bench consumer's time: docs/benchmarks.md)::

    @consumer.handles_many(TerritoryLabelled)
    async def open_alliances(labels: list[Envelope[TerritoryLabelled]],
                             ctx: BatchContext) -> None:
        await service.open_alliances(ctx.uow, [e.data for e in labels],
                                     [ctx.cause(e) for e in labels])

It gets each run of consecutive events of its types in a batch (one registration for
several types, ``handles_many(A, B)``, gets their runs whatever the mix), in order, no
aggregate twice in one call (its next event waits for the next call), already past the
inbox and the positions; what it emits for one of them it emits with ``ctx.emit(event,
...)`` or inside ``ctx.caused_by(event)``, so that each carries its own cause. Should the
call raise, the batch is retried (transient) or applied one event at a time, as for
``handles``: the handler is then called with one event, and a refused one is
dead-lettered alone.

The :class:`ConsumerRunner` applies a batch of records in one transaction: the inbox row
``(consumer, event_id)`` and the handlers' effects (including events they emit) commit
together, and the caller commits Kafka offsets only afterwards. A redelivered event finds
its inbox row and changes nothing. Transient failures are retried with backoff, in place,
forever; a record that cannot be decoded, whose handler refuses it (raises a
:class:`~cites_runtime.errors.DomainError`: the rule's message becomes the reason) or keeps
failing goes to ``<consumer>.dlq`` with the reason and its origin in headers, and the
batch goes on. An event type the consumer handles in no version (a type or version newer
than its contracts included) is skipped. Whatever bytes and headers a record carries, it
is applied, skipped or dead-lettered: one record never fails the batch.

A consumer that keeps what a compacted topic's records say (an address on
``partners.contacts``) forgets it on the key's tombstone (a null value: the producer
erased the key)::

    @consumer.handles_tombstones(PARTNERS_CONTACTS)
    async def contact_erased(contact_id: str, ctx: TombstoneContext) -> None:
        await service.forget_contact(ctx.uow, contact_id)

A tombstone goes through the same path as an event, in its place among the key's records
(a card, then its tombstone: the card's handler first): inbox row, handler in the
consuming transaction, offsets after, dead letter on a domain error. Without a tombstone
handler for its topic, a tombstone is skipped.

Retrying in place has a budget (``retry_budget_s``, half the consumer's
``max_poll_interval``): Kafka takes the partitions of a consumer that does not poll in
time and gives them to another replica, which would then work on the same batch and
dead-letter its poison a second time. A batch still failing transiently when its budget
is spent raises :class:`GiveBack` before anything of it is dead-lettered: the subscriber
rewinds it and polls, and the same records come again.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any, Protocol, TypeVar, cast
from uuid import UUID

import asyncpg
from aiokafka.errors import MessageSizeTooLargeError, RecordListTooLargeError, RecordTooLargeError
from prometheus_client import Counter, Histogram

from cites_contracts import (
    DecodeError,
    Envelope,
    Event,
    Topic,
    UnknownEvent,
    decode,
    dlq_topic,
    registry,
)
from cites_contracts.codec import (
    MAX_HEADER_BYTES,
    MAX_HEADERS,
    BadHeaders,
    header_problem,
    version_header,
)
from cites_contracts.topics import ROLL_KEY, dead_letter_topics

from .db import Conn, unstorable_text
from .errors import DomainError
from .kafka import OutboundRecord, Publisher
from .liveness import Heartbeat
from .logs import CURRENT_EVENT, get_logger
from .retry import Backoff, is_transient
from .uow import Cause, Clock, UnitOfWork, outbox_channel, utc_now

__all__ = [
    "BatchContext",
    "ConsumerRunner",
    "EventConsumer",
    "GiveBack",
    "HandlerContext",
    "RawRecord",
    "RejectEvent",
    "TombstoneContext",
]

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

E = TypeVar("E", bound=Event)


class GiveBack(Exception):
    """The batch failed transiently for as long as its retry budget allows: nothing of it
    is done (no effect, no dead letter); rewind it and poll again."""


class RejectEvent(DomainError):
    """Raised by a handler for an event that will never apply: dead-letter it at once.
    (Any :class:`DomainError` does the same; this one says so where no rule has a name.)"""


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


@dataclass(slots=True)
class HandlerContext:
    uow: UnitOfWork
    envelope: Envelope[Event]

    @property
    def conn(self) -> Conn:
        return self.uow.conn


@dataclass(slots=True)
class BatchContext:
    """What a set-based handler (:meth:`EventConsumer.handles_many`) gets besides its
    events: the consuming transaction, and each event's cause for what it emits."""

    uow: UnitOfWork
    records: Mapping[UUID, RawRecord]
    """Each event's record, by event id (its trace is read from there when asked)."""

    @property
    def conn(self) -> Conn:
        return self.uow.conn

    def cause(self, envelope: Envelope[Any]) -> Cause:
        """Why what is emitted for ``envelope`` happens: its correlation id, the event
        itself as cause, its trace."""
        rec = self.records.get(envelope.event_id)
        if rec is None:  # called one event at a time, outside a run: the uow's is its own
            current = self.uow.cause
            if current.causation_id == envelope.event_id:
                return current
            return Cause(envelope.correlation_id, envelope.event_id)
        return Cause(envelope.correlation_id, envelope.event_id, _traceparent(rec))

    def emit(self, envelope: Envelope[Any], *events: Event) -> None:
        """Emit ``events`` caused by ``envelope`` (in this order, after those emitted
        before)."""
        cause = self.cause(envelope)
        for event in events:
            self.uow.emit(event, cause=cause)

    @contextmanager
    def caused_by(self, envelope: Envelope[Any]) -> Iterator[None]:
        """Inside the block, events emitted are caused by ``envelope`` and log lines name
        it: for use cases that emit themselves."""
        token = CURRENT_EVENT.set((envelope.event_id, envelope.correlation_id))
        try:
            with self.uow.caused_by(self.cause(envelope)):
                yield
        finally:
            CURRENT_EVENT.reset(token)


@dataclass(slots=True)
class TombstoneContext:
    """What a tombstone handler gets besides the key: the consuming transaction, and the
    topic (as declared) the key was erased from."""

    uow: UnitOfWork
    topic: Topic
    tombstone_id: UUID
    """The tombstone's identity in the inbox (see :func:`tombstone_id`)."""

    @property
    def conn(self) -> Conn:
        return self.uow.conn


Handler = Callable[[Any, HandlerContext], Awaitable[None]]
TypedHandler = Callable[[E, HandlerContext], Awaitable[None]]
ManyHandler = Callable[[list[Envelope[Any]], BatchContext], Awaitable[None]]
TypedManyHandler = Callable[[list[Envelope[E]], BatchContext], Awaitable[None]]
"""``async def apply(events: list[Envelope[E]], ctx: BatchContext) -> None``."""
TombstoneHandler = Callable[[str, TombstoneContext], Awaitable[None]]
"""``async def forget(key: str, ctx: TombstoneContext) -> None``: must be idempotent by
nature (a delete): see :func:`tombstone_id` for what the inbox does and does not absorb."""

_TOMBSTONES = uuid.UUID("5b1f0c9e-2a52-4b8e-9d3e-7c1a4f0b6d21")
"""Namespace of the inbox ids derived from a tombstone's place on its topic."""


def compacted(topic: Topic) -> bool:
    """Kafka compacts it by key: a null value there is a tombstone (the key erased)."""
    return "compact" in topic.cleanup_policy.split(",")


def tombstone_id(rec: RawRecord) -> UUID:
    """The inbox id of a tombstone, which carries no envelope and so no event id.

    Tombstones get inbox rows like events, because "idempotent by nature" is not enough
    once events around them are deduplicated: a redelivered [tombstone, newer card] would
    run the tombstone's delete again, then skip the card as a duplicate — and forget an
    address that is current. With the row, the redelivered tombstone is skipped as well.

    The id is the ``event_id`` header our relay gives every tombstone (its outbox row's),
    so a tombstone the relay sends twice, at two offsets, is recognised too; without one
    (another producer), a UUID derived from its place, (topic, partition, offset), which
    recognises Kafka's redelivery of the same record. A handler must still be idempotent
    (a delete): the inbox forgets its rows after its retention, and positions, which guard
    events then, know no sequence for a tombstone."""
    for name, raw in rec.headers:
        if name == "event_id" and raw is not None:
            try:
                return UUID(raw.decode("ascii"))
            except (UnicodeDecodeError, ValueError):
                break  # not ours: its place identifies it
    return uuid.uuid5(_TOMBSTONES, f"{rec.topic}\0{rec.partition}\0{rec.offset}")


def _traceparent(rec: RawRecord) -> str | None:
    for name, raw in rec.headers:
        if name == "traceparent" and raw is not None:
            return raw.decode("ascii", "replace")
    return None


def _shown(key: bytes | None) -> str:
    if key is None:
        return "none"
    return repr(key[:200].decode("utf-8", "backslashreplace"))


def _key_text(rec: RawRecord) -> str | None:
    """A tombstone's key as its handler gets it: UTF-8 text PostgreSQL can store, or None
    (such a tombstone is a dead letter: no handler could look the key up)."""
    try:
        key = (rec.key or b"").decode("utf-8")
    except UnicodeDecodeError:
        return None
    return None if unstorable_text(key) else key


@dataclass(frozen=True, slots=True)
class _Origin:
    """A dead-lettered tombstone as it was at its origin (fits :class:`RawRecord`)."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    headers: Sequence[tuple[str, bytes | None]]
    value: bytes | None = None
    timestamp: int = 0


def _origin(letter: RawRecord) -> _Origin:
    h = {k: (v or b"").decode("utf-8", "replace") for k, v in letter.headers}
    return _Origin(h.get("dlq.original_topic", ""), int(h.get("dlq.original_partition", "-1")),
                   int(h.get("dlq.original_offset", "-1")), letter.key,
                   [(k, v) for k, v in letter.headers if not k.startswith("dlq.")])


async def _read_back(letter: RawRecord,
                     origins: Callable[[str, int, int], Awaitable[RawRecord | None]] | None,
                     compacted_topics: frozenset[str]) -> RawRecord | None:
    """The original record of a letter whose value was withheld, or None when a newer
    record of its key replaced it on its compacted topic (see ``ConsumerRunner.replay``)."""
    origin = _origin(letter)
    where = f"{origin.topic}[{origin.partition}]@{origin.offset}"
    if origins is None:
        raise DecodeError("its value was withheld (personal data): replay it with dlq "
                          f"replay, which reads it back from {where}")
    found = await origins(origin.topic, origin.partition, origin.offset)
    if found is None:
        if origin.topic not in compacted_topics:  # only compaction leaves holes
            raise DecodeError(f"{where} is no longer on Kafka, though the topic is not "
                              "compacted: nothing is left to replay; abandon the letter "
                              "with dlq skip")
        return None
    letter_id, found_id = (next((v for k, v in r.headers if k == "event_id"), None)
                           for r in (letter, found))
    if found.key != letter.key or (letter_id and found_id and letter_id != found_id):
        raise DecodeError(f"{where} holds another record than the one dead-lettered (key "
                          f"{_shown(found.key)}, not {_shown(letter.key)}; or another "
                          "event id): was the topic recreated? abandon the letter with "
                          "dlq skip")
    return found


def _header_value(text: str) -> bytes:
    """Text as a header value: UTF-8, a lone surrogate (JSON can carry one) escaped."""
    return text.encode("utf-8", "backslashreplace")


_LETTER_KEY_BYTES = 4096
"""The most of a record's key its dead letter keeps (aggregate ids are far shorter)."""
_LETTER_REFUSALS = (MessageSizeTooLargeError, RecordTooLargeError, RecordListTooLargeError)
"""What the broker or the producer refuses for a letter's size, for good."""


def _kept_headers(headers: Sequence[tuple[str, bytes | None]]
                  ) -> tuple[list[tuple[str, bytes]], int]:
    """The record's headers a dead letter keeps — each that keeps the wire rules
    (``header_problem``), up to their number, none of ``dlq.*`` — and how many it does not."""
    kept: list[tuple[str, bytes]] = []
    withheld = 0
    for name, raw in headers:
        if name.startswith("dlq."):
            continue
        if (raw is None or len(raw) > MAX_HEADER_BYTES or len(kept) >= MAX_HEADERS
                or header_problem([(name, raw)]) is not None):
            withheld += 1
            continue
        kept.append((name, raw))
    return kept, withheld


def _known_elsewhere(event_type: str | None, handled: frozenset[str]) -> bool:
    """A type the contracts declare (in some version) that this consumer handles in none."""
    return (event_type is not None and event_type not in handled
            and bool(registry.versions(event_type)))


class EventConsumer:
    """A named consumer (group id, inbox name, DLQ name), its handlers by event class and
    its tombstone handlers by compacted topic."""

    def __init__(self, name: str):
        self.name = name
        self.handlers: dict[type[Event], Handler] = {}
        """Every event class it handles, and how to apply one event of it."""
        self.many: dict[type[Event], ManyHandler] = {}
        """The classes whose handler takes many events at once (:meth:`handles_many`)."""
        self.tombstone_handlers: dict[Topic, TombstoneHandler] = {}

    def _claim(self, events: Sequence[type[Event]]) -> None:
        for ev in events:
            if ev in self.handlers:
                raise ValueError(f"{self.name}: {ev.__name__} already has a handler")

    def handles(self, *events: type[E]) -> Callable[[TypedHandler[E]], TypedHandler[E]]:
        """Run the decorated ``async def apply(event, ctx: HandlerContext)`` for each new
        event of these classes, in the consuming transaction (``ctx.uow``)."""
        def register(fn: TypedHandler[E]) -> TypedHandler[E]:
            self._claim(events)
            for ev in events:
                self.handlers[ev] = fn
            return fn

        return register

    def handles_many(self, *events: type[E]
                     ) -> Callable[[TypedManyHandler[E]], TypedManyHandler[E]]:
        """Run the decorated ``async def apply(events: list[Envelope[E]], ctx:
        BatchContext)`` for each run of consecutive new events of these classes in a batch
        (mixed, when several: one call for ``[A, B, A]``): in order, each aggregate at most
        once per call, in the consuming transaction (``ctx.uow``). See the module's
        documentation."""
        def register(fn: TypedManyHandler[E]) -> TypedManyHandler[E]:
            self._claim(events)

            async def one(event: Any, ctx: HandlerContext) -> None:
                await fn([cast(Envelope[E], ctx.envelope)], BatchContext(ctx.uow, {}))

            for ev in events:
                self.handlers[ev] = one
                self.many[ev] = cast(ManyHandler, fn)
            return fn

        return register

    def handles_tombstones(self, topic: Topic
                           ) -> Callable[[TombstoneHandler], TombstoneHandler]:
        """Run the decorated ``async def forget(key: str, ctx: TombstoneContext)`` for each
        tombstone of ``topic`` (a compacted topic, which this consumer then reads): the key
        erased, as text, in the consuming transaction (``ctx.uow``)."""
        if not compacted(topic):
            raise ValueError(f"{self.name}: {topic.name} is not compacted (cleanup_policy "
                             f"{topic.cleanup_policy!r}): a null value there is no tombstone")

        def register(fn: TombstoneHandler) -> TombstoneHandler:
            if topic in self.tombstone_handlers:
                raise ValueError(f"{self.name}: {topic.name} already has a tombstone handler")
            self.tombstone_handlers[topic] = fn
            return fn

        return register

    def _read(self) -> dict[str, Topic]:
        read = {ev.spec.topic.name: ev.spec.topic for ev in self.handlers}
        read.update((t.name, t) for t in self.tombstone_handlers)
        return read

    @property
    def topics(self) -> list[str]:
        """The topics it subscribes to: its events' and those it handles tombstones of."""
        return sorted(self._read())

    @property
    def declared_topics(self) -> tuple[Topic, ...]:
        """The topics it reads and its dead-letter topics, as the contracts declare them."""
        read = self._read()
        return (*(read[n] for n in sorted(read)), *dead_letter_topics(self.name))

    @property
    def dlq_topic(self) -> str:
        return dlq_topic(self.name)

    @property
    def event_types(self) -> frozenset[str]:
        """The wire types this consumer handles in at least one version."""
        return frozenset(ev.spec.type for ev in self.handlers)


_Item = tuple[RawRecord, Envelope[Event] | None]
"""A record to apply and its envelope; None for a tombstone (applied by its topic's
tombstone handler, in its place among the events)."""
_CHUNK = 1000
"""Events per inbox statement while streaming a batch (a set handler's runs end there too).
A batch of up to this many (``consumer_batch_size``: 500) is one chunk: one inbox
statement, each run whole. Smaller chunks let PostgreSQL work on one while the next is
decoded, but measured no faster here (runner alone, 10,000 events in batches of 1,000,
two rounds each: the bench consumer 2,947–4,388 ev/s with chunks of 1,000 and a yield
every 32 records, 4,227–4,839 without yields, 3,653–3,863 with chunks of 256; partners
1,012–1,150 labels/s with one chunk, 971–1,093 with chunks of 256)."""
_YIELD_EVERY = 100
"""Records decoded between two turns of the event loop (the applying transaction's round
trips, the consumer's heartbeats, the relay)."""


async def _once(items: list[_Item]) -> AsyncIterator[list[_Item]]:
    yield items


async def _drain(queue: asyncio.Queue[list[_Item] | None]) -> AsyncIterator[list[_Item]]:
    while (chunk := await queue.get()) is not None:
        yield chunk


@dataclass(slots=True)
class _Dead:
    record: RawRecord
    reason: str
    error: str
    attempts: int


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
    ):
        self.consumer = consumer
        self.name = consumer.name
        self.pool = pool
        self.channel = outbox_channel(schema)
        self.dead_letters = dead_letters
        self.dlq_topic = topic_prefix + consumer.dlq_topic
        self._prefix = topic_prefix
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
        read = consumer.declared_topics
        self._compacted = frozenset(topic_prefix + t.name for t in read if compacted(t))
        """Where a null value is a tombstone (a key erased), not a broken record."""
        self._personal = frozenset(topic_prefix + t.name for t in read if t.personal_data)
        """Where a value holds personal data: a dead letter keeps only key and headers."""
        self._tombstones = {topic_prefix + t.name: (t, fn)
                            for t, fn in consumer.tombstone_handlers.items()}
        """Where a tombstone is applied (by its handler) rather than skipped."""

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

        Decoding (CPU) and applying (mostly waiting for PostgreSQL) overlap when a batch
        has several chunks: a decoder task feeds the applying transaction chunk by chunk,
        yielding every few records so the transaction's round trips progress meanwhile.
        Should that first attempt fail, the batch is retried (transient) or isolated one
        event at a time.
        """
        started = time.perf_counter()
        self.heartbeat.busy()
        try:
            await self._process(records)
        finally:
            self.heartbeat.idle()
        BATCH_SECONDS.labels(self.name).observe(time.perf_counter() - started)

    async def _process(self, records: Sequence[RawRecord]) -> None:
        self._deadline = time.monotonic() + self.retry_budget_s
        items: list[_Item] = []
        dead: list[_Dead] = []
        chunks: asyncio.Queue[list[_Item] | None] = asyncio.Queue()

        async def decode_all() -> None:
            try:
                await decode_into(chunks)
            finally:
                chunks.put_nowait(None)  # the applier must never wait forever

        async def decode_into(chunks: asyncio.Queue[list[_Item] | None]) -> None:
            skipped = 0
            chunk: list[_Item] = []
            handled = self.consumer.event_types
            for index, rec in enumerate(records):
                if index % _YIELD_EVERY == _YIELD_EVERY - 1:
                    await asyncio.sleep(0)  # let the applying transaction's I/O progress
                # Whatever a record carries, it ends applied, ignored or dead-lettered:
                # an exception escaping here would stop every partition of the batch.
                if (problem := header_problem(rec.headers)) is not None:
                    dead.append(_Dead(rec, BadHeaders.reason, problem, 0))
                    continue
                if rec.value is None and rec.topic in self._compacted:
                    # A tombstone: the producer erased this key. Applied by the topic's
                    # tombstone handler, if any; a roll nudge (ROLL_KEY) erases no one.
                    if (rec.topic not in self._tombstones or rec.key is None
                            or rec.key == ROLL_KEY):
                        skipped += 1
                        continue
                    if _key_text(rec) is None:
                        dead.append(_Dead(rec, "wrong-key", f"tombstone key {_shown(rec.key)}"
                                          " is no text a handler could be given", 0))
                        continue
                    items.append((rec, None))
                    chunk.append((rec, None))
                    continue
                size = len(rec.value or b"") + len(rec.key or b"")
                if size > self.max_event_bytes:
                    dead.append(_Dead(rec, "too-large", f"{size} bytes: more than "
                                      f"the {self.max_event_bytes} an event may have", 0))
                    continue
                try:
                    if self._ignored(rec, handled):
                        skipped += 1
                        continue
                    env = decode(rec.value, rec.headers)
                except UnknownEvent as exc:
                    if _known_elsewhere(exc.event_type, handled):
                        skipped += 1  # a version of an event we handle in none
                        continue
                    dead.append(_Dead(rec, exc.reason, str(exc), 0))
                    continue
                except DecodeError as exc:
                    dead.append(_Dead(rec, exc.reason, str(exc), 0))
                    continue
                except Exception as exc:  # a defect, not the record's fault: still move on
                    log.error("record not decodable, dead-lettering", consumer=self.name,
                              topic=rec.topic, partition=rec.partition, offset=rec.offset,
                              error=repr(exc))
                    dead.append(_Dead(rec, DecodeError.reason, repr(exc), 0))
                    continue
                if type(env.data) not in self.consumer.handlers:
                    skipped += 1
                    continue
                if rec.topic != self._prefix + env.data.spec.topic.name:
                    # Only its producer may write an event's topic (ACLs): one that came on
                    # another topic was written by someone else, in its producer's name.
                    dead.append(_Dead(rec, "wrong-topic", f"{env.type} is {env.producer}'s, "
                                      f"published on {env.data.spec.topic.name}: it came on "
                                      f"{rec.topic[:200]!r}", 0))
                    continue
                if unstorable_text(env.aggregate_id):  # no position could record it
                    dead.append(_Dead(rec, "invalid-payload", "aggregate id "
                                      f"{env.aggregate_id[:200]!r} holds text PostgreSQL "
                                      "cannot store (NUL or a lone surrogate)", 0))
                    continue
                if rec.key != env.aggregate_id.encode("utf-8", "surrogatepass"):
                    # Kafka orders a key's records only: an event under another key may
                    # overtake, or be overtaken by, its aggregate's other events.
                    dead.append(_Dead(rec, "wrong-key", f"key {_shown(rec.key)} is not the "
                                      f"aggregate id {env.aggregate_id[:200]!r} of {env.type}",
                                      0))
                    continue
                items.append((rec, env))
                chunk.append((rec, env))
                if len(chunk) >= _CHUNK:
                    chunks.put_nowait(chunk)
                    chunk = []
            if chunk:
                chunks.put_nowait(chunk)
            if skipped:
                SKIPPED.labels(self.name).inc(skipped)

        decoder = asyncio.ensure_future(decode_all())
        try:
            await self._apply_chunks(_drain(chunks))
        except asyncio.CancelledError:
            decoder.cancel()
            raise
        except Exception as exc:
            await decoder
            dead.extend(await self._apply(items, first_failure=exc))
        else:
            await decoder
        await self._dead_letter(dead)

    async def replay(self, record: RawRecord, *, origins: Callable[
            [str, int, int], Awaitable[RawRecord | None]] | None = None) -> str:
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
        item: _Item
        headers = {name for name, _ in record.headers}
        if "dlq.tombstone" in headers:
            origin = _origin(record)
            if origin.topic not in self._tombstones:
                raise DecodeError(f"{self.name} has no tombstone handler for {origin.topic}")
            item = (origin, None)
        elif "dlq.value_withheld" in headers:
            original = await _read_back(record, origins, self._compacted)
            if original is None:
                return "superseded"
            item = (original, self._replayable(original))
        else:
            item = (record, self._replayable(record))
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

    def _replayable(self, record: RawRecord) -> Envelope[Event]:
        env = decode(record.value)
        if type(env.data) not in self.consumer.handlers:
            raise DecodeError(f"{self.name} has no handler for {env.type} v{env.version}")
        return env

    # -- applying -------------------------------------------------------------------
    def _ignored(self, rec: RawRecord, handled: frozenset[str]) -> bool:
        """Skip, without parsing the body, an event type of the contracts this consumer
        handles in no version (whether or not it knows that version). A type no contract
        declares is not skipped: it is a dead letter (``unknown-event``). Headers that are
        missing or malformed say nothing: the body decides."""
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

    async def _apply(self, items: list[_Item], first_failure: Exception | None = None
                     ) -> list[_Dead]:
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
        dead: list[_Dead] = []
        for rec, env in items:
            failure = await self._apply_one(rec, env)
            if failure is not None:
                dead.append(failure)
        return dead

    async def _apply_one(self, rec: RawRecord, env: Envelope[Event] | None) -> _Dead | None:
        backoff = self._new_backoff()
        attempts = 0
        subject = env.aggregate_id if env is not None else _key_text(rec) or ""
        while True:
            try:
                await self._apply_batch([(rec, env)])
                return None
            except DomainError as exc:  # a rule refuses it: retrying cannot help
                return _Dead(rec, "rejected", f"{subject}: {exc.message}", attempts + 1)
            except Exception as exc:
                if is_transient(exc):
                    RETRIES.labels(self.name, "transient").inc()
                    await self._pause(backoff)
                    continue
                attempts += 1
                RETRIES.labels(self.name, "handler").inc()
                if attempts >= self.max_attempts:
                    log.error("handler keeps failing, dead-lettering", consumer=self.name,
                              event_id=str(env.event_id if env else tombstone_id(rec)),
                              type=env.type if env else "tombstone", error=repr(exc))
                    return _Dead(rec, "handler-failed", repr(exc), attempts)
                await backoff.sleep()  # bounded by max_attempts, not by the budget

    async def _apply_batch(self, items: Sequence[_Item]) -> int:
        """One transaction: inbox rows + every new event's handler. Returns events applied."""
        return await self._apply_chunks(_once(list(items)))

    async def _apply_chunks(self, chunks: AsyncIterator[list[_Item]]) -> int:
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
                             max_event_bytes=self.max_event_bytes)
            async for chunk in chunks:
                received += len(chunk)
                unique: dict[UUID, _Item] = {}  # in the chunk's order: a key's stays
                for rec, env in chunk:
                    ident = env.event_id if env is not None else tombstone_id(rec)
                    if ident not in seen:
                        unique.setdefault(ident, (rec, env))
                seen.update(unique)
                if not unique:
                    continue
                fresh = await self._admit(conn, unique, positions)
                todo: list[tuple[UUID, _Item]] = []
                for ident, item in unique.items():
                    if ident not in fresh:
                        continue
                    env = item[1]
                    if env is not None:
                        key = (env.data.spec.topic.name, env.aggregate_id)
                        if env.sequence <= positions.get(key, 0):
                            stale += 1
                            continue
                        positions[key] = env.sequence
                        moved.add(key)
                    todo.append((ident, item))
                applied += await self._run(uow, todo, by_type)
            await self._advance(conn, {key: positions[key] for key in moved})
            await uow.flush()
        self.stale += stale
        if stale:
            STALE.labels(self.name).inc(stale)
            log.warning("stale events skipped: their aggregates applied later ones",
                        consumer=self.name, count=stale)
        if received - applied - stale:
            DUPLICATES.labels(self.name).inc(received - applied - stale)
        for type_, count in by_type.items():
            APPLIED.labels(self.name, type_).inc(count)
        return applied

    async def _run(self, uow: UnitOfWork, todo: list[tuple[UUID, _Item]],
                   by_type: dict[str, int]) -> int:
        """Run the handlers of ``todo`` (new events and tombstones, in order): one call per
        event, or per run of a set-based handler's events (consecutive, of the classes of
        one registration, no aggregate twice). Returns the number applied."""
        many = self.consumer.many
        handlers = self.consumer.handlers
        i, end = 0, len(todo)
        beat = self.heartbeat
        while i < end:
            beat.beat()
            ident, (rec, env) = todo[i]
            i += 1
            if env is None:
                await self._forget(uow, rec, ident)
                by_type["tombstone"] = by_type.get("tombstone", 0) + 1
                continue
            kind = type(env.data)
            apply_many = many.get(kind)
            if apply_many is None:
                token = CURRENT_EVENT.set((env.event_id, env.correlation_id))
                try:
                    with uow.caused_by(Cause(env.correlation_id, env.event_id,
                                             _traceparent(rec))):
                        await handlers[kind](env.data, HandlerContext(uow, env))
                finally:
                    CURRENT_EVENT.reset(token)
                by_type[env.type] = by_type.get(env.type, 0) + 1
                continue
            run: list[Envelope[Any]] = [env]
            records: dict[UUID, RawRecord] = {env.event_id: rec}
            aggregates = {env.aggregate_id}
            while i < end:
                _, (rec, following) = todo[i]
                if (following is None or many.get(type(following.data)) is not apply_many
                        or following.aggregate_id in aggregates):
                    break
                run.append(following)
                records[following.event_id] = rec
                aggregates.add(following.aggregate_id)
                i += 1
            await apply_many(run, BatchContext(uow, records))
            by_type[env.type] = by_type.get(env.type, 0) + len(run)
        return len(todo)

    async def _forget(self, uow: UnitOfWork, rec: RawRecord, ident: UUID) -> None:
        """Run the tombstone handler of ``rec``'s topic for its key. Events it emits are
        caused by the tombstone, in its producer's correlation when the header says one."""
        topic, handler = self._tombstones[rec.topic]
        correlation = ident
        for name, raw in rec.headers:
            if name == "correlation_id" and raw is not None:
                # Not a UUID: not ours, the tombstone starts its own correlation.
                with contextlib.suppress(UnicodeDecodeError, ValueError):
                    correlation = UUID(raw.decode("ascii"))
        key = _key_text(rec)
        assert key is not None  # a tombstone whose key is no text was dead-lettered
        token = CURRENT_EVENT.set((ident, correlation))
        try:
            with uow.caused_by(Cause(correlation, ident, _traceparent(rec))):
                await handler(key, TombstoneContext(uow, topic, ident))
        finally:
            CURRENT_EVENT.reset(token)

    async def _admit(self, conn: Conn, unique: dict[UUID, _Item],
                     positions: dict[tuple[str, str], int]) -> set[UUID]:
        """One round trip: the inbox rows of ``unique`` (returns the ids new to it), then
        the last applied sequence of each of the new events' aggregates, locked until
        commit (a replay and the live consumer take turns on one aggregate), into
        ``positions`` where it holds none yet."""
        streams: list[str | None] = []
        aggregates: list[str | None] = []
        for _, env in unique.values():
            if env is None:  # a tombstone: an inbox row, no position
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
    def _letter(self, d: _Dead, now: str) -> OutboundRecord:
        """The dead letter of ``d``: what may be read of the record, bounded so that a
        letter always fits where its record did not, with the reason and the origin."""
        rec = d.record
        personal = rec.topic in self._personal
        value = rec.value or b""
        key = rec.key or b""
        kept, withheld = _kept_headers(rec.headers)
        return OutboundRecord(
            topic=self.dlq_topic,
            key=key[:_LETTER_KEY_BYTES],
            # A personal-data record's value stays where erasure reaches it (its
            # compacted topic, at the origin offset), not on the kept dead letters.
            value=b"" if personal else value[:self.max_event_bytes],
            headers=[
                *([("dlq.value_withheld", b"personal data: read it at its origin")]
                  if personal else []),
                # A tombstone's letter: its empty value is the null, not a withheld one.
                *([("dlq.tombstone", b"true")] if rec.value is None
                  and rec.topic in self._tombstones else []),
                *kept,
                *([("dlq.headers_withheld", f"{withheld} header(s) of the record not kept: "
                    "they break the wire rules".encode())] if withheld else []),
                *([("dlq.truncated_from", str(len(value)).encode())]
                  if len(value) > self.max_event_bytes and not personal else []),
                *([("dlq.key_truncated_from", str(len(key)).encode())]
                  if len(key) > _LETTER_KEY_BYTES else []),
                ("dlq.reason", _header_value(d.reason)),
                ("dlq.error", _header_value(d.error[:4000])),
                ("dlq.consumer", self.name.encode()),
                ("dlq.original_topic", rec.topic.encode()),
                ("dlq.original_partition", str(rec.partition).encode()),
                ("dlq.original_offset", str(rec.offset).encode()),
                ("dlq.failed_at", now.encode()),
                ("dlq.attempts", str(d.attempts).encode()),
            ],
        )

    async def dead_letter_unreadable(self, topic: str, partition: int, offsets: range,
                                     error: str) -> None:
        """Dead-letter records the Kafka client cannot read (``cites_runtime.polling``):
        one letter per offset, reason ``unreadable``, nothing of the record in it."""
        await self._dead_letter([_Dead(_Origin(topic, partition, offset, None, [], b""),
                                       "unreadable", error, 0) for offset in offsets])

    async def _dead_letter(self, dead: list[_Dead]) -> None:
        if not dead:
            return
        now = datetime.now(UTC).isoformat()
        records = [self._letter(d, now) for d in dead]
        backoff = self._new_backoff()
        while True:
            try:
                await self.dead_letters.publish_batch(records)
                break
            except _LETTER_REFUSALS as exc:
                # Never retried for ever: what may be read of the records goes, the rest
                # of each letter (reason, origin, headers) stays.
                log.error("dead letters refused by the broker, sent without their values",
                          consumer=self.name, error=repr(exc))
                records = [r._replace(value=b"", headers=[
                    *r.headers, ("dlq.value_dropped", _header_value(repr(exc)[:500]))])
                    for r in records]
            except Exception as exc:
                # Never move past a record whose dead letter is not safely stored.
                RETRIES.labels(self.name, "dead-letter").inc()
                log.warning("dead letter not stored yet, retrying", consumer=self.name,
                            error=repr(exc))
                await self._pause(backoff)
        for d in dead:
            DEAD.labels(self.name, d.reason).inc()
            log.warning("dead-lettered", consumer=self.name, reason=d.reason, error=d.error,
                        topic=d.record.topic, partition=d.record.partition,
                        offset=d.record.offset)
