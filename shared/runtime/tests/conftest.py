from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from cites_runtime.app import Runtime, run_migrations
from cites_runtime.settings import ServiceSettings, TokenGrant
from cites_runtime.testing.infra import Infra
from cites_runtime.testing.plugin import ServiceDb

sys.path.insert(0, str(Path(__file__).parent))  # the test app lives beside the tests

import runtime_testapp as testapp

TOKENS = {
    "tok-national": TokenGrant(role="national", subject="coordination"),
    "tok-prefecture-69": TokenGrant(role="prefecture", departement="69", subject="pref-69"),
    "tok-viewer": TokenGrant(role="viewer"),
}


@pytest.fixture
def make_settings(infra: Infra, service_db: ServiceDb, topic_prefix: str
                  ) -> Callable[..., ServiceSettings]:
    def make(**overrides: Any) -> ServiceSettings:
        values: dict[str, Any] = dict(
            service_name="testapp",
            database_url=service_db.dsn,
            db_schema=service_db.schema,
            kafka_bootstrap_servers=infra.kafka_bootstrap,
            topic_prefix=topic_prefix,
            tokens=TOKENS,
            relay_poll_interval_s=0.2,
            log_json=False,
        )
        values.update(overrides)
        return ServiceSettings(**values)

    return make


@pytest.fixture
def settings(make_settings: Callable[..., ServiceSettings]) -> ServiceSettings:
    return make_settings()


@pytest.fixture
async def migrated(settings: ServiceSettings) -> ServiceSettings:
    await run_migrations(testapp.definition, settings)
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
