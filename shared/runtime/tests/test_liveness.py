"""/health/live on the real broker and database: 503, naming the loop, when the consumer's
poll loop, a batch, the relay or a background job died or stopped making progress while
work waited; 200 for a process that merely has nothing to do."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
import runtime_testapp as testapp
from aiokafka import AIOKafkaProducer
from runtime_testapp import THINGS, ThingHappened

from cites_contracts import Envelope, encode
from cites_runtime.app import Runtime, build_app
from cites_runtime.settings import ServiceSettings
from cites_runtime.testing import eventually
from cites_runtime.testing.http import serve_app

pytestmark = pytest.mark.integration

WINDOW = 1.0  # seconds: the liveness window of these tests


async def _send(producer: AIOKafkaProducer, s: ServiceSettings, thing_id: str,
                note: str = "") -> None:
    rec = encode(Envelope.wrap(ThingHappened(thing_id=thing_id, n=1, note=note), sequence=1))
    await producer.send_and_wait(s.topic(THINGS.name), rec.value, key=rec.key,
                                 headers=rec.headers)


@pytest.fixture
def served(migrated: ServiceSettings) -> Callable[..., Any]:
    """``async with served(definition) as (http, runtime)``: the app served for real."""
    settings = migrated.model_copy(update={"liveness_window_s": WINDOW})

    @asynccontextmanager_
    async def serve(definition: Any = testapp.definition
                    ) -> AsyncIterator[tuple[httpx.AsyncClient, Runtime[Any]]]:
        app = build_app(definition, settings)
        async with serve_app(app) as url, httpx.AsyncClient(base_url=url) as http:
            yield http, app.state.runtime

    return serve


def asynccontextmanager_(fn: Any) -> Any:
    import contextlib

    return contextlib.asynccontextmanager(fn)


async def _dead(http: httpx.AsyncClient, loop: str) -> dict[str, str]:
    """Waits until /health/live answers 503 naming ``loop``; returns its checks."""
    seen: dict[str, str] = {}

    async def says_so() -> bool:
        nonlocal seen
        answer = await http.get("/health/live")
        seen = answer.json()["checks"]
        return answer.status_code == 503 and loop in seen

    await eventually(says_so, timeout=WINDOW * 15, what=f"/health/live naming {loop}")
    return seen


async def test_an_idle_process_stays_live(served: Callable[..., Any]) -> None:
    async with served() as (http, _):
        await asyncio.sleep(WINDOW * 3)
        answer = await http.get("/health/live")
    assert (answer.status_code, answer.json()) == (200, {"status": "ok", "checks": {}})


async def test_a_wedged_batch_makes_the_process_not_live(
    served: Callable[..., Any], producer: AIOKafkaProducer, migrated: ServiceSettings
) -> None:
    async with served() as (http, _):
        await _send(producer, migrated, "stuck", note="wedge")
        checks = await _dead(http, "consumer")
        ready = (await http.get("/health/ready")).json()["checks"]
    assert "without progress" in checks["consumer"]
    assert "without progress" in ready["live:consumer"]  # readiness names it too


async def test_a_poll_loop_that_stops_taking_records_while_some_wait_is_not_live(
    served: Callable[..., Any], producer: AIOKafkaProducer, migrated: ServiceSettings
) -> None:
    async with served() as (http, runtime):
        await _send(producer, migrated, "first")  # the loop polls, is assigned, applies it

        async def applied() -> bool:
            return bool(await runtime.pool.fetchval("SELECT count(*) FROM tally"))

        await eventually(applied, what="the first thing applied")
        client = runtime.subscriber.consumer

        async def never(*args: Any, **kwargs: Any) -> Any:
            await asyncio.Event().wait()

        client.getmany = never  # its next poll never returns; the task lives on
        await asyncio.sleep(WINDOW * 2)
        assert (await http.get("/health/live")).status_code == 200  # nothing waits yet
        await _send(producer, migrated, "second")
        checks = await _dead(http, "consumer")
    assert "records wait" in checks["consumer"]


async def test_a_poll_loop_that_died_makes_the_process_not_live(
    served: Callable[..., Any]
) -> None:
    async with served() as (http, runtime):
        for task in runtime.subscriber.tasks:
            task.cancel()
        checks = await _dead(http, "consumer")
    assert "poll loop stopped" in checks["consumer"]


async def test_a_dead_relay_makes_the_process_not_live(served: Callable[..., Any]) -> None:
    async with served() as (http, runtime):
        relay = next(t for t in runtime._tasks if t.get_name() == "relay")
        relay.cancel()
        checks = await _dead(http, "relay")
    assert checks["relay"].startswith("relay: stopped")


async def test_a_background_job_that_died_or_stopped_its_rounds_makes_the_process_not_live(
    served: Callable[..., Any]
) -> None:
    async def dies(runtime: Runtime[Any]) -> None:
        raise SystemError("a defect the job never catches")

    async def wedges(runtime: Runtime[Any]) -> None:
        runtime.heartbeat("wedges", every=0.1).beat()
        await asyncio.Event().wait()  # its round never ends

    dies.__name__, wedges.__name__ = "dies", "wedges"
    definition = dataclasses.replace(testapp.definition, background=[dies, wedges])
    async with served(definition) as (http, _):
        checks = await _dead(http, "wedges")
        assert "dies" in checks
    assert "SystemError" in checks["dies"]
    assert "no round for" in checks["wedges"]
