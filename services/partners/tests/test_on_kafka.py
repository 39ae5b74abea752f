"""Partners on real Kafka and PostgreSQL. Labelling's events consumed from real topics:
what partners publishes, each event applied once whatever is redelivered or republished,
dead letters and their replay, events sent while partners was down. And the right to
erasure end to end: a contact with successive addresses is erased while the relay is
stopped; once the relay is back and Kafka's compaction has run (timings shortened for the
test), none of her addresses is in any record of any topic, nor in any row of any table
of any schema."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from partners.app import definition
from partners.settings import PartnersSettings
from partners_kit import (
    UAI_LYCEE,
    association,
    college,
    contact,
    envelope,
    extended,
    labelled,
    read_alliance,
    school,
    suspended,
)

from cites_contracts.events.labelling import PerimeterExtendedV1, TerritoryLabelledV1
from cites_contracts.topics import PARTNERS_CONTACTS
from cites_runtime.dlq import list_dead_letters, replay_dead_letters
from cites_runtime.testing import (
    AS_NATIONAL,
    AS_VIEWER,
    ServiceUnderTest,
    all_published,
    on_kafka,
    read_topic,
)
from cites_runtime.testing.erasure import (
    on_kafka_with_stoppable_relay,
    records_mentioning,
    relayed_until_erased,
    rows_mentioning,
)
from cites_runtime.testing.infra import Infra
from cites_runtime.testing.plugin import SettingsFactory

pytestmark = pytest.mark.integration


async def _published(service: ServiceUnderTest, topic: str, count: int
                     ) -> list[dict[str, Any]]:
    records = await read_topic(service.settings.kafka,
                               service.settings.topic(topic), until=lambda r: len(r) >= count)
    return [json.loads(r.value) for r in records]


async def test_a_labelled_territory_opens_its_alliance_with_the_lead_college_as_chef_de_file(
    live: ServiceUnderTest,
) -> None:
    label = envelope(labelled(schools=(school("0930002B"),)))
    await live.publish(label)
    await live.caught_up()
    alliance = await read_alliance(live)
    on_alliances = await _published(live, "partners.alliances", 2)
    on_registry = await _published(live, "partners.registry", 1)
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


async def test_a_history_written_under_the_retired_versions_is_applied_as_the_current_ones(
    live: ServiceUnderTest,
) -> None:
    """The labels topic keeps the records of TerritoryLabelled v1 and PerimeterExtended v1
    (retired: 2024-list QPVs only, no Saint-Martin): partners handles the current versions
    only and applies those records upcast, in order with the current ones; the partner
    events it writes are the current version (PartnerRegistered v3), Saint-Martin's too."""
    current = labelled(schools=(school("0930002B"),))
    label_v1 = envelope(TerritoryLabelledV1.model_validate(
        {**current.model_dump(), "perimeter": current.perimeter.model_dump(
            exclude={"qpv_list"})}))
    extension = extended(current, school("0930003C"))
    extension_v1 = envelope(PerimeterExtendedV1.model_validate(
        {**extension.model_dump(), "perimeter": extension.perimeter.model_dump(
            exclude={"qpv_list"})}), sequence=2)
    further = envelope(extended(current, school("0930003C"), school("0930004D")), sequence=3)
    saint_martin = labelled("cite-002", departement="978", lead_uai="9780011K",
                            name="Cité éducative de Saint-Martin")
    assert (label_v1.version, extension_v1.version, further.version) == (1, 1, 2)

    await live.publish(label_v1, extension_v1, further, saint_martin)
    await live.caught_up()

    alliance = await read_alliance(live)
    assert alliance["status"] == "open"
    assert [s["uai"] for s in alliance["schools"]] == [
        "0930001A", "0930002B", "0930003C", "0930004D"]
    assert (await read_alliance(live, "cite-002"))["departement"] == "978"
    registered = await _published(live, "partners.registry", 2)
    assert sorted((e["version"], e["data"]["uai"], e["data"]["departement"])
                  for e in registered) == [(3, "0930001A", "93"), (3, "9780011K", "978")]
    opened = await _published(live, "partners.alliances", 4)
    first = next(e for e in opened if e["data"]["cite_id"] == "cite-001")
    assert (first["type"], first["causation_id"]) == ("partners.AllianceOpened",
                                                      str(label_v1.event_id))
    assert await list_dead_letters(live.settings.kafka,
                                   live.settings.topic("partners.dlq")) == []


