"""Use cases: each event the dashboard reads, written into its projection.

``async def verb(uow, event)``: the consumer's unit of work owns the transaction (with the
inbox row), so an event applies once. Nothing is emitted: the dashboard only reads. An
event about something the projection never heard of, where the order of its topic
guarantees it should have (a commitment of an unknown allocation), is refused: a dead
letter says which, and ``dlq replay`` applies it once the cause is fixed.
"""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

from cites_contracts.events.funding import (
    AllocationRefused,
    AllocationRevised,
    BudgetYearClosed,
    CoFinancingDeclared,
    CoFinancingRealised,
    CreditsDelegated,
    CreditsVoted,
    EnvelopeAmended,
    EnvelopeOpened,
    FondsDeLaCiteGranted,
    FondsUsed,
    FundsAllocated,
    FundsCommitted,
    PastSpendingImported,
    PaymentMade,
    RecoveryOrdered,
    RecoveryReceived,
)
from cites_contracts.events.labelling import (
    CandidatureRejected,
    CandidatureReviewStarted,
    CandidatureSubmitted,
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
    Wave,
)
from cites_contracts.events.notifications import NotificationFailed, NotificationSent
from cites_contracts.events.partners import (
    AllianceOpened,
    ChefDeFileDesignated,
    PartnerJoinedAlliance,
)
from cites_runtime.errors import NotFound
from cites_runtime.uow import UnitOfWork, civil_date

from . import store
from .domain.programme import (
    AllocationMove,
    CandidatureStatus,
    CiteStatus,
    Movement,
    amounts_moved,
)

__all__ = [
    "CandidatureMove",
    "LabelStatusChange",
    "NotificationOutcome",
    "ReviewEvent",
    "alliance_closed",
    "alliance_opened",
    "allocated",
    "allocation_moved",
    "candidature_seen",
    "candidature_withdrawn",
    "chef_de_file_designated",
    "cite_status",
    "cites_labelled",
    "delivered",
    "envelope_amended",
    "envelope_opened",
    "fonds_granted",
    "fonds_used",
    "label_renewed",
    "partner_joined",
    "partner_left",
    "past_spending_imported",
    "perimeter_extended",
    "recovery_moved",
    "refused",
    "review_seen",
]

CandidatureMove = CandidatureSubmitted | CandidatureReviewStarted | CandidatureRejected
"""The candidature events that name its wave (a withdrawal does not)."""
LabelStatusChange = LabelSuspended | LabelReinstated | LabelWithdrawn | LabelExpired
NotificationOutcome = NotificationSent | NotificationFailed
ReviewEvent = ProjectReviewOpened | ProjectReviewSubmitted | ProjectReviewOverdue
"""The revue de projet's events the dashboard counts (each names its cité, year, deadline)."""


# --- labelling ---------------------------------------------------------------------------

def _waves(waves: Sequence[Wave]) -> list[store.WaveRow]:
    return [(w.id, w.year, w.title, w.test) for w in waves]


async def candidature_seen(uow: UnitOfWork, event: CandidatureMove, status: CandidatureStatus
                          ) -> None:
    """The candidature is at ``status`` (unless already further on); a submission tells its
    département. Its wave is kept as the event names it (title, test flag)."""
    departement = event.departement if isinstance(event, CandidatureSubmitted) else None
    await store.save_waves(uow.conn, _waves([event.wave]))
    await store.candidature_seen(uow.conn, event.candidature_id, event.wave.id, departement,
                                 status)


async def candidature_withdrawn(uow: UnitOfWork, candidature_id: UUID) -> None:
    await store.candidature_withdrawn(uow.conn, candidature_id)


async def cites_labelled(uow: UnitOfWork, labels: Sequence[TerritoryLabelled]) -> None:
    """New cités, with what the open data publishes of them, and their waves (a run of
    labels: three statements for them all)."""
    await store.save_waves(uow.conn, _waves([e.wave for e in labels]))
    await store.add_cites(uow.conn, [
        (e.cite_id, e.name, e.wave.id, e.wave.year, e.departement, e.labelled_at,
         e.decided_on or civil_date(e.labelled_at, uow.zone), e.perimeter.model_dump_json(),
         e.lead_college_uai, e.label_period.model_dump_json())
        for e in labels])
    await store.candidatures_labelled(uow.conn, [(e.candidature_id, e.wave.id, e.departement)
                                                 for e in labels])


async def cite_status(uow: UnitOfWork, cite_id: str, status: CiteStatus) -> None:
    """The cité's label is now ``status``; a cité the dashboard never heard of (its
    TerritoryLabelled never came, or was dead-lettered) is a dead letter."""
    if not await store.set_cite_status(uow.conn, cite_id, status.value):
        raise NotFound.of("cité", cite_id)


