from __future__ import annotations

import asyncio
import json
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Sequence
from datetime import timedelta
from typing import Any

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.errors import TopicAuthorizationFailedError
from runtime_kit import (
    Recorder,
    a_pass_resumes_when_the_older_transaction_ends,
    an_earlier_event_committing_late,
    emit,
    holds,
)
from runtime_testapp import THINGS, ThingHappened

from cites_runtime.kafka import AiokafkaPublisher, OutboundRecord, ensure_topics, make_producer
from cites_runtime.relay import OutboxRelay
from cites_runtime.settings import ServiceSettings
from cites_runtime.testing import eventually, read_topic
from cites_runtime.uow import UnitOfWork, outbox_channel, unit_of_work

pytestmark = pytest.mark.integration


@pytest.fixture
async def producer(migrated: ServiceSettings) -> AsyncIterator[AIOKafkaProducer]:
    await ensure_topics(migrated.kafka, [migrated.topic(THINGS.name)])
    p = make_producer(migrated.kafka)
    await p.start()
    yield p
    await p.stop()


def relay_for(s: ServiceSettings, producer: AIOKafkaProducer, **kw: object) -> OutboxRelay:
    publisher = AiokafkaPublisher(producer, factory=lambda: make_producer(s.kafka))
    return OutboxRelay(s.dsn, s.db_schema, publisher,
                       topic_prefix=s.topic_prefix, poll_interval=0.1, **kw)  # type: ignore[arg-type]


async def passes(relay: OutboxRelay, conn: Any, expected: int, mark_conn: Any = None) -> int:
    """Relay passes until ``expected`` rows are out: a pass publishes only rows below its
    barrier, which a transaction of the test's role still open holds back."""
    done, deadline = 0, time.monotonic() + 30
    while done < expected:
        assert time.monotonic() < deadline, f"published {done} of {expected}"
        done += await relay.publish_pending(conn, mark_conn)
        if done < expected:
            await asyncio.sleep(0.05)
    return done


async def test_committed_events_reach_kafka_exactly_once_in_order_per_key(
    migrated: ServiceSettings, pool: asyncpg.Pool, producer: AIOKafkaProducer
) -> None:
    keys = ["a", "b", "c"]
    # 3 aggregates, 10 transactions each of 2 events, interleaved concurrently.
    await asyncio.gather(*(
        emit(pool, migrated.db_schema, ThingHappened(thing_id=k, n=2 * i),
             ThingHappened(thing_id=k, n=2 * i + 1))
        for i in range(10) for k in keys
    ))
    relay = relay_for(migrated, producer, batch_size=7)
    async with pool.acquire() as conn:
        assert await relay.publish_pending(conn) == 60
        assert await relay.publish_pending(conn) == 0  # marked: nothing published twice

    records = await read_topic(migrated.kafka, migrated.topic(THINGS.name),
                               until=lambda r: len(r) >= 60)
    records = await read_topic(migrated.kafka, migrated.topic(THINGS.name))
    envelopes = [json.loads(r.value) for r in records]
    assert len({e["event_id"] for e in envelopes}) == len(envelopes) == 60
    per_key: dict[str, list[int]] = defaultdict(list)
    for rec, env in sorted(zip(records, envelopes, strict=True),
                           key=lambda p: (p[0].partition, p[0].offset)):
        assert rec.key.decode() == env["aggregate_id"]
        headers = dict(rec.headers)
        assert headers["type"] == b"testapp.ThingHappened"
        assert headers["event_id"].decode() == env["event_id"]
        assert headers["traceparent"].startswith(b"00-")
        per_key[env["aggregate_id"]].append(env["sequence"])
    # Sequence is gap-free per aggregate and Kafka holds each key's events in that order.
    assert per_key == {k: list(range(1, 21)) for k in keys}


async def test_a_relay_batch_is_sent_at_once_not_after_the_producers_linger(
    migrated: ServiceSettings
) -> None:
    """The relay hands the producer complete batches: holding them ``linger_ms`` (for
    records ``send()`` might add) would only delay every event by that much."""
    topic = migrated.topic(THINGS.name)
    producer = make_producer(migrated.kafka, linger_ms=3000)
    await producer.start()
    try:
        publisher = AiokafkaPublisher(
            producer, factory=lambda: make_producer(migrated.kafka, linger_ms=3000))
        await publisher.publish_batch([OutboundRecord(topic, b"warm", b"{}", [])])  # metadata
        started = time.monotonic()
        await publisher.publish_batch([OutboundRecord(topic, b"k", b"{}", [])])
        elapsed = time.monotonic() - started
    finally:
        await producer.stop()
    assert elapsed < 1.5, f"{elapsed:.2f} s"


