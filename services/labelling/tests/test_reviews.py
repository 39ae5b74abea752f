"""The annual revue de projet over HTTP: the coordination opens a year's campaign (a review
for each cité labelled that year), the cité's préfecture fills it, records the troïka's
validation and submits it with the year's money as funding's events told it (never typed);
a review not submitted by its deadline is noted overdue once; the year's synthesis adds the
submitted reviews up, as JSON and CSV."""

from __future__ import annotations

import csv
import io
from datetime import date, timedelta
from typing import Any
from uuid import UUID, uuid4

from labelling.expiry import note_overdue_reviews
from labelling_kit import Labelling

from cites_contracts import Envelope
from cites_contracts.events.funding import (
    AllocationRevised,
    CoFinancingDeclared,
    CommitmentCancelled,
    FondsDeLaCiteGranted,
    FundsAllocated,
    FundsCommitted,
    PastSpendingImported,
    PaymentMade,
    RecoveryOrdered,
)
from cites_contracts.types import BudgetProgramme
from cites_runtime.testing import (
    AS_NATIONAL,
    AS_PREFECTURE_69,
    AS_PREFECTURE_93,
    AS_VIEWER,
    NOW,
    FakeClock,
    eventually,
)

YEAR = NOW.year  # the kit labels on 2025-03-10: the label covers 2025
DUE = f"{YEAR + 1}-03-31"

CONTENT: dict[str, Any] = {
    "operational_review": "Toutes les actions prévues ont démarré ; la coordination des "
                          "acteurs du soir reste à consolider.",
    "actions": [
        {"title": "Accompagnement à la scolarité", "objective": "school_role",
         "age_group": "11-15", "theme": "school_success", "cost": 4_500_000},
        {"title": "Café des parents", "objective": "educational_continuity",
         "age_group": "0-25", "theme": "parenthood", "cost": 1_200_000},
    ],
    "commune_contribution": 34_000_000,
    "indicators": [{"code": "absenteisme-college", "label": "Taux d'absentéisme",
                    "value": "7.4", "unit": "%"}],
}
TROIKA = {"validations": [{"role": "prefet", "validated_on": str(NOW.date())},
                          {"role": "recteur", "validated_on": str(NOW.date())},
                          {"role": "maire", "validated_on": str(NOW.date())}]}


async def _campaign(service: Labelling, due_on: str = DUE) -> Any:
    r = await service.http.post("/reviews/campaigns", headers=AS_NATIONAL,
                                json={"year": YEAR, "due_on": due_on})
    return r


async def _review_of(service: Labelling, cite: str) -> dict[str, Any]:
    r = await service.http.get(f"/reviews?cite_id={cite}&year={YEAR}", headers=AS_VIEWER)
    assert r.status_code == 200, r.text
    review, = r.json()["items"]
    return dict(review)


async def _money(service: Labelling, cite: str) -> None:
    """Funding's events of the cité's 2025: a dotation of 300 000 € revised to 280 000 €,
    30 000 € of fonds, 57 000 € committed then 7 000 € cancelled, 22 500 € paid, 3 500 €
    ordered back, 340 000 € of co-financing; and an allocation of another year."""
    a, other, c = uuid4(), uuid4(), uuid4()
    operator = uuid4()
    at = NOW
    await service.running.publish(
        FundsAllocated(cite_id=cite, allocation_id=a, envelope_id=uuid4(),
                       programme=BudgetProgramme.P147, year=YEAR, amount=30_000_000,
                       envelope_remaining=0, allocated_at=at),
        FundsAllocated(cite_id=cite, allocation_id=other, envelope_id=uuid4(),
                       programme=BudgetProgramme.P147, year=YEAR + 1, amount=99_900_000,
                       envelope_remaining=0, allocated_at=at),
        AllocationRevised(cite_id=cite, allocation_id=a, envelope_id=uuid4(),
                          programme=BudgetProgramme.P147, year=YEAR, previous_amount=30_000_000,
                          amount=28_000_000, envelope_remaining=0, motive="Revue",
                          revised_at=at),
        FondsDeLaCiteGranted(cite_id=cite, grant_id=uuid4(), year=YEAR,
                             lead_college_uai="0691234A",
                             contributions=({"programme": "P147", "amount": 1_500_000},
                                            {"programme": "P230", "amount": 1_500_000}),
                             granted_at=at),
        FundsCommitted(cite_id=cite, commitment_id=c, allocation_id=a,
                       operator_partner_id=operator, action_title="Soutien scolaire",
                       amount=5_700_000, committed_at=at),
        CommitmentCancelled(cite_id=cite, commitment_id=c, allocation_id=a, returned=700_000,
                            motive="Action réduite", cancelled_at=at),
        PaymentMade(cite_id=cite, payment_id=uuid4(), commitment_id=c, allocation_id=a,
                    payee_partner_id=operator, amount=2_250_000, paid_at=at),
        RecoveryOrdered(cite_id=cite, recovery_id=uuid4(), commitment_id=c,
                        payee_partner_id=operator, programme=BudgetProgramme.P147,
                        amount=350_000, order_reference="TP-2025-1", ordered_on=NOW.date(),
                        motive="Reliquat", ordered_at=at),
        CoFinancingDeclared(cite_id=cite, cofinancing_id=uuid4(), year=YEAR,
                            funder="Commune", amount=34_000_000, declared_at=at))
    await service.running.caught_up()


