"""Wiring: what the runtime needs to run labelling (migrations, routes, topics, jobs)."""

from __future__ import annotations

from pathlib import Path

from cites_contracts.topics import (
    LABELLING_CANDIDATURES,
    LABELLING_CONTACTS,
    LABELLING_LABELS,
    LABELLING_REVIEWS,
)
from cites_runtime.app import ServiceDefinition

from . import api, consumers
from .expiry import expiry_check, review_deadline_check

__all__ = ["definition"]

definition = ServiceDefinition(
    name="labelling",
    title="Cités éducatives — labelling",
    migrations_dir=Path(__file__).parent / "migrations",
    routers=[api.router],
    consumer=consumers.consumer,
    produces=[LABELLING_CANDIDATURES, LABELLING_CONTACTS, LABELLING_LABELS, LABELLING_REVIEWS],
    background=[expiry_check, review_deadline_check],
)
