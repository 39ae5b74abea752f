"""The identity provider's keys are fetched as rarely as they can be: once for a while, at
once for a key id not seen yet (a rotation), but never more than once every
``min_refresh_s`` whatever key ids tokens name; and a provider that is away leaves the
keys already known working."""

from __future__ import annotations

import json

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from cites_runtime.auth import ProviderUnavailable, SigningKeys


def jwk(kid: str) -> jwt.PyJWK:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
    return jwt.PyJWK({**json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key)), "kid": kid,
                      "use": "sig", "alg": "RS256"})


class Provider(SigningKeys):
    """Keys as a provider would publish them, without the network."""

    def __init__(self, *published: str, **given: float) -> None:
        super().__init__("https://sso.example.gouv.fr/realms/cites", **given)
        self.published = {kid: jwk(kid) for kid in published}
        self.away = False

    def _fetch(self) -> list[jwt.PyJWK]:
        if self.away:
            raise ProviderUnavailable("connection refused")
        return list(self.published.values())


async def test_known_keys_are_fetched_once_for_their_lifespan() -> None:
    keys = Provider("k1", "k2")
    found = [await keys.key("k1"), await keys.key("k2"), await keys.key("k1")]
    assert [k.key_id for k in found if k] == ["k1", "k2", "k1"]
    assert keys.fetches == 1


async def test_a_rotated_key_is_fetched_at_once_and_made_up_ones_at_most_every_interval(
) -> None:
    keys = Provider("k1", min_refresh_s=0.0)
    await keys.key("k1")
    keys.published["k2"] = jwk("k2")  # the provider rotates
    rotated = await keys.key("k2")
    assert rotated is not None and keys.fetches == 2

    slow = Provider("k1", min_refresh_s=60.0)
    await slow.key("k1")
    made_up = [await slow.key(f"forged-{n}") for n in range(50)]
    assert made_up == [None] * 50
    assert slow.fetches == 1  # the first fetch was less than a minute ago: none more


async def test_a_provider_away_leaves_known_keys_working_and_unknown_ones_unverifiable(
) -> None:
    keys = Provider("k1", lifespan=0.0, min_refresh_s=0.0)  # every call would fetch
    assert await keys.key("k1") is not None
    keys.away = True
    still = await keys.key("k1")
    with pytest.raises(ProviderUnavailable):
        await keys.key("k2")
    assert still is not None and still.key_id == "k1"
