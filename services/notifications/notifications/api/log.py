"""The delivery log (who was told of what, by reference: never an address), resending a
failed mail, and the rules table."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from fastapi import APIRouter

from cites_runtime.actor import Role
from cites_runtime.errors import Forbidden, NotFound
from cites_runtime.http import Caller, National, Operator, Page, Paging

from .. import service, store
from ..domain.notification import NotificationStatus
from ..domain.rules import RULES
from .views import ImportedHistoryView, NotificationView, RuleView

__all__ = ["router"]

router = APIRouter()


async def _may_read(caller: Caller, cite_id: str | None) -> None:
    """A préfecture reads only its own département's cités' notifications."""
    if caller.actor.role is Role.PREFECTURE:
        cite = await store.get_cite(caller.pool, cite_id) if cite_id else None
        if cite is None:
            raise Forbidden(f"the préfecture of {caller.actor.departement} reads the log of "
                            "one of its cités: give its cite_id")
        caller.actor.ensure_acts_for(cite.departement)


@router.get("/notifications", response_model=Page[NotificationView], tags=["log"],
            summary="The delivery log, by cité, cause event, contact or status (no address)")
async def delivery_log(caller: Operator, paging: Paging, cite_id: str | None = None,
                       cause_event_id: UUID | None = None, contact_id: UUID | None = None,
                       status: NotificationStatus | None = None) -> Page[NotificationView]:
    await _may_read(caller, cite_id)
    after = paging.after(datetime.fromisoformat, UUID)
    rows = await store.log(caller.pool, cite_id=cite_id, cause_event_id=cause_event_id,
                           contact_id=contact_id, status=status,
                           after=(after[0], after[1]) if after else None, limit=paging.fetch)
    return paging.page([NotificationView.of(r) for r in rows],
                       lambda n: (n.created_at, n.notification_id))


@router.post("/notifications/{notification_id}/resend", status_code=202,
             response_model=NotificationView, tags=["log"],
             summary="Send a failed notification again (same Message-ID)")
async def resend(notification_id: UUID, caller: Operator) -> NotificationView:
    found = await store.get_notification(caller.pool, notification_id)
    if found is None:
        raise NotFound.of("notification", notification_id)
    await _may_read(caller, found["cite_id"])
    async with caller.unit_of_work() as uow:
        await service.resend_notification(uow, notification_id)
        row = await store.get_notification(uow.conn, notification_id)
    assert row is not None
    return NotificationView.of(row)


_ANNOUNCE_BATCH = 500
"""Events announced per transaction."""


@router.get("/notifications/imported", response_model=ImportedHistoryView, tags=["log"],
            summary="How many events of the imported history were not mailed (not news)")
async def imported_history(caller: National) -> ImportedHistoryView:
    return ImportedHistoryView(kept=await store.imported_count(caller.pool))


@router.post("/notifications/imported/announce", response_model=ImportedHistoryView,
             tags=["log"], summary="Mail the imported history after all (as each event "
             "would have been mailed when it came), oldest first")
async def announce_imported(caller: National) -> ImportedHistoryView:
    announced = written = 0
    while True:
        async with caller.unit_of_work() as uow:
            events, mails = await service.announce_imported(uow, _ANNOUNCE_BATCH)
        announced, written = announced + events, written + mails
        if events < _ANNOUNCE_BATCH:
            break
    return ImportedHistoryView(kept=await store.imported_count(caller.pool),
                               announced=announced, notifications=written)


@router.get("/rules", response_model=list[RuleView], tags=["rules"],
            summary="Which event notifies whom, with which template")
async def rules(caller: National) -> list[RuleView]:
    return [RuleView.of(r) for r in RULES]
