"""Who is written to follows the platform's events (in-memory broker, real PostgreSQL): a
cité's label — its troïka told of a suspension and a reinstatement, reminded only while the
label is active and on the renewed period's dates —, its alliance — the chef de file
designated, partners told as they join and leave, the closure told to the current
members — and each partner's list of consenting contacts."""

from __future__ import annotations

from datetime import date
from uuid import UUID, uuid4

from notifications.reminders import remind_due
from notifications_kit import AT, labelled, troika_cards

from cites_contracts.events.labelling import (
    LabelReinstated,
    LabelRenewed,
    LabelSuspended,
    LabelWithdrawn,
    RenewalApplied,
    RenewalRefused,
    TerritoryLabelled,
)
from cites_contracts.events.partners import (
    AllianceClosed,
    AllianceOpened,
    ChefDeFileDesignated,
    ContactCardPublished,
    PartnerJoinedAlliance,
    PartnerLeftAlliance,
    PartnerRegistered,
    PartnerUpdated,
)
from cites_contracts.testing import event
from cites_contracts.types import LabelPeriod
from cites_runtime.testing import FakeClock, ServiceUnderTest


async def _told(service: ServiceUnderTest, template: str) -> list[str]:
    """Who the mails of ``template`` are for: a troïka role, or a partner's contact id."""
    rows = await service.runtime.pool.fetch(
        "SELECT recipient FROM notifications WHERE template = $1", template)
    return sorted(r["recipient"]["troika_role"] or r["recipient"]["contact_id"]
                  for r in rows)


async def _cite(service: ServiceUnderTest, *, start: date = date(2025, 1, 1),
                end: date = date(2027, 12, 31)) -> TerritoryLabelled:
    """A cité labelled, its troïka's cards and candidature consumed first."""
    cards, submitted = troika_cards(uuid4(), uuid4().hex[:8])
    label = labelled(submitted, start=start, end=end)
    await service.publish(*cards, submitted, label)
    return label


async def _partner(service: ServiceUnderTest, *contacts: UUID) -> UUID:
    """A partner registered with these consenting contacts, each with its card."""
    partner = uuid4()
    await service.publish(event(PartnerRegistered, partner_id=str(partner),
                               contact_ids=[str(c) for c in contacts]), *(
        ContactCardPublished(contact_id=c, partner_id=partner,
                             email=f"contact.{c.hex[:8]}@example.org", published_at=AT)
        for c in contacts))
    return partner


TROIKA = ["maire", "prefet", "recteur"]


async def test_the_troika_is_told_of_a_suspension_and_reminded_only_while_the_label_is_active(
    service: ServiceUnderTest, clock: FakeClock,
) -> None:
    label = await _cite(service, start=date(2022, 10, 1), end=date(2025, 9, 30))
    await service.publish(event(LabelSuspended, cite_id=label.cite_id))
    clock.set_date(date(2025, 4, 2))  # the 6-month reminder is due
    while_suspended = await remind_due(service.runtime)
    await service.publish(event(LabelReinstated, cite_id=label.cite_id))
    once_reinstated = await remind_due(service.runtime)

    assert await _told(service, "label-suspended") == TROIKA
    assert [dict(r["recipient"]) for r in await service.runtime.pool.fetch(
        "SELECT recipient FROM notifications WHERE template = 'label-suspended' "
        "ORDER BY recipient->>'troika_role'")] == [  # by reference: the role, no contact
        {"kind": "troika", "troika_role": role, "partner_id": None, "contact_id": None}
        for role in TROIKA]
    assert await _told(service, "label-reinstated") == TROIKA
    assert (while_suspended, once_reinstated) == (0, 3)


async def test_a_withdrawn_label_is_told_and_never_reminded(
    service: ServiceUnderTest, clock: FakeClock,
) -> None:
    label = await _cite(service, start=date(2022, 10, 1), end=date(2025, 9, 30))
    await service.publish(event(LabelWithdrawn, cite_id=label.cite_id))
    clock.set_date(date(2025, 4, 2))

    assert await remind_due(service.runtime) == 0
    assert await _told(service, "label-withdrawn") == TROIKA


