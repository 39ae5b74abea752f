"""What notifications does with the platform's events: keep its projection of who may be
written to, and write the notifications the rules table asks for.

Each handler runs in the consuming transaction (``ctx.uow``): the projection's change, the
notifications written and the inbox row commit together; the sender (``sender.py``) mails
them afterwards, outside any consuming transaction.
"""

from __future__ import annotations

from uuid import UUID

from cites_contracts import Event
from cites_contracts.events.funding import (
    FondsDeLaCiteGranted,
    FundsAllocated,
    FundsCommitted,
    FundsFrozen,
    PaymentMade,
)
from cites_contracts.events.labelling import (
    CandidatureRejected,
    CandidatureSubmitted,
    LabelExpired,
    LabelReinstated,
    LabelRenewed,
    LabelSuspended,
    LabelWithdrawn,
    TerritoryLabelled,
    TroikaContactPublished,
)
from cites_contracts.events.partners import (
    AllianceClosed,
    AllianceOpened,
    ChefDeFileDesignated,
    ContactCardPublished,
    ContactErased,
    PartnerJoinedAlliance,
    PartnerLeftAlliance,
    PartnerRegistered,
    PartnerUpdated,
)
from cites_contracts.topics import LABELLING_CONTACTS, PARTNERS_CONTACTS
from cites_runtime.consumer import EventConsumer, HandlerContext, TombstoneContext
from cites_runtime.errors import Conflict

from . import projection, service, store

__all__ = ["consumer"]

consumer = EventConsumer("notifications")


async def _notify(event: Event, ctx: HandlerContext) -> None:
    """The rules table's mails, and the webhooks subscribed to the event's type."""
    await service.notify(ctx.uow, event, ctx.envelope.event_id)
    await service.enqueue_webhooks(ctx.uow, event, ctx.envelope)


# --- the projection ---------------------------------------------------------------------------


@consumer.handles(TroikaContactPublished)
async def troika_card_handler(event: TroikaContactPublished, ctx: HandlerContext) -> None:
    await projection.troika_card(ctx.uow, event)


@consumer.handles(ContactCardPublished)
async def contact_card_handler(event: ContactCardPublished, ctx: HandlerContext) -> None:
    await projection.contact_card(ctx.uow, event)


@consumer.handles_tombstones(LABELLING_CONTACTS)
async def troika_card_erased(contact_id: str, ctx: TombstoneContext) -> None:
    """A troïka signatory erased in labelling: forget the address at once."""
    await projection.forget(ctx.uow, _contact_id(contact_id))


@consumer.handles_tombstones(PARTNERS_CONTACTS)
async def contact_card_erased(contact_id: str, ctx: TombstoneContext) -> None:
    """A partner's contact erased, or no longer consenting: forget the address at once."""
    await projection.forget(ctx.uow, _contact_id(contact_id))


def _contact_id(key: str) -> UUID:
    try:
        return UUID(key)
    except ValueError:  # a rule broken, not a passing trouble: dead-letter it
        raise Conflict(f"a contacts topic's key is a contact id, not {key[:60]!r}") from None


@consumer.handles(ContactErased)
async def contact_erased_handler(event: ContactErased, ctx: HandlerContext) -> None:
    await projection.forget(ctx.uow, event.contact_id)


@consumer.handles(PartnerRegistered)
async def partner_registered_handler(event: PartnerRegistered, ctx: HandlerContext) -> None:
    await store.set_partner_contacts(ctx.uow.conn, event.partner_id, event.contact_ids)


@consumer.handles(PartnerUpdated)
async def partner_updated_handler(event: PartnerUpdated, ctx: HandlerContext) -> None:
    await store.set_partner_contacts(ctx.uow.conn, event.partner_id, event.contact_ids)


# --- labelling --------------------------------------------------------------------------------


@consumer.handles(CandidatureSubmitted)
async def candidature_submitted_handler(event: CandidatureSubmitted, ctx: HandlerContext
                                        ) -> None:
    await projection.candidature_submitted(ctx.uow, event)
    await service.resume(ctx.uow, f"candidature:{event.candidature_id}")
    await _notify(event, ctx)


@consumer.handles(CandidatureRejected)
async def candidature_rejected_handler(event: CandidatureRejected, ctx: HandlerContext) -> None:
    await _notify(event, ctx)


@consumer.handles(TerritoryLabelled)
async def territory_labelled_handler(event: TerritoryLabelled, ctx: HandlerContext) -> None:
    await projection.cite_labelled(ctx.uow, event)
    await service.resume(ctx.uow, f"cite:{event.cite_id}")
    await _notify(event, ctx)


@consumer.handles(LabelRenewed)
async def label_renewed_handler(event: LabelRenewed, ctx: HandlerContext) -> None:
    await projection.label_renewed(ctx.uow, event)


@consumer.handles(LabelSuspended)
async def label_suspended_handler(event: LabelSuspended, ctx: HandlerContext) -> None:
    await store.set_cite_status(ctx.uow.conn, event.cite_id, "suspended")
    await _notify(event, ctx)


@consumer.handles(LabelReinstated)
async def label_reinstated_handler(event: LabelReinstated, ctx: HandlerContext) -> None:
    await store.set_cite_status(ctx.uow.conn, event.cite_id, "active")
    await _notify(event, ctx)


@consumer.handles(LabelWithdrawn)
async def label_withdrawn_handler(event: LabelWithdrawn, ctx: HandlerContext) -> None:
    await store.set_cite_status(ctx.uow.conn, event.cite_id, "withdrawn")
    await _notify(event, ctx)


@consumer.handles(LabelExpired)
async def label_expired_handler(event: LabelExpired, ctx: HandlerContext) -> None:
    await store.set_cite_status(ctx.uow.conn, event.cite_id, "expired")
    await _notify(event, ctx)


# --- partners ---------------------------------------------------------------------------------


@consumer.handles(AllianceOpened)
async def alliance_opened_handler(event: AllianceOpened, ctx: HandlerContext) -> None:
    await store.set_chef_de_file(ctx.uow.conn, event.cite_id, event.chef_de_file_partner_id)
    await service.resume(ctx.uow, f"alliance:{event.cite_id}")
    await _notify(event, ctx)


@consumer.handles(ChefDeFileDesignated)
async def chef_de_file_handler(event: ChefDeFileDesignated, ctx: HandlerContext) -> None:
    await store.set_chef_de_file(ctx.uow.conn, event.cite_id, event.partner_id)
    await store.set_member(ctx.uow.conn, event.cite_id, event.partner_id, True)
    await service.resume(ctx.uow, f"alliance:{event.cite_id}")


@consumer.handles(PartnerJoinedAlliance)
async def partner_joined_handler(event: PartnerJoinedAlliance, ctx: HandlerContext) -> None:
    await store.set_member(ctx.uow.conn, event.cite_id, event.partner_id, True)
    await _notify(event, ctx)


@consumer.handles(PartnerLeftAlliance)
async def partner_left_handler(event: PartnerLeftAlliance, ctx: HandlerContext) -> None:
    await store.set_member(ctx.uow.conn, event.cite_id, event.partner_id, False)
    await _notify(event, ctx)


@consumer.handles(AllianceClosed)
async def alliance_closed_handler(event: AllianceClosed, ctx: HandlerContext) -> None:
    await _notify(event, ctx)


# --- funding ----------------------------------------------------------------------------------

for _money in (FundsAllocated, FondsDeLaCiteGranted, FundsCommitted, PaymentMade, FundsFrozen):
    consumer.handles(_money)(_notify)
