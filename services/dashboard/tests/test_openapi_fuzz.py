"""Schemathesis against the published OpenAPI, on the dashboard served for real: whatever
the input (valid or not, any role or none), the answer is never a server error."""

from __future__ import annotations

from uuid import uuid4

from dashboard_kit import Dashboard, allocated, labelled, sent

from cites_runtime.testing.fuzz import assert_no_server_error

EXAMPLES = 100  # one operation: the summary
TOKENS = ["tok-national", "tok-prefecture-93", "tok-viewer", "tok-partner"]


async def test_no_request_makes_the_dashboard_answer_a_server_error(served: Dashboard) -> None:
    await served.s.publish(labelled("cite-001"), allocated("cite-001", uuid4(), 300_000_00),
                           sent())  # something to sum
    await assert_no_server_error(served.s.url, TOKENS, examples=EXAMPLES)
    assert (await served.summary())["cites"] == {"labelled": 1}
