"""Envelopes: the national coordination opens and amends them; anyone reads them."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from fastapi import APIRouter, Response

from cites_runtime import idempotency
from cites_runtime.errors import NotFound
from cites_runtime.http import Anyone, Caller, National, Page, Paging
from cites_runtime.idempotency import IdempotencyKey

from .. import service, store
from .bodies import AmendmentIn, EnvelopeIn
from .views import EnvelopeView

__all__ = ["router"]

router = APIRouter(prefix="/envelopes", tags=["envelopes"])


async def _view(caller: Caller, envelope_id: UUID) -> EnvelopeView:
    e = await store.get_envelope(caller.pool, envelope_id)
    if e is None:
        raise NotFound.of("envelope", envelope_id)
    return EnvelopeView.of(e)


@router.post("", status_code=201, response_model=EnvelopeView,
             summary="Open an envelope (national coordination)")
async def open_envelope(body: EnvelopeIn, caller: National, response: Response,
                        key: IdempotencyKey = None) -> EnvelopeView:
    async with caller.unit_of_work() as uow:
        command = await idempotency.check(uow, key, caller.actor, "envelope", body)
        if command.is_new:
            await service.open_envelope(uow, command.id, body.terms(), caller.actor)
    response.status_code = command.status_code
    return await _view(caller, command.id)


@router.get("", response_model=Page[EnvelopeView],
            summary="The envelopes, in the order they were opened, a page at a time")
async def list_envelopes(caller: Anyone, paging: Paging) -> Page[EnvelopeView]:
    envelopes = await store.list_envelopes(
        caller.pool, after=paging.after(datetime.fromisoformat, UUID), limit=paging.fetch)
    return paging.page([EnvelopeView.of(e) for e in envelopes],
                       key=lambda e: (e.opened_at, e.envelope_id))


@router.get("/{envelope_id}", response_model=EnvelopeView, summary="One envelope")
async def get_envelope(envelope_id: UUID, caller: Anyone) -> EnvelopeView:
    return await _view(caller, envelope_id)


@router.post("/{envelope_id}/amendment", response_model=EnvelopeView,
             summary="Change an envelope's total (never below what it has allocated)")
async def amend(envelope_id: UUID, body: AmendmentIn, caller: National) -> EnvelopeView:
    async with caller.unit_of_work() as uow:
        e = await service.amend_envelope(uow, envelope_id, body.amount, body.motive,
                                         caller.actor)
    return EnvelopeView.of(e)
