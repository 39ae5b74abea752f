"""The fonds de la cité's uses: what the collège chef de file paid from a year's grant,
for what and to whom — recorded by the collège itself (a partner acting for it), the
préfecture of the cité's département or the national coordination; anyone reads them."""

from __future__ import annotations

from fastapi import APIRouter, Response

from cites_contracts.types import CiteId, ProgrammeYear
from cites_runtime import idempotency
from cites_runtime.errors import NotFound
from cites_runtime.http import Anyone, OperatorOrPartner, Page, Paging
from cites_runtime.idempotency import IdempotencyKey

from .. import service, store
from .bodies import FondsUseIn
from .views import FondsUseView

__all__ = ["router"]

router = APIRouter(prefix="/cites", tags=["fonds de la cité"])


@router.post("/{cite_id}/fonds/{year}/uses", status_code=201, response_model=FondsUseView,
             summary="Record what the collège paid from its fonds de la cité of a year "
             "(the collège chef de file, its préfecture, the national coordination): never "
             "more than the grant has left")
async def use_fonds(cite_id: CiteId, year: ProgrammeYear, body: FondsUseIn,
                    caller: OperatorOrPartner, response: Response,
                    key: IdempotencyKey = None) -> FondsUseView:
    async with caller.unit_of_work() as uow:
        command = await idempotency.check(uow, key, caller.actor, "fonds use", body,
                                          within=f"{cite_id}/{year}")
        if command.is_new:
            await service.use_fonds(uow, cite_id, year, body.spending(), caller.actor,
                                    command.id)
    response.status_code = command.status_code
    used = await store.get_fonds_use(caller.pool, command.id)
    if used is None:
        raise NotFound.of("fonds de la cité use", command.id)
    return FondsUseView.of(used)


@router.get("/{cite_id}/fonds/{year}/uses", response_model=Page[FondsUseView],
            summary="The uses of a year's fonds de la cité, oldest first, each with what "
            "the grant had left after it, a page at a time")
async def list_uses(cite_id: CiteId, year: ProgrammeYear, caller: Anyone, paging: Paging
                    ) -> Page[FondsUseView]:
    if await store.get_cite(caller.pool, cite_id) is None:
        raise NotFound.of("cité", cite_id)
    uses = await store.fonds_uses(caller.pool, cite_id, year, after=paging.after(int),
                                  limit=paging.fetch)
    return paging.page(uses, key=lambda u: (u["id"],)).map(FondsUseView.of)
