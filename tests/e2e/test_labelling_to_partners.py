"""From labelling to the alliance, across processes: labelling and partners run as
``python -m labelling`` and ``python -m partners`` and meet only on Kafka."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from e2e_platform import Platform

from cites_runtime.dlq import list_dead_letters
from cites_runtime.kafka import make_producer
from cites_runtime.testing import read_topic, wait_caught_up

TERRITORY_LABELLED = b"labelling.TerritoryLabelled"

pytestmark = [pytest.mark.e2e, pytest.mark.integration]


async def test_a_candidature_labelled_in_labelling_becomes_an_alliance_in_partners(
    platform: Platform,
) -> None:
    cite_id = await platform.label("0691234A", lead_name="Collège Aimé Césaire")
    alliance = await platform.wait_alliance(cite_id)
    chef = alliance["chef_de_file"]
    assert alliance["status"] == "open"
    assert alliance["departement"] == "69"
    assert (chef["kind"], chef["name"], chef["roles"]) == (
        "college", "Collège Aimé Césaire", ["chef_de_file"])
    assert [m["partner_id"] for m in alliance["members"]] == [chef["partner_id"]]
    assert {s["uai"] for s in alliance["schools"]} == {"0691234A", "0695678B"}


async def test_the_same_territory_labelled_published_again_changes_nothing(
    platform: Platform,
) -> None:
    cite_id = await platform.label("0691234A")
    before = await platform.wait_alliance(cite_id)
    labels = platform.topic("labelling.labels")
    records = await read_topic(platform.kafka, labels, until=lambda r: len(r) >= 1)
    original = next(r for r in records if dict(r.headers)["type"] == TERRITORY_LABELLED)
    again = json.loads(original.value)
    again["event_id"] = str(uuid.uuid4())  # the same label, republished as a new event
    headers = [(k, str(again["event_id"]).encode() if k == "event_id" else v)
               for k, v in original.headers]
    producer = make_producer(platform.kafka)
    await producer.start()
    try:
        await producer.send_and_wait(labels, original.value, key=original.key,
                                     headers=list(original.headers))
        await producer.send_and_wait(labels, json.dumps(again).encode(), key=original.key,
                                     headers=headers)
    finally:
        await producer.stop()
    await wait_caught_up(platform.kafka, platform.topic("partners"), labels, timeout=60)
    after = await platform.alliance(cite_id)
    opened = await _alliance_events(platform, "partners.AllianceOpened")
    dead = await list_dead_letters(platform.kafka, platform.topic("partners.dlq"))
    assert after == before
    assert [e["data"]["cite_id"] for e in opened] == [cite_id]
    assert dead == []


async def _alliance_events(platform: Platform, type_: str, *, until: int | None = None
                           ) -> list[dict[str, Any]]:
    """The events of a type on partners.alliances (all of them when ``until`` is None)."""
    def enough(records: list[Any]) -> bool:
        return until is not None and len({_event_id(r) for r in records
                                          if dict(r.headers)["type"] == type_.encode()
                                          }) >= until

    records = await read_topic(platform.kafka, platform.topic("partners.alliances"),
                               until=enough if until is not None else None, timeout=90)
    return [json.loads(r.value) for r in records if dict(r.headers)["type"] == type_.encode()]


def _event_id(record: Any) -> bytes:
    return bytes(dict(record.headers)["event_id"])
