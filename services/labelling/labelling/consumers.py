"""What labelling does with funding's events: it keeps each cité's money of each budget year,
so that a revue de projet shows the use of the allocated money as funding told it, never
retyped (domain/review.py).

Labelling is where the programme starts and needs nothing else from the other services.
Each handler runs in the consuming transaction (``ctx.uow``): the sums and the inbox row
commit together, so a redelivered event counts once. An event naming an allocation or a
commitment funding never announced goes to ``labelling.dlq`` with the reason.
"""

from __future__ import annotations

from cites_runtime.consumer import EventConsumer, HandlerContext

from . import service
from .domain.review import FUNDING_EVENTS, FundingEvent

__all__ = ["consumer"]

consumer = EventConsumer("labelling")


@consumer.handles(*FUNDING_EVENTS)
async def money_handler(event: FundingEvent, ctx: HandlerContext) -> None:
    await service.count_money(ctx.uow, event)
