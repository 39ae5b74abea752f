"""What ``/metrics`` tells an operator, read on the real broker and database: the
consumer's lag per partition rising while the consumer is held and falling once it runs;
the pool's connections, readiness, the relay's leadership and ``build_info``."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import httpx
import pytest
import runtime_testapp as testapp
from aiokafka import AIOKafkaProducer
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families
from runtime_testapp import THINGS, ThingHappened

from cites_contracts import Envelope, encode
from cites_runtime.app import build_app
from cites_runtime.metrics import CONSUMER_LAG, build_commit
from cites_runtime.settings import ServiceSettings
from cites_runtime.testing import eventually
from cites_runtime.testing.http import serve_app

pytestmark = pytest.mark.integration

OPERATOR = {"Authorization": "Bearer tok-operator"}

Sample = tuple[dict[str, str], float]


async def scrape(http: httpx.AsyncClient, name: str) -> list[Sample]:
    """The samples of ``name`` on ``/metrics``: (labels, value) each."""
    answer = await http.get("/metrics", headers=OPERATOR)
    answer.raise_for_status()
    return [(dict(s.labels), s.value) for family in text_string_to_metric_families(answer.text)
            for s in family.samples if s.name == name]


async def _send(producer: AIOKafkaProducer, s: ServiceSettings, thing_id: str) -> None:
    rec = encode(Envelope.wrap(ThingHappened(thing_id=thing_id, n=1), sequence=1))
    await producer.send_and_wait(s.topic(THINGS.name), rec.value, key=rec.key,
                                 headers=rec.headers)


def _held(original: Callable[[Sequence[Any]], Awaitable[None]], gate: asyncio.Event
          ) -> Callable[[Sequence[Any]], Awaitable[None]]:
    async def process_batch(records: Sequence[Any]) -> None:
        await gate.wait()
        await original(records)

    return process_batch


async def test_the_lag_gauge_rises_while_the_consumer_is_held_and_falls_once_it_runs(
    migrated: ServiceSettings, producer: AIOKafkaProducer
) -> None:
    group = migrated.topic(testapp.consumer.name)
    app = build_app(testapp.definition, migrated)
    runtime = app.state.runtime
    async with serve_app(app) as url, httpx.AsyncClient(base_url=url) as http:
        await _send(producer, migrated, "first")

        async def tallied(n: int) -> bool:
            return await runtime.pool.fetchval("SELECT count(*) FROM tally") == n

        await eventually(lambda: tallied(1), what="the first thing applied")

        async def lag() -> float | None:
            mine = [v for labels, v in await scrape(http, "consumer_lag_records")
                    if labels["group"] == group]
            return sum(mine) if mine else None

        await eventually(lambda: _equals(lag(), 0), what="lag 0 once the first is committed",
                         every=0.3)
        gate = asyncio.Event()
        runtime.runner.process_batch = _held(runtime.runner.process_batch, gate)
        for i in range(5):
            await _send(producer, migrated, f"held-{i}")
        await eventually(lambda: _equals(lag(), 5), what="lag 5 while the consumer is held",
                         every=0.3)
        assert await tallied(1)
        series = await scrape(http, "consumer_lag_records")
        gate.set()
        await eventually(lambda: _equals(lag(), 0), what="lag 0 once the consumer runs",
                         every=0.3)
        assert await tallied(6)
    partitions = {labels["partition"] for labels, _ in series if labels["group"] == group}
    assert partitions == {str(p) for p in range(THINGS.partitions)}  # every one assigned
    assert {tuple(sorted(labels)) for labels, _ in series} == {
        tuple(sorted(CONSUMER_LAG._labelnames))}
    assert {labels["consumer"] for labels, _ in series
            if labels["group"] == group} == {testapp.consumer.name}
    assert {labels["topic"] for labels, _ in series
            if labels["group"] == group} == {migrated.topic(THINGS.name)}
    left = [s for family in text_string_to_metric_families(generate_latest().decode())
            for s in family.samples
            if s.name == "consumer_lag_records" and s.labels["group"] == group]
    assert left == [], "a stopped runtime's lag series are removed"


async def _equals(value: Awaitable[float | None], expected: float) -> bool:
    return await value == expected


async def test_metrics_tell_the_pool_readiness_leadership_and_build(
    migrated: ServiceSettings
) -> None:
    app = build_app(testapp.definition, migrated)
    runtime = app.state.runtime
    async with serve_app(app) as url, httpx.AsyncClient(base_url=url) as http:
        await eventually(lambda: _leads(runtime), what="the relay leads")
        pool = {labels["state"]: v for labels, v in await scrape(http, "db_pool_connections")
                if labels["schema"] == migrated.db_schema}
        pool_max = [v for labels, v in await scrape(http, "db_pool_max_connections")
                    if labels["schema"] == migrated.db_schema]
        ready = [v for labels, v in await scrape(http, "service_ready")
                 if labels["service"] == testapp.definition.name]
        checks = {labels["check"]: v
                  for labels, v in await scrape(http, "service_readiness_check")
                  if labels["service"] == testapp.definition.name}
        leader = [v for labels, v in await scrape(http, "outbox_relay_leader")
                  if labels["schema"] == migrated.db_schema]
        build = [labels for labels, v in await scrape(http, "build_info")
                 if labels["service"] == testapp.definition.name and v == 1]
    assert set(pool) == {"in_use", "idle"}
    assert pool["in_use"] + pool["idle"] >= 1
    assert pool_max == [migrated.db_pool_max]
    assert ready == [1.0]
    assert checks == {"database": 1.0, "broker": 1.0, "relay": 1.0}
    assert leader == [1.0]
    assert build == [{"service": testapp.definition.name,
                      "version": testapp.definition.version, "commit": build_commit()}]


async def _leads(runtime: Any) -> bool:
    return runtime.relay is not None and runtime.relay.is_leader


def test_the_commit_comes_from_the_environment_else_from_git(
    monkeypatch: pytest.MonkeyPatch
) -> None:
    head = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                          check=True).stdout.strip()
    try:
        monkeypatch.setenv("CITES_BUILD_COMMIT", "0123abc")
        build_commit.cache_clear()
        assert build_commit() == "0123abc"
        monkeypatch.delenv("CITES_BUILD_COMMIT")
        build_commit.cache_clear()
        assert build_commit() == head
    finally:
        build_commit.cache_clear()
