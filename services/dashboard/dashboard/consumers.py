"""What the dashboard does with every service's events: write them into its projection.

It reads like any outside team's consumer (its fields are declared in ``consumes.json``):
labelling's candidatures, labels and revues de projet, partners' alliances, funding's
envelopes and money, notifications' outcomes. Each handler runs in the consuming
transaction (``ctx.uow``), so a redelivered event changes nothing; an event the projection
cannot place goes to ``dashboard.dlq`` with the reason. What a programme's history is
mostly made of — labels, dotations, notification outcomes — is applied a run at a time
(``handles_many``: one or two statements for a run).

Each handler is one call to a use case of ``service.py``; where the event's class selects
a value (a candidature's or a cité's status, a movement of money), a module-level map says
which and one handler takes every class of the map (``handles(*CITE_STATUS)``: the keys
are typed as one union, the handler's parameter).
"""

from __future__ import annotations

from typing import Final

from cites_contracts import Envelope
from cites_contracts.events.funding import (
    AllocationRefused,
    AllocationRevised,
    BudgetYearClosed,
    CoFinancingDeclared,
    CoFinancingRealised,
    CommitmentCancelled,
    CreditsDelegated,
    CreditsVoted,
    EnvelopeAmended,
    EnvelopeOpened,
    FondsDeLaCiteGranted,
    FondsUsed,
    FundsAllocated,
    FundsCommitted,
    FundsFrozen,
    FundsReleased,
    FundsUnfrozen,
    PastSpendingImported,
    PaymentMade,
    RecoveryOrdered,
    RecoveryReceived,
)
from cites_contracts.events.labelling import (
    CandidatureRejected,
    CandidatureReviewStarted,
    CandidatureSubmitted,
    CandidatureWithdrawn,
    LabelExpired,
    LabelReinstated,
    LabelRenewed,
    LabelSuspended,
    LabelWithdrawn,
    PerimeterExtended,
    ProjectReviewOpened,
    ProjectReviewOverdue,
    ProjectReviewSubmitted,
    TerritoryLabelled,
)
from cites_contracts.events.notifications import NotificationFailed, NotificationSent
from cites_contracts.events.partners import (
    AllianceClosed,
    AllianceOpened,
    ChefDeFileDesignated,
    PartnerJoinedAlliance,
    PartnerLeftAlliance,
)
from cites_runtime.consumer import BatchContext, EventConsumer, HandlerContext

from . import service
from .domain.programme import AllocationMove, CandidatureStatus, CiteStatus, Movement

__all__ = ["CANDIDATURE_STATUS", "CITE_STATUS", "MOVEMENT", "NOTIFICATION_OUTCOMES", "RECOVERY",
           "consumer"]

consumer = EventConsumer("dashboard")

CANDIDATURE_STATUS: Final[dict[type[service.CandidatureMove], CandidatureStatus]] = {
    CandidatureSubmitted: CandidatureStatus.SUBMITTED,
    CandidatureReviewStarted: CandidatureStatus.UNDER_REVIEW,
    CandidatureRejected: CandidatureStatus.REJECTED}
"""A candidature's event, and the status it tells."""

CITE_STATUS: Final[dict[type[service.LabelStatusChange], CiteStatus]] = {
    LabelSuspended: CiteStatus.SUSPENDED, LabelReinstated: CiteStatus.LABELLED,
    LabelWithdrawn: CiteStatus.WITHDRAWN, LabelExpired: CiteStatus.EXPIRED}
"""A label's change, and the status of its cité after it."""

MOVEMENT: Final[dict[type[AllocationMove], Movement]] = {
    FundsCommitted: Movement.COMMIT, CommitmentCancelled: Movement.CANCEL,
    PaymentMade: Movement.PAY, FundsFrozen: Movement.FREEZE,
    FundsUnfrozen: Movement.UNFREEZE, FundsReleased: Movement.RELEASE}
"""An event moving money of allocations, and the movement it is."""

RECOVERY: Final[dict[type[RecoveryOrdered | RecoveryReceived], Movement]] = {
    RecoveryOrdered: Movement.ORDER, RecoveryReceived: Movement.RECOVER}
"""An order to repay a subsidy or a receipt on one, and the movement it is."""

NOTIFICATION_OUTCOMES: Final[tuple[type[service.NotificationOutcome], ...]] = (
    NotificationSent, NotificationFailed)


# --- labelling ---------------------------------------------------------------------------

@consumer.handles(*CANDIDATURE_STATUS)
async def candidature_handler(event: service.CandidatureMove, ctx: HandlerContext) -> None:
    await service.candidature_seen(ctx.uow, event, CANDIDATURE_STATUS[type(event)])


