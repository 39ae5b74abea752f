"""The HTTP edge partners gets from the runtime: a request's correlation id and trace
reach the events it causes, and the published API declares how to authenticate, what each
route does, what it answers (views) and takes (inputs)."""

from __future__ import annotations

import re
from typing import Any
from uuid import UUID, uuid5

import pytest
from partners_kit import association, college, contact

from cites_runtime.http import CORRELATION_NAMESPACE
from cites_runtime.testing import AS_NATIONAL, AS_OPERATOR, ServiceUnderTest

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"


@pytest.mark.parametrize(("sent", "expected"), [
    ("abc", uuid5(CORRELATION_NAMESPACE, "abc")),
    ("6e8bc430-9c3a-41d8-a0b5-6b3c8f1e2d4a", UUID("6e8bc430-9c3a-41d8-a0b5-6b3c8f1e2d4a")),
], ids=["not-a-uuid", "uuid"])
async def test_the_events_of_a_command_carry_the_caller_s_correlation_id_and_trace(
    service: ServiceUnderTest, sent: str, expected: UUID,
) -> None:
    headers = {**AS_NATIONAL, "X-Correlation-ID": sent,
               "traceparent": f"00-{TRACE_ID}-00f067aa0ba902b7-01"}
    registered = await service.http.post("/partners", json=association(), headers=headers)
    partner_id = registered.json()["partner_id"]
    added = await service.http.post(f"/partners/{partner_id}/contacts", json=contact(),
                                    headers=headers)
    events = await service.outbox()
    rows = await service.runtime.pool.fetch(
        "SELECT correlation_id, traceparent FROM outbox_history ORDER BY id")
    assert (registered.status_code, added.status_code) == (201, 201)
    assert registered.headers["X-Correlation-ID"] == added.headers["X-Correlation-ID"] == str(
        expected)
    assert [e.type for e in events] == ["partners.PartnerRegistered", "partners.PartnerUpdated",
                                        "partners.ContactCardPublished"]
    assert [e.correlation_id for e in events] == [expected] * 3
    assert [r["correlation_id"] for r in rows] == [expected] * 3
    assert [r["traceparent"].split("-")[1] for r in rows] == [TRACE_ID] * 3


async def test_requests_without_correlation_id_get_one_each(service: ServiceUnderTest) -> None:
    first = await service.http.post("/partners", json=association(), headers=AS_NATIONAL)
    second = await service.http.post("/partners", json=college(), headers=AS_NATIONAL)
    events = await service.outbox()
    answered = [UUID(r.headers["X-Correlation-ID"]) for r in (first, second)]
    assert [e.correlation_id for e in events] == answered
    assert answered[0] != answered[1]


async def test_the_openapi_document_declares_bearer_authentication_on_every_route(
    service: ServiceUnderTest,
) -> None:
    document = (await service.http.get("/openapi.json", headers=AS_OPERATOR)).json()
    operations = [(path, method, op) for path, ops in document["paths"].items()
                  if path.startswith(("/partners", "/alliances")) for method, op in ops.items()]
    scheme = document["components"]["securitySchemes"]["bearer"]
    assert (scheme["type"], scheme["scheme"]) == ("http", "bearer")
    assert len(operations) == 18  # 9 of the registry, 6 of the alliances, 3 of their CPO
    assert [(p, m) for p, m, op in operations if op.get("security") != [{"bearer": []}]] == []


async def test_every_route_is_summarised_answers_views_and_takes_inputs(
    service: ServiceUnderTest,
) -> None:
    document = (await service.http.get("/openapi.json", headers=AS_OPERATOR)).json()
    operations = [(f"{method} {path}", op) for path, ops in document["paths"].items()
                  if path.startswith(("/partners", "/alliances")) for method, op in ops.items()]
    answers = {name: _schema(op["responses"][code]) for name, op in operations
               for code in op["responses"] if code.startswith("2") and code != "204"}
    bodies = {name: _schema(op["requestBody"]) for name, op in operations
              if "requestBody" in op}
    assert [name for name, op in operations if not op.get("summary")] == []
    assert len(answers) == 16 and len(bodies) == 9
    assert {a for a in answers.values()
            if not re.fullmatch(r"(Page_)?[A-Za-z]+View_?", a)} == set()
    assert {b for b in bodies.values() if not b.endswith("In")} == set()


def _schema(part: dict[str, Any]) -> str:
    """The name of the schema a request or response body refers to."""
    ref: str = part["content"]["application/json"]["schema"]["$ref"]
    return ref.rsplit("/", 1)[-1]
