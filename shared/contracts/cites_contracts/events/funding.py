"""Events of the ``funding`` service: envelopes and each cité's money.

Money flows envelope → allocation (per cité and year) → commitments → payments; every
amount is integer euro cents. All money events of one cité share ``funding.allocations``
keyed by ``cite_id``: refusals have no allocation id, freezes span several allocations,
and a consumer checking "payments ≤ commitments ≤ allocation" needs them in one order.
"""

from __future__ import annotations

from datetime import date
from uuid import UUID

from pydantic import Field

from ..envelope import Event, event
from ..topics import FUNDING_ALLOCATIONS, FUNDING_CREDITS, FUNDING_ENVELOPES
from ..types import (
    ActorRole,
    ActReference,
    AllocationRefusalReason,
    BudgetProgramme,
    Cents,
    CiteId,
    CiteReference,
    ContractModel,
    Departement,
    DossierNumber,
    DotationRuleKind,
    FreezeReason,
    LegalActKind,
    Motive,
    Name,
    ProgrammeYear,
    Uai,
    UtcDateTime,
    WaveId,
)

__all__ = [
    "AllocationRefused",
    "AllocationRevised",
    "BudgetYearClosed",
    "CoFinancingDeclared",
    "CoFinancingRealised",
    "CommitmentCancelled",
    "CreditsDelegated",
    "CreditsVoted",
    "DelegationClosed",
    "EnvelopeAmended",
    "EnvelopeOpened",
    "FondsDeLaCiteGranted",
    "FondsUsed",
    "FrozenAllocation",
    "FundsAllocated",
    "FundsCommitted",
    "FundsFrozen",
    "FundsReleased",
    "FundsUnfrozen",
    "LegalAct",
    "PastSpendingImported",
    "PaymentMade",
    "ProgrammeAmount",
    "RecoveryOrdered",
    "RecoveryReceived",
    "ReleasedAllocation",
    "SubsidyJustified",
]


class ProgrammeAmount(ContractModel):
    """An amount drawn from one budget programme."""

    programme: BudgetProgramme
    amount: Cents


class FrozenAllocation(ContractModel):
    """The uncommitted remainder of one allocation, now frozen."""

    allocation_id: UUID
    amount: Cents


class ReleasedAllocation(ContractModel):
    """The frozen remainder of one allocation, given back to its envelope."""

    allocation_id: UUID
    envelope_id: UUID
    amount: Cents


class LegalAct(ContractModel):
    """The act that grants a subsidy: its kind, its reference and the day it was signed."""

    kind: LegalActKind
    reference: ActReference
    signed_on: date


# --- funding.envelopes --------------------------------------------------------------------


@event(
    "funding.EnvelopeOpened",
    topic=FUNDING_ENVELOPES,
    key="envelope_id",
    emitted_when="The national coordination opens a budget envelope for one or more waves.",
)
class EnvelopeOpened(Event):
    """A budget envelope was opened; dotations of its waves' cités are drawn from it.

    Producer: funding. Topic: ``funding.envelopes``. Key: ``envelope_id``.
    Emitted when an envelope is created with its amount. Allocations never exceed it.
    """

    envelope_id: UUID
    name: Name
    programme: BudgetProgramme
    budget_years: tuple[ProgrammeYear, ...] = Field(min_length=1)
    wave_ids: tuple[WaveId, ...] = Field(min_length=1)
    amount: Cents
    opened_at: UtcDateTime


@event(
    "funding.EnvelopeAmended",
    topic=FUNDING_ENVELOPES,
    key="envelope_id",
    emitted_when="The national coordination changes an envelope's amount (a budget "
    "amendment).",
)
class EnvelopeAmended(Event):
    """An envelope's amount changed; never below what it has already allocated.

    Producer: funding. Topic: ``funding.envelopes``. Key: ``envelope_id``.
    Emitted when the national coordination raises or lowers an envelope (e.g. a
    supplementary budget). ``amount`` is the new total.
    """

    envelope_id: UUID
    previous_amount: Cents
    amount: Cents
    motive: Motive
    amended_at: UtcDateTime


# --- funding.credits ----------------------------------------------------------------------


@event(
    "funding.CreditsVoted",
    topic=FUNDING_CREDITS,
    key="programme",
    emitted_when="The national coordination records a programme's credits for a budget "
    "year, or their amendment.",
)
class CreditsVoted(Event):
    """A programme's credits for a budget year: ``ae`` (autorisations d'engagement, what
    may be committed that year) and ``cp`` (crédits de paiement, what may be paid), as
    voted or amended (new totals; never below what was delegated).

    Producer: funding. Topic: ``funding.credits``. Key: ``programme``.
    """

    programme: BudgetProgramme
    year: ProgrammeYear
    ae: Cents
    cp: Cents
    previous_ae: Cents = Field(description="0 when the year's credits are first recorded")
    previous_cp: Cents
    voted_at: UtcDateTime


