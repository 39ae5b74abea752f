"""What partners does with labelling's events: open alliances, then follow their labels'
life (perimeter, renewal, suspension, reinstatement, withdrawal, expiry).

One handler per use case, each translating a run of events into one call of the service
(``handles_many``: a few statements for a run), in the consuming transaction
(``ctx.uow``): its effects, the events it emits and the inbox rows commit together. A
replayed history is hundreds of thousands of them (``python -m bench --only replay``). An
event that breaks a rule (a use case raises a :class:`~cites_runtime.errors.DomainError`)
will not apply by itself later: the runtime dead-letters it at once with ``<cite_id>:
<the rule's message>``. Most likely its ``TerritoryLabelled`` is itself a dead letter, or
the lead collège's kind needs fixing; the operator fixes the cause and replays it
(``python -m partners dlq replay``).
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

from . import service

__all__ = ["consumer"]

consumer = EventConsumer("partners")


@consumer.handles_many(TerritoryLabelled)
async def territory_labelled_handler(labels: list[Envelope[TerritoryLabelled]],
                                     ctx: BatchContext) -> None:
    """A run of labels opens their alliances (a label whose cité has one opens nothing)."""
    await service.open_alliances(ctx.uow, [e.data for e in labels],
                                 [ctx.cause(e) for e in labels])


@consumer.handles_many(PerimeterExtended, LabelRenewed, LabelSuspended, LabelReinstated,
                       LabelWithdrawn, LabelExpired)
async def label_life_handler(events: list[Envelope[Any]], ctx: BatchContext) -> None:
    """A run of the labels' later events changes their alliances (each cité once in a
    run; ``Any``: the classes above, :data:`~partners.domain.LabelLife`)."""
    await service.follow_labels(ctx.uow, [e.data for e in events],
                                [ctx.cause(e) for e in events])
