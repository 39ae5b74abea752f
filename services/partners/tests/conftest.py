"""Fixtures of the partners tests: the service on real PostgreSQL (a fresh schema and role
per test) and real Kafka (a fresh topic prefix per test). Helpers live in partners_kit."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from cites_contracts.topics import LABELLING_LABELS
from cites_runtime.app import build_app, run_migrations
from cites_runtime.db import create_pool
from cites_runtime.kafka import ensure_topics, make_producer
from cites_runtime.testing.http import serve_app
from cites_runtime.testing.infra import Infra
from cites_runtime.testing.plugin import ServiceDb

sys.path.insert(0, str(Path(__file__).parent))  # partners_kit lives beside the tests

from partners.app import definition
from partners.settings import PartnersSettings
from partners_kit import TOKENS, MakePartners, Partners


@pytest.fixture
def make_settings(infra: Infra, service_db: ServiceDb, topic_prefix: str
                  ) -> Callable[..., PartnersSettings]:
    def make(**overrides: Any) -> PartnersSettings:
        values: dict[str, Any] = dict(
            database_url=service_db.dsn, db_schema=service_db.schema,
            kafka_bootstrap_servers=infra.kafka_bootstrap, topic_prefix=topic_prefix,
            tokens=TOKENS, relay_poll_interval_s=0.2, log_json=False, log_level="WARNING",
            consumer_max_attempts=2,
        )
        values.update(overrides)
        return PartnersSettings(**values)

    return make


@pytest.fixture
async def migrated(make_settings: Callable[..., PartnersSettings]) -> PartnersSettings:
    settings = make_settings()
    await run_migrations(definition, settings)
    return settings


@pytest.fixture
async def pool(migrated: PartnersSettings) -> AsyncIterator[asyncpg.Pool]:
    p = await create_pool(migrated.dsn, migrated.db_schema)
    yield p
    await p.close()


@pytest.fixture
def make_partners(migrated: PartnersSettings) -> MakePartners:
    @asynccontextmanager
    async def start(**overrides: Any) -> AsyncIterator[Partners]:
        settings = migrated.model_copy(update=overrides)
        await ensure_topics(settings.kafka_bootstrap_servers,
                            [settings.topic(LABELLING_LABELS.name)])
        producer = make_producer(settings.kafka_bootstrap_servers)
        await producer.start()
        app = build_app(definition, settings)
        try:
            async with serve_app(app) as url, httpx.AsyncClient(base_url=url,
                                                                timeout=30) as http:
                yield Partners(http, app.state.runtime, settings, producer)
        finally:
            await producer.stop()

    return start


@pytest.fixture
async def partners(make_partners: MakePartners) -> AsyncIterator[Partners]:
    """The service for HTTP tests: no consumer (alliances are arranged directly)."""
    async with make_partners(consumers_enabled=False, relay_enabled=False) as service:
        yield service


@pytest.fixture
async def consuming(make_partners: MakePartners) -> AsyncIterator[Partners]:
    """The whole service: HTTP, consumer of labelling's events, relay."""
    async with make_partners() as service:
        yield service
