"""The sender, run by every replica (``ServiceDefinition.background``): it sends what the
consumer has written, by SMTP, once per notification.

Each round claims up to ``send_batch`` due notifications in a transaction of its own
(``status = 'sending'``, ``attempts + 1``; ``FOR UPDATE SKIP LOCKED``, so two replicas
never claim the same) and commits *before* talking to the mail server; it sends them over
``smtp_connections`` connections at once, each reused for its share; then one transaction
marks every outcome and emits ``NotificationSent`` or ``NotificationFailed`` for each.

What a crash can double, and why it is bounded: a sender killed after the server accepted
a message and before the outcome's commit leaves its claim ``sending``; once the claim is
older than ``claim_lease_s`` another round takes it and sends it again — with the same
``Message-ID`` (``<notification_id@domain>``), which a recipient's server or client
deduplicates. So a crash can double at most the messages of the round in flight at that
moment (at most ``send_batch``), each at most once more per crash, and a recipient whose
server deduplicates by Message-ID sees none twice.

Failures: a refused connection, a timeout or a 4xx answer is retried with exponential
backoff (``retry_base_s`` doubling up to ``retry_max_s``), up to ``max_attempts``; a 5xx
answer, or the last attempt, fails the notification with the reason — which never quotes
the address. Mail to a contact erased meanwhile is failed unsent; mail whose address has
not come yet (its card is on another topic than the mail's cause) waits, like a 4xx.
"""

from __future__ import annotations

import asyncio
import email.policy
import logging
import re
from contextlib import nullcontext
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr

import aiosmtplib

from cites_runtime import tracing
from cites_runtime.app import Runtime, periodic
from cites_runtime.logs import get_logger

from . import metrics, service
from .domain.notification import Notification, SendOutcome
from .domain.retries import Retries
from .metrics import ROUND
from .settings import NotificationsSettings

__all__ = ["message_of", "retries", "send_due", "sender"]

log = get_logger(__name__)


_POLICY = email.policy.SMTP.clone(max_line_length=200)
"""CRLF lines; headers folded beyond 200 characters only, so that the Message-ID (about 90)
stays on one line for every reader."""


def message_of(n: Notification, s: NotificationsSettings) -> EmailMessage:
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


_ERASED = "destinataire effacé (droit à l'effacement) : rien n'a été envoyé"
_NOT_YET = "adresse pas encore reçue"


