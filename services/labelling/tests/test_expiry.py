"""Expiry: the scheduled check emits ``LabelExpired`` exactly once per label, even with
several replicas checking at the same time (real PostgreSQL and Kafka)."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from datetime import date

import pytest
from labelling.app import definition
from labelling.expiry import expire_due_labels
from labelling.settings import LabellingSettings
from labelling_kit import label_through_service

from cites_contracts import decode
from cites_runtime.app import Runtime
from cites_runtime.testing import FakeClock, all_published, eventually, read_topic

pytestmark = pytest.mark.integration


async def start_replicas(settings: LabellingSettings, n: int = 2) -> list[Runtime]:
    replicas = [Runtime(definition, settings) for _ in range(n)]
    for replica in replicas:
        await replica.start()
    return replicas


@pytest.fixture
async def replicas(migrated: LabellingSettings) -> AsyncIterator[list[Runtime]]:
    running = await start_replicas(migrated)
    yield running
    for replica in running:
        await replica.stop()


async def expired_on_kafka(s: LabellingSettings, runtime: Runtime) -> Counter[str]:
    await all_published(runtime)
    records = await read_topic(s.kafka, s.topic("labelling.labels"), idle=0.5)
    return Counter(r.key.decode() for r in records
                   if decode(r.value, r.headers).type == "labelling.LabelExpired")


async def test_two_replicas_checking_together_expire_each_label_exactly_once(
        replicas: list[Runtime], migrated: LabellingSettings, clock: FakeClock) -> None:
    first = replicas[0]
    cites = [await label_through_service(first, territory_name=f"Territoire {n}")
             for n in range(12)]
    clock.set_date(date(2028, 3, 10))  # the labels of 2025-03-10 ended on 2028-03-09

    passes = await asyncio.gather(*(expire_due_labels(r)
                                    for _ in range(3) for r in replicas))

    expired_by_passes = Counter(cite for p in passes for cite in p)
    assert expired_by_passes == Counter(cites)
    assert await expired_on_kafka(migrated, first) == Counter(cites)
    statuses = await first.pool.fetch("SELECT DISTINCT status FROM cites")
    assert [r["status"] for r in statuses] == ["expired"]


async def test_a_label_is_not_expired_on_its_last_day(
        replicas: list[Runtime], migrated: LabellingSettings, clock: FakeClock) -> None:
    await label_through_service(replicas[0])
    clock.set_date(date(2028, 3, 9))
    assert await expire_due_labels(replicas[0]) == []
    clock.set_date(date(2028, 3, 10))
    assert await expire_due_labels(replicas[0]) == ["cite-001"]


async def test_the_background_check_of_every_replica_expires_labels_once(
        migrated: LabellingSettings, clock: FakeClock) -> None:
    s = migrated.model_copy(update={"expiry_check_interval_s": 0.1})
    replicas = await start_replicas(s)
    try:
        early = [await label_through_service(replicas[0], territory_name=f"T{n}")
                 for n in range(3)]
        clock.set_date(date(2026, 9, 1))
        later = await label_through_service(replicas[0], territory_name="Later")
        clock.set_date(date(2028, 3, 10))  # only the early ones are due

        async def early_expired() -> bool:
            n: int = await replicas[0].pool.fetchval(
                "SELECT count(*) FROM cites WHERE status = 'expired'")
            return n == 3

        await eventually(early_expired, what="the early labels expired")
        clock.set_date(date(2029, 9, 2))  # now the later one is due too

        async def later_expired() -> bool:
            status: str = await replicas[0].pool.fetchval(
                "SELECT status FROM cites WHERE cite_id = $1", later)
            return status == "expired"

        # Checks kept running after the first expiries: a second LabelExpired would show.
        await eventually(later_expired, what="the later label expired")
        assert await expired_on_kafka(s, replicas[0]) == Counter([*early, later])
    finally:
        for replica in replicas:
            await replica.stop()