@consumer.handles(CandidatureWithdrawn)
async def candidature_withdrawn_handler(event: CandidatureWithdrawn, ctx: HandlerContext
                                        ) -> None:
    await service.candidature_withdrawn(ctx.uow, event.candidature_id)


@consumer.handles_many(TerritoryLabelled)
async def territory_labelled_handler(labels: list[Envelope[TerritoryLabelled]],
                                     ctx: BatchContext) -> None:
    await service.cites_labelled(ctx.uow, [e.data for e in labels])


@consumer.handles(*CITE_STATUS)
async def label_status_handler(event: service.LabelStatusChange, ctx: HandlerContext
                               ) -> None:
    await service.cite_status(ctx.uow, event.cite_id, CITE_STATUS[type(event)])


@consumer.handles(LabelRenewed)
async def label_renewed_handler(event: LabelRenewed, ctx: HandlerContext) -> None:
    await service.label_renewed(ctx.uow, event)


@consumer.handles(PerimeterExtended)
async def perimeter_extended_handler(event: PerimeterExtended, ctx: HandlerContext) -> None:
    await service.perimeter_extended(ctx.uow, event)


@consumer.handles(ProjectReviewOpened, ProjectReviewSubmitted, ProjectReviewOverdue)
async def review_handler(event: service.ReviewEvent, ctx: HandlerContext) -> None:
    await service.review_seen(ctx.uow, event)


# --- partners ----------------------------------------------------------------------------

@consumer.handles(AllianceOpened)
async def alliance_opened_handler(event: AllianceOpened, ctx: HandlerContext) -> None:
    await service.alliance_opened(ctx.uow, event)


@consumer.handles(ChefDeFileDesignated)
async def chef_de_file_handler(event: ChefDeFileDesignated, ctx: HandlerContext) -> None:
    await service.chef_de_file_designated(ctx.uow, event)


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


@consumer.handles(CreditsVoted)
async def credits_voted_handler(event: CreditsVoted, ctx: HandlerContext) -> None:
    await service.credits_voted(ctx.uow, event)


@consumer.handles(CreditsDelegated)
async def credits_delegated_handler(event: CreditsDelegated, ctx: HandlerContext) -> None:
    await service.credits_delegated(ctx.uow, event)


@consumer.handles(BudgetYearClosed)
async def year_closed_handler(event: BudgetYearClosed, ctx: HandlerContext) -> None:
    await service.year_closed(ctx.uow, event)


@consumer.handles(AllocationRevised)
async def allocation_revised_handler(event: AllocationRevised, ctx: HandlerContext) -> None:
    await service.revised(ctx.uow, event)


@consumer.handles(AllocationRefused)
async def allocation_refused_handler(event: AllocationRefused, ctx: HandlerContext) -> None:
    await service.refused(ctx.uow, event)


@consumer.handles(FondsDeLaCiteGranted)
async def fonds_granted_handler(event: FondsDeLaCiteGranted, ctx: HandlerContext) -> None:
    await service.fonds_granted(ctx.uow, event)


@consumer.handles(CoFinancingDeclared)
async def cofinancing_declared_handler(event: CoFinancingDeclared, ctx: HandlerContext
                                       ) -> None:
    await service.cofinancing_declared(ctx.uow, event)


@consumer.handles(CoFinancingRealised)
async def cofinancing_realised_handler(event: CoFinancingRealised, ctx: HandlerContext
                                       ) -> None:
    await service.cofinancing_realised(ctx.uow, event)


@consumer.handles(FondsUsed)
async def fonds_used_handler(event: FondsUsed, ctx: HandlerContext) -> None:
    await service.fonds_used(ctx.uow, event)


@consumer.handles(*MOVEMENT)
async def allocation_moved_handler(event: AllocationMove, ctx: HandlerContext) -> None:
    await service.allocation_moved(ctx.uow, event, MOVEMENT[type(event)])


@consumer.handles(PastSpendingImported)
async def past_spending_handler(event: PastSpendingImported, ctx: HandlerContext) -> None:
    await service.past_spending_imported(ctx.uow, event)


@consumer.handles(*RECOVERY)
async def recovery_handler(event: RecoveryOrdered | RecoveryReceived, ctx: HandlerContext
                           ) -> None:
    await service.recovery_moved(ctx.uow, event, RECOVERY[type(event)])


# --- notifications -----------------------------------------------------------------------

@consumer.handles_many(*NOTIFICATION_OUTCOMES)
async def notification_outcomes_handler(
        outcomes: list[Envelope[service.NotificationOutcome]], ctx: BatchContext) -> None:
    """Runs of outcomes, sent and failed mixed (each notification once per run)."""
    await service.delivered(ctx.uow, [e.data for e in outcomes])
