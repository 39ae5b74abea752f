"""Revues de projet: the national coordination opens a year's campaign; the cité's préfecture
fills its review, records the troïka's validation and submits it; readers list the reviews
and read the year's national synthesis, as JSON or as a CSV export."""

from __future__ import annotations

from datetime import date
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Path, Query, Response
from pydantic import ConfigDict, Field, StringConstraints

from cites_contracts.events.labelling import ReviewAction, ReviewIndicator, TroikaValidation
from cites_contracts.types import Cents, CiteId, Departement, ProgrammeYear
from cites_runtime.errors import NotFound
from cites_runtime.http import Input, National, Operator, Page, Paging, Reader

from .. import service, store
from ..domain import Content, ReviewStatus
from ..domain.review import Synthesis
from .views import CampaignView, ReviewView, SynthesisView, synthesis_csv

__all__ = ["router"]

router = APIRouter(prefix="/reviews", tags=["revues de projet"])
ReviewPath = Annotated[UUID, Path(description="The review's id")]
YearPath = Annotated[ProgrammeYear, Path(description="The reviewed year")]


class CampaignIn(Input):
    year: ProgrammeYear = Field(description="The year the reviews look back on")
    due_on: date = Field(description="The deadline, in that year or the next")


class ActionIn(ReviewAction):
    """An action of the updated action plan (unknown fields refused)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class IndicatorIn(ReviewIndicator):
    """An indicator of the convention's protocol, measured (unknown fields refused)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class ReviewContentIn(Input):
    operational_review: Annotated[str, StringConstraints(
        strip_whitespace=True, min_length=1, max_length=20_000)] = Field(
        description="The operational review of the year: what ran, what did not, why")
    actions: list[ActionIn] = Field(min_length=1, max_length=500,
                                    description="The updated action plan")
    commune_contribution: Cents = Field(description="The commune's money for the year")
    indicators: list[IndicatorIn] = Field(default=[], max_length=200)

    def content(self) -> Content:
        return Content(
            operational_review=self.operational_review,
            actions=tuple(ReviewAction.model_validate(a.model_dump()) for a in self.actions),
            commune_contribution=self.commune_contribution,
            indicators=tuple(ReviewIndicator.model_validate(i.model_dump())
                             for i in self.indicators))


class ValidationIn(Input):
    validations: list[TroikaValidation] = Field(
        min_length=3, max_length=4, description="The préfet, the recteur, and the maire or "
        "the EPCI's president, each with the date they validated the content")


class SubmissionIn(Input):
    submitted_on: date | None = Field(
        None, description="The date it was submitted in the programme (not in the future, "
        "not before the validations); today when absent")


@router.post("/campaigns", status_code=201, response_model=CampaignView,
             summary="Open a year's campaign: a review for every cité labelled that year "
                     "(national coordination; again: the cités labelled since)")
async def open_campaign(body: CampaignIn, caller: National, response: Response
                        ) -> CampaignView:
    async with caller.unit_of_work() as uow:
        opened = await service.open_review_campaign(uow, body.year, body.due_on,
                                                    caller.actor)
        reviews = await store.count_reviews(uow.conn, body.year)
    if opened.opened == 0:
        response.status_code = 200
    return CampaignView(year=opened.campaign.year, due_on=opened.campaign.due_on,
                        reviews=reviews, opened=opened.opened)


@router.get("/campaigns/{year}", response_model=CampaignView,
            summary="A year's campaign: its deadline and how many reviews it opened")
async def get_campaign(year: YearPath, caller: Reader) -> CampaignView:
    campaign = await store.get_campaign(caller.pool, year)
    if campaign is None:
        raise NotFound.of("review campaign", year)
    return CampaignView(year=year, due_on=campaign.due_on,
                        reviews=await store.count_reviews(caller.pool, year), opened=0)