async def test_the_same_label_delivered_or_republished_again_changes_nothing(
    live: ServiceUnderTest,
) -> None:
    label = labelled()
    once = envelope(label)
    republished = envelope(label)  # same label, new event id (a producer replaying it)
    await live.publish(once, once, republished, labelled("cite-002", lead_uai="0930009C"))
    await live.caught_up()
    opened = await live.outbox("AllianceOpened")
    rows = await live.runtime.pool.fetch(
        "SELECT cite_id, count(*) AS members FROM memberships GROUP BY cite_id ORDER BY 1")
    assert [e.data.cite_id for e in opened] == ["cite-001", "cite-002"]
    assert len(await live.outbox("ChefDeFileDesignated")) == 2
    assert len(await live.outbox("PartnerRegistered")) == 2
    assert [(r["cite_id"], r["members"]) for r in rows] == [("cite-001", 1), ("cite-002", 1)]
    assert await list_dead_letters(live.settings.kafka,
                                   live.settings.topic("partners.dlq")) == []


async def test_a_label_naming_a_lycee_as_lead_college_is_dead_lettered_then_replayed_once_fixed(
    live: ServiceUnderTest,
) -> None:
    lycee = (await live.http.post("/partners", json={
        "kind": "lycee", "name": "Cité scolaire Blanqui", "uai": UAI_LYCEE},
        headers=AS_NATIONAL)).json()["partner_id"]
    await live.publish(labelled("cite-001", lead_uai=UAI_LYCEE), labelled("cite-002"))
    await live.caught_up()
    dlq = live.settings.topic("partners.dlq")
    letters = await read_topic(live.settings.kafka, dlq,
                               until=lambda r: len(r) >= 1)
    headers = {k: v.decode() for k, v in letters[0].headers}
    missing = await live.http.get("/alliances/cite-001", headers=AS_VIEWER)
    following = await read_alliance(live, "cite-002")

    runner = live.runtime.runner  # the service's own consumer, as the CLI replays
    assert runner is not None
    kafka = live.settings.kafka
    still_broken = await replay_dead_letters(runner, kafka, dlq, group=f"{dlq}-replay")
    fixed_kind = await live.http.patch(f"/partners/{lycee}", json={"kind": "college"},
                                       headers=AS_NATIONAL)
    fixed = await replay_dead_letters(runner, kafka, dlq, group=f"{dlq}-replay")
    again = await replay_dead_letters(runner, kafka, dlq, group=f"{dlq}-replay")
    alliance = await read_alliance(live)

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
    opened = await live.outbox("AllianceOpened")
    assert sorted(e.data.cite_id for e in opened) == ["cite-001", "cite-002"]


