"""Settings every service shares; each service subclasses with its own env prefix.

``class LabellingSettings(ServiceSettings): model_config = service_config("labelling")``
reads ``LABELLING_DATABASE_URL``, ``LABELLING_KAFKA_BOOTSTRAP_SERVERS`` and so on.
"""

from __future__ import annotations

import logging
from datetime import UTC, tzinfo
from functools import cached_property
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from .uow import Clock, utc_now

__all__ = ["ServiceSettings", "TokenGrant", "service_config"]


class TokenGrant(BaseModel):
    """What a bearer token allows: a role, and for préfectures their département."""

    role: str
    departement: str | None = None
    subject: str = "anonymous"


def service_config(service: str) -> SettingsConfigDict:
    return SettingsConfigDict(
        env_prefix=f"{service.upper()}_",
        env_nested_delimiter="__",
        extra="ignore",
    )


class ServiceSettings(BaseSettings):
    model_config = service_config("service")

    service_name: str = "service"
    database_url: SecretStr = SecretStr("postgresql://postgres:postgres@127.0.0.1:15432/cites")
    db_schema: str = Field("public", pattern=r"^[a-z_][a-z0-9_]{0,62}$")
    db_pool_min: int = 1
    db_pool_max: int = 10

    kafka_bootstrap_servers: str = "127.0.0.1:19092"
    # Prepended to every topic and consumer-group name: lets environments (or tests)
    # share one cluster without seeing each other's events.
    topic_prefix: str = ""
    topic_partitions: int = 3
    topic_replication_factor: int = 1

    http_host: str = "127.0.0.1"
    http_port: int = 8000
    # token -> grant; e.g. LABELLING_TOKENS='{"dev-national": {"role": "national"}}'
    tokens: dict[str, TokenGrant] = Field(default_factory=dict)

    log_level: str = "INFO"
    log_json: bool = True

    relay_enabled: bool = True
    relay_batch_size: int = 2000
    relay_poll_interval_s: float = 1.0
    relay_retention_hours: float = 168.0

    consumers_enabled: bool = True
    consumer_batch_size: int = 500
    consumer_max_attempts: int = 5

    migrate_on_start: bool = False

    # Civil dates of the programme (label periods, budget years) are those of Paris.
    timezone: str = "Europe/Paris"
    clock: Clock = Field(default=utc_now, exclude=True)
    """Where units of work read the time (``uow.now``); tests give a fake clock."""

    @cached_property
    def zone(self) -> tzinfo:
        try:
            return ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            # A slim image may lack the tz database: UTC dates are off by at most a day.
            logging.getLogger(__name__).warning("time zone %r unknown, using UTC", self.timezone)
            return UTC

    @field_validator("topic_prefix")
    @classmethod
    def _prefix_is_clean(cls, v: str) -> str:
        if v and not v.replace(".", "").replace("-", "").replace("_", "").isalnum():
            raise ValueError("topic_prefix may hold only letters, digits, '.', '-' and '_'")
        return v

    def topic(self, name: str) -> str:
        return f"{self.topic_prefix}{name}"

    @property
    def dsn(self) -> str:
        return self.database_url.get_secret_value()
