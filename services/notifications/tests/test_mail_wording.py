"""What the mails say of what the projection knows, from the events consumed to the mail
on a real SMTP server (in-memory broker, real PostgreSQL): times where the territory is,
an opening suited to the recipient, a new partner named with its kind, a payment's
commitment and a rejected candidature referred to in words — and no internal id in any
mail written."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from email.message import EmailMessage
from uuid import UUID, uuid4

from notifications.sender import send_due
from notifications_kit import AT, SmtpServer, labelled, mails_to, troika_cards

from cites_contracts.events.funding import FundsCommitted, PaymentMade
from cites_contracts.events.labelling import CandidatureRejected, TerritoryLabelled
from cites_contracts.events.partners import (
    AllianceOpened,
    ContactCardPublished,
    PartnerJoinedAlliance,
    PartnerRegistered,
)
from cites_contracts.testing import event
from cites_contracts.types import PartnerKind
from cites_runtime.testing import ServiceUnderTest

NBSP, NNBSP = "\u00a0", "\u202f"
UUID_PATTERN = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.I)
WAVE_ID = "2024-generalisation"  # the kit's wave: an id, without a title


def _plain(mail: EmailMessage) -> str:
    body = mail.get_body(preferencelist=("plain",))
    assert body is not None
    return str(body.get_content()).replace("\r\n", "\n")  # type: ignore[attr-defined]


async def _no_id_in_any_mail(service: ServiceUnderTest, *ids: str) -> int:
    """How many mails were written; each without a UUID, the wave's id or ``ids``."""
    rows = await service.runtime.pool.fetch(
        "SELECT subject, body_text, body_html FROM notifications")
    for row in rows:
        for part in row.values():
            assert not UUID_PATTERN.search(part), (row["subject"], UUID_PATTERN.search(part))
            assert WAVE_ID not in part and not any(i in part for i in ids), row["subject"]
    return len(rows)


async def test_a_candidature_filed_at_22_27_utc_in_la_reunion_is_acknowledged_at_2_27_there(
    service: ServiceUnderTest, smtp: SmtpServer,
) -> None:
    tag = uuid4().hex[:12]
    cards, submitted = troika_cards(uuid4(), tag, territory_name="Le Port",
                                    departement="974",
                                    submitted_at=datetime(2026, 12, 6, 22, 27, tzinfo=UTC))
    await service.publish(*cards, submitted)
    assert await send_due(service.runtime) == 3

    mails = {m["To"].split(".")[0]: m for m in mails_to(smtp, tag)}
    assert sorted(mails) == ["maire", "prefet", "recteur"]
    for role, title in (("prefet", "Préfet"), ("recteur", "Recteur"), ("maire", "Maire")):
        text = _plain(mails[role])  # type: ignore[arg-type]
        assert f"déposée le 7 décembre 2026 à 2{NBSP}h{NBSP}27, heure de La Réunion" in text
        assert "6 décembre" not in text
        assert text.startswith(f"Madame, Monsieur le {title},\n")
        assert f"d’agréer, Madame, Monsieur le {title}, l’expression" in text
        assert "au titre de la vague 2024." in text
    assert await _no_id_in_any_mail(service) == 3


async def test_a_rejected_candidature_is_referred_to_by_territory_departement_and_filing(
    service: ServiceUnderTest,
) -> None:
    candidature = uuid4()
    cards, submitted = troika_cards(candidature, uuid4().hex[:8], territory_name="Le Port",
                                    departement="974",
                                    submitted_at=datetime(2026, 12, 6, 22, 27, tzinfo=UTC))
    await service.publish(*cards, submitted, event(
        CandidatureRejected, candidature_id=str(candidature), wave=submitted.wave))

    [text] = [r[0] for r in await service.runtime.pool.fetch(
        """SELECT body_text FROM notifications WHERE template = 'candidature-rejected'
           AND recipient->>'troika_role' = 'prefet'""")]
    assert (f"Candidature concernée : territoire «{NBSP}Le Port{NBSP}» (département 974), "
            f"déposée le 7 décembre 2026 à 2{NBSP}h{NBSP}27, heure de La Réunion.") in text
    assert "les ministres chargés de la ville et de l’éducation nationale ont décidé" in text
    assert await _no_id_in_any_mail(service) == 6


