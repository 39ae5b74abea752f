"""The webhook sender, run by every replica (``ServiceDefinition.background``): it
delivers what the consumer has queued, signed, once per (subscription, event).

As for mail (``sender.py``): each round claims due deliveries in a transaction of its own
(``FOR UPDATE SKIP LOCKED``: two replicas never claim the same) and commits before the
HTTP request; after the receiver's answer a second transaction marks the outcome. A
sender killed in between leaves its claim ``sending``; after ``claim_lease_s`` another
round delivers it again with the same ``webhook-id`` and body, which a receiver
deduplicates (the specification asks receivers to).

Outcomes: a 2xx answer delivers. Anything else — no answer within ``webhook_timeout_s``,
a refused connection, a redirect (not followed: the subscription names where to
deliver), a 4xx or a 5xx — is retried with exponential backoff (``webhook_retry_base_s``
doubling up to ``webhook_retry_max_s``, or later when the receiver sends
``Retry-After``), up to ``webhook_max_attempts``, then failed with the reason (the
national role may resend it). A 410 Gone fails the delivery and pauses the subscription,
as the specification recommends. Unless ``webhook_allow_private_hosts``, a host that
resolves to a loopback, private or link-local address is refused at each attempt.
"""

from __future__ import annotations

import asyncio
import socket
from datetime import datetime, timedelta
from urllib.parse import urlsplit

import httpx

from cites_runtime.app import Runtime, periodic
from cites_runtime.uow import UnitOfWork

from . import metrics, store
from .domain import webhooks
from .settings import NotificationsSettings

__all__ = ["deliver_due", "webhook_sender"]

USER_AGENT = "cites-educatives-webhooks/1"


class Outcome:
    DELIVERED = "delivered"
    RETRY = "retry"
    FAILED = "failed"
    GONE = "gone"


async def _resolves_privately(url: str) -> str | None:
    """The private address ``url``'s host resolves to, if any."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        found = await asyncio.get_running_loop().getaddrinfo(host, port,
                                                             type=socket.SOCK_STREAM)
    except OSError:
        return None  # the request will fail and be retried
    for *_, sockaddr in found:
        if webhooks.private_address(str(sockaddr[0])):
            return str(sockaddr[0])
    return None


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after", "")
    return float(value) if value.isdigit() else None


async def _deliver(http: httpx.AsyncClient, d: store.ClaimedDelivery, at: datetime,
                   s: NotificationsSettings) -> tuple[str, int | None, str, float | None]:
    """(outcome, HTTP status, reason, retry-after seconds) of one attempt."""
    if not s.webhook_allow_private_hosts and (ip := await _resolves_privately(d.url)):
        return Outcome.FAILED, None, f"refusé : l'hôte désigne une adresse privée ({ip})", None
    headers = {"content-type": "application/json", "user-agent": USER_AGENT,
               **webhooks.signature_headers(str(d.delivery_id), at, d.body, d.secrets)}
    try:
        response = await http.post(d.url, content=d.body.encode(), headers=headers)
    except httpx.HTTPError as exc:
        return Outcome.RETRY, None, f"destinataire injoignable ({type(exc).__name__})", None
    code = response.status_code
    if 200 <= code < 300:
        return Outcome.DELIVERED, code, "", None
    if code == 410:
        return Outcome.GONE, code, "HTTP 410 : le destinataire ne veut plus de ces " \
                                   "livraisons (abonnement mis en pause)", None
    return Outcome.RETRY, code, f"HTTP {code}", _retry_after(response)


def _backoff(s: NotificationsSettings, attempts: int, asked: float | None) -> timedelta:
    wait = s.webhook_retry_base_s * 2 ** (attempts - 1)
    return timedelta(seconds=min(s.webhook_retry_max_s, max(wait, asked or 0.0)))


async def deliver_due(runtime: Runtime[NotificationsSettings]) -> int:
    """One round: claim, deliver (concurrently: receivers are independent), record.
    Returns how many were claimed."""
    s = runtime.settings
    async with runtime.unit_of_work() as uow:
        claimed = await store.claim_deliveries(uow.conn, uow.now, s.claim_lease_s,
                                               s.send_batch)
    if not claimed:
        return 0
    async with httpx.AsyncClient(timeout=s.webhook_timeout_s, follow_redirects=False) as http:
        await asyncio.gather(*(_attempt(runtime, http, d) for d in claimed))
    return len(claimed)


async def _attempt(runtime: Runtime[NotificationsSettings], http: httpx.AsyncClient,
                   d: store.ClaimedDelivery) -> None:
    s = runtime.settings
    outcome, code, reason, asked = await _deliver(http, d, s.clock(), s)
    if outcome == Outcome.RETRY and d.attempts >= s.webhook_max_attempts:
        outcome, reason = Outcome.FAILED, f"{reason} — abandon après {d.attempts} tentatives"
    async with runtime.unit_of_work() as uow:
        await _record(uow, d, outcome, code, reason, _backoff(s, d.attempts, asked))
    metrics.OUTCOMES.labels("webhook", "failed" if outcome == Outcome.GONE else outcome).inc()


async def _record(uow: UnitOfWork, d: store.ClaimedDelivery, outcome: str, code: int | None,
                  reason: str, backoff: timedelta) -> None:
    if outcome == Outcome.DELIVERED:
        await store.mark_delivered(uow.conn, d.delivery_id, code or 200, uow.now)
    elif outcome in (Outcome.FAILED, Outcome.GONE):
        await store.mark_delivery_failed(uow.conn, d.delivery_id, code, reason, uow.now)
        if outcome == Outcome.GONE:
            await store.deactivate_subscription(uow.conn, d.subscription_id, uow.now)
    else:
        await store.retry_delivery_later(uow.conn, d.delivery_id, code, reason,
                                         uow.now + backoff)


webhook_sender = periodic("webhook delivery", deliver_due,
                          lambda s: float(s.send_interval_s), drain=True)
"""Delivery rounds until cancelled; ``send_interval_s`` between rounds when there was
nothing to deliver."""