async def test_a_renewed_label_is_reminded_on_its_new_periods_dates(
    service: ServiceUnderTest, clock: FakeClock,
) -> None:
    label = await _cite(service, start=date(2022, 10, 1), end=date(2025, 9, 30))
    await service.publish(event(
        LabelRenewed, cite_id=label.cite_id,
        previous_period=label.label_period,
        label_period=LabelPeriod(start=date(2025, 10, 1), end=date(2028, 9, 30))))
    clock.set_date(date(2025, 4, 2))  # would be the old period's 6-month reminder
    before = await remind_due(service.runtime)
    clock.set_date(date(2028, 4, 2))
    after = await remind_due(service.runtime)

    assert (before, after) == (0, 3)


async def test_partners_are_told_as_they_join_and_leave_and_the_closure_goes_to_members(
    service: ServiceUnderTest,
) -> None:
    label = await _cite(service)
    chef, joining, leaving = uuid4(), uuid4(), uuid4()
    college = await _partner(service, chef)
    newcomer = await _partner(service, joining)
    departing = await _partner(service, leaving)
    await service.publish(
        AllianceOpened(cite_id=label.cite_id, chef_de_file_partner_id=college,
                       chef_de_file_uai=label.lead_college_uai, opened_at=AT),
        event(PartnerJoinedAlliance, cite_id=label.cite_id, partner_id=str(newcomer)),
        event(PartnerJoinedAlliance, cite_id=label.cite_id, partner_id=str(departing)),
        event(PartnerLeftAlliance, cite_id=label.cite_id, partner_id=str(departing)),
        event(AllianceClosed, cite_id=label.cite_id))

    assert await _told(service, "alliance-opened") == [str(chef)]
    assert await _told(service, "partner-joined-alliance") == sorted(
        [str(chef), str(chef), str(joining), str(leaving)])
    assert await _told(service, "partner-left-alliance") == sorted([str(chef), str(leaving)])
    assert await _told(service, "alliance-closed") == [str(joining)]


async def test_a_designated_chef_de_file_is_told_of_the_label_that_waited_and_is_a_member(
    service: ServiceUnderTest,
) -> None:
    label = await _cite(service)
    principal = uuid4()
    college = await _partner(service, principal)
    waiting = [r[0] for r in await service.runtime.pool.fetch("SELECT waits_for FROM awaiting")]
    await service.publish(event(ChefDeFileDesignated, cite_id=label.cite_id,
                               partner_id=str(college), uai=label.lead_college_uai),
                          event(AllianceClosed, cite_id=label.cite_id))

    assert waiting == [f"alliance:{label.cite_id}"]  # its chef de file's alliance
    assert await _told(service, "cite-labelled") == sorted([*TROIKA, str(principal)])
    assert await service.runtime.pool.fetchval("SELECT count(*) FROM awaiting") == 0
    assert await _told(service, "alliance-closed") == [str(principal)]


async def test_only_the_contacts_a_partners_last_list_names_are_written_to(
    service: ServiceUnderTest,
) -> None:
    label = await _cite(service)
    kept, dropped = uuid4(), uuid4()
    partner = await _partner(service, kept, dropped)
    await service.publish(
        event(PartnerUpdated, partner_id=str(partner), contact_ids=[str(kept)]),
        event(PartnerJoinedAlliance, cite_id=label.cite_id, partner_id=str(partner)))
    stored = await service.runtime.pool.fetch(
        "SELECT recipient, contact_id FROM notifications WHERE template = $1",
        "partner-joined-alliance")

    assert await _told(service, "partner-joined-alliance") == [str(kept)]
    assert [(dict(r["recipient"]), r["contact_id"]) for r in stored] == [  # by reference
        ({"kind": "partner_contact", "troika_role": None, "partner_id": str(partner),
          "contact_id": str(kept)}, kept)]


async def test_the_troika_is_told_of_a_re_application_and_of_its_refusal(
    service: ServiceUnderTest,
) -> None:
    label = await _cite(service, start=date(2022, 1, 1), end=date(2024, 12, 31))
    period = LabelPeriod(start=date(2022, 1, 1), end=date(2024, 12, 31))
    await service.publish(
        event(RenewalApplied, cite_id=label.cite_id, label_period=period,
              filed_on=date(2024, 11, 20)),
        event(RenewalRefused, cite_id=label.cite_id, label_period=period,
              decided_on=date(2025, 2, 3)))

    assert await _told(service, "renewal-applied") == TROIKA
    assert await _told(service, "renewal-refused") == TROIKA