MONEY = {"allocated": 28_000_000, "fonds": 3_000_000, "committed": 5_000_000,
         "paid": 2_250_000, "ordered_back": 350_000, "cofinancing": 34_000_000}


async def test_a_campaign_opens_one_review_per_cite_of_the_year_and_again_only_the_new_ones(
        service: Labelling) -> None:
    _, first = await service.labelled()

    r = await _campaign(service)
    assert r.status_code == 201, r.text
    assert r.json() == {"year": YEAR, "due_on": DUE, "reviews": 1, "opened": 1}
    review = await _review_of(service, first)
    assert review["status"] == "open" and review["due_on"] == DUE
    assert review["money"] == dict.fromkeys(MONEY, 0)

    _, second = await service.labelled()
    again = await _campaign(service)
    assert (again.status_code, again.json()["opened"]) == (201, 1)
    assert (await _campaign(service)).status_code == 200  # nothing new: nothing opened
    read = await service.http.get(f"/reviews/campaigns/{YEAR}", headers=AS_VIEWER)
    assert read.json() == {"year": YEAR, "due_on": DUE, "reviews": 2, "opened": 0}
    assert (await _review_of(service, second))["status"] == "open"
    opened = await service.running.outbox("ProjectReviewOpened")
    assert [e.data.cite_id for e in opened] == [first, second]  # type: ignore[attr-defined]


async def test_a_campaign_keeps_its_deadline_and_no_year_opens_before_it_begins(
        service: Labelling) -> None:
    await service.labelled()
    assert (await _campaign(service)).status_code == 201
    other = await _campaign(service, due_on=f"{YEAR + 1}-04-30")
    assert other.status_code == 409 and "due on" in other.text
    future = await service.http.post("/reviews/campaigns", headers=AS_NATIONAL,
                                     json={"year": YEAR + 1, "due_on": f"{YEAR + 2}-03-31"})
    assert future.status_code == 422 and future.json()["detail"][0]["type"] == "review_year_begun"
    far = await service.http.post("/reviews/campaigns", headers=AS_NATIONAL,
                                  json={"year": YEAR - 1, "due_on": f"{YEAR + 1}-01-01"})
    assert far.status_code == 422
    assert far.json()["detail"][0]["type"] == "review_deadline_in_range"
    assert (await service.http.post("/reviews/campaigns", headers=AS_PREFECTURE_69,
                                    json={"year": YEAR, "due_on": DUE})).status_code == 403


