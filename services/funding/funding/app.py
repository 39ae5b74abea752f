"""Wiring: what the runtime needs to run funding (migrations, routes, topics, jobs)."""

from __future__ import annotations

from pathlib import Path

from cites_contracts.topics import FUNDING_ALLOCATIONS, FUNDING_CREDITS, FUNDING_ENVELOPES
from cites_runtime.app import ServiceDefinition

from . import api, consumers
from .yearly import yearly_check

__all__ = ["definition"]

definition = ServiceDefinition(
    name="funding",
    title="Cités éducatives — funding",
    migrations_dir=Path(__file__).parent / "migrations",
    routers=[api.router],
    consumer=consumers.consumer,
    produces=[FUNDING_ENVELOPES, FUNDING_CREDITS, FUNDING_ALLOCATIONS],
    background=[yearly_check],
)
