"""HTTP routes of the alliances: queries, members joining and leaving, the chef de file.

Alliances are opened, suspended and closed by labelling's events (see consumers.py), not
over HTTP.
"""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query, Response
from pydantic import Field

from cites_contracts.types import AllianceRole, Departement, Motive
from cites_runtime.errors import NotFound
from cites_runtime.http import Anyone, Caller, Input, Operator, Page, Paging

from .. import service, store
from ..domain import AllianceStatus
from .deps import CitePath, PartnerId
from .views import AllianceSummaryView, AllianceView, MemberView

__all__ = ["router"]

router = APIRouter(tags=["alliances"])


class JoinIn(Input):
    partner_id: UUID
    roles: list[AllianceRole] = Field(min_length=1, description="coordinator, "
                                      "steering_committee, funder, action_operator")


class ChefDeFileIn(Input):
    partner_id: UUID = Field(description="A collège already member of the alliance")


class CollectiviteIn(Input):
    partner_id: UUID = Field(description="A commune or an EPCI already member of the alliance")


@router.get("/alliances", response_model=Page[AllianceSummaryView],
            summary="Alliances by département and status, by cité id")
async def list_alliances(
    caller: Anyone, paging: Paging,
    departement: Departement | None = None,
    status: AllianceStatus | None = None,
) -> Page[AllianceSummaryView]:
    """Alliances by département and status, by cité id, a page at a time."""
    after = paging.after(str)
    rows = await store.list_alliances(caller.pool, departement=departement, status=status,
                                      after=after[0] if after else None, limit=paging.fetch)
    return paging.page([AllianceSummaryView.of(r) for r in rows], key=lambda a: (a.cite_id,))


async def _alliance_view(caller: Caller, cite_id: str) -> AllianceView:
    found = await store.alliance_rows(caller.pool, cite_id)
    if found is None:
        raise NotFound(f"cité {cite_id} has no alliance (is it labelled?)")
    return AllianceView.of(found)


@router.get("/alliances/{cite_id}", response_model=AllianceView,
            summary="One alliance: its members, former members and perimeter")
async def get_alliance(cite_id: CitePath, caller: Anyone) -> AllianceView:
    """The alliance with its chef de file, current members and their roles, former
    members, and the schools of its perimeter."""
    return await _alliance_view(caller, cite_id)


@router.post("/alliances/{cite_id}/members", status_code=201, response_model=MemberView,
             summary="A registered partner joins with its roles")
async def join_alliance(cite_id: CitePath, body: JoinIn, caller: Operator) -> MemberView:
    """A registered partner joins with one or more roles (``PartnerJoinedAlliance``)."""
    async with caller.unit_of_work() as uow:
        member = await service.join_alliance(uow, cite_id, body.partner_id, body.roles,
                                             caller.actor)
    return MemberView.of(member)


@router.delete("/alliances/{cite_id}/members/{partner_id}", status_code=204,
               response_model=None, summary="A member leaves (not the chef de file)")
async def leave_alliance(
    cite_id: CitePath, partner_id: PartnerId, caller: Operator,
    motive: Annotated[Motive | None, Query(description="Why (no personal data)")] = None,
) -> Response:
    """A member leaves (``PartnerLeftAlliance``); the chef de file cannot."""
    async with caller.unit_of_work() as uow:
        await service.leave_alliance(uow, cite_id, partner_id, motive, caller.actor)
    return Response(status_code=204)


@router.put("/alliances/{cite_id}/chef-de-file", response_model=AllianceView,
            summary="Hand the chef de file role to another member collège")
async def designate_chef_de_file(cite_id: CitePath, body: ChefDeFileIn, caller: Operator
                                 ) -> AllianceView:
    """Hand the chef de file role to another member collège: one command, one
    ``ChefDeFileDesignated``. The previous one stays a member with its other roles."""
    async with caller.unit_of_work() as uow:
        await service.designate_chef_de_file(uow, cite_id, body.partner_id, caller.actor)
    return await _alliance_view(caller, cite_id)


@router.put("/alliances/{cite_id}/collectivite-cheffe-de-file", response_model=AllianceView,
            summary="Designate the member commune or EPCI that is collectivité cheffe de file")
async def designate_collectivite_cheffe_de_file(cite_id: CitePath, body: CollectiviteIn,
                                                caller: Operator) -> AllianceView:
    """Designate the collectivité cheffe de file (a member commune or EPCI: it receives and
    co-finances), replacing the previous one: ``CollectiviteCheffeDeFileDesignated``."""
    async with caller.unit_of_work() as uow:
        await service.designate_collectivite_cheffe_de_file(uow, cite_id, body.partner_id,
                                                            caller.actor)
    return await _alliance_view(caller, cite_id)
