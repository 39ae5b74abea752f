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
"""

from __future__ import annotations

from uuid import UUID

from cites_contracts.events.labelling import (
    CandidatureSubmitted,
    LabelRenewed,
    TerritoryLabelled,
    TroikaContactPublished,
)
from cites_contracts.events.partners import ContactCardPublished
from cites_runtime.uow import UnitOfWork

from . import store

__all__ = ["candidature_submitted", "cite_labelled", "contact_card", "forget", "troika_card"]

async def troika_card(uow: UnitOfWork, card: TroikaContactPublished) -> None:
    await store.save_troika_contact(uow.conn, card.contact_id, str(card.email),
                                    card.candidature_id, card.role.value, uow.now)


async def contact_card(uow: UnitOfWork, card: ContactCardPublished) -> None:
    await store.save_partner_contact(uow.conn, card.contact_id, str(card.email),
                                     card.partner_id, uow.now)


async def forget(uow: UnitOfWork, contact_id: UUID) -> None:
    await store.forget_contact(uow.conn, contact_id, uow.now)


async def candidature_submitted(uow: UnitOfWork, event: CandidatureSubmitted) -> None:
    await store.save_candidature(uow.conn, event.candidature_id, event.territory_name,
                                 event.departement, [
                                     {"role": s.role.value, "contact_id": str(s.contact_id)}
                                     for s in event.troika])


async def cite_labelled(uow: UnitOfWork, event: TerritoryLabelled) -> None:
    await store.save_cite(uow.conn, store.CiteRow(
        event.cite_id, event.candidature_id, event.name, event.departement,
        event.lead_college_uai, event.label_period.end, "active", event.label_period.start))


async def label_renewed(uow: UnitOfWork, event: LabelRenewed) -> None:
    await store.set_cite_status(uow.conn, event.cite_id, "active", event.label_period.end)
