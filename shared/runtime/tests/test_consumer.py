from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import timedelta

import asyncpg
import pytest
import runtime_testapp as testapp
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from prometheus_client import REGISTRY
from runtime_testapp import THINGS, ThingHappened

from cites_contracts import Envelope, encode
from cites_runtime.app import Runtime
from cites_runtime.consumer import ConsumerRunner
from cites_runtime.dlq import list_dead_letters, replay_dead_letters, set_aside
from cites_runtime.kafka import AiokafkaPublisher, make_producer
from cites_runtime.settings import ServiceSettings
from cites_runtime.testing import eventually, read_topic, wait_caught_up
from cites_runtime.testing.infra import Infra

pytestmark = pytest.mark.integration


def publisher(producer: AIOKafkaProducer, s: ServiceSettings) -> AiokafkaPublisher:
    """The producer as a publisher, replaced (after a refused batch) on the same access."""
    return AiokafkaPublisher(producer, factory=lambda: make_producer(s.kafka))


def thing(thing_id: str, n: int = 1, note: str = "", sequence: int = 1
          ) -> Envelope[ThingHappened]:
    return Envelope.wrap(ThingHappened(thing_id=thing_id, n=n, note=note), sequence=sequence)


async def send(producer: AIOKafkaProducer, s: ServiceSettings,
               *items: Envelope[ThingHappened] | bytes) -> None:
    topic = s.topic(THINGS.name)
    for item in items:
        if isinstance(item, bytes):
            await producer.send_and_wait(topic, item, key=b"poison")
        else:
            rec = encode(item)  # type: ignore[arg-type]
            await producer.send_and_wait(topic, rec.value, key=rec.key, headers=rec.headers)


async def tally(pool: asyncpg.Pool) -> list[str]:
    rows = await pool.fetch("SELECT thing_id FROM tally ORDER BY applied_at")
    return [r["thing_id"] for r in rows]


async def test_an_event_delivered_twice_is_applied_once(
    runtime: Runtime, migrated: ServiceSettings, producer: AIOKafkaProducer
) -> None:
    once = thing("twice")
    await send(producer, migrated, once, once, thing("sentinel"))
    await wait_caught_up(migrated.kafka, migrated.topic("tally"),
                         migrated.topic(THINGS.name))
    assert sorted(await tally(runtime.pool)) == ["sentinel", "twice"]
    assert await runtime.pool.fetchval(
        "SELECT count(*) FROM processed_events WHERE event_id = $1", once.event_id) == 1


async def test_a_redelivery_after_a_restart_changes_nothing(
    migrated: ServiceSettings, producer: AIOKafkaProducer, pool: asyncpg.Pool
) -> None:
    first = thing("a")
    await send(producer, migrated, first)
    rt = Runtime(testapp.definition, migrated)
    await rt.start()
    await eventually(lambda: _has(pool, "a"))
    await rt.stop()
    # Same event again (a producer retry, a replayed topic): a new process absorbs it.
    await send(producer, migrated, first, thing("b"))
    rt = Runtime(testapp.definition, migrated)
    await rt.start()
    try:
        await wait_caught_up(migrated.kafka, migrated.topic("tally"),
                             migrated.topic(THINGS.name))
    finally:
        await rt.stop()
    assert sorted(await tally(pool)) == ["a", "b"]


async def test_poison_messages_go_to_the_dlq_with_their_reason_and_the_next_is_applied(
    make_settings: Callable[..., ServiceSettings], migrated: ServiceSettings,
    producer: AIOKafkaProducer, pool: asyncpg.Pool,
) -> None:
    s = make_settings(consumer_max_attempts=2)
    unknown = json.loads(encode(thing("u")).value)  # type: ignore[arg-type]
    unknown["version"] = 99
    bad_payload = json.loads(encode(thing("p")).value)  # type: ignore[arg-type]
    bad_payload["data"]["n"] = "not a number"
    await send(producer, s, b"{not json", json.dumps(unknown).encode(),
               json.dumps(bad_payload).encode(), thing("r", note="reject"),
               thing("c", note="conflict"), thing("b", note="boom"), thing("after"))
    rt = Runtime(testapp.definition, s)
    await rt.start()
    try:
        await eventually(lambda: _has(rt.pool, "after"))
        dlq = s.topic("tally.dlq")
        records = await read_topic(s.kafka, dlq, until=lambda r: len(r) >= 6)
    finally:
        await rt.stop()
    assert await tally(pool) == ["after"]
    reasons = sorted(dict(r.headers)["dlq.reason"].decode() for r in records)
    assert reasons == ["handler-failed", "invalid-payload", "malformed", "rejected",
                       "rejected", "unknown-event"]
    for r in records:
        h = {k: v.decode() for k, v in r.headers}
        assert h["dlq.original_topic"] == s.topic(THINGS.name)
        assert h["dlq.consumer"] == "tally"
        assert int(h["dlq.original_offset"]) >= 0 and h["dlq.error"]
    boom = next(r for r in records if dict(r.headers)["dlq.reason"] == b"handler-failed")
    assert dict(boom.headers)["dlq.attempts"] == b"2"
    assert b"handler bug" in dict(boom.headers)["dlq.error"]
    # A domain error is a refusal, not a failure: dead-lettered at once, with its message.
    refused = {k: v.decode() for k, v in next(
        r for r in records if r.key == b"c").headers}
    assert (refused["dlq.reason"], refused["dlq.attempts"]) == ("rejected", "1")
    assert refused["dlq.error"] == "c: thing c is settled already"


