"""The FastStream subscriber the runtime binds a consumer to, on the real broker: offsets
are committed only past records the runner finished, and a batch that did not finish —
whatever stopped it, outside the runner too — is fetched again, never passed over."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import asyncpg
import pytest
import runtime_testapp as testapp
from aiokafka import AIOKafkaProducer
from prometheus_client import REGISTRY
from runtime_testapp import THINGS, ThingHappened

from cites_contracts import Envelope, encode
from cites_runtime.app import Runtime
from cites_runtime.consumer import ConsumerRunner
from cites_runtime.settings import ServiceSettings
from cites_runtime.testing import eventually, wait_caught_up

pytestmark = pytest.mark.integration


async def _send(producer: AIOKafkaProducer, s: ServiceSettings, *thing_ids: str) -> None:
    for thing_id in thing_ids:
        rec = encode(Envelope.wrap(ThingHappened(thing_id=thing_id, n=1), sequence=1))
        await producer.send_and_wait(s.topic(THINGS.name), rec.value, key=rec.key,
                                     headers=rec.headers, partition=0)


async def _applied(pool: asyncpg.Pool) -> list[str]:
    return [r["thing_id"] for r in await pool.fetch(
        "SELECT thing_id FROM tally ORDER BY thing_id")]


async def test_a_batch_that_fails_before_its_end_is_fetched_again_not_passed_over(
    migrated: ServiceSettings, producer: AIOKafkaProducer, pool: asyncpg.Pool,
    monkeypatch: pytest.MonkeyPatch
) -> None:
    """A defect that fails a whole batch (here the runner itself, the first two times):
    the batch is rewound and said loudly; once it passes, every record is applied. Were
    it passed over, the next batch's commit would have skipped its records for good."""
    failures = 2
    real = ConsumerRunner.process_batch
    before = _batch_failures()

    async def flaky(self: ConsumerRunner, records: Sequence[Any]) -> None:
        nonlocal failures
        if failures:
            failures -= 1
            raise RuntimeError("a defect outside any record")
        await real(self, records)

    monkeypatch.setattr(ConsumerRunner, "process_batch", flaky)
    await _send(producer, migrated, "a", "b", "c")
    runtime = Runtime(testapp.definition, migrated)
    await runtime.start()
    try:
        await wait_caught_up(migrated.kafka, migrated.topic("tally"),
                             migrated.topic(THINGS.name))
        await _send(producer, migrated, "d")

        async def all_four() -> bool:
            return await _applied(pool) == ["a", "b", "c", "d"]

        await eventually(all_four, what="every record applied")
    finally:
        await runtime.stop()
    assert failures == 0
    assert _batch_failures() - before == 2


def _batch_failures() -> float:
    return REGISTRY.get_sample_value("consumer_batch_failures_total",
                                     {"consumer": "tally"}) or 0.0


async def test_offsets_are_committed_only_past_the_records_of_finished_batches(
    migrated: ServiceSettings, producer: AIOKafkaProducer, pool: asyncpg.Pool
) -> None:
    await _send(producer, migrated, "x", "y")
    runtime = Runtime(testapp.definition, migrated)
    await runtime.start()
    try:
        await wait_caught_up(migrated.kafka, migrated.topic("tally"),
                             migrated.topic(THINGS.name))
        assert await _applied(pool) == ["x", "y"]
        client = runtime.subscriber.consumer
        committed = await client.committed(
            next(tp for tp in client.assignment() if tp.partition == 0))
    finally:
        await runtime.stop()
    assert committed == 2  # the two records' offsets are 0 and 1
