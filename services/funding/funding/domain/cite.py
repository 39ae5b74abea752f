"""A cité as funding sees it: its label (from labelling's events), its alliance (from
partners'), and what its money may do at each moment of its life.

- **Years**: a cité is funded for every budget year its label period touches, from the
  year it starts to the current one. The dotation of the year its label starts is
  prorated from that day (a cité labelled on 1 December receives 31/365 of it: issue #26,
  as the Cour des comptes asked); the fonds de la cité is 30 k€ for every year, whole. The
  calendar-year waves (2019–2022) start on 1 January: whole years. A label's last year is
  whole too: a renewal continues it without a gap.
- **Freeze**: a suspended, withdrawn or expired label freezes every allocation's
  uncommitted part (commitments already made stand and can still be paid);
  reinstatement unfreezes it; after a withdrawal or expiry the national coordination may
  release it back to the envelopes.
- **Spending**: only an active cité commits, only to a current member of its alliance,
  and never more than an allocation holds (the ledger's rule).
- **A subsidy's paperwork**: a commitment names its legal act (a convention, required
  above 23 000 € to an association or a company — décret n° 2001-495 —, or an arrêté)
  signed in the budget year of its allocation, the operator's Dauphin request if any, and
  the day its report is due (by default 30 June of the next year: six months after the
  year it was granted for, loi n° 2000-321 art. 10). The operator's report (what it spent
  of what it was paid) is recorded once; the unspent part — or, once the report is
  overdue, everything paid — may be ordered back, never more, and the order is received
  in one or more receipts (:class:`Recovery`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from uuid import UUID

from cites_contracts.events.funding import (
    AllocationRefused,
    CoFinancingDeclared,
    CoFinancingRealised,
    CommitmentCancelled,
    FrozenAllocation,
    FundsAllocated,
    FundsCommitted,
    FundsFrozen,
    FundsReleased,
    FundsUnfrozen,
    LegalAct,
    PaymentMade,
    RecoveryOrdered,
    RecoveryReceived,
    ReleasedAllocation,
    SubsidyJustified,
)
from cites_contracts.events.labelling import Perimeter, TerritoryLabelled
from cites_contracts.types import (
    AllocationRefusalReason,
    BudgetProgramme,
    DotationRuleKind,
    FreezeReason,
    LegalActKind,
    PartnerKind,
)
from cites_runtime.errors import Conflict, RuleBroken

from .ledger import Account, AccountKind, euros, take

__all__ = ["CONVENTION_ABOVE", "Allocation", "AllocationFunds", "Cite", "CiteStatus",
           "CoFinancing", "Commitment", "FundsLocked", "Paperwork", "Recovery", "Report"]

CONVENTION_ABOVE = 23_000_00
"""Above this, a subsidy to a body of private law needs a convention (décret n° 2001-495)."""

_PRIVATE_LAW = {PartnerKind.ASSOCIATION.value, PartnerKind.ENTREPRISE.value}


class CiteStatus(StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"
    WITHDRAWN = "withdrawn"
    EXPIRED = "expired"


_FREEZE = {CiteStatus.SUSPENDED: FreezeReason.LABEL_SUSPENDED,
           CiteStatus.WITHDRAWN: FreezeReason.LABEL_WITHDRAWN,
           CiteStatus.EXPIRED: FreezeReason.LABEL_EXPIRED}


class FundsLocked(Conflict):
    """The cité's money is frozen: nothing new may be committed."""


@dataclass(frozen=True, slots=True)
class Allocation:
    """A cité's yearly dotation from an envelope, or an allocation made by hand."""

    allocation_id: UUID
    cite_id: str
    envelope_id: UUID
    programme: BudgetProgramme
    year: int
    amount: int
    rule: str
    basis: str
    allocated_at: datetime

    @classmethod
    def of(cls, allocated: FundsAllocated) -> Allocation:
        return cls(allocated.allocation_id, allocated.cite_id, allocated.envelope_id,
                   allocated.programme, allocated.year, allocated.amount,
                   (allocated.dotation_rule or DotationRuleKind.MANUAL).value,
                   allocated.dotation_basis or "", allocated.allocated_at)


@dataclass(frozen=True, slots=True)
class AllocationFunds:
    """One allocation of a cité and what its accounts hold now."""

    allocation_id: UUID
    envelope_id: UUID
    programme: BudgetProgramme
    year: int
    uncommitted: int
    frozen: int

    @property
    def account(self) -> Account:
        return Account.of(AccountKind.ALLOCATION, self.allocation_id)

    @property
    def frozen_account(self) -> Account:
        return Account.of(AccountKind.FROZEN, self.allocation_id)


