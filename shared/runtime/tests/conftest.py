from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from cites_runtime.app import Runtime, run_migrations
from cites_runtime.kafka import provision
from cites_runtime.settings import ServiceSettings
from cites_runtime.testing.plugin import SettingsFactory

sys.path.insert(0, str(Path(__file__).parent))  # the test app lives beside the tests

import runtime_testapp as testapp


@pytest.fixture
def make_settings(service_settings: SettingsFactory) -> Callable[..., ServiceSettings]:
    def make(**overrides: Any) -> ServiceSettings:
        return service_settings(ServiceSettings, **{"service_name": "testapp",
                                                    "log_level": "INFO", **overrides})

    return make


@pytest.fixture
def settings(make_settings: Callable[..., ServiceSettings]) -> ServiceSettings:
    return make_settings()


@pytest.fixture
async def migrated(settings: ServiceSettings) -> ServiceSettings:
    """The test app's schema migrated and its topics provisioned (the broker creates none
    by itself, and tests produce to them before a runtime starts)."""
    await run_migrations(testapp.definition, settings)
    await provision(settings.kafka_bootstrap_servers, testapp.definition.topics(),
                    prefix=settings.topic_prefix)
    return settings


@pytest.fixture
async def pool(migrated: ServiceSettings) -> AsyncIterator[asyncpg.Pool]:
    from cites_runtime.db import create_pool

    p = await create_pool(migrated.dsn, migrated.db_schema)
    yield p
    await p.close()


@pytest.fixture
async def runtime(migrated: ServiceSettings) -> AsyncIterator[Runtime]:
    rt = Runtime(testapp.definition, migrated)
    await rt.start()
    yield rt
    await rt.stop()
