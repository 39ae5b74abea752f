"""The platform's health as the dashboard probes it: which group reads which topic (from the
AsyncAPI document), the relay's gauges read from a service's /metrics, lag; and on the real
broker, the dashboard's own group caught up and a dead letter counted until replayed."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from uuid import uuid4

import pytest
from aiokafka import TopicPartition
from dashboard.platform_health import behind, consumer_groups, outbox_figures
from dashboard_kit import Dashboard, committed, failed, labelled, sent, suspended

from cites_runtime.testing import eventually

STATIC = Path(__file__).resolve().parents[1] / "dashboard" / "static"


def test_each_consumer_group_reads_the_topics_the_asyncapi_document_says() -> None:
    groups = consumer_groups()

    assert groups["partners"] == ["labelling.labels"]
    assert groups["funding"] == ["labelling.labels", "partners.alliances"]
    assert groups["dashboard"] == ["funding.allocations", "funding.envelopes",
                                   "labelling.candidatures", "labelling.labels",
                                   "notifications.deliveries", "partners.alliances"]
    assert "partners.contacts" in groups["notifications"]


def test_the_outbox_figures_are_the_relays_gauges_of_a_services_metrics() -> None:
    metrics = """# HELP outbox_backlog Outbox rows not yet published
# TYPE outbox_backlog gauge
outbox_backlog{schema="funding"} 12.0
# HELP outbox_lag_seconds Age of the oldest unpublished outbox row
# TYPE outbox_lag_seconds gauge
outbox_lag_seconds{schema="funding"} 3.5
# HELP outbox_parked_rows Outbox rows parked
# TYPE outbox_parked_rows gauge
outbox_parked_rows{schema="funding"} 1.0
# HELP http_requests_total HTTP requests
# TYPE http_requests_total counter
http_requests_total{method="GET",route="/",status="200"} 4.0
"""
    assert outbox_figures(metrics) == (12, 3.5, 1)
    assert outbox_figures("# nothing from the relay yet\n") == (None, None, None)


def test_lag_counts_from_the_committed_offset_or_the_first_record_kept() -> None:
    tp0, tp1, tp2 = (TopicPartition("labelling.labels", p) for p in range(3))
    ends = {tp0: 10, tp1: 5, tp2: 7}
    assert behind(ends, {tp0: 10, tp1: 2}, {tp2: 4}) == 0 + 3 + 3


def test_the_vendored_chart_js_is_the_one_its_notes_name() -> None:
    notes = (STATIC / "VENDORED.md").read_text()
    digest = hashlib.sha256((STATIC / "chart.umd.min.js").read_bytes()).hexdigest()
    assert re.search(rf"sha256 of the file: `{digest}`", notes)
    assert (STATIC / "chart.js-LICENSE.md").read_text().startswith("The MIT License")


@pytest.mark.integration
async def test_on_kafka_the_probe_sees_the_group_caught_up_and_the_dead_letter_waiting(
    live: Dashboard,
) -> None:
    await live.s.publish(labelled("cite-001"), labelled("cite-002"), labelled("cite-003"),
                         suspended("cite-001"), sent(), sent(), failed(),
                         committed("cite-001", uuid4(), 10_000_00))  # an unknown allocation
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