async def test_a_rolled_back_unit_of_work_publishes_nothing(
    migrated: ServiceSettings, pool: asyncpg.Pool, producer: AIOKafkaProducer
) -> None:
    with pytest.raises(RuntimeError, match="use case failed"):
        async with unit_of_work(pool, migrated.db_schema) as uow:
            await uow.conn.execute("INSERT INTO things VALUES ('x', 1)")
            uow.emit(ThingHappened(thing_id="x", n=1))
            await uow.flush()  # even rows already written to the outbox go with the rollback
            raise RuntimeError("use case failed")
    relay = relay_for(migrated, producer)
    async with pool.acquire() as conn:
        assert await relay.publish_pending(conn) == 0
        assert await conn.fetchval("SELECT count(*) FROM outbox") == 0
        assert await conn.fetchval("SELECT count(*) FROM things") == 0
    assert await read_topic(migrated.kafka, migrated.topic(THINGS.name),
                            idle=0.5) == []


async def test_sequences_stay_gap_free_when_concurrent_transactions_roll_back(
    migrated: ServiceSettings, pool: asyncpg.Pool
) -> None:
    async def attempt(i: int) -> None:
        async with unit_of_work(pool, migrated.db_schema) as uow:
            uow.emit(ThingHappened(thing_id="same", n=i))
            await uow.flush()
            if i % 3 == 0:
                raise ValueError("rolled back")

    await asyncio.gather(*(attempt(i) for i in range(30)), return_exceptions=True)
    rows = await pool.fetch("SELECT value FROM outbox ORDER BY id")
    sequences = [json.loads(r["value"])["sequence"] for r in rows]
    assert sequences == list(range(1, 21))


async def test_of_two_relays_only_one_publishes_and_the_other_takes_over(
    migrated: ServiceSettings, pool: asyncpg.Pool, producer: AIOKafkaProducer
) -> None:
    first, second = relay_for(migrated, producer), relay_for(migrated, producer)
    tasks = [asyncio.create_task(first.run()), asyncio.create_task(second.run())]
    topic = migrated.topic(THINGS.name)
    try:
        await emit(pool, migrated.db_schema, *(ThingHappened(thing_id=f"k{i % 5}", n=i)
                                               for i in range(200)))
        await read_topic(migrated.kafka, topic, until=lambda r: len(r) >= 200)
        while first.published + second.published < 200:  # marked just after the acks
            await asyncio.sleep(0.05)
        assert sorted([first.is_leader, second.is_leader]) == [False, True]
        leader, standby = (first, second) if first.is_leader else (second, first)
        assert (leader.published, standby.published) == (200, 0)

        # The leader dies: its connection closes, the lock is released, the standby leads.
        tasks[[first, second].index(leader)].cancel()
        await emit(pool, migrated.db_schema, ThingHappened(thing_id="after", n=1))
        records = await read_topic(migrated.kafka, topic,
                                   until=lambda r: len(r) >= 201)
        while standby.published < 1:
            await asyncio.sleep(0.05)
        assert standby.is_leader and standby.published == 1
        assert len({json.loads(r.value)["event_id"] for r in records}) == 201
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def test_published_rows_are_purged_after_the_retention(
    migrated: ServiceSettings, pool: asyncpg.Pool, producer: AIOKafkaProducer
) -> None:
    await emit(pool, migrated.db_schema, ThingHappened(thing_id="old", n=1),
               ThingHappened(thing_id="new", n=2))
    relay = relay_for(migrated, producer, retention=timedelta(hours=1))
    async with pool.acquire() as conn:
        await relay.publish_pending(conn)
        await conn.execute("UPDATE outbox_published "
                           "SET published_at = now() - interval '2 hours' WHERE key = 'old'")
        await emit(pool, migrated.db_schema, ThingHappened(thing_id="pending", n=3))
        assert await relay.purge(conn) == 1
        left = await conn.fetch("SELECT key, published_at IS NULL AS pending "
                                "FROM outbox_history ORDER BY id")
    assert [(bytes(r["key"]), r["pending"]) for r in left] == [(b"new", False),
                                                                 (b"pending", True)]