@event(
    "funding.CreditsDelegated",
    topic=FUNDING_CREDITS,
    key="programme",
    emitted_when="The national coordination delegates credits of a programme's year to a "
    "département's préfet.",
)
class CreditsDelegated(Event):
    """Credits of a programme's year delegated to the préfet of a département, who
    commits (AE) and pays (CP) from them; never more than is left undelegated.

    Producer: funding. Topic: ``funding.credits``. Key: ``programme``.
    """

    programme: BudgetProgramme
    year: ProgrammeYear
    departement: Departement
    ae: Cents = Field(description="AE delegated by this act")
    cp: Cents = Field(description="CP delegated by this act")
    total_ae: Cents = Field(description="All AE delegated to the département that year")
    total_cp: Cents
    delegated_at: UtcDateTime


class DelegationClosed(ContractModel):
    """One département's credits at the close of a year."""

    departement: Departement
    lapsed_ae: Cents
    lapsed_cp: Cents


@event(
    "funding.BudgetYearClosed",
    topic=FUNDING_CREDITS,
    key="programme",
    emitted_when="The national coordination closes a programme's budget year.",
)
class BudgetYearClosed(Event):
    """A programme's budget year is closed: the AE not committed and the CP not paid
    lapse (undelegated ones too); commitments not fully paid carry their unpaid part over
    as restes à payer, paid from later years' CP. Nothing more is committed on its AE nor
    paid from its CP.

    Producer: funding. Topic: ``funding.credits``. Key: ``programme``.
    """

    programme: BudgetProgramme
    year: ProgrammeYear
    lapsed_ae: Cents = Field(description="AE of the year never committed, delegated or not")
    lapsed_cp: Cents = Field(description="CP of the year never paid, delegated or not")
    delegations: tuple[DelegationClosed, ...] = ()
    restes_a_payer: Cents = Field(description="What commitments of the year's allocations "
                                  "have not paid, carried over")
    open_commitments: int = Field(ge=0)
    closed_at: UtcDateTime


# --- funding.allocations ------------------------------------------------------------------


@event(
    "funding.FundsAllocated",
    topic=FUNDING_ALLOCATIONS,
    key="cite_id",
    emitted_when="A cité's yearly dotation is allocated from its wave's envelope.",
)
class FundsAllocated(Event):
    """A cité received its dotation for a year.

    Producer: funding. Topic: ``funding.allocations``. Key: ``cite_id``.
    Emitted when funding allocates a dotation (on ``labelling.TerritoryLabelled`` or
    ``LabelRenewed``, or by an operator). Notifications tells the alliance.
    """

    cite_id: CiteId
    allocation_id: UUID
    envelope_id: UUID
    programme: BudgetProgramme
    year: ProgrammeYear
    amount: Cents
    envelope_remaining: Cents = Field(description="What is left in the envelope afterwards")
    allocated_at: UtcDateTime
    dotation_rule: DotationRuleKind | None = Field(
        default=None, description="The envelope's rule that produced the amount (manual: "
        "allocated by the national coordination); absent in events before it was recorded")
    dotation_basis: Motive | None = Field(
        default=None, description="The rule applied, in words, with its inputs (e.g. the "
        "requested contribution and the bounds)")


@event(
    "funding.AllocationRefused",
    topic=FUNDING_ALLOCATIONS,
    key="cite_id",
    emitted_when="A dotation cannot be allocated (envelope exhausted, none open…).",
)
class AllocationRefused(Event):
    """A cité's dotation could not be allocated.

    Producer: funding. Topic: ``funding.allocations``. Key: ``cite_id``.
    Emitted instead of ``FundsAllocated`` when the envelope lacks the money, no envelope
    is open for the wave, or the label is not active. Nothing was allocated.
    """

    cite_id: CiteId
    envelope_id: UUID | None = None
    year: ProgrammeYear
    requested: Cents
    available: Cents
    reason: AllocationRefusalReason
    refused_at: UtcDateTime
    programme: BudgetProgramme | None = Field(
        default=None, description="The programme whose money was refused (absent in "
        "events before it was recorded)")


