"""People sign in through the identity provider: the services take the access tokens of
the real Keycloak (realm ``cites``, ``deploy/keycloak/cites-realm.json``) and nothing that
only looks like one — expired, for another audience, of another issuer, altered, unsigned
or signed with a shared secret — and the roles and département a token holds decide what
its holder may do."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import jwt
import pytest
import runtime_testapp as testapp
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from cites_runtime.settings import ServiceSettings
from cites_runtime.testing import ServiceUnderTest, in_memory
from cites_runtime.testing.infra import Keycloak


@pytest.fixture
def oidc_settings(make_settings: Callable[..., ServiceSettings], keycloak: Keycloak
                  ) -> Callable[..., ServiceSettings]:
    def make(**overrides: Any) -> ServiceSettings:
        return make_settings(**{"auth_mode": "oidc", "tokens": {},
                                "oidc_issuer": keycloak.issuer, **overrides})

    return make


@pytest.fixture
async def app(oidc_settings: Callable[..., ServiceSettings]
              ) -> AsyncIterator[ServiceUnderTest]:
    async with in_memory(testapp.definition, oidc_settings()) as running:
        yield running


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _part(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def _claims(token: str) -> dict[str, Any]:
    claims: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    return claims


async def test_a_token_of_the_identity_provider_is_taken_with_its_role(
        app: ServiceUnderTest, keycloak: Keycloak) -> None:
    national = await keycloak.token("national")
    viewer = await keycloak.token("viewer")

    created = await app.http.post("/things", json={"thing_id": "t1", "n": 1},
                                  headers=bearer(national))
    read = await app.http.get("/things", headers=bearer(viewer))
    refused = await app.http.post("/things", json={"thing_id": "t2", "n": 1},
                                  headers=bearer(viewer))

    assert created.status_code == 201, created.text
    assert read.status_code == 200, read.text
    assert (refused.status_code, refused.json()["detail"]) == (
        403, "role 'viewer' may not do this; allowed: national")


async def test_an_expired_token_is_refused(
        oidc_settings: Callable[..., ServiceSettings], keycloak: Keycloak) -> None:
    token = await keycloak.token("national", client="cites-tests-brief")  # lives 2 s
    async with in_memory(testapp.definition, oidc_settings(oidc_leeway_s=0)) as app:
        fresh = await app.http.get("/things", headers=bearer(token))
        await asyncio.sleep(max(0.0, _claims(token)["exp"] - _claims(token)["iat"]) + 1.5)
        late = await app.http.get("/things", headers=bearer(token))
    assert fresh.status_code == 200, fresh.text
    assert (late.status_code, late.json()["detail"]) == (401, "token expired: sign in again")
    assert late.headers["www-authenticate"] == "Bearer"


async def test_a_token_for_another_audience_is_refused(
        app: ServiceUnderTest, keycloak: Keycloak) -> None:
    token = await keycloak.token("national", client="cites-elsewhere")
    answer = await app.http.get("/things", headers=bearer(token))
    assert "cites-api" not in str(_claims(token).get("aud"))  # a real token, not for us
    assert answer.status_code == 401
    assert answer.json()["detail"] == ("token is not for this service: its audience must "
                                       "name 'cites-api'")


async def test_a_token_of_another_issuer_is_refused(
        app: ServiceUnderTest, keycloak: Keycloak) -> None:
    """Signed by the realm's own key, but issued under another name of the provider."""
    port = keycloak.url.rsplit(":", 1)[1]
    token = await keycloak.token("national", host=f"localhost:{port}")
    answer = await app.http.get("/things", headers=bearer(token))
    assert _claims(token)["iss"] == f"http://localhost:{port}/realms/cites"
    assert answer.status_code == 401
    assert answer.json()["detail"] == (f"token issued by another identity provider: this "
                                       f"service accepts {keycloak.issuer}'s")


async def test_an_altered_token_is_refused(app: ServiceUnderTest, keycloak: Keycloak) -> None:
    """A viewer's token whose claims were changed to the national coordination's, its
    signature kept."""
    header, _, signature = (await keycloak.token("viewer")).split(".")
    claims = _claims(await keycloak.token("viewer"))
    claims["realm_access"] = {"roles": ["national"]}
    forged = f"{header}.{_part(claims)}.{signature}"
    answer = await app.http.post("/things", json={"thing_id": "t", "n": 1},
                                 headers=bearer(forged))
    assert (answer.status_code, answer.json()["detail"]) == (
        401, "token signature does not verify (altered?)")


