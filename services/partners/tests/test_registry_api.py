"""The registry over HTTP, isolated (real PostgreSQL): registering, identifiers, updates,
paging."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from partners_kit import (
    SIREN_EPCI,
    SIRET_ASSO,
    UAI_COLLEGE,
    UAI_LYCEE,
    association,
    college,
)

from cites_runtime.testing import (
    AS_NATIONAL,
    AS_PARTNER,
    AS_PREFECTURE_69,
    AS_PREFECTURE_93,
    AS_VIEWER,
    FakeClock,
    ServiceUnderTest,
)


async def test_registering_a_partner_answers_201_and_emits_partner_registered(
    service: ServiceUnderTest, clock: FakeClock,
) -> None:
    response = await service.http.post("/partners", json=college(), headers=AS_NATIONAL)
    body = response.json()
    events = await service.outbox()
    assert response.status_code == 201
    assert response.headers["location"] == f"/partners/{body['partner_id']}"
    assert (body["kind"], body["uai"], body["departement"]) == ("college", UAI_COLLEGE, "93")
    assert [e.type for e in events] == ["partners.PartnerRegistered"]
    assert str(events[0].data.partner_id) == body["partner_id"]
    assert events[0].data.uai == UAI_COLLEGE
    assert events[0].aggregate_id == body["partner_id"]
    # The service's time is its clock's (the unit of work's), in the event and the answer.
    assert events[0].data.registered_at == clock.now
    assert body["registered_at"] == body["updated_at"] == "2025-03-10T09:30:00Z"


@pytest.mark.parametrize("again", [
    college(name="Collège J. Renoir (bis)"),
    association(name="Another name", siren=SIRET_ASSO[:9]),
    {"kind": "epci", "name": "Est Ensemble", "siren": SIREN_EPCI},
], ids=["uai", "siret", "siren"])
async def test_registering_an_identifier_that_exists_returns_the_existing_partner(
    service: ServiceUnderTest, again: dict[str, Any],
) -> None:
    first_body = {**again, "name": "First name"}
    first = await service.http.post("/partners", json=first_body, headers=AS_NATIONAL)
    second = await service.http.post("/partners", json=again, headers=AS_NATIONAL)
    assert (first.status_code, second.status_code) == (201, 200)
    assert second.json() == first.json()
    assert len(await service.outbox("PartnerRegistered")) == 1


async def test_an_identifier_registered_for_another_kind_is_a_conflict(
    service: ServiceUnderTest,
) -> None:
    await service.http.post("/partners", json=college(UAI_LYCEE, kind="lycee"),
                            headers=AS_NATIONAL)
    response = await service.http.post("/partners", json=college(UAI_LYCEE),
                                       headers=AS_NATIONAL)
    assert response.status_code == 409
    assert f"uai already designates lycée 'Collège {UAI_LYCEE}'" in response.json()["detail"]
    assert len(await service.outbox()) == 1


async def test_concurrent_registrations_of_one_identifier_make_one_partner(
    service: ServiceUnderTest,
) -> None:
    responses = await asyncio.gather(*(
        service.http.post("/partners", json=college(), headers=AS_NATIONAL)
        for _ in range(6)))
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200, 200, 200, 200, 200, 201]
    assert len({r.json()["partner_id"] for r in responses}) == 1
    assert len(await service.outbox("PartnerRegistered")) == 1


@pytest.mark.parametrize(
    ("body", "field", "rule"),
    [
        (association(siret="73282932000075"), "siret", "siret_luhn"),
        (association(siret="7328293200007"), "siret", "siret"),
        (college(uai="093012X"), "uai", "uai"),
        ({"kind": "epci", "name": "EPCI", "siren": "200054782"}, "siren", "siren_luhn"),
        ({"kind": "commune", "name": "Bondy", "insee_code": "20004"}, "insee_code",
         "insee_code"),
        ({"kind": "commune", "name": "Bondy"}, "insee_code", "insee_code_required"),
        (college(uai=None), "uai", "uai_required"),
        (association(siren="200054781"), "siren", "siren_of_siret"),
        ({**college(), "colour": "blue"}, "colour", "extra_forbidden"),
    ],
    ids=["siret-luhn", "siret-length", "uai", "siren-luhn", "insee", "commune-no-insee",
         "college-no-uai", "siren-of-siret", "unknown-field"],
)
async def test_a_partner_breaking_a_rule_is_refused_naming_the_field_and_the_rule(
    service: ServiceUnderTest, body: dict[str, Any], field: str, rule: str,
) -> None:
    response = await service.http.post("/partners", json=body, headers=AS_NATIONAL)
    assert response.status_code == 422
    error = response.json()["detail"][0]
    assert (error["loc"][-1], error["type"]) == (field, rule)
    assert error["msg"]
    assert await service.outbox() == []
    assert await service.runtime.pool.fetchval("SELECT count(*) FROM partners") == 0


async def test_updating_a_partner_emits_its_whole_new_state_once(
    service: ServiceUnderTest, clock: FakeClock,
) -> None:
    created = (await service.http.post("/partners", json=association(),
                                       headers=AS_NATIONAL)).json()
    url = f"/partners/{created['partner_id']}"
    clock.advance(hours=1)
    renamed = await service.http.patch(url, json={"name": "Petits Débrouillards IDF"},
                                       headers=AS_NATIONAL)
    unchanged = await service.http.patch(url, json={"name": "Petits Débrouillards IDF"},
                                         headers=AS_NATIONAL)
    moved = await service.http.patch(url, json={"commune_insee_code": "69256"},
                                     headers=AS_NATIONAL)
    updates = await service.outbox("PartnerUpdated")
    assert (moved.status_code, moved.json()["departement"]) == (200, "69")
    assert (renamed.status_code, unchanged.status_code) == (200, 200)
    assert renamed.json()["name"] == "Petits Débrouillards IDF"
    assert (renamed.json()["registered_at"], renamed.json()["updated_at"]) == (
        "2025-03-10T09:30:00Z", "2025-03-10T10:30:00Z")
    assert len(updates) == 2
    assert updates[0].data.name == "Petits Débrouillards IDF"
    assert updates[0].data.siret == SIRET_ASSO  # the whole state, not a diff
    assert updates[0].data.updated_at == clock.now
    assert updates[0].sequence == 2
    assert updates[1].data.departement == "69"


async def test_an_update_cannot_take_another_partner_s_identifier(
    service: ServiceUnderTest,
) -> None:
    await service.http.post("/partners", json=college(), headers=AS_NATIONAL)
    other = (await service.http.post("/partners", json=college(UAI_LYCEE),
                                     headers=AS_NATIONAL)).json()
    response = await service.http.patch(f"/partners/{other['partner_id']}",
                                        json={"uai": UAI_COLLEGE}, headers=AS_NATIONAL)
    assert response.status_code == 409
    assert "already designate" in response.json()["detail"]
    assert await service.outbox("PartnerUpdated") == []


async def test_a_prefecture_changes_partners_of_its_own_departement_only(
    service: ServiceUnderTest,
) -> None:
    own = await service.http.post("/partners", json=college(), headers=AS_PREFECTURE_93)
    elsewhere = await service.http.post("/partners", json=college(
        "0690001A", commune_insee_code="69123"), headers=AS_PREFECTURE_93)
    nowhere = await service.http.post("/partners", json={
        "kind": "epci", "name": "Est Ensemble", "siren": SIREN_EPCI}, headers=AS_PREFECTURE_93)
    moved = await service.http.patch(f"/partners/{own.json()['partner_id']}",
                                     json={"commune_insee_code": "69123", "departement": "69"},
                                     headers=AS_PREFECTURE_93)
    other_prefecture = await service.http.patch(f"/partners/{own.json()['partner_id']}",
                                                json={"name": "X"}, headers=AS_PREFECTURE_69)
    # Registering what exists only reads it, which any préfecture may.
    existing = await service.http.post("/partners", json=college(), headers=AS_PREFECTURE_69)
    assert own.status_code == 201
    assert (elsewhere.status_code, nowhere.status_code, moved.status_code,
            other_prefecture.status_code) == (403, 403, 403, 403)
    assert (existing.status_code, existing.json()) == (200, own.json())
    assert "acts only in its own département" in elsewhere.json()["detail"]
    assert "has none" in nowhere.json()["detail"]
    assert len(await service.outbox()) == 1


@pytest.mark.parametrize(("headers", "method", "status"), [
    ({}, "GET", 401),
    ({"Authorization": "Bearer nope"}, "GET", 401),
    (AS_VIEWER, "GET", 200),
    (AS_PARTNER, "GET", 200),
    (AS_VIEWER, "POST", 403),
    (AS_PARTNER, "POST", 403),
])
async def test_reading_needs_a_token_and_registering_needs_an_operator(
    service: ServiceUnderTest, headers: dict[str, str], method: str, status: int,
) -> None:
    response = await service.http.request(method, "/partners", headers=headers,
                                          json=college() if method == "POST" else None)
    assert response.status_code == status
    assert await service.outbox() == []


async def test_partners_are_listed_by_kind_and_commune_a_page_at_a_time(
    service: ServiceUnderTest,
) -> None:
    for n in range(5):
        await service.http.post("/partners", json=college(f"093010{n}A", name=f"Collège {n}"),
                                headers=AS_NATIONAL)
    await service.http.post("/partners", json=college("0690001A", commune_insee_code="69123"),
                            headers=AS_NATIONAL)
    await service.http.post("/partners", json=association(), headers=AS_NATIONAL)
    pages, cursor = [], None
    while True:
        params = {"kind": "college", "commune": "93010", "limit": 2,
                  **({"cursor": cursor} if cursor else {})}
        page = (await service.http.get("/partners", params=params, headers=AS_VIEWER)).json()
        pages.append([p["name"] for p in page["items"]])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    everyone = (await service.http.get("/partners", headers=AS_VIEWER)).json()
    assert pages == [["Collège 0", "Collège 1"], ["Collège 2", "Collège 3"], ["Collège 4"]]
    assert len(everyone["items"]) == 7 and everyone["next_cursor"] is None


@pytest.mark.parametrize("params", [{"cursor": "not-a-cursor"}, {"kind": "castle"},
                                    {"commune": "20004"}, {"limit": 0}, {"limit": 201}])
async def test_a_bad_query_is_a_422(service: ServiceUnderTest, params: dict[str, Any]) -> None:
    response = await service.http.get("/partners", params=params, headers=AS_VIEWER)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", next(iter(params))]


async def test_an_unknown_partner_is_a_404(service: ServiceUnderTest) -> None:
    unknown = "00000000-0000-4000-8000-000000000000"
    for path in (f"/partners/{unknown}", f"/partners/{unknown}/memberships"):
        response = await service.http.get(path, headers=AS_VIEWER)
        assert response.status_code == 404
        assert response.json()["detail"] == f"partner {unknown} does not exist"
    patched = await service.http.patch(f"/partners/{unknown}", json={"name": "x"},
                                       headers=AS_NATIONAL)
    assert patched.status_code == 404


@pytest.mark.parametrize(("method", "path", "request_args", "loc"), [
    ("POST", "/partners", {"json": association(name="Asso\u0000")}, ["body", "name"]),
    ("POST", "/partners", {"content": b'{"kind": "association", "name": "\\ud800", '
                           b'"siret": "73282932000074"}'}, ["body", "name"]),
    ("GET", "/partners", {"params": {"cursor": "WyJcdTAwMDAiLCAiMDAwMDAwMDAtMDAwMC00MDAw"
                                     "LTgwMDAtMDAwMDAwMDAwMDAwIl0"}}, ["query", "cursor"]),
    ("DELETE", "/alliances/cite-001/members/00000000-0000-4000-8000-000000000000",
     {"params": {"motive": "\u0000"}}, ["query", "motive"]),
], ids=["nul-in-body", "lone-surrogate", "nul-in-cursor", "nul-in-query"])
async def test_text_postgresql_cannot_store_is_refused_with_a_422(
    service: ServiceUnderTest, method: str, path: str, request_args: dict[str, Any],
    loc: list[str],
) -> None:
    headers = {**AS_NATIONAL, "Content-Type": "application/json"}
    response = await service.http.request(method, path, headers=headers, **request_args)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == loc
    assert await service.outbox() == []
