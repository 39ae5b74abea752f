"""Schemathesis against the published OpenAPI, on the service served for real: whatever
the input (valid or not, any role), the answer is never a server error."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from faststream.kafka import KafkaBroker, TestKafkaBroker
from labelling.app import definition
from labelling.settings import LabellingSettings
from labelling_kit import AS_NATIONAL, label_through_service

from cites_runtime.app import build_app
from cites_runtime.kafka import BrokerPublisher
from cites_runtime.testing.fuzz import assert_no_server_error
from cites_runtime.testing.http import serve_app

EXAMPLES = 300  # in all, spread over every operation; the test stays well under a minute
TOKENS = ["tok-national", "tok-prefecture-69", "tok-viewer"]


@pytest.fixture
async def served(migrated: LabellingSettings) -> AsyncIterator[str]:
    async with TestKafkaBroker(KafkaBroker(migrated.kafka_bootstrap_servers)) as broker:
        app = build_app(definition, migrated, publisher=BrokerPublisher(broker), broker=broker)
        async with serve_app(app) as url:
            await label_through_service(app.state.runtime)  # something to read and change
            yield url


async def test_no_request_makes_the_service_answer_a_server_error(served: str) -> None:
    async with httpx.AsyncClient(base_url=served) as http:
        published = (await http.get("/openapi.json")).json()
        cite = await http.get("/cites/cite-001", headers=AS_NATIONAL)
    assert cite.status_code == 200
    await assert_no_server_error(served, published, TOKENS, examples=EXAMPLES)