async def test_filled_validated_and_submitted_with_the_money_funding_told(
        service: Labelling) -> None:
    _, cite = await service.labelled()
    await _campaign(service)
    await _money(service, cite)
    review = await _review_of(service, cite)
    assert review["money"] == MONEY  # prefilled, not typed
    path = f"/reviews/{review['review_id']}"

    filled = await service.http.put(f"{path}/content", headers=AS_PREFECTURE_69, json=CONTENT)
    assert filled.status_code == 200, filled.text
    validated = await service.http.post(f"{path}/validation", headers=AS_PREFECTURE_69,
                                        json=TROIKA)
    assert (validated.status_code, validated.json()["status"]) == (200, "validated")
    submitted = await service.http.post(f"{path}/submission", headers=AS_PREFECTURE_69,
                                        json={})
    assert submitted.status_code == 200, submitted.text
    body = submitted.json()
    assert (body["status"], body["late"], body["submitted_on"]) == (
        "submitted", False, str(NOW.date()))

    event, = await service.running.outbox("ProjectReviewSubmitted")
    data = event.data.model_dump(mode="json")
    assert data["money"] == MONEY and data["commune_contribution"] == 34_000_000
    assert [a["title"] for a in data["actions"]] == [a["title"] for a in CONTENT["actions"]]
    assert data["indicators"] == CONTENT["indicators"]
    assert await service.running.outbox("ProjectReviewValidated")

    # Frozen as submitted: funding's later events of the year no longer change it.
    await service.running.publish(CoFinancingDeclared(
        cite_id=cite, cofinancing_id=uuid4(), year=YEAR, funder="Département",
        amount=1_000_000, declared_at=NOW))
    await service.running.caught_up()
    assert (await service.http.get(path, headers=AS_VIEWER)).json()["money"] == MONEY
    again = await service.http.put(f"{path}/content", headers=AS_PREFECTURE_69, json=CONTENT)
    assert again.status_code == 409


async def test_past_spending_taken_over_counts_committed_and_paid_in_its_years_review(
        service: Labelling) -> None:
    _, cite = await service.labelled()
    await _campaign(service)
    allocation = uuid4()

    def past(year: int, committed: int, paid: int, from_frozen: int = 0
             ) -> PastSpendingImported:
        return PastSpendingImported(
            cite_id=cite, allocation_id=allocation if year == YEAR else uuid4(),
            programme=BudgetProgramme.P147, year=year, committed=committed, paid=paid,
            from_frozen=from_frozen, reference="CE-2019-069-01", recorded_at=NOW)

    # Imported (the envelope says so) and delivered twice: counted once; another year's
    # is that year's money, not this review's.
    imported = Envelope.wrap(past(YEAR, 8_000_000, 7_250_000, from_frozen=500_000),
                             sequence=99, imported=True)
    await service.running.publish(
        FundsAllocated(cite_id=cite, allocation_id=allocation, envelope_id=uuid4(),
                       programme=BudgetProgramme.P147, year=YEAR, amount=10_000_000,
                       envelope_remaining=0, allocated_at=NOW),
        imported, imported, past(YEAR - 1, 9_000_000, 9_000_000))
    await service.running.caught_up()

    assert (await _review_of(service, cite))["money"] == {
        **dict.fromkeys(MONEY, 0), "allocated": 10_000_000, "committed": 8_000_000,
        "paid": 7_250_000}


async def test_the_troika_validates_what_is_filled_and_a_change_needs_it_again(
        service: Labelling) -> None:
    _, cite = await service.labelled()
    await _campaign(service)
    path = f"/reviews/{(await _review_of(service, cite))['review_id']}"

    early = await service.http.post(f"{path}/validation", headers=AS_PREFECTURE_69, json=TROIKA)
    assert early.status_code == 409 and "no content" in early.text
    await service.http.put(f"{path}/content", headers=AS_PREFECTURE_69, json=CONTENT)
    no_recteur = {"validations": [v for v in TROIKA["validations"] if v["role"] != "recteur"]
                  + [{"role": "president_epci", "validated_on": str(NOW.date())}]}
    r = await service.http.post(f"{path}/validation", headers=AS_PREFECTURE_69, json=no_recteur)
    assert r.status_code == 422 and r.json()["detail"][0]["type"] == "review_troika"
    tomorrow = {"validations": [{**v, "validated_on": str(NOW.date() + timedelta(days=1))}
                                for v in TROIKA["validations"]]}
    r = await service.http.post(f"{path}/validation", headers=AS_PREFECTURE_69, json=tomorrow)
    assert r.status_code == 422
    assert r.json()["detail"][0]["type"] == "review_validation_not_future"
    unsent = await service.http.post(f"{path}/submission", headers=AS_PREFECTURE_69, json={})
    assert unsent.status_code == 409 and "not validated" in unsent.text

    await service.http.post(f"{path}/validation", headers=AS_PREFECTURE_69, json=TROIKA)
    changed = {**CONTENT, "commune_contribution": 1}
    r = await service.http.put(f"{path}/content", headers=AS_PREFECTURE_69, json=changed)
    assert (r.json()["status"], r.json()["validations"]) == ("open", [])
    unsent = await service.http.post(f"{path}/submission", headers=AS_PREFECTURE_69, json={})
    assert unsent.status_code == 409

    other = await service.http.put(f"{path}/content", headers=AS_PREFECTURE_93, json=CONTENT)
    assert other.status_code == 403
    unknown = await service.http.put(f"{path}/content", headers=AS_PREFECTURE_69,
                                     json={**CONTENT, "actions": [{**CONTENT["actions"][0],
                                                                   "typo": 1}]})
    assert unknown.status_code == 422
    assert (await service.http.get(path, headers=AS_VIEWER)).json()["commune_contribution"] == 1


