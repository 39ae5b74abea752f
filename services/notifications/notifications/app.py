"""Wiring: what the runtime needs to run notifications (migrations, routes, topics, jobs)."""

from __future__ import annotations

from pathlib import Path

from cites_contracts.topics import NOTIFICATIONS_DELIVERIES
from cites_runtime.app import ServiceDefinition
from cites_runtime.tuning import CPYTHON_GC_THRESHOLDS

from . import api, consumers
from .metrics import queue_gauges
from .reminders import reminder_check
from .secret_box import secret_resealer
from .sender import sender
from .webhook_sender import webhook_sender

__all__ = ["definition"]

definition = ServiceDefinition(
    name="notifications",
    title="Cités éducatives — notifications",
    migrations_dir=Path(__file__).parent / "migrations",
    routers=[api.router],
    consumer=consumers.consumer,
    produces=[NOTIFICATIONS_DELIVERIES],
    background=[sender, webhook_sender, secret_resealer, reminder_check, queue_gauges],
    # Rendering mail leaves reference cycles: CPython's thresholds keep them collected
    # (RSS after 2,700 mails 90 MB, 158–162 with the batch ones: bench --only rss).
    gc_thresholds=CPYTHON_GC_THRESHOLDS,
)
