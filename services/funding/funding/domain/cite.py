"""A cité as funding sees it: its label (from labelling's events), its alliance (from
partners'), and what its money may do at each moment of its life.

- **Years**: a cité is funded for every budget year its label period touches, from the
  year it starts to the current one. A cité labelled mid-year receives the whole year's
  dotation and fonds, not a pro rata: the programme's cités of the 2019 rentrée received
  their first year's money in full at the rentrée (the school year is the unit of the
  actions it pays for), and an envelope's rule can set a lower amount if a wave needs one.
- **Freeze**: a suspended, withdrawn or expired label freezes every allocation's
  uncommitted part (commitments already made stand and can still be paid);
  reinstatement unfreezes it; after a withdrawal or expiry the national coordination may
  release it back to the envelopes.
- **Spending**: only an active cité commits, only to a current member of its alliance,
  and never more than an allocation holds (the ledger's rule).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime
from enum import StrEnum
from uuid import UUID

from cites_contracts.events.funding import (
    CommitmentCancelled,
    FrozenAllocation,
    FundsCommitted,
    FundsFrozen,
    FundsReleased,
    FundsUnfrozen,
    PaymentMade,
    ReleasedAllocation,
)
from cites_contracts.types import BudgetProgramme, FreezeReason
from cites_runtime.errors import Conflict

from .ledger import Account, AccountKind, Movement, MovementKind

__all__ = ["AllocationFunds", "Cite", "CiteStatus", "Commitment", "FundsLocked"]


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


@dataclass(frozen=True, slots=True)
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

    @property
    def account(self) -> Account:
        return Account.of(AccountKind.COMMITMENT, self.commitment_id)

    def pay(self, payment_id: UUID, amount: int, at: datetime
            ) -> tuple[Movement, PaymentMade]:
        """Pay the operator against this commitment (the ledger refuses more than its
        unpaid part). A cancelled commitment pays nothing more."""
        if self.cancelled:
            raise Conflict(f"commitment {self.commitment_id} was cancelled: nothing more "
                           "can be paid against it")
        return (Movement(MovementKind.PAY, self.account,
                         Account.of(AccountKind.PAID, self.operator_partner_id), amount),
                PaymentMade(cite_id=self.cite_id, payment_id=payment_id,
                            commitment_id=self.commitment_id, allocation_id=self.allocation_id,
                            payee_partner_id=self.operator_partner_id, amount=amount,
                            paid_at=at))


@dataclass(frozen=True, slots=True)
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

    # --- years ---------------------------------------------------------------------------

    def years_due(self, today: date) -> list[int]:
        """The budget years to fund now: those its label touches, up to this one. None
        while its money is frozen."""
        if self.status is not CiteStatus.ACTIVE:
            return []
        return list(range(self.label_start.year, min(self.label_end.year, today.year) + 1))

    # --- freeze, unfreeze, release ---------------------------------------------------------

    def freeze(self, status: CiteStatus, allocations: list[AllocationFunds], at: datetime
               ) -> tuple[Cite, list[Movement], FundsFrozen | None]:
        """The label was suspended, withdrawn or expired: every uncommitted cent freezes.
        ``FundsFrozen`` is emitted even when nothing remains; nothing changes if the cité
        has already ended."""
        if self.status in (CiteStatus.WITHDRAWN, CiteStatus.EXPIRED):
            return self, [], None
        if status is self.status:
            return self, [], None
        movements = [Movement(MovementKind.FREEZE, a.account, a.frozen_account, a.uncommitted)
                     for a in allocations if a.uncommitted > 0]
        frozen = FundsFrozen(cite_id=self.cite_id, reason=_FREEZE[status], frozen=tuple(
            FrozenAllocation(allocation_id=m_a.allocation_id, amount=m_a.uncommitted)
            for m_a in allocations if m_a.uncommitted > 0), frozen_at=at)
        return replace(self, status=status), movements, frozen

    def unfreeze(self, allocations: list[AllocationFunds], at: datetime
                 ) -> tuple[Cite, list[Movement], FundsUnfrozen | None]:
        """A reinstated label: what the suspension froze is uncommitted again."""
        if self.status is not CiteStatus.SUSPENDED:
            return self, [], None
        thawing = [a for a in allocations if a.frozen > 0]
        return replace(self, status=CiteStatus.ACTIVE), [
            Movement(MovementKind.UNFREEZE, a.frozen_account, a.account, a.frozen)
            for a in thawing], FundsUnfrozen(cite_id=self.cite_id, unfrozen=tuple(
                FrozenAllocation(allocation_id=a.allocation_id, amount=a.frozen)
                for a in thawing), unfrozen_at=at)

    def release(self, allocations: list[AllocationFunds], motive: str, at: datetime
                ) -> tuple[list[Movement], FundsReleased | None]:
        """The national coordination gives an ended cité's frozen money back to the
        envelopes it came from. Nothing frozen (released already): nothing happens."""
        if self.status not in (CiteStatus.WITHDRAWN, CiteStatus.EXPIRED):
            raise Conflict(f"cité {self.cite_id} is {self.status.value}: only the frozen "
                           "money of a cité whose label was withdrawn or expired is released"
                           + (" (a suspension's is unfrozen on reinstatement)"
                              if self.status is CiteStatus.SUSPENDED else ""))
        frozen = [a for a in allocations if a.frozen > 0]
        if not frozen:
            return [], None
        return [Movement(MovementKind.RELEASE, a.frozen_account,
                         Account.of(AccountKind.ENVELOPE, a.envelope_id), a.frozen)
                for a in frozen], FundsReleased(cite_id=self.cite_id, released=tuple(
                    ReleasedAllocation(allocation_id=a.allocation_id,
                                       envelope_id=a.envelope_id, amount=a.frozen)
                    for a in frozen), motive=motive, released_at=at)

    # --- spending ------------------------------------------------------------------------

    def ensure_unfrozen(self) -> None:
        if self.status is not CiteStatus.ACTIVE:
            raise FundsLocked(f"the funds of cité {self.cite_id} are frozen (label "
                              f"{self.status.value}): nothing can be committed"
                              + (" until it is reinstated"
                                 if self.status is CiteStatus.SUSPENDED else ""))

    def commit(self, allocation: AllocationFunds, *, commitment_id: UUID, operator: UUID,
               operator_is_member: bool, action_title: str, amount: int, at: datetime
               ) -> tuple[Movement, FundsCommitted]:
        """Commit part of an allocation to an action run by a member of the alliance."""
        self.ensure_unfrozen()
        if not operator_is_member:
            raise Conflict(f"partner {operator} is not a member of the alliance of cité "
                           f"{self.cite_id} (as partners' events tell funding): only its "
                           "members run actions it funds")
        return (Movement(MovementKind.COMMIT, allocation.account,
                         Account.of(AccountKind.COMMITMENT, commitment_id), amount),
                FundsCommitted(cite_id=self.cite_id, commitment_id=commitment_id,
                               allocation_id=allocation.allocation_id,
                               operator_partner_id=operator, action_title=action_title,
                               amount=amount, committed_at=at))

    def cancel(self, commitment: Commitment, motive: str, at: datetime
               ) -> tuple[list[Movement], list[CommitmentCancelled | FundsFrozen]]:
        """The unpaid part returns to the allocation; if the cité's money is frozen, it
        freezes with it at once (and ``FundsFrozen`` says so, for those who reconcile)."""
        if commitment.cancelled:
            return [], []
        allocation = Account.of(AccountKind.ALLOCATION, commitment.allocation_id)
        movements: list[Movement] = []
        events: list[CommitmentCancelled | FundsFrozen] = [CommitmentCancelled(
            cite_id=self.cite_id, commitment_id=commitment.commitment_id,
            allocation_id=commitment.allocation_id, returned=commitment.unpaid,
            motive=motive, cancelled_at=at)]
        if commitment.unpaid:
            movements.append(Movement(MovementKind.CANCEL, commitment.account, allocation,
                                      commitment.unpaid))
            if self.status is not CiteStatus.ACTIVE:
                movements.append(Movement(
                    MovementKind.FREEZE, allocation,
                    Account.of(AccountKind.FROZEN, commitment.allocation_id),
                    commitment.unpaid))
                events.append(FundsFrozen(
                    cite_id=self.cite_id, reason=_FREEZE[self.status], frozen=(
                        FrozenAllocation(allocation_id=commitment.allocation_id,
                                         amount=commitment.unpaid),), frozen_at=at))
        return movements, events
