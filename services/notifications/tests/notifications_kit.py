"""Test kit of the notifications service: builders of the events it consumes (a troïka's
contact cards and its candidature) and where the mails it sent landed. Tokens and the
service under test are the runtime's (``cites_runtime.testing``).

(Named ``notifications_kit`` so it never shadows another suite's helper on sys.path.)
"""

from __future__ import annotations

import email
import email.policy
from datetime import UTC, datetime
from email.message import Message
from pathlib import Path
from uuid import UUID, uuid4

from cites_contracts.events.labelling import (
    CandidatureSubmitted,
    Perimeter,
    PerimeterCommune,
    PerimeterQpv,
    PerimeterSchool,
    TroikaContactPublished,
    TroikaSeat,
    Wave,
)
from cites_contracts.types import ActorRole, EducationPriority, SchoolKind, TroikaRole
from cites_runtime.testing.infra import Infra

AT = datetime(2025, 3, 10, 9, 0, tzinfo=UTC)


def troika_cards(candidature: UUID, tag: str) -> tuple[list[TroikaContactPublished],
                                                        CandidatureSubmitted]:
    """A candidature's three troïka contact cards (addresses ``<role>.<tag>@…``) and its
    submission, which seats them."""
    seats = {role: uuid4() for role in (TroikaRole.PREFET, TroikaRole.RECTEUR,
                                        TroikaRole.MAIRE)}
    cards = [TroikaContactPublished(contact_id=cid, candidature_id=candidature, role=role,
                                    email=f"{role.value}.{tag}@example.gouv.fr",
                                    published_at=AT) for role, cid in seats.items()]
    submitted = CandidatureSubmitted(
        candidature_id=candidature, territory_name="Vaulx-en-Velin", departement="69",
        wave=Wave(id="2024-generalisation", year=2024),
        perimeter=Perimeter(
            communes=(PerimeterCommune(insee_code="69256", name="Vaulx-en-Velin"),),
            qpvs=(PerimeterQpv(code="QN06901M", name="Mas du Taureau", population=8000),),
            schools=(PerimeterSchool(uai="0693874L", kind=SchoolKind.COLLEGE,
                                     name="Collège Aimé Césaire",
                                     education_priority=EducationPriority.REP_PLUS),)),
        lead_college_uai="0693874L",
        troika=tuple(TroikaSeat(role=r, contact_id=c) for r, c in seats.items()),
        submitted_by=ActorRole.PREFECTURE, submitted_at=AT)
    return cards, submitted


def mails_to(infra: Infra, tag: str) -> list[Message]:
    """The mails the SMTP sink kept whose recipient holds ``tag``."""
    assert infra.smtp_maildir, "the SMTP sink keeps no maildir here"
    found = []
    for path in sorted(Path(infra.smtp_maildir).glob("*.eml")):
        msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        if tag in (msg["To"] or ""):
            found.append(msg)
    return found
