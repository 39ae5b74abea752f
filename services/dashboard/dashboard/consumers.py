"""What the dashboard does with every service's events: write them into its projection.

It reads like any outside team's consumer (its fields are declared in ``consumes.json``):
labelling's candidatures and labels, partners' alliances, funding's envelopes and money,
notifications' outcomes. Each handler runs in the consuming transaction (``ctx.uow``), so
a redelivered event changes nothing; an event the projection cannot place goes to
``dashboard.dlq`` with the reason. What a programme's history is mostly made of — labels,
dotations, notification outcomes — is applied a run at a time (``handles_many``: one or
two statements for a run).
"""

from __future__ import annotations

from cites_contracts import Envelope
from cites_contracts.events.funding import (
    AllocationRefused,
    CommitmentCancelled,
    EnvelopeAmended,
    EnvelopeOpened,
    FondsDeLaCiteGranted,
    FundsAllocated,
    FundsCommitted,
    FundsFrozen,
    FundsReleased,
    FundsUnfrozen,
    PaymentMade,
)
from cites_contracts.events.labelling import (
    CandidatureRejected,
    CandidatureReviewStarted,
    CandidatureSubmitted,
    CandidatureWithdrawn,
    LabelExpired,
    LabelReinstated,
    LabelSuspended,
    LabelWithdrawn,
    TerritoryLabelled,
)
from cites_contracts.events.notifications import NotificationFailed, NotificationSent
from cites_contracts.events.partners import (
    AllianceClosed,
    AllianceOpened,
    PartnerJoinedAlliance,
    PartnerLeftAlliance,
)
from cites_runtime.consumer import BatchContext, EventConsumer, HandlerContext

from . import service
from .domain.programme import CiteStatus

__all__ = ["consumer"]

consumer = EventConsumer("dashboard")


# --- labelling ---------------------------------------------------------------------------

@consumer.handles(CandidatureSubmitted)
async def candidature_submitted_handler(event: CandidatureSubmitted, ctx: HandlerContext
                                        ) -> None:
    await service.candidature(ctx.uow, event)


@consumer.handles(CandidatureReviewStarted)
async def candidature_review_started_handler(event: CandidatureReviewStarted,
                                             ctx: HandlerContext) -> None:
    await service.candidature(ctx.uow, event)


@consumer.handles(CandidatureRejected)
async def candidature_rejected_handler(event: CandidatureRejected, ctx: HandlerContext
                                       ) -> None:
    await service.candidature(ctx.uow, event)


@consumer.handles(CandidatureWithdrawn)
async def candidature_withdrawn_handler(event: CandidatureWithdrawn, ctx: HandlerContext
                                        ) -> None:
    await service.candidature_withdrawn(ctx.uow, event.candidature_id)


@consumer.handles_many(TerritoryLabelled)
async def territory_labelled_handler(labels: list[Envelope[TerritoryLabelled]],
                                     ctx: BatchContext) -> None:
    await service.cites_labelled(ctx.uow, [e.data for e in labels])


@consumer.handles(LabelSuspended)
async def label_suspended_handler(event: LabelSuspended, ctx: HandlerContext) -> None:
    await service.cite_status(ctx.uow, event.cite_id, CiteStatus.SUSPENDED)


@consumer.handles(LabelReinstated)
async def label_reinstated_handler(event: LabelReinstated, ctx: HandlerContext) -> None:
    await service.cite_status(ctx.uow, event.cite_id, CiteStatus.LABELLED)


@consumer.handles(LabelWithdrawn)
async def label_withdrawn_handler(event: LabelWithdrawn, ctx: HandlerContext) -> None:
    await service.cite_status(ctx.uow, event.cite_id, CiteStatus.WITHDRAWN)


@consumer.handles(LabelExpired)
async def label_expired_handler(event: LabelExpired, ctx: HandlerContext) -> None:
    await service.cite_status(ctx.uow, event.cite_id, CiteStatus.EXPIRED)


