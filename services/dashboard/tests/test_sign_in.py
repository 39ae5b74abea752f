"""The dashboard signs its readers in through the identity provider (the real Keycloak):
its API takes the provider's access tokens and no others, and its page, in a real browser,
goes through the provider's sign-in (authorization code + PKCE) and back, keeping no token
in the address; a person without a reader's role is told so, and signing out ends it."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest
from dashboard.app import definition
from dashboard.settings import DashboardSettings
from dashboard_kit import Dashboard, labelled
from playwright.async_api import Page

from cites_runtime.testing import in_memory
from cites_runtime.testing.infra import DEV_PASSWORD, Keycloak
from cites_runtime.testing.plugin import SettingsFactory


@pytest.fixture
def oidc_settings(service_settings: SettingsFactory, keycloak: Keycloak) -> DashboardSettings:
    return service_settings(DashboardSettings, auth_mode="oidc", tokens={},
                            oidc_issuer=keycloak.issuer, services={},
                            health_interval_s=0.2, health_timeout_s=2, refresh_s=0.5)


@pytest.fixture
async def served(oidc_settings: DashboardSettings) -> AsyncIterator[Dashboard]:
    async with in_memory(definition, oidc_settings, serve=True) as running:
        yield Dashboard(running)


async def test_the_api_takes_the_providers_tokens_only(
        served: Dashboard, keycloak: Keycloak) -> None:
    viewer = await keycloak.token("viewer")
    nobody = await served.s.http.get("/api/summary")
    static = await served.s.http.get("/api/summary", headers={"Authorization":
                                                              "Bearer tok-viewer"})
    signed_in = await served.s.http.get("/api/summary",
                                        headers={"Authorization": f"Bearer {viewer}"})
    no_role = await served.s.http.get("/api/summary", headers={
        "Authorization": f"Bearer {await keycloak.token('visitor')}"})
    assert (nobody.status_code, static.status_code) == (401, 401)
    assert signed_in.status_code == 200, signed_in.text
    assert no_role.status_code == 403


async def test_the_page_is_told_where_to_sign_in_and_may_reach_only_there(
        served: Dashboard, keycloak: Keycloak) -> None:
    told = await served.s.http.get("/sign-in.json")
    page = await served.s.http.get("/")
    assert told.json() == {"mode": "oidc", "issuer": keycloak.issuer,
                           "client_id": "cites-dashboard"}
    policy = page.headers["content-security-policy"]
    assert f"connect-src 'self' {keycloak.url};" in policy
    assert "default-src 'self'" in policy


# A browser and the identity provider's pages, under 30 s timeouts: seen to miss the login
# form when two other tests loaded both cores, so it runs alone in a parallel run.
@pytest.mark.exclusive
async def test_a_reader_signs_in_at_the_provider_sees_the_figures_and_signs_out(
        oidc_settings: DashboardSettings, keycloak: Keycloak, page: Page) -> None:
    async with in_memory(definition, oidc_settings, serve=True) as running:
        url = running.url
        await running.publish(labelled("cite-001"), labelled("cite-002"))
        async with keycloak.client_like("cites-dashboard", url) as client_id:
            # The client made for this port: what /sign-in.json tells the page at load.
            running.runtime.settings.oidc_client_id = client_id
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))

            await page.goto(f"{url}/")
            await page.wait_for_selector("#kc-form-login")  # the provider's sign-in form
            at_provider = page.url
            await page.fill("#username", "viewer")
            await page.fill("#password", DEV_PASSWORD)
            await page.click("#kc-login")
            await page.wait_for_selector('[data-figure="cites-labelled"][data-value="2"]')
            back = page.url
            kept = await page.evaluate("() => Object.keys(sessionStorage)")
            token = json.loads(await page.evaluate(
                "() => sessionStorage.getItem('cites-session')"))["access"]
            await page.click("#deconnexion")
            await page.wait_for_selector("#kc-form-login")

    assert at_provider.startswith(f"{keycloak.issuer}/protocol/openid-connect/auth?")
    assert "code_challenge_method=S256" in at_provider
    assert back == f"{url}/"  # the code came and went in the fragment; no token, ever
    assert kept == ["cites-session"]  # the PKCE verifier is gone once used
    assert token.count(".") == 2  # the provider's access token (a JWT), kept in the tab
    assert errors == []


async def test_a_person_without_a_readers_role_is_told_so(
        oidc_settings: DashboardSettings, keycloak: Keycloak, page: Page) -> None:
    async with in_memory(definition, oidc_settings, serve=True) as running, \
            keycloak.client_like("cites-dashboard", running.url) as client_id:
        running.runtime.settings.oidc_client_id = client_id
        await page.goto(f"{running.url}/")
        await page.fill("#username", "visitor")  # signs in, holds no programme role
        await page.fill("#password", DEV_PASSWORD)
        await page.click("#kc-login")
        await page.wait_for_selector('#etat-connexion[data-state="error"]')
        said = await page.inner_text("#etat-connexion")
        stayed = page.url
    assert said == "Ce compte n'a pas accès au tableau de bord."
    assert stayed == f"{running.url}/"  # told, not sent round the provider again
