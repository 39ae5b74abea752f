"""``GET /api/summary``: every figure the page shows, read from the projection (and the last
health probe), as one document — what the page polls and what tests compare."""

from __future__ import annotations

from collections import defaultdict
from datetime import date

from fastapi import APIRouter

from cites_runtime.db import Reads
from cites_runtime.http import Reader

from .. import store
from ..domain.departements import academie_of, region_of
from ..domain.programme import money_lines, per_programme
from ..domain.reviews import review_years
from ..platform_health import Health
from .views import (
    AlliancesView,
    AreaView,
    CreditsLineView,
    DepartementView,
    EnvelopeView,
    IndicatorMeanView,
    LateReviewView,
    NotificationsView,
    ReviewsView,
    ReviewSynthesisView,
    SummaryView,
    WaveView,
    YearView,
)

__all__ = ["LATE_REVIEWS_LISTED", "router"]

LATE_REVIEWS_LISTED = 100
"""The late or overdue reviews the summary lists at most (the page polls it every few
seconds; the counts per year say how many there are in all)."""

router = APIRouter(tags=["summary"])


@router.get("/api/summary", response_model=SummaryView,
            summary="Every figure of the dashboard, from the events")
async def summary(caller: Reader) -> SummaryView:
    pool = caller.pool
    cites, waves = await _cites_and_waves(pool)
    money = money_lines((r["programme"], r["year"], r["movement"], r["amount"], r["n"])
                        for r in await store.money_sums(pool))
    health = await store.health(pool)
    departements = [DepartementView.of(r) for r in await store.by_departement(pool)]
    labelled = {r["year"]: r["cites"] for r in await store.labelled_by_year(pool)}
    cofinancing = {r["year"]: (r["planned"], r["given"])
                   for r in await store.cofinancing_by_year(pool)}
    return SummaryView(
        generated_at=caller.runtime.settings.clock(),
        refresh_s=caller.runtime.settings.refresh_s,
        cites=cites, waves=waves, years=YearView.of(labelled, money, cofinancing),
        departements=departements, regions=AreaView.roll_up(departements, region_of),
        academies=AreaView.roll_up(departements, academie_of),
        money=money, money_by_programme=per_programme(money),
        envelopes=[EnvelopeView.of(r) for r in await store.envelopes(pool)],
        credits=[CreditsLineView.of(r) for r in await store.credits(pool)],
        alliances=await _alliances(pool),
        notifications=NotificationsView.of(
            {r["template"]: {"sent": r["sent"], "failed": r["failed"]}
             for r in await store.deliveries_by_template(pool)}),
        reviews=await _reviews(pool, caller.runtime.today()),
        health=None if health is None else Health.model_validate(health))


async def _cites_and_waves(pool: Reads) -> tuple[dict[str, int], list[WaveView]]:
    """Cités by status, and each wave — its title, whether a test wave — with its cités and
    candidatures by status (by year, a wave whose year is unknown last). Test waves' cités
    are counted like the others: the programme's figures show what the platform holds,
    and the page marks those waves."""
    cites: dict[str, int] = defaultdict(int)
    waves: dict[str, WaveView] = {r["wave_id"]: WaveView.of(r["wave_id"], r["year"],
                                                            r["title"], r["test"])
                                  for r in await store.waves(pool)}
    for r in await store.cites_by_wave(pool):
        wave = waves.setdefault(r["wave_id"], WaveView.of(r["wave_id"], r["year"]))
        wave.cites[r["status"]] = r["n"]
        cites[r["status"]] += r["n"]
    for r in await store.candidatures_by_wave(pool):
        wave = waves.setdefault(r["wave_id"], WaveView.of(r["wave_id"]))
        wave.candidatures[r["status"]] = r["n"]
    return dict(cites), sorted(waves.values(), key=lambda w: (w.year or 9999, w.wave_id))


async def _alliances(pool: Reads) -> AlliancesView:
    return AlliancesView.of(
        dict(await store.alliance_counts(pool)),
        {r["size"]: r["alliances"] for r in await store.alliance_sizes(pool)},
        {r["kind"]: r["members"] for r in await store.members_by_kind(pool)})


async def _reviews(pool: Reads, today: date) -> ReviewsView:
    years = review_years(((r["year"], r["due_on"], r["late"], r["n"])
                          for r in await store.review_counts(pool)), today)
    listed = await store.late_or_missing_reviews(pool, today, LATE_REVIEWS_LISTED)
    return ReviewsView(years=years, late_or_missing=[LateReviewView.of(r) for r in listed],
                       late_or_missing_total=sum(y.submitted_late + y.overdue for y in years),
                       late_or_missing_listed=LATE_REVIEWS_LISTED,
                       syntheses=[ReviewSynthesisView.of(r)
                                  for r in await store.review_syntheses(pool)],
                       indicators=[IndicatorMeanView.of(r)
                                   for r in await store.review_indicators(pool)])