async def test_a_published_row_leaves_the_outbox_and_is_kept_for_the_retention_if_any(
    migrated: ServiceSettings, pool: asyncpg.Pool
) -> None:
    """No UPDATE per published row (it rewrote the whole row): the row is deleted once the
    broker has it, and moved in the same statement to ``outbox_published`` when the
    service keeps published events (the retention); without one nothing is kept."""
    await emit(pool, migrated.db_schema, *(ThingHappened(thing_id="k", n=i) for i in range(3)))
    ids = [r["event_id"] for r in await pool.fetch("SELECT event_id FROM outbox ORDER BY id")]
    keeping = OutboxRelay(migrated.dsn, migrated.db_schema, Recorder(), batch_size=2)
    async with pool.acquire() as conn, pool.acquire() as mark_conn:
        assert await passes(keeping, conn, 3, mark_conn) == 3
        assert await conn.fetchval("SELECT count(*) FROM outbox") == 0
        kept = await conn.fetch("SELECT event_id, published_at FROM outbox_published "
                                "ORDER BY id")
        history = await conn.fetch("SELECT event_id FROM outbox_history ORDER BY id")
        progress = await conn.fetchrow("SELECT published_at, published FROM outbox_relay")
    assert [r["event_id"] for r in kept] == [r["event_id"] for r in history] == ids
    assert all(r["published_at"] is not None for r in kept)
    assert progress is not None and progress["published"] == 3
    assert progress["published_at"] >= max(r["published_at"] for r in kept)

    await emit(pool, migrated.db_schema, ThingHappened(thing_id="k", n=3))
    forgetting = OutboxRelay(migrated.dsn, migrated.db_schema, Recorder(),
                             retention=timedelta(0))
    async with pool.acquire() as conn:
        assert await passes(forgetting, conn, 1) == 1
        assert await conn.fetchval("SELECT count(*) FROM outbox") == 0
        assert await conn.fetchval("SELECT count(*) FROM outbox_published") == 3
        assert await conn.fetchval("SELECT published FROM outbox_relay") == 4


async def test_a_mark_waiting_on_the_database_does_not_hold_up_the_next_fetches(
    migrated: ServiceSettings, pool: asyncpg.Pool
) -> None:
    """Fetch and mark go on two sessions: while a batch's mark waits (here on a row lock
    a test transaction holds), the next batches are fetched and handed to the producer."""
    await emit(pool, migrated.db_schema, *(ThingHappened(thing_id="k", n=i) for i in range(6)))
    recorder = Recorder()
    relay = OutboxRelay(migrated.dsn, migrated.db_schema, recorder, batch_size=1)
    async with pool.acquire() as holder, pool.acquire() as conn, \
            pool.acquire() as mark_conn:
        tx = holder.transaction()
        await tx.start()
        await holder.execute("SELECT 1 FROM outbox WHERE id = (SELECT min(id) FROM outbox) "
                             "FOR UPDATE")
        passing = asyncio.ensure_future(passes(relay, conn, 6, mark_conn))
        try:
            await eventually(lambda: holds(len(recorder.records) == 6), timeout=20,
                             what="every batch handed over while the first mark waits")
            assert not passing.done() and relay.published == 0
        finally:
            await tx.rollback()
        assert await passing == 6
    assert [json.loads(r.value)["data"]["n"] for r in recorder.records] == list(range(6))


async def test_a_pass_stopped_by_an_older_open_transaction_resumes_when_it_ends(
    migrated: ServiceSettings, pool: asyncpg.Pool
) -> None:
    """A pass stops at a row younger than a transaction of its role still running. That
    transaction may write no outbox row: no NOTIFY tells its end, and the relay must not
    wait for its poll interval (30 s here) to publish the row."""
    await a_pass_resumes_when_the_older_transaction_ends(migrated, pool)


async def test_a_relay_stops_when_cancelled_as_a_notify_wakes_it(
    migrated: ServiceSettings, pool: asyncpg.Pool, producer: AIOKafkaProducer
) -> None:
    # On Python 3.11, asyncio.wait_for swallowed a cancellation arriving in the same loop
    # step as the wake-up: the relay went on looping and Runtime.stop() hung for ever.
    publisher = AiokafkaPublisher(producer, factory=lambda: make_producer(migrated.kafka))
    relay = OutboxRelay(migrated.dsn, migrated.db_schema, publisher,
                        topic_prefix=migrated.topic_prefix, poll_interval=30)
    stopped = 0
    for _ in range(5):
        task = asyncio.create_task(relay.run())
        while not relay.is_leader:
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.05)  # parked, waiting for a NOTIFY
        relay._on_notify()
        task.cancel()
        done, _ = await asyncio.wait([task], timeout=3)
        stopped += len(done)
        if not done:  # leave nothing running behind the test
            relay._wake.clear()
            task.cancel()
            await asyncio.wait([task], timeout=3)
    assert stopped == 5


async def test_an_aggregates_events_are_published_in_order_when_an_earlier_one_commits_late(
    migrated: ServiceSettings, pool: asyncpg.Pool
) -> None:
    # T1 writes X's event 1 and stays open; T3 (another aggregate) commits after it; the
    # relay's first batch sees only T3's row; then T1 commits and T2 writes X's event 2.
    published = (await an_earlier_event_committing_late(migrated, pool)).published
    x = [sequence for aggregate, sequence in published if aggregate == "X"]
    assert sorted(aggregate for aggregate, _ in published) == ["X", "X", "Y"]
    assert x == [1, 2]


