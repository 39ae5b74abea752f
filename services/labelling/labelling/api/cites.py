"""Cités: readers list them and read one with its history; the national coordination renews,
extends, suspends, reinstates and withdraws labels; the convention's signature is recorded
by the national coordination or the cité's préfecture."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Path
from pydantic import ConfigDict, Field

from cites_contracts.events.labelling import ConventionSignatory
from cites_contracts.types import CiteId, Departement, LabelPeriod, Motive, WaveId
from cites_runtime.errors import NotFound
from cites_runtime.http import Input, National, Operator, Page, Paging, Prefecture, Reader

from .. import service, store
from ..domain import Addition, LabelStatus
from ..domain.dossier import NewPerimeter
from .deps import settings
from .views import CiteSummaryView, CiteView

__all__ = ["router"]

router = APIRouter(prefix="/cites", tags=["cités"])
CitePath = Annotated[CiteId, Path(description="Cité id, e.g. cite-001")]


class RenewalIn(Input):
    convention_signed_on: date | None = Field(
        None, description="Signature date of the new period's convention, if signed yet")
    period: LabelPeriod | None = Field(
        None, description="The new period, when the coordination states it: from the day "
        "after the current one ends, no longer than a label; absent: a label's length from "
        "that day")
    decided_on: date | None = Field(
        None, description="The date it takes effect in the programme (not in the future, not "
        "before what it follows); today when absent")
    perimeter: NewPerimeter | None = Field(
        None, description="The cité's whole perimeter from this renewal on, when it changes "
        "(e.g. moved to the 2024 QPV list: qpv_list 2024, its QN… codes); absent: unchanged")
    review_id: UUID | None = Field(
        None, description="The cité's revue de projet the decision cites (submitted to the "
        "coordination)")


class PerimeterAdditionIn(Addition):
    """What a perimeter extension adds (communes, QPVs, schools): the domain's value,
    received as it is (unknown fields refused)."""


class SignatoryIn(ConventionSignatory):
    """A signatory of the convention (unknown fields refused)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class ConventionIn(Input):
    signed_on: date
    signatories: list[SignatoryIn] = Field(
        default=[], max_length=20, description="Who signed it: the préfet, the recteur and the "
        "collectivité (each once), others if any; may be given later for a signature "
        "recorded without them")


class AmendmentIn(Input):
    object: Motive = Field(description="What the amendment changes, in words")
    signed_on: date | None = Field(
        None, description="Its signature (not in the future, not before the convention); "
        "today when absent")


class MotiveIn(Input):
    motive: Motive
    effective_on: date | None = Field(
        None, description="The date it takes effect in the programme (not in the future, not "
        "before what it follows); today when absent")
    review_id: UUID | None = Field(
        None, description="The cité's revue de projet the decision cites (submitted to the "
        "coordination)")


class RenewalApplicationIn(Input):
    filed_on: date | None = Field(
        None, description="The date the re-application was filed in the programme (inside "
        "the renewal window, not in the future); today when absent")


class RenewalRefusalIn(Input):
    motive: Motive
    decided_on: date | None = Field(
        None, description="The date it takes effect in the programme (not in the future, not "
        "before what it follows); today when absent")
    review_id: UUID | None = Field(
        None, description="The cité's revue de projet the decision cites (submitted to the "
        "coordination)")


class ReinstatementIn(Input):
    motive: Motive | None = None
    effective_on: date | None = Field(
        None, description="The date it takes effect in the programme (not in the future, not "
        "before what it follows); today when absent")


@router.get("", response_model=Page[CiteSummaryView],
            summary="Cités by wave, status and département, in labelling order")
async def list_cites(caller: Reader, paging: Paging, wave: WaveId | None = None,
                     status: LabelStatus | None = None, departement: Departement | None = None
                     ) -> Page[CiteSummaryView]:
    f = store.Filters(wave, status.value if status else None, departement)
    labels = await store.list_labels(caller.pool, f, after=paging.after(datetime.fromisoformat,
                                                                         str),
                                     limit=paging.fetch)
    today = caller.runtime.today()
    return paging.page([CiteSummaryView.of(x, today) for x in labels],
                       key=lambda c: (c.labelled_at, c.cite_id))


@router.get("/{cite_id}", response_model=CiteView, summary="One cité and its history")
async def get_cite(cite_id: CitePath, caller: Reader) -> CiteView:
    label = await store.get_label(caller.pool, cite_id)
    if label is None:
        raise NotFound.of("cité", cite_id)
    return CiteView.with_history(label, await store.history(caller.pool, cite_id),
                                caller.runtime.today())


