"""The registry's rules, without I/O: identifiers by kind, how they agree, consent."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest
from hypothesis import given
from partners.domain import (
    Contact,
    ContactChange,
    ContactDetails,
    Partner,
    PartnerDetails,
    consenting,
)

from cites_contracts.events.partners import ContactErased
from cites_contracts.testing import insee_codes, sirets
from cites_contracts.types import PartnerKind, departement_of
from cites_runtime.errors import Conflict, NotFound, RuleBroken

AT = datetime(2025, 3, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("details", "field", "rule"),
    [
        (PartnerDetails(PartnerKind.COLLEGE, "Collège Jean Renoir"), "uai", "uai_required"),
        (PartnerDetails(PartnerKind.COMMUNE, "Bondy"), "insee_code", "insee_code_required"),
        (PartnerDetails(PartnerKind.ASSOCIATION, "Asso", siren="732829320"), "siret",
         "siret_required"),
        (PartnerDetails(PartnerKind.CAF, "CAF 93"), "siren", "siren_or_siret_required"),
        (PartnerDetails(PartnerKind.ASSOCIATION, "Asso", siret="73282932000074",
                        uai="0930001A"), "uai", "uai_not_applicable"),
        (PartnerDetails(PartnerKind.LYCEE, "Lycée", uai="0930001A", insee_code="93010"),
         "insee_code", "insee_code_not_applicable"),
    ],
)
def test_each_kind_of_partner_is_identified_by_its_own_identifier(
    details: PartnerDetails, field: str, rule: str
) -> None:
    with pytest.raises(RuleBroken) as broken:
        details.checked()
    assert [(f.field, f.rule) for f in broken.value.failures] == [(field, rule)]


def test_a_siren_given_with_a_siret_must_be_the_siret_s_own() -> None:
    details = PartnerDetails(PartnerKind.ASSOCIATION, "Asso", siret="73282932000074",
                             siren="200054781")
    with pytest.raises(RuleBroken, match="not the SIREN of SIRET") as broken:
        details.checked()
    assert broken.value.failures[0].rule == "siren_of_siret"


@given(sirets())
def test_any_valid_siret_registers_an_association(siret: str) -> None:
    details = PartnerDetails(PartnerKind.ASSOCIATION, "Asso", siret=siret, siren=siret[:9])
    assert details.checked().identity().siret == siret


@given(insee_codes())
def test_a_commune_is_located_in_itself_and_in_its_departement(code: str) -> None:
    checked = PartnerDetails(PartnerKind.COMMUNE, "Commune", insee_code=code).checked()
    assert checked.commune_insee_code == code
    assert checked.departement == departement_of(code)


def test_the_departement_given_must_hold_the_partner_s_commune() -> None:
    details = PartnerDetails(PartnerKind.ASSOCIATION, "Asso", siret="73282932000074",
                             departement="69", commune_insee_code="93010")
    with pytest.raises(RuleBroken, match="does not hold commune 93010") as broken:
        details.checked()
    assert broken.value.failures[0].field == "departement"


def test_a_siren_identifies_a_partner_only_without_a_siret() -> None:
    epci = PartnerDetails(PartnerKind.EPCI, "Est Ensemble", siren="200054781")
    establishment = PartnerDetails(PartnerKind.CAF, "CAF", siren="732829320",
                                   siret="73282932000074")
    assert epci.identity().siren_alone == "200054781"
    assert establishment.identity().siren_alone is None


def test_a_revision_changes_the_partner_and_announces_its_whole_state_once() -> None:
    college, _ = Partner.register(PartnerDetails(PartnerKind.COLLEGE, "Collège Jean Renoir",
                                                 uai="0930001A"), AT)
    asso, _ = Partner.register(PartnerDetails(PartnerKind.ASSOCIATION, "Asso",
                                              siret="73282932000074"), AT)
    later = AT + timedelta(days=1)
    renamed = PartnerDetails(PartnerKind.COLLEGE, "Collège Renoir", uai="0930001A")
    updated = college.revise(renamed, later, contacts=[], holders=[college], leads="cite-001")
    again = college.revise(renamed, later, contacts=[], holders=[college], leads="cite-001")
    with pytest.raises(Conflict, match="which only a collège can be"):
        college.revise(PartnerDetails(PartnerKind.LYCEE, "Collège Renoir", uai="0930001A"),
                       later, contacts=[], holders=[college], leads="cite-001")
    with pytest.raises(Conflict, match="these identifiers already designate"):
        college.revise(PartnerDetails(PartnerKind.COLLEGE, "Collège Renoir", uai="0930001A",
                                      siret="73282932000074"), later, contacts=[],
                       holders=[college, asso], leads=None)
    assert updated is not None and (updated.name, updated.updated_at) == ("Collège Renoir",
                                                                           later)
    assert again is None
    assert (college.details, college.updated_at) == (renamed, later)


def _contact(email: str, consent: bool) -> Contact:
    return Contact(uuid4(), uuid4(), ContactDetails("Anne Martin", email, consent=consent), AT,
                   AT)


def test_events_name_consenting_contacts_only_and_by_id() -> None:
    yes, no = _contact("yes@example.org", True), _contact("no@example.org", False)
    assert consenting([yes, no]) == (yes.contact_id,)
    assert consenting([no]) == ()


def test_giving_or_withdrawing_consent_records_its_date() -> None:
    partner, _ = Partner.register(PartnerDetails(PartnerKind.ASSOCIATION, "Asso",
                                                 siret="73282932000074"), AT)
    renamed, consented = _contact("a@example.org", False), _contact("a@example.org", False)
    later = AT + timedelta(days=3)
    renamed.revise(partner, ContactDetails("Anne Martin-Durand", "a@example.org"), [renamed],
                   later)
    consented.revise(partner, ContactDetails("Anne Martin", "a@example.org", consent=True),
                     [consented], later)
    assert renamed.consent_recorded_at == AT
    assert consented.consent_recorded_at == later
    assert consented.published_email == "a@example.org"
    assert renamed.published_email is None


def test_registering_announces_the_partner_s_whole_state() -> None:
    details = PartnerDetails(PartnerKind.COMMUNE, "Bondy", insee_code="93010")
    partner, registered = Partner.register(details, AT)
    assert partner.details.departement == "93"  # what follows from the rules, filled in
    assert registered.partner_id == partner.partner_id
    assert (registered.insee_code, registered.commune_insee_code, registered.departement) == (
        "93010", "93010", "93")
    assert (registered.registered_at, registered.contact_ids) == (AT, ())


def test_a_contact_changes_the_partner_s_events_only_when_what_they_say_of_it_changes() -> None:
    partner, _ = Partner.register(PartnerDetails(PartnerKind.ASSOCIATION, "Asso",
                                                 siret="73282932000074"), AT)
    later = AT + timedelta(days=1)
    silent, none = Contact.add(partner, ContactDetails("Anne", "a@example.org"), [], AT)
    loud, added = Contact.add(partner, ContactDetails("Bob", "b@example.org", consent=True),
                              [silent], AT)
    unchanged = loud.revise(partner, ContactDetails("Bob B.", "b@example.org", consent=True),
                            [silent, loud], later)
    new_address = loud.revise(partner, ContactDetails("Bob B.", "bob@example.org",
                                                      consent=True), [silent, loud], later)
    given = silent.revise(partner, ContactDetails("Anne", "a@example.org", consent=True),
                          [silent, loud], later)
    withdrawn = loud.revise(partner, ContactDetails("Bob B.", "bob@example.org"),
                            [silent, loud], later)
    assert none == ContactChange() and unchanged == ContactChange()
    # Consent given: the snapshot names the contact by id; its card carries the address.
    assert added.snapshot is not None and added.snapshot.contact_ids == (loud.contact_id,)
    assert added.card is not None and (added.card.contact_id, added.card.email) == (
        loud.contact_id, "b@example.org")
    # A consenting contact's new address: a new card only (the list of ids is the same).
    assert new_address.snapshot is None and new_address.forget is None
    assert new_address.card is not None and new_address.card.email == "bob@example.org"
    assert given.snapshot is not None and given.snapshot.updated_at == later
    assert set(given.snapshot.contact_ids) == {silent.contact_id, loud.contact_id}
    assert silent.consent_recorded_at == later
    # Consent withdrawn: dropped from the list, and its card is to be erased.
    assert withdrawn.snapshot is not None
    assert withdrawn.snapshot.contact_ids == (silent.contact_id,)
    assert (withdrawn.card, withdrawn.forget) == (None, loud.contact_id)
    with pytest.raises(NotFound, match="has no contact"):
        partner.contact(uuid4(), [silent, loud])


def test_erasing_a_contact_says_which_to_forget_and_nothing_else() -> None:
    contact = _contact("a@example.org", True)
    later = AT + timedelta(days=1)
    assert contact.erase(later) == ContactErased(partner_id=contact.partner_id,
                                                 contact_id=contact.contact_id, erased_at=later)
