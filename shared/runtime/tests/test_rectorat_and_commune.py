"""The rectorat and the commune prepare candidatures of their own territory: a rectorat's
token names its département (the ``departement`` claim, as a préfecture's), a commune's its
INSEE code (the ``insee_code`` claim, in whose département it acts); naming none, or not a
valid code, they act for nobody. No event names them (``ActorRole`` stays as published)."""

from __future__ import annotations

import json
import time
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from pydantic import ValidationError

from cites_contracts.types import ActorRole
from cites_runtime.actor import Actor, Role, commune_actor
from cites_runtime.auth import SigningKeys, TokenVerifier
from cites_runtime.errors import Forbidden
from cites_runtime.settings import ServiceSettings

ISSUER = "https://sso.example.gouv.fr/realms/cites"
DSN = "postgresql://service:x@db.internal:5432/cites"


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
        now = int(time.time())
        return jwt.encode({"iss": ISSUER, "aud": ["cites-api"], "sub": "u-1", "iat": now,
                           "exp": now + 300, "preferred_username": "someone", **claims},
                          self.private, algorithm="RS256", headers={"kid": "k1"})


def verifier() -> tuple[TokenVerifier, Provider]:
    provider = Provider()
    settings = ServiceSettings(database_url=DSN, oidc_issuer=ISSUER, oidc_audience="cites-api")
    return TokenVerifier(settings, keys=provider), provider


async def test_a_rectorats_token_names_its_departement() -> None:
    check, provider = verifier()
    identity = await check.identity(provider.token(
        realm_access={"roles": ["rectorat"]}, departement=" 69 "))
    actor = identity.acting_as([Role.PREFECTURE, Role.RECTORAT])
    assert actor is not None
    assert (actor.role, actor.departement, actor.insee_code) == (Role.RECTORAT, "69", None)
    nameless = await check.identity(provider.token(realm_access={"roles": ["rectorat"]}))
    assert nameless.roles == {Role.RECTORAT}  # it still reads, as a viewer does
    reader = nameless.acting_as([Role.RECTORAT])
    assert reader is not None and reader.departement is None


@pytest.mark.parametrize(("claim", "insee_code", "departement"), [
    ("69256", "69256", "69"), (" 69256 ", "69256", "69"), ("97611", "97611", "976"),
    ("2A004", "2A004", "2A"), ("97801", "97801", "978"), ("20004", None, None),
    ("6925", None, None), ("ABCDE", None, None), ("", None, None), (69256, None, None),
    (None, None, None)],
    ids=["rhone", "padded", "mayotte", "corse-du-sud", "saint-martin", "corsica-as-20",
         "short", "letters", "empty", "not-text", "absent"])
async def test_a_communes_token_names_its_commune_and_so_its_departement(
        claim: object, insee_code: str | None, departement: str | None) -> None:
    check, provider = verifier()
    claims: dict[str, Any] = {"realm_access": {"roles": ["commune"]}, "departement": "93"}
    if claim is not None:
        claims["insee_code"] = claim
    identity = await check.identity(provider.token(**claims))
    actor = identity.acting_as([Role.PREFECTURE, Role.RECTORAT, Role.COMMUNE])
    assert actor is not None
    # The département is its code's, never the departement claim's.
    assert (actor.role, actor.insee_code, actor.departement) == (
        Role.COMMUNE, insee_code, departement)


def test_static_grants_of_communes_name_valid_codes_and_only_communes_name_one() -> None:
    loaded = ServiceSettings(database_url=DSN, tokens={
        "c": {"role": "commune", "insee_code": "69256"}, "n": {"role": "commune"},
        "r": {"role": "rectorat", "departement": "69"}})
    assert loaded.tokens["c"].insee_code == "69256"
    with pytest.raises(ValidationError) as invalid:
        ServiceSettings(database_url=DSN, tokens={"c": {"role": "commune",
                                                        "insee_code": "2004"}})
    assert "insee_code '2004' is not an INSEE commune code" in str(invalid.value)
    with pytest.raises(ValidationError) as elsewhere:
        ServiceSettings(database_url=DSN, tokens={"v": {"role": "viewer",
                                                        "insee_code": "69256"}})
    assert "role 'viewer' acts for no commune" in str(elsewhere.value)


def forbidden(actor: Actor, departement: str, communes: list[str]) -> str:
    with pytest.raises(Forbidden) as refused:
        actor.ensure_prepares(departement, communes)
    return refused.value.message


def test_a_rectorat_prepares_in_its_own_departement_only() -> None:
    rectorat = Actor(Role.RECTORAT, "rectorat-69", "69")
    rectorat.ensure_prepares("69", ["69256"])
    assert forbidden(rectorat, "93", ["93066"]) == (
        "the rectorat acting for 69 prepares only its own département's candidatures, and "
        "this concerns département 93: ask that département's rectorat")
    assert "names no département (its departement claim): it prepares for nobody" in \
        forbidden(Actor(Role.RECTORAT, "rectorat"), "69", ["69256"])


def test_a_commune_prepares_only_a_dossier_naming_it_in_its_departement() -> None:
    vaulx = commune_actor("mairie-vaulx", "69256")
    vaulx.ensure_prepares("69", ["69123", "69256"])
    assert forbidden(vaulx, "69", ["69123", "69029"]) == (
        "commune 69256 prepares only candidatures whose communes include it, and this "
        "one's are 69029, 69123: ask the rectorat or the préfecture")
    assert "prepares only candidatures of its département (69), and this concerns " \
        "département 93" in forbidden(vaulx, "93", ["69256"])
    assert "names no commune (its insee_code claim, 5 characters): it prepares for " \
        "nobody" in forbidden(commune_actor("mairie", None), "69", ["69256"])


def test_a_prefecture_prepares_in_its_own_departement_and_others_are_left_to_their_routes(
        ) -> None:
    Actor(Role.PREFECTURE, "pref-69", "69").ensure_prepares("69", ["69256"])
    assert "acts only in its own département" in forbidden(
        Actor(Role.PREFECTURE, "pref-69", "69"), "93", ["93066"])
    Actor(Role.NATIONAL, "coordination").ensure_prepares("93", ["93066"])


def test_no_event_names_a_rectorat_or_a_commune() -> None:
    """``ActorRole`` is a published contract's: events name who submits (the préfecture)."""
    assert commune_actor("mairie-vaulx", "69256").event_role is ActorRole.SYSTEM
    assert Actor(Role.RECTORAT, "rectorat-69", "69").event_role is ActorRole.SYSTEM
    assert "commune" not in {r.value for r in ActorRole}
