"""The ledger: every movement of money, in double entry, and the limits it keeps.

Each place money can be is an **account**: a programme's budget (the only account that may
go below zero: it is where the State's money comes from), an envelope, an allocation's
uncommitted part, a commitment's unpaid part, a freeze, what a payee received and kept,
what a recovery order asks an operator to repay, a fonds de la cité not used yet and what
the collège used it for. Each
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

**The State's credits** are a second unit on the same ledger, in the same cents: AE
(autorisations d'engagement) and CP (crédits de paiement) of a programme's budget year,
voted (from the programme's ``ae_source``/``cp_source``, which may go negative: the
Parliament's vote), delegated to a département, then consumed — AE by a commitment
(``ae_engaged``, given back if it is cancelled), CP by a payment (``cp_spent``) — or lapsed
at the year's close. A commitment therefore moves money twice: allocation → commitment
(what the cité was given) and the département's AE → engaged (what the State may commit
that year); a payment, commitment → paid and the département's CP → spent. Each pair is
refused as a whole if either limit breaks.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import assert_never, overload
from uuid import UUID, uuid5

from cites_contracts.events.funding import (
    AllocationRevised,
    BudgetYearClosed,
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
from cites_contracts.types import BudgetProgramme
from cites_runtime.errors import Conflict

__all__ = ["Account", "AccountKind", "LimitExceeded", "Movement", "MovementKind", "accounts",
           "apply", "balances", "disengagement", "engagement", "euros", "movements",
           "past_commitment", "spending", "take"]


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
    AE_SOURCE = "ae_source"
    """A programme's AE as voted, all years (negative: what was voted)."""
    CP_SOURCE = "cp_source"
    AE_OPEN = "ae_open"
    """A programme's AE of a year, not delegated yet (ref ``P147/2025``)."""
    CP_OPEN = "cp_open"
    AE_DELEGATED = "ae_delegated"
    """AE of a year delegated to a département, not committed (ref ``P147/2025/93``)."""
    CP_DELEGATED = "cp_delegated"
    AE_ENGAGED = "ae_engaged"
    """AE a commitment consumed (ref: the commitment)."""
    CP_SPENT = "cp_spent"
    """CP a département paid with in a year (ref ``P147/2025/93``)."""
    AE_LAPSED = "ae_lapsed"
    """AE of a year never committed, lapsed at its close (ref ``P147/2025``)."""
    CP_LAPSED = "cp_lapsed"
    FONDS = "fonds"
    """A fonds de la cité grant, placed with the collège chef de file: what it has not
    used yet."""
    FONDS_SPENT = "fonds_spent"
    """What the collège used a fonds de la cité grant for (ref: the grant)."""


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

    @classmethod
    def credits(cls, kind: AccountKind, programme: BudgetProgramme, year: int,
                departement: str | None = None) -> Account:
        """An account of a programme's credits of ``year`` (of a département's, if any)."""
        return cls(kind, f"{programme.value}/{year}"
                   + (f"/{departement}" if departement is not None else ""))

    def __str__(self) -> str:
        return f"{self.kind.value} {self.ref}"

    @property
    def may_go_negative(self) -> bool:
        return self.kind in (AccountKind.BUDGET, AccountKind.AE_SOURCE, AccountKind.CP_SOURCE)


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
    VOTE = "vote"              # ae_source → ae_open, cp_source → cp_open
    UNVOTE = "unvote"          # ae_open → ae_source, cp_open → cp_source (an amendment)
    DELEGATE = "delegate"      # ae_open → ae_delegated, cp_open → cp_delegated
    ENGAGE = "engage"          # ae_delegated → ae_engaged (a commitment consumes AE)
    DISENGAGE = "disengage"    # ae_engaged → ae_delegated (a cancelled unpaid part)
    SPEND = "spend"            # cp_delegated → cp_spent (a payment consumes CP)
    LAPSE = "lapse"            # ae/cp open or delegated → lapsed (the year's close)
    ORDER = "order"            # paid → receivable (a recovery order: owed back, no longer kept)
    RECOVER = "recover"        # receivable → budget (repaid: back to the programme's budget)
    USE = "use"                # fonds → fonds_spent (the collège paid from its fonds)


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
    MovementKind.USE: (AccountKind.FONDS, AccountKind.FONDS_SPENT),
}
_A, _K = AccountKind, MovementKind
_ALSO: dict[MovementKind, tuple[tuple[AccountKind, AccountKind], ...]] = {
    _K.VOTE: ((_A.AE_SOURCE, _A.AE_OPEN), (_A.CP_SOURCE, _A.CP_OPEN)),
    _K.UNVOTE: ((_A.AE_OPEN, _A.AE_SOURCE), (_A.CP_OPEN, _A.CP_SOURCE)),
    _K.DELEGATE: ((_A.AE_OPEN, _A.AE_DELEGATED), (_A.CP_OPEN, _A.CP_DELEGATED)),
    _K.ENGAGE: ((_A.AE_DELEGATED, _A.AE_ENGAGED),),
    _K.DISENGAGE: ((_A.AE_ENGAGED, _A.AE_DELEGATED),),
    _K.SPEND: ((_A.CP_DELEGATED, _A.CP_SPENT),),
    _K.LAPSE: ((_A.AE_OPEN, _A.AE_LAPSED), (_A.AE_DELEGATED, _A.AE_LAPSED),
               (_A.CP_OPEN, _A.CP_LAPSED), (_A.CP_DELEGATED, _A.CP_LAPSED)),
}
"""The credits' movements: each kind moves AE to AE or CP to CP, never across."""


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
        allowed = (_ALLOWED[self.kind],) if self.kind in _ALLOWED else _ALSO[self.kind]
        if (self.debit.kind, self.credit.kind) not in allowed:
            raise ValueError(f"{self.kind.value} moves money from " + " or ".join(
                f"{d.value} to {c.value}" for d, c in allowed)
                + f", not from {self.debit} to {self.credit}")


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
    AccountKind.AE_OPEN: "not enough AE left undelegated",
    AccountKind.CP_OPEN: "not enough CP left undelegated",
    AccountKind.AE_DELEGATED: "not enough AE delegated to the département",
    AccountKind.CP_DELEGATED: "not enough CP delegated to the département",
    AccountKind.AE_ENGAGED: "not that much AE engaged",
    AccountKind.FONDS: "not that much left in the fonds de la cité",
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
          | RecoveryReceived | AllocationRevised | CreditsVoted | CreditsDelegated
          | BudgetYearClosed | FondsUsed | PastSpendingImported)
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
            return [_revised(event)]
        case CreditsVoted() | CreditsDelegated() | BudgetYearClosed():
            return _credits_moved(event)
        case RecoveryOrdered() | RecoveryReceived():
            return [_recovery(event)]
        case PastSpendingImported():
            return _past(event)
        case FondsUsed():
            return [Movement(MovementKind.USE, Account.of(AccountKind.FONDS, event.grant_id),
                             Account.of(AccountKind.FONDS_SPENT, event.grant_id), d.amount)
                    for d in event.drawn]
    assert_never(event)


