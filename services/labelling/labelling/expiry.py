"""The scheduled expiry check, run by every replica (``ServiceDefinition.background``).

Replicas need no leader: :func:`labelling.service.expire_label` locks each due label and
re-checks it, so two replicas checking at once still expire a label exactly once.
"""

from __future__ import annotations

from cites_runtime.actor import SYSTEM
from cites_runtime.app import Runtime, periodic

from . import service, store
from .settings import LabellingSettings

__all__ = ["expire_due_labels", "expiry_check"]


async def expire_due_labels(runtime: Runtime[LabellingSettings]) -> list[str]:
    """Expire every living label whose period ended before today, one unit of work each;
    return the cités this call expired."""
    async with runtime.unit_of_work() as uow:
        due = await store.due_cite_ids(uow.conn, uow.today)
    expired = []
    for cite_id in due:
        async with runtime.unit_of_work() as uow:
            if await service.expire_label(uow, cite_id, SYSTEM):
                expired.append(cite_id)
    return expired


expiry_check = periodic("expiry check", expire_due_labels,
                        lambda s: float(s.expiry_check_interval_s))
"""Expire due labels at start, then every ``expiry_check_interval_s``, until cancelled."""
