"""What partners does with labelling's events: open, extend, suspend and close alliances.

Each handler runs in the consuming transaction (``ctx.uow``): its effects, the events it
emits and the inbox row commit together. An event that breaks a rule will not apply by
itself later, so it is dead-lettered at once with the rule's message; the operator fixes
the cause and replays it (``python -m partners dlq replay``).
"""

from __future__ import annotations

from collections.abc import Awaitable

from cites_contracts.events.labelling import (
    LabelExpired,
    LabelReinstated,
    LabelRenewed,
    LabelSuspended,
    LabelWithdrawn,
    PerimeterExtended,
    TerritoryLabelled,
)
from cites_runtime.consumer import EventConsumer, HandlerContext, RejectEvent
from cites_runtime.logs import get_logger

from . import service
from .domain import DomainError

__all__ = ["consumer"]

log = get_logger(__name__)

consumer = EventConsumer("partners")


@consumer.handles(TerritoryLabelled)
async def territory_labelled_handler(event: TerritoryLabelled, ctx: HandlerContext) -> None:
    try:
        opened = await service.open_alliance(ctx.uow, event)
    except DomainError as exc:
        raise RejectEvent(f"{event.cite_id}: {exc.message}") from exc
    if not opened:
        log.info("alliance already open, label ignored", cite_id=event.cite_id)


@consumer.handles(PerimeterExtended)
async def perimeter_extended_handler(event: PerimeterExtended, ctx: HandlerContext) -> None:
    await _apply(service.extend_perimeter(ctx.uow, event), event.cite_id)


@consumer.handles(LabelRenewed)
async def label_renewed_handler(event: LabelRenewed, ctx: HandlerContext) -> None:
    await _apply(service.renew_label(ctx.uow, event), event.cite_id)


@consumer.handles(LabelSuspended)
async def label_suspended_handler(event: LabelSuspended, ctx: HandlerContext) -> None:
    await _apply(service.suspend_alliance(ctx.uow, event), event.cite_id)


@consumer.handles(LabelReinstated)
async def label_reinstated_handler(event: LabelReinstated, ctx: HandlerContext) -> None:
    await _apply(service.reinstate_alliance(ctx.uow, event), event.cite_id)


@consumer.handles(LabelWithdrawn)
async def label_withdrawn_handler(event: LabelWithdrawn, ctx: HandlerContext) -> None:
    await _apply(service.close_alliance(ctx.uow, event), event.cite_id)


@consumer.handles(LabelExpired)
async def label_expired_handler(event: LabelExpired, ctx: HandlerContext) -> None:
    await _apply(service.close_alliance(ctx.uow, event), event.cite_id)


async def _apply(use_case: Awaitable[None], cite_id: str) -> None:
    try:
        await use_case
    except DomainError as exc:
        # Most likely its TerritoryLabelled is itself a dead letter: replayed in order
        # after it, this one applies.
        raise RejectEvent(f"{cite_id}: {exc.message}") from exc
