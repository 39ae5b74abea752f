from __future__ import annotations

import json

import asyncpg
import httpx
import pytest
import runtime_testapp as testapp
from runtime_testapp import THINGS

from cites_runtime.app import build_app
from cites_runtime.settings import ServiceSettings
from cites_runtime.testing import read_topic, wait_caught_up
from cites_runtime.testing.http import free_port, serve_app
from cites_runtime.testing.infra import Infra

pytestmark = pytest.mark.integration

NATIONAL = {"Authorization": "Bearer tok-national"}
OPERATOR = {"Authorization": "Bearer tok-operator"}


async def test_a_command_over_http_reaches_kafka_and_the_consumer(
    migrated: ServiceSettings, pool: asyncpg.Pool
) -> None:
    async with serve_app(build_app(testapp.definition, migrated)) as url, \
            httpx.AsyncClient(base_url=url) as http:
        live = await http.get("/health/live")
        ready = await http.get("/health/ready")
        created = await http.post("/things", json={"thing_id": "t1", "n": 3}, headers=NATIONAL)
        records = await read_topic(migrated.kafka,
                                   migrated.topic(THINGS.name), until=lambda r: len(r) >= 1)
        await wait_caught_up(migrated.kafka, migrated.topic("tally"),
                             migrated.topic(THINGS.name))
        metrics = (await http.get("/metrics", headers=OPERATOR)).text
    assert live.json() == {"status": "ok", "checks": {}}
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"database": "ok", "broker": "ok", "relay": "ok"}
    assert created.status_code == 201
    event = json.loads(records[0].value)
    assert event["event_id"] == created.json()["event_id"]
    assert event["data"] == {"thing_id": "t1", "n": 3, "note": ""}
    assert await pool.fetchval("SELECT n FROM tally WHERE thing_id = 't1'") == 3
    assert 'outbox_published_total{schema="' in metrics
    assert "http_requests_total" in metrics


@pytest.mark.parametrize(
    ("headers", "status", "detail"),
    [
        ({}, 401, "missing Authorization header"),
        ({"Authorization": "Basic abc"}, 401, "Authorization must be 'Bearer <token>'"),
        ({"Authorization": "Bearer nope"}, 401, "unknown or revoked bearer token"),
        ({"Authorization": "Bearer tok-viewer"}, 403, "role 'viewer' may not do this"),
        ({"Authorization": "Bearer tok-prefecture-69"}, 403, "allowed: national"),
    ],
)
async def test_commands_need_a_known_token_with_an_allowed_role(
    migrated: ServiceSettings, pool: asyncpg.Pool, headers: dict[str, str], status: int,
    detail: str,
) -> None:
    app = build_app(testapp.definition, migrated.model_copy(update={"relay_enabled": False}))
    async with serve_app(app) as url, httpx.AsyncClient(base_url=url) as http:
        response = await http.post("/things", json={"thing_id": "t", "n": 1}, headers=headers)
    assert response.status_code == status
    assert detail in response.json()["detail"]
    if status == 401:
        assert response.headers["www-authenticate"] == "Bearer"
    assert await pool.fetchval("SELECT count(*) FROM outbox") == 0


async def test_bad_input_is_a_422_naming_the_field_and_changes_nothing(
    migrated: ServiceSettings, pool: asyncpg.Pool
) -> None:
    app = build_app(testapp.definition, migrated.model_copy(update={"relay_enabled": False}))
    async with serve_app(app) as url, httpx.AsyncClient(base_url=url) as http:
        response = await http.post("/things", json={"thing_id": "t", "n": "many"},
                                   headers=NATIONAL)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "n"]
    assert await pool.fetchval("SELECT count(*) FROM things") == 0
    assert await pool.fetchval("SELECT count(*) FROM outbox") == 0


async def test_readiness_names_an_unreachable_database_and_logs_why_once(
    migrated: ServiceSettings, capsys: pytest.CaptureFixture[str]
) -> None:
    """The probe's answer is public (check names and states); the error's text, which may
    name hosts and users, goes to the log, once per change of state, not per probe."""
    app = build_app(testapp.definition, migrated.model_copy(update={"relay_enabled": False}))
    async with serve_app(app) as url, httpx.AsyncClient(base_url=url) as http:
        await app.state.runtime.pool.close()  # the database goes away under the service
        probes = [await http.get("/health/ready") for _ in range(3)]
        live = await http.get("/health/live")
    assert [p.status_code for p in probes] == [503] * 3
    assert all(p.json()["checks"] == {"database": "unavailable"} for p in probes)
    assert live.status_code == 200
    told = [line for line in capsys.readouterr().err.splitlines()
            if "readiness check unavailable" in line]
    assert len(told) == 1, told
    assert "database" in told[0] and "pool is closed" in told[0]


async def _posted_as_json(settings: ServiceSettings, *bodies: str) -> list[httpx.Response]:
    """Each of ``bodies`` (JSON text, sent as it is) posted to the test app's ``/things``
    over real HTTP, by the national role."""
    app = build_app(testapp.definition, settings.model_copy(update={"relay_enabled": False}))
    headers = {**NATIONAL, "Content-Type": "application/json"}
    async with serve_app(app) as url, httpx.AsyncClient(base_url=url) as http:
        return [await http.post("/things", content=body, headers=headers) for body in bodies]


