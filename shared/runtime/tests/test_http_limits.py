"""What the HTTP edge refuses before any route runs, and what a service refuses to start
with (issue #8, defect 7): a body over the size limit (413, read no further than the
limit), JSON nested too deep (422 naming the body, not a 400 or a 500), and a token
configuration that would grant more than it says (a préfecture without a département, an
unknown role, the platform's own role)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import runtime_testapp as testapp
from pydantic import ValidationError

from cites_runtime.app import build_app
from cites_runtime.settings import ServiceSettings, TokenGrant
from cites_runtime.testing import AS_NATIONAL, ServiceUnderTest, in_memory

LIMIT = 1000
MB = 1_000_000
JSON = {"content-type": "application/json"}


@pytest.fixture(autouse=True)
def _a_database_url(monkeypatch: pytest.MonkeyPatch) -> None:
    """The settings built here from the environment need one (there is no default)."""
    monkeypatch.setenv("SERVICE_DATABASE_URL", "postgresql://service@db/cites")


@pytest.fixture
async def app(make_settings: Callable[..., ServiceSettings]
              ) -> AsyncIterator[ServiceUnderTest]:
    async with in_memory(testapp.definition, make_settings(http_max_body_bytes=LIMIT)) as s:
        yield s


def thing_of_size(size: int, thing_id: str = "t") -> bytes:
    """A valid ThingIn body of exactly ``size`` bytes (the id padded with ``x``)."""
    bare = json.dumps({"thing_id": thing_id, "n": 1}).encode()
    body = json.dumps({"thing_id": thing_id + "x" * (size - len(bare)), "n": 1}).encode()
    assert len(body) == size
    return body


async def chunks(body: bytes, size: int, sent: list[int]) -> AsyncIterator[bytes]:
    """``body`` in chunks of ``size``, without a Content-Length (Transfer-Encoding:
    chunked); ``sent`` counts the chunks the server asked for."""
    for start in range(0, len(body), size):
        sent.append(1)
        yield body[start:start + size]


# --- 1. the body-size limit ----------------------------------------------------------------


def test_the_body_limit_is_a_setting_of_one_mebibyte_by_default(
        monkeypatch: pytest.MonkeyPatch) -> None:
    assert ServiceSettings().http_max_body_bytes == 1024 * 1024
    monkeypatch.setenv("SERVICE_HTTP_MAX_BODY_BYTES", "2048")
    assert ServiceSettings().http_max_body_bytes == 2048
    with pytest.raises(ValidationError):
        ServiceSettings(http_max_body_bytes=0)


async def test_a_body_over_the_limit_is_a_413_before_authentication_and_changes_nothing(
        app: ServiceUnderTest) -> None:
    body = thing_of_size(LIMIT + 1)
    authenticated = await app.http.post("/things", content=body,
                                        headers={**AS_NATIONAL, **JSON})
    anonymous = await app.http.post("/things", content=body, headers=JSON)
    patched = await app.http.patch("/things/t", content=body, headers=JSON)
    read = await app.http.request("GET", "/things", content=body, headers=AS_NATIONAL)

    refusal = {"detail": f"request body larger than {LIMIT} bytes"}
    assert (authenticated.status_code, authenticated.json()) == (413, refusal)
    assert (anonymous.status_code, anonymous.json()) == (413, refusal)  # not a 401
    assert (patched.status_code, patched.json()) == (413, refusal)  # not a 405
    assert (read.status_code, read.json()) == (413, refusal)  # any method with a body
    assert authenticated.headers["X-Correlation-ID"]  # observed like any answer
    assert await app.outbox() == []


async def test_a_body_at_the_limit_passes(app: ServiceUnderTest) -> None:
    r = await app.http.post("/things", content=thing_of_size(LIMIT),
                            headers={**AS_NATIONAL, **JSON})
    assert r.status_code == 201, r.text
    assert len(await app.outbox()) == 1


async def test_a_chunked_body_is_counted_as_it_comes_and_refused_once_over_the_limit(
        app: ServiceUnderTest) -> None:
    over: list[int] = []
    at: list[int] = []
    refused = await app.http.post(
        "/things", content=chunks(thing_of_size(5 * LIMIT), 300, over),
        headers={**AS_NATIONAL, **JSON})
    passed = await app.http.post(
        "/things", content=chunks(thing_of_size(LIMIT, "u"), 300, at),
        headers={**AS_NATIONAL, **JSON})

    assert (refused.status_code, refused.json()) == (
        413, {"detail": f"request body larger than {LIMIT} bytes"})
    assert len(over) == 4  # 1,200 bytes: over the limit, and nothing more was asked for
    assert passed.status_code == 201, passed.text
    assert [e.data.thing_id[0] for e in await app.outbox()] == ["u"]  # type: ignore[attr-defined]


async def test_a_real_server_answers_the_413_and_the_422_too(
        make_settings: Callable[..., ServiceSettings]) -> None:
    async with in_memory(testapp.definition, make_settings(http_max_body_bytes=LIMIT),
                         serve=True) as app:
        large = await app.http.post("/things", content=thing_of_size(5 * LIMIT),
                                    headers={**AS_NATIONAL, **JSON})
        deep = await app.http.post("/things", content=b"[" * 990 + b'"\\u0000"',
                                   headers={**AS_NATIONAL, **JSON})
        fine = await app.http.post("/things", content=thing_of_size(LIMIT),
                                   headers={**AS_NATIONAL, **JSON})

    assert (large.status_code, deep.status_code, fine.status_code) == (413, 422, 201)
    assert deep.json()["detail"][0]["type"] == "json_too_deep"


class Client:
    """An ASGI client at the lowest level: offers a body in ``count`` chunks of ``size``
    bytes and records how many the app took, and what it answered."""

    def __init__(self, count: int, size: int):
        self.left = count
        self.size = size
        self.taken = 0
        self.sent: list[dict[str, Any]] = []

    async def receive(self) -> dict[str, Any]:
        if self.left == 0:
            return {"type": "http.disconnect"}
        self.left -= 1
        self.taken += 1
        return {"type": "http.request", "body": b"x" * self.size,
                "more_body": self.left > 0}

    async def send(self, message: dict[str, Any]) -> None:
        self.sent.append(message)

    @property
    def status(self) -> int:
        return int(next(m["status"] for m in self.sent if m["type"] == "http.response.start"))


def scope(method: str, headers: list[tuple[bytes, bytes]]) -> dict[str, Any]:
    return {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
            "method": method, "scheme": "http", "path": "/things", "raw_path": b"/things",
            "root_path": "", "query_string": b"", "headers": [(b"host", b"testapp"),
                                                               *headers],
            "client": ("127.0.0.1", 1234), "server": ("testapp", 80)}


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE"])
async def test_the_edge_reads_no_more_than_the_limit(
        settings: ServiceSettings, method: str) -> None:
    """10 chunks of 1 MB offered, limit 1.5 MB: the second chunk crosses it, and the app
    answers without taking a third. Declared too long, it takes none."""
    asgi = build_app(testapp.definition,
                     settings.model_copy(update={"http_max_body_bytes": 1_500_000}))
    streamed, declared = Client(10, MB), Client(10, MB)

    await asgi(scope(method, [(b"transfer-encoding", b"chunked")]), streamed.receive,
               streamed.send)
    await asgi(scope(method, [(b"content-length", str(10 * MB).encode())]),
               declared.receive, declared.send)

    assert (streamed.status, streamed.taken) == (413, 2)
    assert (declared.status, declared.taken) == (413, 0)


# --- 2. JSON nested too deep -----------------------------------------------------------------


def nested(depth: int, inner: bytes = b"") -> bytes:
    return b"[" * depth + inner + b"]" * depth


@pytest.mark.parametrize("body", [
    nested(100_000),
    nested(100_000, b'"\\u0000"'),  # the text guard parsed it: a RecursionError, a 500
    b"[" * 100_000,  # never closed
    b'{"thing_id": "t", "n": ' + nested(100_000) + b"}",
    b'{"thing_id": "t", "n": ' + nested(129) + b"}",
], ids=["array", "array-holding-nul", "unclosed", "in-a-field", "just-too-deep"])
async def test_json_nested_too_deep_is_a_422_naming_the_body(
        make_settings: Callable[..., ServiceSettings], body: bytes) -> None:
    async with in_memory(testapp.definition, make_settings()) as app:  # default limit
        r = await app.http.post("/things", content=body, headers={**AS_NATIONAL, **JSON})
        assert r.status_code == 422, r.text
        [error] = r.json()["detail"]
        assert (error["type"], error["loc"]) == ("json_too_deep", ["body"])
        assert "128" in error["msg"]
        assert await app.outbox() == []


async def test_json_as_deep_as_allowed_and_brackets_in_text_are_read_as_usual(
        make_settings: Callable[..., ServiceSettings]) -> None:
    async with in_memory(testapp.definition, make_settings()) as app:
        deep = await app.http.post("/things", content=b'{"thing_id": "t", "n": '
                                   + nested(127) + b"}", headers={**AS_NATIONAL, **JSON})
        in_text = await app.http.post("/things", json={
            "thing_id": '\\"' + "[{" * 2000 + '"\\', "n": 1}, headers=AS_NATIONAL)

        assert (deep.status_code, deep.json()["detail"][0]["type"]) == (422, "int_type")
        assert in_text.status_code == 201, in_text.text


# --- 3. the token configuration ---------------------------------------------------------------


@pytest.mark.parametrize(("grant", "said"), [
    ({"role": "prefecture", "subject": "pref-x"}, "'pref-x'"),
    ({"role": "prefecture", "departement": " ", "subject": "pref-x"}, "'pref-x'"),
    ({"role": "admin", "subject": "someone"}, "'admin'"),
    ({"role": "system", "subject": "sneaky"}, "'system'"),
    ({"departement": "69", "subject": "no-role"}, "'no-role'"),
    ({"role": ["national"], "subject": "odd"}, "'odd'"),
], ids=["prefecture-without-departement", "blank-departement", "unknown-role",
        "system-role", "no-role", "role-not-text"])
def test_a_token_granting_what_it_may_not_stops_the_service_from_starting(
        grant: dict[str, Any], said: str) -> None:
    secret = "s3cr3t-token-value"
    with pytest.raises(ValidationError) as raised:
        ServiceSettings(tokens={"fine": {"role": "national"}, secret: grant})
    message = str(raised.value)
    assert said in message
    assert grant["subject"] in message
    assert secret not in message
    # The input is there for code that asks (it gave it); the messages never hold it.
    assert secret not in repr(raised.value.errors(include_input=False))


def test_a_bad_token_from_the_environment_is_refused_without_showing_it(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SERVICE_TOKENS", '{"env-s3cr3t": {"role": "prefecture", '
                                         '"subject": "pref-env"}}')
    with pytest.raises(ValidationError) as raised:
        ServiceSettings()
    assert "pref-env" in str(raised.value)
    assert "département" in str(raised.value)
    assert "env-s3cr3t" not in str(raised.value)


def test_valid_token_configurations_load(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SERVICE_TOKENS", '{"t": {"role": "national"}}')
    assert ServiceSettings().tokens == {"t": TokenGrant(role="national")}
    monkeypatch.setenv("SERVICE_TOKENS", '{"p": {"role": "prefecture", "departement": "2A",'
                                         ' "subject": "pref-2a"}, "v": {"role": "viewer"}}')
    assert ServiceSettings().tokens["p"].departement == "2A"
    monkeypatch.delenv("SERVICE_TOKENS")  # else merged with what is given below
    every_role = {"n": TokenGrant(role="national"), "v": TokenGrant(role="viewer"),
                  "pa": TokenGrant(role="partner", subject="partner-x"),
                  "pr": TokenGrant(role="prefecture", departement="69")}
    assert ServiceSettings(tokens=every_role).tokens == every_role
    assert ServiceSettings(tokens={}).tokens == {}


async def test_settings_built_without_validation_still_grant_no_more_than_they_say(
        make_settings: Callable[..., ServiceSettings]) -> None:
    loose = make_settings().model_copy(update={"tokens": {  # model_copy does not validate
        "tok-nowhere": TokenGrant(role="prefecture", subject="pref-nowhere"),
        "tok-system": TokenGrant(role="system", subject="sneaky")}})
    async with in_memory(testapp.definition, loose) as app:
        for token in ("tok-nowhere", "tok-system"):
            r = await app.http.get("/things", headers={"Authorization": f"Bearer {token}"})
            assert r.status_code == 401, r.text
            assert token not in r.text
