"""The revues de projet, from labelling's events alone (in-memory broker, real PostgreSQL):
per year, the reviews due, submitted on time, submitted late, overdue — past the deadline
by the dashboard's today, whether or not labelling has noted it yet — and the late or
missing ones listed."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from dashboard.api.summary import LATE_REVIEWS_LISTED
from dashboard_kit import (
    Dashboard,
    labelled,
    review_opened,
    review_overdue,
    review_submitted,
)

from cites_contracts import Envelope
from cites_contracts.events.labelling import ReviewIndicator, ReviewMoney
from cites_runtime.testing import FakeClock

DUE_2025 = date(2026, 3, 31)


def _figures(reviews: dict[str, object]) -> list[tuple[int, int, int, int, int, int]]:
    years = reviews["years"]
    assert isinstance(years, list)
    return [(y["year"], y["due"], y["submitted_on_time"], y["submitted_late"], y["overdue"],
             y["pending"]) for y in years]


async def test_reviews_are_counted_per_year_due_on_time_late_and_overdue(
    service: Dashboard, clock: FakeClock,
) -> None:
    clock.set_date(date(2026, 4, 15))
    on_time, late, missing, noted = (
        review_opened(f"cite-00{n}", 2025, DUE_2025, departement=d)
        for n, d in ((1, "93"), (2, "69"), (3, "93"), (4, "974")))
    await service.s.publish(
        labelled("cite-001"), labelled("cite-002", departement="69"),
        labelled("cite-003"), labelled("cite-004", departement="974"),
        on_time, late, missing, noted, review_opened("cite-001", 2026, date(2027, 3, 31)),
        review_submitted(on_time, date(2026, 3, 20)),
        review_submitted(late, date(2026, 4, 10)), review_overdue(noted))

    reviews = (await service.summary())["reviews"]

    assert _figures(reviews) == [(2025, 4, 1, 1, 2, 0), (2026, 1, 0, 0, 0, 1)]
    assert reviews["late_or_missing_total"] == 3
    assert [(r["cite_id"], r["cite_name"], r["departement"], r["departement_name"],
             r["year"], r["due_on"], r["submitted_on"])
            for r in reviews["late_or_missing"]] == [
        ("cite-003", "Cité éducative cite-003", "93", "Seine-Saint-Denis", 2025, "2026-03-31",
         None),
        ("cite-004", "Cité éducative cite-004", "974", "La Réunion", 2025, "2026-03-31", None),
        ("cite-002", "Cité éducative cite-002", "69", "Rhône", 2025, "2026-03-31",
         "2026-04-10")]


async def test_a_review_is_overdue_the_day_after_its_deadline_before_labelling_notes_it(
    service: Dashboard, clock: FakeClock,
) -> None:
    await service.s.publish(labelled("cite-001"), review_opened("cite-001", 2025, DUE_2025))

    clock.set_date(DUE_2025)
    on_the_day = (await service.summary())["reviews"]
    clock.set_date(date(2026, 4, 1))
    the_day_after = (await service.summary())["reviews"]

    assert _figures(on_the_day) == [(2025, 1, 0, 0, 0, 1)]
    assert on_the_day["late_or_missing"] == []
    assert _figures(the_day_after) == [(2025, 1, 0, 0, 1, 0)]
    assert [r["submitted_on"] for r in the_day_after["late_or_missing"]] == [None]


async def test_a_review_counts_once_whatever_came_of_its_events(
    service: Dashboard, clock: FakeClock,
) -> None:
    clock.set_date(date(2026, 5, 1))
    opened = review_opened("cite-001", 2025, DUE_2025)
    unheard = review_opened("cite-002", 2025, DUE_2025)  # its opening never came
    noted_then_submitted = review_opened("cite-003", 2025, DUE_2025)
    submission = Envelope.wrap(review_submitted(opened, date(2026, 3, 2)), sequence=2)
    await service.s.publish(
        opened, submission, submission, review_submitted(unheard, date(2026, 3, 30)),
        noted_then_submitted, review_overdue(noted_then_submitted),
        review_submitted(noted_then_submitted, date(2026, 4, 20)))

    reviews = (await service.summary())["reviews"]

    assert _figures(reviews) == [(2025, 3, 2, 1, 0, 0)]
    assert [(r["cite_id"], r["cite_name"], r["submitted_on"])
            for r in reviews["late_or_missing"]] == [("cite-003", None, "2026-04-20")]


async def test_the_late_or_missing_reviews_listed_are_bounded_and_say_how_many_in_all(
    service: Dashboard, clock: FakeClock,
) -> None:
    clock.set_date(date(2026, 6, 1))
    await service.s.publish(*(review_opened(f"cite-{n:03}", 2025, DUE_2025)
                              for n in range(LATE_REVIEWS_LISTED + 3)))

    reviews = (await service.summary())["reviews"]

    assert reviews["late_or_missing_total"] == LATE_REVIEWS_LISTED + 3
    assert len(reviews["late_or_missing"]) == LATE_REVIEWS_LISTED
    assert _figures(reviews) == [(2025, LATE_REVIEWS_LISTED + 3, 0, 0,
                                  LATE_REVIEWS_LISTED + 3, 0)]


async def test_the_national_synthesis_adds_up_the_submitted_reviews_per_year(
    service: Dashboard, clock: FakeClock,
) -> None:
    clock.set_date(date(2026, 4, 15))
    first, second, missing = (review_opened(f"cite-00{n}", 2025, DUE_2025) for n in (1, 2, 3))
    a = review_submitted(first, date(2026, 3, 20)).model_copy(update={
        "money": ReviewMoney(allocated=300_000_00, fonds=30_000_00, committed=120_000_00,
                             paid=80_000_00, ordered_back=5_000_00, cofinancing=340_000_00),
        "commune_contribution": 200_000_00,
        "indicators": (ReviewIndicator(code="absenteisme", label="Absentéisme",
                                       value=Decimal("7.4"), unit="%"),)})
    b = review_submitted(second, date(2026, 4, 2)).model_copy(update={
        "money": ReviewMoney(allocated=250_000_00, fonds=30_000_00, committed=100_000_00,
                             paid=50_000_00, ordered_back=0, cofinancing=0),
        "commune_contribution": 100_000_00,
        "indicators": (ReviewIndicator(code="absenteisme", label="Absentéisme",
                                       value=Decimal("9.1"), unit="%"),)})
    await service.s.publish(labelled("cite-001"), labelled("cite-002"), labelled("cite-003"),
                            first, second, missing, a, b)

    reviews = (await service.summary())["reviews"]

    assert reviews["syntheses"] == [{
        "year": 2025, "submitted": 2, "allocated": 550_000_00, "fonds": 60_000_00,
        "committed": 220_000_00, "paid": 130_000_00, "ordered_back": 5_000_00,
        "cofinancing": 340_000_00, "commune_contribution": 300_000_00, "actions": 2,
        "actions_cost": 90_000_00}]
    assert reviews["indicators"] == [{"year": 2025, "code": "absenteisme",
                                      "label": "Absentéisme", "unit": "%", "cites": 2,
                                      "mean": "8.2500"}]
