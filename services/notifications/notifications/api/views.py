"""What the API answers: response models built from what the store and the domain hold
(never an address: recipients by reference only)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg
from pydantic import BaseModel, Field

from .. import store
from ..domain.notification import NotificationStatus
from ..domain.rules import Rule
from ..domain.webhooks import DeliveryStatus

__all__ = ["DeliveryView", "ImportedHistoryView", "NotificationView", "RuleView", "SecretView",
           "SubscriptionCreatedView", "SubscriptionView"]


class NotificationView(BaseModel):
    notification_id: UUID
    cause_event_id: UUID
    cause_type: str
    template: str
    recipient: dict[str, Any]
    candidature_id: UUID | None
    cite_id: str | None
    subject: str
    status: NotificationStatus
    attempts: int
    last_error: str | None
    created_at: datetime
    sent_at: datetime | None
    failed_at: datetime | None
    address_erased: bool = Field(description="The recipient was erased: the log keeps that "
                                 "they were told, not who they are")

    @classmethod
    def of(cls, row: asyncpg.Record) -> NotificationView:
        """From a row of the log (``store.log``, ``store.get_notification``)."""
        return cls(**dict(row))


class ImportedHistoryView(BaseModel):
    kept: int = Field(description="Events of the imported history not announced (not mailed)")
    announced: int = Field(0, description="Events announced by this request")
    notifications: int = Field(0, description="Notifications this request wrote (sent by the "
                               "sender, as any; those waiting for a fact are written when it "
                               "comes)")


class RuleView(BaseModel):
    event_type: str
    version: int
    template: str
    recipients: list[str]
    why: str

    @classmethod
    def of(cls, rule: Rule) -> RuleView:
        return cls(event_type=rule.event_type, version=rule.version, template=rule.template,
                   recipients=[g.value for g in rule.recipients], why=rule.why)


class SubscriptionView(BaseModel):
    subscription_id: UUID
    url: str
    event_types: list[str]
    description: str
    active: bool
    created_at: datetime
    updated_at: datetime
    previous_secret_until: datetime | None = Field(
        description="After a rotation, until when deliveries are signed with the previous "
        "secret too")

    @classmethod
    def of(cls, s: store.Subscription) -> SubscriptionView:
        return cls(subscription_id=s.subscription_id, url=s.url, event_types=s.event_types,
                   description=s.description, active=s.active, created_at=s.created_at,
                   updated_at=s.updated_at, previous_secret_until=s.previous_expires_at)


class SubscriptionCreatedView(SubscriptionView):
    secret: str = Field(description="Verifies the signatures; shown this once")

    @classmethod
    def created(cls, s: store.Subscription, secret: str) -> SubscriptionCreatedView:
        return cls(**SubscriptionView.of(s).model_dump(), secret=secret)


class SecretView(BaseModel):
    secret: str = Field(description="The new secret; shown this once")
    previous_secret_until: datetime


class DeliveryView(BaseModel):
    delivery_id: UUID = Field(description="Its webhook-id header, the same on every attempt")
    subscription_id: UUID
    event_id: UUID
    event_type: str
    cite_id: str | None
    status: DeliveryStatus
    attempts: int
    next_attempt_at: datetime
    last_status: int | None = Field(description="The receiver's last HTTP status")
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None
    failed_at: datetime | None

    @classmethod
    def of(cls, row: asyncpg.Record) -> DeliveryView:
        """From a row of a subscription's delivery log (``store.deliveries``,
        ``store.get_delivery``)."""
        return cls(**dict(row))
