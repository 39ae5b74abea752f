"""A server of the platform stops mid-run and comes back: 1,000 cités labelled through
labelling's API meanwhile must open 1,000 alliances in partners, each once, with nothing
dead-lettered and partners' lag back to 0."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import httpx
import pytest
from e2e_platform import Platform
from faults_kit import Figures, label_all, outcome, report, wait_alliances

from cites_runtime.testing import eventually
from cites_runtime.testing.infra import Infra

# Kafka and PostgreSQL are stopped mid-run: no other test may run meanwhile.
pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.exclusive]

CITES = 1_000
FAULT_AT = 300  # cités labelled when the fault is injected


async def run_with_fault(platform: Platform, stop: Callable[[], None],
                         start: Callable[[], None], down_for: float,
                         while_down: Callable[[], object] | None = None,
                         ) -> tuple[list[str], float, float, list[object]]:
    """Label CITES cités; after FAULT_AT, stop a server for ``down_for`` seconds (calling
    ``while_down`` every second meanwhile). Returns the cités, the outage (from the stop
    asked to the server answering again), the recovery time (server back → every cité
    labelled by then has its alliance) and what ``while_down`` returned."""
    labelled: list[str] = []
    seen: list[object] = []
    driving = asyncio.ensure_future(label_all(platform, labelled, CITES))

    async def fault_time() -> bool:
        if driving.done():
            driving.result()  # a failure of the run shows as itself
        return len(labelled) >= FAULT_AT

    try:
        await eventually(fault_time, timeout=240, every=0.05, what=f"{FAULT_AT} cités")
        down = time.monotonic()
        await asyncio.to_thread(stop)
        stopped = time.monotonic()
        while time.monotonic() - stopped < down_for:
            if while_down is not None:
                seen.append(await while_down())  # type: ignore[misc]
            await asyncio.sleep(1)
        await asyncio.to_thread(start)
        back = time.monotonic()
        recovery = await wait_alliances(platform, len(labelled), timeout=240)
        await driving
    finally:
        if not driving.done():
            driving.cancel()
    return labelled, back - down, recovery, seen


async def test_kafka_stopped_15_s_mid_run(platform: Platform, can_stop: Infra) -> None:
    async def readiness() -> int:
        async with httpx.AsyncClient(timeout=5) as http:
            return (await http.get(f"{platform.labelling.ops_url}/health/ready")).status_code

    labelled, outage, recovery, ready = await run_with_fault(
        platform, lambda: can_stop.stop("kafka"), lambda: can_stop.start("kafka"),
        down_for=15, while_down=readiness)
    result = await outcome(platform, labelled)
    report(Figures("broker restart", "Kafka stopped for 15 s (controlled shutdown) mid-run",
                   len(labelled), result.lost, result.doubled, result.dead_letters, recovery,
                   f"outage {outage:.0f} s; commands refused 0 of {len(labelled) * 4} "
                   f"(labelling ready throughout); {result.wire_duplicates} re-sent on the "
                   "wire"))

    assert len(set(labelled)) == CITES
    assert (result.lost, result.doubled, result.dead_letters) == (0, 0, 0)
    assert platform.resent == 0  # the outbox kept every command's events: no 503 at all
    assert ready and set(ready) == {200}  # a broker outage keeps the API in service


async def test_postgres_fast_shutdown_and_restart_mid_run(platform: Platform,
                                                         can_stop: Infra) -> None:
    labelled, outage, recovery, _ = await run_with_fault(
        platform, lambda: can_stop.stop("postgres"), lambda: can_stop.start("postgres"),
        down_for=5)
    result = await outcome(platform, labelled)
    report(Figures("PostgreSQL restart", "the server stopped (fast shutdown), started again "
                   "mid-run", len(labelled), result.lost, result.doubled, result.dead_letters,
                   recovery, f"outage {outage:.0f} s; {platform.resent} requests answered 503 "
                   "or unanswered, sent again; no 500"))

    assert len(set(labelled)) == CITES
    assert (result.lost, result.doubled, result.dead_letters) == (0, 0, 0)
    assert platform.resent > 0  # the outage was felt by the clients, and answered 503
