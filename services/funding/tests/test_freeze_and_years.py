"""A cité's money through its label's life (suspension, reinstatement, withdrawal, expiry,
release), the first year's dotation pro rata, the yearly check (once per year, across replicas),
the chef de file's fonds, and the reports' agreement with the ledger. Isolated: in-memory
broker, real PostgreSQL."""

from __future__ import annotations

import asyncio
import csv
import io
from datetime import date, timedelta
from uuid import UUID

import asyncpg
import pytest
from funding.app import definition
from funding.settings import FundingSettings
from funding.yearly import fund_active_cites
from funding_kit import (
    DECIDED_AT,
    LEAD_PARTNER,
    LEAD_UAI,
    PERIOD,
    Funding,
    alliance_opened,
    chef_de_file,
    expired,
    labelled,
    p147,
    reinstated,
    suspended,
    withdrawn,
)

from cites_contracts.events.labelling import LabelRenewed, Perimeter
from cites_contracts.types import ActorRole, LabelPeriod
from cites_runtime.testing import AS_NATIONAL, AS_PREFECTURE_93, AS_VIEWER, FakeClock, in_memory

NEW_LEAD = UUID("00000000-0000-4000-8000-00000000c022")


async def test_a_suspension_freezes_the_uncommitted_money_and_reinstatement_unfreezes_it(
    service: Funding,
) -> None:
    a = (await service.funded_cite(requested=300_000_00))["allocation_id"]
    c = (await service.commit(a, 100_000_00)).json()["commitment_id"]
    await service.s.publish(suspended())
    frozen, = await service.outbox("FundsFrozen")
    assert frozen["reason"] == "label_suspended"
    assert frozen["frozen"] == [{"allocation_id": a, "amount": 200_000_00}]
    refused = await service.commit(a, 1_00)
    assert refused.status_code == 409 and "frozen" in refused.json()["detail"]
    # Commitments already made stand, and are paid.
    paid = await service.http.post(f"/commitments/{c}/payments", json={"amount": 10_000_00},
                                   headers=AS_PREFECTURE_93)
    assert paid.status_code == 201, paid.text
    await service.s.publish(reinstated())
    unfrozen, = await service.outbox("FundsUnfrozen")
    assert unfrozen["unfrozen"] == [{"allocation_id": a, "amount": 200_000_00}]
    assert (await service.commit(a, 1_00)).status_code == 201
    await service.ledger_balanced()


async def test_a_freeze_is_told_even_when_nothing_remains(service: Funding) -> None:
    a = (await service.funded_cite(requested=300_000_00))["allocation_id"]
    assert (await service.commit(a, 300_000_00)).status_code == 201
    await service.s.publish(suspended())
    frozen, = await service.outbox("FundsFrozen")
    assert frozen["frozen"] == []


async def test_a_withdrawn_cites_frozen_money_goes_back_to_its_envelope_on_decision(
    service: Funding,
) -> None:
    a = (await service.funded_cite(requested=300_000_00))["allocation_id"]
    await service.commit(a, 50_000_00)
    envelope = (await service.dotation())["envelope_id"]
    before = (await service.http.get(f"/envelopes/{envelope}", headers=AS_VIEWER)).json()
    early = await service.http.post("/cites/cite-001/release", json={"motive": "Trop tôt"},
                                    headers=AS_NATIONAL)
    assert early.status_code == 409 and "active" in early.json()["detail"]
    await service.s.publish(suspended(), withdrawn())
    assert [e["reason"] for e in await service.outbox("FundsFrozen")] == [
        "label_suspended", "label_withdrawn"]  # withdrawn while suspended: nothing more
    released = await service.http.post("/cites/cite-001/release", json={
        "motive": "Label retiré : reliquat rendu"}, headers=AS_NATIONAL)
    assert released.status_code == 200, released.text
    event, = await service.outbox("FundsReleased")
    assert event["released"] == [{"allocation_id": a, "envelope_id": envelope,
                                  "amount": 250_000_00}]
    after = (await service.http.get(f"/envelopes/{envelope}", headers=AS_VIEWER)).json()
    assert after["remaining"] == before["remaining"] + 250_000_00
    again = await service.http.post("/cites/cite-001/release", json={"motive": "Encore"},
                                    headers=AS_NATIONAL)
    assert again.status_code == 200 and again.json() == []
    assert len(await service.outbox("FundsReleased")) == 1
    by_prefecture = await service.http.post("/cites/cite-001/release", json={"motive": "x"},
                                            headers=AS_PREFECTURE_93)
    assert by_prefecture.status_code == 403
    await service.ledger_balanced()


