"""Local authorities' co-financing of a cité's year, beside the State's money: declared
(what the funder plans) by the funder itself — a partner of the alliance —, the
préfecture of the cité's département or the national coordination; then what it actually
gave, recorded once."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from fastapi import APIRouter, Response

from cites_contracts.types import CiteId
from cites_runtime import idempotency
from cites_runtime.errors import NotFound
from cites_runtime.http import Anyone, OperatorOrPartner, Page, Paging
from cites_runtime.idempotency import IdempotencyKey

from .. import service, store
from .bodies import CoFinancingIn, RealisedIn
from .cites import statement_of
from .views import CoFinancingView, StatementView

__all__ = ["router"]

router = APIRouter(tags=["co-financing"])


@router.post("/cites/{cite_id}/cofinancing", status_code=201, response_model=StatementView,
             summary="Declare a local authority's planned co-financing of a year (the "
             "funder, a partner of the alliance; its préfecture; the national coordination)")
async def declare_cofinancing(cite_id: CiteId, body: CoFinancingIn, caller: OperatorOrPartner,
                              response: Response, key: IdempotencyKey = None) -> StatementView:
    async with caller.unit_of_work() as uow:
        command = await idempotency.check(uow, key, caller.actor, "co-financing", body,
                                          within=cite_id)
        if command.is_new:
            await service.declare_cofinancing(uow, cite_id, body.year, body.funder,
                                              body.amount, caller.actor, command.id,
                                              body.funder_partner_id)
    response.status_code = command.status_code
    return await statement_of(caller, cite_id)


@router.post("/cofinancing/{cofinancing_id}/actual", response_model=CoFinancingView,
             summary="Record what a co-financing actually gave, once (its funder, the "
             "préfecture, the national coordination)")
async def realise_cofinancing(cofinancing_id: UUID, body: RealisedIn,
                              caller: OperatorOrPartner) -> CoFinancingView:
    async with caller.unit_of_work() as uow:
        co = await service.realise_cofinancing(uow, cofinancing_id, body.amount, caller.actor)
    return CoFinancingView.of(co)


@router.get("/cites/{cite_id}/cofinancing", response_model=Page[CoFinancingView],
            summary="The cité's co-financings, planned and given, oldest first, a page at a "
            "time")
async def list_cofinancing(cite_id: CiteId, caller: Anyone, paging: Paging
                           ) -> Page[CoFinancingView]:
    if await store.get_cite(caller.pool, cite_id) is None:
        raise NotFound.of("cité", cite_id)
    found = await store.cofinancings_of(caller.pool, cite_id,
                                        after=paging.after(datetime.fromisoformat, UUID),
                                        limit=paging.fetch)
    return paging.page(found, key=lambda c: (c.declared_at, c.cofinancing_id)).map(
        CoFinancingView.of)
