"""The label-expiry reminders, run by every replica (``ServiceDefinition.background``): 6
months and 1 month before a cité's label ends, its troïka is reminded, once.

Replicas need no leader: a reminder's notifications have ids derived from the cité, its
label period and the delay (:func:`notifications.service.reminder_id`), and the
notifications table holds each once, so two replicas checking at once write it once.
"""

from __future__ import annotations

from cites_runtime.app import Runtime, periodic

from . import service, store
from .domain.cite import CiteStatus
from .settings import NotificationsSettings

__all__ = ["remind_due", "reminder_check"]


async def remind_due(runtime: Runtime[NotificationsSettings]) -> int:
    """Write every reminder now due; return how many notifications were new."""
    written = 0
    for cite_id in await store.cite_ids(runtime.pool, CiteStatus.ACTIVE):
        async with runtime.unit_of_work() as uow:
            written += await service.remind_expiry(uow, cite_id)
    return written


reminder_check = periodic("reminder check", remind_due,
                          lambda s: float(s.reminder_check_interval_s))
"""Run :func:`remind_due` at start, then every ``reminder_check_interval_s``."""