async def label_renewed(uow: UnitOfWork, event: LabelRenewed) -> None:
    """The cité's new period, after the others, and its new perimeter when the renewal
    gives one (an unknown cité is a dead letter)."""
    if not await store.add_period(uow.conn, event.cite_id,
                                  event.label_period.model_dump(mode="json")):
        raise NotFound.of("cité", event.cite_id)
    if event.perimeter is not None:
        await store.set_perimeter(uow.conn, event.cite_id,
                                  event.perimeter.model_dump(mode="json"))


async def perimeter_extended(uow: UnitOfWork, event: PerimeterExtended) -> None:
    """The cité's whole perimeter after the extension (an unknown cité is a dead letter)."""
    if not await store.set_perimeter(uow.conn, event.cite_id,
                                     event.perimeter.model_dump(mode="json")):
        raise NotFound.of("cité", event.cite_id)


async def review_seen(uow: UnitOfWork, event: ReviewEvent) -> None:
    """The review as the event tells it: opened, submitted (late or not) or noted overdue.
    Each event names the review's cité, year and deadline, so a review whose opening never
    came (or was dead-lettered) is counted all the same; its submission and its overdue
    note stay whatever comes after."""
    review = (event.review_id, event.cite_id, event.departement, event.year, event.due_on)
    match event:
        case ProjectReviewSubmitted():
            await store.save_review(uow.conn, review, submitted_on=event.submitted_on,
                                    late=event.late, report=event.model_dump(
                                        mode="json", include={"money", "commune_contribution",
                                                              "actions", "indicators"}))
        case ProjectReviewOverdue():
            await store.save_review(uow.conn, review, overdue_noted_at=event.noted_at)
        case ProjectReviewOpened():
            await store.save_review(uow.conn, review)


# --- partners ----------------------------------------------------------------------------

async def alliance_opened(uow: UnitOfWork, event: AllianceOpened) -> None:
    await store.open_alliance(uow.conn, event.cite_id, event.chef_de_file_partner_id,
                              event.chef_de_file_uai)


async def chef_de_file_designated(uow: UnitOfWork, event: ChefDeFileDesignated) -> None:
    await store.set_chef_de_file(uow.conn, event.cite_id, event.uai)


async def partner_joined(uow: UnitOfWork, event: PartnerJoinedAlliance) -> None:
    await store.add_member(uow.conn, event.cite_id, event.partner_id, event.partner_kind.value)


async def partner_left(uow: UnitOfWork, cite_id: str, partner_id: UUID) -> None:
    await store.remove_member(uow.conn, cite_id, partner_id)


async def alliance_closed(uow: UnitOfWork, cite_id: str) -> None:
    await store.close_alliance(uow.conn, cite_id)


# --- funding -----------------------------------------------------------------------------

async def envelope_opened(uow: UnitOfWork, event: EnvelopeOpened) -> None:
    await store.save_envelope(uow.conn, event.envelope_id, event.name, event.programme.value,
                              event.budget_years, event.wave_ids, event.amount)


async def envelope_amended(uow: UnitOfWork, event: EnvelopeAmended) -> None:
    """The envelope's new amount; one the dashboard never heard of (its EnvelopeOpened
    never came, or was dead-lettered) is a dead letter."""
    if not await store.amend_envelope(uow.conn, event.envelope_id, event.amount):
        raise NotFound.of("envelope", event.envelope_id)


async def allocated(uow: UnitOfWork, allocations: Sequence[FundsAllocated]) -> None:
    """Dotations (a run of them: two statements)."""
    await store.add_allocations(uow.conn, [(e.allocation_id, e.cite_id, e.programme.value,
                                            e.year) for e in allocations])
    await store.record_movements(uow.conn, [(e.cite_id, e.programme.value, e.year,
                                             Movement.ALLOCATE.value, e.amount)
                                            for e in allocations])


async def revised(uow: UnitOfWork, event: AllocationRevised) -> None:
    """An allocation revised: the difference is an allocation movement of its programme
    and year (negative when lowered), so every sum of allocations counts it."""
    await store.record_movements(uow.conn, [(event.cite_id, event.programme.value, event.year,
                                             Movement.ALLOCATE.value,
                                             event.amount - event.previous_amount)])


async def credits_voted(uow: UnitOfWork, event: CreditsVoted) -> None:
    await store.save_credits(uow.conn, event.programme.value, event.year, event.ae, event.cp)


async def credits_delegated(uow: UnitOfWork, event: CreditsDelegated) -> None:
    await store.save_delegation(uow.conn, event.programme.value, event.year,
                                event.departement, event.total_ae, event.total_cp)


async def year_closed(uow: UnitOfWork, event: BudgetYearClosed) -> None:
    await store.close_year(uow.conn, event.programme.value, event.year, event.lapsed_ae,
                           event.lapsed_cp, event.restes_a_payer)