async def test_a_body_with_a_lone_surrogate_in_a_bad_field_is_a_422_not_a_500(
    migrated: ServiceSettings, pool: asyncpg.Pool
) -> None:
    raw = json.dumps({"thing_id": "\ud800", "n": "x"})  # valid JSON, invalid Unicode
    [response] = await _posted_as_json(migrated, raw)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "thing_id"]
    assert await pool.fetchval("SELECT count(*) FROM things") == 0


async def test_a_lone_surrogate_in_a_valid_field_is_a_422_naming_it(
    migrated: ServiceSettings, pool: asyncpg.Pool
) -> None:
    raw = json.dumps({"thing_id": "ok\ud800", "n": 1})
    paired = json.dumps({"thing_id": "emoji \U0001f600", "n": 2})  # a proper pair is fine
    refused, accepted = await _posted_as_json(migrated, raw, paired)
    assert refused.status_code == 422
    assert refused.json()["detail"][0]["loc"] == ["body", "thing_id"]
    assert accepted.status_code == 201
    assert await pool.fetchval("SELECT count(*) FROM things") == 1


async def test_a_nul_character_is_a_422_naming_the_field(
    migrated: ServiceSettings, pool: asyncpg.Pool
) -> None:
    raw = json.dumps({"thing_id": "a\u0000b", "n": 1})
    [response] = await _posted_as_json(migrated, raw)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "thing_id"]
    assert response.json()["detail"][0]["type"] == "text_nul"
    assert "NUL" in response.json()["detail"][0]["msg"]
    assert await pool.fetchval("SELECT count(*) FROM things") == 0


@pytest.mark.exclusive  # stops the shared PostgreSQL
async def test_while_the_database_is_down_commands_get_a_503_to_retry_then_succeed(
    infra: Infra, migrated: ServiceSettings
) -> None:
    """A database away is not the client's fault nor a defect: 503 with Retry-After (the
    client retries the same command), not a 500; the same command succeeds once it is back."""
    infra.require_stoppable("postgres")
    app = build_app(testapp.definition, migrated.model_copy(update={"relay_enabled": False}))
    async with serve_app(app) as url, httpx.AsyncClient(base_url=url) as http:
        infra.stop("postgres")
        try:
            command = await http.post("/things", json={"thing_id": "t", "n": 1},
                                      headers=NATIONAL)
            query = await http.get("/things", headers=NATIONAL)
        finally:
            infra.start("postgres")
        again = await http.post("/things", json={"thing_id": "t", "n": 1}, headers=NATIONAL)
    for refused in (command, query):
        assert refused.status_code == 503, refused.text
        assert refused.headers["retry-after"] == "1"
        assert "database" in refused.json()["detail"]
    assert again.status_code == 201, again.text


OPERATIONS = ("/docs", "/redoc", "/openapi.json", "/asyncapi.json", "/metrics", "/health/live",
              "/health/ready")


async def test_without_an_ops_port_metrics_and_documents_ask_for_the_operator_role(
    migrated: ServiceSettings,
) -> None:
    """No <SERVICE>_OPS_PORT: the probes stay open on the API port, but /metrics, the
    AsyncAPI and OpenAPI documents and their pages answer the role operator only."""
    app = build_app(testapp.definition, migrated.model_copy(update={"relay_enabled": False}))
    viewer = {"Authorization": "Bearer tok-viewer"}
    async with serve_app(app) as url, httpx.AsyncClient(base_url=url) as http:
        answers = {path: [(await http.get(path, headers=headers)).status_code
                          for headers in ({}, viewer, NATIONAL, OPERATOR)]
                   for path in OPERATIONS}
        document = (await http.get("/openapi.json", headers=OPERATOR)).json()
        refused = await http.get("/metrics")
    for path in ("/docs", "/redoc", "/openapi.json", "/asyncapi.json", "/metrics"):
        assert answers[path] == [401, 403, 403, 200], path
    for path in ("/health/live", "/health/ready"):
        assert answers[path] == [200, 200, 200, 200], path
    assert "/things" in document["paths"]
    assert refused.json()["detail"].startswith("missing Authorization header")


async def test_with_an_ops_port_the_operations_endpoints_leave_the_api_port(
    migrated: ServiceSettings,
) -> None:
    """<SERVICE>_OPS_PORT: probes, metrics and documents on a second port (what an
    orchestrator probes and Prometheus scrapes); the API port answers none of them."""
    ops_port = free_port()
    app = build_app(testapp.definition, migrated.model_copy(update={
        "relay_enabled": False, "ops_port": ops_port}))
    ops = f"http://127.0.0.1:{ops_port}"
    async with serve_app(app) as url, httpx.AsyncClient() as http:
        for path in OPERATIONS:
            assert (await http.get(url + path)).status_code == 404, path
            assert (await http.get(ops + path)).status_code == 200, path
        assert "/things" in (await http.get(f"{ops}/openapi.json")).json()["paths"]
        assert (await http.get(f"{ops}/things", headers=NATIONAL)).status_code == 404
        created = await http.post(f"{url}/things", json={"thing_id": "t-ops", "n": 1},
                                  headers=NATIONAL)
        assert created.status_code == 201, created.text
    async with httpx.AsyncClient() as http:
        with pytest.raises(httpx.ConnectError):  # stopped with the service
            await http.get(f"{ops}/health/live")