@router.post("/{cite_id}/renewal", response_model=CiteSummaryView,
             summary="Renew the label for a new period from the day after the current ends "
                     "(in the last months of the current period, or later after a "
                     "re-application filed then: 422 otherwise)")
async def renew(cite_id: CitePath, caller: National, body: RenewalIn | None = None
                ) -> CiteSummaryView:
    async with caller.unit_of_work() as uow:
        x = await service.renew_label(
            uow, cite_id, label_years=settings(caller).label_years,
            convention_signed_on=body.convention_signed_on if body else None,
            decided_on=body.decided_on if body else None,
            period=body.period if body else None,
            perimeter=body.perimeter if body else None, actor=caller.actor,
            review_id=body.review_id if body else None)
    return CiteSummaryView.of(x, uow.today)


@router.post("/{cite_id}/renewal-application", response_model=CiteSummaryView,
             summary="Re-apply for the label (the cité's préfecture, in the last months of "
                     "its period): until decided, the label does not expire")
async def apply_for_renewal(cite_id: CitePath, caller: Prefecture,
                            body: RenewalApplicationIn | None = None) -> CiteSummaryView:
    async with caller.unit_of_work() as uow:
        x = await service.apply_for_renewal(uow, cite_id, caller.actor,
                                            body.filed_on if body else None)
    return CiteSummaryView.of(x, uow.today)


@router.post("/{cite_id}/renewal-refusal", response_model=CiteSummaryView,
             summary="Refuse the pending re-application, with a motive: the label ends with "
                     "its period")
async def refuse_renewal(cite_id: CitePath, body: RenewalRefusalIn, caller: National
                         ) -> CiteSummaryView:
    async with caller.unit_of_work() as uow:
        x = await service.refuse_renewal(uow, cite_id, body.motive, caller.actor,
                                         body.decided_on, body.review_id)
    return CiteSummaryView.of(x, uow.today)


@router.post("/{cite_id}/extension", response_model=CiteSummaryView,
             summary="Extend the perimeter (what is already in it is ignored)")
async def extend(cite_id: CitePath, body: PerimeterAdditionIn, caller: National
                 ) -> CiteSummaryView:
    async with caller.unit_of_work() as uow:
        x = await service.extend_perimeter(uow, cite_id, body, caller.actor)
    return CiteSummaryView.of(x, uow.today)


@router.post("/{cite_id}/convention", response_model=CiteSummaryView,
             summary="Record the signature of the current period's convention")
async def convention(cite_id: CitePath, body: ConventionIn, caller: Operator
                     ) -> CiteSummaryView:
    async with caller.unit_of_work() as uow:
        x = await service.record_convention(
            uow, cite_id, body.signed_on, caller.actor,
            tuple(ConventionSignatory.model_validate(s.model_dump()) for s in body.signatories))
    return CiteSummaryView.of(x, uow.today)


@router.post("/{cite_id}/convention/amendments", response_model=CiteSummaryView,
             summary="Record an amendment (avenant) to the latest period's convention")
async def amend_convention(cite_id: CitePath, body: AmendmentIn, caller: Operator
                           ) -> CiteSummaryView:
    async with caller.unit_of_work() as uow:
        x = await service.amend_convention(uow, cite_id, body.object, body.signed_on,
                                           caller.actor)
    return CiteSummaryView.of(x, uow.today)


@router.post("/{cite_id}/suspension", response_model=CiteSummaryView,
             summary="Suspend the label, with a motive")
async def suspend(cite_id: CitePath, body: MotiveIn, caller: National) -> CiteSummaryView:
    async with caller.unit_of_work() as uow:
        x = await service.suspend_label(uow, cite_id, body.motive, caller.actor,
                                        body.effective_on, body.review_id)
    return CiteSummaryView.of(x, uow.today)


@router.post("/{cite_id}/reinstatement", response_model=CiteSummaryView,
             summary="Lift a suspension")
async def reinstate(cite_id: CitePath, caller: National, body: ReinstatementIn | None = None
                    ) -> CiteSummaryView:
    async with caller.unit_of_work() as uow:
        x = await service.reinstate_label(uow, cite_id, body.motive if body else None,
                                          caller.actor, body.effective_on if body else None)
    return CiteSummaryView.of(x, uow.today)


@router.post("/{cite_id}/withdrawal", response_model=CiteSummaryView,
             summary="Withdraw the label, with a motive: the cité ends on its effective date")
async def withdraw(cite_id: CitePath, body: MotiveIn, caller: National) -> CiteSummaryView:
    async with caller.unit_of_work() as uow:
        x = await service.withdraw_label(uow, cite_id, body.motive, caller.actor,
                                         body.effective_on, body.review_id)
    return CiteSummaryView.of(x, uow.today)
