"""Fixtures of the notifications tests: its settings on this test's schema, topic prefix,
clock and the real SMTP sink (the launcher's, or Mailpit under testcontainers), and the
service running isolated (in-memory broker) or on real Kafka."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from cites_runtime.testing import ServiceUnderTest, in_memory, on_kafka
from cites_runtime.testing.infra import Infra
from cites_runtime.testing.plugin import SettingsFactory

sys.path.insert(0, str(Path(__file__).parent))  # notifications_kit.py lives beside the tests

from notifications.app import definition
from notifications.settings import NotificationsSettings


@pytest.fixture
def settings(service_settings: SettingsFactory, infra: Infra) -> NotificationsSettings:
    if infra.smtp_host is None or infra.smtp_port is None:
        pytest.fail("no SMTP server found: notifications' tests need the launcher's SMTP "
                    "sink (make infra-up) or a Docker engine for Mailpit")
    return service_settings(NotificationsSettings, consumer_max_attempts=2,
                            smtp_host=infra.smtp_host, smtp_port=infra.smtp_port,
                            send_interval_s=3600.0, retry_base_s=0.05)


@pytest.fixture
async def notifications(settings: NotificationsSettings) -> AsyncIterator[ServiceUnderTest]:
    """Isolated: in-memory broker, real PostgreSQL, real SMTP (the sender is called by the
    tests, round by round: its own loop sleeps an hour between rounds)."""
    async with in_memory(definition, settings) as running:
        yield running


@pytest.fixture
async def live(settings: NotificationsSettings) -> AsyncIterator[ServiceUnderTest]:
    """Integration: the real Kafka consumer group, producer and relay, real PostgreSQL and
    SMTP (the sender called by the tests, as above)."""
    async with on_kafka(definition, settings) as running:
        yield running
