"""Wiring: what the runtime needs to run the dashboard (migrations, routes, consumer, the
health probe). It produces no event."""

from __future__ import annotations

from pathlib import Path

from cites_runtime.app import ServiceDefinition

from . import api, consumers
from .platform_health import health_probe

__all__ = ["definition"]

definition = ServiceDefinition(
    name="dashboard",
    title="Cités éducatives — programme dashboard",
    migrations_dir=Path(__file__).parent / "migrations",
    routers=[api.router],
    consumer=consumers.consumer,
    produces=[],
    background=[health_probe],
)
