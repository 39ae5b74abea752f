"""Schemathesis against the published OpenAPI, on the service served for real: whatever
the input (valid or not, any role or none), the answer is never a server error."""

from __future__ import annotations

from partners import service as use_cases
from partners.app import definition
from partners.settings import PartnersSettings
from partners_kit import association, contact, labelled

from cites_runtime.testing import AS_NATIONAL, in_memory
from cites_runtime.testing.fuzz import assert_no_server_error

EXAMPLES = 300  # in all, spread over every operation; the test stays well under a minute
TOKENS = ["tok-national", "tok-prefecture-93", "tok-viewer"]


async def test_no_request_makes_the_service_answer_a_server_error(
    settings: PartnersSettings,
) -> None:
    async with in_memory(definition, settings, serve=True) as served:
        async with served.runtime.unit_of_work() as uow:  # something to read and change
            assert await use_cases.open_alliance(uow, labelled())
        asso = await served.http.post("/partners", json=association(), headers=AS_NATIONAL)
        person = await served.http.post(f"/partners/{asso.json()['partner_id']}/contacts",
                                        json=contact(), headers=AS_NATIONAL)
        assert (asso.status_code, person.status_code) == (201, 201)
        await assert_no_server_error(served.url, TOKENS, examples=EXAMPLES)
