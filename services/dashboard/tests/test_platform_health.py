"""The platform's health as the dashboard probes it: which group reads which topic (from the
AsyncAPI document), the relay's gauges read from a service's /metrics, lag. (On the real
broker: ``test_on_kafka``.)"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from aiokafka import TopicPartition
from dashboard.platform_health import behind, consumer_groups, outbox_figures

STATIC = Path(__file__).resolve().parents[1] / "dashboard" / "static"


def test_each_consumer_group_reads_the_topics_the_asyncapi_document_says() -> None:
    groups = consumer_groups()

    assert groups["labelling"] == ["funding.allocations"]
    assert groups["partners"] == ["labelling.labels"]
    assert groups["funding"] == ["labelling.labels", "labelling.reviews", "partners.alliances"]
    assert groups["dashboard"] == ["funding.allocations", "funding.credits", "funding.envelopes",
                                   "labelling.candidatures", "labelling.labels",
                                   "labelling.reviews", "notifications.deliveries",
                                   "partners.alliances"]
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