async def test_a_row_committed_after_a_later_id_was_published_is_published_too(
    migrated: ServiceSettings, pool: asyncpg.Pool
) -> None:
    """Ids are not commit order: Q takes its transaction id after P but its outbox id
    before P's, and commits after P's row went out. (Why published rows are not marked by
    an id high-water mark: Q's row would be below it, and lost.)"""
    schema = migrated.db_schema
    p_conn, q_conn = await pool.acquire(), await pool.acquire()
    recorder = Recorder()
    relay = OutboxRelay(migrated.dsn, schema, recorder)
    try:
        p_tx, q_tx = p_conn.transaction(), q_conn.transaction()
        await p_tx.start()
        await q_tx.start()
        await p_conn.execute("INSERT INTO things VALUES ('p', 1)")  # P's xid, then Q's
        await q_conn.execute("INSERT INTO things VALUES ('q', 1)")
        q_uow = UnitOfWork(q_conn, channel=outbox_channel(schema))
        q_uow.emit(ThingHappened(thing_id="Q", n=1))
        await q_uow.flush()  # the lower outbox id
        p_uow = UnitOfWork(p_conn, channel=outbox_channel(schema))
        p_uow.emit(ThingHappened(thing_id="P", n=1))
        await p_uow.flush()
        await p_tx.commit()
        async with pool.acquire() as conn:
            assert await passes(relay, conn, 1) == 1  # P's: older than the open Q
            await q_tx.commit()
            assert await passes(relay, conn, 1) == 1
    finally:
        await pool.release(p_conn)
        await pool.release(q_conn)
    assert [json.loads(r.value)["data"]["thing_id"] for r in recorder.records] == ["P", "Q"]


async def test_the_relays_session_notices_a_vanished_peer(migrated: ServiceSettings) -> None:
    # It holds the leadership lock: a dead relay must lose it within about a minute
    # (server-side keepalives), a dead server must not hold the relay (command timeout).
    relay = OutboxRelay(migrated.dsn, migrated.db_schema, Recorder(), command_timeout=7)
    conn = await relay._connect()
    try:
        settings = {name: await conn.fetchval(f"SHOW {name}") for name in (
            "tcp_keepalives_idle", "tcp_keepalives_interval", "tcp_keepalives_count")}
        timeout = conn._config.command_timeout
    finally:
        await conn.close()
    assert settings == {"tcp_keepalives_idle": "30", "tcp_keepalives_interval": "10",
                        "tcp_keepalives_count": "3"}
    assert timeout == 7


class Unauthorised(Recorder):
    """A producer whose credentials the cluster refuses (an ACL missing): every batch fails
    with a non-retriable error that is no fault of the rows."""

    def __init__(self) -> None:
        super().__init__()
        self.attempts = self.resets = 0

    async def enqueue(self, records: Sequence[OutboundRecord]) -> Awaitable[None]:
        self.attempts += 1
        raise TopicAuthorizationFailedError()

    async def publish_batch(self, records: Sequence[OutboundRecord]) -> None:
        await self.enqueue(records)

    async def reset(self) -> None:
        self.resets += 1


async def test_a_refusal_that_is_not_the_rows_fault_parks_nothing_and_hands_the_lead_over(
    migrated: ServiceSettings, pool: asyncpg.Pool
) -> None:
    """Only what a row itself makes the broker refuse (too large, corrupt) is parked. Any
    other error the client does not retry — here the topic's authorisation — parks nothing:
    the relay recreates its producer and gives its lock up, and a standby (whose
    credentials work) publishes every row in order."""
    refused, working = Unauthorised(), Recorder()
    first = OutboxRelay(migrated.dsn, migrated.db_schema, refused, poll_interval=0.05)
    second = OutboxRelay(migrated.dsn, migrated.db_schema, working, poll_interval=0.05)
    await emit(pool, migrated.db_schema, *(ThingHappened(thing_id="K", n=i) for i in range(5)))
    leading = asyncio.create_task(first.run())
    try:
        # It leads for a moment only each time (refused, it gives the lock up at once,
        # then backs off longer each time): what it tried shows that it led.
        await eventually(lambda: holds(refused.attempts >= 1), what="the first relay leads")
        standby = asyncio.create_task(second.run())
        try:
            await eventually(lambda: holds(len(working.records) == 5), timeout=20,
                             what="the standby publishes every row")
        finally:
            standby.cancel()
            await asyncio.gather(standby, return_exceptions=True)
    finally:
        leading.cancel()
        await asyncio.gather(leading, return_exceptions=True)
    assert await pool.fetchval("SELECT count(*) FROM outbox WHERE parked_at IS NOT NULL") == 0
    assert [json.loads(r.value)["data"]["n"] for r in working.records] == [0, 1, 2, 3, 4]
    assert refused.attempts >= 1 and refused.resets >= 1
