"""What notifications does with the platform's events: keep its projection of who may be
written to, and write the notifications the rules table asks for.

Each handler translates its event into a use case of ``service.py`` and runs in the
consuming transaction (``ctx.uow``): the projection's change, the notifications written and
the inbox row commit together; the sender (``sender.py``) mails them afterwards, outside
any consuming transaction. Where the event's class selects a value (a cité's status, a
membership), a module-level map says which, and one handler takes every class of the map
(``handles(*CITE_STATUS)``: the keys are typed as one union, the handler's parameter).
"""

from __future__ import annotations

from typing import Final
from uuid import UUID

from cites_contracts import Event
from cites_contracts.events.funding import (
    FondsDeLaCiteGranted,
    FundsAllocated,
    FundsCommitted,
    FundsFrozen,
    PaymentMade,
    RecoveryOrdered,
)
from cites_contracts.events.labelling import (
    CandidatureRejected,
    CandidatureSubmitted,
    LabelExpired,
    LabelReinstated,
    LabelRenewed,
    LabelSuspended,
    LabelWithdrawn,
    ProjectReviewOpened,
    ProjectReviewOverdue,
    ProjectReviewSubmitted,
    RenewalApplied,
    RenewalRefused,
    TerritoryLabelled,
    TroikaContactPublished,
)
from cites_contracts.events.partners import (
    AllianceClosed,
    AllianceOpened,
    ChefDeFileDesignated,
    ChefDeProjetAppointed,
    ChefDeProjetPostVacated,
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

from . import service
from .domain.cite import CiteStatus

__all__ = ["CITE_STATUS", "MEMBERSHIP", "PARTNER_STATES", "consumer"]

consumer = EventConsumer("notifications")

CITE_STATUS: Final[dict[type[service.LabelStatusChange], CiteStatus]] = {
    LabelSuspended: CiteStatus.SUSPENDED, LabelReinstated: CiteStatus.ACTIVE,
    LabelWithdrawn: CiteStatus.WITHDRAWN, LabelExpired: CiteStatus.EXPIRED}
"""A label's change, and the status of its cité after it."""

MEMBERSHIP: Final[dict[type[service.MembershipChange], bool]] = {
    PartnerJoinedAlliance: True, PartnerLeftAlliance: False}
"""Whether the partner is a current member of the alliance after the event."""

PARTNER_STATES: Final[tuple[type[service.PartnerState], ...]] = (
    PartnerRegistered, PartnerUpdated)
"""The registry's events stating a partner: its name, kind and consenting contacts."""


# --- the projection ---------------------------------------------------------------------------


@consumer.handles(TroikaContactPublished)
async def troika_card_handler(event: TroikaContactPublished, ctx: HandlerContext) -> None:
    await service.keep_troika_card(ctx.uow, event)


@consumer.handles(ContactCardPublished)
async def contact_card_handler(event: ContactCardPublished, ctx: HandlerContext) -> None:
    await service.keep_contact_card(ctx.uow, event)


@consumer.handles_tombstones(LABELLING_CONTACTS)
@consumer.handles_tombstones(PARTNERS_CONTACTS)
async def contact_card_erased(contact_id: str, ctx: TombstoneContext) -> None:
    """A troïka signatory erased in labelling, or a partner's contact erased or no longer
    consenting: forget the address at once."""
    await service.forget_contact(ctx.uow, _contact_id(contact_id))


def _contact_id(key: str) -> UUID:
    try:
        return UUID(key)
    except ValueError:  # a rule broken, not a passing trouble: dead-letter it
        raise Conflict(f"a contacts topic's key is a contact id, not {key[:60]!r}") from None


@consumer.handles(ContactErased)
async def contact_erased_handler(event: ContactErased, ctx: HandlerContext) -> None:
    await service.forget_contact(ctx.uow, event.contact_id)


@consumer.handles(*PARTNER_STATES)
async def partner_handler(event: service.PartnerState, ctx: HandlerContext) -> None:
    await service.keep_partner(ctx.uow, event)


# --- labelling --------------------------------------------------------------------------------


@consumer.handles(CandidatureSubmitted)
async def candidature_submitted_handler(event: CandidatureSubmitted, ctx: HandlerContext
                                        ) -> None:
    await service.candidature_submitted(ctx.uow, event, ctx.envelope)


@consumer.handles(TerritoryLabelled)
async def territory_labelled_handler(event: TerritoryLabelled, ctx: HandlerContext) -> None:
    await service.cite_labelled(ctx.uow, event, ctx.envelope)


@consumer.handles(LabelRenewed)
async def label_renewed_handler(event: LabelRenewed, ctx: HandlerContext) -> None:
    await service.label_renewed(ctx.uow, event)


@consumer.handles(*CITE_STATUS)
async def label_status_handler(event: service.LabelStatusChange, ctx: HandlerContext
                               ) -> None:
    await service.label_status_changed(ctx.uow, event, CITE_STATUS[type(event)],
                                       ctx.envelope)


@consumer.handles(ProjectReviewOpened)
async def review_opened_handler(event: ProjectReviewOpened, ctx: HandlerContext) -> None:
    await service.review_opened(ctx.uow, event, ctx.envelope)


@consumer.handles(ProjectReviewSubmitted)
async def review_submitted_handler(event: ProjectReviewSubmitted, ctx: HandlerContext
                                   ) -> None:
    await service.review_submitted(ctx.uow, event)


# --- partners ---------------------------------------------------------------------------------


@consumer.handles(AllianceOpened)
async def alliance_opened_handler(event: AllianceOpened, ctx: HandlerContext) -> None:
    await service.alliance_opened(ctx.uow, event, ctx.envelope)


@consumer.handles(ChefDeFileDesignated)
async def chef_de_file_handler(event: ChefDeFileDesignated, ctx: HandlerContext) -> None:
    await service.chef_de_file_designated(ctx.uow, event)


@consumer.handles(*MEMBERSHIP)
async def membership_handler(event: service.MembershipChange, ctx: HandlerContext) -> None:
    await service.membership_changed(ctx.uow, event, MEMBERSHIP[type(event)], ctx.envelope)


# --- funding ----------------------------------------------------------------------------------


@consumer.handles(FundsCommitted)
async def funds_committed_handler(event: FundsCommitted, ctx: HandlerContext) -> None:
    await service.funds_committed(ctx.uow, event, ctx.envelope)


# --- notified as they are ---------------------------------------------------------------------


@consumer.handles(CandidatureRejected, AllianceClosed, FundsAllocated, FondsDeLaCiteGranted,
                  PaymentMade, FundsFrozen, RenewalApplied, RenewalRefused,
                  ProjectReviewOverdue, RecoveryOrdered, ChefDeProjetAppointed,
                  ChefDeProjetPostVacated)
async def notify_handler(event: Event, ctx: HandlerContext) -> None:
    """Events that change nothing of the projection: the rules table's mails, and the
    webhooks subscribed to them."""
    await service.notify(ctx.uow, event, ctx.envelope)
