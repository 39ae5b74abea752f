"""The HTTP edge funding gets from the runtime: a request's correlation id and trace reach
the events it causes, the published API declares how to authenticate, and every list is
read a page at a time with cursors."""

from __future__ import annotations

from uuid import uuid5

from funding_kit import WAVE, Funding, labelled, p147

from cites_runtime.http import CORRELATION_NAMESPACE
from cites_runtime.testing import (
    AS_NATIONAL,
    AS_OPERATOR,
    AS_PREFECTURE_93,
    AS_VIEWER,
    FakeClock,
    read_pages,
)

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"


async def test_the_events_of_a_command_carry_the_caller_s_correlation_id_and_trace(
    service: Funding,
) -> None:
    headers = {**AS_NATIONAL, "X-Correlation-ID": "abc",
               "traceparent": f"00-{TRACE_ID}-00f067aa0ba902b7-01"}
    opened = await service.http.post("/envelopes", json=p147(), headers=headers)
    amended = await service.http.post(
        f"/envelopes/{opened.json()['envelope_id']}/amendment", headers=headers,
        json={"amount": 12_000_000_00, "motive": "Loi de finances rectificative"})
    await service.s.all_published()
    rows = await service.s.runtime.pool.fetch(
        "SELECT correlation_id, traceparent FROM outbox_history ORDER BY id")

    # Envelopes carry UUIDs: a correlation id that is not one maps to the same UUID always.
    expected = uuid5(CORRELATION_NAMESPACE, "abc")
    assert (opened.status_code, amended.status_code) == (201, 200)
    assert opened.headers["X-Correlation-ID"] == amended.headers["X-Correlation-ID"] == str(
        expected)
    assert [e.type for e in service.s.published] == ["funding.EnvelopeOpened",
                                                     "funding.EnvelopeAmended"]
    assert [e.correlation_id for e in service.s.published] == [expected] * 2
    assert [r["correlation_id"] for r in rows] == [expected] * 2
    assert [r["traceparent"].split("-")[1] for r in rows] == [TRACE_ID] * 2  # a new span


async def test_the_openapi_document_declares_bearer_authentication_on_every_route(
    service: Funding,
) -> None:
    document = (await service.http.get("/openapi.json", headers=AS_OPERATOR)).json()
    operations = [(path, method, op) for path, ops in document["paths"].items()
                  if not path.startswith(("/health", "/metrics", "/asyncapi"))
                  for method, op in ops.items()]
    scheme = document["components"]["securitySchemes"]["bearer"]
    assert (scheme["type"], scheme["scheme"]) == ("http", "bearer")
    assert len(operations) == 35  # credits 4, envelopes 4, cités 10, co-financing 3,
    # fonds 2, commitments 5, recoveries 2, reports 4, imports 1
    assert [(p, m) for p, m, op in operations if op.get("security") != [{"bearer": []}]] == []


async def test_cites_envelopes_and_commitments_are_read_a_page_at_a_time(
    service: Funding, clock: FakeClock,
) -> None:
    await service.open_envelopes()
    clock.advance(minutes=1)
    other_wave = await service.http.post("/envelopes", headers=AS_NATIONAL, json=p147(
        name="Vague 2025", wave_ids=[f"{WAVE}-bis"]))
    assert other_wave.status_code == 201, other_wave.text
    dotation = await service.funded_cite("cite-002")
    await service.s.publish(labelled("cite-001"), labelled("cite-003"))
    for n in range(5):  # the same instant (a fake clock): the id breaks the tie
        committed = await service.commit(dotation["allocation_id"], 1_000_00 * (n + 1),
                                         cite_id="cite-002", action_title=f"Action {n}")
        assert committed.status_code == 201, committed.text

    cites = await read_pages(service.http, "/cites", headers=AS_VIEWER, limit=2)
    envelopes = await read_pages(service.http, "/envelopes", headers=AS_VIEWER, limit=2)
    commitments = await read_pages(service.http, "/cites/cite-002/commitments",
                                   headers=AS_PREFECTURE_93, limit=2)
    whole = (await service.http.get("/cites/cite-002/commitments", headers=AS_VIEWER)).json()
    foreign = await service.http.get("/envelopes", headers=AS_VIEWER,
                                     params={"cursor": "not-ours"})

    assert [[c["cite_id"] for c in page] for page in cites] == [["cite-001", "cite-002"],
                                                                 ["cite-003"]]
    assert [len(page) for page in envelopes] == [2, 1]
    assert [e["name"] for e in envelopes[1]] == ["Vague 2025"]  # in the order opened
    assert [len(page) for page in commitments] == [2, 2, 1]
    assert [c for page in commitments for c in page] == whole["items"]
    assert whole["next_cursor"] is None
    assert sorted(c["amount"] for c in whole["items"]) == [1_000_00 * n for n in range(1, 6)]
    assert (foreign.status_code, foreign.json()["detail"][0]["loc"]) == (422, ["query",
                                                                               "cursor"])