@dataclass(slots=True)
class Cite:
    cite_id: str
    name: str
    wave_id: str
    departement: str
    label_start: date
    label_end: date
    status: CiteStatus
    requested_contribution: int | None
    population: int
    lead_college_uai: str

    @classmethod
    def labelled(cls, event: TerritoryLabelled) -> Cite:
        """The cité as labelling's decision makes it known: active, funded by its wave's
        envelopes on its requested contribution or its QPVs' population."""
        return cls(cite_id=event.cite_id, name=event.name, wave_id=event.wave.id,
                   departement=event.departement, label_start=event.label_period.start,
                   label_end=event.label_period.end, status=CiteStatus.ACTIVE,
                   requested_contribution=event.requested_annual_contribution,
                   population=_population(event.perimeter),
                   lead_college_uai=event.lead_college_uai)

    def renew(self, label_end: date) -> None:
        """A renewed label runs to ``label_end``: its new years will be funded."""
        self.label_end = label_end

    def extend(self, perimeter: Perimeter) -> None:
        """A larger perimeter counts for the next dotations computed on population."""
        self.population = _population(perimeter)

    # --- years ---------------------------------------------------------------------------

    @property
    def label_years(self) -> range:
        """The budget years its label touches."""
        return range(self.label_start.year, self.label_end.year + 1)

    def days_labelled(self, year: int) -> tuple[int, int]:
        """(days of ``year`` from its label's start on, days in ``year``): the share of
        the year its dotation is prorated to — whole but for the year the label starts."""
        in_year = (date(year, 12, 31) - date(year, 1, 1)).days + 1
        if year != self.label_start.year:
            return in_year, in_year
        return (date(year, 12, 31) - self.label_start).days + 1, in_year

    def years_due(self, today: date) -> list[int]:
        """The budget years to fund now: those its label touches, up to this one. None
        while its money is frozen."""
        if self.status is not CiteStatus.ACTIVE:
            return []
        return list(range(self.label_start.year, min(self.label_end.year, today.year) + 1))

    def no_envelope(self, year: int, programme: BudgetProgramme, at: datetime
                    ) -> AllocationRefused:
        """Nothing from ``programme`` for ``year``: no envelope of it covers the cité's wave
        that year (the yearly check funds it once one is opened)."""
        return AllocationRefused(cite_id=self.cite_id, envelope_id=None, year=year,
                                 requested=self.requested_contribution or 0, available=0,
                                 reason=AllocationRefusalReason.NO_OPEN_ENVELOPE,
                                 refused_at=at, programme=programme)

    # --- freeze, unfreeze, release ---------------------------------------------------------

    def freeze(self, status: CiteStatus, allocations: list[AllocationFunds], at: datetime
               ) -> FundsFrozen | None:
        """The label was suspended, withdrawn or expired: every uncommitted cent freezes.
        ``FundsFrozen`` is emitted even when nothing remains; nothing changes if the cité
        has already ended, or is already so."""
        if self.status in (CiteStatus.WITHDRAWN, CiteStatus.EXPIRED) or status is self.status:
            return None
        self.status = status
        return FundsFrozen(cite_id=self.cite_id, reason=_FREEZE[status], frozen=tuple(
            FrozenAllocation(allocation_id=a.allocation_id, amount=a.uncommitted)
            for a in allocations if a.uncommitted > 0), frozen_at=at)

    def unfreeze(self, allocations: list[AllocationFunds], at: datetime
                 ) -> FundsUnfrozen | None:
        """A reinstated label: what the suspension froze is uncommitted again."""
        if self.status is not CiteStatus.SUSPENDED:
            return None
        self.status = CiteStatus.ACTIVE
        return FundsUnfrozen(cite_id=self.cite_id, unfrozen=tuple(
            FrozenAllocation(allocation_id=a.allocation_id, amount=a.frozen)
            for a in allocations if a.frozen > 0), unfrozen_at=at)

    def release(self, allocations: list[AllocationFunds], motive: str, at: datetime
                ) -> FundsReleased | None:
        """The national coordination gives an ended cité's frozen money back to the
        envelopes it came from. Nothing frozen (released already): nothing happens."""
        if self.status not in (CiteStatus.WITHDRAWN, CiteStatus.EXPIRED):
            raise Conflict(f"cité {self.cite_id} is {self.status.value}: only the frozen "
                           "money of a cité whose label was withdrawn or expired is released"
                           + (" (a suspension's is unfrozen on reinstatement)"
                              if self.status is CiteStatus.SUSPENDED else ""))
        frozen = [a for a in allocations if a.frozen > 0]
        if not frozen:
            return None
        return FundsReleased(cite_id=self.cite_id, released=tuple(
            ReleasedAllocation(allocation_id=a.allocation_id, envelope_id=a.envelope_id,
                               amount=a.frozen) for a in frozen), motive=motive,
            released_at=at)

    # --- spending ------------------------------------------------------------------------

    def ensure_unfrozen(self) -> None:
        if self.status is not CiteStatus.ACTIVE:
            raise FundsLocked(f"the funds of cité {self.cite_id} are frozen (label "
                              f"{self.status.value}): nothing can be committed"
                              + (" until it is reinstated"
                                 if self.status is CiteStatus.SUSPENDED else ""))

    def declare_cofinancing(self, cofinancing_id: UUID, year: int, funder: str, amount: int,
                            at: datetime, funder_partner_id: UUID | None = None
                            ) -> CoFinancingDeclared:
        """A local authority's planned money for a year of the label, beside the State's."""
        if year not in self.label_years:
            raise RuleBroken.of("year", "year_in_label",
                                f"cité {self.cite_id}'s label runs {self.label_start}–"
                                f"{self.label_end}: {year} is outside it")
        return CoFinancingDeclared(cite_id=self.cite_id, cofinancing_id=cofinancing_id,
                                   year=year, funder=funder, amount=amount, declared_at=at,
                                   funder_partner_id=funder_partner_id)


