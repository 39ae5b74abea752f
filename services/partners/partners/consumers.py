"""What partners does with labelling's events: open, extend, suspend and close alliances.

Each handler runs in the consuming transaction (``ctx.uow``): its effects, the events it
emits and the inbox row commit together. Every event is handled a run at a time
(``handles_many``: a few statements for a run): a replayed history is hundreds of
thousands of them (``python -m bench --only replay``). An event that breaks a rule (a use
case raises a :class:`~cites_runtime.errors.DomainError`) will not apply by itself later:
the runtime dead-letters it at once with ``<cite_id>: <the rule's message>``. Most likely
its ``TerritoryLabelled`` is itself a dead letter, or the lead collège's kind needs
fixing; the operator fixes the cause and replays it (``python -m partners dlq replay``).
"""

from __future__ import annotations

from typing import Any

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
from cites_runtime.consumer import BatchContext, EventConsumer
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


@consumer.handles_many(PerimeterExtended, LabelRenewed, LabelSuspended, LabelReinstated,
                       LabelWithdrawn, LabelExpired)
async def label_life_handler(events: list[Envelope[Any]], ctx: BatchContext) -> None:
    """A run of the labels' later events at once (each cité once in a run; ``Any``: the
    classes above, :data:`~partners.service.LabelLife`): two statements for them all.
    Should one break a rule, the runtime applies them one at a time."""
    await service.follow_labels(ctx.uow, [e.data for e in events],
                                [ctx.cause(e) for e in events])
