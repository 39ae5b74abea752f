"""The ledger: every movement of money, in double entry, and the limits it keeps.

Each place money can be is an **account**: a programme's budget (the only account that may
go below zero: it is where the State's money comes from), an envelope, an allocation's
uncommitted part, a commitment's unpaid part, a freeze, what a payee received. Each
movement takes an amount from one account and puts it on another, so the sum of all
balances is always zero and every balance is the sum of the movements that touched it.

The programme's limits are then one rule: **no account but a programme's budget goes
below zero**. An allocation larger than what is left in its envelope, a commitment larger
than what is uncommitted in its allocation, a payment larger than what is unpaid on its
commitment: each would take an account below zero, and is refused with the account, what
it holds and by how much the request exceeds it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from uuid import UUID

from cites_contracts.types import BudgetProgramme
from cites_runtime.errors import Conflict

__all__ = ["Account", "AccountKind", "LimitExceeded", "Movement", "MovementKind", "apply",
           "balances", "euros"]


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
    """What a payee received (only ever grows)."""
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
}


def balances(movements: Iterable[Movement]) -> dict[Account, int]:
    """Every account's balance, recomputed from the movements (the ledger's check)."""
    found: dict[Account, int] = {}
    for m in movements:
        found[m.debit] = found.get(m.debit, 0) - m.amount
        found[m.credit] = found.get(m.credit, 0) + m.amount
    return found


def apply(current: Mapping[Account, int], movements: Iterable[Movement]) -> dict[Account, int]:
    """The balances after ``movements``, in order, from ``current`` (an account missing
    from it holds 0). Refused as a whole, with the first limit broken, if any movement
    would take an account other than a budget below zero: nothing partial."""
    after = dict(current)
    for m in movements:
        holds = after.get(m.debit, 0)
        if not m.debit.may_go_negative and holds < m.amount:
            raise LimitExceeded(m.debit, holds, m.amount, _WHAT[m.debit.kind])
        after[m.debit] = holds - m.amount
        after[m.credit] = after.get(m.credit, 0) + m.amount
    return after
