"""HTTP routes of the alliances: queries, members joining and leaving, the chef de file.

Alliances are opened, suspended and closed by labelling's events (see consumers.py), not
over HTTP.
"""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import Query, Request, Response
from pydantic import AfterValidator, Field

from cites_contracts.types import AllianceRole, CiteId, Departement, Motive

from .. import service, store
from ..domain import AllianceStatus, NotFound
from ..views import AllianceOut, AlliancePage, MemberOut
from .common import (
    CitePath,
    Input,
    Operator,
    PartnerId,
    Reader,
    new_router,
    page_size,
    runtime,
    storable,
)

__all__ = ["router"]

router = new_router()


class JoinIn(Input):
    partner_id: UUID
    roles: list[AllianceRole] = Field(min_length=1, description="coordinator, "
                                      "steering_committee, funder, action_operator")


class ChefDeFileIn(Input):
    partner_id: UUID = Field(description="A collège already member of the alliance")


@router.get("/alliances", response_model=AlliancePage, tags=["alliances"])
async def list_alliances(
    request: Request, _: Reader,
    departement: Departement | None = None,
    status: AllianceStatus | None = None,
    cursor: Annotated[CiteId | None, Query(description="next_cursor of the previous page")
                      ] = None,
    limit: Annotated[int | None, Query(ge=1, le=500)] = None,
) -> AlliancePage:
    size = page_size(request, limit)
    items = await store.list_alliances(runtime(request).pool, departement=departement,
                                       status=status, after=cursor, limit=size + 1)
    more = len(items) > size
    items = items[:size]
    return AlliancePage(items=items, next_cursor=items[-1].cite_id if more else None)


@router.get("/alliances/{cite_id}", response_model=AllianceOut, tags=["alliances"])
async def get_alliance(cite_id: CitePath, request: Request, _: Reader) -> AllianceOut:
    """The alliance with its chef de file, current members and their roles, former
    members, and the schools of its perimeter."""
    alliance = await store.alliance_view(runtime(request).pool, cite_id)
    if alliance is None:
        raise NotFound(f"cité {cite_id} has no alliance (is it labelled?)")
    return alliance


@router.post("/alliances/{cite_id}/members", response_model=MemberOut, status_code=201,
             tags=["alliances"])
async def join_alliance(cite_id: CitePath, body: JoinIn, request: Request, actor: Operator
                        ) -> MemberOut:
    """A registered partner joins with one or more roles (``PartnerJoinedAlliance``)."""
    async with runtime(request).unit_of_work() as uow:
        member = await service.join_alliance(uow, cite_id, body.partner_id, body.roles, actor)
    return MemberOut(partner_id=member.partner_id, kind=member.kind, name=member.name,
                     roles=sorted(member.roles), joined_at=member.joined_at)


@router.delete("/alliances/{cite_id}/members/{partner_id}", status_code=204,
               tags=["alliances"])
async def leave_alliance(
    cite_id: CitePath, partner_id: PartnerId, request: Request, actor: Operator,
    motive: Annotated[Annotated[Motive, AfterValidator(storable)] | None,
                      Query(description="Why (no personal data)")] = None,
) -> Response:
    """A member leaves (``PartnerLeftAlliance``); the chef de file cannot."""
    async with runtime(request).unit_of_work() as uow:
        await service.leave_alliance(uow, cite_id, partner_id, motive, actor)
    return Response(status_code=204)


@router.put("/alliances/{cite_id}/chef-de-file", response_model=AllianceOut,
            tags=["alliances"])
async def designate_chef_de_file(cite_id: CitePath, body: ChefDeFileIn, request: Request,
                                 actor: Operator) -> AllianceOut:
    """Hand the chef de file role to another member collège: one command, one
    ``ChefDeFileDesignated``. The previous one stays a member with its other roles."""
    rt = runtime(request)
    async with rt.unit_of_work() as uow:
        await service.designate_chef_de_file(uow, cite_id, body.partner_id, actor)
    alliance = await store.alliance_view(rt.pool, cite_id)
    assert alliance is not None
    return alliance