async def _partner(service: ServiceUnderTest, name: str, kind: PartnerKind, contact: UUID
                   ) -> UUID:
    partner = uuid4()
    await service.publish(
        event(PartnerRegistered, partner_id=str(partner), name=name, kind=kind.value,
              contact_ids=[str(contact)]),
        ContactCardPublished(contact_id=contact, partner_id=partner,
                             email=f"contact.{contact.hex[:8]}@example.org", published_at=AT))
    return partner


async def _cite_with_alliance(service: ServiceUnderTest, principal: UUID
                              ) -> TerritoryLabelled:
    cards, submitted = troika_cards(uuid4(), uuid4().hex[:8], territory_name="Le Port",
                                    departement="974")
    label = labelled(submitted)
    college = await _partner(service, "Collège Titan", PartnerKind.COLLEGE, principal)
    await service.publish(*cards, submitted, label, AllianceOpened(
        cite_id=label.cite_id, chef_de_file_partner_id=college,
        chef_de_file_uai=label.lead_college_uai, opened_at=AT))
    return label


async def test_a_new_partner_is_named_with_its_kind_to_the_principal_of_the_chef_de_file(
    service: ServiceUnderTest,
) -> None:
    principal, animatrice = uuid4(), uuid4()
    label = await _cite_with_alliance(service, principal)
    asso = await _partner(service, "Les Petits Débrouillards", PartnerKind.ASSOCIATION,
                          animatrice)
    await service.publish(event(PartnerJoinedAlliance, cite_id=label.cite_id,
                                partner_id=str(asso), partner_kind="association"))

    rows = {r["contact_id"]: r for r in await service.runtime.pool.fetch(
        """SELECT contact_id, subject, body_text, body_html FROM notifications
           WHERE template = 'partner-joined-alliance'""")}
    told = rows[principal]
    assert told["subject"] == "Le Port : Les Petits Débrouillards rejoint l’alliance éducative"
    assert "Les Petits Débrouillards, association." in told["body_text"]
    assert "<strong>Les Petits Débrouillards</strong>, association." in told["body_html"]
    assert told["body_text"].startswith("Madame, Monsieur le Principal,\n")
    assert rows[animatrice]["body_text"].startswith("Madame, Monsieur,\n")
    assert await _no_id_in_any_mail(service, label.cite_id) == 10


async def test_a_payment_names_the_commitment_it_settles_by_its_action_amount_and_day(
    service: ServiceUnderTest,
) -> None:
    principal, animatrice = uuid4(), uuid4()
    label = await _cite_with_alliance(service, principal)
    asso = await _partner(service, "Les Petits Débrouillards", PartnerKind.ASSOCIATION,
                          animatrice)
    commitment = uuid4()
    await service.publish(
        event(FundsCommitted, cite_id=label.cite_id, commitment_id=str(commitment),
              operator_partner_id=str(asso), action_title="Ateliers scientifiques",
              amount=40_000_00, committed_at="2026-03-02T21:30:00Z"),
        event(PaymentMade, cite_id=label.cite_id, commitment_id=str(commitment),
              payee_partner_id=str(asso), amount=15_000_00))

    [text] = [r[0] for r in await service.runtime.pool.fetch(
        "SELECT body_text FROM notifications WHERE template = 'payment-made'")]
    # Committed at 22 h 30 in Paris on 2 March: already 3 March in La Réunion.
    assert (f"au titre de l’engagement de 40{NNBSP}000,00{NBSP}€ pris le 3 mars 2026 pour "
            f"l’action «{NBSP}Ateliers scientifiques{NBSP}»") in text
    assert await _no_id_in_any_mail(service, label.cite_id) == 10
