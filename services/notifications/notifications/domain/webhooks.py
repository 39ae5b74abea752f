"""Signed webhooks, the rules (pure): which events a subscription may ask for, what a
secret is, how a delivery is signed, where one may be sent.

Signing follows the Standard Webhooks specification (https://www.standardwebhooks.com):
three headers, ``webhook-id`` (the delivery's id, the same on every attempt: a receiver
deduplicates on it), ``webhook-timestamp`` (the attempt's Unix time, so a receiver can
refuse old replays) and ``webhook-signature``, a space-separated list of ``v1,<base64
HMAC-SHA256 of "{id}.{timestamp}.{body}">``, one per secret in force (two for a while
after a rotation). A secret is ``whsec_`` followed by the base64 of its key (24 to 64
bytes). The signing is the specification's few lines over the standard library's
``hmac``; the tests verify it with the specification's own library (``standardwebhooks``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import ipaddress
import json
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit
from uuid import UUID, uuid5

from cites_runtime.errors import RuleBroken

from .retries import Retries
from .rules import RULES

__all__ = ["REFUSED_NETWORKS", "SUBSCRIBABLE", "Answer", "Delivery", "DeliveryStatus",
           "body_of", "check_event_types", "check_url", "delivery_id", "key_of",
           "new_secret", "refused_address", "signature_headers"]

SECRET_PREFIX = "whsec_"
KEY_BYTES = 32
MIN_KEY_BYTES, MAX_KEY_BYTES = 24, 64

SUBSCRIBABLE: frozenset[str] = frozenset(rule.event_type for rule in RULES)
"""The events a subscription may ask for: those that notify someone (the rules table).
Events carrying personal data (the contact cards) are never sent to outside systems."""

_DELIVERIES = UUID("0b6f7f4e-3f1a-4a8e-b2d4-8c1e5a7d9f20")


def delivery_id(subscription_id: UUID, event_id: UUID) -> UUID:
    """A delivery's identity: one per subscription and event, whoever writes it."""
    return uuid5(_DELIVERIES, f"{subscription_id}/{event_id}")


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    """Queued, due at its ``next_attempt_at`` (a paused subscription's wait)."""
    SENDING = "sending"
    """Claimed by a sender round (committed before the request)."""
    DELIVERED = "delivered"
    FAILED = "failed"


class Answer(StrEnum):
    """What one attempt came to."""

    DELIVERED = "delivered"
    """A 2xx."""
    RETRY = "retry"
    """No answer, a refused connection, a redirect, a 4xx or a 5xx: tried again later."""
    FAILED = "failed"
    """Refused before sending (a forbidden address)."""
    GONE = "gone"
    """A 410: the receiver wants no more deliveries."""


@dataclass(slots=True)
class Delivery:
    """A delivery claimed for sending: ``body`` POSTed to ``url``, signed with the
    subscription's secrets in force (sealed: the current one, and the previous one during
    an overlap)."""

    delivery_id: UUID
    subscription_id: UUID
    url: str
    body: str
    attempts: int
    """This attempt included."""
    secrets: list[str] = field(default_factory=list)
    status: DeliveryStatus = DeliveryStatus.SENDING
    last_status: int | None = None
    """The receiver's HTTP status, if it answered."""
    last_error: str | None = None
    next_attempt_at: datetime | None = None
    traceparent: str | None = None
    """The W3C trace of its cause: the sender's span of this delivery is its child."""
    pauses_subscription: bool = False
    """A 410 Gone pauses its subscription (the specification's advice)."""

    def record(self, answer: Answer, code: int | None, reason: str, at: datetime,
               retries: Retries, asked_s: float | None = None) -> None:
        """The attempt's ``answer`` (``code``, and ``reason`` unless delivered): delivered;
        failed — a 410, a refusal, or a retry due when the attempts are spent (saying
        so) —; or due again after the backoff, or later if the receiver asked
        (``asked_s``, its Retry-After). Deliveries are told on no topic: no event."""
        self.last_status = code
        if answer is Answer.RETRY and retries.exhausted(self.attempts):
            answer = Answer.FAILED
            reason = f"{reason} — abandon après {self.attempts} tentatives"
        if answer is Answer.DELIVERED:
            self.status, self.last_error = DeliveryStatus.DELIVERED, None
            return
        self.last_error = reason
        if answer is Answer.RETRY:
            self.status = DeliveryStatus.PENDING
            self.next_attempt_at = at + retries.delay(self.attempts, asked_s)
            return
        self.status = DeliveryStatus.FAILED
        self.pauses_subscription = answer is Answer.GONE


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(KEY_BYTES)).decode()


def key_of(secret: str) -> bytes:
    """The key a secret holds; a secret not of the form ``whsec_<base64 of 24–64 bytes>``
    is refused (422)."""
    if not secret.startswith(SECRET_PREFIX):
        raise _broken("secret", f"a secret starts with {SECRET_PREFIX!r} followed by the "
                      "base64 of its key")
    try:
        key = base64.b64decode(secret[len(SECRET_PREFIX):], validate=True)
    except (binascii.Error, ValueError):
        raise _broken("secret", "a secret's key is base64 after 'whsec_'") from None
    if not MIN_KEY_BYTES <= len(key) <= MAX_KEY_BYTES:
        raise _broken("secret", f"a secret's key is {MIN_KEY_BYTES} to {MAX_KEY_BYTES} "
                      f"bytes, not {len(key)}")
    return key


