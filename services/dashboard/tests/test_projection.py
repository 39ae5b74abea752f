"""The dashboard's figures, from the events alone (in-memory broker, real PostgreSQL): cités
by wave and status, candidatures, départements, alliances, money per programme and year as
funding's ledger has it, notifications; each event applied once."""

from __future__ import annotations

from datetime import UTC, date, datetime
from uuid import UUID, uuid4

from dashboard_kit import (
    AT,
    Dashboard,
    alliance_closed,
    alliance_opened,
    allocated,
    cancelled,
    cofinancing,
    cofinancing_given,
    committed,
    envelope,
    failed,
    fonds,
    frozen,
    joined,
    labelled,
    left,
    paid,
    past_spending,
    refused,
    reinstated,
    rejected,
    released,
    review_started,
    revised,
    sent,
    suspended,
    unfrozen,
    withdrawn,
)

from cites_contracts import Envelope
from cites_contracts.events.funding import (
    BudgetYearClosed,
    CreditsDelegated,
    CreditsVoted,
    FondsUsed,
    PaymentMade,
    ProgrammeAmount,
    RecoveryOrdered,
    RecoveryReceived,
)
from cites_contracts.types import BudgetProgramme, PartnerKind
from cites_runtime.testing import AS_NATIONAL, AS_PARTNER, AS_PREFECTURE_69, eventually


async def test_cites_are_counted_by_wave_and_by_their_labels_status(
    service: Dashboard,
) -> None:
    await service.s.publish(
        labelled("cite-001", wave="2019"), labelled("cite-002", wave="2019"),
        labelled("cite-003", wave="2021", departement="69"),
        labelled("cite-004", wave="2022", departement="69"),
        suspended("cite-001"), withdrawn("cite-002"), suspended("cite-003"),
        reinstated("cite-003"))

    summary = await service.summary()

    assert summary["cites"] == {"labelled": 2, "suspended": 1, "withdrawn": 1}
    assert [(w["wave_id"], w["year"], w["cites"]) for w in summary["waves"]] == [
        ("2019", 2019, {"suspended": 1, "withdrawn": 1}),
        ("2021", 2021, {"labelled": 1}), ("2022", 2022, {"labelled": 1})]
    assert [(d["code"], d["name"], d["cites"], d["active"]) for d in summary["departements"]] \
        == [("69", "Rhône", 2, 2), ("93", "Seine-Saint-Denis", 2, 0)]


async def test_a_candidatures_status_only_moves_forward_whatever_the_order_of_its_topics(
    service: Dashboard,
) -> None:
    labelled_first, refused_one = uuid4(), uuid4()
    # The label (labelling.labels) overtakes the review (labelling.candidatures).
    await service.s.publish(labelled("cite-001", candidature_id=labelled_first),
                              review_started(labelled_first), review_started(refused_one),
                              rejected(refused_one))

    waves = (await service.summary())["waves"]

    assert [(w["wave_id"], w["candidatures"]) for w in waves] == [
        ("2019", {"labelled": 1, "rejected": 1})]


async def test_a_redelivered_event_counts_once(service: Dashboard) -> None:
    label = Envelope.wrap(labelled("cite-001"), sequence=1)
    allocation = uuid4()
    money = Envelope.wrap(allocated("cite-001", allocation, 300_000_00), sequence=1)

    await service.s.publish(label, label, money, money)

    summary = await service.summary()
    assert summary["cites"] == {"labelled": 1}
    assert [(m["programme"], m["year"], m["allocated"]) for m in summary["money"]] == [
        ("P147", 2025, 300_000_00)]