@dataclass(frozen=True, slots=True)
class CoFinancing:
    """A local authority's co-financing of a cité's year: planned, then what it gave."""

    cofinancing_id: UUID
    cite_id: str
    year: int
    funder: str
    planned: int
    funder_partner_id: UUID | None
    actual: int | None
    declared_at: datetime

    def realise(self, actual: int, *, today: date, at: datetime) -> CoFinancingRealised | None:
        """What it actually gave, once, from its year's start: the same again changes
        nothing (``None``), another figure is a 409 naming the first."""
        if self.actual is not None:
            if self.actual == actual:
                return None
            raise Conflict(f"{self.funder}'s co-financing of {self.year} gave "
                           f"{euros(self.actual)} as recorded already: it is recorded once")
        if today.year < self.year:
            raise RuleBroken.of("actual", "year_begun", f"{self.year} has not begun: what "
                                "a co-financing gave is recorded from its year's start")
        return CoFinancingRealised(cite_id=self.cite_id, cofinancing_id=self.cofinancing_id,
                                   year=self.year, funder=self.funder, planned=self.planned,
                                   actual=actual, realised_at=at)


def _population(perimeter: Perimeter) -> int:
    """The population of the cité's QPVs (what a dotation computed on population counts)."""
    return sum(q.population for q in perimeter.qpvs)


@dataclass(frozen=True, slots=True)
class Paperwork:
    """What grants a subsidy: its legal act, the operator's request, its report's due day."""

    legal_act: LegalAct
    subsidy_request: str | None
    justification_due: date


@dataclass(frozen=True, slots=True)
class Report:
    """The operator's report (compte rendu financier): what it spent of what it was paid."""

    spent: int
    submitted_on: date