def _recovery(event: RecoveryOrdered | RecoveryReceived) -> Movement:
    """An order to repay takes what the payee kept for a receivable; a receipt gives it back
    to the programme's budget."""
    if isinstance(event, RecoveryOrdered):
        return Movement(MovementKind.ORDER, Account.of(AccountKind.PAID, event.payee_partner_id),
                        _receivable(event.recovery_id), event.amount)
    return Movement(MovementKind.RECOVER, _receivable(event.recovery_id),
                    Account.budget(event.programme), event.amount)


def past_commitment(allocation_id: UUID) -> UUID:
    """The commitment standing for what a dotation committed before the platform."""
    return uuid5(allocation_id, "committed before the platform")


def _past(event: PastSpendingImported) -> list[Movement]:
    """A past year taken over: what it committed is unfrozen first, if the label's end froze
    it (it was committed before: the freeze took too much), then committed from the
    allocation; paid to the past's operators (one account per dotation: they are not known
    by name)."""
    allocation, past = _allocation(event.allocation_id), _commitment(
        past_commitment(event.allocation_id))
    moves = [(MovementKind.UNFREEZE, _frozen(event.allocation_id), allocation,
              event.from_frozen),
             (MovementKind.COMMIT, allocation, past, event.committed),
             (MovementKind.PAY, past, Account(AccountKind.PAID, f"past/{event.allocation_id}"),
              event.paid)]
    return [Movement(kind, debit, credit, amount) for kind, debit, credit, amount in moves
            if amount]


def _revised(event: AllocationRevised) -> Movement:
    """Raised: the difference comes from the envelope; lowered: it goes back to it."""
    if event.amount > event.previous_amount:
        return Movement(MovementKind.REVISE_UP, _envelope(event.envelope_id),
                        _allocation(event.allocation_id), event.amount - event.previous_amount)
    return Movement(MovementKind.REVISE_DOWN, _allocation(event.allocation_id),
                    _envelope(event.envelope_id), event.previous_amount - event.amount)