async def test_poison_does_not_block_and_only_good_events_are_applied(
    runtime: Runtime, migrated: ServiceSettings, producer: AIOKafkaProducer
) -> None:
    await send(producer, migrated, b"garbage", thing("ok1"), b"[]", thing("ok2"))
    await wait_caught_up(migrated.kafka, migrated.topic("tally"),
                         migrated.topic(THINGS.name))
    assert sorted(await tally(runtime.pool)) == ["ok1", "ok2"]


@pytest.mark.exclusive  # stops the shared PostgreSQL
async def test_while_postgres_is_stopped_the_consumer_retries_and_skips_nothing(
    infra: Infra, make_settings: Callable[..., ServiceSettings], migrated: ServiceSettings,
    producer: AIOKafkaProducer, pool: asyncpg.Pool,
) -> None:
    infra.require_stoppable("postgres")
    s = make_settings(consumer_batch_size=10)
    retries_before = _transient_retries()
    rt = Runtime(testapp.definition, s)
    await rt.start()
    try:
        await send(producer, s, *(thing(f"before-{i}") for i in range(30)))
        await eventually(lambda: _count(pool, 1))
        infra.stop("postgres")
        try:
            await send(producer, s, *(thing(f"during-{i}") for i in range(30)))
            await asyncio.sleep(3)  # the consumer keeps failing to reach the database
        finally:
            infra.start("postgres")
        await eventually(lambda: _count(pool, 60), timeout=90)
        dead = await list_dead_letters(s.kafka, s.topic("tally.dlq"))
    finally:
        await rt.stop()
    names = await tally(pool)
    assert sorted(names) == sorted([f"before-{i}" for i in range(30)]
                                   + [f"during-{i}" for i in range(30)])
    assert dead == []
    assert _transient_retries() > retries_before  # it really hit the outage, and waited


async def test_a_dead_letter_is_applied_once_when_replayed_after_its_cause_is_fixed(
    make_settings: Callable[..., ServiceSettings], migrated: ServiceSettings,
    producer: AIOKafkaProducer, pool: asyncpg.Pool,
) -> None:
    s = make_settings(consumer_max_attempts=1)
    needs_flag = thing("flagged", note="needs-flag")
    await send(producer, s, needs_flag, thing("next"))
    rt = Runtime(testapp.definition, s)
    await rt.start()
    try:
        await eventually(lambda: _has(pool, "next"))
        dlq = s.topic("tally.dlq")
        await read_topic(s.kafka, dlq, until=lambda r: len(r) >= 1)
    finally:
        await rt.stop()
    runner = ConsumerRunner(testapp.consumer, pool, s.db_schema,
                            publisher(producer, s), topic_prefix=s.topic_prefix)
    group = f"{dlq}-replay"

    still_broken = await replay_dead_letters(runner, s.kafka, dlq, group=group)
    assert still_broken.applied == 0 and len(still_broken.failed or []) == 1

    await pool.execute("INSERT INTO flags VALUES ('fixed')")  # the cause is fixed
    fixed = await replay_dead_letters(runner, s.kafka, dlq, group=group)
    again = await replay_dead_letters(runner, s.kafka, dlq, group=group)
    assert (fixed.applied, fixed.failed) == (1, [])
    assert (again.applied, again.duplicates, again.failed) == (0, 0, [])
    assert sorted(await tally(pool)) == ["flagged", "next"]


async def test_an_event_a_handler_would_emit_over_the_size_limit_dead_letters_its_cause(
    make_settings: Callable[..., ServiceSettings], migrated: ServiceSettings,
    producer: AIOKafkaProducer, pool: asyncpg.Pool,
) -> None:
    """The size bound holds for events born in a consumer too, not only in commands: the
    record whose handler would emit one too large is dead-lettered with why, its batch's
    others applied, and nothing too large reaches the outbox (where the broker would refuse
    it for good)."""
    s = make_settings(event_max_bytes=4_000)
    await send(producer, s, thing("small", note="echo:100"), thing("big", note="echo:6000"),
               thing("next"))
    rt = Runtime(testapp.definition, s)
    await rt.start()
    try:
        await eventually(lambda: _has(pool, "next"))
        letters = await read_topic(s.kafka, s.topic("tally.dlq"),
                                   until=lambda r: len(r) >= 1)
    finally:
        await rt.stop()
    reason = dict(letters[0].headers)["dlq.reason"].decode()
    detail = dict(letters[0].headers)["dlq.error"].decode()
    assert reason == "rejected" and "4000" in detail, (reason, detail)
    echoed = [r["key"] for r in await pool.fetch("SELECT convert_from(key, 'UTF8') AS key "
                                                  "FROM outbox_history")]
    assert echoed == ["small-echo"]
    applied = set(await tally(pool))
    assert {"small", "next"} <= applied and not {"big", "big-echo"} & applied