@dataclass(slots=True)
class Commitment:
    commitment_id: UUID
    cite_id: str
    allocation_id: UUID
    operator_partner_id: UUID
    action_title: str
    amount: int
    unpaid: int
    cancelled: bool
    committed_at: datetime
    paperwork: Paperwork | None = None
    """``None`` for a commitment recorded before funding kept it."""
    paid: int = 0
    report: Report | None = None
    ordered: int = 0
    """What recovery orders have asked back from it so far."""

    @property
    def account(self) -> Account:
        return Account.of(AccountKind.COMMITMENT, self.commitment_id)

    @staticmethod
    def paperwork_of(allocation: Allocation, *, legal_act: LegalAct,
                     subsidy_request: str | None, justification_due: date | None,
                     operator_kind: str | None, amount: int, today: date) -> Paperwork:
        """The paperwork of a new commitment, checked: its act signed in its allocation's
        budget year and not after today, a convention above 23 000 € to a body of private
        law, the report due after the act (by default 30 June of the next year)."""
        signed = legal_act.signed_on
        if signed > today:
            raise RuleBroken.of("legal_act.signed_on", "not_in_future",
                                f"the act is dated {signed}, after today ({today})")
        if signed.year != allocation.year:
            raise RuleBroken.of("legal_act.signed_on", "in_budget_year",
                                f"the act is dated {signed}: a commitment of the "
                                f"{allocation.year} allocation is signed in {allocation.year}")
        if (amount > CONVENTION_ABOVE and operator_kind in _PRIVATE_LAW
                and legal_act.kind is not LegalActKind.CONVENTION):
            raise RuleBroken.of("legal_act.kind", "convention_above_23000",
                                f"{euros(amount)} to an {operator_kind}: above "
                                f"{euros(CONVENTION_ABOVE)} the act is a convention "
                                "(décret n° 2001-495)")
        due = justification_due or date(allocation.year + 1, 6, 30)
        if due <= signed:
            raise RuleBroken.of("justification_due", "after_the_act",
                                f"the report is due on {due}, not after the act ({signed})")
        return Paperwork(legal_act, subsidy_request, due)

    @classmethod
    def commit(cls, cite: Cite, allocation: Allocation, *, commitment_id: UUID,
               operator: UUID, operator_is_member: bool, action_title: str, amount: int,
               paperwork: Paperwork, at: datetime) -> tuple[Commitment, FundsCommitted]:
        """Commit part of an allocation to an action run by a member of the alliance (the
        ledger refuses more than the allocation holds uncommitted)."""
        cite.ensure_unfrozen()
        if not operator_is_member:
            raise Conflict(f"partner {operator} is not a member of the alliance of cité "
                           f"{cite.cite_id} (as partners' events tell funding): only its "
                           "members run actions it funds")
        return (cls(commitment_id, cite.cite_id, allocation.allocation_id, operator,
                    action_title, amount, amount, False, at, paperwork),
                FundsCommitted(cite_id=cite.cite_id, commitment_id=commitment_id,
                               allocation_id=allocation.allocation_id,
                               operator_partner_id=operator, action_title=action_title,
                               amount=amount, committed_at=at,
                               legal_act=paperwork.legal_act,
                               subsidy_request=paperwork.subsidy_request,
                               justification_due=paperwork.justification_due))

    def pay(self, payment_id: UUID, amount: int, at: datetime) -> PaymentMade:
        """Pay the operator against this commitment, never more than its unpaid part. A
        cancelled commitment pays nothing more."""
        if self.cancelled:
            raise Conflict(f"commitment {self.commitment_id} was cancelled: nothing more "
                           "can be paid against it")
        self.unpaid = take(self.account, self.unpaid, amount)
        self.paid += amount
        return PaymentMade(cite_id=self.cite_id, payment_id=payment_id,
                           commitment_id=self.commitment_id, allocation_id=self.allocation_id,
                           payee_partner_id=self.operator_partner_id, amount=amount,
                           paid_at=at)

    # --- the operator's report and recoveries ----------------------------------------------

    def justify(self, report: Report, today: date, at: datetime) -> SubsidyJustified | None:
        """Record the operator's report, once: the same report again changes nothing,
        another one is a 409."""
        if self.report is not None:
            if self.report == report:
                return None
            raise Conflict(f"commitment {self.commitment_id}'s report was recorded "
                           f"(filed on {self.report.submitted_on}, "
                           f"{euros(self.report.spent)} spent): it is recorded once")
        if report.submitted_on > today:
            raise RuleBroken.of("submitted_on", "not_in_future",
                                f"filed on {report.submitted_on}, after today ({today})")
        if self.paperwork and report.submitted_on < self.paperwork.legal_act.signed_on:
            raise RuleBroken.of("submitted_on", "after_the_act",
                                f"filed on {report.submitted_on}, before the act was signed "
                                f"({self.paperwork.legal_act.signed_on})")
        if report.spent > self.paid:
            raise RuleBroken.of("spent", "within_paid",
                                f"{euros(report.spent)} spent reported, but "
                                f"{euros(self.paid)} was paid on this commitment")
        self.report = report
        return SubsidyJustified(cite_id=self.cite_id, commitment_id=self.commitment_id,
                                operator_partner_id=self.operator_partner_id, paid=self.paid,
                                spent=report.spent, unspent=self.paid - report.spent,
                                submitted_on=report.submitted_on, recorded_at=at)

    def recoverable(self, today: date) -> tuple[int, str]:
        """What may still be ordered back, and why: the report's unspent part, or, once
        the report is overdue, everything paid (less what was ordered already)."""
        if self.report is not None:
            return (self.paid - self.report.spent - self.ordered,
                    f"its report leaves {euros(self.paid - self.report.spent)} unspent")
        if self.paperwork is not None and today > self.paperwork.justification_due:
            return (self.paid - self.ordered,
                    f"its report, due on {self.paperwork.justification_due}, never came: "
                    f"{euros(self.paid)} paid is unjustified")
        due = f" before {self.paperwork.justification_due}" if self.paperwork else ""
        return 0, f"its report is not in yet (due{due or ' whenever the act says'})"

    def order_recovery(self, recovery_id: UUID, programme: BudgetProgramme, *, amount: int,
                       order_reference: str, ordered_on: date, motive: str, today: date,
                       at: datetime) -> RecoveryOrdered:
        """Order the operator to repay part of what it was paid: never more than is
        recoverable (:meth:`recoverable`), refused saying by how much."""
        if ordered_on > today:
            raise RuleBroken.of("ordered_on", "not_in_future",
                                f"ordered on {ordered_on}, after today ({today})")
        recoverable, why = self.recoverable(today)
        if amount > recoverable:
            raise Conflict(f"not that much to recover: {euros(amount)} ordered, commitment "
                           f"{self.commitment_id} has {euros(max(recoverable, 0))} "
                           f"recoverable ({why}; {euros(self.ordered)} ordered already); "
                           f"{euros(amount - max(recoverable, 0))} over")
        self.ordered += amount
        return RecoveryOrdered(cite_id=self.cite_id, recovery_id=recovery_id,
                               commitment_id=self.commitment_id,
                               payee_partner_id=self.operator_partner_id, programme=programme,
                               amount=amount, order_reference=order_reference,
                               ordered_on=ordered_on, motive=motive, ordered_at=at)

    def cancel(self, cite: Cite, motive: str, at: datetime
               ) -> list[CommitmentCancelled | FundsFrozen]:
        """The unpaid part returns to the allocation; if the cité's money is frozen, it
        freezes with it at once (and ``FundsFrozen`` says so, for those who reconcile).
        Cancelled already: nothing."""
        if self.cancelled:
            return []
        returned, self.unpaid, self.cancelled = self.unpaid, 0, True
        events: list[CommitmentCancelled | FundsFrozen] = [CommitmentCancelled(
            cite_id=self.cite_id, commitment_id=self.commitment_id,
            allocation_id=self.allocation_id, returned=returned, motive=motive,
            cancelled_at=at)]
        if returned and cite.status is not CiteStatus.ACTIVE:
            events.append(FundsFrozen(
                cite_id=self.cite_id, reason=_FREEZE[cite.status], frozen=(
                    FrozenAllocation(allocation_id=self.allocation_id, amount=returned),),
                frozen_at=at))
        return events


