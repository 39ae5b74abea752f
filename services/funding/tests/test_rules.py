"""The funding domain's rules, pure (no database, no clock): dotation rules as data, the
envelope amendment, and a cité's money through freeze, unfreeze, release, commitment,
payment and cancellation."""

from __future__ import annotations

from datetime import UTC, date, datetime
from uuid import uuid4

import pytest
from funding.domain.cite import AllocationFunds, Cite, CiteStatus, Commitment, FundsLocked
from funding.domain.envelope import DotationRule, Envelope, default_rule
from funding.domain.ledger import AccountKind, MovementKind
from pydantic import ValidationError

from cites_contracts.types import BudgetProgramme, DotationRuleKind, FreezeReason
from cites_runtime.errors import Conflict

AT = datetime(2025, 3, 10, 9, 30, tzinfo=UTC)


def cite(status: CiteStatus = CiteStatus.ACTIVE) -> Cite:
    return Cite("cite-001", "Cité", "2019", "93", date(2019, 9, 5), date(2022, 9, 4), status,
                300_000_00, 5200, "0930001A")


def funds(uncommitted: int = 200_000_00, frozen: int = 0) -> AllocationFunds:
    return AllocationFunds(uuid4(), uuid4(), BudgetProgramme.P147, 2019, uncommitted, frozen)


@pytest.mark.parametrize(("rule", "requested", "population", "amount", "basis"), [
    (default_rule(BudgetProgramme.P147), 300_000_00, 0, 300_000_00, "requested 300"),
    (default_rule(BudgetProgramme.P147), 50_000_00, 0, 120_000_00, "within [120"),
    (default_rule(BudgetProgramme.P147), 900_000_00, 0, 650_000_00, "650\u202f000,00 €]"),
    (default_rule(BudgetProgramme.P147), None, 0, 250_000_00, "none requested"),
    (DotationRule(kind=DotationRuleKind.FIXED, amount=100_000_00), 999, 0, 100_000_00,
     "fixed"),
    (DotationRule(kind=DotationRuleKind.POPULATION, per_inhabitant=40_00, floor=120_000_00,
                  cap=650_000_00), None, 7000, 280_000_00, "× 7000 inhabitants"),
])
def test_a_dotation_follows_its_envelopes_rule_and_says_how(
    rule: DotationRule, requested: int | None, population: int, amount: int, basis: str,
) -> None:
    got, said = rule.dotation(requested=requested, population=population)
    assert got == amount and basis in said


def test_p230_pays_no_dotation_by_default() -> None:
    assert not default_rule(BudgetProgramme.P230).pays_dotations


@pytest.mark.parametrize("rule", [
    {"kind": "fixed"}, {"kind": "requested_capped", "floor": 10, "cap": 5, "amount": 7},
    {"kind": "requested_capped", "floor": 10, "cap": 50, "amount": 70},
    {"kind": "population", "floor": 10, "cap": 50}, {"kind": "manual"}, {"kind": "lottery"},
])
def test_an_incoherent_rule_is_refused(rule: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        DotationRule.model_validate(rule)


def test_amending_an_envelope_moves_only_the_difference() -> None:
    e = Envelope(uuid4(), "E", BudgetProgramme.P147, (2025,), ("w",), 1_000, default_rule(
        BudgetProgramme.P147), 15_000_00, AT)
    _, up, _ = e.amend(1_500, "plus", AT)
    _, down, _ = e.amend(400, "moins", AT)
    same = e.amend(1_000, "rien", AT)
    assert (up and up.kind, up and up.amount) == (MovementKind.OPEN, 500)
    assert (down and down.kind, down and down.amount) == (MovementKind.REDUCE, 600)
    assert same[1:] == (None, None)


def test_a_freeze_takes_every_uncommitted_cent_and_reinstatement_gives_it_back() -> None:
    a, b = funds(200_000_00), funds(0)
    after, movements, event = cite().freeze(CiteStatus.SUSPENDED, [a, b], AT)
    assert after.status is CiteStatus.SUSPENDED
    assert [(m.kind, m.amount, m.credit.kind) for m in movements] == [
        (MovementKind.FREEZE, 200_000_00, AccountKind.FROZEN)]
    assert event is not None and event.reason is FreezeReason.LABEL_SUSPENDED
    thawed, back, unfrozen = after.unfreeze([funds(0, 200_000_00)], AT)
    assert thawed.status is CiteStatus.ACTIVE and back[0].kind is MovementKind.UNFREEZE
    assert unfrozen is not None and unfrozen.unfrozen[0].amount == 200_000_00


def test_an_ended_cite_stays_ended() -> None:
    ended = cite(CiteStatus.WITHDRAWN)
    assert ended.freeze(CiteStatus.SUSPENDED, [funds()], AT) == (ended, [], None)
    assert ended.unfreeze([funds(0, 5)], AT) == (ended, [], None)
    assert ended.years_due(date(2021, 1, 1)) == []


def test_only_an_ended_cites_frozen_money_is_released_to_its_envelope() -> None:
    with pytest.raises(Conflict, match="unfrozen on reinstatement"):
        cite(CiteStatus.SUSPENDED).release([funds(0, 10)], "m", AT)
    a = funds(0, 10)
    movements, event = cite(CiteStatus.EXPIRED).release([a], "m", AT)
    assert movements[0].credit.ref == str(a.envelope_id)
    assert event is not None and event.released[0].amount == 10
    assert cite(CiteStatus.EXPIRED).release([funds(0, 0)], "m", AT) == ([], None)


def test_a_cite_is_funded_for_the_years_its_label_touches_up_to_today() -> None:
    assert cite().years_due(date(2019, 9, 5)) == [2019]
    assert cite().years_due(date(2021, 1, 1)) == [2019, 2020, 2021]
    assert cite().years_due(date(2030, 1, 1)) == [2019, 2020, 2021, 2022]
    assert cite(CiteStatus.SUSPENDED).years_due(date(2021, 1, 1)) == []


def test_nothing_is_committed_from_frozen_money_nor_to_a_stranger() -> None:
    kwargs = {"commitment_id": uuid4(), "operator": uuid4(), "action_title": "A",
              "amount": 1, "at": AT}
    with pytest.raises(FundsLocked, match="until it is reinstated"):
        cite(CiteStatus.SUSPENDED).commit(funds(), operator_is_member=True, **kwargs)
    with pytest.raises(Conflict, match="not a member"):
        cite().commit(funds(), operator_is_member=False, **kwargs)
    movement, event = cite().commit(funds(), operator_is_member=True, **kwargs)
    assert movement.kind is MovementKind.COMMIT and event.amount == 1


def test_a_cancelled_commitment_pays_nothing_more_and_cancels_once() -> None:
    c = Commitment(uuid4(), "cite-001", uuid4(), uuid4(), "A", 100, 60, False, AT)
    movements, events = cite().cancel(c, "m", AT)
    assert [(m.kind, m.amount) for m in movements] == [(MovementKind.CANCEL, 60)]
    assert [type(e).__name__ for e in events] == ["CommitmentCancelled"]
    done = Commitment(c.commitment_id, c.cite_id, c.allocation_id, c.operator_partner_id,
                      "A", 100, 0, True, AT)
    assert cite().cancel(done, "m", AT) == ([], [])
    with pytest.raises(Conflict, match="cancelled"):
        done.pay(uuid4(), 1, AT)
