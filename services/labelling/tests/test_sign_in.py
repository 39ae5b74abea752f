"""People signed in through the identity provider (the real Keycloak): what a préfecture
and the national coordination do is kept in labelling's audit trail under their own
usernames, and a préfecture cannot act on another département's candidature; a commune and
a rectorat prepare for the places their claims name."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from labelling.app import definition
from labelling.examples import CRITERIA_2024_SCORES
from labelling.settings import LabellingSettings
from labelling_kit import Labelling, dossier_body, own_territory

from cites_runtime.testing import in_memory
from cites_runtime.testing.infra import Keycloak
from cites_runtime.testing.plugin import SettingsFactory


@pytest.fixture
async def signed_in(service_settings: SettingsFactory, keycloak: Keycloak
                    ) -> AsyncIterator[Labelling]:
    settings = service_settings(LabellingSettings, auth_mode="oidc", tokens={},
                                oidc_issuer=keycloak.issuer)
    async with in_memory(definition, settings) as running:
        yield Labelling(running)


async def as_user(keycloak: Keycloak, username: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {await keycloak.token(username)}"}


async def test_the_people_who_draft_score_and_decide_are_kept_by_name(
        signed_in: Labelling, keycloak: Keycloak) -> None:
    prefecture, national = (await as_user(keycloak, "prefecture-69"),
                            await as_user(keycloak, "national"))
    drafted = await signed_in.http.post("/candidatures", headers=prefecture,
                                        json=dossier_body(**own_territory(1)))
    cid = drafted.json()["id"]
    submitted = await signed_in.http.post(f"/candidatures/{cid}/submission",
                                          headers=prefecture)
    reviewed = await signed_in.http.put(f"/candidatures/{cid}/review", headers=national,
                                        json={"scores": CRITERIA_2024_SCORES})
    decided = await signed_in.http.post(f"/candidatures/{cid}/decision", headers=national,
                                        json={"outcome": "label", "motive": "Dossier solide"})

    assert [r.status_code for r in (drafted, submitted, reviewed, decided)] == [201, 200,
                                                                               200, 200]
    row = await signed_in.runtime.pool.fetchrow(
        "SELECT created_by, decided_by FROM candidatures WHERE id = $1", drafted.json()["id"])
    assert dict(row) == {"created_by": "prefecture-69", "decided_by": "national"}
    assert {s["scored_by"] for s in decided.json()["scores"]} == {"national"}


async def test_a_prefecture_cannot_act_for_another_departement(
        signed_in: Labelling, keycloak: Keycloak) -> None:
    ain, rhone = await as_user(keycloak, "prefecture-01"), await as_user(keycloak,
                                                                           "prefecture-69")
    drafted = await signed_in.http.post("/candidatures", headers=rhone,
                                        json=dossier_body(**own_territory(2)))
    cid = drafted.json()["id"]

    filed_elsewhere = await signed_in.http.post("/candidatures", headers=ain,
                                                json=dossier_body(**own_territory(3)))
    submitted_elsewhere = await signed_in.http.post(f"/candidatures/{cid}/submission",
                                                    headers=ain)
    read_elsewhere = await signed_in.http.get(f"/candidatures/{cid}", headers=ain)

    assert drafted.status_code == 201, drafted.text
    for refused in (filed_elsewhere, submitted_elsewhere, read_elsewhere):
        assert refused.status_code == 403, refused.text
        assert "the préfecture of 01 acts only in its own département" in \
            refused.json()["detail"]
    assert (await signed_in.http.get(f"/candidatures/{cid}", headers=rhone)).json()[
        "status"] == "draft"
    assert await signed_in.outbox() == []  # nothing submitted, nothing told


async def test_the_commune_and_the_rectorat_signed_in_prepare_and_file_for_the_prefecture(
        signed_in: Labelling, keycloak: Keycloak) -> None:
    """Their places come from the identity provider's claims: the commune's ``insee_code``
    (69256, in the dossier), the rectorat's ``departement`` (69)."""
    commune, rectorat, prefecture = (await as_user(keycloak, "commune"),
                                     await as_user(keycloak, "rectorat"),
                                     await as_user(keycloak, "prefecture-69"))
    drafted = await signed_in.http.post("/candidatures", headers=commune,
                                        json=dossier_body(**own_territory(3)))
    cid = drafted.json()["id"]
    elsewhere = await signed_in.http.post("/candidatures", headers=rectorat,
                                          json=dossier_body(departement="93"))
    filed = await signed_in.http.post(f"/candidatures/{cid}/filing", headers=rectorat)
    submitted = await signed_in.http.post(f"/candidatures/{cid}/submission",
                                          headers=prefecture)

    assert [r.status_code for r in (drafted, filed, submitted)] == [201, 200, 200]
    assert elsewhere.status_code == 403
    assert "the rectorat acting for 69" in elsewhere.json()["detail"]
    assert (filed.json()["prepared_by"], filed.json()["filed_by"]) == ("commune", "rectorat")
    row = await signed_in.runtime.pool.fetchrow(
        "SELECT created_by FROM candidatures WHERE id = $1", drafted.json()["id"])
    assert row["created_by"] == "commune"
