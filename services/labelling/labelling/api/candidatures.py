"""Candidatures: préfectures draft, submit and withdraw; the national coordination scores and
decides; readers list them (a préfecture sees only its own département)."""

from __future__ import annotations

from datetime import date
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Request
from pydantic import Field

from cites_contracts.types import Departement, Motive, Slug, WaveId
from cites_runtime.auth import Principal, Role, require

from .. import service, store
from ..domain import CandidatureIn, CandidatureStatus, Forbidden, NotFound, Outcome
from ..domain.candidature import SCORE_MAX
from ..domain.dossier import Input
from .deps import READERS, actor, cause, runtime
from .errors import DomainRoute
from .views import CandidatureSummaryView, CandidatureView, Page

__all__ = ["router"]

router = APIRouter(prefix="/candidatures", tags=["candidatures"], route_class=DomainRoute)
Limit = Annotated[int, Query(ge=1, le=200)]
Offset = Annotated[int, Query(ge=0, le=1_000_000)]


class WithdrawalIn(Input):
    motive: Motive | None = None


class ScoreIn(Input):
    score: int = Field(ge=0, le=SCORE_MAX, description=f"0 (absent) to {SCORE_MAX} (excellent)")
    comment: str = Field("", max_length=2000)


class ReviewIn(Input):
    scores: dict[Slug, ScoreIn] = Field(min_length=1, max_length=30,
                                        description="Criterion of the wave's grid → score")


class DecisionIn(Input):
    outcome: Outcome
    motive: Motive
    convention_signed_on: date | None = Field(
        None, description="Signature date of the triennial convention, when labelling")


@router.post("", status_code=201, response_model=CandidatureView,
             summary="Draft a candidature (préfecture, own département)")
async def draft(body: CandidatureIn, request: Request,
                who: Principal = Depends(require(Role.PREFECTURE))) -> CandidatureView:
    c = await service.draft_candidature(runtime(request), body, actor(who), cause(request))
    return CandidatureView.of(c)


@router.get("", response_model=Page[CandidatureSummaryView],
            summary="Candidatures by wave, status and département, newest first")
async def list_candidatures(
    request: Request, who: Principal = Depends(require(*READERS)),
    wave: WaveId | None = None, status: CandidatureStatus | None = None,
    departement: Departement | None = None, limit: Limit = 50, offset: Offset = 0,
) -> Page[CandidatureSummaryView]:
    if who.role is Role.PREFECTURE:
        if departement is not None and departement != who.departement:
            raise Forbidden(f"the préfecture of {who.departement} sees only its own "
                            "candidatures")
        departement = who.departement
    f = store.Filters(wave, status.value if status else None, departement)
    pool = runtime(request).pool
    rows = await store.list_candidatures(pool, f, limit=limit, offset=offset)
    return Page(items=[CandidatureSummaryView.of(r) for r in rows],
                total=await store.count_candidatures(pool, f), limit=limit, offset=offset)


@router.get("/{candidature_id}", response_model=CandidatureView, summary="One candidature")
async def get_candidature(candidature_id: UUID, request: Request,
                          who: Principal = Depends(require(*READERS))) -> CandidatureView:
    c = await store.get_candidature(runtime(request).pool, candidature_id)
    if c is None:
        raise NotFound("candidature", candidature_id)
    actor(who).ensure_acts_for(c.departement)
    return CandidatureView.of(c, redact_troika=who.role is Role.VIEWER)


@router.put("/{candidature_id}", response_model=CandidatureView,
            summary="Revise a draft (préfecture)")
async def revise(candidature_id: UUID, body: CandidatureIn, request: Request,
                 who: Principal = Depends(require(Role.PREFECTURE))) -> CandidatureView:
    c = await service.revise_candidature(runtime(request), candidature_id, body, actor(who),
                                         cause(request))
    return CandidatureView.of(c)


@router.post("/{candidature_id}/submission", response_model=CandidatureView,
             summary="Submit a draft: refused with every failed rule of the wave's rule set")
async def submit(candidature_id: UUID, request: Request,
                 who: Principal = Depends(require(Role.PREFECTURE))) -> CandidatureView:
    c = await service.submit_candidature(runtime(request), candidature_id, actor(who),
                                         cause(request))
    return CandidatureView.of(c)


@router.post("/{candidature_id}/withdrawal", response_model=CandidatureView,
             summary="Withdraw before the decision (préfecture)")
async def withdraw(candidature_id: UUID, request: Request, body: WithdrawalIn | None = None,
                   who: Principal = Depends(require(Role.PREFECTURE))) -> CandidatureView:
    c = await service.withdraw_candidature(runtime(request), candidature_id,
                                           body.motive if body else None, actor(who),
                                           cause(request))
    return CandidatureView.of(c)


@router.put("/{candidature_id}/review", response_model=CandidatureView,
            summary="Score criteria of the wave's grid (national coordination)")
async def review(candidature_id: UUID, body: ReviewIn, request: Request,
                 who: Principal = Depends(require(Role.NATIONAL))) -> CandidatureView:
    scores = {k: (v.score, v.comment) for k, v in body.scores.items()}
    c = await service.score_candidature(runtime(request), candidature_id, scores, actor(who),
                                        cause(request))
    return CandidatureView.of(c)


@router.post("/{candidature_id}/decision", response_model=CandidatureView,
             summary="Label or reject, with a motive (the same decision again is a no-op)")
async def decide(candidature_id: UUID, body: DecisionIn, request: Request,
                 who: Principal = Depends(require(Role.NATIONAL))) -> CandidatureView:
    c = await service.decide(runtime(request), candidature_id, body.outcome, body.motive,
                             actor=actor(who), convention_signed_on=body.convention_signed_on,
                             cause=cause(request))
    return CandidatureView.of(c)
