"""A subsidy's paperwork: the legal act a commitment names, the operator's report, the
orders to repay and their receipts — in the domain (the rules, the movements) and through
the API (4xx that change nothing, the ledger balanced, the events told)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import uuid4

import pytest
from funding.domain.cite import Allocation, Commitment, Paperwork, Recovery, Report
from funding.domain.ledger import LimitExceeded, MovementKind, movements
from funding_kit import CONVENTION, Funding, joined

from cites_contracts.events.funding import LegalAct
from cites_contracts.types import BudgetProgramme, LegalActKind, PartnerKind
from cites_runtime.errors import Conflict, RuleBroken
from cites_runtime.testing import AS_PREFECTURE_69, AS_PREFECTURE_93, AS_VIEWER

AT = datetime(2025, 3, 10, 9, 30, tzinfo=UTC)
TODAY = date(2026, 12, 7)


def allocation(year: int = 2025) -> Allocation:
    return Allocation(uuid4(), "cite-001", uuid4(), BudgetProgramme.P147, year, 200_000_00,
                      "requested_capped", "requested 300 000,00 €", AT)


def act(kind: str = "convention", signed_on: date = date(2025, 2, 3)) -> LegalAct:
    return LegalAct(kind=LegalActKind(kind), reference="2025-93-CE-014", signed_on=signed_on)


def paperwork(**kw: Any) -> Paperwork:
    args: dict[str, Any] = {"legal_act": act(), "subsidy_request": None,
                            "justification_due": None, "operator_kind": "association",
                            "amount": 40_000_00, "today": TODAY}
    return Commitment.paperwork_of(allocation(), **(args | kw))


def paid_commitment(paid: int = 30_000_00, due: date = date(2026, 6, 30)) -> Commitment:
    c = Commitment(uuid4(), "cite-001", uuid4(), uuid4(), "A", 40_000_00, 40_000_00, False, AT,
                   Paperwork(act(), "00123456", due))
    c.pay(uuid4(), paid, AT)
    return c


def test_a_commitment_names_its_act_signed_in_its_budget_year_and_a_convention_above_23k(
) -> None:
    assert paperwork().justification_due == date(2026, 6, 30)  # six months after 2025
    with pytest.raises(RuleBroken, match="above 23\u202f000,00 € the act is a convention"):
        paperwork(legal_act=act("arrete"))
    assert paperwork(legal_act=act("arrete"), amount=23_000_00).legal_act.kind == "arrete"
    assert paperwork(legal_act=act("arrete"), operator_kind=PartnerKind.COLLEGE.value)
    with pytest.raises(RuleBroken, match="signed in 2025"):
        paperwork(legal_act=act(signed_on=date(2024, 12, 31)))
    with pytest.raises(RuleBroken, match="after today"):
        paperwork(legal_act=act(signed_on=date(2025, 3, 1)), today=date(2025, 2, 1))
    with pytest.raises(RuleBroken, match="not after the act"):
        paperwork(justification_due=date(2025, 2, 3))


def test_a_report_is_recorded_once_within_what_was_paid() -> None:
    c = paid_commitment()
    with pytest.raises(RuleBroken, match="30\u202f000,00 € was paid"):
        c.justify(Report(30_000_01, date(2026, 1, 15)), TODAY, AT)
    with pytest.raises(RuleBroken, match="after today"):
        c.justify(Report(1, TODAY + timedelta(days=1)), TODAY, AT)
    with pytest.raises(RuleBroken, match="before the act"):
        c.justify(Report(1, date(2025, 1, 1)), TODAY, AT)
    justified = c.justify(Report(26_500_00, date(2026, 1, 15)), TODAY, AT)
    assert justified is not None and (justified.paid, justified.spent, justified.unspent) == (
        30_000_00, 26_500_00, 3_500_00)
    assert c.justify(Report(26_500_00, date(2026, 1, 15)), TODAY, AT) is None  # same again
    with pytest.raises(Conflict, match="recorded once"):
        c.justify(Report(20_000_00, date(2026, 1, 15)), TODAY, AT)


def test_only_the_unspent_part_or_once_overdue_what_was_paid_is_ordered_back() -> None:
    waiting = paid_commitment()
    with pytest.raises(Conflict, match="report is not in yet"):
        waiting.order_recovery(uuid4(), BudgetProgramme.P147, amount=1, order_reference="TP-1",
                               ordered_on=date(2026, 3, 1), motive="m", today=date(2026, 3, 1),
                               at=AT)
    overdue = paid_commitment()
    ordered = overdue.order_recovery(uuid4(), BudgetProgramme.P147, amount=30_000_00,
                                     order_reference="TP-1", ordered_on=TODAY, motive="m",
                                     today=TODAY, at=AT)  # due 30 June 2026: unjustified
    assert [(m.kind, str(m.debit), str(m.credit), m.amount) for m in movements(ordered)] == [
        (MovementKind.ORDER, f"paid {overdue.operator_partner_id}",
         f"receivable {ordered.recovery_id}", 30_000_00)]

    reported = paid_commitment()
    reported.justify(Report(26_500_00, date(2026, 1, 15)), TODAY, AT)
    reported.order_recovery(uuid4(), BudgetProgramme.P147, amount=2_000_00,
                            order_reference="TP-2", ordered_on=TODAY, motive="m", today=TODAY,
                            at=AT)
    with pytest.raises(Conflict, match="1\u202f500,00 € recoverable .* "
                       r"2\u202f000,00 € ordered already\); 0,01 € over"):
        reported.order_recovery(uuid4(), BudgetProgramme.P147, amount=1_500_01,
                                order_reference="TP-3", ordered_on=TODAY, motive="m",
                                today=TODAY, at=AT)
    assert reported.ordered == 2_000_00


def test_a_recovery_is_received_in_parts_never_more_than_is_outstanding() -> None:
    c = paid_commitment()
    c.justify(Report(26_500_00, date(2026, 1, 15)), TODAY, AT)
    recovery = Recovery.of(c.order_recovery(
        uuid4(), BudgetProgramme.P147, amount=3_500_00, order_reference="TP-2",
        ordered_on=date(2026, 2, 1), motive="m", today=TODAY, at=AT))
    with pytest.raises(RuleBroken, match="after the order"):
        recovery.receive(uuid4(), 1, date(2026, 1, 31), TODAY, AT)
    first = recovery.receive(uuid4(), 2_000_00, date(2026, 3, 1), TODAY, AT)
    assert [(m.kind, str(m.credit)) for m in movements(first)] == [
        (MovementKind.RECOVER, "budget P147")]
    with pytest.raises(LimitExceeded, match=r"not that much left to receive .* 0,01 € over"):
        recovery.receive(uuid4(), 1_500_01, date(2026, 3, 2), TODAY, AT)
    recovery.receive(uuid4(), 1_500_00, date(2026, 3, 2), TODAY, AT)
    assert recovery.outstanding == 0


# --- through the API ---------------------------------------------------------------------


async def test_a_subsidy_justified_then_partly_recovered_moves_its_money_and_tells_it(
    service: Funding,
) -> None:
    # The tests' clock says 10 March 2025: the act was signed on 3 February.
    a = (await service.funded_cite(requested=300_000_00))["allocation_id"]
    committed = await service.commit(a, 40_000_00, subsidy_request="00123456")
    assert committed.status_code == 201, committed.text
    c = committed.json()
    assert (c["legal_act"], c["subsidy_request"], c["justification_due"]) == (
        CONVENTION, "00123456", "2026-06-30")
    cid = c["commitment_id"]
    paid = await service.http.post(f"/commitments/{cid}/payments", json={"amount": 30_000_00},
                                   headers=AS_PREFECTURE_93)
    assert paid.status_code == 201, paid.text

    too_much = await service.http.post(f"/commitments/{cid}/report", json={
        "spent": 30_000_01, "submitted_on": "2025-03-01"}, headers=AS_PREFECTURE_93)
    assert too_much.status_code == 422
    assert "30\u202f000,00 € was paid" in too_much.json()["detail"][0]["msg"]
    report = {"spent": 26_500_00, "submitted_on": "2025-03-01"}
    for _ in range(2):  # the same report again changes nothing
        r = await service.http.post(f"/commitments/{cid}/report", json=report,
                                    headers=AS_PREFECTURE_93)
        assert r.status_code == 200, r.text
    assert r.json()["report"] == report

    order = {"amount": 3_500_01, "order_reference": "TP-2026-93-0042",
             "ordered_on": "2025-03-05", "motive": "Reliquat non consommé"}
    over = await service.http.post(f"/commitments/{cid}/recoveries", json=order,
                                   headers=AS_PREFECTURE_93)
    assert over.status_code == 409 and "0,01 € over" in over.text, over.text
    key = {"Idempotency-Key": "tp-0042"}
    for status in (201, 200):  # retried with its key: ordered once
        ordered = await service.http.post(f"/commitments/{cid}/recoveries", json={
            **order, "amount": 3_500_00}, headers={**AS_PREFECTURE_93, **key})
        assert ordered.status_code == status, ordered.text
    recovery = ordered.json()["recovery_id"]
    received = await service.http.post(f"/recoveries/{recovery}/receipts", json={
        "amount": 2_000_00, "received_on": "2025-03-06"}, headers=AS_PREFECTURE_93)
    assert received.status_code == 201 and received.json()["outstanding"] == 1_500_00
    beyond = await service.http.post(f"/recoveries/{recovery}/receipts", json={
        "amount": 1_500_01, "received_on": "2025-03-07"}, headers=AS_PREFECTURE_93)
    assert beyond.status_code == 409 and "0,01 € over" in beyond.text, beyond.text

    view = (await service.http.get(f"/recoveries/{recovery}", headers=AS_VIEWER)).json()
    assert [x["amount"] for x in view["receipts"]] == [2_000_00]
    whole = (await service.http.get(f"/commitments/{cid}", headers=AS_VIEWER)).json()
    assert (whole["paid"], whole["recovery_ordered"], len(whole["recoveries"])) == (
        30_000_00, 3_500_00, 1)
    statement = (await service.http.get("/cites/cite-001/statement", headers=AS_VIEWER)).json()
    line = next(x for x in statement["lines"] if (x["year"], x["programme"]) == (2025, "P147"))
    assert (line["paid"], line["ordered_back"], line["recovered"]) == (
        30_000_00, 3_500_00, 2_000_00)
    await service.ledger_balanced()
    assert [e["amount"] for e in await service.outbox("RecoveryOrdered")] == [3_500_00]
    assert [e["amount"] for e in await service.outbox("RecoveryReceived")] == [2_000_00]
    assert [e["unspent"] for e in await service.outbox("SubsidyJustified")] == [3_500_00]


async def test_a_commitment_without_its_act_or_with_a_bad_one_is_a_4xx_that_changes_nothing(
    service: Funding,
) -> None:
    a = (await service.funded_cite(requested=300_000_00))["allocation_id"]
    before = await service.ledger_balanced()
    for extra, status, where in [
            ({"legal_act": None}, 422, "legal_act"),
            ({"legal_act": {**CONVENTION, "kind": "arrete"}}, 422, "convention"),
            ({"legal_act": {**CONVENTION, "signed_on": "2024-12-31"}}, 422, "signed in 2025"),
            ({"legal_act": {**CONVENTION, "reference": "<script>"}}, 422, "reference"),
            ({"subsidy_request": "no spaces"}, 422, "subsidy_request"),
            ({"justification_due": "2025-01-01"}, 422, "after the act")]:
        r = await service.commit(a, 40_000_00, **extra)
        assert r.status_code == status and where in r.text, (extra, r.text)
    assert (await service.ledger_balanced())["movements"] == before["movements"]
    assert not await service.outbox("FundsCommitted")


async def test_another_departements_prefecture_neither_reports_nor_recovers(
    service: Funding,
) -> None:
    a = (await service.funded_cite())["allocation_id"]
    await service.s.publish(joined())
    cid = (await service.commit(a, 10_000_00)).json()["commitment_id"]
    for path, body in [(f"/commitments/{cid}/report",
                        {"spent": 0, "submitted_on": "2025-03-01"}),
                       (f"/commitments/{cid}/recoveries",
                        {"amount": 1, "order_reference": "TP-1", "ordered_on": "2025-03-05",
                         "motive": "m"})]:
        r = await service.http.post(path, json=body, headers=AS_PREFECTURE_69)
        assert r.status_code == 403, r.text
    assert not await service.outbox("SubsidyJustified", "RecoveryOrdered")