@event(
    "funding.AllocationRevised",
    topic=FUNDING_ALLOCATIONS,
    key="cite_id",
    emitted_when="The national coordination revises a cité's allocation (its dotation of a "
    "year, or one made by hand).",
)
class AllocationRevised(Event):
    """An allocation's amount was revised by the national coordination: raised (the
    difference taken from its envelope) or lowered (the difference, never more than it has
    not committed, given back to its envelope).

    Producer: funding. Topic: ``funding.allocations``. Key: ``cite_id``.
    """

    cite_id: CiteId
    allocation_id: UUID
    envelope_id: UUID
    programme: BudgetProgramme
    year: ProgrammeYear
    previous_amount: Cents
    amount: Cents
    envelope_remaining: Cents
    motive: Motive
    revised_at: UtcDateTime
    review_id: UUID | None = Field(
        default=None, description="The cité's revue de projet the revision cites (one it "
        "submitted to the coordination: ``labelling.ProjectReviewSubmitted``)")


@event(
    "funding.FondsDeLaCiteGranted",
    topic=FUNDING_ALLOCATIONS,
    key="cite_id",
    emitted_when="The yearly fonds de la cité is placed with the collège chef de file.",
)
class FondsDeLaCiteGranted(Event):
    """The fonds de la cité for a year was granted to the collège chef de file.

    Producer: funding. Topic: ``funding.allocations``. Key: ``cite_id``.
    Emitted yearly for each active cité (first on ``labelling.TerritoryLabelled``).
    ``contributions`` gives each ministry's share (P147 city, P230 education social
    fund); the grant is their sum. Notifications tells the lead collège.
    """

    cite_id: CiteId
    grant_id: UUID
    year: ProgrammeYear
    lead_college_uai: Uai
    contributions: tuple[ProgrammeAmount, ...] = Field(min_length=1)
    granted_at: UtcDateTime
    chef_de_file_partner_id: UUID | None = Field(
        default=None, description="The collège chef de file's partner id, when partners "
        "had designated it (the grant follows the chef de file: a change moves the next "
        "year's fonds)")

    @property
    def amount(self) -> int:
        """The grant, in cents: the sum of the contributions."""
        return sum(c.amount for c in self.contributions)


@event(
    "funding.FondsUsed",
    topic=FUNDING_ALLOCATIONS,
    key="cite_id",
    emitted_when="The collège chef de file records what it paid from a year's fonds de la cité.",
)
class FondsUsed(Event):
    """The collège chef de file (or the préfecture, or the national coordination, on its
    behalf) recorded a use of a year's fonds de la cité: what it paid, for what, to whom.

    Producer: funding. Topic: ``funding.allocations``. Key: ``cite_id``.
    The uses of a grant never exceed it: ``left`` is what the grant has not been used for
    after this one. ``drawn`` splits the amount between the programmes that contributed,
    in proportion to their contributions (each never beyond its own).
    """

    cite_id: CiteId
    use_id: UUID
    grant_id: UUID = Field(description="The fonds de la cité grant of the year")
    year: ProgrammeYear
    chef_de_file_partner_id: UUID | None = Field(
        default=None, description="The collège the grant was placed with (null while "
        "partners had not designated it)")
    amount: Cents
    drawn: tuple[ProgrammeAmount, ...] = Field(
        min_length=1, description="The amount, per programme of the grant's contributions")
    left: Cents = Field(description="What the year's grant has left once this is used")
    purpose: Motive = Field(description="What the money paid for")
    payee: Name | None = Field(default=None, description="Who was paid (an organisation, "
                               "a supplier: never a person's name)")
    paid_on: date = Field(description="The day it was paid: in the grant's year, not after "
                          "the day it was recorded")
    recorded_by: ActorRole
    recorded_at: UtcDateTime


@event(
    "funding.FundsCommitted",
    topic=FUNDING_ALLOCATIONS,
    key="cite_id",
    emitted_when="Part of an allocation is committed to an action and its operator.",
)
class FundsCommitted(Event):
    """Money of an allocation was committed to an action run by an operator.

    Producer: funding. Topic: ``funding.allocations``. Key: ``cite_id``.
    Emitted when a commitment is recorded (e.g. after a local call for projects).
    Commitments never exceed the allocation. Notifications tells the operator.
    """

    cite_id: CiteId
    commitment_id: UUID
    allocation_id: UUID
    operator_partner_id: UUID
    action_title: Name
    amount: Cents
    committed_at: UtcDateTime
    legal_act: LegalAct | None = Field(
        default=None, description="The convention or arrêté granting the subsidy; absent "
        "from commitments recorded before funding kept it")
    subsidy_request: DossierNumber | None = Field(
        default=None, description="The operator's subsidy request in Dauphin, if it filed one")
    justification_due: date | None = Field(
        default=None, description="The day the operator's report (compte rendu financier) "
        "is due; absent from commitments recorded before funding kept it")