@dataclass(slots=True)
class Recovery:
    """An order to repay (titre de perception) and what is still to be received on it."""

    recovery_id: UUID
    commitment_id: UUID
    cite_id: str
    payee_partner_id: UUID
    programme: BudgetProgramme
    amount: int
    outstanding: int
    order_reference: str
    ordered_on: date
    motive: str
    ordered_at: datetime

    @property
    def account(self) -> Account:
        return Account.of(AccountKind.RECEIVABLE, self.recovery_id)

    @classmethod
    def of(cls, ordered: RecoveryOrdered) -> Recovery:
        return cls(ordered.recovery_id, ordered.commitment_id, ordered.cite_id,
                   ordered.payee_partner_id, ordered.programme, ordered.amount,
                   ordered.amount, ordered.order_reference, ordered.ordered_on,
                   ordered.motive, ordered.ordered_at)

    def receive(self, receipt_id: UUID, amount: int, received_on: date, today: date,
                at: datetime) -> RecoveryReceived:
        """The operator repaid ``amount`` (in full or in part), never more than is
        outstanding."""
        if not self.ordered_on <= received_on <= today:
            raise RuleBroken.of("received_on", "between_order_and_today",
                                f"received on {received_on}: after the order "
                                f"({self.ordered_on}) and not after today ({today})")
        self.outstanding = take(self.account, self.outstanding, amount)
        return RecoveryReceived(cite_id=self.cite_id, receipt_id=receipt_id,
                                recovery_id=self.recovery_id,
                                commitment_id=self.commitment_id,
                                payee_partner_id=self.payee_partner_id,
                                programme=self.programme, amount=amount,
                                received_on=received_on, received_at=at)
