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
from labelling.app import definition
from labelling.settings import LabellingSettings
from labelling_kit import AS_NATIONAL, label_through_service
from schemathesis import GenerationMode

from cites_runtime.app import build_app
from cites_runtime.kafka import BrokerPublisher
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