@event(
    "funding.PaymentMade",
    topic=FUNDING_ALLOCATIONS,
    key="cite_id",
    emitted_when="A payment is made against a commitment.",
)
class PaymentMade(Event):
    """A payment was made against a commitment.

    Producer: funding. Topic: ``funding.allocations``. Key: ``cite_id``.
    Emitted when a payment is recorded. Payments never exceed the commitment.
    Notifications tells the payee.
    """

    cite_id: CiteId
    payment_id: UUID
    commitment_id: UUID
    allocation_id: UUID
    payee_partner_id: UUID
    amount: Cents
    paid_at: UtcDateTime


@event(
    "funding.PastSpendingImported",
    topic=FUNDING_ALLOCATIONS,
    key="cite_id",
    emitted_when="An operator takes over what a dotation of a budget year before the "
    "platform committed and paid, from the programme's records.",
)
class PastSpendingImported(Event):
    """What an allocation of a budget year the platform did not keep committed and paid,
    taken over from the programme's records (funding's ``POST /imports``, marked imported).

    Producer: funding. Topic: ``funding.allocations``. Key: ``cite_id``.
    The programme knows the years before the platform per cité and year, not per subsidy:
    one event per allocation, never two. ``committed`` leaves the allocation (its frozen
    part for ``from_frozen`` of it, when the label has ended since) and ``paid`` of it was
    paid; what was committed and not paid stays committed. No AE or CP moves: the platform
    keeps no credits for such a year. Consumers count both in the allocation's programme
    and year, as funding's ledger does.
    """

    cite_id: CiteId
    allocation_id: UUID
    programme: BudgetProgramme
    year: ProgrammeYear
    committed: Cents = Field(description="What the dotation committed that year")
    paid: Cents = Field(description="What was paid of it, never more than committed")
    from_frozen: Cents = Field(
        description="The part of ``committed`` taken from the allocation's frozen part "
        "(its label ended, or was suspended, since)")
    reference: CiteReference = Field(description="The programme's reference of the cité")
    recorded_at: UtcDateTime


@event(
    "funding.FundsFrozen",
    topic=FUNDING_ALLOCATIONS,
    key="cite_id",
    emitted_when="A cité's label is suspended, withdrawn or expires: uncommitted money freezes.",
)
class FundsFrozen(Event):
    """What a cité had not yet committed was frozen; commitments already made stand.

    Producer: funding. Topic: ``funding.allocations``. Key: ``cite_id``.
    Emitted in reaction to ``labelling.LabelSuspended``, ``LabelWithdrawn`` or
    ``LabelExpired``, even when nothing remains to freeze (``frozen`` then empty).
    """

    cite_id: CiteId
    reason: FreezeReason
    frozen: tuple[FrozenAllocation, ...] = ()
    frozen_at: UtcDateTime


@event(
    "funding.FundsUnfrozen",
    topic=FUNDING_ALLOCATIONS,
    key="cite_id",
    emitted_when="A suspended label is reinstated: the frozen money is available again.",
)
class FundsUnfrozen(Event):
    """What was frozen by a suspension is uncommitted money of its allocations again.

    Producer: funding. Topic: ``funding.allocations``. Key: ``cite_id``.
    Emitted in reaction to ``labelling.LabelReinstated``, even when nothing was frozen.
    """

    cite_id: CiteId
    unfrozen: tuple[FrozenAllocation, ...] = ()
    unfrozen_at: UtcDateTime


@event(
    "funding.FundsReleased",
    topic=FUNDING_ALLOCATIONS,
    key="cite_id",
    emitted_when="The national coordination gives an ended cité's frozen money back to "
    "its envelopes.",
)
class FundsReleased(Event):
    """The frozen remainder of a cité whose label was withdrawn or expired went back to
    the envelopes it came from, which may allocate it again.

    Producer: funding. Topic: ``funding.allocations``. Key: ``cite_id``.
    Emitted on the national coordination's decision, after ``FundsFrozen``.
    """

    cite_id: CiteId
    released: tuple[ReleasedAllocation, ...] = Field(min_length=1)
    motive: Motive
    released_at: UtcDateTime