async def refused(uow: UnitOfWork, event: AllocationRefused) -> None:
    programme = event.programme.value if event.programme else "—"
    await store.record_movements(uow.conn, [(event.cite_id, programme, event.year,
                                             Movement.REFUSED.value, event.requested)])


async def fonds_granted(uow: UnitOfWork, event: FondsDeLaCiteGranted) -> None:
    await store.record_movements(uow.conn, [
        (event.cite_id, c.programme.value, event.year, Movement.GRANT.value, c.amount)
        for c in event.contributions])


async def cofinancing_declared(uow: UnitOfWork, event: CoFinancingDeclared) -> None:
    """A local authority's planned co-financing of a cité's year."""
    await store.cofinancing_declared(uow.conn, event.cofinancing_id, event.cite_id,
                                     event.year, event.amount)


async def cofinancing_realised(uow: UnitOfWork, event: CoFinancingRealised) -> None:
    """What it gave; a co-financing never declared (its declaration comes first on its
    topic) is a dead letter."""
    if not await store.cofinancing_realised(uow.conn, event.cofinancing_id, event.actual):
        raise NotFound.of(f"cité {event.cite_id}'s co-financing", event.cofinancing_id)


async def fonds_used(uow: UnitOfWork, event: FondsUsed) -> None:
    await store.record_movements(uow.conn, [
        (event.cite_id, c.programme.value, event.year, Movement.USE.value, c.amount)
        for c in event.drawn])


async def allocation_moved(uow: UnitOfWork, event: AllocationMove, movement: Movement
                           ) -> None:
    """Money of allocations moved (committed, cancelled, paid, frozen, unfrozen, released):
    each amount counted in its allocation's programme and year. An allocation the
    dashboard never heard of (its FundsAllocated never came, or was dead-lettered) is a
    dead letter."""
    rows = await store.movements_of_allocation(
        uow.conn, [(a, movement.value, amount) for a, amount in amounts_moved(event)])
    if isinstance(rows, UUID):
        raise NotFound.of(f"cité {event.cite_id}'s allocation", rows)
    if isinstance(event, FundsCommitted):  # what its recovery orders will name
        await store.remember_commitment(uow.conn, event.commitment_id, event.allocation_id)
    if isinstance(event, PaymentMade):  # CP of the year it was made, the programme's time
        rows = [*rows, *((cite, programme, civil_date(event.paid_at, uow.zone).year,
                          Movement.SPEND.value, amount)
                         for cite, programme, _, _, amount in rows)]
    await store.record_movements(uow.conn, rows)


async def past_spending_imported(uow: UnitOfWork, event: PastSpendingImported) -> None:
    """What an allocation of a year before the platform committed and paid, taken over
    from the programme's records: committed and paid in its programme and year, as
    funding's ledger counts it, and the payments' CP spent that same year (the money was
    spent that budget year). What it committed from the allocation's frozen part is
    unfrozen first, as funding's ledger does, so the frozen figure agrees. An allocation
    the dashboard never heard of is a dead letter."""
    moves = [(event.allocation_id, Movement.COMMIT.value, event.committed),
             (event.allocation_id, Movement.PAY.value, event.paid),
             (event.allocation_id, Movement.SPEND.value, event.paid)]
    if event.from_frozen:
        moves.append((event.allocation_id, Movement.UNFREEZE.value, event.from_frozen))
    rows = await store.movements_of_allocation(uow.conn, moves)
    if isinstance(rows, UUID):
        raise NotFound.of(f"cité {event.cite_id}'s allocation", rows)
    await store.record_movements(uow.conn, rows)


async def recovery_moved(uow: UnitOfWork, event: RecoveryOrdered | RecoveryReceived,
                         movement: Movement) -> None:
    """An order to repay, or money repaid on one: counted in the programme and year of the
    commitment's allocation, as funding's ledger counts it; a commitment the dashboard
    never heard of is a dead letter."""
    allocation = await store.allocation_of_commitment(uow.conn, event.commitment_id)
    if allocation is None:
        raise NotFound.of(f"cité {event.cite_id}'s commitment", event.commitment_id)
    rows = await store.movements_of_allocation(uow.conn,
                                               [(allocation, movement.value, event.amount)])
    assert not isinstance(rows, UUID)  # its commitment's allocation was known
    await store.record_movements(uow.conn, rows)


# --- notifications -----------------------------------------------------------------------

async def delivered(uow: UnitOfWork, outcomes: Sequence[NotificationOutcome]) -> None:
    """Notification outcomes (a run of them: one statement)."""
    await store.deliveries(uow.conn, [
        (e.notification_id, "sent", e.template, e.sent_at) if isinstance(e, NotificationSent)
        else (e.notification_id, "failed", e.template, e.failed_at) for e in outcomes])
