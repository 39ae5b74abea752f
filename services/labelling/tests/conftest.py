"""Fixtures of the labelling tests: its settings on this test's schema, topic prefix and
clock, and the service running isolated (in-memory broker) or on real Kafka."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from cites_runtime.app import run_migrations
from cites_runtime.testing import in_memory, on_kafka
from cites_runtime.testing.infra import Infra
from cites_runtime.testing.plugin import SettingsFactory

sys.path.insert(0, str(Path(__file__).parent))  # labelling_kit.py lives beside the tests

from labelling.app import definition
from labelling.settings import LabellingSettings
from labelling_kit import Labelling


@pytest.fixture
def settings(service_settings: SettingsFactory) -> LabellingSettings:
    return service_settings(LabellingSettings)


@pytest.fixture
async def migrated(settings: LabellingSettings) -> LabellingSettings:
    await run_migrations(definition, settings)
    return settings


@pytest.fixture
async def service(settings: LabellingSettings) -> AsyncIterator[Labelling]:
    """Isolated: HTTP in-process, FastStream's in-memory broker, real PostgreSQL."""
    async with in_memory(definition, settings) as running:
        yield Labelling(running)


@pytest.fixture
async def live(settings: LabellingSettings, infra: Infra) -> AsyncIterator[Labelling]:
    """Integration: the real Kafka producer and relay, real PostgreSQL. (Asking for
    ``infra`` gives ``settings`` the session's Kafka.)"""
    async with on_kafka(definition, settings) as running:
        yield Labelling(running)
