"""The partners service as the runtime runs it: routes, consumer, produced topics."""

from __future__ import annotations

from pathlib import Path

from cites_contracts.topics import PARTNERS_ALLIANCES, PARTNERS_CONTACTS, PARTNERS_REGISTRY
from cites_runtime.app import ServiceDefinition

from . import api
from .consumers import consumer

__all__ = ["definition"]

definition = ServiceDefinition(
    name="partners",
    title="Cités éducatives — partners (registry and alliances)",
    migrations_dir=Path(__file__).parent / "migrations",
    routers=[api.router],
    consumer=consumer,
    produces=[PARTNERS_REGISTRY, PARTNERS_CONTACTS, PARTNERS_ALLIANCES],
)
