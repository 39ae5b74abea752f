"""The ledger: every movement of money, in double entry, and the limits it keeps.

Each place money can be is an **account**: a programme's budget (the only account that may
go below zero: it is where the State's money comes from), an envelope, an allocation's
uncommitted part, a commitment's unpaid part, a freeze, what a payee received and kept,
what a recovery order asks an operator to repay. Each
movement takes an amount from one account and puts it on another, so the sum of all
balances is always zero and every balance is the sum of the movements that touched it.

The programme's limits are then one rule: **no account but a programme's budget goes
below zero**. An allocation larger than what is left in its envelope, a commitment larger
than what is uncommitted in its allocation, a payment larger than what is unpaid on its
commitment: each would take an account below zero, and is refused with the account, what
it holds and by how much the request exceeds it.

The movements a command causes follow from the event it causes (:func:`movements`): a
commitment's ``FundsCommitted`` moves its amount from the allocation to the commitment,
and so on. The store locks the accounts and reports what they hold; :func:`apply` decides.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import assert_never, overload
from uuid import UUID

from cites_contracts.events.funding import (
    AllocationRevised,
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
    RecoveryOrdered,
    RecoveryReceived,
)
from cites_contracts.types import BudgetProgramme
from cites_runtime.errors import Conflict

__all__ = ["Account", "AccountKind", "LimitExceeded", "Movement", "MovementKind", "accounts",
           "apply", "balances", "euros", "movements", "take"]


class AccountKind(StrEnum):
    BUDGET = "budget"
    """A programme's budget: the source of the State's money (negative: what it gave)."""
    ENVELOPE = "envelope"
    """What an envelope has not allocated yet."""
    ALLOCATION = "allocation"
    """What a cité's allocation has not committed yet (nor frozen)."""
    COMMITMENT = "commitment"
    """What a commitment has not paid yet."""
    FROZEN = "frozen"
    """An allocation's uncommitted part, frozen while its label is suspended or ended."""
    PAID = "paid"
    """What a payee received and keeps: payments in, recovery orders out."""
    RECEIVABLE = "receivable"
    """What a recovery order asks an operator to repay and has not been received."""
    FONDS = "fonds"
    """A fonds de la cité grant, placed with the collège chef de file (only ever grows)."""


@dataclass(frozen=True, slots=True, order=True)
class Account:
    kind: AccountKind
    ref: str
    """The programme (``P147``), or the id of the envelope, allocation, commitment, the
    allocation frozen, or the payee partner."""

    @classmethod
    def budget(cls, programme: BudgetProgramme) -> Account:
        return cls(AccountKind.BUDGET, programme.value)

    @classmethod
    def of(cls, kind: AccountKind, ref: UUID) -> Account:
        return cls(kind, str(ref))

    def __str__(self) -> str:
        return f"{self.kind.value} {self.ref}"

    @property
    def may_go_negative(self) -> bool:
        return self.kind is AccountKind.BUDGET


class MovementKind(StrEnum):
    OPEN = "open"              # budget → envelope
    ALLOCATE = "allocate"      # envelope → allocation
    COMMIT = "commit"          # allocation → commitment
    PAY = "pay"                # commitment → paid
    FREEZE = "freeze"          # allocation → frozen
    UNFREEZE = "unfreeze"      # frozen → allocation
    RELEASE = "release"        # frozen → envelope
    GRANT = "grant"            # envelope → fonds (a contribution to a fonds de la cité)
    CANCEL = "cancel"          # commitment → allocation (its unpaid part, on cancellation)
    REDUCE = "reduce"          # envelope → budget (an amendment lowering the envelope)
    REVISE_UP = "revise_up"    # envelope → allocation (a revision raising it)
    REVISE_DOWN = "revise_down"  # allocation → envelope (a revision lowering it)
    ORDER = "order"            # paid → receivable (a recovery order: owed back, no longer kept)
    RECOVER = "recover"        # receivable → budget (repaid: back to the programme's budget)


