"""Candidatures: préfectures draft, submit and withdraw; rectorats and communes prepare
(draft, revise) the candidature of their territory and file it with the préfecture, which
submits it or returns it to them; the national coordination scores and decides; readers
list them (a préfecture sees only its own département)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Body
from pydantic import Field

from cites_contracts.types import Departement, Motive, Slug, TroikaRole, WaveId
from cites_runtime.actor import Role
from cites_runtime.errors import NotFound
from cites_runtime.http import (
    Input,
    National,
    Operator,
    Page,
    Paging,
    Prefecture,
    Preparer,
    Reader,
    RectoratOrCommune,
)

from .. import service, store
from ..domain import CandidatureStatus, Dossier, Outcome
from ..domain.candidature import SCORE_MAX
from ..domain.dossier import STORED
from ..examples import eligible_candidature
from .deps import settings
from .views import CandidatureSummaryView, CandidatureView

__all__ = ["CandidatureIn", "router"]

router = APIRouter(prefix="/candidatures", tags=["candidatures"])


class CandidatureIn(Dossier):
    """A candidature as filed: the dossier, its wave and its département."""

    wave_id: WaveId
    departement: Departement

    def dossier(self) -> Dossier:
        # Validated already at the door (STORED skips running the e-mail checks twice).
        return Dossier.model_validate(self.model_dump(exclude={"wave_id", "departement"}),
                                      context=STORED)


Filed = Annotated[CandidatureIn, Body(openapi_examples={"eligible": {
    "summary": "An eligible candidature of the Rhône", "value": eligible_candidature()}})]


class WithdrawalIn(Input):
    motive: Motive | None = None


class ReturnIn(Input):
    motive: Motive = Field(description="Why the préfecture returns the draft: what to "
                           "complete or change before filing it again")


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
        None, description="Signature date of the triennial convention, when labelling (not "
        "before the decision)")
    decided_on: date | None = Field(
        None, description="The date it takes effect in the programme (not in the future, not "
        "before what it follows); today when absent")


@router.post("", status_code=201, response_model=CandidatureView,
             summary="Draft a candidature (préfecture, or rectorat or commune preparing it; "
                     "own territory)")
async def draft(body: Filed, caller: Preparer) -> CandidatureView:
    """A rectorat drafts in the département its token names; a commune only a dossier whose
    communes include its own. Their draft is filed with the préfecture before it is
    submitted (``prepared_by`` says whose it is)."""
    async with caller.unit_of_work() as uow:
        c = await service.draft_candidature(uow, body.wave_id, body.departement, body.dossier(),
                                            caller.actor)
    return CandidatureView.of(c)


@router.get("", response_model=Page[CandidatureSummaryView],
            summary="Candidatures by wave, status and département, newest first")
async def list_candidatures(
    caller: Reader, paging: Paging, wave: WaveId | None = None,
    status: CandidatureStatus | None = None, departement: Departement | None = None,
) -> Page[CandidatureSummaryView]:
    if caller.actor.role is Role.PREFECTURE:  # sees its own département's only
        caller.actor.ensure_acts_for(departement or caller.actor.departement)
        departement = caller.actor.departement
    f = store.Filters(wave, status.value if status else None, departement)
    rows = await store.list_candidatures(caller.pool, f, after=paging.after(
        datetime.fromisoformat, UUID), limit=paging.fetch)
    return paging.page([CandidatureSummaryView.of(r) for r in rows],
                       key=lambda c: (c.created_at, c.id))


@router.get("/{candidature_id}", response_model=CandidatureView, summary="One candidature")
async def get_candidature(candidature_id: UUID, caller: Reader) -> CandidatureView:
    c = await store.get_candidature(caller.pool, candidature_id)
    if c is None:
        raise NotFound.of("candidature", candidature_id)
    caller.actor.ensure_acts_for(c.departement)
    return CandidatureView.of(c, redact_troika=caller.actor.role in (Role.VIEWER,
                                                                      Role.RECTORAT))


@router.put("/{candidature_id}", response_model=CandidatureView,
            summary="Revise a draft (préfecture; rectorat or commune: the draft they prepare, "
                    "until filed)")
async def revise(candidature_id: UUID, body: Filed, caller: Preparer) -> CandidatureView:
    async with caller.unit_of_work() as uow:
        c = await service.revise_candidature(uow, candidature_id, body.wave_id,
                                             body.departement, body.dossier(), caller.actor)
    return CandidatureView.of(c)


@router.post("/{candidature_id}/filing", response_model=CandidatureView,
             summary="File a prepared draft with the préfecture (rectorat or commune, own "
                     "territory)")
async def file_with_prefecture(candidature_id: UUID, caller: RectoratOrCommune
                               ) -> CandidatureView:
    """Filed, only the préfecture revises it, returns it or submits it. Filing again
    changes nothing; no event is published (the préfecture's submission is)."""
    async with caller.unit_of_work() as uow:
        c = await service.file_candidature(uow, candidature_id, caller.actor)
    return CandidatureView.of(c)


@router.post("/{candidature_id}/return", response_model=CandidatureView,
             summary="Return a filed draft to the rectorat and the commune, with a motive "
                     "(préfecture)")
async def return_to_preparers(candidature_id: UUID, body: ReturnIn, caller: Prefecture
                              ) -> CandidatureView:
    """They may revise it and file it again; no event is published."""
    async with caller.unit_of_work() as uow:
        c = await service.return_candidature(uow, candidature_id, body.motive, caller.actor)
    return CandidatureView.of(c)


@router.post("/{candidature_id}/submission", response_model=CandidatureView,
             summary="Submit a draft (préfecture; a prepared draft once filed): refused with "
                     "every failed rule of the wave's rule set")
async def submit(candidature_id: UUID, caller: Prefecture) -> CandidatureView:
    async with caller.unit_of_work() as uow:
        c = await service.submit_candidature(uow, candidature_id, caller.actor)
    return CandidatureView.of(c)


@router.post("/{candidature_id}/withdrawal", response_model=CandidatureView,
             summary="Withdraw before the decision (préfecture)")
async def withdraw(candidature_id: UUID, caller: Prefecture, body: WithdrawalIn | None = None
                   ) -> CandidatureView:
    async with caller.unit_of_work() as uow:
        c = await service.withdraw_candidature(uow, candidature_id,
                                               body.motive if body else None, caller.actor)
    return CandidatureView.of(c)


@router.delete("/{candidature_id}/troika/{role}", status_code=204,
               summary="Right to erasure: a troïka signatory's address, everywhere it went")
async def erase_signatory(candidature_id: UUID, role: TroikaRole, caller: Operator) -> None:
    """The address leaves the dossier, the outbox and (by compaction of the card's
    tombstone) every Kafka topic for good; see docs/guarantees.md, "Right to erasure". Erasing
    again changes nothing (204 too)."""
    async with caller.unit_of_work() as uow:
        await service.erase_signatory(uow, candidature_id, role, caller.actor)


@router.put("/{candidature_id}/review", response_model=CandidatureView,
            summary="Score criteria of the wave's grid (national coordination)")
async def review(candidature_id: UUID, body: ReviewIn, caller: National) -> CandidatureView:
    scores = {k: (v.score, v.comment) for k, v in body.scores.items()}
    async with caller.unit_of_work() as uow:
        c = await service.score_candidature(uow, candidature_id, scores, caller.actor)
    return CandidatureView.of(c)


@router.post("/{candidature_id}/decision", response_model=CandidatureView,
             summary="Label or reject, with a motive (the same decision again is a no-op)")
async def decide(candidature_id: UUID, body: DecisionIn, caller: National) -> CandidatureView:
    async with caller.unit_of_work() as uow:
        c = await service.decide(uow, candidature_id, body.outcome, body.motive,
                                 label_years=settings(caller).label_years,
                                 decided_on=body.decided_on,
                                 convention_signed_on=body.convention_signed_on,
                                 actor=caller.actor)
    return CandidatureView.of(c)
