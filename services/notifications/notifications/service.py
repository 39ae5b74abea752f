"""Use cases: from an event, the notifications it causes (rules table → recipients →
rendered mail), written in the consuming transaction, once per (event, recipient).

A notification's id is derived from its cause's ``event_id`` and its recipient, and the
notifications table holds it once: a redelivered event (found in the inbox anyway) or a
republished one (a new event id but… the same facts) never writes a second mail for the
same recipient of the same event.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID, uuid5

from cites_contracts import Event
from cites_contracts.types import RecipientKind, TroikaRole
from cites_runtime.uow import UnitOfWork

from . import store
from .domain.rules import PARTNER_NAMED_BY, RecipientGroup, rules_for
from .domain.templates import MailContext, render

__all__ = ["notify"]

_NOTIFICATIONS = UUID("2f5d0c1e-7b8a-4e3f-9a6d-5c4b3a291807")


def notification_id(cause_event_id: UUID, recipient_key: str) -> UUID:
    return uuid5(_NOTIFICATIONS, f"{cause_event_id}/{recipient_key}")


def _field(event: Event, name: str) -> Any:
    return getattr(event, name, None)


async def _recipients(uow: UnitOfWork, group: RecipientGroup, event: Event,
                      candidature_id: UUID | None, cite_id: str | None
                      ) -> list[tuple[str, dict[str, Any], UUID]]:
    """(recipient key, contracts' Recipient as JSON, contact id) of one group."""
    if group is RecipientGroup.TROIKA:
        return [(f"troika:{seat['role']}", {"kind": RecipientKind.TROIKA.value,
                                            "troika_role": seat["role"],
                                            "partner_id": None, "contact_id": None},
                 UUID(seat["contact_id"]))
                for seat in await store.troika_of(uow.conn, candidature_id)]
    partners: list[UUID] = []
    if group is RecipientGroup.CHEF_DE_FILE:
        named = (_field(event, "chef_de_file_partner_id")
                 or (_field(event, "partner_id") if event.spec.type.endswith(
                     "ChefDeFileDesignated") else None))
        found = named or (await store.chef_de_file(uow.conn, cite_id) if cite_id else None)
        partners = [found] if found else []
    elif group in PARTNER_NAMED_BY:
        partners = [p for p in [_field(event, PARTNER_NAMED_BY[group])] if p]
    elif group is RecipientGroup.ALLIANCE_MEMBERS and cite_id:
        partners = await store.current_members(uow.conn, cite_id)
    return [(f"contact:{contact}", {"kind": RecipientKind.PARTNER_CONTACT.value,
                                    "troika_role": None, "partner_id": str(partner),
                                    "contact_id": str(contact)}, contact)
            for partner, contact in await store.consenting_contacts(uow.conn, partners)]


async def notify(uow: UnitOfWork, event: Event, event_id: UUID) -> int:
    """Write the notifications ``event`` causes; return how many were new."""
    rules = rules_for(event.spec.type, event.spec.version)
    if not rules:
        return 0
    cite_id: str | None = _field(event, "cite_id")
    cite = await store.get_cite(uow.conn, cite_id) if cite_id else None
    candidature_id: UUID | None = _field(event, "candidature_id") or (
        cite.candidature_id if cite else None)
    cite_name = cite.name if cite else (await store.candidature_name(
        uow.conn, candidature_id) if candidature_id else None)
    rows: list[store.NewNotification] = []
    seen: set[str] = set()
    for rule in rules:
        for group in rule.recipients:
            for key, recipient, contact in await _recipients(uow, group, event,
                                                             candidature_id, cite_id):
                if key in seen:  # one mail per recipient per event, whatever the groups
                    continue
                seen.add(key)
                role = recipient["troika_role"]
                mail = render(rule.template, MailContext(
                    facts=event, recipient=group, cite_name=cite_name,
                    troika_role=TroikaRole(role) if role else None))
                rows.append(store.NewNotification(
                    notification_id(event_id, key), event_id, event.spec.type,
                    rule.template, recipient, contact, candidature_id, cite_id,
                    mail.subject, mail.text, mail.html))
    return await store.insert_notifications(uow.conn, rows, uow.now)