_ALLOWED: dict[MovementKind, tuple[AccountKind, AccountKind]] = {
    MovementKind.OPEN: (AccountKind.BUDGET, AccountKind.ENVELOPE),
    MovementKind.ALLOCATE: (AccountKind.ENVELOPE, AccountKind.ALLOCATION),
    MovementKind.COMMIT: (AccountKind.ALLOCATION, AccountKind.COMMITMENT),
    MovementKind.PAY: (AccountKind.COMMITMENT, AccountKind.PAID),
    MovementKind.FREEZE: (AccountKind.ALLOCATION, AccountKind.FROZEN),
    MovementKind.UNFREEZE: (AccountKind.FROZEN, AccountKind.ALLOCATION),
    MovementKind.RELEASE: (AccountKind.FROZEN, AccountKind.ENVELOPE),
    MovementKind.GRANT: (AccountKind.ENVELOPE, AccountKind.FONDS),
    MovementKind.CANCEL: (AccountKind.COMMITMENT, AccountKind.ALLOCATION),
    MovementKind.REDUCE: (AccountKind.ENVELOPE, AccountKind.BUDGET),
    MovementKind.REVISE_UP: (AccountKind.ENVELOPE, AccountKind.ALLOCATION),
    MovementKind.REVISE_DOWN: (AccountKind.ALLOCATION, AccountKind.ENVELOPE),
    MovementKind.ORDER: (AccountKind.PAID, AccountKind.RECEIVABLE),
    MovementKind.RECOVER: (AccountKind.RECEIVABLE, AccountKind.BUDGET),
}


@dataclass(frozen=True, slots=True)
class Movement:
    """``amount`` cents taken from ``debit`` and put on ``credit``."""

    kind: MovementKind
    debit: Account
    credit: Account
    amount: int

    def __post_init__(self) -> None:
        if isinstance(self.amount, bool) or not isinstance(self.amount, int):
            raise TypeError(f"an amount is integer cents, not {self.amount!r}")
        if self.amount <= 0:
            raise ValueError(f"a movement moves a positive amount, not {self.amount}")
        expected = _ALLOWED[self.kind]
        if (self.debit.kind, self.credit.kind) != expected:
            raise ValueError(f"{self.kind.value} moves money from {expected[0].value} to "
                             f"{expected[1].value}, not from {self.debit} to {self.credit}")


def euros(cents: int) -> str:
    """``1234567`` → ``12 345,67 €``: how refusals show an amount."""
    sign, cents = ("-" if cents < 0 else ""), abs(cents)
    whole = f"{cents // 100:,}".replace(",", "\u202f")
    return f"{sign}{whole},{cents % 100:02d} €"


class LimitExceeded(Conflict):
    """A movement would take an account below zero: what it holds, and by how much."""

    def __init__(self, account: Account, holds: int, requested: int, what: str):
        self.account, self.holds, self.requested = account, holds, requested
        self.exceeded_by = requested - holds
        super().__init__(f"{what}: {euros(requested)} requested, {account} holds "
                         f"{euros(holds)}; {euros(self.exceeded_by)} over")


_WHAT = {
    AccountKind.ENVELOPE: "not enough left in the envelope",
    AccountKind.ALLOCATION: "not enough uncommitted in the allocation",
    AccountKind.COMMITMENT: "not enough unpaid on the commitment",
    AccountKind.FROZEN: "not that much frozen",
    AccountKind.PAID: "not that much paid to the operator",
    AccountKind.RECEIVABLE: "not that much left to receive on the recovery order",
}


def balances(movements: Iterable[Movement]) -> dict[Account, int]:
    """Every account's balance, recomputed from the movements (the ledger's check)."""
    found: dict[Account, int] = {}
    for m in movements:
        found[m.debit] = found.get(m.debit, 0) - m.amount
        found[m.credit] = found.get(m.credit, 0) + m.amount
    return found


def take(account: Account, holds: int, amount: int) -> int:
    """What ``account`` holds once ``amount`` is taken from the ``holds`` it has; refused
    (:class:`LimitExceeded`) if that goes below zero and the account is not a budget."""
    if not account.may_go_negative and holds < amount:
        raise LimitExceeded(account, holds, amount, _WHAT[account.kind])
    return holds - amount


def apply(current: Mapping[Account, int], movements: Iterable[Movement]) -> dict[Account, int]:
    """The balances after ``movements``, in order, from ``current`` (an account missing
    from it holds 0). Refused as a whole, with the first limit broken, if any movement
    would take an account other than a budget below zero: nothing partial."""
    after = dict(current)
    for m in movements:
        after[m.debit] = take(m.debit, after.get(m.debit, 0), m.amount)
        after[m.credit] = after.get(m.credit, 0) + m.amount
    return after


def accounts(movements: Iterable[Movement]) -> list[Account]:
    """The accounts ``movements`` touch, once each, in one order (the order they are locked
    in, so that two transactions never wait for each other in a circle)."""
    return sorted({a for m in movements for a in (m.debit, m.credit)})


# --- what each event moves ------------------------------------------------------------------

Moving = (EnvelopeOpened | FundsAllocated | FundsCommitted | PaymentMade | FundsFrozen
          | FundsUnfrozen | FundsReleased | CommitmentCancelled | RecoveryOrdered
          | RecoveryReceived | AllocationRevised)