async def test_money_per_programme_and_year_is_funding_ledger_read_back_from_its_events(
    service: Dashboard,
) -> None:
    a2025, a2026, p230 = uuid4(), uuid4(), uuid4()
    await service.s.publish(
        envelope(), labelled("cite-001"),
        allocated("cite-001", a2025, 300_000_00, year=2025),
        allocated("cite-001", a2026, 250_000_00, year=2026),
        allocated("cite-001", p230, 50_000_00, programme="P230", year=2025),
        fonds("cite-001", 2025, 10_000_00, 5_000_00),
        committed("cite-001", a2025, 40_000_00), committed("cite-001", a2025, 20_000_00),
        paid("cite-001", a2025, 15_000_00), cancelled("cite-001", a2025, 20_000_00),
        frozen("cite-001", (a2025, 260_000_00), (a2026, 250_000_00)),
        unfrozen("cite-001", (a2025, 260_000_00), (a2026, 250_000_00)),
        frozen("cite-001", (a2025, 260_000_00), (a2026, 250_000_00)),
        released("cite-001", (a2026, 250_000_00)), refused("cite-002"))

    money = {k: {m: v for m, v in line.items()
                  if m not in ("ordered_back", "recovered", "fonds_used")}
             for k, line in (await service.money()).items()}

    assert money == {
        ("P147", 2025): {"allocated": 300_000_00, "fonds": 10_000_00, "committed": 40_000_00,
                         "paid": 15_000_00, "frozen": 260_000_00, "released": 0,
                         "refused": 1},
        ("P147", 2026): {"allocated": 250_000_00, "fonds": 0, "committed": 0, "paid": 0,
                         "frozen": 0, "released": 250_000_00, "refused": 0},
        ("P230", 2025): {"allocated": 50_000_00, "fonds": 5_000_00, "committed": 0, "paid": 0,
                         "frozen": 0, "released": 0, "refused": 0},
    }
    summary = await service.summary()
    assert [(m["programme"], m["allocated"], m["committed"]) for m in
            summary["money_by_programme"]] == [("P147", 550_000_00, 40_000_00),
                                               ("P230", 50_000_00, 0)]
    assert [(e["programme"], e["amount"]) for e in summary["envelopes"]] == [
        ("P147", 10_000_000_00)]
    assert [(d["code"], d["allocated"], d["committed"], d["paid"])
            for d in summary["departements"]] == [("93", 600_000_00, 40_000_00, 15_000_00)]


async def test_past_spending_taken_over_counts_committed_paid_and_spent_in_its_allocations_year(
    service: Dashboard,
) -> None:
    a2019 = uuid4()
    # Imported (the envelope says so) and delivered twice: counted once.
    imported = Envelope.wrap(past_spending("cite-001", a2019, 2019, committed=90_000_00,
                                           paid=80_000_00, from_frozen=20_000_00),
                             sequence=99, imported=True)
    await service.s.publish(
        envelope(), labelled("cite-001"), allocated("cite-001", a2019, 100_000_00, year=2019),
        frozen("cite-001", (a2019, 30_000_00)), imported, imported)

    line = (await service.money())[("P147", 2019)]

    # 20 000 € of the frozen part unfrozen, then 90 000 € committed: 10 000 € stay frozen,
    # as in funding's ledger.
    assert (line["allocated"], line["committed"], line["paid"], line["frozen"]) == (
        100_000_00, 90_000_00, 80_000_00, 10_000_00)
    # A year taken over is no year whose credits the platform keeps (funding refuses to
    # record them): no credits line shows it.
    assert (await service.summary())["credits"] == []


async def test_cofinancing_counts_planned_then_given_in_its_year(service: Dashboard) -> None:
    bondy, other = uuid4(), uuid4()
    declared = cofinancing("cite-001", bondy, 2025, 280_000_00)
    await service.s.publish(envelope(), labelled("cite-001"), declared,
                            cofinancing("cite-001", other, 2025, 20_000_00),
                            cofinancing_given(declared, 250_000_00),
                            cofinancing_given(declared, 250_000_00))

    async def shown() -> bool:
        years = {y["year"]: y for y in (await service.summary())["years"]}
        return (years.get(2025, {}).get("cofinancing_planned"),
                years.get(2025, {}).get("cofinancing_given")) == (300_000_00, 250_000_00)

    await eventually(shown, what="2025's co-financing, planned and given")


async def test_cofinancing_given_but_never_declared_is_a_dead_letter(service: Dashboard) -> None:
    await service.s.publish(envelope(), labelled("cite-001"), cofinancing_given(
        cofinancing("cite-001", uuid4(), 2025, 1_00), 1_00))

    async def lettered() -> bool:
        return any(r.topic.endswith("dashboard.dlq") for r in service.s.records)

    await eventually(lettered, what="the dead letter")


async def test_past_spending_of_an_allocation_never_heard_of_is_a_dead_letter(
    service: Dashboard,
) -> None:
    await service.s.publish(envelope(), labelled("cite-001"),
                            past_spending("cite-001", uuid4(), 2019, 100, 100))

    async def lettered() -> bool:
        return any(r.topic.endswith("dashboard.dlq") for r in service.s.records)

    await eventually(lettered, what="the dead letter")
    letter = next(r for r in service.s.records if r.topic.endswith("dashboard.dlq"))
    assert "allocation" in dict(letter.headers)["dlq.error"].decode()
    assert (await service.money()) == {}


