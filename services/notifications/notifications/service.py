"""Use cases: from an event, the notifications it causes (rules table → recipients →
rendered mail), written in the consuming transaction, once per (event, recipient).

A notification's id is derived from its cause's ``event_id`` and its recipient, and the
notifications table holds it once: a redelivered event (found in the inbox anyway) or a
republished one (a new event id but… the same facts) never writes a second mail for the
same recipient of the same event.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from uuid import UUID, uuid4, uuid5

from cites_contracts import Envelope, Event, registry
from cites_contracts.types import LabelPeriod, RecipientKind, TroikaRole
from cites_runtime.errors import Conflict, NotFound
from cites_runtime.uow import UnitOfWork

from . import store
from .domain import webhooks
from .domain.rules import (
    EXPIRY_REMINDER,
    PARTNER_NAMED_BY,
    ExpiryReminder,
    RecipientGroup,
    rules_for,
)
from .domain.templates import MailContext, render
from .secret_box import SecretBox

__all__ = [
    "delete_subscription",
    "enqueue_webhooks",
    "notify",
    "remind_expiry",
    "resend_delivery",
    "resend_notification",
    "resume",
    "rotate_secret",
    "subscribe",
    "update_subscription",
]

_NOTIFICATIONS = UUID("2f5d0c1e-7b8a-4e3f-9a6d-5c4b3a291807")


def notification_id(cause_event_id: UUID, recipient_key: str) -> UUID:
    return uuid5(_NOTIFICATIONS, f"{cause_event_id}/{recipient_key}")


def _field(event: Event, name: str) -> Any:
    return getattr(event, name, None)


async def _recipients(uow: UnitOfWork, group: RecipientGroup, event: Any,
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
        named = _field(event, "chef_de_file_partner_id")
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
    """Write the notifications ``event`` causes; return how many were new. Recipients that
    depend on a fact not projected yet (it comes on another topic) are written when it
    comes (:func:`resume`)."""
    rules = _rules(event.spec.type, event.spec.version)
    if not rules:
        return 0
    missing = await _missing_facts(uow, event, rules)
    if missing:
        await store.await_fact(uow.conn, event_id, event.spec.type, event.spec.version,
                               event.model_dump(mode="json"), missing, uow.now)
    if any(m.startswith("cite:") for m in missing):
        return 0  # without its cité, no mail can name it: all of it waits
    return await _write(uow, event, event_id, event.spec.type, rules)


def _rules(type_: str, version: int) -> list[tuple[str, tuple[RecipientGroup, ...]]]:
    return [(r.template, r.recipients) for r in rules_for(type_, version)]


async def _missing_facts(uow: UnitOfWork, event: Event,
                         rules: list[tuple[str, tuple[RecipientGroup, ...]]]) -> list[str]:
    """What the event's recipients depend on and the projection does not hold yet: its
    candidature's troïka, its cité, its alliance's chef de file."""
    groups = {g for _, gs in rules for g in gs}
    cite_id: str | None = _field(event, "cite_id")
    candidature_id: UUID | None = _field(event, "candidature_id")
    missing = []
    cite = await store.get_cite(uow.conn, cite_id) if cite_id else None
    if cite_id and cite is None:
        missing.append(f"cite:{cite_id}")
    candidature_id = candidature_id or (cite.candidature_id if cite else None)
    if (RecipientGroup.TROIKA in groups and candidature_id is not None
            and not await store.has_candidature(uow.conn, candidature_id)):
        missing.append(f"candidature:{candidature_id}")
    if (RecipientGroup.CHEF_DE_FILE in groups and cite_id
            and not _field(event, "chef_de_file_partner_id")
            and not await store.has_alliance(uow.conn, cite_id)):
        missing.append(f"alliance:{cite_id}")
    return missing


async def resume(uow: UnitOfWork, fact: str) -> int:
    """``fact`` is projected now: write the notifications of the causes that waited for it
    (those of their recipients known by now; a cause still missing another fact waits for
    that one). Returns how many were new."""
    written = 0
    for row in await store.take_awaiting(uow.conn, fact):
        spec = registry.get(row["cause_type"], row["version"])
        if spec is None:  # a cause of an event no longer in the catalogue: nothing to do
            continue
        event = spec.model.model_validate(row["facts"])
        rules = _rules(spec.type, spec.version)
        missing = await _missing_facts(uow, event, rules)
        if missing:
            await store.await_fact(uow.conn, row["cause_id"], spec.type, spec.version,
                                   row["facts"], missing, uow.now)
        if not any(m.startswith("cite:") for m in missing):
            written += await _write(uow, event, row["cause_id"], spec.type, rules)
    return written


REMINDER_TYPE = "notifications.LabelExpiryReminder"
"""The ``cause_type`` of a reminder: no event causes it, the calendar does."""


def reminder_id(cite_id: str, period: LabelPeriod, months: int) -> UUID:
    """A reminder's identity: one per cité, label period and delay, whoever computes it."""
    return uuid5(_NOTIFICATIONS, f"reminder/{cite_id}/{period.start}/{period.end}/{months}")


