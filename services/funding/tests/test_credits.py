"""The State's credits by budget year: AE and CP voted per programme, delegated to the
départements, consumed by commitments (AE of their allocation's year) and payments (CP of
the year they are made), lapsed at the year's close while unpaid commitments carry over —
never exceeded, also under a thousand requests at once."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest
from funding.domain.credits import Credits, DelegationFunds, YearClosed
from funding.domain.ledger import LimitExceeded
from funding_kit import CONVENTION, OPERATOR, Funding, p147, p230
from test_races import amounts, passed, race, refusals_are_limits

from cites_contracts.types import BudgetProgramme
from cites_runtime.errors import Conflict
from cites_runtime.testing import AS_NATIONAL, AS_PREFECTURE_93, AS_VIEWER, FakeClock

AT = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
P147 = BudgetProgramme.P147


def test_credits_are_amended_never_below_what_was_delegated_and_closed_once_over() -> None:
    credits, voted = Credits.vote(None, P147, 2025, 100_000_00, 60_000_00, AT)
    assert voted is not None and (voted.previous_ae, voted.ae) == (0, 100_000_00)
    assert Credits.vote(credits, P147, 2025, 100_000_00, 60_000_00, AT)[1] is None
    delegated = credits.delegate("93", 80_000_00, 50_000_00, (0, 0), AT)
    assert (delegated.total_ae, credits.ae_open, credits.cp_open) == (
        80_000_00, 20_000_00, 10_000_00)
    with pytest.raises(LimitExceeded, match="not enough AE left undelegated"):
        credits.delegate("69", 20_000_01, 0, (0, 0), AT)
    with pytest.raises(LimitExceeded, match="not enough CP left undelegated"):
        Credits.vote(credits, P147, 2025, 100_000_00, 39_999_99, AT)
    with pytest.raises(Conflict, match="not over"):
        credits.close([], 0, 0, date(2025, 12, 31), AT)
    closed = credits.close([DelegationFunds("93", 30_000_00, 0, 80_000_00, 50_000_00),
                            DelegationFunds("69", 0, 0, 0, 0)], 12_000_00, 2,
                           date(2026, 1, 5), AT)
    assert (closed.lapsed_ae, closed.lapsed_cp, closed.restes_a_payer) == (
        50_000_00, 10_000_00, 12_000_00)
    assert [d.departement for d in closed.delegations] == ["93"]
    with pytest.raises(YearClosed, match="closed on 2026-01-05"):
        credits.delegate("93", 1, 0, (0, 0), AT)


async def commit(service: Funding, allocation: str, amount: int) -> Any:
    return await service.commit(allocation, amount)


async def test_a_budget_year_commits_on_its_ae_pays_on_each_years_cp_and_closes(
    service: Funding, clock: FakeClock,
) -> None:
    for programme, ae, cp in (("P147", 100_000_00, 60_000_00), ("P230", 0, 0)):
        r = await service.http.post("/credits", json={
            "programme": programme, "year": 2025, "ae": ae, "cp": cp}, headers=AS_NATIONAL)
        assert r.status_code == 200, r.text
    r = await service.http.post("/credits/P147/2025/delegations", json={
        "departement": "93", "ae": 80_000_00, "cp": 50_000_00}, headers=AS_NATIONAL)
    assert r.status_code == 200 and r.json()["ae_undelegated"] == 20_000_00, r.text
    for _ in range(2):  # retried with its key: delegated once
        r = await service.http.post("/credits/P147/2025/delegations", json={
            "departement": "69", "ae": 1_00, "cp": 0},
            headers={**AS_NATIONAL, "Idempotency-Key": "delegation-69-1"})
        assert r.status_code == 200 and r.json()["ae_undelegated"] == 19_999_00, r.text
    too_much = await service.http.post("/credits/P147/2025/delegations", json={
        "departement": "69", "ae": 19_999_01, "cp": 0}, headers=AS_NATIONAL)
    assert too_much.status_code == 409 and "0,01 € over" in too_much.text, too_much.text
    assert (await service.http.post("/credits/P147/2025/delegations", json={
        "departement": "93", "ae": 0, "cp": 0}, headers=AS_NATIONAL)).status_code == 422
    assert (await service.http.post("/credits", json={
        "programme": "P147", "year": 2025, "ae": 1, "cp": 1},
        headers=AS_PREFECTURE_93)).status_code == 403
    for body in (p147(), p230()):
        assert (await service.http.post("/envelopes", json=body,
                                        headers=AS_NATIONAL)).status_code == 201
    a = (await service.funded_cite(requested=300_000_00))["allocation_id"]

    first = await commit(service, a, 50_000_00)
    assert first.status_code == 201, first.text
    beyond = await commit(service, a, 30_000_01)  # the allocation holds it; the AE do not
    assert beyond.status_code == 409, beyond.text
    assert "not enough AE delegated to the département" in beyond.text
    assert "ae_delegated P147/2025/93 holds 30\u202f000,00 €" in beyond.text
    second = (await commit(service, a, 30_000_00)).json()["commitment_id"]
    c1 = first.json()["commitment_id"]
    pay = await service.http.post(f"/commitments/{c1}/payments", json={"amount": 45_000_00},
                                  headers=AS_PREFECTURE_93)
    assert pay.status_code == 201, pay.text
    over_cp = await service.http.post(f"/commitments/{second}/payments",
                                      json={"amount": 5_000_01}, headers=AS_PREFECTURE_93)
    assert over_cp.status_code == 409 and "not enough CP delegated" in over_cp.text
    cancelled = await service.http.post(f"/commitments/{second}/cancellation",
                                        json={"motive": "Action reportée"},
                                        headers=AS_PREFECTURE_93)
    assert cancelled.status_code == 200, cancelled.text  # its 30 k€ of AE come back
    view = (await service.http.get("/credits", headers=AS_VIEWER)).json()["items"]
    year = next(v for v in view if (v["programme"], v["year"]) == ("P147", 2025))
    assert (year["engaged"], year["spent"]) == (50_000_00, 45_000_00)
    assert year["delegations"][1:] == [{"departement": "93", "ae": 80_000_00, "cp": 50_000_00,
                                    "ae_left": 30_000_00, "cp_left": 5_000_00,
                                    "engaged": 50_000_00, "spent": 45_000_00}]

    c3 = (await commit(service, a, 10_000_00)).json()["commitment_id"]  # never paid
    early = await service.http.post("/credits/P147/2025/closing", headers=AS_NATIONAL)
    assert early.status_code == 409 and "not over" in early.text
    clock.set_date(date(2026, 1, 5))
    closed = await service.http.post("/credits/P147/2025/closing", headers=AS_NATIONAL)
    assert closed.status_code == 200, closed.text
    assert closed.json() == {"programme": "P147", "year": 2025,
                             "lapsed_ae": 19_999_00 + 1_00 + 20_000_00,
                             "lapsed_cp": 10_000_00 + 5_000_00,
                             "restes_a_payer": 5_000_00 + 10_000_00, "open_commitments": 2}
    again = await service.http.post("/credits/P147/2025/closing", headers=AS_NATIONAL)
    assert again.status_code == 409 and "closed on 2026-01-05" in again.text
    late = await commit(service, a, 1_00)
    assert late.status_code == 409 and "closed" in late.text, late.text
    # Cancelled after the close, a commitment's AE come back to lapse at once.
    assert (await service.http.post(f"/commitments/{c3}/cancellation", json={
        "motive": "Action abandonnée"}, headers=AS_PREFECTURE_93)).status_code == 200

    # The reste à payer of 2025 is paid from 2026's CP, delegated to the département.
    no_cp = await service.http.post(f"/commitments/{c1}/payments", json={"amount": 5_000_00},
                                    headers=AS_PREFECTURE_93)
    assert no_cp.status_code == 409 and "cp_delegated P147/2026/93" in no_cp.text
    await service.credits(2026, ("93",), ae=0, cp=5_000_00)
    paid = await service.http.post(f"/commitments/{c1}/payments", json={"amount": 5_000_00},
                                   headers=AS_PREFECTURE_93)
    assert paid.status_code == 201, paid.text
    view = {(v["programme"], v["year"]): v
            for v in (await service.http.get("/credits", headers=AS_VIEWER)).json()["items"]}
    assert (view[("P147", 2025)]["engaged"], view[("P147", 2025)]["lapsed_ae"],
            view[("P147", 2026)]["spent"]) == (50_000_00, 50_000_00, 5_000_00)
    await service.ledger_balanced()
    assert [e["year"] for e in await service.outbox("BudgetYearClosed")] == [2025]


async def test_a_thousand_commitments_racing_for_a_departements_ae_commit_only_what_it_holds(
    served: Funding,
) -> None:
    await served.credits(2025, ("93", "69"), ae=600_000_00)  # 300 k€ of AE for the 93
    r = await served.http.post("/credits", json={
        "programme": "P147", "year": 2025, "ae": 700_000_00, "cp": 10_000_000_00},
        headers=AS_NATIONAL)
    assert r.status_code == 200, r.text
    for body in (p147(), p230()):
        await served.http.post("/envelopes", json=body, headers=AS_NATIONAL)
    allocation = (await served.funded_cite(requested=650_000_00))["allocation_id"]
    asked = amounts()  # about 1 M€ asked, 650 k€ allocated, 300 k€ of AE in the 93

    responses = await race(served, [("/cites/cite-001/commitments", {
        "allocation_id": allocation, "operator_partner_id": str(OPERATOR),
        "action_title": f"Action {i}", "amount": amount, "legal_act": CONVENTION},
        AS_PREFECTURE_93) for i, amount in enumerate(asked)])

    refusals_are_limits(responses, asked, "not enough AE delegated to the département",
                        "ae_delegated P147/2025/93")
    committed = passed(responses, asked)
    assert 0 < len(committed) < len(asked) and sum(committed) <= 300_000_00
    year = next(v for v in (await served.http.get("/credits", headers=AS_VIEWER)).json()["items"]
                if (v["programme"], v["year"]) == ("P147", 2025))
    d93 = next(d for d in year["delegations"] if d["departement"] == "93")
    assert (d93["engaged"], d93["ae_left"]) == (sum(committed), 300_000_00 - sum(committed))
    await served.ledger_balanced()