def _credits_moved(event: CreditsVoted | CreditsDelegated | BudgetYearClosed
                   ) -> list[Movement]:
    """The credits' movements: voted (or amended), delegated, lapsed at the close."""
    match event:
        case CreditsVoted():
            return _voted(event)
        case CreditsDelegated():
            return [Movement(MovementKind.DELEGATE,
                             Account.credits(source, event.programme, event.year),
                             Account.credits(target, event.programme, event.year,
                                             event.departement), amount)
                    for source, target, amount in (
                        (AccountKind.AE_OPEN, AccountKind.AE_DELEGATED, event.ae),
                        (AccountKind.CP_OPEN, AccountKind.CP_DELEGATED, event.cp)) if amount]
    return _lapsed(event)


def _voted(event: CreditsVoted) -> list[Movement]:
    """New totals: what rose comes from the programme's source, what fell returns to it."""
    found = []
    for unit, now, before in ((("ae_source", "ae_open"), event.ae, event.previous_ae),
                              (("cp_source", "cp_open"), event.cp, event.previous_cp)):
        source = Account(AccountKind(unit[0]), event.programme.value)
        opened = Account.credits(AccountKind(unit[1]), event.programme, event.year)
        if now > before:
            found.append(Movement(MovementKind.VOTE, source, opened, now - before))
        elif now < before:
            found.append(Movement(MovementKind.UNVOTE, opened, source, before - now))
    return found


def _lapsed(event: BudgetYearClosed) -> list[Movement]:
    """What each département did not use, then what was never delegated, lapses."""
    p, y = event.programme, event.year
    ae_lapsed, cp_lapsed = (Account.credits(k, p, y) for k in (AccountKind.AE_LAPSED,
                                                               AccountKind.CP_LAPSED))
    found = []
    for d in event.delegations:
        if d.lapsed_ae:
            found.append(Movement(MovementKind.LAPSE, Account.credits(
                AccountKind.AE_DELEGATED, p, y, d.departement), ae_lapsed, d.lapsed_ae))
        if d.lapsed_cp:
            found.append(Movement(MovementKind.LAPSE, Account.credits(
                AccountKind.CP_DELEGATED, p, y, d.departement), cp_lapsed, d.lapsed_cp))
    open_ae = event.lapsed_ae - sum(d.lapsed_ae for d in event.delegations)
    open_cp = event.lapsed_cp - sum(d.lapsed_cp for d in event.delegations)
    if open_ae:
        found.append(Movement(MovementKind.LAPSE, Account.credits(AccountKind.AE_OPEN, p, y),
                              ae_lapsed, open_ae))
    if open_cp:
        found.append(Movement(MovementKind.LAPSE, Account.credits(AccountKind.CP_OPEN, p, y),
                              cp_lapsed, open_cp))
    return found


def engagement(committed: FundsCommitted, programme: BudgetProgramme, year: int,
               departement: str) -> Movement:
    """The AE a commitment consumes: of its allocation's programme and year, delegated to
    its cité's département."""
    return Movement(MovementKind.ENGAGE, Account.credits(
        AccountKind.AE_DELEGATED, programme, year, departement),
        Account.of(AccountKind.AE_ENGAGED, committed.commitment_id), committed.amount)


def disengagement(cancelled: CommitmentCancelled, programme: BudgetProgramme, year: int,
                  departement: str, *, closed: bool) -> list[Movement]:
    """A cancelled commitment's unpaid part gives its AE back to the département — where,
    its year closed, they lapse at once."""
    if not cancelled.returned:
        return []
    delegated = Account.credits(AccountKind.AE_DELEGATED, programme, year, departement)
    back = [Movement(MovementKind.DISENGAGE, Account.of(
        AccountKind.AE_ENGAGED, cancelled.commitment_id), delegated, cancelled.returned)]
    if closed:
        back.append(Movement(MovementKind.LAPSE, delegated, Account.credits(
            AccountKind.AE_LAPSED, programme, year), cancelled.returned))
    return back


def spending(paid: PaymentMade, programme: BudgetProgramme, year: int, departement: str
             ) -> Movement:
    """The CP a payment consumes: of its commitment's programme, of the year it is made,
    delegated to its cité's département."""
    return Movement(MovementKind.SPEND, Account.credits(
        AccountKind.CP_DELEGATED, programme, year, departement), Account.credits(
        AccountKind.CP_SPENT, programme, year, departement), paid.amount)


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
