"""``make demo`` on ``make run``'s platform signs in at its Keycloak: the simulation acts
as the development users (the national coordination, a viewer, each préfecture the realm
has a user for) and, when a token expires mid-run, signs that user in again and goes on."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from labelling.app import definition
from labelling.settings import LabellingSettings

from cites_runtime.testing import ServiceUnderTest, in_memory
from cites_runtime.testing.infra import Keycloak
from cites_runtime.testing.plugin import SettingsFactory
from cites_sim.platform import Api, Endpoints, SignIn, SimError, Tokens


@pytest.fixture
async def labelling(service_settings: SettingsFactory, keycloak: Keycloak
                    ) -> AsyncIterator[ServiceUnderTest]:
    settings = service_settings(LabellingSettings, auth_mode="oidc", tokens={},
                                oidc_issuer=keycloak.issuer, oidc_leeway_s=0)
    async with in_memory(definition, settings, serve=True) as running:
        yield running


async def test_the_simulation_signs_in_as_the_development_users(keycloak: Keycloak) -> None:
    provider = await SignIn.at(keycloak.issuer)
    tokens = await Tokens.sign_in(provider, departements=["69", "2A", "971", "99"])
    assert provider.token_endpoint == keycloak.token_endpoint
    assert sorted(tokens.prefectures) == ["2A", "69", "971"]  # no préfecture-99 user
    assert {provider.users[t] for t in (tokens.national, tokens.viewer)} == {"national",
                                                                             "viewer"}


async def test_a_token_that_expires_mid_run_is_renewed_and_the_request_sent_again(
        labelling: ServiceUnderTest, keycloak: Keycloak) -> None:
    brief = await SignIn.at(keycloak.issuer, client_id="cites-tests-brief")  # 2 s tokens
    tokens = await Tokens.sign_in(brief, departements=["69"])
    where = Endpoints(*[labelling.url] * 4, tokens=tokens)
    async with Api.open(where) as api:
        await asyncio.sleep(3)  # the viewer's token has expired
        waves = await api.call("labelling", "GET", "/waves", token=tokens.viewer, ok=(200,))
    assert waves["items"], waves
    assert tokens.current(tokens.viewer) != tokens.viewer  # signed in again
    assert brief.users[tokens.current(tokens.viewer)] == "viewer"


async def test_another_realm_than_the_development_one_is_said_so(keycloak: Keycloak) -> None:
    with pytest.raises(SimError, match="does not answer"):
        await SignIn.at(f"{keycloak.url}/realms/no-such-realm")
