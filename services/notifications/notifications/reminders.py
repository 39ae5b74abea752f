"""The label-expiry reminders, run by every replica (``ServiceDefinition.background``): 6
months and 1 month before a cité's label ends, its troïka is reminded, once.

Replicas need no leader: a reminder's notifications have ids derived from the cité, its
label period and the delay (:func:`notifications.service.reminder_id`), and the
notifications table holds each once, so two replicas checking at once write it once.
"""

from __future__ import annotations

import asyncio

from cites_runtime.app import Runtime
from cites_runtime.logs import get_logger

from . import service, store
from .settings import NotificationsSettings

__all__ = ["remind_due", "reminder_check"]

log = get_logger(__name__)
RETRY_AFTER_FAILURE_S = 30.0


async def remind_due(runtime: Runtime[NotificationsSettings]) -> int:
    """Write every reminder now due; return how many notifications were new."""
    written = 0
    for cite_id in await store.active_cite_ids(runtime.pool):
        async with runtime.unit_of_work() as uow:
            written += await service.remind_expiry(uow, cite_id)
    return written


async def reminder_check(runtime: Runtime[NotificationsSettings]) -> None:
    """Run :func:`remind_due` at start, then every ``reminder_check_interval_s``."""
    interval = runtime.settings.reminder_check_interval_s
    while True:
        try:
            written = await remind_due(runtime)
            if written:
                log.info("label-expiry reminders written", notifications=written)
            delay = interval
        except Exception as exc:  # database away: try again soon; the check must not die
            log.warning("reminder check failed", error=repr(exc))
            delay = min(interval, RETRY_AFTER_FAILURE_S)
        await asyncio.sleep(delay)
