"""HTTP routes of a cité's chef de projet opérationnel: the post's tenures, an
appointment, a vacancy. A person is named by contact id only: who they are (personal
data) is read on their employer's contacts, by those allowed to."""

from __future__ import annotations

from datetime import date
from uuid import UUID

from fastapi import APIRouter
from pydantic import Field

from cites_contracts.types import Motive
from cites_runtime.errors import NotFound
from cites_runtime.http import Anyone, Caller, Input, Operator, Page, Paging

from .. import service, store
from ..domain import Tenure
from .deps import CitePath
from .views import TenureView

__all__ = ["router"]

router = APIRouter(tags=["alliances"])


class AppointmentIn(Input):
    contact_id: UUID = Field(description="A consenting contact of the employer")
    employer_partner_id: UUID = Field(description="A member of the alliance (usually the "
                                      "collectivité cheffe de file)")
    starts_on: date = Field(description="The first day held: not in the future, not before "
                            "the alliance opened")


class VacancyIn(Input):
    ends_on: date = Field(description="The holder's last day: not in the future")
    motive: Motive | None = Field(None, description="Why (no personal data)")


async def _tenure_view(caller: Caller, cite_id: str, tenure: Tenure) -> TenureView:
    row = await store.tenure_row(caller.pool, cite_id, tenure.starts_on)
    assert row is not None, "committed"
    return TenureView.of(row)


@router.get("/alliances/{cite_id}/cpo", response_model=Page[TenureView],
            summary="The chef de projet's tenures, in the order they began")
async def list_tenures(cite_id: CitePath, caller: Anyone, paging: Paging) -> Page[TenureView]:
    """Who held the post of chef de projet opérationnel, from when to when, a page at a
    time (contact ids only)."""
    if await store.alliance_rows(caller.pool, cite_id) is None:
        raise NotFound(f"cité {cite_id} has no alliance (is it labelled?)")
    after = paging.after(date.fromisoformat)
    rows = await store.tenures(caller.pool, cite_id, after=after[0] if after else None,
                               limit=paging.fetch)
    return paging.page([TenureView.of(r) for r in rows], key=lambda t: (t.starts_on,))


@router.post("/alliances/{cite_id}/cpo", status_code=201, response_model=TenureView,
             summary="Appoint the chef de projet opérationnel from a day")
async def appoint_chef_de_projet(cite_id: CitePath, body: AppointmentIn, caller: Operator
                                 ) -> TenureView:
    """Appoint a consenting contact of a member as chef de projet from ``starts_on``; a
    current holder's tenure ends the day before (``ChefDeProjetAppointed``). The same
    appointment again changes nothing."""
    async with caller.unit_of_work() as uow:
        tenure = await service.appoint_chef_de_projet(
            uow, cite_id, body.contact_id, body.employer_partner_id, body.starts_on,
            caller.actor)
    return await _tenure_view(caller, cite_id, tenure)


@router.post("/alliances/{cite_id}/cpo/vacancy", response_model=TenureView,
             summary="End the chef de projet's tenure: the post is vacant from the day after")
async def vacate_chef_de_projet(cite_id: CitePath, body: VacancyIn, caller: Operator
                                ) -> TenureView:
    """End the current holder's tenure on ``ends_on`` (``ChefDeProjetPostVacated``); the
    post is vacant from the day after. The same vacancy again changes nothing."""
    async with caller.unit_of_work() as uow:
        tenure = await service.vacate_chef_de_projet(uow, cite_id, body.ends_on, body.motive,
                                                     caller.actor)
    return await _tenure_view(caller, cite_id, tenure)