"""The events that name every account they touch (a refusal, a co-financing: no money
of the State moves)."""


@overload
def movements(event: Moving) -> list[Movement]: ...


@overload
def movements(event: EnvelopeAmended, *, programme: BudgetProgramme) -> list[Movement]: ...


@overload
def movements(event: FondsDeLaCiteGranted, *,
              paid_from: Mapping[BudgetProgramme, UUID]) -> list[Movement]: ...


def movements(event: Moving | EnvelopeAmended | FondsDeLaCiteGranted, *,
              programme: BudgetProgramme | None = None,
              paid_from: Mapping[BudgetProgramme, UUID] | None = None) -> list[Movement]:
    """The movements ``event`` records, in the order they apply. Two events do not name
    every account they touch: an amendment its envelope's ``programme`` (whose budget gives
    or takes back), a fonds grant the envelope each contribution was ``paid_from``."""
    match event:
        case EnvelopeOpened():
            return [Movement(MovementKind.OPEN, Account.budget(event.programme),
                             _envelope(event.envelope_id), event.amount)]
        case EnvelopeAmended():
            assert programme is not None, "an amendment's movement needs its programme"
            return [_amendment(event, Account.budget(programme))]
        case FundsAllocated():
            return [Movement(MovementKind.ALLOCATE, _envelope(event.envelope_id),
                             _allocation(event.allocation_id), event.amount)]
        case FondsDeLaCiteGranted():
            assert paid_from is not None, "a grant's movements need the envelopes it took from"
            fonds = Account.of(AccountKind.FONDS, event.grant_id)
            return [Movement(MovementKind.GRANT, _envelope(paid_from[c.programme]), fonds,
                             c.amount) for c in event.contributions]
        case FundsCommitted():
            return [Movement(MovementKind.COMMIT, _allocation(event.allocation_id),
                             _commitment(event.commitment_id), event.amount)]
        case PaymentMade():
            return [Movement(MovementKind.PAY, _commitment(event.commitment_id),
                             Account.of(AccountKind.PAID, event.payee_partner_id),
                             event.amount)]
        case FundsFrozen():
            return [Movement(MovementKind.FREEZE, _allocation(f.allocation_id),
                             _frozen(f.allocation_id), f.amount)
                    for f in event.frozen if f.amount]
        case FundsUnfrozen():
            return [Movement(MovementKind.UNFREEZE, _frozen(f.allocation_id),
                             _allocation(f.allocation_id), f.amount)
                    for f in event.unfrozen if f.amount]
        case FundsReleased():
            return [Movement(MovementKind.RELEASE, _frozen(r.allocation_id),
                             _envelope(r.envelope_id), r.amount) for r in event.released]
        case CommitmentCancelled():
            return [Movement(MovementKind.CANCEL, _commitment(event.commitment_id),
                             _allocation(event.allocation_id), event.returned)
                    ] if event.returned else []
        case AllocationRevised():
            if event.amount > event.previous_amount:
                return [Movement(MovementKind.REVISE_UP, _envelope(event.envelope_id),
                                 _allocation(event.allocation_id),
                                 event.amount - event.previous_amount)]
            return [Movement(MovementKind.REVISE_DOWN, _allocation(event.allocation_id),
                             _envelope(event.envelope_id),
                             event.previous_amount - event.amount)]
        case RecoveryOrdered():
            return [Movement(MovementKind.ORDER,
                             Account.of(AccountKind.PAID, event.payee_partner_id),
                             _receivable(event.recovery_id), event.amount)]
        case RecoveryReceived():
            return [Movement(MovementKind.RECOVER, _receivable(event.recovery_id),
                             Account.budget(event.programme), event.amount)]
    assert_never(event)


def _amendment(event: EnvelopeAmended, budget: Account) -> Movement:
    """Raising takes more from the budget; lowering gives back what the envelope had."""
    envelope = _envelope(event.envelope_id)
    if event.amount > event.previous_amount:
        return Movement(MovementKind.OPEN, budget, envelope,
                        event.amount - event.previous_amount)
    return Movement(MovementKind.REDUCE, envelope, budget, event.previous_amount - event.amount)


def _envelope(ref: UUID) -> Account:
    return Account.of(AccountKind.ENVELOPE, ref)


def _allocation(ref: UUID) -> Account:
    return Account.of(AccountKind.ALLOCATION, ref)


def _frozen(ref: UUID) -> Account:
    return Account.of(AccountKind.FROZEN, ref)


def _commitment(ref: UUID) -> Account:
    return Account.of(AccountKind.COMMITMENT, ref)


def _receivable(ref: UUID) -> Account:
    return Account.of(AccountKind.RECEIVABLE, ref)
