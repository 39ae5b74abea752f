"""Schemathesis against the published OpenAPI, on the service served for real: whatever
the input (valid or not, any role or none), the answer is never a server error."""

from __future__ import annotations

from notifications.app import definition
from notifications.settings import NotificationsSettings

from cites_runtime.testing import AS_OPERATOR, in_memory
from cites_runtime.testing.fuzz import assert_no_server_error

EXAMPLES = 200  # in all, spread over every operation; the test stays well under a minute
TOKENS = ["tok-national", "tok-prefecture-93", "tok-viewer", "tok-partner"]


async def test_no_request_makes_the_service_answer_a_server_error(
    settings: NotificationsSettings,
) -> None:
    async with in_memory(definition, settings, serve=True) as served:
        await assert_no_server_error(served.url, TOKENS, examples=EXAMPLES)


async def test_the_openapi_document_declares_the_bearer_scheme_on_every_route(
    settings: NotificationsSettings,
) -> None:
    async with in_memory(definition, settings) as served:
        published = (await served.http.get("/openapi.json", headers=AS_OPERATOR)).json()
    schemes = published["components"]["securitySchemes"]
    guarded = {(path, method): op.get("security") for path, ops in published["paths"].items()
               for method, op in ops.items()
               if not path.startswith(("/health", "/metrics", "/asyncapi"))}
    assert schemes == {"bearer": {"type": "http", "scheme": "bearer", "description": schemes[
        "bearer"]["description"]}}
    assert ("/webhooks", "post") in guarded and ("/notifications", "get") in guarded
    assert [route for route, security in guarded.items() if security != [{"bearer": []}]] == []
