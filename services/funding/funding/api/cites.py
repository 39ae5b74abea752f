"""A cité's money: what funding knows of it, manual allocations and release (national
coordination), commitments and co-financing (the préfecture of its département), its
statement (JSON and CSV)."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from fastapi import APIRouter, Response
from pydantic import Field

from cites_contracts.types import CiteId, Motive, Name, ProgrammeYear
from cites_runtime.errors import NotFound
from cites_runtime.http import Anyone, Caller, Input, National, Page, Paging, Prefecture

from .. import service, store
from ..domain.cite import Cite
from .deps import Amount, IdempotencyKey, command_id, created
from .views import (
    AllocationView,
    ChefDeFileView,
    CiteFundsView,
    CiteSummaryView,
    CommitmentView,
    FondsView,
    StatementView,
)

__all__ = ["router"]

router = APIRouter(prefix="/cites", tags=["cités"])


class AllocationIn(Input):
    envelope_id: UUID
    year: ProgrammeYear
    amount: Amount
    motive: Motive


class ReleaseIn(Input):
    motive: Motive


class CommitmentIn(Input):
    allocation_id: UUID
    operator_partner_id: UUID = Field(description="A current member of the cité's alliance")
    action_title: Name
    amount: Amount


class CoFinancingIn(Input):
    year: ProgrammeYear
    funder: Name
    amount: Amount


async def _cite(caller: Caller, cite_id: str) -> Cite:
    cite = await store.get_cite(caller.pool, cite_id)
    if cite is None:
        raise NotFound(f"cité {cite_id} is unknown to funding")
    return cite


@router.get("", response_model=Page[CiteSummaryView],
            summary="The cités funding knows, by id, a page at a time")
async def list_cites(caller: Anyone, paging: Paging) -> Page[CiteSummaryView]:
    cites = await store.list_cites(caller.pool, after=paging.after(str), limit=paging.fetch)
    return paging.page([CiteSummaryView.of(c) for c in cites], key=lambda c: (c.cite_id,))


@router.get("/{cite_id}", response_model=CiteFundsView,
            summary="A cité's allocations, fonds and commitments")
async def get_cite(cite_id: CiteId, caller: Anyone) -> CiteFundsView:
    cite = await _cite(caller, cite_id)
    funds = {a.allocation_id: a for a in await store.allocation_funds(caller.pool, cite_id)}
    lead = await store.chef_de_file(caller.pool, cite_id)
    return CiteFundsView(
        cite_id=cite.cite_id, name=cite.name, wave_id=cite.wave_id,
        departement=cite.departement, status=cite.status,
        label_start=cite.label_start.isoformat(), label_end=cite.label_end.isoformat(),
        chef_de_file=ChefDeFileView(partner_id=lead[0], uai=lead[1]) if lead else None,
        allocations=[AllocationView.of(a, funds[a.allocation_id].uncommitted,
                                       funds[a.allocation_id].frozen)
                     for a in await store.allocations_of(caller.pool, cite_id)],
        fonds=[FondsView(**dict(r)) for r in await store.fonds_of(caller.pool, cite_id)],
        commitments=[CommitmentView.of(c)
                     for c in await store.commitments_of(caller.pool, cite_id)])


@router.post("/{cite_id}/allocations", status_code=201, response_model=AllocationView,
             summary="Allocate by hand from an envelope (national coordination)")
async def allocate(cite_id: CiteId, body: AllocationIn, caller: National, response: Response,
                   key: IdempotencyKey = None) -> AllocationView:
    async with caller.unit_of_work() as uow:
        a, was_created = await service.allocate_manually(
            uow, cite_id, body.envelope_id, body.year, body.amount, body.motive,
            caller.actor, command_id("allocation", key, caller.actor, cite_id))
    created(response, was_created)
    funds = {f.allocation_id: f for f in await store.allocation_funds(caller.pool, cite_id)}
    return AllocationView.of(a, funds[a.allocation_id].uncommitted,
                             funds[a.allocation_id].frozen)


@router.post("/{cite_id}/release", response_model=list[AllocationView],
             summary="Give an ended cité's frozen money back to its envelopes (national)")
async def release(cite_id: CiteId, body: ReleaseIn, caller: National) -> list[AllocationView]:
    async with caller.unit_of_work() as uow:
        released = await service.release_frozen(uow, cite_id, body.motive, caller.actor)
    allocations = {a.allocation_id: a for a in await store.allocations_of(caller.pool, cite_id)}
    return [AllocationView.of(allocations[r.allocation_id], r.uncommitted, r.frozen)
            for r in released]


@router.post("/{cite_id}/commitments", status_code=201, response_model=CommitmentView,
             summary="Commit part of an allocation to an action (préfecture, own département)")
async def commit(cite_id: CiteId, body: CommitmentIn, caller: Prefecture, response: Response,
                 key: IdempotencyKey = None) -> CommitmentView:
    async with caller.unit_of_work() as uow:
        c, was_created = await service.commit_funds(
            uow, cite_id, body.allocation_id, body.operator_partner_id, body.action_title,
            body.amount, caller.actor, command_id("commitment", key, caller.actor, cite_id))
    created(response, was_created)
    return CommitmentView.of(c)


@router.get("/{cite_id}/commitments", response_model=Page[CommitmentView],
            summary="A cité's commitments, in the order they were made, a page at a time")
async def list_commitments(cite_id: CiteId, caller: Anyone, paging: Paging
                           ) -> Page[CommitmentView]:
    await _cite(caller, cite_id)
    commitments = await store.commitments_of(
        caller.pool, cite_id, after=paging.after(datetime.fromisoformat, UUID),
        limit=paging.fetch)
    return paging.page([CommitmentView.of(c) for c in commitments],
                       key=lambda c: (c.committed_at, c.commitment_id))


@router.post("/{cite_id}/cofinancing", status_code=201, response_model=StatementView,
             summary="Declare a local authority's co-financing for a year (préfecture)")
async def declare_cofinancing(cite_id: CiteId, body: CoFinancingIn, caller: Prefecture,
                              response: Response, key: IdempotencyKey = None) -> StatementView:
    async with caller.unit_of_work() as uow:
        was_created = await service.declare_cofinancing(
            uow, cite_id, body.year, body.funder, body.amount, caller.actor,
            command_id("cofinancing", key, caller.actor, cite_id))
    created(response, was_created)
    return await _statement(caller, cite_id)


async def _statement(caller: Caller, cite_id: str) -> StatementView:
    cite = await _cite(caller, cite_id)
    return StatementView.of(cite, await store.movements_by_year(caller.pool, cite_id),
                            await store.cofinancing_by_year(caller.pool, cite_id))


@router.get("/{cite_id}/statement", response_model=StatementView,
            summary="The cité's money per year and programme, co-financing beside it")
async def statement(cite_id: CiteId, caller: Anyone) -> StatementView:
    return await _statement(caller, cite_id)


@router.get("/{cite_id}/statement.csv", response_class=Response,
            responses={200: {"content": {"text/csv": {}}}},
            summary="The statement as CSV (integer cents)")
async def statement_csv(cite_id: CiteId, caller: Anyone) -> Response:
    return (await _statement(caller, cite_id)).csv()
