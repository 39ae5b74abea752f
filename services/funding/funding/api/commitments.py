"""Commitments: payments against them and their cancellation (the préfecture of the cité's
département); anyone reads them with their payments."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, Response

from cites_runtime import idempotency
from cites_runtime.errors import NotFound
from cites_runtime.http import Anyone, Caller, Prefecture
from cites_runtime.idempotency import IdempotencyKey

from .. import service, store
from ..domain.cite import Commitment
from .bodies import CancellationIn, PaymentIn
from .views import CommitmentPaymentsView, CommitmentView

__all__ = ["router"]

router = APIRouter(prefix="/commitments", tags=["commitments"])


async def _commitment(caller: Caller, commitment_id: UUID) -> Commitment:
    c = await store.get_commitment(caller.pool, commitment_id)
    if c is None:
        raise NotFound.of("commitment", commitment_id)
    return c


@router.get("/{commitment_id}", response_model=CommitmentPaymentsView,
            summary="A commitment and its payments")
async def get_commitment(commitment_id: UUID, caller: Anyone) -> CommitmentPaymentsView:
    return CommitmentPaymentsView.of(await _commitment(caller, commitment_id),
                                     await store.payments_of(caller.pool, commitment_id))


@router.post("/{commitment_id}/payments", status_code=201, response_model=CommitmentView,
             summary="Pay against a commitment (préfecture, own département)")
async def pay(commitment_id: UUID, body: PaymentIn, caller: Prefecture, response: Response,
              key: IdempotencyKey = None) -> CommitmentView:
    async with caller.unit_of_work() as uow:
        command = await idempotency.check(uow, key, caller.actor, "payment", body,
                                          within=commitment_id)
        if command.is_new:
            await service.pay(uow, commitment_id, body.amount, caller.actor, command.id)
    response.status_code = command.status_code
    return CommitmentView.of(await _commitment(caller, commitment_id))


@router.post("/{commitment_id}/cancellation", response_model=CommitmentView,
             summary="Cancel a commitment: its unpaid part returns to the allocation")
async def cancel(commitment_id: UUID, body: CancellationIn, caller: Prefecture
                 ) -> CommitmentView:
    async with caller.unit_of_work() as uow:
        c = await service.cancel_commitment(uow, commitment_id, body.motive, caller.actor)
    return CommitmentView.of(c)
