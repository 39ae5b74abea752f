"""Fixtures of the funding tests: its settings on this test's schema, topic prefix and
clock, and the service running isolated (``service``: in-memory broker), isolated but
served on a real socket (``served``: for the races, a thousand requests at once, and the
OpenAPI fuzzer, which need a URL), or on real Kafka (``live``)."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from cites_runtime.testing import in_memory, on_kafka
from cites_runtime.testing.infra import Infra
from cites_runtime.testing.plugin import SettingsFactory

sys.path.insert(0, str(Path(__file__).parent))  # funding_kit.py lives beside the tests

from funding.app import definition
from funding.settings import FundingSettings
from funding_kit import Funding


@pytest.fixture
def settings(service_settings: SettingsFactory) -> FundingSettings:
    return service_settings(FundingSettings, consumer_max_attempts=2)


@pytest.fixture
async def service(settings: FundingSettings) -> AsyncIterator[Funding]:
    """Isolated: HTTP in-process, FastStream's in-memory broker, real PostgreSQL."""
    async with in_memory(definition, settings) as running:
        yield Funding(running)


@pytest.fixture
async def served(settings: FundingSettings) -> AsyncIterator[Funding]:
    """Real HTTP (uvicorn on a port), in-memory broker, real PostgreSQL: for races (each
    request on its own connection) and the fuzzer (it needs a URL)."""
    async with in_memory(definition, settings, serve=True) as running:
        yield Funding(running)


@pytest.fixture
async def live(settings: FundingSettings, infra: Infra) -> AsyncIterator[Funding]:
    """Integration: the real Kafka producer, relay and consumer, real PostgreSQL. (Asking
    for ``infra`` gives ``settings`` the session's Kafka.)"""
    async with on_kafka(definition, settings) as running:
        yield Funding(running)
