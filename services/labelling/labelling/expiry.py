"""The scheduled expiry check, run by every replica (``ServiceDefinition.background``).

Replicas need no leader: :func:`labelling.service.expire_label` locks each due label and
re-checks it, so two replicas checking at once still expire a label exactly once.
"""

from __future__ import annotations

import asyncio

from cites_runtime.actor import SYSTEM
from cites_runtime.app import Runtime
from cites_runtime.logs import get_logger

from . import service, store
from .settings import LabellingSettings

__all__ = ["expire_due_labels", "expiry_check"]

log = get_logger(__name__)
RETRY_AFTER_FAILURE_S = 30.0


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


async def expiry_check(runtime: Runtime[LabellingSettings]) -> None:
    """Expire due labels at start, then every ``expiry_check_interval_s``, until cancelled."""
    interval = runtime.settings.expiry_check_interval_s
    while True:
        try:
            expired = await expire_due_labels(runtime)
            if expired:
                log.info("labels expired", cites=expired)
            delay = interval
        except Exception as exc:  # database away: try again soon; the check must not die
            log.warning("expiry check failed", error=repr(exc))
            delay = min(interval, RETRY_AFTER_FAILURE_S)
        await asyncio.sleep(delay)