def _transient_retries() -> float:
    value = REGISTRY.get_sample_value("consumer_retries_total",
                                      {"consumer": "tally", "kind": "transient"})
    return value or 0.0


async def _has(pool: asyncpg.Pool, thing_id: str) -> bool:
    return bool(await pool.fetchval("SELECT 1 FROM tally WHERE thing_id = $1", thing_id))


async def _count(pool: asyncpg.Pool, n: int) -> bool:
    try:
        return int(await pool.fetchval("SELECT count(*) FROM tally")) >= n
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
        return False


async def test_replaying_an_older_dead_letter_cannot_undo_a_newer_event_of_its_aggregate(
    make_settings: Callable[..., ServiceSettings], migrated: ServiceSettings,
    producer: AIOKafkaProducer, pool: asyncpg.Pool,
) -> None:
    # X's event 1 fails (dead letter), X's event 2 applies; the cause of 1 is fixed and
    # the operator replays: applying 1 now would put X back in the state before 2.
    s = make_settings(consumer_max_attempts=1)
    await send(producer, s, thing("X", n=1, note="needs-flag", sequence=1),
               thing("X", n=2, sequence=2))
    rt = Runtime(testapp.definition, s)
    await rt.start()
    try:
        await eventually(lambda: _count(pool, 1))
        dlq = s.topic("tally.dlq")
        await read_topic(s.kafka, dlq, until=lambda r: len(r) >= 1)
    finally:
        await rt.stop()
    await pool.execute("INSERT INTO flags VALUES ('fixed')")
    runner = ConsumerRunner(testapp.consumer, pool, s.db_schema,
                            publisher(producer, s), topic_prefix=s.topic_prefix)
    replayed = await replay_dead_letters(runner, s.kafka, dlq,
                                         group=f"{dlq}-replay")
    applied = await pool.fetch("SELECT n FROM tally ORDER BY applied_at")
    assert (replayed.applied, replayed.stale, replayed.failed) == (0, 1, [])
    assert [r["n"] for r in applied] == [2]


async def test_an_old_event_redelivered_after_its_inbox_row_was_purged_changes_nothing(
    runtime: Runtime, migrated: ServiceSettings, producer: AIOKafkaProducer,
    pool: asyncpg.Pool,
) -> None:
    first, second = thing("Y", n=1, sequence=1), thing("Y", n=2, sequence=2)
    await send(producer, migrated, first, second)
    await eventually(lambda: _count(pool, 2))
    await pool.execute("DELETE FROM processed_events")  # the inbox's retention passed
    await send(producer, migrated, first, thing("sentinel"))
    await eventually(lambda: _has(pool, "sentinel"))
    assert [r["n"] for r in await pool.fetch(
        "SELECT n FROM tally WHERE thing_id = 'Y' ORDER BY applied_at")] == [1, 2]
    assert runtime.runner is not None and runtime.runner.stale == 1  # skipped, not failed


async def test_the_inbox_forgets_rows_older_than_its_retention(
    migrated: ServiceSettings, pool: asyncpg.Pool, producer: AIOKafkaProducer,
) -> None:
    await pool.execute(
        """INSERT INTO processed_events (consumer, event_id, processed_at) VALUES
           ('tally', gen_random_uuid(), now() - interval '9 days'),
           ('tally', gen_random_uuid(), now() - interval '1 hour'),
           ('other', gen_random_uuid(), now() - interval '9 days')""")
    runner = ConsumerRunner(testapp.consumer, pool, migrated.db_schema,
                            publisher(producer, migrated))
    assert await runner.purge_inbox(timedelta(days=7)) == 1
    left = await pool.fetch("SELECT consumer FROM processed_events ORDER BY consumer")
    assert [r["consumer"] for r in left] == ["other", "tally"]


