"""The ledger's rules, pure: double entry, and no account but a budget below zero."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from uuid import UUID, uuid4

import pytest
from funding.domain.ledger import (
    Account,
    AccountKind,
    LimitExceeded,
    Movement,
    MovementKind,
    apply,
    balances,
    euros,
    movements,
)

from cites_contracts.events.funding import (
    CommitmentCancelled,
    EnvelopeAmended,
    EnvelopeOpened,
    FondsDeLaCiteGranted,
    FrozenAllocation,
    FundsAllocated,
    FundsCommitted,
    FundsFrozen,
    FundsReleased,
    FundsUnfrozen,
    PaymentMade,
    ProgrammeAmount,
    ReleasedAllocation,
)
from cites_contracts.types import BudgetProgramme, FreezeReason

P147 = Account.budget(BudgetProgramme.P147)
ENVELOPE = Account.of(AccountKind.ENVELOPE, uuid4())
ALLOCATION = Account.of(AccountKind.ALLOCATION, uuid4())
COMMITMENT = Account.of(AccountKind.COMMITMENT, uuid4())
FROZEN = Account.of(AccountKind.FROZEN, uuid4())
PAYEE = Account.of(AccountKind.PAID, uuid4())


def flow() -> list[Movement]:
    return [Movement(MovementKind.OPEN, P147, ENVELOPE, 34_000_000_00),
            Movement(MovementKind.ALLOCATE, ENVELOPE, ALLOCATION, 350_000_00),
            Movement(MovementKind.COMMIT, ALLOCATION, COMMITMENT, 120_000_00),
            Movement(MovementKind.PAY, COMMITMENT, PAYEE, 60_000_00)]


def test_every_movement_debits_one_account_and_credits_another_so_the_ledger_balances() -> None:
    after = apply({}, flow())
    assert sum(after.values()) == 0
    assert after == balances(flow())  # every balance is recomputed from the movements
    assert (after[ENVELOPE], after[ALLOCATION], after[COMMITMENT], after[PAYEE]) == (
        33_650_000_00, 230_000_00, 60_000_00, 60_000_00)


@pytest.mark.parametrize(("movement", "message"), [
    (Movement(MovementKind.ALLOCATE, ENVELOPE, ALLOCATION, 34_000_000_01),
     f"not enough left in the envelope: {euros(34_000_000_01)} requested, envelope "),
    (Movement(MovementKind.COMMIT, ALLOCATION, COMMITMENT, 230_000_01),
     f"not enough uncommitted in the allocation: {euros(230_000_01)} requested"),
    (Movement(MovementKind.PAY, COMMITMENT, PAYEE, 60_000_01),
     f"not enough unpaid on the commitment: {euros(60_000_01)} requested"),
])
def test_no_limit_is_exceeded_and_a_refusal_says_which_and_by_how_much(
    movement: Movement, message: str,
) -> None:
    before = apply({}, flow()) if movement.kind is not MovementKind.ALLOCATE else apply(
        {}, flow()[:1])
    with pytest.raises(LimitExceeded) as refused:
        apply(before, [movement])
    assert message in refused.value.message
    assert refused.value.exceeded_by == 1
    assert "0,01 € over" in refused.value.message


def test_a_refused_batch_changes_nothing() -> None:
    before = apply({}, flow())
    with pytest.raises(LimitExceeded):
        apply(before, [Movement(MovementKind.COMMIT, ALLOCATION, COMMITMENT, 100_000_00),
                       Movement(MovementKind.COMMIT, ALLOCATION, COMMITMENT, 200_000_00)])
    assert before == apply({}, flow())


def test_freezing_unfreezing_and_releasing_move_the_uncommitted_part() -> None:
    after = apply(apply({}, flow()), [
        Movement(MovementKind.FREEZE, ALLOCATION, FROZEN, 230_000_00)])
    with pytest.raises(LimitExceeded, match="uncommitted in the allocation"):
        apply(after, [Movement(MovementKind.COMMIT, ALLOCATION, COMMITMENT, 1)])
    unfrozen = apply(after, [Movement(MovementKind.UNFREEZE, FROZEN, ALLOCATION, 230_000_00)])
    released = apply(after, [Movement(MovementKind.RELEASE, FROZEN, ENVELOPE, 230_000_00)])
    assert unfrozen[ALLOCATION] == 230_000_00 and unfrozen[FROZEN] == 0
    assert released[ENVELOPE] == 33_880_000_00 and sum(released.values()) == 0


def test_money_moves_only_along_the_programme_s_flow_in_whole_cents() -> None:
    with pytest.raises(ValueError, match="allocate moves money from envelope to allocation"):
        Movement(MovementKind.ALLOCATE, P147, ALLOCATION, 1)
    with pytest.raises(ValueError, match="positive"):
        Movement(MovementKind.PAY, COMMITMENT, PAYEE, 0)
    with pytest.raises(TypeError, match="integer cents"):
        Movement(MovementKind.PAY, COMMITMENT, PAYEE, 12.5)  # type: ignore[arg-type]


def test_whatever_is_asked_in_whatever_order_no_account_but_the_budget_goes_negative() -> None:
    rng = random.Random(2019)
    state = apply({}, flow()[:1])
    allocations = [Account.of(AccountKind.ALLOCATION, uuid4()) for _ in range(5)]
    commitments = [Account.of(AccountKind.COMMITMENT, uuid4()) for _ in range(5)]
    refusals = 0
    for _ in range(2000):
        kind = rng.choice([MovementKind.ALLOCATE, MovementKind.COMMIT, MovementKind.PAY])
        amount = rng.randint(1, 20_000_000_00)
        debit, credit = {
            MovementKind.ALLOCATE: (ENVELOPE, rng.choice(allocations)),
            MovementKind.COMMIT: (rng.choice(allocations), rng.choice(commitments)),
            MovementKind.PAY: (rng.choice(commitments), PAYEE),
        }[kind]
        holds = state.get(debit, 0)
        if amount > holds:
            with pytest.raises(LimitExceeded) as refused:
                apply(state, [Movement(kind, debit, credit, amount)])
            refusals += 1
            assert (refused.value.holds, refused.value.exceeded_by) == (holds, amount - holds)
        else:
            state = apply(state, [Movement(kind, debit, credit, amount)])
        assert sum(state.values()) == 0
        assert all(v >= 0 for a, v in state.items() if a.kind is not AccountKind.BUDGET)
    assert 0 < refusals < 2000  # both outcomes were exercised


def test_each_event_records_the_movements_it_says() -> None:
    at, cite = datetime(2025, 3, 10, tzinfo=UTC), "cite-001"
    e147, e230, allocation, commitment, payee, grant = (uuid4() for _ in range(6))

    def ref(a: Account) -> tuple[AccountKind, UUID | str]:
        return a.kind, (a.ref if a.kind is AccountKind.BUDGET else UUID(a.ref))

    said = [
        movements(EnvelopeOpened(envelope_id=e147, name="E", programme=BudgetProgramme.P147,
                                 budget_years=(2025,), wave_ids=("w",), amount=1_000_00,
                                 opened_at=at)),
        movements(EnvelopeAmended(envelope_id=e147, previous_amount=1_000_00, amount=900_00,
                                  motive="m", amended_at=at), programme=BudgetProgramme.P147),
        movements(FundsAllocated(cite_id=cite, allocation_id=allocation, envelope_id=e147,
                                 programme=BudgetProgramme.P147, year=2025, amount=500_00,
                                 envelope_remaining=400_00, allocated_at=at)),
        movements(FondsDeLaCiteGranted(
            cite_id=cite, grant_id=grant, year=2025, lead_college_uai="0930001A",
            contributions=(ProgrammeAmount(programme=BudgetProgramme.P147, amount=100_00),),
            granted_at=at), paid_from={BudgetProgramme.P147: e147,
                                       BudgetProgramme.P230: e230}),
        movements(FundsCommitted(cite_id=cite, commitment_id=commitment,
                                 allocation_id=allocation, operator_partner_id=payee,
                                 action_title="A", amount=300_00, committed_at=at)),
        movements(PaymentMade(cite_id=cite, payment_id=uuid4(), commitment_id=commitment,
                              allocation_id=allocation, payee_partner_id=payee, amount=100_00,
                              paid_at=at)),
        movements(CommitmentCancelled(cite_id=cite, commitment_id=commitment,
                                      allocation_id=allocation, returned=200_00, motive="m",
                                      cancelled_at=at)),
        movements(FundsFrozen(cite_id=cite, reason=FreezeReason.LABEL_SUSPENDED, frozen=(
            FrozenAllocation(allocation_id=allocation, amount=400_00),), frozen_at=at)),
        movements(FundsUnfrozen(cite_id=cite, unfrozen=(
            FrozenAllocation(allocation_id=allocation, amount=400_00),), unfrozen_at=at)),
        movements(FundsFrozen(cite_id=cite, reason=FreezeReason.LABEL_WITHDRAWN, frozen=(
            FrozenAllocation(allocation_id=allocation, amount=400_00),), frozen_at=at)),
        movements(FundsReleased(cite_id=cite, released=(ReleasedAllocation(
            allocation_id=allocation, envelope_id=e147, amount=400_00),), motive="m",
            released_at=at)),
    ]

    budget, envelope = (AccountKind.BUDGET, "P147"), (AccountKind.ENVELOPE, e147)
    allocated, frozen = (AccountKind.ALLOCATION, allocation), (AccountKind.FROZEN, allocation)
    committed = (AccountKind.COMMITMENT, commitment)
    assert [[(m.kind, ref(m.debit), ref(m.credit), m.amount) for m in ms] for ms in said] == [
        [(MovementKind.OPEN, budget, envelope, 1_000_00)],
        [(MovementKind.REDUCE, envelope, budget, 100_00)],
        [(MovementKind.ALLOCATE, envelope, allocated, 500_00)],
        [(MovementKind.GRANT, envelope, (AccountKind.FONDS, grant), 100_00)],
        [(MovementKind.COMMIT, allocated, committed, 300_00)],
        [(MovementKind.PAY, committed, (AccountKind.PAID, payee), 100_00)],
        [(MovementKind.CANCEL, committed, allocated, 200_00)],
        [(MovementKind.FREEZE, allocated, frozen, 400_00)],
        [(MovementKind.UNFREEZE, frozen, allocated, 400_00)],
        [(MovementKind.FREEZE, allocated, frozen, 400_00)],
        [(MovementKind.RELEASE, frozen, envelope, 400_00)]]
    after = apply({}, [m for ms in said for m in ms])  # the story fits: nothing refused
    assert sum(after.values()) == 0
    assert after[Account.of(AccountKind.ENVELOPE, e147)] == 900_00 - 500_00 - 100_00 + 400_00
    assert movements(CommitmentCancelled(
        cite_id=cite, commitment_id=commitment, allocation_id=allocation, returned=0,
        motive="m", cancelled_at=at)) == []  # all paid: nothing comes back


def test_amounts_are_shown_the_french_way() -> None:
    assert euros(123_456_789) == "1\u202f234\u202f567,89 €"
    assert euros(5) == "0,05 €"
