"""Cités: readers list them and read one with its history; the national coordination renews,
extends, suspends, reinstates and withdraws labels; the convention's signature is recorded
by the national coordination or the cité's préfecture."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import Field

from cites_contracts.types import CiteId, Departement, Motive, WaveId
from cites_runtime.auth import Principal, Role, require

from .. import service, store
from ..domain import LabelStatus, NotFound, PerimeterAdditionIn
from ..domain.dossier import Input
from .deps import READERS, actor, cause, runtime
from .errors import DomainRoute
from .views import CiteSummaryView, CiteView, Page

__all__ = ["router"]

router = APIRouter(prefix="/cites", tags=["cités"], route_class=DomainRoute)
CitePath = Annotated[CiteId, Path(description="Cité id, e.g. cite-001")]
NATIONAL = Depends(require(Role.NATIONAL))


class RenewalIn(Input):
    convention_signed_on: date | None = Field(
        None, description="Signature date of the new period's convention, if signed yet")


class ConventionIn(Input):
    signed_on: date


class MotiveIn(Input):
    motive: Motive


class ReinstatementIn(Input):
    motive: Motive | None = None


@router.get("", response_model=Page[CiteSummaryView],
            summary="Cités by wave, status and département, in labelling order")
async def list_cites(
    request: Request, _: Principal = Depends(require(*READERS)),
    wave: WaveId | None = None, status: LabelStatus | None = None,
    departement: Departement | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> Page[CiteSummaryView]:
    f = store.Filters(wave, status.value if status else None, departement)
    pool = runtime(request).pool
    labels = await store.list_labels(pool, f, limit=limit, offset=offset)
    return Page(items=[CiteSummaryView.of(x) for x in labels],
                total=await store.count_labels(pool, f), limit=limit, offset=offset)


@router.get("/{cite_id}", response_model=CiteView, summary="One cité and its history")
async def get_cite(cite_id: CitePath, request: Request,
                   _: Principal = Depends(require(*READERS))) -> CiteView:
    pool = runtime(request).pool
    label = await store.get_label(pool, cite_id)
    if label is None:
        raise NotFound("cité", cite_id)
    return CiteView.with_history(label, await store.history(pool, cite_id))


@router.post("/{cite_id}/renewal", response_model=CiteSummaryView,
             summary="Renew the label for a new period from the day after the current ends")
async def renew(cite_id: CitePath, request: Request, body: RenewalIn | None = None,
                who: Principal = NATIONAL) -> CiteSummaryView:
    x = await service.renew_label(
        runtime(request), cite_id, convention_signed_on=body.convention_signed_on if body
        else None, actor=actor(who), cause=cause(request))
    return CiteSummaryView.of(x)


@router.post("/{cite_id}/extension", response_model=CiteSummaryView,
             summary="Extend the perimeter (what is already in it is ignored)")
async def extend(cite_id: CitePath, body: PerimeterAdditionIn, request: Request,
                 who: Principal = NATIONAL) -> CiteSummaryView:
    x = await service.extend_perimeter(runtime(request), cite_id, body, actor=actor(who),
                                       cause=cause(request))
    return CiteSummaryView.of(x)


@router.post("/{cite_id}/convention", response_model=CiteSummaryView,
             summary="Record the signature of the current period's convention")
async def convention(cite_id: CitePath, body: ConventionIn, request: Request,
                     who: Principal = Depends(require(Role.NATIONAL, Role.PREFECTURE))
                     ) -> CiteSummaryView:
    x = await service.record_convention(runtime(request), cite_id, body.signed_on,
                                        actor=actor(who), cause=cause(request))
    return CiteSummaryView.of(x)


@router.post("/{cite_id}/suspension", response_model=CiteSummaryView,
             summary="Suspend the label, with a motive")
async def suspend(cite_id: CitePath, body: MotiveIn, request: Request,
                  who: Principal = NATIONAL) -> CiteSummaryView:
    x = await service.suspend_label(runtime(request), cite_id, body.motive, actor=actor(who),
                                    cause=cause(request))
    return CiteSummaryView.of(x)


@router.post("/{cite_id}/reinstatement", response_model=CiteSummaryView,
             summary="Lift a suspension")
async def reinstate(cite_id: CitePath, request: Request, body: ReinstatementIn | None = None,
                    who: Principal = NATIONAL) -> CiteSummaryView:
    x = await service.reinstate_label(runtime(request), cite_id, body.motive if body else None,
                                      actor=actor(who), cause=cause(request))
    return CiteSummaryView.of(x)


@router.post("/{cite_id}/withdrawal", response_model=CiteSummaryView,
             summary="Withdraw the label, with a motive: the cité ends today")
async def withdraw(cite_id: CitePath, body: MotiveIn, request: Request,
                   who: Principal = NATIONAL) -> CiteSummaryView:
    x = await service.withdraw_label(runtime(request), cite_id, body.motive, actor=actor(who),
                                     cause=cause(request))
    return CiteSummaryView.of(x)