async def test_a_subsidy_ordered_back_and_repaid_counts_in_its_commitments_allocation_year(
    service: Dashboard,
) -> None:
    allocation, commitment, recovery = uuid4(), uuid4(), uuid4()
    operator = uuid4()
    await service.s.publish(
        envelope(), labelled("cite-001"),
        allocated("cite-001", allocation, 300_000_00, year=2025),
        committed("cite-001", allocation, 40_000_00, commitment_id=commitment),
        paid("cite-001", allocation, 30_000_00),
        RecoveryOrdered(cite_id="cite-001", recovery_id=recovery, commitment_id=commitment,
                        payee_partner_id=operator, programme=BudgetProgramme.P147,
                        amount=6_000_00, order_reference="TP-1", ordered_on=date(2026, 2, 1),
                        motive="Reliquat", ordered_at=AT),
        RecoveryReceived(cite_id="cite-001", receipt_id=uuid4(), recovery_id=recovery,
                         commitment_id=commitment, payee_partner_id=operator,
                         programme=BudgetProgramme.P147, amount=2_500_00,
                         received_on=date(2026, 3, 1), received_at=AT))

    line = (await service.money())[("P147", 2025)]

    assert (line["paid"], line["ordered_back"], line["recovered"]) == (
        30_000_00, 6_000_00, 2_500_00)


async def test_a_use_of_the_fonds_counts_in_the_grants_year_by_the_programme_it_drew_on(
    service: Dashboard,
) -> None:
    await service.s.publish(envelope(), labelled("cite-001"),
                            fonds("cite-001", 2025, 15_000_00, 15_000_00), FondsUsed(
        cite_id="cite-001", use_id=uuid4(), grant_id=uuid4(), year=2025, amount=10_000_01,
        drawn=(ProgrammeAmount(programme=BudgetProgramme.P147, amount=5_000_00),
               ProgrammeAmount(programme=BudgetProgramme.P230, amount=5_000_01)),
        left=19_999_99, purpose="Sortie scolaire", paid_on=date(2025, 6, 15),
        recorded_by="prefecture", recorded_at=AT))

    money = await service.money()

    assert (money[("P147", 2025)]["fonds_used"], money[("P230", 2025)]["fonds_used"]) == (
        5_000_00, 5_000_01)


async def test_an_order_to_repay_on_a_commitment_never_heard_of_is_a_dead_letter(
    service: Dashboard,
) -> None:
    await service.s.publish(envelope(), labelled("cite-001"), RecoveryReceived(
        cite_id="cite-001", receipt_id=uuid4(), recovery_id=uuid4(), commitment_id=uuid4(),
        payee_partner_id=uuid4(), programme=BudgetProgramme.P147, amount=100,
        received_on=date(2026, 3, 1), received_at=AT))

    async def lettered() -> bool:
        return any(r.topic.endswith("dashboard.dlq") for r in service.s.records)

    await eventually(lettered, what="the dead letter")
    assert all(m["ordered_back"] == m["recovered"] == 0 for m in (await service.summary())["money"])


async def test_alliance_sizes_count_the_current_members_of_open_alliances(
    service: Dashboard,
) -> None:
    a, b, c = (UUID(int=n) for n in (1, 2, 3))
    await service.s.publish(
        alliance_opened("cite-001"), joined("cite-001", a), joined("cite-001", b),
        joined("cite-001", c, PartnerKind.COMMUNE), left("cite-001", b),
        alliance_opened("cite-002"), alliance_opened("cite-003"), joined("cite-003", a),
        alliance_closed("cite-003"))

    alliances = (await service.summary())["alliances"]

    assert (alliances["open"], alliances["closed"], alliances["members"]) == (2, 1, 4)
    assert alliances["sizes"] == {"1": 1, "3": 1}
    assert alliances["by_kind"] == {"college": 2, "association": 1, "commune": 1}


async def test_notifications_are_counted_sent_or_failed_by_template(
    service: Dashboard,
) -> None:
    await service.s.publish(sent(), sent(), failed(), sent("funds-allocated"))

    notifications = (await service.summary())["notifications"]

    assert (notifications["sent"], notifications["failed"]) == (3, 1)
    assert notifications["by_template"] == {"cite-labelled": {"sent": 2, "failed": 1},
                                            "funds-allocated": {"sent": 1, "failed": 0}}


async def test_the_summary_is_for_readers_and_the_page_for_anyone(
    service: Dashboard,
) -> None:
    http = service.s.http
    anonymous = await http.get("/api/summary")
    partner = await http.get("/api/summary", headers=AS_PARTNER)
    page = await http.get("/")
    script = await http.get("/static/dashboard.js")
    elsewhere = await http.get("/static/index.html")

    assert (anonymous.status_code, partner.status_code) == (401, 403)
    for reader in (AS_NATIONAL, AS_PREFECTURE_69):
        assert (await http.get("/api/summary", headers=reader)).status_code == 200
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert '<html lang="fr">' in page.text and "/static/chart.umd.min.js" in page.text
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert script.status_code == 200 and "/api/summary" in script.text
    assert elsewhere.status_code == 404


