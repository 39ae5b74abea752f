from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path

import asyncpg
import pytest
import runtime_testapp as testapp
from runtime_testapp import THINGS, ThingHappened

from cites_runtime.app import Runtime
from cites_runtime.kafka import AiokafkaPublisher, ensure_topics, make_producer
from cites_runtime.relay import OutboxRelay
from cites_runtime.settings import ServiceSettings
from cites_runtime.testing import read_topic, wait_caught_up
from cites_runtime.uow import unit_of_work

pytestmark = pytest.mark.integration

WORKER = Path(__file__).with_name("relay_crash_worker.py")


async def test_a_relay_killed_between_publish_and_mark_loses_nothing(
    migrated: ServiceSettings, pool: asyncpg.Pool
) -> None:
    s = migrated
    topic = s.topic(THINGS.name)
    await ensure_topics(s.kafka, [topic])
    async with unit_of_work(pool, s.db_schema) as uow:
        for i in range(50):
            uow.emit(ThingHappened(thing_id=f"t{i % 7}", n=i))

    access = s.kafka
    kafka_env = {"KAFKA_BOOTSTRAP_SERVERS": access.bootstrap,
                 "KAFKA_SASL_MECHANISM": access.mechanism,
                 **({"KAFKA_USERNAME": access.username, "KAFKA_PASSWORD": access.password or ""}
                    if access.username is not None else {})}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(WORKER), s.dsn, s.db_schema, s.topic_prefix, "20",
        stdout=asyncio.subprocess.PIPE, env={**os.environ, **kafka_env})
    out, _ = await proc.communicate()
    assert proc.returncode == -signal.SIGKILL, out
    assert b"published 20, dying before mark" in out
    assert await pool.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL") == 50
    # Killed before marking anything: the first batch, and maybe the next (pipelined),
    # reached Kafka.
    before = len(await read_topic(s.kafka, topic, idle=0.5))
    assert 20 <= before <= 50

    # A new relay re-sends the unmarked rows (those already sent a second time).
    producer = make_producer(s.kafka)
    await producer.start()
    try:
        relay = OutboxRelay(s.dsn, s.db_schema,
                            AiokafkaPublisher(producer, factory=lambda: make_producer(s.kafka)),
                            topic_prefix=s.topic_prefix)
        async with pool.acquire() as conn:
            assert await relay.publish_pending(conn) == 50
    finally:
        await producer.stop()
    records = await read_topic(s.kafka, topic,
                               until=lambda r: len(r) >= before + 50)
    ids = [json.loads(r.value)["event_id"] for r in records]
    assert (len(ids), len(set(ids))) == (before + 50, 50)

    # The consumer's inbox absorbs the duplicates: every event applied exactly once.
    rt = Runtime(testapp.definition, s.model_copy(update={"relay_enabled": False}))
    await rt.start()
    try:
        # Every record consumed and committed, duplicates included.
        await wait_caught_up(s.kafka, s.topic("tally"), topic)
    finally:
        await rt.stop()
    assert await pool.fetchval("SELECT count(*) FROM tally") == 50
    assert await pool.fetchval("SELECT count(DISTINCT event_id) FROM tally") == 50
