"""The dashboard on the real broker: its consumer group applies the platform's events (runs
included) and catches up, and its health probe sees that, and the dead letter of an event
it cannot place counted until replayed."""

from __future__ import annotations

from uuid import uuid4

import pytest
from dashboard_kit import Dashboard, committed, failed, labelled, sent, suspended

from cites_runtime.dlq import list_dead_letters
from cites_runtime.testing import eventually

pytestmark = pytest.mark.integration


async def test_on_kafka_the_probe_sees_the_group_caught_up_and_the_dead_letter_waiting(
    live: Dashboard,
) -> None:
    unknown = uuid4()
    await live.s.publish(labelled("cite-001"), labelled("cite-002"), labelled("cite-003"),
                         suspended("cite-001"), sent(), sent(), failed(),
                         committed("cite-001", unknown, 10_000_00))  # an unknown allocation
    await live.s.caught_up()

    async def probed() -> bool:
        health = (await live.summary())["health"]
        if health is None:
            return False
        lag = {c["group"]: c["lag"] for c in health["consumers"]}
        letters = {d["topic"]: d["depth"] for d in health["dead_letters"]}
        return lag.get("dashboard") == 0 and letters.get("dashboard.dlq") == 1

    await eventually(probed, timeout=60, what="the probe: dashboard caught up, one letter")
    summary = await live.summary()
    assert summary["cites"] == {"labelled": 2, "suspended": 1}  # runs applied on Kafka too
    assert (summary["notifications"]["sent"], summary["notifications"]["failed"]) == (2, 1)
    own = next(s for s in summary["health"]["services"] if s["name"] == "dashboard")
    assert (own["ready"], own["outbox_backlog"]) == (True, 0)
    # Groups that do not run here have read nothing of what is on their topics.
    lag = {c["group"]: c["lag"] for c in summary["health"]["consumers"]}
    assert lag["partners"] == 4  # the labels and the suspension
    letter, = await list_dead_letters(live.s.settings.kafka,
                                      live.s.settings.topic("dashboard.dlq"))
    assert (letter.event_type, letter.reason) == ("funding.FundsCommitted", "rejected")
    assert letter.error.endswith(f"cité cite-001's allocation {unknown} does not exist")