async def test_a_review_not_submitted_by_its_deadline_is_noted_overdue_once_and_may_come_late(
        service: Labelling, clock: FakeClock) -> None:
    _, cite = await service.labelled()
    _, on_time = await service.labelled()
    await _campaign(service)
    for c in (cite, on_time):
        path = f"/reviews/{(await _review_of(service, c))['review_id']}"
        await service.http.put(f"{path}/content", headers=AS_PREFECTURE_69, json=CONTENT)
        await service.http.post(f"{path}/validation", headers=AS_PREFECTURE_69, json=TROIKA)
    await service.http.post(
        f"/reviews/{(await _review_of(service, on_time))['review_id']}/submission",
        headers=AS_PREFECTURE_69, json={})

    clock.set_date(date.fromisoformat(DUE))
    assert await note_overdue_reviews(service.runtime) == 0  # the deadline day is not late
    clock.set_date(date.fromisoformat(DUE) + timedelta(days=1))
    assert await note_overdue_reviews(service.runtime) == 1
    assert await note_overdue_reviews(service.runtime) == 0
    overdue, = await service.running.outbox("ProjectReviewOverdue")
    assert overdue.data.cite_id == cite  # type: ignore[attr-defined]
    listed = await service.http.get(f"/reviews?year={YEAR}&overdue=true", headers=AS_VIEWER)
    assert [r["cite_id"] for r in listed.json()["items"]] == [cite]

    review = await _review_of(service, cite)
    late = await service.http.post(f"/reviews/{review['review_id']}/submission",
                                   headers=AS_PREFECTURE_69, json={})
    assert (late.json()["late"], late.json()["overdue"]) == (True, False)
    event, _ = sorted(await service.running.outbox("ProjectReviewSubmitted"),
                      key=lambda e: e.data.late)  # type: ignore[attr-defined]
    assert event.data.cite_id == on_time  # type: ignore[attr-defined]