async def test_an_expired_label_freezes_and_a_cancelled_commitment_then_freezes_too(
    service: Funding,
) -> None:
    a = (await service.funded_cite(requested=300_000_00))["allocation_id"]
    c = (await service.commit(a, 80_000_00)).json()["commitment_id"]
    await service.s.publish(expired())
    r = await service.http.post(f"/commitments/{c}/cancellation", json={"motive": "Annulée"},
                                headers=AS_PREFECTURE_93)
    assert r.status_code == 200, r.text
    frozen = await service.outbox("FundsFrozen")
    assert [(e["reason"], e["frozen"]) for e in frozen] == [
        ("label_expired", [{"allocation_id": a, "amount": 220_000_00}]),
        ("label_expired", [{"allocation_id": a, "amount": 80_000_00}])]
    assert (await service.dotation())["frozen"] == 300_000_00
    await service.ledger_balanced()


async def test_the_yearly_check_funds_each_active_cite_once_across_replicas(
    service: Funding, clock: FakeClock,
) -> None:
    await service.funded_cite("cite-001")
    await service.funded_cite("cite-002")
    await service.s.publish(labelled("cite-003"), suspended("cite-003"))
    clock.set_date(date(2026, 1, 1))
    runtime = service.s.runtime
    results = await asyncio.gather(*(fund_active_cites(runtime) for _ in range(4)))
    assert sum(results) == 4  # two cités × (dotation + fonds), whoever did it
    assert await fund_active_cites(runtime) == 0
    allocated = [(e["cite_id"], e["year"]) for e in await service.outbox("FundsAllocated")]
    assert sorted(allocated) == [("cite-001", 2025), ("cite-001", 2026), ("cite-002", 2025),
                                 ("cite-002", 2026), ("cite-003", 2025)]
    # The suspended cité gets its 2026 money when reinstated.
    await service.s.publish(reinstated("cite-003"))
    assert ("cite-003", 2026) in [(e["cite_id"], e["year"])
                                  for e in await service.outbox("FundsAllocated")]
    await service.ledger_balanced()


async def test_a_cite_labelled_mid_year_receives_its_first_dotation_pro_rata_and_whole_fonds(
    service: Funding, clock: FakeClock,
) -> None:
    """The first year's dotation from the label's start (1 September: 122 of 365 days);
    the next years' whole, the last one's too (a renewal continues it); the fonds de la
    cité whole every year."""
    clock.set_date(date(2025, 9, 1))
    await service.open_envelopes()
    await service.s.publish(labelled(requested=300_000_00,
                                     period=LabelPeriod.of_years(date(2025, 9, 1))))
    allocated, = await service.outbox("FundsAllocated")
    assert (allocated["year"], allocated["amount"]) == (2025, 100_273_00)  # 300 k€ × 122/365
    assert allocated["dotation_basis"].endswith("prorated to 122/365 days of 2025: "
                                                "100\u202f273,00 €")
    fonds, = await service.outbox("FondsDeLaCiteGranted")
    assert sum(c["amount"] for c in fonds["contributions"]) == 30_000_00
    clock.set_date(date(2026, 1, 2))
    await fund_active_cites(service.s.runtime)
    assert [e["amount"] for e in await service.outbox("FundsAllocated")] == [
        100_273_00, 300_000_00]


