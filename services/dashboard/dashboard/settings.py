"""Settings of the dashboard (environment variables ``DASHBOARD_*``).

Besides the runtime's (database, broker, tokens…): the services whose ``/health/ready``
and ``/metrics`` the health probe reads, how often it and the page refresh, and how long
the open data is answered from its last copy."""

from __future__ import annotations

from pydantic import Field, HttpUrl

from cites_runtime.settings import ServiceSettings, service_config

__all__ = ["DashboardSettings"]


class DashboardSettings(ServiceSettings):
    model_config = service_config("dashboard")

    service_name: str = "dashboard"
    db_schema: str = Field("dashboard", pattern=r"^[a-z_][a-z0-9_]{0,62}$")
    http_port: int = 8005

    services: dict[str, HttpUrl] = Field(
        default_factory=lambda: {name: HttpUrl(f"http://127.0.0.1:{port}") for name, port in
                                 (("labelling", 8001), ("partners", 8002), ("funding", 8003),
                                  ("notifications", 8004))},
        description="Each service's base URL: the probe reads its /health/ready and /metrics "
        '(DASHBOARD_SERVICES=\'{"labelling": "http://labelling:8000", …}\')')
    health_interval_s: float = Field(5.0, gt=0, description="How often the platform's health "
                                     "(consumer lag, dead letters, outboxes) is probed")
    health_timeout_s: float = Field(3.0, gt=0, description="How long a probe waits for one "
                                    "service or the broker before saying it did not answer")
    refresh_s: float = Field(5.0, gt=0, description="How often the page asks for the summary")
    opendata_cache_s: float = Field(60.0, ge=0, description="How long the open data, served "
                                    "to anyone without a token, is answered from the copy "
                                    "last built before it is read again from the projection "
                                    "(0: every request reads it)")
    oidc_client_id: str = Field("cites-dashboard", description="The identity provider's "
                                "public client the page signs in as (authorization code + "
                                "PKCE), when auth_mode is oidc")
