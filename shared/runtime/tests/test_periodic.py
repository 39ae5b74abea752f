"""The runtime's scheduled jobs (``periodic``): a round at start, then one per interval; a
failed round tried again sooner; a draining job goes on at once while it finds work; a
service under test is handed over once each job's first round is done."""

from __future__ import annotations

import asyncio
import dataclasses
from types import SimpleNamespace
from typing import Any

import pytest
from runtime_kit import book

from cites_runtime import app
from cites_runtime.app import periodic
from cites_runtime.liveness import Heartbeat
from cites_runtime.settings import ServiceSettings
from cites_runtime.testing import in_memory


def _rounds(results: list[Any]) -> tuple[list[int], Any]:
    """A job's work returning (or raising) ``results`` in turn, then 0; and its call log."""
    calls: list[int] = []

    async def work(runtime: Any) -> Any:
        calls.append(len(calls))
        result = results.pop(0) if results else 0
        if isinstance(result, Exception):
            raise result
        return result

    return calls, work


async def _run_for(job: Any, seconds: float) -> None:
    runtime = SimpleNamespace(settings=None, heartbeat=lambda name, every: Heartbeat(every=every))
    task = asyncio.create_task(job(runtime))
    await asyncio.sleep(seconds)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_a_job_runs_at_start_then_waits_its_interval() -> None:
    calls, work = _rounds([5, 5])
    await _run_for(periodic("job", work, lambda s: 3600.0), 0.2)
    assert calls == [0]


async def test_a_draining_job_goes_on_at_once_while_it_finds_work_then_waits() -> None:
    calls, work = _rounds([50, 50, 7])
    await _run_for(periodic("queue", work, lambda s: 3600.0, drain=True), 0.2)
    assert calls == [0, 1, 2, 3]  # three busy rounds, then an empty one, then the interval


async def test_a_failed_round_is_tried_again_sooner_and_the_job_lives_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(app, "RETRY_AFTER_FAILURE_S", 0.01)
    calls, work = _rounds([ConnectionError("database away"), 1])
    await _run_for(periodic("job", work, lambda s: 3600.0), 0.3)
    assert calls == [0, 1]


async def test_a_service_under_test_is_handed_over_after_each_jobs_first_round(
    settings: ServiceSettings,
) -> None:
    """Else a test calling a job's work by hand races the job's own first round for the
    same rows (a webhook claimed by the background sender: the test's round found none)."""
    rounds: list[str] = []

    async def slow_start(runtime: Any) -> int:
        await asyncio.sleep(0.3)
        rounds.append("done")
        return 0

    slow = dataclasses.replace(book, background=[periodic("slow", slow_start,
                                                          lambda s: 3600.0)])
    async with in_memory(slow, settings) as service:
        assert rounds == ["done"]
        assert service.runtime.heartbeats["slow"].rounds == 1
