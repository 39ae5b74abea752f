"""Fixtures of the notifications tests: its settings on this test's schema, topic prefix
and clock, and the service running isolated (in-memory broker, an SMTP server in this
process: PostgreSQL is all it needs) or on real Kafka with the session's SMTP server (the
launcher's sink, or Mailpit under testcontainers)."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from cites_runtime.testing import ServiceUnderTest, in_memory, on_kafka
from cites_runtime.testing.infra import Infra
from cites_runtime.testing.plugin import SettingsFactory

sys.path.insert(0, str(Path(__file__).parent))  # notifications_kit.py lives beside the tests

from notifications.app import definition
from notifications.settings import NotificationsSettings
from notifications_kit import SmtpServer

# The sender is called by the tests, round by round: its own loop sleeps an hour.
SENDING = dict(consumer_max_attempts=2, send_interval_s=3600.0, retry_base_s=0.05)


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    """A real SMTP server in this process, keeping what it accepts."""
    server = SmtpServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def settings(service_settings: SettingsFactory, smtp: SmtpServer) -> NotificationsSettings:
    """Isolated: mailing the test's own ``smtp``."""
    return service_settings(NotificationsSettings, smtp_host=smtp.host, smtp_port=smtp.port,
                            **SENDING)


@pytest.fixture
async def service(settings: NotificationsSettings) -> AsyncIterator[ServiceUnderTest]:
    """Isolated: in-memory broker, real PostgreSQL, a real SMTP server (``smtp``)."""
    async with in_memory(definition, settings) as running:
        yield running


@pytest.fixture
async def live(service_settings: SettingsFactory, infra: Infra
               ) -> AsyncIterator[ServiceUnderTest]:
    """Integration: the real Kafka consumer group, producer and relay, real PostgreSQL and
    the session's SMTP server (its mails read with ``infra.mails``)."""
    if infra.smtp_host is None or infra.smtp_port is None:
        pytest.fail("no SMTP server found: notifications' tests on Kafka need the session's "
                    "(the launcher's SMTP sink, Mailpit under Docker, or SMTP_HOST/SMTP_PORT)")
    settings = service_settings(NotificationsSettings, smtp_host=infra.smtp_host,
                                smtp_port=infra.smtp_port, **SENDING)
    async with on_kafka(definition, settings) as running:
        yield running
