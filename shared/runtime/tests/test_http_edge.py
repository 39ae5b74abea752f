"""The HTTP edge every service gets from the runtime (``cites_runtime.http``): refusals
answered alike, the caller's correlation id and trace carried into its events, one paging
contract, the bearer scheme declared, text PostgreSQL cannot store refused anywhere."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from uuid import uuid4, uuid5

import pytest
import runtime_testapp as testapp

from cites_runtime.http import CORRELATION_NAMESPACE
from cites_runtime.settings import ServiceSettings
from cites_runtime.testing import (
    AS_NATIONAL,
    AS_OPERATOR,
    AS_PREFECTURE_69,
    AS_VIEWER,
    FakeClock,
    ServiceUnderTest,
    in_memory,
)

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"


@pytest.fixture
async def app(settings: ServiceSettings) -> AsyncIterator[ServiceUnderTest]:
    async with in_memory(testapp.definition, settings) as running:
        yield running


async def test_each_kind_of_refusal_has_one_status_and_one_body_shape(
        app: ServiceUnderTest) -> None:
    http = app.http
    await http.post("/things", json={"thing_id": "t1", "n": 1}, headers=AS_NATIONAL)

    missing = await http.get("/things/nope", headers=AS_VIEWER)
    elsewhere = await http.delete("/things/t1", params={"departement": "93"},
                                  headers=AS_PREFECTURE_69)
    settled = await http.delete("/things/t1", params={"departement": "69"},
                                headers=AS_PREFECTURE_69)
    negative = await http.post("/things", json={"thing_id": "t2", "n": -1}, headers=AS_NATIONAL)
    taken = await http.post("/things", json={"thing_id": "t1", "n": 5}, headers=AS_NATIONAL)

    assert (missing.status_code, missing.json()) == (404, {"detail": "thing nope does not exist"})
    assert elsewhere.status_code == 403
    assert elsewhere.json() == {"detail": "the préfecture of 69 acts only in its own "
                                          "département, and this concerns département 93: ask "
                                          "the national coordination"}
    assert (settled.status_code, settled.json()) == (
        409, {"detail": "thing t1 is counted already: it stays"})
    assert (negative.status_code, negative.json()) == (422, {"detail": [{
        "loc": ["body", "n"], "type": "n_not_negative",
        "msg": "n counts things: -1 is negative"}]})
    assert taken.status_code == 409
    assert "concurrent request" in taken.json()["detail"]
    assert [e.data.thing_id for e in await app.outbox()] == ["t1"]  # type: ignore[attr-defined]


async def test_a_commands_events_carry_the_callers_correlation_id_and_trace(
        app: ServiceUnderTest) -> None:
    given = uuid4()
    as_uuid = await app.http.post("/things", json={"thing_id": "a", "n": 1}, headers={
        **AS_NATIONAL, "X-Correlation-ID": str(given),
        "traceparent": f"00-{TRACE_ID}-00f067aa0ba902b7-01"})
    as_text = await app.http.post("/things", json={"thing_id": "b", "n": 1}, headers={
        **AS_NATIONAL, "X-Correlation-ID": "abc"})
    as_nothing = await app.http.post("/things", json={"thing_id": "c", "n": 1},
                                     headers=AS_NATIONAL)
    events = await app.outbox()
    traces = [r["traceparent"] for r in await app.runtime.pool.fetch(
        "SELECT traceparent FROM outbox_history ORDER BY id")]

    assert [e.correlation_id for e in events[:2]] == [given, uuid5(CORRELATION_NAMESPACE, "abc")]
    assert as_uuid.headers["X-Correlation-ID"] == str(given)
    assert as_text.headers["X-Correlation-ID"] == str(events[1].correlation_id)
    assert as_nothing.headers["X-Correlation-ID"] == str(events[2].correlation_id)
    assert events[2].correlation_id not in (given, events[1].correlation_id)
    assert traces[0].split("-")[1] == TRACE_ID
    assert traces[1].split("-")[1] != TRACE_ID


async def test_lists_are_read_a_page_at_a_time_with_cursors(app: ServiceUnderTest) -> None:
    for n in range(5):
        await app.http.post("/things", json={"thing_id": f"t{n}", "n": n}, headers=AS_NATIONAL)
    pages, cursor = [], None
    while True:
        page = (await app.http.get("/things", headers=AS_VIEWER, params={
            "limit": 2, **({"cursor": cursor} if cursor else {})})).json()
        pages.append([t["thing_id"] for t in page["items"]])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == [["t0", "t1"], ["t2", "t3"], ["t4"]]


@pytest.mark.parametrize("params", [
    {"cursor": "not-a-cursor"},
    {"cursor": "WyJhIiwgImIiXQ"},  # a valid cursor of another list: two values, not one
    {"cursor": "WyJcdTAwMDAiXQ"},  # ["\u0000"]: text no column could hold
    {"limit": 0}, {"limit": 201},
], ids=["garbage", "wrong-shape", "nul", "limit-0", "limit-201"])
async def test_a_bad_page_request_is_a_422_naming_the_parameter(
        app: ServiceUnderTest, params: dict[str, object]) -> None:
    r = await app.http.get("/things", headers=AS_VIEWER, params=params)
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["query", next(iter(params))]


async def test_a_nul_in_a_query_parameter_or_the_path_is_a_422_not_a_500(
        app: ServiceUnderTest) -> None:
    in_query = await app.http.delete("/things/t1", params={"departement": "6\x009"},
                                     headers=AS_PREFECTURE_69)
    in_path = await app.http.get("/things/a%00b", headers=AS_VIEWER)
    assert (in_query.status_code, in_query.json()["detail"][0]["loc"]) == (
        422, ["query", "departement"])
    assert (in_path.status_code, in_path.json()["detail"][0]["type"]) == (422, "text_nul")


async def test_the_openapi_document_declares_the_bearer_scheme(app: ServiceUnderTest) -> None:
    published = (await app.http.get("/openapi.json", headers=AS_OPERATOR)).json()
    things = published["paths"]["/things"]["post"]
    assert published["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    assert things["security"] == [{"bearer": []}]
    assert "security" not in published["paths"]["/health/live"]["get"]


async def test_a_unit_of_work_reads_the_time_from_the_services_clock(
        app: ServiceUnderTest, clock: FakeClock) -> None:
    clock.now = datetime(2025, 12, 31, 23, 30, tzinfo=UTC)
    async with app.runtime.unit_of_work() as uow:
        pass
    assert uow.now == clock.now
    assert uow.today == date(2026, 1, 1)  # already New Year in Paris, where it is run
