"""Test kit of the runtime's tests: records and publishers the runner and the relay are
driven with (a consumed record, a dead-letter publisher, a relay publisher that keeps what
it is given), the address book (a consumer of the compacted cards and their tombstones),
and the relay scenarios its tests run with and without another role's transaction open.
The test app itself is :mod:`runtime_testapp`.

(Named ``runtime_kit`` so it never shadows another suite's helper on sys.path.)
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
from aiokafka import AIOKafkaProducer
from runtime_testapp import CARDS, THINGS, CardIssued, ThingHappened

from cites_contracts import Envelope
from cites_contracts.topics import apply
from cites_runtime.app import ServiceDefinition
from cites_runtime.consumer import (
    ConsumerRunner,
    EventConsumer,
    HandlerContext,
    TombstoneContext,
)
from cites_runtime.errors import Conflict
from cites_runtime.kafka import OutboundRecord, make_producer
from cites_runtime.relay import OutboxRelay
from cites_runtime.settings import ServiceSettings
from cites_runtime.testing import eventually
from cites_runtime.testing.erasure import shortened
from cites_runtime.uow import UnitOfWork, outbox_channel, unit_of_work

TIMEOUT = 20.0  # seconds: far more than a batch of a few records takes

Headers = list[tuple[str, bytes | None]]


# --- the runner, driven directly --------------------------------------------------------


@dataclass(frozen=True)
class Rec:
    """A consumed record, as the runner reads it (fits
    :class:`~cites_runtime.consumer.RawRecord`); its key is ``t1``'s unless given."""

    value: bytes | None
    headers: Headers = field(default_factory=list)
    key: bytes | None = b"t1"
    topic: str = THINGS.name
    partition: int = 0
    offset: int = 0
    timestamp: int = 0


class DeadLetters:
    """A publisher that keeps what the runner dead-letters."""

    def __init__(self) -> None:
        self.records: list[OutboundRecord] = []

    async def publish_batch(self, records: Sequence[OutboundRecord]) -> None:
        self.records.extend(records)

    async def enqueue(self, records: Sequence[OutboundRecord]) -> Awaitable[None]:
        await self.publish_batch(records)
        return asyncio.sleep(0)

    async def reset(self) -> None:
        return None

    def reasons(self) -> dict[int, str]:
        """Original offset → ``dlq.reason``."""
        out: dict[int, str] = {}
        for r in self.records:
            h = dict(r.headers)
            out[int(h["dlq.original_offset"])] = h["dlq.reason"].decode()
        return out


def quick_runner(consumer: EventConsumer, pool: asyncpg.Pool, schema: str,
                 dead_letters: DeadLetters, *, max_attempts: int = 2,
                 topic_prefix: str = "") -> ConsumerRunner:
    """A runner of ``consumer`` whose retries come at once (milliseconds of backoff)."""
    return ConsumerRunner(consumer, pool, schema, dead_letters, topic_prefix=topic_prefix,
                          max_attempts=max_attempts, backoff_base=0.001, backoff_cap=0.01)


async def process(runner: ConsumerRunner, records: Sequence[Rec]) -> None:
    """One batch, under a timeout: a wedged runner fails the test instead of hanging it."""
    await asyncio.wait_for(runner.process_batch(records), TIMEOUT)


# --- the relay ----------------------------------------------------------------------------


class Recorder:
    """A publisher that keeps what it is given, in order (acks at once)."""

    def __init__(self) -> None:
        self.records: list[OutboundRecord] = []

    async def enqueue(self, records: Sequence[OutboundRecord]) -> Awaitable[None]:
        self.records.extend(records)
        return asyncio.sleep(0)

    async def publish_batch(self, records: Sequence[OutboundRecord]) -> None:
        self.records.extend(records)


class BetweenBatches:
    """The relay's connection, running ``then`` once, right after the first batch's fetch."""

    def __init__(self, conn: Any, then: Callable[[], Awaitable[None]]):
        self._conn, self._then, self._done = conn, then, False

    async def fetch(self, *args: Any) -> Any:
        rows = await self._conn.fetch(*args)
        if not self._done:
            self._done = True
            await self._then()
        return rows

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)


async def emit(pool: asyncpg.Pool, schema: str, *events: ThingHappened) -> None:
    """``events`` emitted in one committed unit of work."""
    async with unit_of_work(pool, schema) as uow:
        for e in events:
            uow.emit(e)


async def holds(value: bool) -> bool:
    """``value``, awaitable: ``eventually(lambda: holds(x == y))``."""
    return value