def signature_headers(webhook_id: str, at: datetime, body: str, secrets_in_force:
                      Iterable[str]) -> dict[str, str]:
    """The three Standard Webhooks headers of one attempt."""
    timestamp = str(int(at.timestamp()))
    signed = f"{webhook_id}.{timestamp}.{body}".encode()
    signatures = [
        "v1," + base64.b64encode(hmac.new(key_of(s), signed, hashlib.sha256).digest()).decode()
        for s in secrets_in_force]
    return {"webhook-id": webhook_id, "webhook-timestamp": timestamp,
            "webhook-signature": " ".join(signatures)}


def body_of(event_type: str, version: int, event_id: UUID, occurred_at: datetime,
            data: dict[str, Any]) -> str:
    """What a receiver gets, in the specification's shape (``type``, ``timestamp``,
    ``data``): ``data`` is the event's payload as its committed JSON Schema describes it,
    with its version and id beside it."""
    return json.dumps({"type": event_type, "version": version, "event_id": str(event_id),
                       "timestamp": occurred_at.isoformat().replace("+00:00", "Z"),
                       "data": data}, ensure_ascii=False, separators=(",", ":"))


def check_event_types(types: Iterable[str]) -> list[str]:
    """The types, sorted and without repeats; one not in :data:`SUBSCRIBABLE` is a 422 that
    lists those that are."""
    wanted = sorted(set(types))
    unknown = [t for t in wanted if t not in SUBSCRIBABLE]
    if not wanted or unknown:
        raise _broken("event_types",
                      (f"not events one may subscribe to: {', '.join(unknown)}; " if unknown
                       else "name at least one event type; ")
                      + f"those one may: {', '.join(sorted(SUBSCRIBABLE))}")
    return wanted


def check_url(url: str, allow_private_for_tests: bool) -> str:
    """An absolute http(s) URL without credentials whose host is not ``localhost`` nor a
    literal address in :data:`REFUSED_NETWORKS` (unless ``allow_private_for_tests``). The
    sender checks again, at each attempt, every address a host name resolves to."""
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise _broken("url", "a webhook URL is an absolute http:// or https:// URL")
    if parts.username or parts.password:
        raise _broken("url", "a webhook URL carries no credentials: the signature "
                      "authenticates the sender")
    if parts.fragment:
        raise _broken("url", "a webhook URL has no #fragment")
    host = parts.hostname
    if allow_private_for_tests:
        return url
    if host == "localhost" or host.endswith(".localhost"):
        raise _broken("url", f"{host} is a loopback name: webhooks go to outside systems")
    try:
        literal = ipaddress.ip_address(host)
    except ValueError:
        return url
    if why := refused_address(literal):
        raise _broken("url", f"{host} is a {why} address: webhooks go to outside systems")
    return url


Address = ipaddress.IPv4Address | ipaddress.IPv6Address

REFUSED_NETWORKS: tuple[tuple[str, str], ...] = (
    ("169.254.169.254/32", "cloud metadata"), ("100.100.100.200/32", "cloud metadata"),
    ("fd00:ec2::254/128", "cloud metadata"),
    ("0.0.0.0/8", "unspecified"), ("::/128", "unspecified"),
    ("10.0.0.0/8", "private"), ("172.16.0.0/12", "private"), ("192.168.0.0/16", "private"),
    ("fc00::/7", "private"),
    ("127.0.0.0/8", "loopback"), ("::1/128", "loopback"),
    ("169.254.0.0/16", "link-local"), ("fe80::/10", "link-local"),
    ("100.64.0.0/10", "shared (CGNAT)"),
    ("224.0.0.0/4", "multicast"), ("ff00::/8", "multicast"),
    ("240.0.0.0/4", "reserved"), ("192.0.0.0/24", "reserved"), ("198.18.0.0/15", "reserved"),
    ("64:ff9b::/96", "reserved (NAT64)"), ("64:ff9b:1::/48", "reserved (NAT64)"),
)
"""Where a webhook is never sent (first match names why), whatever the Python version's
own tables say; ``refused_address`` adds those tables."""

_REFUSED = tuple((ipaddress.ip_network(net), why) for net, why in REFUSED_NETWORKS)


def refused_address(address: Address) -> str | None:
    """Why ``address`` must not be called from here (``"loopback"``, ``"cloud metadata"``…),
    or None for a public address. An IPv6 address carrying an IPv4 one (IPv4-mapped, 6to4,
    Teredo) is judged by the IPv4 address too."""
    for net, why in _REFUSED:
        if address.version == net.version and address in net:
            return why
    if isinstance(address, ipaddress.IPv6Address):
        for inner in (address.ipv4_mapped, address.sixtofour,
                      address.teredo[1] if address.teredo else None):
            if inner is not None and (inner_why := refused_address(inner)):
                return f"{inner_why} (inside {address})"
    for flag, why in (("is_loopback", "loopback"), ("is_link_local", "link-local"),
                      ("is_private", "private"), ("is_multicast", "multicast"),
                      ("is_unspecified", "unspecified"), ("is_reserved", "reserved")):
        if getattr(address, flag):
            return why
    if not address.is_global:
        return "non-global"
    return None


def _broken(field: str, message: str) -> RuleBroken:
    return RuleBroken.of(field, f"webhook-{field}", message)
