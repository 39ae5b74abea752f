"""Fixtures of the dashboard tests: its settings on this test's schema, topic prefix and
clock, the service running isolated (in-memory broker, ``service``; served over real HTTP,
``served``) or on real Kafka (``live``), and a page of Debian's Chromium (``page``)."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Page, async_playwright

from cites_runtime.testing import in_memory, on_kafka
from cites_runtime.testing.infra import Infra
from cites_runtime.testing.plugin import SettingsFactory

sys.path.insert(0, str(Path(__file__).parent))  # dashboard_kit.py lives beside the tests

from dashboard.app import definition
from dashboard.settings import DashboardSettings
from dashboard_kit import Dashboard, chromium


@pytest.fixture
def settings(service_settings: SettingsFactory) -> DashboardSettings:
    # No other service runs in these tests: the probe finds none at these addresses.
    return service_settings(DashboardSettings, consumer_max_attempts=2,
                            services={}, health_interval_s=0.2, health_timeout_s=2,
                            refresh_s=0.5, opendata_cache_s=0)


@pytest.fixture
async def service(settings: DashboardSettings) -> AsyncIterator[Dashboard]:
    """Isolated: HTTP in-process, FastStream's in-memory broker, real PostgreSQL."""
    async with in_memory(definition, settings) as running:
        yield Dashboard(running)


@pytest.fixture
async def live(settings: DashboardSettings, infra: Infra) -> AsyncIterator[Dashboard]:
    """Integration: the real Kafka consumer (and health probe), real PostgreSQL. (Asking
    for ``infra`` gives ``settings`` the session's Kafka.)"""
    async with on_kafka(definition, settings) as running:
        yield Dashboard(running)


@pytest.fixture
async def served(settings: DashboardSettings) -> AsyncIterator[Dashboard]:
    """Real HTTP (uvicorn on a port), in-memory broker, real PostgreSQL."""
    async with in_memory(definition, settings, serve=True) as running:
        yield Dashboard(running)


@pytest.fixture
async def page() -> AsyncIterator[Page]:
    """A page of Debian's Chromium (headless, driven by Playwright), in French."""
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=chromium(), headless=True)
        try:
            yield await browser.new_page(locale="fr-FR")
        finally:
            await browser.close()
