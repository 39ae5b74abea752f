"""Notifications joins facts from several topics, and a consumer gets no order between
topics: an event may come before what its recipients depend on. Nothing is lost for it —
a label consumed before its candidature is mailed to the troïka once the candidature comes;
the lead collège is told of its label once its alliance is known; a mail whose address has
not come yet waits for it instead of failing as if erased; a card that comes after its
contact's erasure is not kept."""

from __future__ import annotations

from uuid import uuid4

from notifications import store
from notifications.domain.recipients import Fact
from notifications.sender import send_due
from notifications_kit import AT, labelled, troika_cards

from cites_contracts.events.partners import (
    AllianceOpened,
    ContactCardPublished,
    ContactErased,
    PartnerRegistered,
)
from cites_contracts.testing import event
from cites_runtime.testing import FakeClock, ServiceUnderTest


async def _log(service: ServiceUnderTest, template: str) -> list[tuple[str, str]]:
    rows = await service.runtime.pool.fetch(
        "SELECT recipient, status FROM notifications WHERE template = $1", template)
    return sorted((r["recipient"]["troika_role"] or r["recipient"]["kind"], r["status"])
                  for r in rows)


async def test_a_label_consumed_before_its_candidature_is_mailed_when_the_troika_comes(
    service: ServiceUnderTest,
) -> None:
    candidature = uuid4()
    cards, submitted = troika_cards(candidature, uuid4().hex[:8])
    label = labelled(submitted)
    await service.publish(*cards, label)  # the labels topic ahead of candidatures
    assert await _log(service, "cite-labelled") == []
    await service.publish(submitted)
    assert await _log(service, "cite-labelled") == [
        ("maire", "pending"), ("prefet", "pending"), ("recteur", "pending")]
    await service.publish(submitted)  # redelivered: nothing more
    assert len(await _log(service, "cite-labelled")) == 3
    assert await service.runtime.pool.fetchval("SELECT count(*) FROM awaiting") == 1
    # ... the label still waits for its alliance's chef de file (next test)


async def test_a_label_kept_waiting_under_its_retired_version_is_mailed_as_the_current_one(
    service: ServiceUnderTest,
) -> None:
    """A label that waited for its candidature under TerritoryLabelled v1 (kept so before
    that version was retired) is mailed when the candidature comes, resumed as v2 (the
    version the rules name), and waits on as v2 for its alliance."""
    candidature = uuid4()
    cards, submitted = troika_cards(candidature, uuid4().hex[:8])
    label = labelled(submitted)
    await service.publish(label)  # its cité projected; it waits for its candidature
    kept_as_v1, as_v1 = uuid4(), label.model_dump(mode="json")
    del as_v1["perimeter"]["qpv_list"]
    async with service.runtime.unit_of_work() as uow:
        await store.await_fact(uow.conn, kept_as_v1, "labelling.TerritoryLabelled", 1, as_v1,
                               [Fact.candidature(candidature)], AT)

    await service.publish(*cards, submitted)

    mailed = await service.runtime.pool.fetch(
        """SELECT recipient ->> 'troika_role' AS role, cause_type FROM notifications
            WHERE cause_event_id = $1 ORDER BY 1""", kept_as_v1)
    assert [tuple(r) for r in mailed] == [("maire", "labelling.TerritoryLabelled"),
                                          ("prefet", "labelling.TerritoryLabelled"),
                                          ("recteur", "labelling.TerritoryLabelled")]
    waiting = await service.runtime.pool.fetch(
        "SELECT cause_id, version FROM awaiting WHERE cause_id = $1", kept_as_v1)
    assert [r["version"] for r in waiting] == [2]  # for its alliance's chef de file


async def test_the_lead_college_is_told_of_its_label_once_its_alliance_is_known(
    service: ServiceUnderTest,
) -> None:
    candidature = uuid4()
    cards, submitted = troika_cards(candidature, uuid4().hex[:8])
    label = labelled(submitted)
    college, principal = uuid4(), uuid4()
    registered = event(PartnerRegistered, partner_id=college, contact_ids=[principal])
    card = ContactCardPublished(contact_id=principal, partner_id=college,
                                email=f"principale.{uuid4().hex[:6]}@ac-lyon.fr",
                                published_at=AT)
    await service.publish(*cards, submitted, registered, card, label)
    assert await _log(service, "cite-labelled") == [
        ("maire", "pending"), ("prefet", "pending"), ("recteur", "pending")]
    await service.publish(AllianceOpened(
        cite_id=label.cite_id, chef_de_file_partner_id=college, chef_de_file_uai="0693874L",
        opened_at=AT))
    assert ("partner_contact", "pending") in await _log(service, "cite-labelled")
    assert len(await _log(service, "cite-labelled")) == 4
    assert await service.runtime.pool.fetchval("SELECT count(*) FROM awaiting") == 0


async def test_a_mail_whose_address_has_not_come_waits_for_it_then_is_sent(
    service: ServiceUnderTest, clock: FakeClock,
) -> None:
    cards, submitted = troika_cards(uuid4(), uuid4().hex[:8])
    await service.publish(*cards[:2], submitted)  # the maire's card is late
    assert await send_due(service.runtime) == 3
    maire = await service.runtime.pool.fetchrow(
        "SELECT status, last_error FROM notifications WHERE recipient->>'troika_role' = "
        "'maire'")
    assert tuple(maire) == ("pending", "adresse pas encore reçue")
    assert not await service.outbox("NotificationFailed")
    await service.publish(cards[2])
    clock.advance(seconds=60)
    assert await send_due(service.runtime) == 1
    assert len(await service.outbox("NotificationSent")) == 3


async def test_a_card_that_comes_after_its_contacts_erasure_is_not_kept(
    service: ServiceUnderTest,
) -> None:
    partner, contact = uuid4(), uuid4()
    await service.publish(ContactErased(partner_id=partner, contact_id=contact,
                                              erased_at=AT))
    await service.publish(ContactCardPublished(
        contact_id=contact, partner_id=partner, email="late.card@example.org",
        published_at=AT))
    assert await service.runtime.pool.fetchval(
        "SELECT count(*) FROM contacts WHERE contact_id = $1", contact) == 0


async def test_a_signatory_erased_before_an_event_is_not_written_to_nor_waited_for(
    service: ServiceUnderTest,
) -> None:
    candidature = uuid4()
    cards, submitted = troika_cards(candidature, uuid4().hex[:8])
    await service.publish(*cards, submitted)
    maire = next(c for c in cards if c.role.value == "maire")
    await service.publish_tombstone("labelling.contacts", str(maire.contact_id))
    await service.publish(labelled(submitted))
    assert await _log(service, "cite-labelled") == [("prefet", "pending"),
                                                          ("recteur", "pending")]
