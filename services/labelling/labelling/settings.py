"""Settings of the labelling service (environment variables prefixed ``LABELLING_``)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, date, datetime, tzinfo
from functools import cached_property
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field

from cites_runtime.settings import ServiceSettings, service_config

__all__ = ["Clock", "LabellingSettings", "utc_now"]

Clock = Callable[[], datetime]
"""Returns the current instant, aware. Injected so tests can move time."""


def utc_now() -> datetime:
    return datetime.now(UTC)


class LabellingSettings(ServiceSettings):
    model_config = service_config("labelling")

    service_name: str = "labelling"
    db_schema: str = Field("labelling", pattern=r"^[a-z_][a-z0-9_]{0,62}$")
    http_port: int = 8001

    label_years: int = Field(3, ge=1, le=10, description="Length of a label period, in years")
    # Label periods and expiry are civil dates of the programme, which is run from Paris.
    timezone: str = "Europe/Paris"
    expiry_check_interval_s: float = Field(3600.0, gt=0)
    clock: Clock = Field(default=utc_now, exclude=True)

    @cached_property
    def zone(self) -> tzinfo:
        try:
            return ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            # A slim image may lack the tz database: UTC dates are off by at most a day.
            logging.getLogger(__name__).warning("time zone %r unknown, using UTC", self.timezone)
            return UTC

    def now(self) -> datetime:
        return self.clock().astimezone(UTC)

    def today(self) -> date:
        return self.clock().astimezone(self.zone).date()
