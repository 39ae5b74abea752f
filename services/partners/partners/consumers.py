"""What partners does with labelling's events: open, extend, suspend and close alliances.

Each handler runs in the consuming transaction (``ctx.uow``): its effects, the events it
emits and the inbox row commit together. Labels are handled a run at a time
(``handles_many``): opening alliances is what a replayed history is made of. An event that
breaks a rule (a use case raises a :class:`~cites_runtime.errors.DomainError`) will not
apply by itself later: the runtime dead-letters it at once with ``<cite_id>: <the rule's
message>``. Most likely its ``TerritoryLabelled`` is itself a dead letter, or the lead
collège's kind needs fixing; the operator fixes the cause and replays it (``python -m
partners dlq replay``).
"""

from __future__ import annotations

from cites_contracts import Envelope
from cites_contracts.events.labelling import (
    LabelExpired,
    LabelReinstated,
    LabelRenewed,
    LabelSuspended,
    LabelWithdrawn,
    PerimeterExtended,
    TerritoryLabelled,
)
from cites_runtime.consumer import BatchContext, EventConsumer, HandlerContext
from cites_runtime.logs import get_logger

from . import service

__all__ = ["consumer"]

log = get_logger(__name__)

consumer = EventConsumer("partners")


@consumer.handles_many(TerritoryLabelled)
async def territory_labelled_handler(labels: list[Envelope[TerritoryLabelled]],
                                     ctx: BatchContext) -> None:
    """A run of labels at once (a batch, a replayed history): a few statements for them
    all. Should one break a rule, the runtime applies them one at a time."""
    opened = await service.open_alliances(ctx.uow, [e.data for e in labels],
                                          [ctx.cause(e) for e in labels])
    for label, done in zip(labels, opened, strict=True):
        if not done:
            with ctx.caused_by(label):
                log.info("alliance already open, label ignored", cite_id=label.data.cite_id)


@consumer.handles(PerimeterExtended)
async def perimeter_extended_handler(event: PerimeterExtended, ctx: HandlerContext) -> None:
    await service.extend_perimeter(ctx.uow, event)


@consumer.handles(LabelRenewed)
async def label_renewed_handler(event: LabelRenewed, ctx: HandlerContext) -> None:
    await service.renew_label(ctx.uow, event)


@consumer.handles(LabelSuspended)
async def label_suspended_handler(event: LabelSuspended, ctx: HandlerContext) -> None:
    await service.suspend_alliance(ctx.uow, event)


@consumer.handles(LabelReinstated)
async def label_reinstated_handler(event: LabelReinstated, ctx: HandlerContext) -> None:
    await service.reinstate_alliance(ctx.uow, event)


@consumer.handles(LabelWithdrawn)
async def label_withdrawn_handler(event: LabelWithdrawn, ctx: HandlerContext) -> None:
    await service.close_alliance(ctx.uow, event)


@consumer.handles(LabelExpired)
async def label_expired_handler(event: LabelExpired, ctx: HandlerContext) -> None:
    await service.close_alliance(ctx.uow, event)