async def test_a_label_whose_lead_college_leads_an_open_alliance_waits_in_the_dlq_until_fixed(
    live: ServiceUnderTest,
) -> None:
    await live.publish(labelled("cite-001", lead_uai="0930001A"),
                       labelled("cite-002", lead_uai="0930001A"))
    await live.caught_up()
    dlq = live.settings.topic("partners.dlq")
    kafka = live.settings.kafka
    letters = await read_topic(kafka, dlq, until=lambda r: len(r) >= 1)
    headers = {k: v.decode() for k, v in letters[0].headers}
    missing = await live.http.get("/alliances/cite-002", headers=AS_VIEWER)
    runner = live.runtime.runner
    assert runner is not None
    still_broken = await replay_dead_letters(runner, kafka, dlq, group=f"{dlq}-replay")
    # The fix: cite-001 hands its chef de file role to another collège.
    lead = (await read_alliance(live, "cite-001"))["chef_de_file"]["partner_id"]
    other = (await live.http.post("/partners", json=college("0930009C"),
                                  headers=AS_NATIONAL)).json()["partner_id"]
    await live.http.post("/alliances/cite-001/members", headers=AS_NATIONAL,
                         json={"partner_id": other, "roles": ["steering_committee"]})
    handed = await live.http.put("/alliances/cite-001/chef-de-file",
                                 json={"partner_id": other}, headers=AS_NATIONAL)
    fixed = await replay_dead_letters(runner, kafka, dlq, group=f"{dlq}-replay")
    alliance = await read_alliance(live, "cite-002")

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
    live: ServiceUnderTest,
) -> None:
    await live.publish(suspended("cite-404"), b"{not json", labelled())
    await live.caught_up()
    letters = await read_topic(live.settings.kafka,
                               live.settings.topic("partners.dlq"),
                               until=lambda r: len(r) >= 2)
    reasons = sorted((dict(r.headers)["dlq.reason"].decode(),
                      dict(r.headers)["dlq.error"].decode()) for r in letters)
    assert reasons[0][0] == "malformed"
    assert reasons[1] == ("rejected", "cite-404: cité cite-404 has no alliance (is it "
                                      "labelled?)")
    assert (await read_alliance(live))["status"] == "open"


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
        statuses = [(await read_alliance(back, c))["status"] for c in ("cite-001", "cite-002")]
    assert statuses == ["suspended", "open"]


# --- right to erasure -----------------------------------------------------------------------


async def test_an_erased_contact_s_every_address_is_gone_from_every_topic_and_table(
    service_settings: SettingsFactory, infra: Infra,
) -> None:
    tag = uuid.uuid4().hex[:12]
    first, second, third = (f"anne.{n}.{tag}@asso.example.org" for n in ("a", "b", "c"))
    settings = service_settings(PartnersSettings)
    kafka, prefix = settings.kafka, settings.topic_prefix

    async with on_kafka_with_stoppable_relay(definition, settings,
                                             PARTNERS_CONTACTS) as (service, relay):
        relay.start()
        asso = (await service.http.post("/partners", json=association(),
                                        headers=AS_NATIONAL)).json()["partner_id"]
        added = await service.http.post(f"/partners/{asso}/contacts",
                                        json=contact(first), headers=AS_NATIONAL)
        cid = added.json()["contact_id"]
        moved = await service.http.patch(f"/partners/{asso}/contacts/{cid}",
                                         json={"email": second}, headers=AS_NATIONAL)
        assert (added.status_code, moved.status_code) == (201, 200)
        await all_published(service.runtime)
        on_kafka_before = await records_mentioning(kafka, prefix, first, second)
        assert len(on_kafka_before) == 2, on_kafka_before  # both cards reached Kafka

        await relay.stop()  # the relay is down: what follows waits in the outbox
        moved_again = await service.http.patch(f"/partners/{asso}/contacts/{cid}",
                                               json={"email": third}, headers=AS_NATIONAL)
        erased = await service.http.delete(f"/partners/{asso}/contacts/{cid}",
                                           headers=AS_NATIONAL)
        assert (moved_again.status_code, erased.status_code) == (200, 204)
        # In the erasure's transaction: gone from every table, pending rows included.
        assert await rows_mentioning(infra.database_url, first, second, third) == []

        took = await relayed_until_erased(service, relay, first, second, third)
        await _her_tombstone_and_erasure_are_there(service, cid)
    assert await rows_mentioning(infra.database_url, first, second, third) == []
    print(f"\nerased from Kafka {took:.1f} s after the relay came back "
          "(compaction timings of 1 s)")


async def _her_tombstone_and_erasure_are_there(service: ServiceUnderTest, cid: str) -> None:
    s = service.settings
    cards = await read_topic(s.kafka, s.topic(PARTNERS_CONTACTS.name))
    mine = [r for r in cards if r.key == cid.encode()]
    assert mine and all(r.value is None for r in mine)  # compaction left her tombstone
    registry = await read_topic(s.kafka, s.topic("partners.registry"))
    assert any(b"ContactErased" in (r.value or b"") and cid.encode() in r.value
               for r in registry)
