"""A cité's money: what funding knows of it, manual allocations and release (national
coordination), commitments (the préfecture of its département), its statement (JSON and
CSV)."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from fastapi import APIRouter, Response

from cites_contracts.types import CiteId
from cites_runtime import idempotency
from cites_runtime.errors import NotFound
from cites_runtime.http import Anyone, Caller, National, Page, Paging, Prefecture
from cites_runtime.idempotency import IdempotencyKey

from .. import service, store
from ..domain.cite import Cite
from .bodies import AllocationIn, CommitmentIn, ReleaseIn, RevisionIn
from .views import (
    AllocationView,
    CiteFundsView,
    CiteSummaryView,
    CommitmentView,
    RevisionView,
    StatementView,
)

__all__ = ["router", "statement_of"]

router = APIRouter(prefix="/cites", tags=["cités"])


async def _cite(caller: Caller, cite_id: str) -> Cite:
    cite = await store.get_cite(caller.pool, cite_id)
    if cite is None:
        raise NotFound.of("cité", cite_id)
    return cite


@router.get("", response_model=Page[CiteSummaryView],
            summary="The cités funding knows, by id, a page at a time")
async def list_cites(caller: Anyone, paging: Paging) -> Page[CiteSummaryView]:
    cites = await store.list_cites(caller.pool, after=paging.after(str), limit=paging.fetch)
    return paging.page([CiteSummaryView.model_validate(c) for c in cites],
                       key=lambda c: (c.cite_id,))


@router.get("/{cite_id}", response_model=CiteFundsView,
            summary="A cité's allocations, fonds and commitments")
async def get_cite(cite_id: CiteId, caller: Anyone) -> CiteFundsView:
    cite = await _cite(caller, cite_id)
    return CiteFundsView.of(cite, await store.chef_de_file(caller.pool, cite_id),
                            await store.allocations_of(caller.pool, cite_id),
                            await store.allocation_funds(caller.pool, cite_id),
                            await store.fonds_of(caller.pool, cite_id),
                            await store.commitments_of(caller.pool, cite_id))


@router.post("/{cite_id}/allocations", status_code=201, response_model=AllocationView,
             summary="Allocate by hand from an envelope (national coordination)")
async def allocate(cite_id: CiteId, body: AllocationIn, caller: National, response: Response,
                   key: IdempotencyKey = None) -> AllocationView:
    async with caller.unit_of_work() as uow:
        command = await idempotency.check(uow, key, caller.actor, "allocation", body,
                                          within=cite_id)
        if command.is_new:
            await service.allocate_manually(uow, cite_id, body.envelope_id, body.year,
                                            body.amount, body.motive, caller.actor, command.id)
    response.status_code = command.status_code
    allocation = await store.get_allocation(caller.pool, command.id)
    funds = await store.get_allocation_funds(caller.pool, command.id)
    if allocation is None or funds is None:
        raise NotFound.of("allocation", command.id)
    return AllocationView.of(allocation, funds)


@router.post("/{cite_id}/allocations/{allocation_id}/revision", response_model=AllocationView,
             summary="Revise an allocation (national coordination): raised from its "
             "envelope, or lowered within what it has not committed")
async def revise(cite_id: CiteId, allocation_id: UUID, body: RevisionIn, caller: National
                 ) -> AllocationView:
    async with caller.unit_of_work() as uow:
        allocation = await service.revise_allocation(uow, cite_id, allocation_id, body.amount,
                                                     body.motive, caller.actor,
                                                     citing=body.review_id)
    funds = await store.get_allocation_funds(caller.pool, allocation_id)
    assert funds is not None  # the allocation exists: the revision found it
    return AllocationView.of(allocation, funds)


@router.get("/{cite_id}/revisions", response_model=Page[RevisionView],
            summary="The revisions of a cité's allocations, oldest first, a page at a time")
async def list_revisions(cite_id: CiteId, caller: Anyone, paging: Paging
                         ) -> Page[RevisionView]:
    await _cite(caller, cite_id)
    rows = await store.revisions_of(caller.pool, cite_id, after=paging.after(int),
                                    limit=paging.fetch)
    return paging.page([RevisionView.of(r) for r in rows], key=lambda r: (r.number,))


@router.post("/{cite_id}/release", response_model=list[AllocationView],
             summary="Give an ended cité's frozen money back to its envelopes (national)")
async def release(cite_id: CiteId, body: ReleaseIn, caller: National) -> list[AllocationView]:
    async with caller.unit_of_work() as uow:
        released = await service.release_frozen(uow, cite_id, body.motive, caller.actor)
    allocations = {a.allocation_id: a for a in await store.allocations_of(caller.pool, cite_id)}
    return [AllocationView.of(allocations[r.allocation_id], r) for r in released]


@router.post("/{cite_id}/commitments", status_code=201, response_model=CommitmentView,
             summary="Commit part of an allocation to an action (préfecture, own département)")
async def commit(cite_id: CiteId, body: CommitmentIn, caller: Prefecture, response: Response,
                 key: IdempotencyKey = None) -> CommitmentView:
    async with caller.unit_of_work() as uow:
        command = await idempotency.check(uow, key, caller.actor, "commitment", body,
                                          within=cite_id)
        if command.is_new:
            await service.commit_funds(uow, cite_id, body.subsidy(), caller.actor,
                                       command.id)
    response.status_code = command.status_code
    c = await store.get_commitment(caller.pool, command.id)
    if c is None:
        raise NotFound.of("commitment", command.id)
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


async def statement_of(caller: Caller, cite_id: str) -> StatementView:
    cite = await _cite(caller, cite_id)
    return StatementView.of(cite, await store.movements_by_year(caller.pool, cite_id),
                            await store.cofinancing_by_year(caller.pool, cite_id))


@router.get("/{cite_id}/statement", response_model=StatementView,
            summary="The cité's money per year and programme, co-financing beside it")
async def statement(cite_id: CiteId, caller: Anyone) -> StatementView:
    return await statement_of(caller, cite_id)


@router.get("/{cite_id}/statement.csv", response_class=Response,
            responses={200: {"content": {"text/csv": {}}}},
            summary="The statement as CSV (integer cents)")
async def statement_csv(cite_id: CiteId, caller: Anyone) -> Response:
    return (await statement_of(caller, cite_id)).csv()
