"""Schemathesis against the published OpenAPI, on the service served for real: whatever
the input (valid or not, any role), the answer is never a server error."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest
import schemathesis
from faststream.kafka import KafkaBroker, TestKafkaBroker
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from partners import service
from partners.app import definition
from partners.settings import PartnersSettings
from partners_kit import NATIONAL, association, contact, labelled
from schemathesis import GenerationMode

from cites_runtime.app import build_app
from cites_runtime.kafka import BrokerPublisher
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
    schema = schemathesis.openapi.from_dict(published)
    cases = st.one_of(schema.as_strategy(GenerationMode.POSITIVE),
                      schema.as_strategy(GenerationMode.NEGATIVE))

    @settings(max_examples=EXAMPLES, deadline=None, database=None,
              phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
    @given(case=cases, token=st.sampled_from(TOKENS))
    def fuzz(case: schemathesis.Case, token: str) -> None:
        response = case.call(base_url=served, headers={"Authorization": f"Bearer {token}"},
                             timeout=10)
        assert response.status_code < 500, (
            f"{response.status_code} for {case.as_curl_command()}:\n{response.text[:500]}")

    # Schemathesis calls synchronously: run it off the loop that serves the app.
    await asyncio.to_thread(fuzz)
