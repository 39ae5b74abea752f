"""The reminders the calendar causes, run by every replica (``ServiceDefinition.background``),
each written once (:data:`notifications.domain.rules.REMINDERS`):

- label expiry: 6 months and 1 month before a cité's label ends, its troïka is reminded;
- revue de projet: 30 days and 7 days before a review is due, unless submitted, its cité's
  troïka is reminded.

Replicas need no leader: a reminder's notifications have ids derived from what it reminds
of and the delay (:func:`notifications.service.reminder_id`), and the notifications table
holds each once, so two replicas checking at once write it once.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from datetime import timedelta
from typing import TypeVar

from cites_runtime.app import Runtime, periodic
from cites_runtime.uow import UnitOfWork

from . import service, store
from .domain.cite import CiteStatus
from .settings import NotificationsSettings

__all__ = ["remind_due", "reminder_check"]

K = TypeVar("K")


async def remind_due(runtime: Runtime[NotificationsSettings]) -> int:
    """Write every reminder now due; return how many notifications were new."""
    # A day's margin: a review is due on its territory's day, which may not be Paris's.
    due_from = runtime.today() - timedelta(days=1)
    return (await _each(runtime, await store.cite_ids(runtime.pool, CiteStatus.ACTIVE),
                        service.remind_expiry)
            + await _each(runtime, await store.reviews_to_remind(runtime.pool, due_from),
                          service.remind_review))


async def _each(runtime: Runtime[NotificationsSettings], keys: Iterable[K],
                remind: Callable[[UnitOfWork, K], Awaitable[int]]) -> int:
    """``remind`` each of ``keys``, each in its own unit of work."""
    written = 0
    for key in keys:
        async with runtime.unit_of_work() as uow:
            written += await remind(uow, key)
    return written


reminder_check = periodic("reminder check", remind_due,
                          lambda s: float(s.reminder_check_interval_s))
"""Run :func:`remind_due` at start, then every ``reminder_check_interval_s``."""
