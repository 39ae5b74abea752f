"""The scheduled checks, run by every replica (``ServiceDefinition.background``): labels
whose period ended expire, revues de projet past their deadline are noted overdue.

Replicas need no leader: :func:`labelling.service.expire_label` and
:func:`labelling.service.note_overdue_review` lock each due row and re-check it, so two
replicas checking at once still emit each ``LabelExpired`` or ``ProjectReviewOverdue``
exactly once.
"""

from __future__ import annotations

from cites_runtime.actor import SYSTEM
from cites_runtime.app import Runtime, periodic

from . import service, store
from .settings import LabellingSettings

__all__ = ["expire_due_labels", "expiry_check", "note_overdue_reviews", "review_deadline_check"]


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


async def note_overdue_reviews(runtime: Runtime[LabellingSettings]) -> int:
    """Note overdue every review not submitted by its deadline (before today), one unit of
    work each; return how many this call noted."""
    async with runtime.unit_of_work() as uow:
        due = await store.due_review_ids(uow.conn, uow.today)
    noted = 0
    for review_id in due:
        async with runtime.unit_of_work() as uow:
            noted += await service.note_overdue_review(uow, review_id)
    return noted


review_deadline_check = periodic("review deadline check", note_overdue_reviews,
                                 lambda s: float(s.expiry_check_interval_s))
"""Note overdue reviews at start, then every ``expiry_check_interval_s``, until cancelled."""
