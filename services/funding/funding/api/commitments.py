"""Commitments: payments against them and their cancellation (the préfecture of the cité's
département); anyone reads them with their payments."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from fastapi import APIRouter, Response
from pydantic import BaseModel

from cites_contracts.types import Motive
from cites_runtime.errors import NotFound
from cites_runtime.http import Anyone, Input, Prefecture

from .. import service, store
from .deps import Amount, IdempotencyKey, command_id, created
from .views import CommitmentView

__all__ = ["router"]

router = APIRouter(prefix="/commitments", tags=["commitments"])


class PaymentIn(Input):
    amount: Amount


class CancellationIn(Input):
    motive: Motive


class PaymentView(BaseModel):
    payment_id: UUID
    amount: int
    paid_at: datetime


class CommitmentPaymentsView(CommitmentView):
    payments: list[PaymentView]


async def _view(caller: Anyone, commitment_id: UUID) -> CommitmentPaymentsView:
    c = await store.get_commitment(caller.pool, commitment_id)
    if c is None:
        raise NotFound.of("commitment", commitment_id)
    return CommitmentPaymentsView(**CommitmentView.of(c).model_dump(), payments=[
        PaymentView(payment_id=r["payment_id"], amount=r["amount"], paid_at=r["paid_at"])
        for r in await store.payments_of(caller.pool, commitment_id)])


@router.get("/{commitment_id}", response_model=CommitmentPaymentsView,
            summary="A commitment and its payments")
async def get_commitment(commitment_id: UUID, caller: Anyone) -> CommitmentPaymentsView:
    return await _view(caller, commitment_id)


@router.post("/{commitment_id}/payments", status_code=201, response_model=CommitmentView,
             summary="Pay against a commitment (préfecture, own département)")
async def pay(commitment_id: UUID, body: PaymentIn, caller: Prefecture, response: Response,
              key: IdempotencyKey = None) -> CommitmentView:
    async with caller.unit_of_work() as uow:
        c, was_created = await service.pay(uow, commitment_id, body.amount, caller.actor,
                                           command_id("payment", key, caller.actor, commitment_id))
    created(response, was_created)
    return CommitmentView.of(c)


@router.post("/{commitment_id}/cancellation", response_model=CommitmentView,
             summary="Cancel a commitment: its unpaid part returns to the allocation")
async def cancel(commitment_id: UUID, body: CancellationIn, caller: Prefecture
                 ) -> CommitmentView:
    async with caller.unit_of_work() as uow:
        c = await service.cancel_commitment(uow, commitment_id, body.motive, caller.actor)
    return CommitmentView.of(c)
