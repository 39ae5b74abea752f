"""A partner's person acts for the partner her token names — the ``partner_id`` of a
static token's grant, or the ``partner_id`` claim of the identity provider's access token
(a user attribute, as the département is a préfecture's) — and for no other; a partner
token naming none reads, and acts for nobody."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Callable
from typing import Any
from uuid import UUID

import jwt
import pytest
import runtime_testapp as testapp
from cryptography.hazmat.primitives.asymmetric import rsa
from pydantic import ValidationError

from cites_runtime.actor import Role
from cites_runtime.auth import SigningKeys, TokenVerifier
from cites_runtime.settings import ServiceSettings
from cites_runtime.testing import (
    AS_COLLEGE,
    AS_NATIONAL,
    AS_OTHER_COLLEGE,
    AS_PARTNER,
    AS_VIEWER,
    COLLEGE,
    ServiceUnderTest,
    in_memory,
)

ISSUER = "https://sso.example.gouv.fr/realms/cites"
DSN = "postgresql://service:x@db.internal:5432/cites"


@pytest.fixture
async def app(settings: ServiceSettings) -> AsyncIterator[ServiceUnderTest]:
    async with in_memory(testapp.definition, settings) as running:
        yield running


async def test_a_static_partner_token_acts_for_its_own_partner_only(
        app: ServiceUnderTest) -> None:
    path = f"/partners/{COLLEGE}/things/t1"
    own = await app.http.put(path, headers=AS_COLLEGE)
    other = await app.http.put(path, headers=AS_OTHER_COLLEGE)
    nobody = await app.http.put(path, headers=AS_PARTNER)
    national = await app.http.put(path, headers=AS_NATIONAL)
    viewer = await app.http.put(path, headers=AS_VIEWER)

    assert (own.status_code, national.status_code, viewer.status_code) == (204, 204, 403)
    assert other.status_code == 403
    assert other.json()["detail"] == (
        "partner 00000000-0000-4000-8000-00000000c022 acts only for itself, and thing t1 "
        f"is partner {COLLEGE}'s: ask the préfecture")
    assert nobody.status_code == 403
    assert "names no partner (its partner_id claim): it acts for nobody" in \
        nobody.json()["detail"]


def test_only_a_partner_token_names_a_partner() -> None:
    with pytest.raises(ValidationError) as refused:
        ServiceSettings(database_url=DSN, tokens={"t": {
            "role": "viewer", "partner_id": str(COLLEGE), "subject": "odd-viewer"}})
    assert "role 'viewer' acts for no partner" in str(refused.value)
    loaded = ServiceSettings(database_url=DSN, tokens={
        "t": {"role": "partner", "partner_id": str(COLLEGE)}})
    assert loaded.tokens["t"].partner_id == COLLEGE


class Provider(SigningKeys):
    """The identity provider's one key, without the network."""

    def __init__(self) -> None:
        super().__init__(ISSUER)
        self.private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.published = jwt.PyJWK({**json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(
            self.private.public_key())), "kid": "k1", "use": "sig", "alg": "RS256"})

    def _fetch(self) -> list[jwt.PyJWK]:
        return [self.published]

    def token(self, **claims: Any) -> str:
        """An access token shaped as Keycloak's (realm roles, username, audience)."""
        now = int(time.time())
        return jwt.encode({"iss": ISSUER, "aud": ["cites-api", "account"], "sub": "u-1",
                           "iat": now, "exp": now + 300, "typ": "Bearer",
                           "preferred_username": "principal-college", **claims},
                          self.private, algorithm="RS256", headers={"kid": "k1"})


@pytest.fixture
def verifier() -> Callable[[], tuple[TokenVerifier, Provider]]:
    def make() -> tuple[TokenVerifier, Provider]:
        provider = Provider()
        settings = ServiceSettings(database_url=DSN, oidc_issuer=ISSUER,
                                   oidc_audience="cites-api")
        return TokenVerifier(settings, keys=provider), provider

    return make


@pytest.mark.parametrize(("claim", "acts_for"), [
    (str(COLLEGE), COLLEGE), (f" {COLLEGE} ", COLLEGE), (None, None), ("", None),
    ("0930001A", None), (42, None)],
    ids=["uuid", "padded", "absent", "empty", "not-a-uuid", "not-text"])
async def test_the_identity_providers_partner_id_claim_names_the_partner(
        verifier: Callable[[], tuple[TokenVerifier, Provider]], claim: object,
        acts_for: UUID | None) -> None:
    check, provider = verifier()
    claims: dict[str, Any] = {"realm_access": {"roles": ["partner", "offline_access"]}}
    if claim is not None:
        claims["partner_id"] = claim
    identity = await check.identity(provider.token(**claims))
    actor = identity.acting_as([Role.NATIONAL, Role.PREFECTURE, Role.PARTNER])
    assert actor is not None
    assert (actor.role, actor.subject, actor.partner_id) == (
        Role.PARTNER, "principal-college", acts_for)


async def test_only_the_partner_role_carries_the_partner_it_names(
        verifier: Callable[[], tuple[TokenVerifier, Provider]]) -> None:
    """A person holding both roles acts as the route's first: as a viewer she names no
    partner."""
    check, provider = verifier()
    identity = await check.identity(provider.token(
        realm_access={"roles": ["viewer", "partner"]}, partner_id=str(COLLEGE)))
    as_viewer = identity.acting_as([Role.VIEWER])
    as_partner = identity.acting_as([Role.PARTNER])
    assert as_viewer is not None and as_viewer.partner_id is None
    assert as_partner is not None and as_partner.partner_id == COLLEGE