@event(
    "funding.CommitmentCancelled",
    topic=FUNDING_ALLOCATIONS,
    key="cite_id",
    emitted_when="A commitment is cancelled: its unpaid part returns to the allocation.",
)
class CommitmentCancelled(Event):
    """A commitment was cancelled (the action will not run, or not in full); what it had
    not paid returns to its allocation (frozen with it if the cité's funds are frozen).
    Payments already made stand.

    Producer: funding. Topic: ``funding.allocations``. Key: ``cite_id``.
    """

    cite_id: CiteId
    commitment_id: UUID
    allocation_id: UUID
    returned: Cents = Field(description="The unpaid part given back to the allocation")
    motive: Motive
    cancelled_at: UtcDateTime


@event(
    "funding.CoFinancingDeclared",
    topic=FUNDING_ALLOCATIONS,
    key="cite_id",
    emitted_when="The préfecture declares a local authority's co-financing of a cité for "
    "a year.",
)
class CoFinancingDeclared(Event):
    """A local authority's money for a cité and a year, reported beside the State's (it
    does not go through the State's envelopes).

    Producer: funding. Topic: ``funding.allocations``. Key: ``cite_id``.
    """

    cite_id: CiteId
    cofinancing_id: UUID
    year: ProgrammeYear
    funder: Name = Field(description="The co-financing authority (commune, département…)")
    amount: Cents = Field(description="What the funder plans to give that year (cents); "
                          "what it gave is told by CoFinancingRealised")
    declared_at: UtcDateTime
    funder_partner_id: UUID | None = Field(
        default=None, description="The funder as a partner of the alliance, when it "
        "declared itself (or the préfecture named it)")


@event(
    "funding.CoFinancingRealised",
    topic=FUNDING_ALLOCATIONS,
    key="cite_id",
    emitted_when="The funder (or the préfecture for it) records what a declared "
    "co-financing actually gave.",
)
class CoFinancingRealised(Event):
    """What a local authority's co-financing of a year actually gave, beside what it
    planned (its :class:`CoFinancingDeclared`): recorded once, from the year's start.

    Producer: funding. Topic: ``funding.allocations``. Key: ``cite_id``.
    """

    cite_id: CiteId
    cofinancing_id: UUID
    year: ProgrammeYear
    funder: Name
    planned: Cents = Field(description="What it planned (the declaration's amount)")
    actual: Cents = Field(description="What it gave (cents; 0: nothing)")
    realised_at: UtcDateTime


@event(
    "funding.SubsidyJustified",
    topic=FUNDING_ALLOCATIONS,
    key="cite_id",
    emitted_when="The préfecture records the operator's report on a subsidy.",
)
class SubsidyJustified(Event):
    """The operator reported how it used a subsidy (its compte rendu financier): of what
    was paid to it, ``spent`` went to the action and ``unspent`` may be recovered.

    Producer: funding. Topic: ``funding.allocations``. Key: ``cite_id``.
    """

    cite_id: CiteId
    commitment_id: UUID
    operator_partner_id: UUID
    paid: Cents = Field(description="What the commitment had paid when the report came")
    spent: Cents
    unspent: Cents = Field(description="paid − spent: what may be ordered back")
    submitted_on: date = Field(description="The day the operator filed its report")
    recorded_at: UtcDateTime


@event(
    "funding.RecoveryOrdered",
    topic=FUNDING_ALLOCATIONS,
    key="cite_id",
    emitted_when="The préfecture orders an operator to repay part of a subsidy.",
)
class RecoveryOrdered(Event):
    """An order to repay (titre de perception) unspent or unjustified money of a subsidy:
    what it asks is no longer counted as paid to the operator but as owed by it.

    Producer: funding. Topic: ``funding.allocations``. Key: ``cite_id``.
    """

    cite_id: CiteId
    recovery_id: UUID
    commitment_id: UUID
    payee_partner_id: UUID
    programme: BudgetProgramme = Field(description="The programme the money returns to")
    amount: Cents
    order_reference: ActReference
    ordered_on: date
    motive: Motive
    ordered_at: UtcDateTime


@event(
    "funding.RecoveryReceived",
    topic=FUNDING_ALLOCATIONS,
    key="cite_id",
    emitted_when="Money an operator was ordered to repay is received.",
)
class RecoveryReceived(Event):
    """The operator repaid (part of) a recovery order; the money is back in the State's
    budget of its programme.

    Producer: funding. Topic: ``funding.allocations``. Key: ``cite_id``.
    """

    cite_id: CiteId
    receipt_id: UUID
    recovery_id: UUID
    commitment_id: UUID
    payee_partner_id: UUID
    programme: BudgetProgramme
    amount: Cents
    received_on: date
    received_at: UtcDateTime
