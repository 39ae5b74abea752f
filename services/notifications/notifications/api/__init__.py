"""The notifications HTTP API: the delivery log (who was told of what, by reference) and
the rules table."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from fastapi import APIRouter
from pydantic import BaseModel

from cites_runtime.actor import Role
from cites_runtime.errors import Forbidden
from cites_runtime.http import National, Operator

from .. import store
from ..domain.rules import RULES

__all__ = ["router"]

router = APIRouter()


class NotificationView(BaseModel):
    notification_id: UUID
    cause_event_id: UUID
    cause_type: str
    template: str
    recipient: dict[str, Any]
    candidature_id: UUID | None
    cite_id: str | None
    subject: str
    status: str
    attempts: int
    last_error: str | None
    created_at: datetime
    sent_at: datetime | None
    failed_at: datetime | None


class RuleView(BaseModel):
    event_type: str
    version: int
    template: str
    recipients: list[str]
    why: str


@router.get("/notifications", response_model=list[NotificationView], tags=["log"],
            summary="The delivery log, by cité, cause event or contact (no address)")
async def delivery_log(caller: Operator, cite_id: str | None = None,
                       cause_event_id: UUID | None = None, contact_id: UUID | None = None
                       ) -> list[NotificationView]:
    if caller.actor.role is Role.PREFECTURE:  # its own département's cités only
        cite = await store.get_cite(caller.pool, cite_id) if cite_id else None
        if cite is None:
            raise Forbidden(f"the préfecture of {caller.actor.departement} reads the log of "
                            "one of its cités: give its cite_id")
        caller.actor.ensure_acts_for(cite.departement)
    rows = await store.log(caller.pool, cite_id=cite_id, cause_event_id=cause_event_id,
                           contact_id=contact_id)
    return [NotificationView(**dict(r)) for r in rows]


@router.get("/rules", response_model=list[RuleView], tags=["rules"],
            summary="Which event notifies whom, with which template")
async def rules(caller: National) -> list[RuleView]:
    return [RuleView(event_type=r.event_type, version=r.version, template=r.template,
                     recipients=[g.value for g in r.recipients], why=r.why) for r in RULES]
