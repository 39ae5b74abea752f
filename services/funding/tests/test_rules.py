"""The funding domain's rules, pure (no database, no clock): dotation rules as data, the
envelope amendment, and a cité's money through freeze, unfreeze, release, commitment,
payment and cancellation."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any
from uuid import uuid4

import pytest
from funding.domain import fonds
from funding.domain.cite import (
    Allocation,
    AllocationFunds,
    Cite,
    CiteStatus,
    Commitment,
    FundsLocked,
    Paperwork,
)
from funding.domain.envelope import BudgetEnvelope, DotationRule, default_rule
from funding.domain.ledger import AccountKind, LimitExceeded, MovementKind, movements
from pydantic import ValidationError

from cites_contracts.events.funding import AllocationRefused, FundsAllocated, LegalAct
from cites_contracts.types import (
    AllocationRefusalReason,
    BudgetProgramme,
    DotationRuleKind,
    FreezeReason,
)
from cites_runtime.errors import Conflict

AT = datetime(2025, 3, 10, 9, 30, tzinfo=UTC)
PAPERWORK = Paperwork(LegalAct(kind="arrete", reference="A-1", signed_on=date(2019, 3, 1)),
                      None, date(2020, 6, 30))


def cite(status: CiteStatus = CiteStatus.ACTIVE, start: date = date(2019, 1, 1)) -> Cite:
    return Cite("cite-001", "Cité", "2019", "93", start, date(start.year + 2, 12, 31), status,
                300_000_00, 5200, "0930001A")


def funds(uncommitted: int = 200_000_00, frozen: int = 0) -> AllocationFunds:
    return AllocationFunds(uuid4(), uuid4(), BudgetProgramme.P147, 2019, uncommitted, frozen)


def allocation() -> Allocation:
    return Allocation(uuid4(), "cite-001", uuid4(), BudgetProgramme.P147, 2019, 200_000_00,
                      "requested_capped", "requested 300 000,00 €", AT)


def envelope(amount: int = 1_000, remaining: int | None = None,
             programme: BudgetProgramme = BudgetProgramme.P147) -> BudgetEnvelope:
    return BudgetEnvelope(uuid4(), "E", programme, (2019,), ("2019",), amount,
                    default_rule(programme), 15_000_00, AT,
                    amount if remaining is None else remaining)


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
    raised, lowered, same = envelope(), envelope(), envelope()
    up = raised.amend(1_500, "plus", AT)
    down = lowered.amend(400, "moins", AT)
    assert up is not None and down is not None
    p147 = BudgetProgramme.P147
    assert [(m.kind, m.amount) for m in movements(up, programme=p147)] == [
        (MovementKind.OPEN, 500)]
    assert [(m.kind, m.amount) for m in movements(down, programme=p147)] == [
        (MovementKind.REDUCE, 600)]
    assert (raised.amount, raised.remaining, lowered.amount, lowered.remaining) == (
        1_500, 1_500, 400, 400)
    assert same.amend(1_000, "rien", AT) is None


def test_an_envelope_never_shrinks_below_what_it_has_not_allocated() -> None:
    e = envelope(1_000, remaining=300)
    with pytest.raises(LimitExceeded, match="not enough left in the envelope") as refused:
        e.amend(600, "moins", AT)
    assert (refused.value.holds, refused.value.exceeded_by) == (300, 100)
    assert (e.amount, e.remaining) == (1_000, 300)


def test_a_freeze_takes_every_uncommitted_cent_and_reinstatement_gives_it_back() -> None:
    c, a, b = cite(), funds(200_000_00), funds(0)
    event = c.freeze(CiteStatus.SUSPENDED, [a, b], AT)
    assert c.status is CiteStatus.SUSPENDED
    assert event is not None and event.reason is FreezeReason.LABEL_SUSPENDED
    assert [(m.kind, m.amount, m.credit.kind) for m in movements(event)] == [
        (MovementKind.FREEZE, 200_000_00, AccountKind.FROZEN)]
    unfrozen = c.unfreeze([funds(0, 200_000_00)], AT)
    assert c.status is CiteStatus.ACTIVE
    assert unfrozen is not None and unfrozen.unfrozen[0].amount == 200_000_00
    assert movements(unfrozen)[0].kind is MovementKind.UNFREEZE


def test_an_ended_cite_stays_ended() -> None:
    ended = cite(CiteStatus.WITHDRAWN)
    assert ended.freeze(CiteStatus.SUSPENDED, [funds()], AT) is None
    assert ended.unfreeze([funds(0, 5)], AT) is None
    assert ended.status is CiteStatus.WITHDRAWN
    assert ended.years_due(date(2021, 1, 1)) == []


def test_only_an_ended_cites_frozen_money_is_released_to_its_envelope() -> None:
    with pytest.raises(Conflict, match="unfrozen on reinstatement"):
        cite(CiteStatus.SUSPENDED).release([funds(0, 10)], "m", AT)
    a = funds(0, 10)
    event = cite(CiteStatus.EXPIRED).release([a], "m", AT)
    assert event is not None and event.released[0].amount == 10
    assert movements(event)[0].credit.ref == str(a.envelope_id)
    assert cite(CiteStatus.EXPIRED).release([funds(0, 0)], "m", AT) is None


def test_a_cite_is_funded_for_the_years_its_label_touches_up_to_today() -> None:
    labelled = cite(start=date(2019, 9, 5))  # to 2021-12-31
    assert labelled.years_due(date(2019, 9, 5)) == [2019]
    assert labelled.years_due(date(2021, 1, 1)) == [2019, 2020, 2021]
    assert labelled.years_due(date(2030, 1, 1)) == [2019, 2020, 2021]
    assert cite(CiteStatus.SUSPENDED).years_due(date(2021, 1, 1)) == []


def test_nothing_is_committed_from_frozen_money_nor_to_a_stranger() -> None:
    kwargs: dict[str, Any] = {"commitment_id": uuid4(), "operator": uuid4(), "action_title": "A",
              "amount": 1, "at": AT, "paperwork": PAPERWORK}
    with pytest.raises(FundsLocked, match="until it is reinstated"):
        Commitment.commit(cite(CiteStatus.SUSPENDED), allocation(), operator_is_member=True,
                          **kwargs)
    with pytest.raises(Conflict, match="not a member"):
        Commitment.commit(cite(), allocation(), operator_is_member=False, **kwargs)
    commitment, event = Commitment.commit(cite(), allocation(), operator_is_member=True,
                                          **kwargs)
    assert movements(event)[0].kind is MovementKind.COMMIT and event.amount == 1
    assert (commitment.amount, commitment.unpaid) == (1, 1)


def test_a_commitment_pays_no_more_than_it_has_not_paid() -> None:
    c = Commitment(uuid4(), "cite-001", uuid4(), uuid4(), "A", 100, 60, False, AT)
    paid = c.pay(uuid4(), 50, AT)
    assert (paid.amount, c.unpaid) == (50, 10)
    assert [(m.kind, m.amount) for m in movements(paid)] == [(MovementKind.PAY, 50)]
    with pytest.raises(LimitExceeded, match="not enough unpaid on the commitment"):
        c.pay(uuid4(), 11, AT)
    assert c.unpaid == 10


def test_a_cancelled_commitment_pays_nothing_more_and_cancels_once() -> None:
    c = Commitment(uuid4(), "cite-001", uuid4(), uuid4(), "A", 100, 60, False, AT)
    events = c.cancel(cite(), "m", AT)
    assert [(m.kind, m.amount) for e in events for m in movements(e)] == [
        (MovementKind.CANCEL, 60)]
    assert [type(e).__name__ for e in events] == ["CommitmentCancelled"]
    assert (c.cancelled, c.unpaid) == (True, 0)
    assert c.cancel(cite(), "m", AT) == []
    with pytest.raises(Conflict, match="cancelled"):
        c.pay(uuid4(), 1, AT)


def test_a_commitment_cancelled_while_the_cite_is_frozen_freezes_what_it_gives_back() -> None:
    c = Commitment(uuid4(), "cite-001", uuid4(), uuid4(), "A", 100, 60, False, AT)
    events = c.cancel(cite(CiteStatus.EXPIRED), "m", AT)
    assert [type(e).__name__ for e in events] == ["CommitmentCancelled", "FundsFrozen"]
    assert [(m.kind, m.amount) for e in events for m in movements(e)] == [
        (MovementKind.CANCEL, 60), (MovementKind.FREEZE, 60)]


def test_a_dotation_comes_from_what_the_envelope_still_holds_or_is_refused() -> None:
    e = envelope(400_000_00)
    first = e.dotation(cite(), 2019, uuid4(), AT)
    assert isinstance(first, FundsAllocated)
    assert (first.amount, first.envelope_remaining, e.remaining) == (
        300_000_00, 100_000_00, 100_000_00)
    refused = e.dotation(cite(), 2020, uuid4(), AT)
    assert isinstance(refused, AllocationRefused)
    assert (refused.reason, refused.requested, refused.available) == (
        AllocationRefusalReason.ENVELOPE_EXHAUSTED, 300_000_00, 100_000_00)
    assert e.remaining == 100_000_00


@pytest.mark.parametrize(("start", "year", "share"), [
    (date(2019, 1, 1), 2019, (365, 365)),     # a calendar-year label: whole
    (date(2019, 9, 5), 2019, (118, 365)),     # from 5 September
    (date(2019, 9, 5), 2020, (366, 366)),     # the next years whole (2020: leap)
    (date(2024, 12, 31), 2024, (1, 366)),
])
def test_the_first_years_dotation_is_prorated_from_the_label_s_start(
        start: date, year: int, share: tuple[int, int]) -> None:
    assert cite(start=start).days_labelled(year) == share
    allocated = envelope(10_000_000_00).dotation(cite(start=start), year, uuid4(), AT)
    assert isinstance(allocated, FundsAllocated)
    assert allocated.amount == 300_000_00 * share[0] // share[1] // 100 * 100


def test_a_manual_allocation_fits_the_envelope_the_wave_the_year_and_the_label() -> None:
    e = envelope(100_000_00)
    with pytest.raises(Conflict, match="funds waves 2019 in 2019"):
        e.allocate(cite(), 2020, 1_00, "Rallonge", uuid4(), AT)
    with pytest.raises(FundsLocked):
        e.allocate(cite(CiteStatus.SUSPENDED), 2019, 1_00, "Rallonge", uuid4(), AT)
    with pytest.raises(LimitExceeded, match="0,01 € over"):
        e.allocate(cite(), 2019, 100_000_01, "Rallonge", uuid4(), AT)
    allocated = e.allocate(cite(), 2019, 100_000_00, "Rallonge", uuid4(), AT)
    assert (allocated.dotation_rule, allocated.envelope_remaining) == (
        DotationRuleKind.MANUAL, 0)


def test_the_fonds_takes_each_envelopes_share_or_names_the_first_one_short() -> None:
    p147, p230 = envelope(1_000_000_00), envelope(10_000_00, programme=BudgetProgramme.P230)
    refused = fonds.grant(cite(), 2019, [p230, p147], uuid4(), None, AT)
    assert isinstance(refused, AllocationRefused)
    assert (refused.programme, refused.envelope_id, refused.available) == (
        BudgetProgramme.P230, p230.id, 10_000_00)
    assert (p147.remaining, p230.remaining) == (1_000_000_00, 10_000_00)  # nothing taken
    p230.remaining = 15_000_00
    lead = (uuid4(), "0930002B")
    granted = fonds.grant(cite(), 2019, [p230, p147], uuid4(), lead, AT)
    assert not isinstance(granted, AllocationRefused)
    assert [(c.programme, c.amount) for c in granted.contributions] == [
        (BudgetProgramme.P147, 15_000_00), (BudgetProgramme.P230, 15_000_00)]
    assert (granted.lead_college_uai, granted.chef_de_file_partner_id) == ("0930002B", lead[0])
    assert (p147.remaining, p230.remaining) == (985_000_00, 0)
    paid_from = {p147.programme: p147.id, p230.programme: p230.id}
    assert [(m.debit.ref, m.amount) for m in movements(granted, paid_from=paid_from)] == [
        (str(p147.id), 15_000_00), (str(p230.id), 15_000_00)]


def test_a_degressive_rule_lowers_each_year_of_a_label_after_its_first_down_to_its_floor(
) -> None:
    rule = DotationRule(kind=DotationRuleKind.REQUESTED_CAPPED, amount=250_000_00,
                        floor=120_000_00, cap=650_000_00, degression_percent=10,
                        degression_floor_percent=70)
    e = BudgetEnvelope(uuid4(), "E", BudgetProgramme.P147, (2019,), ("2019",),
                       10_000_000_00, rule, 15_000_00, AT, 10_000_000_00)
    labelled = cite(start=date(2019, 1, 1))  # requested 300 000 €
    amounts = []
    for year in range(2019, 2025):  # a renewal continues the degression
        allocated = e.dotation(labelled, year, uuid4(), AT)
        assert isinstance(allocated, FundsAllocated)
        amounts.append(allocated.amount)
    assert amounts == [300_000_00, 270_000_00, 240_000_00, 210_000_00, 210_000_00,
                       210_000_00]
    assert allocated.dotation_basis is not None
    assert allocated.dotation_basis.endswith("degressive: year 6 of its label at 70 % = "
                                             "210\u202f000,00 €")
    mid_year = e.dotation(cite(start=date(2019, 9, 1)), 2020, uuid4(), AT)
    assert isinstance(mid_year, FundsAllocated) and mid_year.amount == 270_000_00
    assert DotationRule(kind=DotationRuleKind.FIXED, amount=1_00).degressive(1_00, 3) == (
        1_00, "")  # no degression: the same every year
    with pytest.raises(ValidationError):
        DotationRule(kind=DotationRuleKind.FIXED, amount=1_00, degression_percent=51)