# --- partners ----------------------------------------------------------------------------

@consumer.handles(AllianceOpened)
async def alliance_opened_handler(event: AllianceOpened, ctx: HandlerContext) -> None:
    await service.alliance_opened(ctx.uow, event)


@consumer.handles(PartnerJoinedAlliance)
async def partner_joined_handler(event: PartnerJoinedAlliance, ctx: HandlerContext) -> None:
    await service.partner_joined(ctx.uow, event)


@consumer.handles(PartnerLeftAlliance)
async def partner_left_handler(event: PartnerLeftAlliance, ctx: HandlerContext) -> None:
    await service.partner_left(ctx.uow, event.cite_id, event.partner_id)


@consumer.handles(AllianceClosed)
async def alliance_closed_handler(event: AllianceClosed, ctx: HandlerContext) -> None:
    await service.alliance_closed(ctx.uow, event.cite_id)


# --- funding -----------------------------------------------------------------------------

@consumer.handles(EnvelopeOpened)
async def envelope_opened_handler(event: EnvelopeOpened, ctx: HandlerContext) -> None:
    await service.envelope_opened(ctx.uow, event)


@consumer.handles(EnvelopeAmended)
async def envelope_amended_handler(event: EnvelopeAmended, ctx: HandlerContext) -> None:
    await service.envelope_amended(ctx.uow, event)


@consumer.handles_many(FundsAllocated)
async def funds_allocated_handler(allocations: list[Envelope[FundsAllocated]],
                                  ctx: BatchContext) -> None:
    await service.allocated(ctx.uow, [e.data for e in allocations])


@consumer.handles(AllocationRefused)
async def allocation_refused_handler(event: AllocationRefused, ctx: HandlerContext) -> None:
    await service.refused(ctx.uow, event)


@consumer.handles(FondsDeLaCiteGranted)
async def fonds_granted_handler(event: FondsDeLaCiteGranted, ctx: HandlerContext) -> None:
    await service.fonds_granted(ctx.uow, event)


@consumer.handles(FundsCommitted)
async def funds_committed_handler(event: FundsCommitted, ctx: HandlerContext) -> None:
    await service.allocation_moved(ctx.uow, event.cite_id, service.moves_of(event))


@consumer.handles(CommitmentCancelled)
async def commitment_cancelled_handler(event: CommitmentCancelled, ctx: HandlerContext
                                       ) -> None:
    await service.allocation_moved(ctx.uow, event.cite_id, service.moves_of(event))


@consumer.handles(PaymentMade)
async def payment_made_handler(event: PaymentMade, ctx: HandlerContext) -> None:
    await service.allocation_moved(ctx.uow, event.cite_id, service.moves_of(event))


@consumer.handles(FundsFrozen)
async def funds_frozen_handler(event: FundsFrozen, ctx: HandlerContext) -> None:
    await service.allocation_moved(ctx.uow, event.cite_id, service.moves_of(event))


@consumer.handles(FundsUnfrozen)
async def funds_unfrozen_handler(event: FundsUnfrozen, ctx: HandlerContext) -> None:
    await service.allocation_moved(ctx.uow, event.cite_id, service.moves_of(event))


@consumer.handles(FundsReleased)
async def funds_released_handler(event: FundsReleased, ctx: HandlerContext) -> None:
    await service.allocation_moved(ctx.uow, event.cite_id, service.moves_of(event))


# --- notifications -----------------------------------------------------------------------

@consumer.handles_many(NotificationSent)
async def notification_sent_handler(outcomes: list[Envelope[NotificationSent]],
                                    ctx: BatchContext) -> None:
    await service.delivered(ctx.uow, [e.data for e in outcomes])


@consumer.handles_many(NotificationFailed)
async def notification_failed_handler(outcomes: list[Envelope[NotificationFailed]],
                                      ctx: BatchContext) -> None:
    await service.delivered(ctx.uow, [e.data for e in outcomes])
