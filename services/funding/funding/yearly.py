"""The yearly check, run by every replica (``ServiceDefinition.background``): each active
cité gets its dotation and fonds de la cité for the budget year, once.

Replicas need no leader: :func:`funding.service.fund_due_years` locks the cité and finds
what it already has (a dotation's id is derived from the cité, envelope and year, under a
unique index), so two replicas checking at once fund a cité once. It runs at start and
every ``yearly_check_interval_s``: the first run after 1 January (Paris time) funds the
new year; a cité that could not be funded (no envelope yet, envelope exhausted) is funded
by the first run after an envelope is opened or amended.
"""

from __future__ import annotations

from cites_runtime.app import Runtime, periodic

from . import service, store
from .settings import FundingSettings

__all__ = ["fund_active_cites", "yearly_check"]


async def fund_active_cites(runtime: Runtime[FundingSettings]) -> int:
    """Fund what every active cité is due so far, one unit of work per cité; return how
    many events this call emitted."""
    cite_ids = await store.active_cite_ids(runtime.pool)
    emitted = 0
    for cite_id in cite_ids:
        async with runtime.unit_of_work() as uow:
            emitted += await service.fund_due_years(uow, cite_id)
    return emitted


yearly_check = periodic("yearly check", fund_active_cites,
                        lambda s: float(s.yearly_check_interval_s))
"""Run :func:`fund_active_cites` at start, then every interval, until cancelled."""
