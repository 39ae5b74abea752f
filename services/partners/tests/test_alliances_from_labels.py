"""Alliances opened, extended, suspended and closed by labelling's events, consumed from a
real Kafka topic: each applied once, whatever is redelivered or republished."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from partners.consumers import consumer
from partners_kit import (
    NATIONAL,
    UAI_LYCEE,
    VIEWER,
    MakePartners,
    Partners,
    envelope,
    expired,
    extended,
    labelled,
    reinstated,
    school,
    suspended,
    withdrawn,
)

from cites_contracts.events.labelling import LabelExpired, LabelWithdrawn
from cites_runtime.consumer import ConsumerRunner
from cites_runtime.dlq import list_dead_letters, replay_dead_letters
from cites_runtime.kafka import AiokafkaPublisher
from cites_runtime.testing import read_topic

pytestmark = pytest.mark.integration


async def _alliance(service: Partners, cite_id: str = "cite-001") -> dict[str, Any]:
    response = await service.http.get(f"/alliances/{cite_id}", headers=VIEWER)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def _published(service: Partners, topic: str, count: int) -> list[dict[str, Any]]:
    records = await read_topic(service.settings.kafka_bootstrap_servers,
                               service.settings.topic(topic), until=lambda r: len(r) >= count)
    return [json.loads(r.value) for r in records]


async def test_a_labelled_territory_opens_its_alliance_with_the_lead_college_as_chef_de_file(
    consuming: Partners,
) -> None:
    label = envelope(labelled(schools=(school("0930002B"),)))
    await consuming.publish(label)
    await consuming.caught_up()
    alliance = await _alliance(consuming)
    on_alliances = await _published(consuming, "partners.alliances", 2)
    on_registry = await _published(consuming, "partners.registry", 1)
    chef = alliance["chef_de_file"]
    assert (alliance["status"], alliance["name"], alliance["departement"]) == (
        "open", "Cité éducative de Bondy", "93")
    assert [m["partner_id"] for m in alliance["members"]] == [chef["partner_id"]]
    assert (chef["kind"], chef["roles"]) == ("college", ["chef_de_file"])
    assert [s["uai"] for s in alliance["schools"]] == ["0930001A", "0930002B"]
    assert [e["type"] for e in on_alliances] == ["partners.AllianceOpened",
                                                 "partners.ChefDeFileDesignated"]
    assert [e["sequence"] for e in on_alliances] == [1, 2]
    assert on_alliances[0]["data"]["chef_de_file_uai"] == "0930001A"
    assert on_alliances[1]["data"]["previous_partner_id"] is None
    for caused in (*on_alliances, *on_registry):  # traceable to the label
        assert caused["causation_id"] == str(label.event_id)
        assert caused["correlation_id"] == str(label.correlation_id)
    assert [(e["type"], e["data"]["uai"]) for e in on_registry] == [
        ("partners.PartnerRegistered", "0930001A")]
    assert on_registry[0]["data"]["partner_id"] == chef["partner_id"]


async def test_a_lead_college_already_registered_becomes_chef_de_file_as_it_is(
    consuming: Partners,
) -> None:
    known = await consuming.http.post("/partners", json={
        "kind": "college", "name": "Collège Jean Renoir", "uai": "0930001A"}, headers=NATIONAL)
    await consuming.publish(labelled())
    await consuming.caught_up()
    alliance = await _alliance(consuming)
    assert alliance["chef_de_file"]["partner_id"] == known.json()["partner_id"]
    assert alliance["chef_de_file"]["name"] == "Collège Jean Renoir"
    assert len(await consuming.events("PartnerRegistered")) == 1


async def test_the_same_label_delivered_or_republished_again_changes_nothing(
    consuming: Partners,
) -> None:
    label = labelled()
    once = envelope(label)
    republished = envelope(label)  # same label, new event id (a producer replaying it)
    await consuming.publish(once, once, republished, labelled("cite-002", lead_uai="0930009C"))
    await consuming.caught_up()
    opened = await consuming.events("AllianceOpened")
    rows = await consuming.runtime.pool.fetch(
        "SELECT cite_id, count(*) AS members FROM memberships GROUP BY cite_id ORDER BY 1")
    assert [e["data"]["cite_id"] for e in opened] == ["cite-001", "cite-002"]
    assert len(await consuming.events("ChefDeFileDesignated")) == 2
    assert len(await consuming.events("PartnerRegistered")) == 2
    assert [(r["cite_id"], r["members"]) for r in rows] == [("cite-001", 1), ("cite-002", 1)]
    assert await list_dead_letters(consuming.settings.kafka_bootstrap_servers,
                                   consuming.settings.topic("partners.dlq")) == []


async def test_a_perimeter_extension_adds_the_new_schools(consuming: Partners) -> None:
    label = labelled()
    await consuming.publish(label, extended(label, school("0930003C"), school("0930004D")))
    await consuming.caught_up()
    alliance = await _alliance(consuming)
    assert [s["uai"] for s in alliance["schools"]] == ["0930001A", "0930003C", "0930004D"]
    assert len(alliance["members"]) == 1  # schools of the perimeter, not members


async def test_a_suspended_alliance_refuses_new_members_until_its_label_is_reinstated(
    consuming: Partners,
) -> None:
    asso = (await consuming.http.post("/partners", json={
        "kind": "association", "name": "Asso", "siret": "73282932000074"},
        headers=NATIONAL)).json()["partner_id"]
    join = {"partner_id": asso, "roles": ["action_operator"]}
    await consuming.publish(labelled(), suspended())
    await consuming.caught_up()
    while_suspended = await _alliance(consuming)
    refused = await consuming.http.post("/alliances/cite-001/members", json=join,
                                        headers=NATIONAL)
    await consuming.publish(reinstated())
    await consuming.caught_up()
    accepted = await consuming.http.post("/alliances/cite-001/members", json=join,
                                         headers=NATIONAL)
    after = await _alliance(consuming)
    assert while_suspended["status"] == "suspended" and while_suspended["suspended_at"]
    assert refused.status_code == 409 and "suspended" in refused.json()["detail"]
    assert accepted.status_code == 201
    assert (after["status"], after["suspended_at"]) == ("open", None)


@pytest.mark.parametrize(("end", "reason"), [(withdrawn, "label_withdrawn"),
                                             (expired, "label_expired")])
async def test_a_withdrawn_or_expired_label_closes_the_alliance_and_keeps_its_members(
    consuming: Partners, end: Callable[[], LabelWithdrawn | LabelExpired], reason: str,
) -> None:
    await consuming.publish(labelled(), end(), end())
    await consuming.caught_up()
    alliance = await _alliance(consuming)
    closed = await consuming.events("AllianceClosed")
    chef = alliance["chef_de_file"]["partner_id"]
    memberships = (await consuming.http.get(f"/partners/{chef}/memberships",
                                            headers=VIEWER)).json()
    assert (alliance["status"], alliance["closure_reason"]) == ("closed", reason)
    assert [e["data"]["reason"] for e in closed] == [reason]  # once, though ended twice
    assert [m["partner_id"] for m in alliance["members"]] == [chef]
    assert [(m["cite_id"], m["alliance_status"], m["roles"]) for m in memberships] == [
        ("cite-001", "closed", ["chef_de_file"])]


async def test_a_label_naming_a_lycee_as_lead_college_is_dead_lettered_then_replayed_once_fixed(
    consuming: Partners,
) -> None:
    lycee = (await consuming.http.post("/partners", json={
        "kind": "lycee", "name": "Cité scolaire Blanqui", "uai": UAI_LYCEE},
        headers=NATIONAL)).json()["partner_id"]
    await consuming.publish(labelled("cite-001", lead_uai=UAI_LYCEE), labelled("cite-002"))
    await consuming.caught_up()
    dlq = consuming.settings.topic("partners.dlq")
    letters = await read_topic(consuming.settings.kafka_bootstrap_servers, dlq,
                               until=lambda r: len(r) >= 1)
    headers = {k: v.decode() for k, v in letters[0].headers}
    missing = await consuming.http.get("/alliances/cite-001", headers=VIEWER)
    following = await _alliance(consuming, "cite-002")

    runner = ConsumerRunner(consumer, consuming.runtime.pool, consuming.settings.db_schema,
                            AiokafkaPublisher(consuming.producer),
                            topic_prefix=consuming.settings.topic_prefix)
    bootstrap = consuming.settings.kafka_bootstrap_servers
    still_broken = await replay_dead_letters(runner, bootstrap, dlq, group=f"{dlq}-replay")
    fixed_kind = await consuming.http.patch(f"/partners/{lycee}", json={"kind": "college"},
                                            headers=NATIONAL)
    fixed = await replay_dead_letters(runner, bootstrap, dlq, group=f"{dlq}-replay")
    again = await replay_dead_letters(runner, bootstrap, dlq, group=f"{dlq}-replay")
    alliance = await _alliance(consuming)

    assert (headers["dlq.reason"], headers["type"]) == ("rejected",
                                                         "labelling.TerritoryLabelled")
    assert f"UAI {UAI_LYCEE} is registered as lycée" in headers["dlq.error"]
    assert "correct the partner's kind" in headers["dlq.error"]
    assert missing.status_code == 404 and following["status"] == "open"
    assert (still_broken.applied, len(still_broken.failed or [])) == (0, 1)
    assert fixed_kind.status_code == 200
    assert (fixed.applied, fixed.failed) == (1, [])
    assert (again.applied, again.duplicates, again.failed) == (0, 0, [])
    assert alliance["chef_de_file"]["partner_id"] == lycee
    opened = await consuming.events("AllianceOpened")
    assert sorted(e["data"]["cite_id"] for e in opened) == ["cite-001", "cite-002"]


async def test_label_news_for_a_cite_without_alliance_is_dead_lettered_and_the_rest_applied(
    consuming: Partners,
) -> None:
    await consuming.publish(suspended("cite-404"), b"{not json", labelled())
    await consuming.caught_up()
    letters = await read_topic(consuming.settings.kafka_bootstrap_servers,
                               consuming.settings.topic("partners.dlq"),
                               until=lambda r: len(r) >= 2)
    reasons = sorted((dict(r.headers)["dlq.reason"].decode(),
                      dict(r.headers)["dlq.error"].decode()) for r in letters)
    assert reasons[0][0] == "malformed"
    assert reasons[1][0] == "rejected" and "cite-404 has no alliance" in reasons[1][1]
    assert (await _alliance(consuming))["status"] == "open"


async def test_labels_sent_while_partners_was_down_are_applied_when_it_comes_back(
    make_partners: MakePartners,
) -> None:
    async with make_partners() as first:
        await first.publish(labelled("cite-001"))
        await first.caught_up()
    async with make_partners(consumers_enabled=False) as offline:
        await offline.publish(labelled("cite-002", lead_uai="0930002B"), suspended("cite-001"))
    async with make_partners() as back:
        await back.caught_up()
        statuses = [(await _alliance(back, c))["status"] for c in ("cite-001", "cite-002")]
    assert statuses == ["suspended", "open"]
