"""Schemathesis against a service's published OpenAPI: whatever the input (valid or not,
under any of the given tokens), the answer is never a server error. Every service's
isolated tests call this with its app served for real."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

__all__ = ["assert_no_server_error"]


async def assert_no_server_error(base_url: str, tokens: Sequence[str], *,
                                 examples: int = 300, operator: str = "tok-operator") -> None:
    """Run ``examples`` generated requests (positive and negative), spread over every
    operation of the OpenAPI document the service serves (read with the ``operator``
    token), sent with each of ``tokens`` or none; fail on the first 5xx with the curl
    command that produced it."""
    import httpx
    import schemathesis
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import strategies as st
    from schemathesis import GenerationMode

    async with httpx.AsyncClient(base_url=base_url) as http:
        openapi = (await http.get("/openapi.json",
                                  headers={"Authorization": f"Bearer {operator}"})).json()
    schema = schemathesis.openapi.from_dict(openapi)
    cases = st.one_of(schema.as_strategy(GenerationMode.POSITIVE),
                      schema.as_strategy(GenerationMode.NEGATIVE))

    @settings(max_examples=examples, deadline=None, database=None,
              phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
    @given(case=cases, token=st.sampled_from([*tokens, None]))
    def fuzz(case: Any, token: str | None) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        response = case.call(base_url=base_url, headers=headers, timeout=10)
        assert response.status_code < 500, (
            f"{response.status_code} for {case.as_curl_command()}:\n{response.text[:500]}")

    # Schemathesis calls synchronously: run it off the loop that serves the app.
    await asyncio.to_thread(fuzz)
