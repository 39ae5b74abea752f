"""Liveness: whether this process's loops still turn — the consumer (its poll loop and its
batches), the relay and the background jobs. ``/health/live`` answers 503 when one of them
has died or has stopped making progress while work waits; an orchestrator then restarts
the process. Waiting for a database or a broker that is away is no reason to restart (a
new process would wait the same): loops that retry keep beating.

Each loop holds a :class:`Heartbeat` and touches it as it turns; :func:`consumer_problem`
and :func:`loop_problem` read them.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from aiokafka import TopicPartition

__all__ = ["Heartbeat", "consumer_problem", "loop_problem"]


@dataclass
class Heartbeat:
    """When a loop last turned, whether it is busy on a unit of work (a batch, a round)
    and since when, and whether its units keep failing."""

    beat_at: float = field(default_factory=time.monotonic)
    busy_since: float | None = None
    failing_since: float | None = None
    last_error: str = ""
    every: float | None = None
    """How often the loop is expected to start a unit of work at least (a job's interval),
    if it must."""
    waiting_seen: tuple[float, float] | None = None
    """(when, beat_at then): the first check that saw work waiting for an idle loop."""
    rounds: int = 0
    """A job's rounds finished, done or failed (tests wait for the first one)."""

    def beat(self) -> None:
        self.beat_at = time.monotonic()

    def busy(self) -> None:
        self.busy_since = self.beat_at = time.monotonic()

    def idle(self) -> None:
        self.busy_since = None
        self.beat_at = time.monotonic()

    def failed(self, exc: BaseException) -> None:
        if self.failing_since is None:
            self.failing_since = time.monotonic()
        self.last_error = type(exc).__name__  # its text goes to the log, not to probes

    def succeeded(self) -> None:
        self.failing_since = None
        self.last_error = ""


def loop_problem(name: str, task: asyncio.Task[Any] | None, beat: Heartbeat | None,
                 window: float) -> str | None:
    """Why the loop ``name`` is not live, or None: its task ended, or it has not turned
    within ``window`` seconds (beyond its expected interval, when it has one)."""
    if task is not None and task.done():
        error = None if task.cancelled() else task.exception()
        return f"{name}: stopped" + (f" ({type(error).__name__})" if error else "")
    if beat is None:
        return None
    now = time.monotonic()
    if beat.busy_since is not None and now - beat.beat_at > window:
        return f"{name}: busy for {now - beat.busy_since:.0f} s without progress"
    if beat.busy_since is None and beat.every is not None \
            and now - beat.beat_at > beat.every + window:
        return f"{name}: no round for {now - beat.beat_at:.0f} s"
    if beat.failing_since is not None and now - beat.failing_since > window:
        return f"{name}: failing for {now - beat.failing_since:.0f} s ({beat.last_error})"
    return None


async def consumer_problem(name: str, tasks: Iterable[asyncio.Task[Any]], client: Any,
                           beat: Heartbeat, window: float) -> str | None:
    """Why the consumer ``name`` is not live, or None.

    ``tasks``: its poll loop(s); ``client``: its AIOKafkaConsumer (None in an in-memory
    broker). Besides a dead loop, a batch without progress or failing batches
    (:func:`loop_problem`), the poll loop may have stopped taking records: Kafka holds
    records past this consumer's position on a partition it is assigned (the fetcher's
    high watermark, no broker round trip) and no batch was taken for ``window`` seconds
    since checks first saw them waiting."""
    tasks = list(tasks)
    if tasks and all(t.done() for t in tasks):
        return f"{name}: its poll loop stopped"
    if (problem := loop_problem(name, None, beat, window)) is not None:
        return problem
    if client is None or beat.busy_since is not None:
        beat.waiting_seen = None
        return None
    waiting: list[str] = []
    for tp in sorted(client.assignment(), key=lambda t: (t.topic, t.partition)):
        high = client.highwater(tp)
        if high is None:
            continue
        with contextlib.suppress(Exception):  # a partition moving away: say nothing of it
            async with asyncio.timeout(1):
                position = await client.position(TopicPartition(tp.topic, tp.partition))
            if high > position:
                waiting.append(f"{tp.topic}[{tp.partition}] {high - position}")
    now = time.monotonic()
    if not waiting:
        beat.waiting_seen = None
        return None
    # Records may arrive just before a probe: only waiting that outlasts the window,
    # with no batch taken meanwhile, says the loop stopped taking them.
    if beat.waiting_seen is None or beat.waiting_seen[1] != beat.beat_at:
        beat.waiting_seen = (now, beat.beat_at)
        return None
    if now - beat.waiting_seen[0] <= window:
        return None
    return (f"{name}: records wait ({', '.join(waiting[:5])}) and no batch was taken "
            f"for {now - beat.beat_at:.0f} s")
