"""Schemathesis against the published OpenAPI, on the service served for real: whatever
the input (valid or not, any role), the answer is never a server error."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from faststream.kafka import KafkaBroker, TestKafkaBroker
from partners import service
from partners.app import definition
from partners.settings import PartnersSettings
from partners_kit import NATIONAL, association, contact, labelled

from cites_runtime.app import build_app
from cites_runtime.kafka import BrokerPublisher
from cites_runtime.testing.fuzz import assert_no_server_error
from cites_runtime.testing.http import serve_app

pytestmark = pytest.mark.integration

EXAMPLES = 300  # in all, spread over every operation; the test stays well under a minute
TOKENS = ["tok-national", "tok-prefecture-93", "tok-viewer"]


@pytest.fixture
async def served(migrated: PartnersSettings) -> AsyncIterator[str]:
    async with TestKafkaBroker(KafkaBroker(migrated.kafka_bootstrap_servers)) as broker:
        app = build_app(definition, migrated, publisher=BrokerPublisher(broker), broker=broker)
        async with serve_app(app) as url:
            async with app.state.runtime.unit_of_work() as uow:  # something to read, change
                await service.open_alliance(uow, labelled())
            yield url


async def test_no_request_makes_the_service_answer_a_server_error(served: str) -> None:
    async with httpx.AsyncClient(base_url=served) as http:
        published = (await http.get("/openapi.json")).json()
        asso = await http.post("/partners", json=association(), headers=NATIONAL)
        person = await http.post(f"/partners/{asso.json()['partner_id']}/contacts",
                                 json=contact(), headers=NATIONAL)
    assert (asso.status_code, person.status_code) == (201, 201)
    await assert_no_server_error(served, published, TOKENS, examples=EXAMPLES)