async def test_cites_are_counted_by_the_year_they_were_decided_and_by_region_and_academie(
    service: Dashboard,
) -> None:
    in_2019 = labelled("cite-001", departement="69").model_copy(
        update={"decided_on": date(2019, 9, 5)})
    recorded_only = labelled("cite-002", departement="974").model_copy(
        update={"decided_on": None})  # written before decided_on: its recording day counts
    await service.s.publish(in_2019, recorded_only, labelled("cite-003", departement="93"),
                            allocated("cite-003", uuid4(), 300_000_00))

    summary = await service.summary()

    assert [(y["year"], y["cites_labelled"], y["allocated"]) for y in summary["years"]] == [
        (2019, 1, 0), (2025, 2, 300_000_00)]
    assert [(r["name"], r["cites"], r["allocated"]) for r in summary["regions"]] == [
        ("Auvergne-Rhône-Alpes", 1, 0), ("Île-de-France", 1, 300_000_00),
        ("La Réunion", 1, 0)]
    assert [(a["name"], a["cites"]) for a in summary["academies"]] == [
        ("Créteil", 1), ("La Réunion", 1), ("Lyon", 1)]
    assert sum(r["cites"] for r in summary["regions"]) \
        == sum(d["cites"] for d in summary["departements"]) == 3


async def test_a_revised_allocation_counts_at_its_revised_amount_everywhere(
    service: Dashboard,
) -> None:
    a2025, a2026 = uuid4(), uuid4()
    await service.s.publish(
        envelope(), labelled("cite-001"),
        allocated("cite-001", a2025, 300_000_00, year=2025),
        allocated("cite-001", a2026, 250_000_00, year=2026),
        revised("cite-001", a2025, 300_000_00, 200_000_00, year=2025),
        revised("cite-001", a2026, 250_000_00, 260_000_00, year=2026))

    money = await service.money()
    assert (money[("P147", 2025)]["allocated"], money[("P147", 2026)]["allocated"]) == (
        200_000_00, 260_000_00)
    summary = await service.summary()
    assert [(d["code"], d["allocated"]) for d in summary["departements"]] == [
        ("93", 460_000_00)]
    published = (await service.open_data()).json()
    years = {y["annee"]: y["dotation_p147"] for c in published if c["code_cite"] == "cite-001"
             for y in c["annees"]}
    assert years == {2025: 200000.0, 2026: 260000.0}


async def test_the_states_credits_are_voted_delegated_consumed_and_closed_as_funding_says(
    service: Dashboard,
) -> None:
    a2025 = uuid4()
    p147 = BudgetProgramme.P147
    await service.s.publish(
        envelope(), labelled("cite-001"),
        CreditsVoted(programme=p147, year=2025, ae=100_000_00, cp=60_000_00, previous_ae=0,
                     previous_cp=0, voted_at=AT),
        CreditsDelegated(programme=p147, year=2025, departement="93", ae=80_000_00,
                         cp=50_000_00, total_ae=80_000_00, total_cp=50_000_00,
                         delegated_at=AT),
        allocated("cite-001", a2025, 300_000_00, year=2025),
        committed("cite-001", a2025, 50_000_00), committed("cite-001", a2025, 30_000_00),
        cancelled("cite-001", a2025, 30_000_00), paid("cite-001", a2025, 45_000_00),
        BudgetYearClosed(programme=p147, year=2025, lapsed_ae=50_000_00,
                         lapsed_cp=15_000_00, restes_a_payer=5_000_00, open_commitments=1,
                         closed_at=AT),
        PaymentMade(cite_id="cite-001", payment_id=uuid4(), commitment_id=uuid4(),
                    allocation_id=a2025, payee_partner_id=uuid4(), amount=5_000_00,
                    paid_at=datetime(2026, 1, 10, 9, 0, tzinfo=UTC)))

    summary = await service.summary()
    assert summary["credits"] == [
        {"programme": "P147", "year": 2025, "ae": 100_000_00, "cp": 60_000_00,
         "delegated_ae": 80_000_00, "delegated_cp": 50_000_00, "engaged": 50_000_00,
         "spent": 45_000_00, "lapsed_ae": 50_000_00, "lapsed_cp": 15_000_00,
         "restes_a_payer": 5_000_00, "closed": True}]
    # The 2026 payment of a 2025 commitment is 2025's money, 2026's CP (no credits of 2026
    # told yet: not a line of its own), and no money line of 2026.
    money = await service.money()
    assert money[("P147", 2025)]["paid"] == 50_000_00 and ("P147", 2026) not in money
