"""Fixtures of the labelling tests: settings on a fresh schema, the service driven over HTTP
on FastStream's in-memory broker (isolated), and flow helpers."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from faststream.kafka import KafkaBroker, TestKafkaBroker
from faststream.kafka.annotations import KafkaMessage

from cites_contracts import Envelope, Event, decode
from cites_contracts.topics import LABELLING_CANDIDATURES, LABELLING_LABELS
from cites_runtime.app import build_app, run_migrations
from cites_runtime.kafka import BrokerPublisher
from cites_runtime.testing.infra import Infra
from cites_runtime.testing.plugin import ServiceDb

sys.path.insert(0, str(Path(__file__).parent))  # labelling_kit.py lives beside the tests

from labelling.app import definition
from labelling.settings import LabellingSettings
from labelling_kit import TOKENS, FakeClock, Service


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def make_settings(infra: Infra, service_db: ServiceDb, topic_prefix: str, clock: FakeClock
                  ) -> Callable[..., LabellingSettings]:
    def make(**overrides: Any) -> LabellingSettings:
        values: dict[str, Any] = dict(
            database_url=service_db.dsn, db_schema=service_db.schema,
            kafka_bootstrap_servers=infra.kafka_bootstrap, topic_prefix=topic_prefix,
            tokens=TOKENS, relay_poll_interval_s=0.2, log_json=False, log_level="WARNING",
            clock=clock,
        )
        values.update(overrides)
        return LabellingSettings(**values)

    return make


@pytest.fixture
def settings(make_settings: Callable[..., LabellingSettings]) -> LabellingSettings:
    return make_settings()


@pytest.fixture
async def migrated(settings: LabellingSettings) -> LabellingSettings:
    await run_migrations(definition, settings)
    return settings


@pytest.fixture
async def service(migrated: LabellingSettings) -> AsyncIterator[Service]:
    broker = KafkaBroker(migrated.kafka_bootstrap_servers)
    published: list[Envelope[Event]] = []

    async def capture(body: Any, msg: KafkaMessage) -> None:
        published.append(decode(msg.body, dict(msg.headers)))

    for topic in (LABELLING_CANDIDATURES, LABELLING_LABELS):
        broker.subscriber(migrated.topic(topic.name))(capture)
    async with TestKafkaBroker(broker) as test_broker:
        app = build_app(definition, migrated, publisher=BrokerPublisher(test_broker),
                        broker=test_broker)
        async with app.router.lifespan_context(app), httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://labelling") as http:
            yield Service(http, app.state.runtime, published)