async def test_replicas_running_the_yearly_check_at_once_fund_each_cite_once_a_year(
    service: Funding, settings: FundingSettings, clock: FakeClock,
) -> None:
    # Two processes on one schema, 20 cités, six checks at once: without the cité's lock,
    # cités are funded twice.
    await service.open_envelopes(p147_amount=30_000_000_00)
    cites = [f"cite-{n:03d}" for n in range(20)]
    await service.s.publish(*(labelled(c) for c in cites))
    clock.set_date(date(2026, 1, 5))  # a new budget year: every cité is due its money
    async with in_memory(definition, settings) as replica:  # another process, same schema
        runtimes = [service.s.runtime, replica.runtime] * 3
        await asyncio.gather(*(fund_active_cites(r) for r in runtimes))
    allocated = [(e["cite_id"], e["year"]) for e in await service.outbox("FundsAllocated")]
    granted = [(e["cite_id"], e["year"]) for e in await service.outbox("FondsDeLaCiteGranted")]
    assert sorted(allocated) == sorted(granted) == sorted(
        (c, y) for c in cites for y in (2025, 2026))
    check = await service.ledger_balanced()
    credits = 2 * 2 * (1 + 2)  # 2 programmes' AE and CP, voted and delegated to 2 départements
    assert check["movements"] == credits + 2 + 2 * 20 * 3  # opened; each year a dotation,
    # two shares


async def test_a_cite_labelled_before_its_envelopes_opened_is_funded_by_the_next_check(
    service: Funding,
) -> None:
    await service.s.publish(labelled())
    refused = await service.outbox("AllocationRefused")
    assert sorted((e["programme"], e["reason"]) for e in refused) == [
        ("P147", "no_open_envelope"), ("P230", "no_open_envelope")]
    assert (await service.http.post("/yearly-check", headers=AS_NATIONAL)).json() == {
        "events": 0}  # told once
    await service.open_envelopes()
    assert (await service.http.post("/yearly-check", headers=AS_NATIONAL)).json() == {
        "events": 2}  # the dotation and the fonds
    assert len(await service.outbox("FundsAllocated", "FondsDeLaCiteGranted")) == 2


async def test_a_new_chef_de_file_receives_the_next_years_fonds_not_this_ones(
    service: Funding, clock: FakeClock,
) -> None:
    await service.open_envelopes()
    await service.s.publish(labelled(), alliance_opened())
    await service.s.publish(chef_de_file(NEW_LEAD, "0930002B"))
    clock.set_date(date(2026, 1, 1))
    await fund_active_cites(service.s.runtime)
    grants = [(e["year"], e["lead_college_uai"], e["chef_de_file_partner_id"])
              for e in await service.outbox("FondsDeLaCiteGranted")]
    # 2025's was granted on the label, before partners had opened the alliance: to the
    # label's lead collège, by UAI.
    assert grants == [(2025, LEAD_UAI, None), (2026, "0930002B", str(NEW_LEAD))]


async def test_a_fonds_granted_before_partners_named_the_chef_de_file_gets_its_partner_id(
    service: Funding,
) -> None:
    await service.open_envelopes()
    # The label comes first (partners opens the alliance on it): the fonds goes to the
    # lead collège, known by its UAI only.
    await service.s.publish(labelled())
    granted, = await service.outbox("FondsDeLaCiteGranted")
    assert (granted["lead_college_uai"], granted["chef_de_file_partner_id"]) == (LEAD_UAI, None)
    await service.s.publish(alliance_opened())
    fonds, = (await service.cite())["fonds"]
    assert (fonds["uai"], fonds["partner_id"], fonds["amount"]) == (
        LEAD_UAI, str(LEAD_PARTNER), 30_000_00)


