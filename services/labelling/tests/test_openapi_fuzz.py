"""Schemathesis against the published OpenAPI, on the service served for real: whatever
the input (valid or not, any role or no token), the answer is never a server error."""

from __future__ import annotations

from labelling.app import definition
from labelling.settings import LabellingSettings
from labelling_kit import label_through_service

from cites_runtime.testing import AS_NATIONAL, AS_OPERATOR, in_memory
from cites_runtime.testing.fuzz import assert_no_server_error

EXAMPLES = 300  # in all, spread over every operation; the test stays well under a minute


async def test_no_request_makes_the_service_answer_a_server_error(
        settings: LabellingSettings) -> None:
    async with in_memory(definition, settings, serve=True) as labelling:
        await label_through_service(labelling.runtime)  # something to read and change
        cite = await labelling.http.get("/cites/cite-001", headers=AS_NATIONAL)
        assert cite.status_code == 200
        await assert_no_server_error(labelling.url, ["tok-national", "tok-prefecture-69",
                                                     "tok-viewer"], examples=EXAMPLES)


async def test_the_openapi_document_declares_the_bearer_scheme_on_every_route(
        settings: LabellingSettings) -> None:
    async with in_memory(definition, settings) as labelling:
        published = (await labelling.http.get("/openapi.json", headers=AS_OPERATOR)).json()
    schemes = published["components"]["securitySchemes"]
    guarded = {(path, method): op.get("security") for path, ops in published["paths"].items()
               for method, op in ops.items() if not path.startswith(("/health", "/asyncapi"))}
    assert schemes == {"bearer": {"type": "http", "scheme": "bearer", "description": schemes[
        "bearer"]["description"]}}
    assert guarded and all(security == [{"bearer": []}] for security in guarded.values())