@router.get("", response_model=Page[ReviewView], summary="The reviews, by year then cité")
async def list_reviews(caller: Reader, paging: Paging,
                       year: ProgrammeYear | None = None, status: ReviewStatus | None = None,
                       departement: Departement | None = None, cite_id: CiteId | None = None,
                       overdue: bool | None = Query(None, description="true: past their "
                                                    "deadline and still not submitted")
                       ) -> Page[ReviewView]:
    today = caller.runtime.today()
    f = store.ReviewFilters(year, status.value if status else None, departement, cite_id,
                            overdue, today)
    reviews = await store.list_reviews(caller.pool, f, after=paging.after(int, str),
                                       limit=paging.fetch)
    money = await store.money_of(caller.pool, [(r.cite_id, r.year) for r in reviews])
    views = [ReviewView.of(r, money[(r.cite_id, r.year)], today) for r in reviews]
    return paging.page(views, key=lambda v: (v.year, v.cite_id))


@router.get("/{review_id}", response_model=ReviewView,
            summary="A review: its content, validations and the year's money")
async def get_review(review_id: ReviewPath, caller: Reader) -> ReviewView:
    review = await store.get_review(caller.pool, review_id)
    if review is None:
        raise NotFound.of("review", review_id)
    key = (review.cite_id, review.year)
    return ReviewView.of(review, (await store.money_of(caller.pool, [key]))[key],
                         caller.runtime.today())


@router.put("/{review_id}/content", response_model=ReviewView,
            summary="Fill the review (the cité's préfecture); a change after the troïka's "
                    "validation needs it again")
async def fill(review_id: ReviewPath, body: ReviewContentIn, caller: Operator) -> ReviewView:
    async with caller.unit_of_work() as uow:
        review = await service.fill_review(uow, review_id, body.content(), caller.actor)
        key = (review.cite_id, review.year)
        money = (await store.money_of(uow.conn, [key]))[key]
    return ReviewView.of(review, money, uow.today)


@router.post("/{review_id}/validation", response_model=ReviewView,
             summary="Record the troïka's validation of the review's content")
async def validate(review_id: ReviewPath, body: ValidationIn, caller: Operator) -> ReviewView:
    async with caller.unit_of_work() as uow:
        review = await service.validate_review(uow, review_id, tuple(body.validations),
                                               caller.actor)
        key = (review.cite_id, review.year)
        money = (await store.money_of(uow.conn, [key]))[key]
    return ReviewView.of(review, money, uow.today)


@router.post("/{review_id}/submission", response_model=ReviewView,
             summary="Submit the validated review to the national coordination, with the "
                     "year's money as funding told it")
async def submit(review_id: ReviewPath, body: SubmissionIn, caller: Operator) -> ReviewView:
    async with caller.unit_of_work() as uow:
        review = await service.submit_review(uow, review_id, body.submitted_on, caller.actor)
    assert review.money is not None
    return ReviewView.of(review, review.money, uow.today)


async def _synthesis(caller: Reader, year: int) -> tuple[Synthesis, list[ReviewView]]:
    campaign = await store.get_campaign(caller.pool, year)
    if campaign is None:
        raise NotFound.of("review campaign", year)
    reviews = await store.list_reviews(caller.pool, store.ReviewFilters(year=year))
    money = await store.money_of(caller.pool, [(r.cite_id, r.year) for r in reviews])
    today = caller.runtime.today()
    views = [ReviewView.of(r, money[(r.cite_id, r.year)], today) for r in reviews]
    return Synthesis.of(campaign, reviews, today), views


@router.get("/synthesis/{year}", response_model=SynthesisView,
            summary="The year's national synthesis: counts, money used, actions, indicators")
async def synthesis(year: YearPath, caller: Reader) -> SynthesisView:
    return SynthesisView.of((await _synthesis(caller, year))[0])


@router.get("/synthesis/{year}/reviews.csv", response_class=Response,
            summary="The year's reviews, one line per cité (CSV, UTF-8, comma-separated)",
            responses={200: {"content": {"text/csv": {}}}})
async def synthesis_export(year: YearPath, caller: Reader) -> Response:
    _, views = await _synthesis(caller, year)
    names = await store.cite_names(caller.pool, [v.cite_id for v in views])
    return Response(synthesis_csv(views, names), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition":
                             f'attachment; filename="revues-de-projet-{year}.csv"'})
