"""Schemathesis against the published OpenAPI, on the service served for real: whatever
the input (valid or not, any role or none), the answer is never a server error."""

from __future__ import annotations

from funding_kit import Funding

from cites_runtime.testing import AS_PREFECTURE_93
from cites_runtime.testing.fuzz import assert_no_server_error

EXAMPLES = 300  # in all, spread over every operation; the test stays well under a minute
TOKENS = ["tok-national", "tok-prefecture-93", "tok-viewer", "tok-partner"]


async def test_no_request_makes_the_service_answer_a_server_error(served: Funding) -> None:
    a = (await served.funded_cite())["allocation_id"]  # something to read and change
    c = await served.commit(a, 10_000_00)
    assert c.status_code == 201, c.text
    paid = await served.http.post(f"/commitments/{c.json()['commitment_id']}/payments",
                                  json={"amount": 1_000_00}, headers=AS_PREFECTURE_93)
    assert paid.status_code == 201, paid.text
    await assert_no_server_error(served.s.url, TOKENS, examples=EXAMPLES)
    await served.ledger_balanced()