@pytest.mark.parametrize("decision", ["skipped", "parked"])
async def test_a_letter_that_never_applies_can_be_set_aside_so_its_partition_replays(
    make_settings: Callable[..., ServiceSettings], migrated: ServiceSettings,
    producer: AIOKafkaProducer, pool: asyncpg.Pool, decision: str,
) -> None:
    s = make_settings(consumer_max_attempts=1)
    # Same aggregate, same partition: a bug that never goes away, then a fixable cause.
    await send(producer, s, thing("Z", n=1, note="boom", sequence=1),
               thing("Z", n=2, note="needs-flag", sequence=2), thing("sentinel"))
    rt = Runtime(testapp.definition, s)
    await rt.start()
    try:
        await eventually(lambda: _has(pool, "sentinel"))
        dlq = s.topic("tally.dlq")
        letters = await read_topic(s.kafka, dlq, until=lambda r: len(r) >= 2)
    finally:
        await rt.stop()
    await pool.execute("INSERT INTO flags VALUES ('fixed')")
    runner = ConsumerRunner(testapp.consumer, pool, s.db_schema,
                            publisher(producer, s), topic_prefix=s.topic_prefix)
    group = f"{dlq}-replay"
    blocked = await replay_dead_letters(runner, s.kafka, dlq, group=group)
    first = min(letters, key=lambda r: r.offset)
    await set_aside(publisher(producer, s), s.kafka, dlq,
                    group=group, partition=first.partition, offset=first.offset,
                    decision=decision, reason="handler bug #123, fixed in the next release")
    unblocked = await replay_dead_letters(runner, s.kafka, dlq, group=group)
    kept = await read_topic(s.kafka, f"{dlq}.{decision}",
                            until=lambda r: len(r) >= 1)
    assert (blocked.applied, len(blocked.failed or [])) == (0, 1)  # the second waits
    assert (unblocked.applied, unblocked.failed) == (1, [])
    assert [r["n"] for r in await pool.fetch(
        "SELECT n FROM tally WHERE thing_id = 'Z'")] == [2]
    headers = {k: v.decode() for k, v in kept[0].headers}
    assert (headers["dlq.decision"], headers["dlq.decision_reason"]) == (
        decision, "handler bug #123, fixed in the next release")
    assert headers["dlq.reason"] == "handler-failed"


async def test_retrying_longer_than_the_poll_interval_keeps_the_group_and_dead_letters_once(
    make_settings: Callable[..., ServiceSettings], migrated: ServiceSettings,
    producer: AIOKafkaProducer, pool: asyncpg.Pool,
) -> None:
    """Two replicas share the partitions. A transient failure outlasting
    ``max_poll_interval`` (the table the handler reads stays locked for 3× that) must not
    make Kafka hand the batch to the other replica while the first still works on it —
    both would dead-letter the poison beside it. The runner gives the batch back (rewound)
    before the interval ends and polls again: the group stays as it is, one dead letter."""
    s = make_settings(consumer_max_poll_interval_s=3.0)
    topic, group = s.topic(THINGS.name), s.topic("tally")
    rewound = REGISTRY.get_sample_value("consumer_batches_rewound_total",
                                        {"consumer": "tally"}) or 0.0
    replicas = [Runtime(testapp.definition, s), Runtime(testapp.definition, s)]
    locker = await asyncpg.connect(migrated.dsn)
    try:
        for rt in replicas:
            await rt.start()
        await eventually(lambda: _group_is(s, group, "Stable", members=2), timeout=60,
                         what="both replicas in the group")
        async with locker.transaction():
            await locker.execute(f"LOCK TABLE {s.db_schema}.flags IN ACCESS EXCLUSIVE MODE")
            slow = encode(thing("slow", note="reads-flags"))  # type: ignore[arg-type]
            for value, key, headers in ((b"{not json", b"poison", []),
                                        (slow.value, slow.key, slow.headers)):
                await producer.send_and_wait(topic, value, key=key, headers=headers,
                                                 partition=0)
            await asyncio.sleep(3 * s.consumer_max_poll_interval_s)
            assert await _group_is(s, group, "Stable", members=2)
        await eventually(lambda: _has(pool, "slow"), timeout=30)
        await wait_caught_up(s.kafka, group, topic)
        await asyncio.sleep(2)  # a second dead letter would be on its way by now
    finally:
        await locker.close()
        for rt in replicas:
            await rt.stop()
    letters = await list_dead_letters(s.kafka, s.topic("tally.dlq"))
    assert [letter.reason for letter in letters] == ["malformed"]
    assert await tally(pool) == ["slow"]
    assert (REGISTRY.get_sample_value("consumer_batches_rewound_total",
                                      {"consumer": "tally"}) or 0.0) > rewound


async def _group_is(s: ServiceSettings, group: str, state: str, *, members: int) -> bool:
    admin = AIOKafkaAdminClient(**s.kafka.client_kwargs())
    await admin.start()
    try:
        [described] = await admin.describe_consumer_groups([group])
    finally:
        await admin.close()
    _error, _group, current, _protocol_type, _protocol, joined, *_ = described.groups[0]
    return bool(current == state and len(joined) == members)
