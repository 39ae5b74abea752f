"""What funding does with labelling's and partners' events.

Labelling's label events fund, freeze, unfreeze and end a cité; partners' alliance events
tell who the collège chef de file is (the next fonds goes to it) and which partners may
run actions the cité funds. Each handler runs in the consuming transaction (``ctx.uow``;
labels a run at a time, ``handles_many``: a few statements for the run, and should one of
them break a rule the runtime applies the run's events one at a time, dead-lettering that
one alone): state, ledger rows, emitted events and the inbox row commit together, so a
redelivered event changes nothing. An event breaking a rule (a label event for a cité funding never
heard of) goes to ``funding.dlq`` with the reason.
"""

from __future__ import annotations

from typing import Final

from cites_contracts import Envelope
from cites_contracts.events.labelling import (
    LabelExpired,
    LabelReinstated,
    LabelRenewed,
    LabelSuspended,
    LabelWithdrawn,
    PerimeterExtended,
    ProjectReviewSubmitted,
    TerritoryLabelled,
)
from cites_contracts.events.partners import (
    AllianceClosed,
    AllianceOpened,
    ChefDeFileDesignated,
    PartnerJoinedAlliance,
    PartnerLeftAlliance,
)
from cites_runtime.consumer import BatchContext, EventConsumer, HandlerContext
from cites_runtime.logs import get_logger

from . import service
from .domain.cite import CiteStatus

__all__ = ["consumer"]

log = get_logger(__name__)

consumer = EventConsumer("funding")


@consumer.handles_many(TerritoryLabelled)
async def territory_labelled_handler(labels: list[Envelope[TerritoryLabelled]],
                                     ctx: BatchContext) -> None:
    """A run of labels: their cités remembered and funded in a few statements (a cité
    known already is left as it is)."""
    for cite_id in await service.label_cites(ctx.uow, [(e.data, ctx.cause(e))
                                                       for e in labels]):
        log.info("cité already known, label ignored", cite_id=cite_id)


@consumer.handles(LabelRenewed)
async def label_renewed_handler(event: LabelRenewed, ctx: HandlerContext) -> None:
    await service.renew_label(ctx.uow, event)


@consumer.handles(PerimeterExtended)
async def perimeter_extended_handler(event: PerimeterExtended, ctx: HandlerContext) -> None:
    await service.extend_perimeter(ctx.uow, event)


LabelFreeze = LabelSuspended | LabelWithdrawn | LabelExpired
"""The label events that freeze a cité's money."""

FREEZES: Final[dict[type[LabelFreeze], CiteStatus]] = {
    LabelSuspended: CiteStatus.SUSPENDED, LabelWithdrawn: CiteStatus.WITHDRAWN,
    LabelExpired: CiteStatus.EXPIRED}
"""What each of them makes of the cité."""


@consumer.handles(*FREEZES)
async def label_frozen_handler(event: LabelFreeze, ctx: HandlerContext) -> None:
    await service.freeze(ctx.uow, event.cite_id, FREEZES[type(event)])


@consumer.handles(LabelReinstated)
async def label_reinstated_handler(event: LabelReinstated, ctx: HandlerContext) -> None:
    await service.reinstate(ctx.uow, event.cite_id)


@consumer.handles(AllianceOpened)
async def alliance_opened_handler(event: AllianceOpened, ctx: HandlerContext) -> None:
    await service.designate_chef_de_file(ctx.uow, event.cite_id,
                                         event.chef_de_file_partner_id, event.chef_de_file_uai)


@consumer.handles(ChefDeFileDesignated)
async def chef_de_file_designated_handler(event: ChefDeFileDesignated, ctx: HandlerContext
                                          ) -> None:
    await service.designate_chef_de_file(ctx.uow, event.cite_id, event.partner_id, event.uai)


@consumer.handles(PartnerJoinedAlliance)
async def partner_joined_handler(event: PartnerJoinedAlliance, ctx: HandlerContext) -> None:
    await service.member_changed(ctx.uow, event.cite_id, event.partner_id,
                                 event.partner_kind.value, current=True)


@consumer.handles(PartnerLeftAlliance)
async def partner_left_handler(event: PartnerLeftAlliance, ctx: HandlerContext) -> None:
    await service.member_changed(ctx.uow, event.cite_id, event.partner_id, None,
                                 current=False)


@consumer.handles(AllianceClosed)
async def alliance_closed_handler(event: AllianceClosed, ctx: HandlerContext) -> None:
    await service.close_alliance(ctx.uow, event.cite_id)


@consumer.handles(ProjectReviewSubmitted)
async def review_submitted_handler(event: ProjectReviewSubmitted, ctx: HandlerContext) -> None:
    await service.review_submitted(ctx.uow, event)