async def test_the_synthesis_adds_up_the_submitted_reviews_as_json_and_csv(
        service: Labelling, clock: FakeClock) -> None:
    _, cite = await service.labelled()
    _, silent = await service.labelled()
    await _campaign(service)
    await _money(service, cite)
    path = f"/reviews/{(await _review_of(service, cite))['review_id']}"
    await service.http.put(f"{path}/content", headers=AS_PREFECTURE_69, json=CONTENT)
    await service.http.post(f"{path}/validation", headers=AS_PREFECTURE_69, json=TROIKA)
    await service.http.post(f"{path}/submission", headers=AS_PREFECTURE_69, json={})
    clock.set_date(date.fromisoformat(DUE) + timedelta(days=1))

    s = (await service.http.get(f"/reviews/synthesis/{YEAR}", headers=AS_VIEWER)).json()
    assert (s["reviews"], s["submitted"], s["submitted_late"], s["overdue"]) == (2, 1, 0, 1)
    assert s["money"] == MONEY and s["commune_contribution"] == 34_000_000
    assert s["actions"] == {"count": 2, "cost": 5_700_000}
    assert s["by_objective"] == {"educational_continuity": {"count": 1, "cost": 1_200_000},
                                 "school_role": {"count": 1, "cost": 4_500_000}}
    indicator, = s["indicators"]
    assert (indicator["code"], indicator["cites"], indicator["mean"]) == (
        "absenteisme-college", 1, "7.4000")

    export = await service.http.get(f"/reviews/synthesis/{YEAR}/reviews.csv",
                                    headers=AS_VIEWER)
    assert export.headers["content-type"].startswith("text/csv")
    rows = {r["cite_id"]: r for r in csv.DictReader(io.StringIO(export.text))}
    assert (rows[cite]["statut"], rows[cite]["dotation"], rows[cite]["paye"]) == (
        "submitted", "280000.00", "22500.00")
    assert (rows[silent]["statut"], rows[silent]["en_retard"]) == ("open", "oui")
    assert (await service.http.get(f"/reviews/synthesis/{YEAR - 1}",
                                   headers=AS_VIEWER)).status_code == 404


async def test_a_payment_on_an_allocation_funding_never_announced_is_dead_lettered(
        service: Labelling) -> None:
    _, cite = await service.labelled()
    await service.running.publish(PaymentMade(
        cite_id=cite, payment_id=uuid4(), commitment_id=uuid4(), allocation_id=UUID(int=7),
        payee_partner_id=uuid4(), amount=100, paid_at=NOW))

    async def lettered() -> bool:
        return any(r.topic.endswith("labelling.dlq") for r in service.running.records)

    await eventually(lettered, what="the dead letter")
    letter = next(r for r in service.running.records if r.topic.endswith("labelling.dlq"))
    headers = {k: v.decode() for k, v in letter.headers}
    assert headers["dlq.reason"] == "rejected"
    assert "which no allocation or commitment of funding announced" in headers["dlq.error"]


async def test_a_decision_cites_a_submitted_review_of_its_cite_and_no_other(
        service: Labelling) -> None:
    _, cite = await service.labelled()
    _, other = await service.labelled()
    await _campaign(service)
    mine = (await _review_of(service, cite))["review_id"]
    theirs = (await _review_of(service, other))["review_id"]
    motive = {"motive": "Revue de projet : aucune action engagée"}

    for review_id in (mine, theirs):  # mine is not submitted yet; theirs is not mine
        r = await service.http.post(f"/cites/{cite}/suspension", headers=AS_NATIONAL,
                                    json={**motive, "review_id": review_id})
        assert r.status_code == 422 and r.json()["detail"][0]["type"] == "review_cited"
    assert "labelling.LabelSuspended" not in await service.outbox()

    path = f"/reviews/{mine}"
    await service.http.put(f"{path}/content", headers=AS_PREFECTURE_69, json=CONTENT)
    await service.http.post(f"{path}/validation", headers=AS_PREFECTURE_69, json=TROIKA)
    await service.http.post(f"{path}/submission", headers=AS_PREFECTURE_69, json={})
    r = await service.http.post(f"/cites/{cite}/suspension", headers=AS_NATIONAL,
                                json={**motive, "review_id": mine})
    assert r.status_code == 200, r.text

    suspended, = await service.running.outbox("LabelSuspended")
    assert str(suspended.data.review_id) == mine  # type: ignore[attr-defined]
    history = (await service.http.get(f"/cites/{cite}", headers=AS_VIEWER)).json()["history"]
    assert history[-1]["kind"] == "LabelSuspended" and history[-1]["review_id"] == mine


def test_an_indicators_mean_rounds_a_half_away_from_zero() -> None:
    from decimal import Decimal

    from labelling.domain.review import IndicatorSummary

    def mean(total: str, cites: int) -> Decimal:
        return IndicatorSummary("x", "x", None, cites, Decimal(total), Decimal(0),
                                Decimal(0)).mean

    assert mean("0.00025", 1) == Decimal("0.0003")  # half-even would give 0.0002
    assert mean("-0.00025", 1) == Decimal("-0.0003")
    assert mean("125.70", 16) == Decimal("7.8563")
