"""Funding on the real broker: labelling's and partners' events consumed from Kafka, its
events on its topics, a redelivered or republished label applied once, and an event it
cannot apply dead-lettered with the reason while the rest goes on."""

from __future__ import annotations

import json
from typing import Any

import pytest
from funding_kit import Funding, alliance_opened, joined, labelled, suspended

from cites_contracts import Envelope
from cites_runtime.dlq import list_dead_letters
from cites_runtime.testing import read_topic

pytestmark = pytest.mark.integration


async def _published(service: Funding, topic: str, count: int) -> list[dict[str, Any]]:
    s = service.s.settings
    records = await read_topic(s.kafka, s.topic(topic),
                               until=lambda r: len(r) >= count)
    return [json.loads(r.value) for r in records]


async def test_labels_from_kafka_are_funded_once_and_told_on_funding_allocations(
    live: Funding,
) -> None:
    await live.open_envelopes()
    label = Envelope.wrap(labelled("cite-001"), sequence=1)
    republished = Envelope.wrap(labelled("cite-001"), sequence=1)  # a producer's replay
    await live.s.publish(label, label, republished, alliance_opened("cite-001"),
                         joined(cite_id="cite-001"), suspended("cite-404"),
                         labelled("cite-002"))
    await live.s.caught_up()
    events = await _published(live, "funding.allocations", 4)
    assert sorted((e["type"], e["data"]["cite_id"]) for e in events) == [
        ("funding.FondsDeLaCiteGranted", "cite-001"), ("funding.FondsDeLaCiteGranted",
                                                       "cite-002"),
        ("funding.FundsAllocated", "cite-001"), ("funding.FundsAllocated", "cite-002")]
    first = next(e for e in events if e["data"]["cite_id"] == "cite-001")
    assert first["causation_id"] == str(label.event_id)  # traceable to the label
    assert first["correlation_id"] == str(label.correlation_id)
    opened = await _published(live, "funding.envelopes", 2)
    assert [e["type"] for e in opened] == ["funding.EnvelopeOpened"] * 2
    letters = await list_dead_letters(live.s.settings.kafka,
                                      live.s.settings.topic("funding.dlq"))
    assert [(d.event_type, d.reason) for d in letters] == [("labelling.LabelSuspended",
                                                            "rejected")]
    assert letters[0].error == "cite-404: cité cite-404 does not exist"
    await live.ledger_balanced()
