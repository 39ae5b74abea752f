"""The registry's rules, without I/O: identifiers by kind, how they agree, consent."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest
from hypothesis import given
from partners.domain import Contact, ContactDetails, PartnerDetails, RuleBroken, consenting

from cites_contracts.testing import insee_codes, sirets
from cites_contracts.types import PartnerKind, departement_of

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
    assert (broken.value.field, broken.value.rule) == (field, rule)


def test_a_siren_given_with_a_siret_must_be_the_siret_s_own() -> None:
    details = PartnerDetails(PartnerKind.ASSOCIATION, "Asso", siret="73282932000074",
                             siren="200054781")
    with pytest.raises(RuleBroken, match="not the SIREN of SIRET") as broken:
        details.checked()
    assert broken.value.rule == "siren_of_siret"


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
    assert broken.value.field == "departement"


def test_a_siren_identifies_a_partner_only_without_a_siret() -> None:
    epci = PartnerDetails(PartnerKind.EPCI, "Est Ensemble", siren="200054781")
    establishment = PartnerDetails(PartnerKind.CAF, "CAF", siren="732829320",
                                   siret="73282932000074")
    assert epci.identity().siren_alone == "200054781"
    assert establishment.identity().siren_alone is None


def _contact(email: str, consent: bool) -> Contact:
    return Contact.add(uuid4(), ContactDetails("Anne Martin", email, consent=consent), AT)


def test_events_carry_the_email_of_consenting_contacts_only() -> None:
    yes, no = _contact("yes@example.org", True), _contact("no@example.org", False)
    assert [c.email for c in consenting([yes, no])] == ["yes@example.org"]
    assert consenting([no]) == ()


def test_giving_or_withdrawing_consent_records_its_date() -> None:
    contact = _contact("a@example.org", False)
    later = AT + timedelta(days=3)
    renamed = contact.revised(ContactDetails("Anne Martin-Durand", "a@example.org"), later)
    consented = contact.revised(ContactDetails("Anne Martin", "a@example.org", consent=True),
                                later)
    assert renamed.consent_recorded_at == AT
    assert consented.consent_recorded_at == later
    assert consented.published is not None