async def remind_expiry(uow: UnitOfWork, cite_id: str) -> int:
    """Write the label-expiry reminder now due for the cité, if any and not written yet:
    the latest of the rule's delays whose day has come (a reminder missed while the
    service was down is not sent once a later one is due). Exactly once across replicas:
    its notifications' ids derive from the cité, the period and the delay."""
    cite = await store.get_cite(uow.conn, cite_id)
    if cite is None or cite.status != "active" or cite.label_start is None:
        return 0
    period = LabelPeriod(start=cite.label_start, end=cite.label_end)
    due = [(months, day) for months, day in EXPIRY_REMINDER.due_dates(period)
           if day <= uow.today <= period.end]
    if not due:
        return 0
    months = min(m for m, _ in due)
    facts = ExpiryReminder(cite_id=cite_id, label_period=period, months_before=months)
    return await _write(uow, facts, reminder_id(cite_id, period, months), REMINDER_TYPE,
                        [(EXPIRY_REMINDER.template, EXPIRY_REMINDER.recipients)])


async def _write(uow: UnitOfWork, facts: Any, cause_id: UUID, cause_type: str,
                 rules: list[tuple[str, tuple[RecipientGroup, ...]]]) -> int:
    if not rules:
        return 0
    cite_id: str | None = _field(facts, "cite_id")
    cite = await store.get_cite(uow.conn, cite_id) if cite_id else None
    candidature_id: UUID | None = _field(facts, "candidature_id") or (
        cite.candidature_id if cite else None)
    cite_name = cite.name if cite else (await store.candidature_name(
        uow.conn, candidature_id) if candidature_id else None)
    rows: list[store.NewNotification] = []
    seen: set[str] = set()
    for template, groups in rules:
        for group in groups:
            for key, recipient, contact in await _recipients(uow, group, facts,
                                                             candidature_id, cite_id):
                if key in seen:  # one mail per recipient per cause, whatever the groups
                    continue
                seen.add(key)
                role = recipient["troika_role"]
                mail = render(template, MailContext(
                    facts=facts, recipient=group, cite_name=cite_name,
                    troika_role=TroikaRole(role) if role else None))
                rows.append(store.NewNotification(
                    notification_id(cause_id, key), cause_id, cause_type, template,
                    recipient, contact, candidature_id, cite_id, mail.subject, mail.text,
                    mail.html))
    return await store.insert_notifications(uow.conn, rows, uow.now)


# --- resending ----------------------------------------------------------------------------


async def resend_notification(uow: UnitOfWork, notification_id: UUID) -> None:
    """Send a failed notification again (same id, same Message-ID): due now, its attempts
    counted from zero. Only a failed one, and only while its recipient's address is known."""
    found = await store.get_notification(uow.conn, notification_id, lock=True)
    if found is None:
        raise NotFound.of("notification", notification_id)
    if found["status"] != "failed":
        raise Conflict(f"notification {notification_id} is {found['status']}: only a failed "
                       "one is sent again")
    if found["address_erased"]:
        raise Conflict(f"notification {notification_id}'s recipient was erased: there is no "
                       "address to send it to")
    await store.resend_notification(uow.conn, notification_id, uow.now)


