"""Settings of the funding service (environment variables ``FUNDING_*``).

The clock and the programme's time zone (budget years are civil years of Paris) are the
runtime's (``ServiceSettings.clock``, ``.timezone``)."""

from __future__ import annotations

from pydantic import Field

from cites_runtime.settings import ServiceSettings, service_config

__all__ = ["FundingSettings"]


class FundingSettings(ServiceSettings):
    model_config = service_config("funding")

    service_name: str = "funding"
    db_schema: str = Field("funding", pattern=r"^[a-z_][a-z0-9_]{0,62}$")
    http_port: int = 8003

    yearly_check_interval_s: float = Field(
        3600.0, gt=0, description="How often every replica checks that each active cité "
        "has this budget year's dotation and fonds")
