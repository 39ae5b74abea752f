"""Schemathesis against the published OpenAPI, on the service served for real: whatever
the input (valid or not, any role or none), the answer is never a server error."""

from __future__ import annotations

from notifications.app import definition
from notifications.settings import NotificationsSettings

from cites_runtime.testing import in_memory
from cites_runtime.testing.fuzz import assert_no_server_error

EXAMPLES = 200  # in all, spread over every operation; the test stays well under a minute
TOKENS = ["tok-national", "tok-prefecture-93", "tok-viewer", "tok-partner"]


async def test_no_request_makes_the_service_answer_a_server_error(
    settings: NotificationsSettings,
) -> None:
    async with in_memory(definition, settings, serve=True) as served:
        await assert_no_server_error(served.url, TOKENS, examples=EXAMPLES)
