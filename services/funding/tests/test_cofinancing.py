"""Co-financing as the funder declares it: what a local authority plans for a cité's year,
then what it actually gave, once — declared by the funder itself (a partner of the
alliance acting for itself), the préfecture of the cité's département or the national
coordination. Isolated: in-memory broker, real PostgreSQL."""

from __future__ import annotations

from typing import Any

from funding_kit import Funding, joined

from cites_runtime.testing import (
    AS_COLLEGE,
    AS_NATIONAL,
    AS_OTHER_COLLEGE,
    AS_PREFECTURE_69,
    AS_PREFECTURE_93,
    AS_VIEWER,
    OTHER_COLLEGE,
)

FUNDER = OTHER_COLLEGE
"""The funder, a partner of the alliance (its token: ``AS_OTHER_COLLEGE``)."""


async def _declare(service: Funding, headers: dict[str, str], **body: Any) -> Any:
    return await service.http.post("/cites/cite-001/cofinancing", json={
        "year": 2025, "funder": "Commune de Bondy", "amount": 280_000_00, **body},
        headers=headers)


async def _cofinancings(service: Funding) -> list[dict[str, Any]]:
    r = await service.http.get("/cites/cite-001/cofinancing", headers=AS_VIEWER)
    assert r.status_code == 200, r.text
    items: list[dict[str, Any]] = r.json()["items"]
    return items


async def test_a_funder_declares_what_it_plans_then_records_what_it_gave_once(
        service: Funding) -> None:
    await service.funded_cite()
    await service.s.publish(joined(FUNDER))
    declared = await _declare(service, AS_OTHER_COLLEGE)
    assert declared.status_code == 201, declared.text
    assert declared.json()["cofinancing"] == [
        {"year": 2025, "funder": "Commune de Bondy", "amount": 280_000_00, "actual": None}]
    co, = await _cofinancings(service)
    assert (co["funder_partner_id"], co["planned"], co["actual"]) == (
        str(FUNDER), 280_000_00, None)
    event, = await service.outbox("CoFinancingDeclared")
    assert event["funder_partner_id"] == str(FUNDER)

    given = await service.http.post(f"/cofinancing/{co['cofinancing_id']}/actual",
                                    json={"amount": 250_000_00}, headers=AS_OTHER_COLLEGE)
    assert given.status_code == 200, given.text
    assert (given.json()["planned"], given.json()["actual"]) == (280_000_00, 250_000_00)
    realised, = await service.outbox("CoFinancingRealised")
    assert (realised["planned"], realised["actual"], realised["year"]) == (
        280_000_00, 250_000_00, 2025)
    statement = (await service.http.get("/cites/cite-001/statement", headers=AS_VIEWER)).json()
    assert statement["cofinancing"][0]["actual"] == 250_000_00
    # Once: the same again changes nothing, another figure is a 409 naming the first.
    again = await service.http.post(f"/cofinancing/{co['cofinancing_id']}/actual",
                                    json={"amount": 250_000_00}, headers=AS_PREFECTURE_93)
    assert again.status_code == 200 and len(await service.outbox("CoFinancingRealised")) == 1
    other = await service.http.post(f"/cofinancing/{co['cofinancing_id']}/actual",
                                    json={"amount": 1_00}, headers=AS_NATIONAL)
    assert other.status_code == 409 and "250" in other.json()["detail"]


async def test_only_the_funder_its_prefecture_or_the_national_coordination_act(
        service: Funding) -> None:
    await service.funded_cite()
    await service.s.publish(joined(FUNDER))
    # A partner not in the alliance is no funder of it; another département's préfecture
    # acts not here; a viewer declares nothing.
    stranger = await _declare(service, AS_COLLEGE)
    assert stranger.status_code == 409 and "not a member" in stranger.json()["detail"]
    assert (await _declare(service, AS_PREFECTURE_69)).status_code == 403
    assert (await _declare(service, AS_VIEWER)).status_code == 403
    named = await _declare(service, AS_PREFECTURE_93, funder_partner_id=str(FUNDER), year=2026)
    assert named.status_code == 201, named.text
    unnamed = await _declare(service, AS_NATIONAL, funder="Département de la Seine-Saint-Denis")
    assert unnamed.status_code == 201, unnamed.text
    by_year = {c["year"]: c for c in await _cofinancings(service)}
    # Another partner records nothing of the funder's; the funder nothing of a
    # co-financing naming no partner; nobody what a year not begun gave.
    future = f"/cofinancing/{by_year[2026]['cofinancing_id']}/actual"
    assert (await service.http.post(future, json={"amount": 1_00},
                                    headers=AS_COLLEGE)).status_code == 403
    too_soon = await service.http.post(future, json={"amount": 1_00}, headers=AS_OTHER_COLLEGE)
    assert too_soon.status_code == 422 and too_soon.json()["detail"][0]["type"] == "year_begun"
    assert (await service.http.post(f"/cofinancing/{by_year[2025]['cofinancing_id']}/actual",
                                    json={"amount": 1_00},
                                    headers=AS_OTHER_COLLEGE)).status_code == 403
    assert await service.outbox("CoFinancingRealised") == []
