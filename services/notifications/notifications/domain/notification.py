"""A notification on its way: written ``pending``, claimed ``sending`` by a sender round,
then ``sent``, retried later (``pending`` again) or ``failed`` — or, a reminder of what was
done meanwhile, ``cancelled`` before it was claimed —; what each attempt's
outcome makes of it, and the delivery event it causes.

Retries back off exponentially (:class:`~.retries.Retries`) up to a number of attempts,
after which a notification that would be retried fails, saying so.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any
from uuid import UUID

from cites_contracts.events.notifications import NotificationFailed, NotificationSent
from cites_contracts.events.notifications import Recipient as RecipientReference
from cites_contracts.types import NotificationChannel

from .retries import Retries

__all__ = ["Notification", "NotificationStatus", "SendOutcome"]


class NotificationStatus(StrEnum):
    PENDING = "pending"
    """Written, due at its ``next_attempt_at``."""
    SENDING = "sending"
    """Claimed by a sender round (committed before the mail server is spoken to)."""
    SENT = "sent"
    FAILED = "failed"
    CANCELLED = "cancelled"
    """Never sent: a reminder withdrawn while it waited (what it reminded of was done)."""


class SendOutcome(StrEnum):
    """What one attempt came to."""

    SENT = "sent"
    RETRY = "retry"
    FAILED = "failed"


@dataclass(slots=True)
class Notification:
    """A notification claimed for sending, with the address it goes to."""

    notification_id: UUID
    cause_event_id: UUID
    cause_type: str
    template: str
    recipient: RecipientReference
    candidature_id: UUID | None
    cite_id: str | None
    subject: str
    body_text: str
    body_html: str
    attempts: int
    """This attempt included."""
    email: str | None
    """None: the address is not known (see ``contact_id``)."""
    contact_id: UUID | None = None
    """None: the recipient was erased — nothing to send to. Set while ``email`` is None:
    the address has not come yet (its card is on another topic than the cause)."""
    status: NotificationStatus = NotificationStatus.SENDING
    last_error: str | None = None
    next_attempt_at: datetime | None = None
    traceparent: str | None = None
    """The W3C trace of its cause: the sender's span of this mail is its child."""

    def record(self, outcome: SendOutcome, reason: str, at: datetime, retries: Retries
               ) -> NotificationSent | NotificationFailed | None:
        """The attempt's ``outcome`` (with ``reason`` unless sent): sent, or failed — also
        when a retry is due but the attempts are spent —, each told by its event; or due
        again after the backoff (no event)."""
        if outcome is SendOutcome.RETRY and retries.exhausted(self.attempts):
            outcome = SendOutcome.FAILED
            reason = f"{reason} — abandon après {self.attempts} tentatives"
        if outcome is SendOutcome.SENT:
            self.status, self.last_error = NotificationStatus.SENT, None
            return NotificationSent(**self._delivery(), sent_at=at)
        self.last_error = reason
        if outcome is SendOutcome.FAILED:
            self.status = NotificationStatus.FAILED
            return NotificationFailed(**self._delivery(), reason=reason, failed_at=at)
        self.status = NotificationStatus.PENDING
        self.next_attempt_at = at + retries.delay(self.attempts)
        return None

    @property
    def outcome(self) -> SendOutcome:
        """What its last attempt came to, once recorded."""
        return {NotificationStatus.SENT: SendOutcome.SENT,
                NotificationStatus.FAILED: SendOutcome.FAILED}.get(self.status,
                                                                  SendOutcome.RETRY)

    def _delivery(self) -> dict[str, Any]:
        return {"notification_id": self.notification_id,
                "cause_event_id": self.cause_event_id, "cause_type": self.cause_type,
                "template": self.template, "channel": NotificationChannel.EMAIL,
                "recipient": self.recipient, "candidature_id": self.candidature_id,
                "cite_id": self.cite_id, "attempts": self.attempts}