async def resend_delivery(uow: UnitOfWork, delivery_id: UUID) -> None:
    """Deliver a failed webhook delivery again (same webhook-id, same body)."""
    found = await store.get_delivery(uow.conn, delivery_id, lock=True)
    if found is None:
        raise NotFound.of("webhook delivery", delivery_id)
    if found["status"] != "failed":
        raise Conflict(f"webhook delivery {delivery_id} is {found['status']}: only a failed "
                       "one is delivered again")
    sub = await store.get_subscription(uow.conn, found["subscription_id"])
    if sub is None or sub.deleted_at is not None:
        raise Conflict(f"webhook delivery {delivery_id}'s subscription was deleted")
    await store.resend_delivery(uow.conn, delivery_id, uow.now)


# --- webhooks -----------------------------------------------------------------------------


async def enqueue_webhooks(uow: UnitOfWork, event: Event, envelope: Envelope[Any]) -> int:
    """A delivery of ``event`` to each subscription asking for its type (a paused one's
    waits until it is resumed), written in the consuming transaction; return how many were
    new."""
    spec = event.spec
    if spec.type not in webhooks.SUBSCRIBABLE:
        return 0
    body = webhooks.body_of(spec.type, spec.version, envelope.event_id, envelope.occurred_at,
                            event.model_dump(mode="json"))
    return await store.enqueue_deliveries(uow.conn, envelope.event_id, spec.type,
                                          _field(event, "cite_id"), body, uow.now,
                                          webhooks.delivery_id)


async def subscribe(uow: UnitOfWork, url: str, event_types: list[str], description: str,
                    secret: str | None, allow_private_for_tests: bool, box: SecretBox
                    ) -> tuple[store.Subscription, str]:
    """A new subscription and its secret (generated unless given; stored sealed by
    ``box``); 409 when a live one already has this URL. Events before it are not delivered
    to it."""
    url = webhooks.check_url(url, allow_private_for_tests)
    types = webhooks.check_event_types(event_types)
    if secret is not None:
        webhooks.key_of(secret)
    secret = secret or webhooks.new_secret()
    created = await store.insert_subscription(uow.conn, uuid4(), url, types, description,
                                              box.seal(secret), uow.now)
    if created is None:
        existing = await store.live_subscription_by_url(uow.conn, url)
        raise Conflict(f"subscription {existing} already delivers to {url}: change its "
                       "event types rather than subscribing again")
    return created, secret


async def _live(uow: UnitOfWork, subscription_id: UUID) -> store.Subscription:
    sub = await store.get_subscription(uow.conn, subscription_id, lock=True)
    if sub is None or sub.deleted_at is not None:
        raise NotFound.of("webhook subscription", subscription_id)
    return sub


async def update_subscription(uow: UnitOfWork, subscription_id: UUID, *, url: str | None,
                              event_types: list[str] | None, description: str | None,
                              active: bool | None, allow_private_for_tests: bool
                              ) -> store.Subscription:
    """Change what is given. A paused subscription (``active`` false) is delivered nothing:
    its deliveries, those of events meanwhile included, wait; resumed, they are sent."""
    sub = await _live(uow, subscription_id)
    new_url = (webhooks.check_url(url, allow_private_for_tests) if url is not None
               else sub.url)
    if new_url != sub.url and (other := await store.live_subscription_by_url(
            uow.conn, new_url)) is not None:
        raise Conflict(f"subscription {other} already delivers to {new_url}")
    return await store.update_subscription(
        uow.conn, subscription_id, url=new_url,
        event_types=(webhooks.check_event_types(event_types) if event_types is not None
                     else sub.event_types),
        description=description if description is not None else sub.description,
        active=active if active is not None else sub.active, at=uow.now)


async def rotate_secret(uow: UnitOfWork, subscription_id: UUID, overlap_s: float,
                        box: SecretBox) -> str:
    """A new secret (stored sealed); deliveries are signed with the previous one too for
    ``overlap_s``."""
    await _live(uow, subscription_id)
    secret = webhooks.new_secret()
    await store.rotate_secret(uow.conn, subscription_id, box.seal(secret), uow.now,
                              uow.now + timedelta(seconds=overlap_s))
    return secret


async def delete_subscription(uow: UnitOfWork, subscription_id: UUID) -> int:
    """Deliver nothing more to it (its log is kept); return how many deliveries that were
    still waiting are failed."""
    await _live(uow, subscription_id)
    return await store.delete_subscription(uow.conn, subscription_id, uow.now)