async def test_an_unsigned_token_or_one_signed_with_a_shared_secret_is_refused(
        app: ServiceUnderTest, keycloak: Keycloak) -> None:
    """``alg: none``, and HS256 keyed with the realm's public key (which anyone can read
    from the JWKS): the classic confusions."""
    claims = _claims(await keycloak.token("viewer"))
    claims["realm_access"] = {"roles": ["national"]}
    kid = jwt.get_unverified_header(await keycloak.token("viewer"))["kid"]
    unsigned = f"{_part({'alg': 'none', 'typ': 'JWT', 'kid': kid})}.{_part(claims)}."
    async with httpx.AsyncClient() as http:
        keys = (await http.get(f"{keycloak.issuer}/protocol/openid-connect/certs")).json()
    public = jwt.PyJWK(next(k for k in keys["keys"] if k["kid"] == kid)).key.public_bytes(
        Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    signed = f"{_part({'alg': 'HS256', 'typ': 'JWT', 'kid': kid})}.{_part(claims)}"
    mac = hmac.new(public, signed.encode(), hashlib.sha256).digest()
    shared = f"{signed}.{base64.urlsafe_b64encode(mac).decode().rstrip('=')}"

    answers = [await app.http.post("/things", json={"thing_id": "t", "n": 1},
                                   headers=bearer(token)) for token in (unsigned, shared)]

    assert [(a.status_code, a.json()["detail"]) for a in answers] == [
        (401, "token signed with 'none': only RS256 signatures of the identity provider "
              "are accepted"),
        (401, "token signed with 'HS256': only RS256 signatures of the identity provider "
              "are accepted")]


async def test_a_token_holding_no_role_of_the_programme_is_forbidden(
        app: ServiceUnderTest, keycloak: Keycloak) -> None:
    token = await keycloak.token("visitor")  # signs in, holds no programme role
    answer = await app.http.get("/things", headers=bearer(token))
    assert answer.status_code == 403
    assert answer.json()["detail"] == ("this token holds no role of the programme; allowed: "
                                       "national, prefecture, rectorat, viewer")


async def test_a_prefecture_acts_in_its_own_departement_only(
        app: ServiceUnderTest, keycloak: Keycloak) -> None:
    token = await keycloak.token("prefecture-69")
    elsewhere = await app.http.delete("/things/t1", params={"departement": "01"},
                                      headers=bearer(token))
    home = await app.http.delete("/things/t1", params={"departement": "69"},
                                 headers=bearer(token))
    assert _claims(token)["departement"] == "69"  # the user attribute, in the access token
    assert elsewhere.status_code == 403
    assert "the préfecture of 69 acts only in its own département" in \
        elsewhere.json()["detail"]
    assert home.status_code == 409  # past the département rule, to the route's own answer


async def test_the_operator_reads_metrics_and_documents_and_nothing_of_the_programme(
        app: ServiceUnderTest, keycloak: Keycloak) -> None:
    operator, national = await keycloak.token("operator"), await keycloak.token("national")
    metrics = await app.http.get("/metrics", headers=bearer(operator))
    document = await app.http.get("/openapi.json", headers=bearer(operator))
    things = await app.http.get("/things", headers=bearer(operator))
    not_national = await app.http.get("/metrics", headers=bearer(national))
    assert (metrics.status_code, document.status_code) == (200, 200)
    assert "http_requests_total" in metrics.text
    assert things.status_code == 403
    assert not_national.status_code == 403


async def test_an_unreachable_identity_provider_is_a_503_to_retry_not_a_401(
        oidc_settings: Callable[..., ServiceSettings], keycloak: Keycloak) -> None:
    from cites_runtime.testing.http import free_port

    token = await keycloak.token("national")
    away = f"http://127.0.0.1:{free_port()}/certs"  # nobody listens there
    async with in_memory(testapp.definition, oidc_settings(oidc_jwks_url=away)) as app:
        answer = await app.http.get("/things", headers=bearer(token))
    assert answer.status_code == 503
    assert answer.headers["retry-after"] == "5"
    assert "identity provider cannot be reached" in answer.json()["detail"]
