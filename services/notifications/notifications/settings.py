"""Settings of the notifications service (environment variables ``NOTIFICATIONS_*``)."""

from __future__ import annotations

import base64
import hashlib
from typing import Self

from pydantic import Field, SecretStr, field_validator, model_validator

from cites_runtime.settings import ServiceSettings, service_config

__all__ = ["NotificationsSettings"]


class NotificationsSettings(ServiceSettings):
    model_config = service_config("notifications")

    service_name: str = "notifications"
    db_schema: str = Field("notifications", pattern=r"^[a-z_][a-z0-9_]{0,62}$")
    http_port: int = 8004

    smtp_host: str = "127.0.0.1"
    smtp_port: int = Field(11025, ge=1, le=65535)
    smtp_timeout_s: float = Field(10.0, gt=0)
    mail_from: str = Field("Cités éducatives <ne-pas-repondre@cites-educatives.gouv.fr>",
                           description="The From header of every mail")
    message_id_domain: str = Field("notifications.cites-educatives.gouv.fr",
                                   description="Right-hand side of the Message-IDs")
    send_interval_s: float = Field(0.5, gt=0, description="How often the sender looks for "
                                   "mail to send when it found none")
    send_batch: int = Field(50, ge=1, le=1000, description="Mails a sending round claims; "
                            "also what a crash can send twice at most")
    smtp_connections: int = Field(4, ge=1, le=50, description="SMTP connections a round "
                                  "sends over at once, each reused for its share")
    claim_lease_s: float = Field(120.0, gt=0, description="A claim older than this is a "
                                 "sender that died: its notifications are sent again")
    max_attempts: int = Field(6, ge=1, le=100)
    retry_base_s: float = Field(2.0, gt=0, description="First retry after this; doubling")
    retry_max_s: float = Field(600.0, gt=0)
    webhook_timeout_s: float = Field(10.0, gt=0, description="A receiver that has not "
                                     "answered within this is retried later")
    webhook_max_attempts: int = Field(8, ge=1, le=100)
    webhook_retry_base_s: float = Field(5.0, gt=0, description="First retry of a webhook "
                                        "delivery after this; doubling")
    webhook_retry_max_s: float = Field(3600.0, gt=0)
    webhook_allow_private_hosts_for_tests: bool = Field(
        False, description="FOR TESTS ONLY (their receivers listen on loopback): lets "
        "subscriptions point at loopback, private, link-local, CGNAT and metadata "
        "addresses. Refused in production; neither compose nor make run sets it")
    webhook_secret_keys: SecretStr | None = Field(
        None, description="Fernet keys sealing the signing secrets at rest, comma-separated, "
        "newest first (the first seals, any opens). Required in production; elsewhere a "
        "fixed development key is used when unset")
    webhook_secret_overlap_s: float = Field(
        86400.0, ge=0, description="After a secret is rotated, deliveries are signed with "
        "the old one too for this long, so receivers can switch without losing any")
    metrics_interval_s: float = Field(5.0, gt=0, description="How often the queue gauges "
                                      "of /metrics are read from the database")
    reminder_check_interval_s: float = Field(
        3600.0, gt=0, description="How often every replica writes the label-expiry "
        "reminders that have come due")

    def webhook_secret_key_list(self) -> list[str]:
        """The keys sealing webhook secrets, newest first."""
        if self.webhook_secret_keys is None:
            return [DEV_WEBHOOK_SECRET_KEY]
        return [k.strip() for k in self.webhook_secret_keys.get_secret_value().split(",")
                if k.strip()]

    @field_validator("webhook_secret_keys", mode="before")
    @classmethod
    def _blank_is_unset(cls, v: object) -> object:
        return None if isinstance(v, str) and not v.strip() else v

    @model_validator(mode="after")
    def _production_is_not_a_test(self) -> Self:
        """``environment`` (the runtime's, ``NOTIFICATIONS_ENVIRONMENT``) production
        refuses the test flag and the development key."""
        if self.environment == "production":
            if self.webhook_allow_private_hosts_for_tests:
                raise ValueError("webhook_allow_private_hosts_for_tests is for tests: "
                                 "refused when environment is production")
            if self.webhook_secret_keys is None:
                raise ValueError("environment is production: set "
                                 "NOTIFICATIONS_WEBHOOK_SECRET_KEYS (Fernet keys, newest "
                                 "first) to seal the webhook secrets")
        keys = self.webhook_secret_key_list()
        if not keys or any(len(_urlsafe(k)) != 32 for k in keys):
            raise ValueError("webhook_secret_keys: comma-separated Fernet keys (url-safe "
                             "base64 of 32 bytes, e.g. from Fernet.generate_key())")
        return self


def _urlsafe(key: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(key.encode())
    except ValueError:
        return b""


DEV_WEBHOOK_SECRET_KEY = base64.urlsafe_b64encode(
    hashlib.sha256(b"cites-educatives development webhook secret key").digest()).decode()
"""Not a secret: seals the secrets of development and tests only (refused in production)."""
