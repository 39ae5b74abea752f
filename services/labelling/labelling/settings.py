"""Settings of the labelling service (environment variables prefixed ``LABELLING_``).

The clock and the programme's time zone (label periods and expiry are civil dates of
Paris) are the runtime's (``ServiceSettings.clock``, ``.timezone``)."""

from __future__ import annotations

from pydantic import Field

from cites_runtime.settings import ServiceSettings, service_config

__all__ = ["LabellingSettings"]


class LabellingSettings(ServiceSettings):
    model_config = service_config("labelling")

    service_name: str = "labelling"
    db_schema: str = Field("labelling", pattern=r"^[a-z_][a-z0-9_]{0,62}$")
    http_port: int = 8001

    label_years: int = Field(3, ge=1, le=10, description="Length of a label period, in years")
    expiry_check_interval_s: float = Field(3600.0, gt=0)