async def a_pass_resumes_when_the_older_transaction_ends(settings: ServiceSettings,
                                                         pool: asyncpg.Pool) -> None:
    """A running relay (its poll interval 30 s) stops at a row younger than a transaction
    of its own role, which writes no outbox row (no NOTIFY tells its end), and publishes
    the row as soon as that transaction ends."""
    recorder = Recorder()
    relay = OutboxRelay(settings.dsn, settings.db_schema, recorder, poll_interval=30)
    task = asyncio.create_task(relay.run())
    try:
        await eventually(lambda: holds(relay.is_leader), what="the relay leads")
        async with pool.acquire() as older:
            tx = older.transaction()
            await tx.start()
            await older.execute("INSERT INTO things VALUES ('older', 1)")  # takes an xid
            await emit(pool, settings.db_schema, ThingHappened(thing_id="k", n=1))
            await eventually(lambda: holds(relay.waits_on is not None), timeout=10,
                             what="the pass stopped at the row")
            assert recorder.records == []
            await tx.commit()
        await eventually(lambda: holds(len(recorder.records) == 1), timeout=5,
                         what="published once its own role's older transaction ended")
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


@dataclass
class LateCommit:
    """What the relay did in :func:`an_earlier_event_committing_late`."""

    first_pass: int
    """How many rows its first pass published."""
    stopped: bool
    """Whether that pass stopped behind a transaction still open."""
    published: list[tuple[str, int]]
    """(aggregate id, sequence) of every event it published, in order."""


async def an_earlier_event_committing_late(settings: ServiceSettings,
                                           pool: asyncpg.Pool) -> LateCommit:
    """T1 writes X's event 1 and stays open; T3 (aggregate Y) commits after it; the relay's
    first batch (of one row) sees only T3's row; then T1 commits and T2 writes X's event
    2. The relay's passes until nothing is left."""
    schema = settings.db_schema
    t1 = await pool.acquire()
    tx1 = t1.transaction()
    await tx1.start()
    uow1 = UnitOfWork(t1, channel=outbox_channel(schema))
    uow1.emit(ThingHappened(thing_id="X", n=1))
    await uow1.flush()
    await emit(pool, schema, ThingHappened(thing_id="Y", n=1))

    async def t1_commits_then_t2() -> None:
        await tx1.commit()
        await emit(pool, schema, ThingHappened(thing_id="X", n=2))

    recorder = Recorder()
    relay = OutboxRelay(settings.dsn, schema, recorder, batch_size=1)
    try:
        async with pool.acquire() as conn:
            first = await relay.publish_pending(
                BetweenBatches(conn, t1_commits_then_t2))  # type: ignore[arg-type]
            stopped = relay.waits_on is not None
            while await relay.publish_pending(conn):
                pass
    finally:
        await pool.release(t1)
    published = [json.loads(r.value) for r in recorder.records]
    return LateCommit(first, stopped, [(e["aggregate_id"], e["sequence"]) for e in published])


# --- the address book: a consumer of the compacted cards ---------------------------------

address_book = EventConsumer("addressbook")


@address_book.handles(CardIssued)
async def card_issued(event: CardIssued, ctx: HandlerContext) -> None:
    if await ctx.conn.fetchval("SELECT 1 FROM refused_addresses WHERE email = $1",
                               event.email):
        raise Conflict("this address is refused")
    await ctx.conn.execute(
        """INSERT INTO addresses (card_id, email) VALUES ($1, $2)
           ON CONFLICT (card_id) DO UPDATE SET email = EXCLUDED.email""",
        event.card_id, event.email)
    await ctx.conn.execute("INSERT INTO address_log (action, card_id) VALUES ('card', $1)",
                           event.card_id)


@address_book.handles_tombstones(CARDS)
async def card_erased(card_id: str, ctx: TombstoneContext) -> None:
    if await ctx.conn.fetchval("SELECT 1 FROM legal_holds WHERE card_id = $1", card_id):
        raise Conflict("this card is under a legal hold")
    await ctx.conn.execute("DELETE FROM addresses WHERE card_id = $1", card_id)
    # Not idempotent on purpose: a second run would show here.
    await ctx.conn.execute("INSERT INTO address_log (action, card_id) VALUES ('forget', $1)",
                           card_id)


book = ServiceDefinition(name="addressbook",
                         migrations_dir=Path(__file__).parent / "addressbook_migrations",
                         consumer=address_book)


def card(card_id: str, email: str, sequence: int = 1) -> Envelope[CardIssued]:
    return Envelope.wrap(CardIssued(card_id=card_id, email=email), sequence=sequence)


async def history(pool: asyncpg.Pool) -> list[tuple[str, str]]:
    """What the address book did, in order: ('card' | 'forget', card id)."""
    return [(r["action"], r["card_id"]) for r in await pool.fetch(
        "SELECT action, card_id FROM address_log ORDER BY id")]


async def addresses(pool: asyncpg.Pool) -> dict[str, str]:
    return {r["card_id"]: r["email"] for r in await pool.fetch(
        "SELECT card_id, email FROM addresses")}


SHORT_CARDS = shortened(CARDS)
"""The cards topic with compaction timings of seconds instead of minutes."""


@asynccontextmanager
async def short_cards_producer(settings: ServiceSettings) -> AsyncIterator[AIOKafkaProducer]:
    """The cards topic provisioned as :data:`SHORT_CARDS`, and a producer (the relay's
    settings) on the test's broker."""
    await apply(settings.kafka, [SHORT_CARDS], prefix=settings.topic_prefix)
    p = make_producer(settings.kafka)
    await p.start()
    try:
        yield p
    finally:
        await p.stop()
