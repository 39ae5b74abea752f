"""Fixtures of the partners tests: the service isolated (``service``: FastStream's
in-memory broker, real PostgreSQL) or whole (``live``: real Kafka and PostgreSQL), through
the runtime's harness. Builders of labelling's events and of request bodies, and the flows
the tests repeat, live in partners_kit."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from cites_runtime.testing import ServiceUnderTest, in_memory, on_kafka
from cites_runtime.testing.infra import Infra
from cites_runtime.testing.plugin import SettingsFactory

sys.path.insert(0, str(Path(__file__).parent))  # partners_kit lives beside the tests

from partners.app import definition
from partners.settings import PartnersSettings


@pytest.fixture
def settings(service_settings: SettingsFactory) -> PartnersSettings:
    return service_settings(PartnersSettings, consumer_max_attempts=2)


@pytest.fixture
async def service(settings: PartnersSettings) -> AsyncIterator[ServiceUnderTest]:
    """The service isolated: in-memory broker, real PostgreSQL."""
    async with in_memory(definition, settings) as running:
        yield running


@pytest.fixture
async def live(settings: PartnersSettings, infra: Infra) -> AsyncIterator[ServiceUnderTest]:
    """The whole service on real Kafka and PostgreSQL: HTTP, consumer, relay. (Asking
    for ``infra`` gives ``settings`` the session's Kafka.)"""
    async with on_kafka(definition, settings) as running:
        yield running
