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
as the specification recommends.

Where it connects: each attempt resolves the host once (every address), fails the delivery
if ANY address is refused (``domain.webhooks.refused_address``: private, loopback,
link-local, CGNAT, metadata…; only ``webhook_allow_private_hosts_for_tests`` lifts that),
then connects to the first address itself — the URL's host replaced by that IP, the
``Host`` header and TLS SNI (``sni_hostname``, which httpcore also verifies the
certificate against) kept to the name — so a second resolution (DNS rebinding) cannot
change where it goes. No proxy from the environment (``trust_env=False``), no redirect.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack, nullcontext
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import httpx

from cites_runtime import tracing
from cites_runtime.app import Runtime, periodic
from cites_runtime.logs import get_logger

from . import metrics, service
from .domain import webhooks
from .domain.retries import Retries
from .domain.webhooks import Answer, Delivery, DeliveryStatus
from .secret_box import box_of
from .settings import NotificationsSettings

__all__ = ["Resolver", "deliver_due", "pinned_address", "retries", "system_resolver",
           "webhook_sender"]

log = get_logger(__name__)

USER_AGENT = "cites-educatives-webhooks/1"


Resolver = Callable[[str, int], Awaitable[list[str]]]
"""(host, port) → every address it resolves to; injected by tests (DNS rebinding)."""


async def system_resolver(host: str, port: int) -> list[str]:
    found = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(sockaddr[0]) for *_, sockaddr in found]


async def pinned_address(url: str, resolve: Resolver, allow_private_for_tests: bool
                         ) -> tuple[str | None, str]:
    """(the address to connect to, "") — or (None, why it is refused). Raises ``OSError``
    when the name does not resolve."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    addresses = await resolve(host, port)
    if not addresses:
        raise OSError(f"{host} resolves to no address")
    for address in addresses:
        why = webhooks.refused_address(ipaddress.ip_address(address.split("%")[0]))
        if why and not allow_private_for_tests:
            return None, f"refusé : {host} désigne une adresse {why} ({address})"
    return addresses[0], ""


def _pinned_request(url: str, address: str) -> tuple[httpx.URL, dict[str, str],
                                                       dict[str, Any]]:
    """The URL with its host replaced by ``address``, the ``Host`` header and the TLS
    name of the original."""
    original = httpx.URL(url)
    extensions: dict[str, Any] = {}
    if original.scheme == "https":
        extensions["sni_hostname"] = original.host
    return (original.copy_with(host=address), {"host": original.netloc.decode("ascii")},
            extensions)


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after", "")
    return float(value) if value.isdigit() else None


async def _deliver(http: httpx.AsyncClient, d: Delivery, at: datetime,
                   s: NotificationsSettings, resolve: Resolver
                   ) -> tuple[Answer, int | None, str, float | None]:
    """(outcome, HTTP status, reason, retry-after seconds) of one attempt."""
    try:
        address, refusal = await pinned_address(d.url, resolve,
                                                s.webhook_allow_private_hosts_for_tests)
    except OSError as exc:
        return Answer.RETRY, None, f"nom introuvable ({type(exc).__name__})", None
    if address is None:
        return Answer.FAILED, None, refusal, None
    box = box_of(s)
    url, host, extensions = _pinned_request(d.url, address)
    headers = {"content-type": "application/json", "user-agent": USER_AGENT, **host,
               **webhooks.signature_headers(str(d.delivery_id), at, d.body,
                                            [box.open(sealed) for sealed in d.secrets])}
    try:
        response = await http.post(url, content=d.body.encode(), headers=headers,
                                   extensions=extensions)
    except httpx.HTTPError as exc:
        return Answer.RETRY, None, f"destinataire injoignable ({type(exc).__name__})", None
    code = response.status_code
    if 200 <= code < 300:
        return Answer.DELIVERED, code, "", None
    if code == 410:
        return Answer.GONE, code, "HTTP 410 : le destinataire ne veut plus de ces " \
                                   "livraisons (abonnement mis en pause)", None
    return Answer.RETRY, code, f"HTTP {code}", _retry_after(response)


def retries(s: NotificationsSettings) -> Retries:
    """Webhooks' backoff and attempts, from the settings."""
    return Retries(s.webhook_retry_base_s, s.webhook_retry_max_s, s.webhook_max_attempts)


async def deliver_due(runtime: Runtime[NotificationsSettings],
                      resolve: Resolver = system_resolver) -> int:
    """One round: claim, deliver (concurrently: receivers are independent), record.
    Returns how many were claimed."""
    s = runtime.settings
    async with runtime.unit_of_work() as uow:
        claimed = await service.claim_deliveries(uow, s.claim_lease_s, s.send_batch)
    if not claimed:
        return 0
    # A client per host name: the pool keys connections by IP, and a TLS connection
    # verified for one name must not carry another name's request to the same IP.
    tls = httpx.create_ssl_context()
    by_host: dict[str, list[Delivery]] = {}
    for d in claimed:
        by_host.setdefault(urlsplit(d.url).hostname or "", []).append(d)
    async with AsyncExitStack() as clients:
        attempts = []
        for batch in by_host.values():
            http = await clients.enter_async_context(httpx.AsyncClient(
                timeout=s.webhook_timeout_s, follow_redirects=False, trust_env=False,
                verify=tls))
            attempts += [_attempt(runtime, http, d, resolve) for d in batch]
        await asyncio.gather(*attempts)
    return len(claimed)


async def _attempt(runtime: Runtime[NotificationsSettings], http: httpx.AsyncClient,
                   d: Delivery, resolve: Resolver) -> None:
    s = runtime.settings
    # A span child of the trace of the delivery's cause (the handler that wrote it), so
    # that the attempt's log line carries that trace's id.
    with (nullcontext() if runtime.tracer is None else tracing.call_span(
            runtime.tracer, "deliver webhook", d.traceparent, {
                "webhook.delivery.id": str(d.delivery_id),
                "webhook.attempt": d.attempts})) as span:
        answer, code, reason, asked = await _deliver(http, d, s.clock(), s, resolve)
        if span is not None:
            span.set_attribute("webhook.answer", answer.value)
            if code is not None:
                span.set_attribute("http.response.status_code", code)
        log.log(logging.WARNING if answer is Answer.FAILED else logging.INFO,
                f"webhook {answer.value}", delivery_id=str(d.delivery_id),
                attempt=d.attempts, **({"status_code": code} if code is not None else {}),
                **({"reason": reason} if reason else {}))
    async with runtime.unit_of_work() as uow:
        await service.record_delivery(uow, d, answer, code, reason, retries(s), asked)
    metrics.OUTCOMES.labels("webhook", d.status.value if d.status in _ENDED else "retry").inc()


_ENDED = (DeliveryStatus.DELIVERED, DeliveryStatus.FAILED)


webhook_sender = periodic("webhook delivery", deliver_due,
                          lambda s: float(s.send_interval_s), drain=True)
"""Delivery rounds until cancelled; ``send_interval_s`` between rounds when there was
nothing to deliver."""
