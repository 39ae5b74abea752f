"""Events of the ``notifications`` service: the outcome of each notification.

A *notification* is one message to one recipient, caused by one event; it is identified
by ``notification_id`` and deduplicated on (cause event, recipient) by notifications.
Recipients are named by reference, never by address: the delivery log with the
addresses stays in the notifications service.
"""

from __future__ import annotations

from uuid import UUID

from pydantic import Field

from ..envelope import Event, event
from ..topics import NOTIFICATIONS_DELIVERIES
from ..types import (
    CiteId,
    ContractModel,
    EventTypeName,
    Motive,
    NotificationChannel,
    RecipientKind,
    Slug,
    TroikaRole,
    UtcDateTime,
)

__all__ = ["NotificationFailed", "NotificationSent", "Recipient"]


class Recipient(ContractModel):
    """Who a notification is for, by reference only.

    A troïka member is (``candidature_id`` of the notification, ``troika_role``); a
    partner contact is (``partner_id``, ``contact_id``).
    """

    kind: RecipientKind
    troika_role: TroikaRole | None = None
    partner_id: UUID | None = None
    contact_id: UUID | None = None


class _Delivery(Event):
    """Fields shared by the delivery outcomes (not an event on its own)."""

    notification_id: UUID
    cause_event_id: UUID = Field(description="event_id of the event that caused it")
    cause_type: EventTypeName
    template: Slug = Field(description="Message template, e.g. candidature-received")
    channel: NotificationChannel
    recipient: Recipient
    candidature_id: UUID | None = None
    cite_id: CiteId | None = None
    attempts: int = Field(ge=1, le=1000)


@event(
    "notifications.NotificationSent",
    topic=NOTIFICATIONS_DELIVERIES,
    key="notification_id",
    emitted_when="A message was accepted by the mail server for one recipient.",
)
class NotificationSent(_Delivery):
    """A notification was delivered to the mail server.

    Producer: notifications. Topic: ``notifications.deliveries``. Key: ``notification_id``.
    Emitted once per notification, when the mail server accepts it (after retries if
    it was down). Lets the national coordination audit who was told of what.
    """

    sent_at: UtcDateTime


@event(
    "notifications.NotificationFailed",
    topic=NOTIFICATIONS_DELIVERIES,
    key="notification_id",
    emitted_when="Notifications gives up on a message after its last retry.",
)
class NotificationFailed(_Delivery):
    """A notification could not be delivered and will not be retried.

    Producer: notifications. Topic: ``notifications.deliveries``. Key: ``notification_id``.
    Emitted when the retries are exhausted or the address is refused permanently.
    ``reason`` is redacted by the producer: it never quotes the address.
    """

    reason: Motive
    failed_at: UtcDateTime
