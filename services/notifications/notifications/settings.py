"""Settings of the notifications service (environment variables ``NOTIFICATIONS_*``)."""

from __future__ import annotations

from pydantic import Field

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
    webhook_allow_private_hosts: bool = Field(
        False, description="Whether subscriptions may point at loopback or private "
        "addresses (development and tests; never in production: a national token could "
        "otherwise make the service call its own network)")
    webhook_secret_overlap_s: float = Field(
        86400.0, ge=0, description="After a secret is rotated, deliveries are signed with "
        "the old one too for this long, so receivers can switch without losing any")
    metrics_interval_s: float = Field(5.0, gt=0, description="How often the queue gauges "
                                      "of /metrics are read from the database")
    reminder_check_interval_s: float = Field(
        3600.0, gt=0, description="How often every replica writes the label-expiry "
        "reminders that have come due")
