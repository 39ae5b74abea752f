"""Envelopes: the national coordination opens and amends them; anyone reads them."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from fastapi import APIRouter, Response
from pydantic import Field

from cites_contracts.types import BudgetProgramme, Motive, Name, ProgrammeYear, WaveId
from cites_runtime.errors import NotFound
from cites_runtime.http import Anyone, Caller, Input, National, Page, Paging

from .. import service, store
from ..domain.envelope import FONDS_SHARE, DotationRule, Envelope, default_rule
from ..domain.ledger import Account, AccountKind
from .deps import Amount, IdempotencyKey, command_id, created
from .views import EnvelopeView

__all__ = ["router"]

router = APIRouter(prefix="/envelopes", tags=["envelopes"])


class EnvelopeIn(Input):
    name: Name
    programme: BudgetProgramme
    budget_years: list[ProgrammeYear] = Field(min_length=1, max_length=20)
    wave_ids: list[WaveId] = Field(min_length=1, max_length=50)
    amount: Amount
    dotation_rule: DotationRule | None = Field(
        None, description="How each cité's yearly dotation is computed; default: P147 "
        "pays the requested contribution within 120 k€–650 k€ (250 k€ if none), P230 none")
    fonds_share: int = Field(FONDS_SHARE, strict=True, ge=FONDS_SHARE, le=10_000_000_00,
                             description="Cents this envelope puts in each cité's yearly "
                             "fonds de la cité (at least 15 000 €: with the other "
                             "programme's, the fonds is at least 30 000 €)")


class AmendmentIn(Input):
    amount: int = Field(strict=True, ge=0, le=100_000_000_000_00,
                        description="The envelope's new total, in cents")
    motive: Motive


async def _view(caller: Caller, e: Envelope) -> EnvelopeView:
    return EnvelopeView.of(e, await store.balance(caller.pool, Account.of(
        AccountKind.ENVELOPE, e.id)))


@router.post("", status_code=201, response_model=EnvelopeView,
             summary="Open an envelope (national coordination)")
async def open_envelope(body: EnvelopeIn, caller: National, response: Response,
                        key: IdempotencyKey = None) -> EnvelopeView:
    async with caller.unit_of_work() as uow:
        envelope, was_created = await service.open_envelope(uow, Envelope(
            id=command_id("envelope", key, caller.actor), name=body.name, programme=body.programme,
            budget_years=tuple(sorted(set(body.budget_years))),
            wave_ids=tuple(sorted(set(body.wave_ids))), amount=body.amount,
            rule=body.dotation_rule or default_rule(body.programme),
            fonds_share=body.fonds_share, opened_at=uow.now), caller.actor)
    created(response, was_created)
    return await _view(caller, envelope)


@router.get("", response_model=Page[EnvelopeView],
            summary="The envelopes, in the order they were opened, a page at a time")
async def list_envelopes(caller: Anyone, paging: Paging) -> Page[EnvelopeView]:
    envelopes = await store.list_envelopes(
        caller.pool, after=paging.after(datetime.fromisoformat, UUID), limit=paging.fetch)
    return paging.page([await _view(caller, e) for e in envelopes],
                       key=lambda e: (e.opened_at, e.envelope_id))


@router.get("/{envelope_id}", response_model=EnvelopeView, summary="One envelope")
async def get_envelope(envelope_id: UUID, caller: Anyone) -> EnvelopeView:
    e = await store.get_envelope(caller.pool, envelope_id)
    if e is None:
        raise NotFound.of("envelope", envelope_id)
    return await _view(caller, e)


@router.post("/{envelope_id}/amendment", response_model=EnvelopeView,
             summary="Change an envelope's total (never below what it has allocated)")
async def amend(envelope_id: UUID, body: AmendmentIn, caller: National) -> EnvelopeView:
    async with caller.unit_of_work() as uow:
        e = await service.amend_envelope(uow, envelope_id, body.amount, body.motive,
                                         caller.actor)
    return await _view(caller, e)
