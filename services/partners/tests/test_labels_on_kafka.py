"""Labelling's events consumed from real Kafka topics: what partners publishes, each event
applied once whatever is redelivered or republished, dead letters and their replay, and
events sent while partners was down."""

from __future__ import annotations

import json
from typing import Any

import pytest
from partners.app import definition
from partners.settings import PartnersSettings
from partners_kit import UAI_LYCEE, college, envelope, labelled, school, suspended

from cites_runtime.dlq import list_dead_letters, replay_dead_letters
from cites_runtime.testing import AS_NATIONAL, AS_VIEWER, ServiceUnderTest, on_kafka, read_topic

pytestmark = pytest.mark.integration


async def _alliance(service: ServiceUnderTest, cite_id: str = "cite-001") -> dict[str, Any]:
    response = await service.http.get(f"/alliances/{cite_id}", headers=AS_VIEWER)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def _published(service: ServiceUnderTest, topic: str, count: int
                     ) -> list[dict[str, Any]]:
    records = await read_topic(service.settings.kafka,
                               service.settings.topic(topic), until=lambda r: len(r) >= count)
    return [json.loads(r.value) for r in records]


async def test_a_labelled_territory_opens_its_alliance_with_the_lead_college_as_chef_de_file(
    consuming: ServiceUnderTest,
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
    assert on_alliances[0]["data"]["opened_at"] == "2025-03-10T09:30:00Z"  # partners' clock
    assert on_alliances[1]["data"]["previous_partner_id"] is None
    for caused in (*on_alliances, *on_registry):  # traceable to the label
        assert caused["causation_id"] == str(label.event_id)
        assert caused["correlation_id"] == str(label.correlation_id)
    assert [(e["type"], e["data"]["uai"]) for e in on_registry] == [
        ("partners.PartnerRegistered", "0930001A")]
    assert on_registry[0]["data"]["partner_id"] == chef["partner_id"]


async def test_the_same_label_delivered_or_republished_again_changes_nothing(
    consuming: ServiceUnderTest,
) -> None:
    label = labelled()
    once = envelope(label)
    republished = envelope(label)  # same label, new event id (a producer replaying it)
    await consuming.publish(once, once, republished, labelled("cite-002", lead_uai="0930009C"))
    await consuming.caught_up()
    opened = await consuming.outbox("AllianceOpened")
    rows = await consuming.runtime.pool.fetch(
        "SELECT cite_id, count(*) AS members FROM memberships GROUP BY cite_id ORDER BY 1")
    assert [e.data.cite_id for e in opened] == ["cite-001", "cite-002"]
    assert len(await consuming.outbox("ChefDeFileDesignated")) == 2
    assert len(await consuming.outbox("PartnerRegistered")) == 2
    assert [(r["cite_id"], r["members"]) for r in rows] == [("cite-001", 1), ("cite-002", 1)]
    assert await list_dead_letters(consuming.settings.kafka,
                                   consuming.settings.topic("partners.dlq")) == []


async def test_a_label_naming_a_lycee_as_lead_college_is_dead_lettered_then_replayed_once_fixed(
    consuming: ServiceUnderTest,
) -> None:
    lycee = (await consuming.http.post("/partners", json={
        "kind": "lycee", "name": "Cité scolaire Blanqui", "uai": UAI_LYCEE},
        headers=AS_NATIONAL)).json()["partner_id"]
    await consuming.publish(labelled("cite-001", lead_uai=UAI_LYCEE), labelled("cite-002"))
    await consuming.caught_up()
    dlq = consuming.settings.topic("partners.dlq")
    letters = await read_topic(consuming.settings.kafka, dlq,
                               until=lambda r: len(r) >= 1)
    headers = {k: v.decode() for k, v in letters[0].headers}
    missing = await consuming.http.get("/alliances/cite-001", headers=AS_VIEWER)
    following = await _alliance(consuming, "cite-002")

    runner = consuming.runtime.runner  # the service's own consumer, as the CLI replays
    assert runner is not None
    kafka = consuming.settings.kafka
    still_broken = await replay_dead_letters(runner, kafka, dlq, group=f"{dlq}-replay")
    fixed_kind = await consuming.http.patch(f"/partners/{lycee}", json={"kind": "college"},
                                            headers=AS_NATIONAL)
    fixed = await replay_dead_letters(runner, kafka, dlq, group=f"{dlq}-replay")
    again = await replay_dead_letters(runner, kafka, dlq, group=f"{dlq}-replay")
    alliance = await _alliance(consuming)

    assert (headers["dlq.reason"], headers["type"]) == ("rejected",
                                                         "labelling.TerritoryLabelled")
    assert headers["dlq.error"].startswith("cite-001: ")  # the aggregate, then the rule
    assert f"UAI {UAI_LYCEE} is registered as lycée" in headers["dlq.error"]
    assert "correct the partner's kind" in headers["dlq.error"]
    assert missing.status_code == 404 and following["status"] == "open"
    assert (still_broken.applied, len(still_broken.failed or [])) == (0, 1)
    assert fixed_kind.status_code == 200
    assert (fixed.applied, fixed.failed) == (1, [])
    assert (again.applied, again.duplicates, again.failed) == (0, 0, [])
    assert alliance["chef_de_file"]["partner_id"] == lycee
    opened = await consuming.outbox("AllianceOpened")
    assert sorted(e.data.cite_id for e in opened) == ["cite-001", "cite-002"]


async def test_a_label_whose_lead_college_leads_an_open_alliance_waits_in_the_dlq_until_fixed(
    consuming: ServiceUnderTest,
) -> None:
    await consuming.publish(labelled("cite-001", lead_uai="0930001A"),
                            labelled("cite-002", lead_uai="0930001A"))
    await consuming.caught_up()
    dlq = consuming.settings.topic("partners.dlq")
    kafka = consuming.settings.kafka
    letters = await read_topic(kafka, dlq, until=lambda r: len(r) >= 1)
    headers = {k: v.decode() for k, v in letters[0].headers}
    missing = await consuming.http.get("/alliances/cite-002", headers=AS_VIEWER)
    runner = consuming.runtime.runner
    assert runner is not None
    still_broken = await replay_dead_letters(runner, kafka, dlq, group=f"{dlq}-replay")
    # The fix: cite-001 hands its chef de file role to another collège.
    lead = (await _alliance(consuming, "cite-001"))["chef_de_file"]["partner_id"]
    other = (await consuming.http.post("/partners", json=college("0930009C"),
                                       headers=AS_NATIONAL)).json()["partner_id"]
    await consuming.http.post("/alliances/cite-001/members", headers=AS_NATIONAL,
                              json={"partner_id": other, "roles": ["steering_committee"]})
    handed = await consuming.http.put("/alliances/cite-001/chef-de-file",
                                      json={"partner_id": other}, headers=AS_NATIONAL)
    fixed = await replay_dead_letters(runner, kafka, dlq, group=f"{dlq}-replay")
    alliance = await _alliance(consuming, "cite-002")

    assert (headers["dlq.reason"], headers["type"]) == ("rejected",
                                                         "labelling.TerritoryLabelled")
    assert headers["dlq.error"].startswith("cite-002: ")
    assert "UAI 0930001A" in headers["dlq.error"]
    assert "already chef de file of alliance cite-001" in headers["dlq.error"]
    assert missing.status_code == 404
    assert (still_broken.applied, len(still_broken.failed or [])) == (0, 1)
    assert handed.status_code == 200, handed.text
    assert (fixed.applied, fixed.failed) == (1, [])
    assert alliance["chef_de_file"]["partner_id"] == lead


async def test_label_news_for_a_cite_without_alliance_is_dead_lettered_and_the_rest_applied(
    consuming: ServiceUnderTest,
) -> None:
    await consuming.publish(suspended("cite-404"), b"{not json", labelled())
    await consuming.caught_up()
    letters = await read_topic(consuming.settings.kafka,
                               consuming.settings.topic("partners.dlq"),
                               until=lambda r: len(r) >= 2)
    reasons = sorted((dict(r.headers)["dlq.reason"].decode(),
                      dict(r.headers)["dlq.error"].decode()) for r in letters)
    assert reasons[0][0] == "malformed"
    assert reasons[1] == ("rejected", "cite-404: cité cite-404 has no alliance (is it "
                                      "labelled?)")
    assert (await _alliance(consuming))["status"] == "open"


async def test_labels_sent_while_partners_was_down_are_applied_when_it_comes_back(
    settings: PartnersSettings,
) -> None:
    async with on_kafka(definition, settings) as first:
        await first.publish(labelled("cite-001"))
        await first.caught_up()
    offline = settings.model_copy(update={"consumers_enabled": False})
    async with on_kafka(definition, offline) as down:
        # cite-001's second event (each context numbers its own from 1)
        await down.publish(labelled("cite-002", lead_uai="0930002B"),
                           envelope(suspended("cite-001"), sequence=2))
    async with on_kafka(definition, settings) as back:
        await back.caught_up()
        statuses = [(await _alliance(back, c))["status"] for c in ("cite-001", "cite-002")]
    assert statuses == ["suspended", "open"]
