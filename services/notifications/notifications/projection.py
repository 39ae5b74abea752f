"""Who may be written to, learnt only from events (no call to another service).

- troïka: each candidature's seats and filing (``CandidatureSubmitted`` v2) and each
  signatory's card (``labelling.TroikaContactPublished`` on the compacted
  ``labelling.contacts``);
- cités: ``TerritoryLabelled`` (name, candidature, lead collège, label end), their life;
- alliances: the chef de file and the current members (``partners.alliances``);
- partners: their name and kind, and their consenting contacts — the ids in
  ``PartnerRegistered``/``PartnerUpdated`` v2 and each card on the compacted
  ``partners.contacts``;
- commitments (``FundsCommitted``): the action, amount and day a payment's mail names;
- revues de projet (``labelling.reviews``): their year, deadline, opening and submission,
  for the deadline reminders.

Erasure: a tombstone on a contacts topic, or ``ContactErased``, deletes the address at
once; mail not yet sent to it fails unsent, and the log keeps who was told of what by
reference only (:func:`store.forget_contact`).

The use cases (``service.py``) keep it; the consumer's handlers call them, not this.
"""

from __future__ import annotations

from datetime import date
from uuid import UUID

from cites_contracts.events.funding import FundsCommitted
from cites_contracts.events.labelling import (
    CandidatureSubmitted,
    TerritoryLabelled,
    TroikaContactPublished,
)
from cites_contracts.events.partners import (
    ContactCardPublished,
    PartnerRegistered,
    PartnerUpdated,
)
from cites_runtime.uow import UnitOfWork

from . import store
from .domain.cite import Cite, CiteStatus
from .domain.recipients import Recipient
from .domain.review import Review
from .domain.templates import KnownCommitment

__all__ = ["candidature_submitted", "cite_labelled", "cite_status", "commitment",
           "contact_card", "designate_chef_de_file", "forget", "membership", "partner",
           "review", "troika_card"]


async def troika_card(uow: UnitOfWork, card: TroikaContactPublished) -> None:
    await store.save_troika_contact(uow.conn, card.contact_id, str(card.email),
                                    card.candidature_id, card.role.value, uow.now)


async def contact_card(uow: UnitOfWork, card: ContactCardPublished) -> None:
    await store.save_partner_contact(uow.conn, card.contact_id, str(card.email),
                                     card.partner_id, uow.now)


async def forget(uow: UnitOfWork, contact_id: UUID) -> None:
    await store.forget_contact(uow.conn, contact_id, uow.now)


async def partner(uow: UnitOfWork, event: PartnerRegistered | PartnerUpdated) -> None:
    """The partner's name and kind (its mails' reference), and its consenting contacts
    (the registry's list)."""
    await store.save_partner(uow.conn, event.partner_id, event.name, event.kind.value)
    await store.set_partner_contacts(uow.conn, event.partner_id, event.contact_ids)


async def candidature_submitted(uow: UnitOfWork, event: CandidatureSubmitted) -> None:
    await store.save_candidature(uow.conn, event.candidature_id, event.territory_name,
                                 event.departement,
                                 [Recipient.troika(s.role, s.contact_id) for s in event.troika],
                                 event.submitted_at)


async def commitment(uow: UnitOfWork, event: FundsCommitted) -> None:
    """The commitment's action, amount and day: a payment's mail refers to it by them."""
    await store.save_commitment(uow.conn, event.commitment_id, event.cite_id, KnownCommitment(
        event.action_title, event.amount, event.committed_at))


async def cite_labelled(uow: UnitOfWork, event: TerritoryLabelled) -> None:
    await store.save_cite(uow.conn, Cite(
        event.cite_id, event.candidature_id, event.name, event.departement,
        event.lead_college_uai, event.label_period.end, CiteStatus.ACTIVE,
        event.label_period.start))


async def cite_status(uow: UnitOfWork, cite_id: str, status: CiteStatus,
                      label_end: date | None = None) -> None:
    """The cité's label is now ``status`` (and ends on ``label_end``, when given)."""
    await store.set_cite_status(uow.conn, cite_id, status, label_end)


async def designate_chef_de_file(uow: UnitOfWork, cite_id: str, partner_id: UUID) -> None:
    await store.set_chef_de_file(uow.conn, cite_id, partner_id)


async def membership(uow: UnitOfWork, cite_id: str, partner_id: UUID, current: bool) -> None:
    """Whether the partner is a current member of the cité's alliance."""
    await store.set_member(uow.conn, cite_id, partner_id, current)


async def review(uow: UnitOfWork, review: Review) -> None:
    """The review opened, or submitted (then never reminded)."""
    await store.save_review(uow.conn, review)
