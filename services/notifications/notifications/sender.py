"""The sender, run by every replica (``ServiceDefinition.background``): it sends what the
consumer has written, by SMTP, once per notification.

Each round claims due notifications in a transaction of its own (``status = 'sending'``,
``attempts + 1``; ``FOR UPDATE SKIP LOCKED``, so two replicas never claim the same) and
commits *before* talking to the mail server; after the server's answer, a second
transaction marks the outcome and emits ``NotificationSent`` or ``NotificationFailed``.

What a crash can double, and why it is bounded: a sender killed after the server accepted
a message and before the outcome's commit leaves its claim ``sending``; once the claim is
older than ``claim_lease_s`` another round takes it and sends it again — with the same
``Message-ID`` (``<notification_id@domain>``), which a recipient's server or client
deduplicates. So a crash can double at most the messages in flight at that moment (at
most ``send_batch``), each at most once more per crash, and a recipient whose server
deduplicates by Message-ID sees none twice.

Failures: a refused connection, a timeout or a 4xx answer is retried with exponential
backoff (``retry_base_s`` doubling up to ``retry_max_s``), up to ``max_attempts``; a 5xx
answer, or the last attempt, fails the notification with the reason — which never quotes
the address. Mail to a contact erased meanwhile is failed unsent.
"""

from __future__ import annotations

import email.policy
import re
from datetime import timedelta
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr

import aiosmtplib

from cites_contracts.events.notifications import NotificationFailed, NotificationSent, Recipient
from cites_contracts.types import NotificationChannel
from cites_runtime.app import Runtime, periodic
from cites_runtime.uow import UnitOfWork

from . import metrics, store
from .settings import NotificationsSettings

__all__ = ["SendOutcome", "message_of", "send_due", "sender"]



class SendOutcome:
    SENT = "sent"
    RETRY = "retry"
    FAILED = "failed"


_POLICY = email.policy.SMTP.clone(max_line_length=200)
"""CRLF lines; headers folded beyond 200 characters only, so that the Message-ID (about 90)
stays on one line for every reader."""


def message_of(n: store.Claimed, s: NotificationsSettings) -> EmailMessage:
    """The mail: plain text and HTML alternatives, a deterministic Message-ID."""
    msg = EmailMessage(policy=_POLICY)
    msg["From"] = s.mail_from
    msg["To"] = n.email or ""
    msg["Subject"] = n.subject
    msg["Message-ID"] = f"<{n.notification_id}@{s.message_id_domain}>"
    msg["Date"] = format_datetime(s.clock())
    msg["Auto-Submitted"] = "auto-generated"
    msg.set_content(n.body_text)
    msg.add_alternative(n.body_html, subtype="html")
    return msg


def _redacted(text: str, address: str | None) -> str:
    if address:
        text = text.replace(address, "<adresse>")
    return re.sub(r"[\w.+-]+@[\w-]+(\.[\w-]+)+", "<adresse>", text)[:1900]


async def _send(n: store.Claimed, s: NotificationsSettings) -> tuple[str, str]:
    """(outcome, reason) of one SMTP transaction."""
    if n.email is None:
        return SendOutcome.FAILED, ("adresse effacée (droit à l'effacement) ou jamais connue : "
                                    "rien n'a été envoyé")
    try:
        # Flattened here, with our policy: aiosmtplib's own would fold the Message-ID.
        await aiosmtplib.send(message_of(n, s).as_bytes(policy=_POLICY),
                              sender=parseaddr(s.mail_from)[1], recipients=[n.email],
                              hostname=s.smtp_host, port=s.smtp_port,
                              timeout=s.smtp_timeout_s, start_tls=False, use_tls=False)
    except aiosmtplib.SMTPRecipientsRefused as refused:
        codes = [r.code for r in refused.recipients]
        permanent = all(c >= 500 for c in codes)
        return (SendOutcome.FAILED if permanent else SendOutcome.RETRY,
                _redacted(f"SMTP {codes}: destinataire refusé", n.email))
    except aiosmtplib.SMTPResponseException as answer:
        reason = _redacted(f"SMTP {answer.code} {answer.message}", n.email)
        return (SendOutcome.FAILED if answer.code >= 500 else SendOutcome.RETRY), reason
    except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
        return SendOutcome.RETRY, _redacted(f"serveur de messagerie injoignable "
                                            f"({type(exc).__name__})", n.email)
    return SendOutcome.SENT, ""


def _backoff(s: NotificationsSettings, attempts: int) -> timedelta:
    return timedelta(seconds=min(s.retry_max_s, s.retry_base_s * 2 ** (attempts - 1)))


async def send_due(runtime: Runtime[NotificationsSettings]) -> int:
    """One round: claim, send, record. Returns how many were claimed."""
    s = runtime.settings
    async with runtime.unit_of_work() as uow:
        claimed = await store.claim(uow.conn, uow.now, s.claim_lease_s, s.send_batch)
    for n in claimed:
        outcome, reason = await _send(n, s)
        if outcome == SendOutcome.RETRY and n.attempts >= s.max_attempts:
            outcome, reason = SendOutcome.FAILED, f"{reason} — abandon après {n.attempts} " \
                                                  "tentatives"
        async with runtime.unit_of_work() as uow:
            await _record(uow, n, outcome, reason, s)
        metrics.OUTCOMES.labels("email", outcome).inc()
    return len(claimed)


async def _record(uow: UnitOfWork, n: store.Claimed, outcome: str, reason: str,
                  s: NotificationsSettings) -> None:
    common = {"notification_id": n.notification_id, "cause_event_id": n.cause_event_id,
              "cause_type": n.cause_type, "template": n.template,
              "channel": NotificationChannel.EMAIL,
              "recipient": Recipient.model_validate(n.recipient),
              "candidature_id": n.candidature_id, "cite_id": n.cite_id,
              "attempts": n.attempts}
    if outcome == SendOutcome.SENT:
        if await store.mark_sent(uow.conn, n.notification_id, uow.now):
            uow.emit(NotificationSent(**common, sent_at=uow.now))
    elif outcome == SendOutcome.FAILED:
        if await store.mark_failed(uow.conn, n.notification_id, reason, uow.now):
            uow.emit(NotificationFailed(**common, reason=reason, failed_at=uow.now))
    else:
        await store.retry_later(uow.conn, n.notification_id, reason,
                                uow.now + _backoff(s, n.attempts))


sender = periodic("mail sending", send_due, lambda s: float(s.send_interval_s), drain=True)
"""Send rounds until cancelled; ``send_interval_s`` between rounds when there was
nothing to send, a failed round (the database away) tried again within 30 s."""
