"""Commitments: payments against them, their cancellation, the operator's report and the
orders to repay, and the receipts of those orders (the préfecture of the cité's
département); anyone reads them."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, Response

from cites_runtime import idempotency
from cites_runtime.errors import NotFound
from cites_runtime.http import Anyone, Caller, Prefecture
from cites_runtime.idempotency import IdempotencyKey

from .. import service, store
from ..domain.cite import Commitment, Recovery
from .bodies import CancellationIn, PaymentIn, ReceiptIn, RecoveryIn, ReportIn
from .views import CommitmentPaymentsView, CommitmentView, RecoveryReceiptsView, RecoveryView

__all__ = ["recoveries", "router"]

router = APIRouter(prefix="/commitments", tags=["commitments"])
recoveries = APIRouter(prefix="/recoveries", tags=["commitments"])


async def _commitment(caller: Caller, commitment_id: UUID) -> Commitment:
    c = await store.get_commitment(caller.pool, commitment_id)
    if c is None:
        raise NotFound.of("commitment", commitment_id)
    return c


@router.get("/{commitment_id}", response_model=CommitmentPaymentsView,
            summary="A commitment and its payments")
async def get_commitment(commitment_id: UUID, caller: Anyone) -> CommitmentPaymentsView:
    return CommitmentPaymentsView.of(await _commitment(caller, commitment_id),
                                     await store.payments_of(caller.pool, commitment_id),
                                     await store.recoveries_of(caller.pool, commitment_id))


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


@router.post("/{commitment_id}/report", response_model=CommitmentView,
             summary="Record the operator's report on the subsidy (préfecture, own "
             "département): once; the same report again changes nothing")
async def report(commitment_id: UUID, body: ReportIn, caller: Prefecture) -> CommitmentView:
    async with caller.unit_of_work() as uow:
        c = await service.justify_subsidy(uow, commitment_id, body.report(), caller.actor)
    return CommitmentView.of(c)


@router.post("/{commitment_id}/recoveries", status_code=201, response_model=RecoveryView,
             summary="Order the operator to repay what its report leaves unspent, or what "
             "it was paid once its report is overdue (préfecture, own département)")
async def order_recovery(commitment_id: UUID, body: RecoveryIn, caller: Prefecture,
                         response: Response, key: IdempotencyKey = None) -> RecoveryView:
    async with caller.unit_of_work() as uow:
        command = await idempotency.check(uow, key, caller.actor, "recovery", body,
                                          within=commitment_id)
        if command.is_new:
            await service.order_recovery(uow, commitment_id, body.amount,
                                         body.order_reference, body.ordered_on, body.motive,
                                         caller.actor, command.id)
    response.status_code = command.status_code
    return RecoveryView.model_validate(await _recovery(caller, command.id))


async def _recovery(caller: Caller, recovery_id: UUID) -> Recovery:
    r = await store.get_recovery(caller.pool, recovery_id)
    if r is None:
        raise NotFound.of("recovery order", recovery_id)
    return r


@recoveries.get("/{recovery_id}", response_model=RecoveryReceiptsView,
                summary="A recovery order and its receipts")
async def get_recovery(recovery_id: UUID, caller: Anyone) -> RecoveryReceiptsView:
    return RecoveryReceiptsView.with_receipts(
        await _recovery(caller, recovery_id), await store.receipts_of(caller.pool, recovery_id))


@recoveries.post("/{recovery_id}/receipts", status_code=201, response_model=RecoveryView,
                 summary="Record money the operator repaid on an order (préfecture, own "
                 "département): never more than is outstanding")
async def receive(recovery_id: UUID, body: ReceiptIn, caller: Prefecture, response: Response,
                  key: IdempotencyKey = None) -> RecoveryView:
    async with caller.unit_of_work() as uow:
        command = await idempotency.check(uow, key, caller.actor, "receipt", body,
                                          within=recovery_id)
        if command.is_new:
            await service.receive_recovery(uow, recovery_id, body.amount, body.received_on,
                                           caller.actor, command.id)
    response.status_code = command.status_code
    return RecoveryView.model_validate(await _recovery(caller, recovery_id))
