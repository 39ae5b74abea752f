"""The test plugin deletes finished tests' topics, a few tests' at a time: a whole run's
topics would exhaust the broker's file descriptors (it died of it once, with 19,828
partitions, on this machine's 20,000-descriptor limit)."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from cites_runtime.kafka import ensure_topics
from cites_runtime.testing import eventually, plugin
from cites_runtime.testing.erasure import _topics
from cites_runtime.testing.infra import Infra

pytestmark = pytest.mark.integration


async def test_a_sweep_deletes_the_finished_tests_topics_and_no_other(infra: Infra) -> None:
    finished, running = f"t{uuid.uuid4().hex[:10]}.", f"t{uuid.uuid4().hex[:10]}."
    await ensure_topics(infra.kafka, [f"{finished}a", f"{finished}b",
                                                f"{running}a"])
    plugin._finished.append(finished)
    await asyncio.to_thread(plugin._sweep, infra)
    assert plugin._finished == []

    async def gone() -> bool:  # the broker deletes in the background
        return await _topics(infra.kafka, finished) == []

    await eventually(gone, what="the finished test's topics deleted")
    assert await _topics(infra.kafka, running) == [f"{running}a"]
