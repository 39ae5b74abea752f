"""Who may do what: 401 without a valid token, 403 for a role not allowed or a préfecture
acting outside its département (a rectorat's and a commune's place: test_api_preparers.py);
a refused request changes nothing."""

from __future__ import annotations

from typing import Any

import pytest
from labelling_kit import Labelling, dossier_body

from cites_runtime.testing import (
    AS_COMMUNE_VAULX,
    AS_NATIONAL,
    AS_PARTNER,
    AS_PREFECTURE_69,
    AS_PREFECTURE_93,
    AS_RECTORAT_69,
    AS_VIEWER,
)

ROLES = {"national": AS_NATIONAL, "prefecture": AS_PREFECTURE_69, "viewer": AS_VIEWER,
         "partner": AS_PARTNER, "rectorat": AS_RECTORAT_69, "commune": AS_COMMUNE_VAULX}
PREPARERS = {"prefecture", "rectorat", "commune"}
CID = "00000000-0000-4000-8000-000000000001"
COMMANDS: list[tuple[str, str, dict[str, Any] | None, set[str]]] = [
    ("POST", "/waves", {"id": "2030", "year": 2030, "title": "V", "rule_set": "2024-v1",
                        "review_criteria": ["means"], "target_count": 1}, {"national"}),
    ("POST", "/waves/2024-generalisation/close", None, {"national"}),
    ("POST", "/candidatures", dossier_body(), PREPARERS),
    ("PUT", f"/candidatures/{CID}", dossier_body(), PREPARERS),
    ("POST", f"/candidatures/{CID}/filing", None, {"rectorat", "commune"}),
    ("POST", f"/candidatures/{CID}/return", {"motive": "m"}, {"prefecture"}),
    ("POST", f"/candidatures/{CID}/submission", None, {"prefecture"}),
    ("POST", f"/candidatures/{CID}/withdrawal", None, {"prefecture"}),
    ("PUT", f"/candidatures/{CID}/review", {"scores": {"means": {"score": 3}}}, {"national"}),
    ("POST", f"/candidatures/{CID}/decision", {"outcome": "label", "motive": "m"}, {"national"}),
    ("POST", "/cites/cite-001/renewal", None, {"national"}),
    ("POST", "/cites/cite-001/extension", {"communes": []}, {"national"}),
    ("POST", "/cites/cite-001/suspension", {"motive": "m"}, {"national"}),
    ("POST", "/cites/cite-001/reinstatement", None, {"national"}),
    ("POST", "/cites/cite-001/withdrawal", {"motive": "m"}, {"national"}),
    ("POST", "/cites/cite-001/convention", {"signed_on": "2025-01-01"},
     {"national", "prefecture"}),
]
QUERIES: list[tuple[str, set[str]]] = [
    ("/waves", {"national", "prefecture", "viewer", "rectorat"}),
    ("/candidatures", {"national", "prefecture", "viewer", "rectorat"}),
    ("/cites", {"national", "prefecture", "viewer", "rectorat"}),
]


@pytest.mark.parametrize(("headers", "detail"), [
    ({}, "missing Authorization header"),
    ({"Authorization": "Token abc"}, "Authorization must be 'Bearer <token>'"),
    ({"Authorization": "Bearer forged"}, "unknown or revoked bearer token"),
])
async def test_every_endpoint_but_health_needs_a_known_token(
        service: Labelling, headers: dict[str, str], detail: str) -> None:
    for method, path, body, _ in COMMANDS:
        r = await service.http.request(method, path, json=body, headers=headers)
        assert r.status_code == 401, path
        assert r.json()["detail"].startswith(detail)
    for path, _ in QUERIES:
        r = await service.http.get(path, headers=headers)
        assert r.status_code == 401, path
    assert (await service.http.get("/health/live")).status_code == 200


@pytest.mark.parametrize("role", list(ROLES))
async def test_each_role_is_refused_the_commands_it_may_not_give(
        service: Labelling, role: str) -> None:
    for method, path, body, allowed in COMMANDS:
        if role in allowed:
            continue
        r = await service.http.request(method, path, json=body, headers=ROLES[role])
        assert r.status_code == 403, (method, path)
        assert f"role '{role}' may not do this" in r.json()["detail"]
    for path, allowed in QUERIES:
        r = await service.http.get(path, headers=ROLES[role])
        assert r.status_code == (200 if role in allowed else 403), path
    assert await service.outbox() == []


async def test_a_prefecture_drafts_only_for_its_own_departement(service: Labelling) -> None:
    r = await service.http.post("/candidatures", json=dossier_body(), headers=AS_PREFECTURE_93)
    assert r.status_code == 403
    assert r.json()["detail"] == ("the préfecture of 93 acts only in its own département, and "
                                  "this concerns département 69: ask the national coordination")
    listed = await service.http.get("/candidatures", headers=AS_NATIONAL)
    assert listed.json()["items"] == []


async def test_a_prefecture_cannot_touch_or_read_another_departements_candidature(
        service: Labelling) -> None:
    cid = await service.draft()
    http = service.http
    refused = [
        await http.put(f"/candidatures/{cid}", json=dossier_body(), headers=AS_PREFECTURE_93),
        await http.post(f"/candidatures/{cid}/submission", headers=AS_PREFECTURE_93),
        await http.post(f"/candidatures/{cid}/withdrawal", headers=AS_PREFECTURE_93),
        await http.get(f"/candidatures/{cid}", headers=AS_PREFECTURE_93),
        await http.get("/candidatures", params={"departement": "69"}, headers=AS_PREFECTURE_93),
    ]
    assert [r.status_code for r in refused] == [403] * 5
    shown = await http.get(f"/candidatures/{cid}", headers=AS_PREFECTURE_69)
    assert shown.json()["status"] == "draft"
    assert await service.outbox() == []


async def test_only_the_cites_own_prefecture_records_its_convention(service: Labelling) -> None:
    _, cite = await service.labelled()
    other = await service.http.post(f"/cites/{cite}/convention", headers=AS_PREFECTURE_93,
                                    json={"signed_on": "2025-03-10"})
    own = await service.http.post(f"/cites/{cite}/convention", headers=AS_PREFECTURE_69,
                                  json={"signed_on": "2025-03-10"})
    assert other.status_code == 403
    assert own.status_code == 200
    assert (await service.outbox()).count("labelling.ConventionSigned") == 1
