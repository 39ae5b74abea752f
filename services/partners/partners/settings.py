"""Settings of the partners service (environment variables ``PARTNERS_*``)."""

from __future__ import annotations

from pydantic import Field

from cites_runtime.settings import ServiceSettings, service_config

__all__ = ["PartnersSettings"]


class PartnersSettings(ServiceSettings):
    model_config = service_config("partners")

    service_name: str = "partners"
    db_schema: str = Field("partners", pattern=r"^[a-z_][a-z0-9_]{0,62}$")
    http_port: int = 8002
