"""Who may be written to, learnt only from events (no call to another service).

- troïka: each candidature's seats (``CandidatureSubmitted`` v2) and each signatory's card
  (``labelling.TroikaContactPublished`` on the compacted ``labelling.contacts``);
- cités: ``TerritoryLabelled`` (name, candidature, lead collège, label end), their life;
- alliances: the chef de file and the current members (``partners.alliances``);
- partners' consenting contacts: the ids in ``PartnerRegistered``/``PartnerUpdated`` v2
  and each card on the compacted ``partners.contacts``.

Erasure: a tombstone on a contacts topic, or ``ContactErased``, deletes the address at
once; mail not yet sent to it fails unsent, and the log keeps who was told of what by
reference only (:func:`store.forget_contact`).

The use cases (``service.py``) keep it; the consumer's handlers call them, not this.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from uuid import UUID

from cites_contracts.events.labelling import (
    CandidatureSubmitted,
    TerritoryLabelled,
    TroikaContactPublished,
)
from cites_contracts.events.partners import ContactCardPublished
from cites_runtime.uow import UnitOfWork

from . import store
from .domain.cite import Cite, CiteStatus
from .domain.recipients import Recipient

__all__ = ["candidature_submitted", "cite_labelled", "cite_status", "contact_card",
           "designate_chef_de_file", "forget", "membership", "partner_contacts",
           "troika_card"]


async def troika_card(uow: UnitOfWork, card: TroikaContactPublished) -> None:
    await store.save_troika_contact(uow.conn, card.contact_id, str(card.email),
                                    card.candidature_id, card.role.value, uow.now)


async def contact_card(uow: UnitOfWork, card: ContactCardPublished) -> None:
    await store.save_partner_contact(uow.conn, card.contact_id, str(card.email),
                                     card.partner_id, uow.now)


async def forget(uow: UnitOfWork, contact_id: UUID) -> None:
    await store.forget_contact(uow.conn, contact_id, uow.now)


async def partner_contacts(uow: UnitOfWork, partner_id: UUID, contact_ids: Sequence[UUID]
                           ) -> None:
    """The partner's consenting contacts are these (the registry's list)."""
    await store.set_partner_contacts(uow.conn, partner_id, contact_ids)


async def candidature_submitted(uow: UnitOfWork, event: CandidatureSubmitted) -> None:
    await store.save_candidature(uow.conn, event.candidature_id, event.territory_name,
                                 event.departement,
                                 [Recipient.troika(s.role, s.contact_id) for s in event.troika])


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
