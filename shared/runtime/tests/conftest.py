from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer

from cites_runtime.app import Runtime, run_migrations
from cites_runtime.kafka import make_producer, provision
from cites_runtime.settings import ServiceSettings
from cites_runtime.testing.infra import Infra
from cites_runtime.testing.plugin import SettingsFactory

sys.path.insert(0, str(Path(__file__).parent))  # the test app and the kit live beside the tests

import runtime_testapp as testapp
from runtime_kit import DeadLetters


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
async def migrated_schema(settings: ServiceSettings) -> ServiceSettings:
    """The test app's schema migrated: PostgreSQL only."""
    await run_migrations(testapp.definition, settings)
    return settings


@pytest.fixture
async def migrated(migrated_schema: ServiceSettings, infra: Infra) -> ServiceSettings:
    """The test app's schema migrated and its topics provisioned (the broker creates none
    by itself, and tests produce to them before a runtime starts)."""
    await provision(migrated_schema.kafka, testapp.definition.topics(),
                    prefix=migrated_schema.topic_prefix)
    return migrated_schema


@pytest.fixture
async def pool(migrated_schema: ServiceSettings) -> AsyncIterator[asyncpg.Pool]:
    from cites_runtime.db import create_pool

    p = await create_pool(migrated_schema.dsn, migrated_schema.db_schema)
    yield p
    await p.close()


@pytest.fixture
async def runtime(migrated: ServiceSettings) -> AsyncIterator[Runtime]:
    rt = Runtime(testapp.definition, migrated)
    await rt.start()
    yield rt
    await rt.stop()


@pytest.fixture
async def producer(migrated: ServiceSettings) -> AsyncIterator[AIOKafkaProducer]:
    """An idempotent producer (the relay's settings) on the test's broker."""
    p = make_producer(migrated.kafka)
    await p.start()
    yield p
    await p.stop()


@pytest.fixture
def dead_letters() -> DeadLetters:
    """What a runner under test dead-letters, kept."""
    return DeadLetters()