async def test_the_statement_and_the_consumption_agree_with_the_ledger(
    service: Funding,
) -> None:
    a = (await service.funded_cite(requested=300_000_00))["allocation_id"]
    c = (await service.commit(a, 120_000_00)).json()["commitment_id"]
    await service.http.post(f"/commitments/{c}/payments", json={"amount": 45_000_00},
                            headers=AS_PREFECTURE_93)
    co = await service.http.post("/cites/cite-001/cofinancing", json={
        "year": 2025, "funder": "Commune de Bondy", "amount": 280_000_00},
        headers=AS_PREFECTURE_93)
    assert co.status_code == 201, co.text
    outside = await service.http.post("/cites/cite-001/cofinancing", json={
        "year": 2031, "funder": "Commune de Bondy", "amount": 1_00}, headers=AS_PREFECTURE_93)
    assert outside.status_code == 422 and outside.json()["detail"][0]["loc"][-1] == "year"
    await service.s.publish(suspended())
    statement = (await service.http.get("/cites/cite-001/statement", headers=AS_VIEWER)).json()
    lines = {(x["year"], x["programme"]): x for x in statement["lines"]}
    assert lines[(2025, "P147")] | {} == {
        "year": 2025, "programme": "P147", "allocated": 300_000_00, "fonds": 15_000_00,
        "committed": 120_000_00, "paid": 45_000_00, "frozen": 180_000_00, "released": 0,
        "uncommitted": 0, "unpaid": 75_000_00, "ordered_back": 0, "recovered": 0,
        "fonds_used": 0}
    assert lines[(2025, "P230")]["fonds"] == 15_000_00
    assert statement["cofinancing_total"] == 280_000_00
    # Exactly the ledger's sums, read straight from it.
    ledger = await service.s.runtime.pool.fetch(
        "SELECT movement, sum(amount) AS s FROM ledger WHERE cite_id = 'cite-001' "
        "GROUP BY movement")
    sums = {r["movement"]: r["s"] for r in ledger}
    totals = statement["totals"]
    assert (totals["allocated"], totals["fonds"], totals["committed"], totals["paid"],
            totals["frozen"]) == (sums["allocate"], sums["grant"], sums["commit"],
                                  sums["pay"], sums["freeze"])
    rows = list(csv.DictReader(io.StringIO((await service.http.get(
        "/cites/cite-001/statement.csv", headers=AS_VIEWER)).text)))
    assert [(r["year"], r["source"], r["paid"], r["cofinancing"]) for r in rows] == [
        ("2025", "P147", "4500000", ""), ("2025", "P230", "0", ""),
        ("2025", "cofinancing: Commune de Bondy", "", "28000000")]
    consumption = (await service.http.get("/reports/consumption", headers=AS_VIEWER)).json()
    p147 = next(e for e in consumption["envelopes"] if e["programme"] == "P147")
    assert p147["amount"] - p147["remaining"] == (p147["totals"]["allocated"]
                                                  + p147["totals"]["fonds"]
                                                  - p147["totals"]["released"])
    assert (await service.http.get("/reports/consumption.csv", headers=AS_VIEWER)
            ).text.startswith("year,programme,allocated,fonds,committed,paid,frozen")
    await service.ledger_balanced()


async def test_the_ledger_is_append_only_even_for_its_owner(service: Funding) -> None:
    await service.funded_cite()
    async with service.s.runtime.pool.acquire() as conn:
        for statement in ("UPDATE ledger SET amount = amount + 1", "DELETE FROM ledger",
                          "TRUNCATE ledger"):
            with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
                await conn.execute(statement)
        with pytest.raises(asyncpg.CheckViolationError):
            await conn.execute("UPDATE accounts SET balance = -1 WHERE kind = 'allocation'")


async def test_a_renewal_with_a_new_perimeter_funds_the_next_years_on_its_population(
    service: Funding, clock: FakeClock,
) -> None:
    """A renewal may move the perimeter (e.g. to the 2024 QPV list, wider): the dotations
    computed on population from then on count the new perimeter's inhabitants."""
    r = await service.http.post("/envelopes", json=p147(dotation_rule={
        "kind": "population", "per_inhabitant": 50_00, "floor": 120_000_00,
        "cap": 650_000_00}), headers=AS_NATIONAL)
    assert r.status_code == 201, r.text
    label = labelled(population=5200)
    wider = label.perimeter.model_dump(mode="json")
    wider["qpvs"].append({"code": "QN09302C", "name": "La Sablière", "population": 2800})
    renewal = LabelRenewed(
        cite_id="cite-001", previous_period=PERIOD,
        label_period=LabelPeriod.of_years(PERIOD.end + timedelta(days=1)),
        decided_by=ActorRole.NATIONAL_COORDINATION, renewed_at=DECIDED_AT,
        perimeter=Perimeter.model_validate(wider))
    await service.s.publish(label, renewal)
    clock.set_date(date(2026, 1, 5))
    await fund_active_cites(service.s.runtime)
    amounts = {e["year"]: e["amount"] for e in await service.outbox("FundsAllocated")}
    assert amounts == {2025: 260_000_00, 2026: 400_000_00}  # 5,200 then 8,000 × 50 €