class _Lane:
    """One SMTP connection, reused for the mails of a round it is given, one after another.
    A failure of the connection itself ends it: the lane's mails not yet tried are retried
    later with the same reason (the server is away: trying each would only wait out each
    one's timeout)."""

    def __init__(self, s: NotificationsSettings, tracer: tracing.Tracer | None = None):
        self.s = s
        self.tracer = tracer
        self.smtp: aiosmtplib.SMTP | None = None
        self.down: str | None = None

    async def traced_send(self, n: Notification) -> tuple[SendOutcome, str]:
        """:meth:`send`, its outcome logged (:func:`_log_mail`); with tracing on in a span
        ``send mail``, child of the trace of the mail's cause (the handler that wrote it),
        so that the log line carries that trace's id."""
        with (nullcontext() if self.tracer is None else tracing.call_span(
                self.tracer, "send mail", n.traceparent, {
                    "notification.id": str(n.notification_id),
                    "notification.template": n.template,
                    "notification.attempt": n.attempts})) as span:
            outcome, reason = await self.send(n)
            if span is not None:
                span.set_attribute("notification.outcome", outcome.value)
            _log_mail(n, outcome, reason)
        return outcome, reason

    async def send(self, n: Notification) -> tuple[SendOutcome, str]:
        """(outcome, reason) of one mail."""
        if n.contact_id is None:
            return SendOutcome.FAILED, _ERASED
        if n.email is None:  # its card comes on another topic than the cause: later
            return SendOutcome.RETRY, _NOT_YET
        if self.down is not None:
            return SendOutcome.RETRY, self.down
        s = self.s
        try:
            if self.smtp is None:
                self.smtp = aiosmtplib.SMTP(hostname=s.smtp_host, port=s.smtp_port,
                                            timeout=s.smtp_timeout_s, start_tls=False,
                                            use_tls=False)
                await self.smtp.connect()
            # Flattened here, with our policy: aiosmtplib's own would fold the Message-ID.
            await self.smtp.sendmail(parseaddr(s.mail_from)[1], [n.email],
                                     message_of(n, s).as_bytes(policy=_POLICY))
        except aiosmtplib.SMTPRecipientsRefused as refused:  # the connection is still fine
            codes = [r.code for r in refused.recipients]
            permanent = all(c >= 500 for c in codes)
            return (SendOutcome.FAILED if permanent else SendOutcome.RETRY,
                    _redacted(f"SMTP {codes}: destinataire refusé", n.email))
        except aiosmtplib.SMTPResponseException as answer:
            await self.close()  # its transaction's state is unknown: start afresh
            reason = _redacted(f"SMTP {answer.code} {answer.message}", n.email)
            return (SendOutcome.FAILED if answer.code >= 500 else SendOutcome.RETRY), reason
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            await self.close()
            self.down = _redacted(f"serveur de messagerie injoignable "
                                  f"({type(exc).__name__})", n.email)
            return SendOutcome.RETRY, self.down
        return SendOutcome.SENT, ""

    async def close(self) -> None:
        smtp, self.smtp = self.smtp, None
        if smtp is not None and smtp.is_connected:
            try:
                await asyncio.wait_for(smtp.quit(), self.s.smtp_timeout_s)
            except Exception:  # a server that will not say goodbye: just hang up
                smtp.close()

    async def send_all(self, mails: list[Notification]) -> list[tuple[SendOutcome, str]]:
        try:
            return [await self.traced_send(n) for n in mails]
        finally:
            await self.close()


_LOGGED = {SendOutcome.SENT: (logging.INFO, "mail sent"),
           SendOutcome.RETRY: (logging.INFO, "mail not sent yet, tried again later"),
           SendOutcome.FAILED: (logging.WARNING, "mail failed")}


def _log_mail(n: Notification, outcome: SendOutcome, reason: str) -> None:
    """One line per attempt: which notification, its template and attempt, and why it was
    not sent (the reason never quotes the address)."""
    level, what = _LOGGED[outcome]
    log.log(level, what, notification_id=str(n.notification_id), template=n.template,
            attempt=n.attempts, **({"reason": reason} if reason else {}))


def retries(s: NotificationsSettings) -> Retries:
    """Mail's backoff and attempts, from the settings."""
    return Retries(s.retry_base_s, s.retry_max_s, s.max_attempts)


async def send_due(runtime: Runtime[NotificationsSettings]) -> int:
    """One round: claim up to ``send_batch`` (committed), send them over
    ``smtp_connections`` connections at once, record every outcome in one transaction
    (:func:`service.record_mails`). Returns how many were claimed."""
    s = runtime.settings
    with ROUND.labels("email", "claim").time():
        async with runtime.unit_of_work() as uow:
            claimed = await service.claim_mails(uow, s.claim_lease_s, s.send_batch)
    if not claimed:
        return 0
    lanes = [lane for lane in (claimed[i::s.smtp_connections]
                               for i in range(s.smtp_connections)) if lane]
    with ROUND.labels("email", "send").time():
        answers = await asyncio.gather(*(_Lane(s, runtime.tracer).send_all(lane)
                                         for lane in lanes))
    outcomes = [(n, outcome, reason)
                for lane, lane_answers in zip(lanes, answers, strict=True)
                for n, (outcome, reason) in zip(lane, lane_answers, strict=True)]
    with ROUND.labels("email", "record").time():
        async with runtime.unit_of_work() as uow:
            await service.record_mails(uow, outcomes, retries(s))
    for n in claimed:
        metrics.OUTCOMES.labels("email", n.outcome.value).inc()
    return len(claimed)


sender = periodic("mail sending", send_due, lambda s: float(s.send_interval_s), drain=True)
"""Send rounds until cancelled; ``send_interval_s`` between rounds when there was
nothing to send, a failed round (the database away) tried again within 30 s."""
