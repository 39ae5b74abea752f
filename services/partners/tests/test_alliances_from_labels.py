"""Alliances extended, suspended and closed by labelling's events, consumed in isolation
(FastStream's in-memory broker delivers each event to the consumer at once). What needs
real Kafka — topics' contents, dead letters, redelivery — is in test_on_kafka."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

import pytest
from partners_kit import (
    expired,
    extended,
    labelled,
    read_alliance,
    reinstated,
    renewed,
    school,
    suspended,
    withdrawn,
)

from cites_contracts.events.labelling import LabelExpired, LabelWithdrawn
from cites_runtime.kafka import OutboundRecord, Publisher
from cites_runtime.testing import AS_NATIONAL, AS_VIEWER, FakeClock, ServiceUnderTest


async def test_a_lead_college_already_registered_becomes_chef_de_file_as_it_is(
    service: ServiceUnderTest,
) -> None:
    known = await service.http.post("/partners", json={
        "kind": "college", "name": "Collège Jean Renoir", "uai": "0930001A"},
        headers=AS_NATIONAL)
    await service.publish(labelled())
    alliance = await read_alliance(service)
    assert alliance["chef_de_file"]["partner_id"] == known.json()["partner_id"]
    assert alliance["chef_de_file"]["name"] == "Collège Jean Renoir"
    assert len(await service.outbox("PartnerRegistered")) == 1


async def test_a_perimeter_extension_adds_the_new_schools(service: ServiceUnderTest) -> None:
    label = labelled()
    await service.publish(label, extended(label, school("0930003C"), school("0930004D")))
    alliance = await read_alliance(service)
    assert [s["uai"] for s in alliance["schools"]] == ["0930001A", "0930003C", "0930004D"]
    assert len(alliance["members"]) == 1  # schools of the perimeter, not members


async def test_a_renewal_extends_the_label_without_hiding_the_period_in_force(
    service: ServiceUnderTest,
) -> None:
    """A label is renewed up to a year before its period ends (labelling's window); the
    new period starts the day after. The alliance keeps its start and runs to the new end:
    before, it jumped to the next period at once, as if the current one were over."""
    label, renewal = labelled(), renewed()
    await service.publish(label, renewal)
    alliance = await read_alliance(service)
    assert alliance["label_period"] == {"start": str(label.label_period.start),
                                        "end": str(renewal.label_period.end)}
    assert alliance["status"] == "open"


async def test_a_renewal_with_a_new_perimeter_replaces_the_schools(
    service: ServiceUnderTest,
) -> None:
    """A renewal may move the perimeter (e.g. to the 2024 QPV list) and change its schools:
    the alliance's schools are the new perimeter's, as after an extension."""
    label = labelled()
    moved = label.perimeter.model_copy(update={"schools": (
        *label.perimeter.schools, *(s.model_copy(update={"uai": u}) for s in
                                    label.perimeter.schools[:1] for u in ("0930005E",)))})
    await service.publish(label, renewed().model_copy(update={"perimeter": moved}))
    alliance = await read_alliance(service)
    assert [s["uai"] for s in alliance["schools"]] == [s.uai for s in moved.schools]
    assert "0930005E" in [s["uai"] for s in alliance["schools"]]


async def test_a_suspended_alliance_refuses_new_members_until_its_label_is_reinstated(
    service: ServiceUnderTest, clock: FakeClock,
) -> None:
    asso = (await service.http.post("/partners", json={
        "kind": "association", "name": "Asso", "siret": "73282932000074"},
        headers=AS_NATIONAL)).json()["partner_id"]
    join = {"partner_id": asso, "roles": ["action_operator"]}
    await service.publish(labelled(), suspended())
    while_suspended = await read_alliance(service)
    refused = await service.http.post("/alliances/cite-001/members", json=join,
                                      headers=AS_NATIONAL)
    clock.advance(days=1)
    await service.publish(reinstated())
    accepted = await service.http.post("/alliances/cite-001/members", json=join,
                                       headers=AS_NATIONAL)
    after = await read_alliance(service)
    assert (while_suspended["status"], while_suspended["suspended_at"]) == (
        "suspended", "2025-03-10T09:30:00Z")
    assert refused.status_code == 409 and "suspended" in refused.json()["detail"]
    assert accepted.status_code == 201
    assert accepted.json()["joined_at"] == "2025-03-11T09:30:00Z"
    assert (after["status"], after["suspended_at"]) == ("open", None)


@pytest.mark.parametrize(("end", "reason"), [(withdrawn, "label_withdrawn"),
                                             (expired, "label_expired")])
async def test_a_withdrawn_or_expired_label_closes_the_alliance_and_keeps_its_members(
    service: ServiceUnderTest, clock: FakeClock,
    end: Callable[[], LabelWithdrawn | LabelExpired], reason: str,
) -> None:
    await service.publish(labelled(), end(), end())
    alliance = await read_alliance(service)
    closed = await service.outbox("AllianceClosed")
    chef = alliance["chef_de_file"]["partner_id"]
    memberships = (await service.http.get(f"/partners/{chef}/memberships",
                                          headers=AS_VIEWER)).json()["items"]
    assert (alliance["status"], alliance["closure_reason"]) == ("closed", reason)
    assert [(e.data.reason, e.data.closed_at) for e in closed] == [(reason, clock.now)]  # once
    assert [m["partner_id"] for m in alliance["members"]] == [chef]
    assert [(m["cite_id"], m["alliance_status"], m["roles"]) for m in memberships] == [
        ("cite-001", "closed", ["chef_de_file"])]


class DeadLetters:
    """The consumer's dead-letter publisher, keeping a copy of each letter it sends (the
    in-memory broker has no topic to read them back from)."""

    def __init__(self, publisher: Publisher):
        self.publisher = publisher
        self.letters: list[dict[str, str]] = []

    async def enqueue(self, records: Sequence[OutboundRecord]) -> Awaitable[None]:
        return await self.publisher.enqueue(records)

    async def publish_batch(self, records: Sequence[OutboundRecord]) -> None:
        self.letters += [{k: v.decode() for k, v in r.headers} for r in records]
        await self.publisher.publish_batch(records)

    async def reset(self) -> None:
        await self.publisher.reset()


def dead_letters(service: ServiceUnderTest) -> DeadLetters:
    runner = service.runtime.runner
    assert runner is not None
    runner.dead_letters = DeadLetters(runner.dead_letters)
    return runner.dead_letters


async def test_a_label_whose_lead_college_leads_an_open_alliance_is_dead_lettered_with_why(
    service: ServiceUnderTest,
) -> None:
    letters = dead_letters(service)
    await service.publish(labelled("cite-001", lead_uai="0930001A"),
                          labelled("cite-002", lead_uai="0930001A"),
                          labelled("cite-003", lead_uai="0930003C"))
    missing = await service.http.get("/alliances/cite-002", headers=AS_VIEWER)
    first = await read_alliance(service, "cite-001")
    following = await read_alliance(service, "cite-003")
    opened = await service.outbox("AllianceOpened")
    assert missing.status_code == 404
    assert (first["status"], following["status"]) == ("open", "open")
    assert [(e.data.cite_id, e.data.chef_de_file_uai) for e in opened] == [
        ("cite-001", "0930001A"), ("cite-003", "0930003C")]
    assert [(h["type"], h["dlq.reason"]) for h in letters.letters] == [
        ("labelling.TerritoryLabelled", "rejected")]
    why = letters.letters[0]["dlq.error"]
    assert why.startswith("cite-002: ")
    assert "UAI 0930001A" in why and "already chef de file of alliance cite-001" in why
    assert "replay the dead letter" in why
