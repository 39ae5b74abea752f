"""Members join and leave an alliance with roles; the chef de file changes in one step.
Isolated (real PostgreSQL); alliances are opened by applying labelling's event directly."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import pytest
from partners import service as use_cases
from partners_kit import (
    association,
    college,
    labelled,
    open_alliance,
    read_alliance,
    suspended,
    withdrawn,
)

from cites_runtime.testing import (
    AS_NATIONAL,
    AS_PREFECTURE_69,
    AS_PREFECTURE_93,
    AS_VIEWER,
    FakeClock,
    ServiceUnderTest,
    eventually,
    read_pages,
)


async def _register(service: ServiceUnderTest, body: dict[str, Any]) -> str:
    response = await service.http.post("/partners", json=body, headers=AS_NATIONAL)
    assert response.status_code in (200, 201), response.text
    return str(response.json()["partner_id"])


async def test_partners_join_and_leave_with_their_roles_and_the_history_is_kept(
    service: ServiceUnderTest, clock: FakeClock,
) -> None:
    cite = await open_alliance(service)
    asso = await _register(service, association())
    joined = await service.http.post(f"/alliances/{cite}/members", headers=AS_PREFECTURE_93,
                                     json={"partner_id": asso,
                                           "roles": ["funder", "action_operator"]})
    clock.advance(minutes=30)
    left = await service.http.delete(f"/alliances/{cite}/members/{asso}",
                                     params={"motive": "Fin du projet"}, headers=AS_NATIONAL)
    alliance = await read_alliance(service)
    history = (await service.http.get(f"/partners/{asso}/memberships",
                                      headers=AS_VIEWER)).json()["items"]
    joins, leaves = (await service.outbox("PartnerJoinedAlliance"),
                     await service.outbox("PartnerLeftAlliance"))
    assert joined.status_code == 201
    assert joined.json()["roles"] == ["action_operator", "funder"]
    assert joined.json()["joined_at"] == "2025-03-10T09:30:00Z"
    assert left.status_code == 204
    assert [m["kind"] for m in alliance["members"]] == ["college"]
    assert [(m["partner_id"], m["left_motive"]) for m in alliance["former_members"]] == [
        (asso, "Fin du projet")]
    assert [(h["cite_id"], h["roles"], h["left_at"] is not None) for h in history] == [
        (cite, ["action_operator", "funder"], True)]
    assert [(e.data.partner_kind, list(e.data.roles)) for e in joins] == [
        ("association", ["action_operator", "funder"])]
    assert [(e.data.motive, e.data.left_at) for e in leaves] == [("Fin du projet", clock.now)]
    assert alliance["former_members"][0]["left_at"] == "2025-03-10T10:00:00Z"
    # One stream per cité: opened, chef de file, joined, left, numbered without gaps.
    assert [e.sequence for e in await service.outbox(
        "AllianceOpened", "ChefDeFileDesignated", "PartnerJoinedAlliance",
        "PartnerLeftAlliance")] == [1, 2, 3, 4]


async def test_changing_the_chef_de_file_is_one_command_and_one_event(
    service: ServiceUnderTest,
) -> None:
    cite = await open_alliance(service)
    lead = (await read_alliance(service))["chef_de_file"]["partner_id"]
    other = await _register(service, college())
    await service.http.post(f"/alliances/{cite}/members", headers=AS_NATIONAL,
                            json={"partner_id": other, "roles": ["steering_committee"]})
    before = len(await service.outbox())
    changed = await service.http.put(f"/alliances/{cite}/chef-de-file",
                                     json={"partner_id": other}, headers=AS_NATIONAL)
    same_again = await service.http.put(f"/alliances/{cite}/chef-de-file",
                                        json={"partner_id": other}, headers=AS_NATIONAL)
    new_events = (await service.outbox())[before:]
    members = {m["partner_id"]: m["roles"] for m in changed.json()["members"]}
    assert (changed.status_code, same_again.status_code) == (200, 200)
    assert changed.json()["chef_de_file"]["partner_id"] == other
    assert members == {lead: [], other: ["chef_de_file", "steering_committee"]}
    assert [e.type for e in new_events] == ["partners.ChefDeFileDesignated"]
    assert str(new_events[0].data.previous_partner_id) == lead
    assert str(new_events[0].data.partner_id) == other
    assert new_events[0].data.uai == "0930123X"


@pytest.mark.parametrize(("who", "status", "says"), [
    ("stranger", 409, "joins first"),
    ("association", 422, "must be a collège"),
])
async def test_the_chef_de_file_is_a_college_member_of_the_alliance(
    service: ServiceUnderTest, who: str, status: int, says: str,
) -> None:
    cite = await open_alliance(service)
    asso = await _register(service, association())
    if who == "association":
        await service.http.post(f"/alliances/{cite}/members", headers=AS_NATIONAL,
                                json={"partner_id": asso, "roles": ["funder"]})
    before = await service.outbox()
    response = await service.http.put(f"/alliances/{cite}/chef-de-file",
                                      json={"partner_id": asso}, headers=AS_NATIONAL)
    assert response.status_code == status
    assert says in str(response.json()["detail"])
    assert await service.outbox() == before


async def test_the_chef_de_file_cannot_leave_nor_join_as_second_chef_de_file(
    service: ServiceUnderTest,
) -> None:
    cite = await open_alliance(service)
    lead = (await read_alliance(service))["chef_de_file"]["partner_id"]
    other = await _register(service, college())
    leaving = await service.http.delete(f"/alliances/{cite}/members/{lead}", headers=AS_NATIONAL)
    second = await service.http.post(f"/alliances/{cite}/members", headers=AS_NATIONAL,
                                     json={"partner_id": other, "roles": ["chef_de_file"]})
    assert leaving.status_code == 409
    assert "designate another collège first" in leaving.json()["detail"]
    assert second.status_code == 422
    assert second.json()["detail"][0]["type"] == "chef_de_file_is_designated"
    assert (await read_alliance(service))["chef_de_file"]["partner_id"] == lead


async def _chef(service: ServiceUnderTest, cite_id: str) -> str:
    return str((await read_alliance(service, cite_id))["chef_de_file"]["partner_id"])


async def _two_alliances_and_a_candidate_leading_the_first(
    service: ServiceUnderTest, first_status: str,
) -> tuple[str, str]:
    """cite-001 led by collège 0930001A (left ``first_status``), cite-002 by 0930002B;
    0930001A joins cite-002. Returns (0930001A's id, cite-002's chef de file's id)."""
    await open_alliance(service, labelled("cite-001", lead_uai="0930001A"))
    await open_alliance(service, labelled("cite-002", lead_uai="0930002B"))
    async with service.runtime.unit_of_work() as uow:
        if first_status == "suspended":
            await use_cases.follow_labels(uow, [suspended("cite-001")])
        elif first_status == "closed":
            await use_cases.follow_labels(uow, [withdrawn("cite-001")])
    first, second = await _chef(service, "cite-001"), await _chef(service, "cite-002")
    joined = await service.http.post("/alliances/cite-002/members", headers=AS_NATIONAL,
                                     json={"partner_id": first, "roles": ["funder"]})
    assert joined.status_code == 201, joined.text
    return first, second


@pytest.mark.parametrize("first_status", ["open", "suspended"])
async def test_a_college_leading_an_open_alliance_is_refused_as_chef_de_file_of_another(
    service: ServiceUnderTest, first_status: str,
) -> None:
    first, second = await _two_alliances_and_a_candidate_leading_the_first(service,
                                                                        first_status)
    before = await service.outbox()
    response = await service.http.put("/alliances/cite-002/chef-de-file",
                                      json={"partner_id": first}, headers=AS_NATIONAL)
    assert response.status_code == 409
    assert response.json()["detail"].startswith(
        "collège 'Collège Bondy' (UAI 0930001A) is already chef de file of alliance "
        "cite-001")
    assert "PUT /alliances/cite-001/chef-de-file" in response.json()["detail"]
    assert (await _chef(service, "cite-001"), await _chef(service, "cite-002")) == (
        first, second)
    assert await service.outbox() == before


async def test_a_college_whose_alliance_closed_may_lead_another(
    service: ServiceUnderTest,
) -> None:
    first, _ = await _two_alliances_and_a_candidate_leading_the_first(service, "closed")
    response = await service.http.put("/alliances/cite-002/chef-de-file",
                                      json={"partner_id": first}, headers=AS_NATIONAL)
    assert response.status_code == 200, response.text
    assert await _chef(service, "cite-002") == first
    assert [str(e.data.partner_id) for e in await service.outbox("ChefDeFileDesignated")
            if e.data.cite_id == "cite-002"][-1] == first


async def test_the_database_itself_refuses_a_college_chef_de_file_of_two_open_alliances(
    service: ServiceUnderTest,
) -> None:
    await open_alliance(service, labelled("cite-001", lead_uai="0930001A"))
    await open_alliance(service, labelled("cite-002", lead_uai="0930002B"))
    cite_002 = await _chef(service, "cite-002")
    pool = service.runtime.pool
    # The alliance row keeps its chef de file (written with the role), for this index.
    kept = await pool.fetchval(
        "SELECT chef_de_file_partner_id FROM alliances WHERE cite_id = 'cite-002'")
    with pytest.raises(asyncpg.UniqueViolationError,
                       match="alliances_one_open_per_chef_de_file"):
        await pool.execute("UPDATE alliances SET chef_de_file_partner_id = $1 "
                           "WHERE cite_id = 'cite-001'", cite_002)
    assert str(kept) == cite_002


async def test_the_database_itself_refuses_a_second_chef_de_file(
    service: ServiceUnderTest,
) -> None:
    cite = await open_alliance(service)
    other = await _register(service, college())
    with pytest.raises(asyncpg.UniqueViolationError, match="memberships_one_chef_de_file"):
        await service.runtime.pool.execute(
            """INSERT INTO memberships (cite_id, partner_id, roles, joined_at)
               VALUES ($1, $2, ARRAY['chef_de_file'], now())""", cite, other)


@pytest.mark.parametrize(("path", "body", "status"), [
    ("/alliances/cite-999/members", {"roles": ["funder"]}, 404),
    ("/alliances/cite-001/members", {"roles": ["funder"], "unknown_partner": True}, 404),
    ("/alliances/cite-001/members", {"roles": []}, 422),
    ("/alliances/cite-001/members", {"roles": ["mayor"]}, 422),
    ("/alliances/not-a-cite/members", {"roles": ["funder"]}, 422),
])
async def test_joining_needs_an_alliance_a_registered_partner_and_a_role(
    service: ServiceUnderTest, path: str, body: dict[str, Any], status: int,
) -> None:
    await open_alliance(service)
    asso = await _register(service, association())
    partner_id = "00000000-0000-4000-8000-000000000000" if body.pop(
        "unknown_partner", False) else asso
    response = await service.http.post(path, json={"partner_id": partner_id, **body},
                                       headers=AS_NATIONAL)
    assert response.status_code == status
    assert await service.outbox("PartnerJoinedAlliance") == []


async def test_a_prefecture_manages_the_alliances_of_its_departement_only(
    service: ServiceUnderTest,
) -> None:
    cite = await open_alliance(service)
    asso = await _register(service, association())
    response = await service.http.post(f"/alliances/{cite}/members", headers=AS_PREFECTURE_69,
                                       json={"partner_id": asso, "roles": ["funder"]})
    assert response.status_code == 403
    assert await service.outbox("PartnerJoinedAlliance") == []


async def test_alliances_are_listed_by_departement_a_page_at_a_time(
    service: ServiceUnderTest,
) -> None:
    for n in range(1, 6):
        await open_alliance(service, labelled(f"cite-00{n}", lead_uai=f"093000{n}A"))
    await open_alliance(service, labelled("cite-069", lead_uai="0690001A", departement="69"))
    pages, cursor = [], None
    while True:
        params = {"departement": "93", "limit": 2, **({"cursor": cursor} if cursor else {})}
        page = (await service.http.get("/alliances", params=params, headers=AS_VIEWER)).json()
        pages.append([(a["cite_id"], a["members"], a["chef_de_file_uai"])
                      for a in page["items"]])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert [len(p) for p in pages] == [2, 2, 1]
    assert pages[0][0] == ("cite-001", 1, "0930001A")
    assert [c for p in pages for c, _, _ in p] == [f"cite-00{n}" for n in range(1, 6)]


async def test_an_unknown_alliance_is_a_404(service: ServiceUnderTest) -> None:
    response = await service.http.get("/alliances/cite-999", headers=AS_VIEWER)
    assert response.status_code == 404
    assert "cité cite-999 has no alliance" in response.json()["detail"]


async def test_a_lead_college_registered_concurrently_still_becomes_the_chef_de_file(
    service: ServiceUnderTest,
) -> None:
    pool = service.runtime.pool
    async with pool.acquire() as other, other.transaction():
        # Another transaction registers the lead collège and has not committed yet.
        await other.execute(
            """INSERT INTO partners (partner_id, kind, name, uai, registered_at, updated_at)
               VALUES ('00000000-0000-4000-8000-00000000c011', 'college', 'Collège déjà là',
                       '0930001A', now(), now())""")
        opening = asyncio.ensure_future(open_alliance(service))
        await _blocked_on_a_lock(service)
    cite = await opening  # it saw the collège only once the other committed
    alliance = await read_alliance(service, cite)
    assert alliance["chef_de_file"]["partner_id"] == "00000000-0000-4000-8000-00000000c011"
    assert await service.outbox("PartnerRegistered") == []


async def _blocked_on_a_lock(service: ServiceUnderTest) -> None:
    async def waiting() -> bool:
        n: int = await service.runtime.pool.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
            "AND datname = current_database() AND usename = current_user")
        return n > 0

    await eventually(waiting, timeout=10, what="the opening waiting for the other transaction")


async def test_a_partners_memberships_are_read_a_page_at_a_time_in_the_order_it_joined(
    service: ServiceUnderTest,
) -> None:
    cites = [await open_alliance(service, labelled(f"cite-00{n}", lead_uai=f"093000{n}A"))
             for n in (1, 2, 3)]
    asso = await _register(service, association())
    member = {"partner_id": asso, "roles": ["funder"]}
    joins = [await service.http.post(f"/alliances/{cite}/members", json=member,
                                     headers=AS_NATIONAL) for cite in cites]
    left = await service.http.delete(f"/alliances/{cites[0]}/members/{asso}",
                                     params={"motive": "Pause"}, headers=AS_NATIONAL)
    # Back in the same instant (a fake clock): the membership's row breaks the tie.
    joins.append(await service.http.post(f"/alliances/{cites[0]}/members", json=member,
                                         headers=AS_NATIONAL))
    assert [j.status_code for j in joins] + [left.status_code] == [201] * 4 + [204]

    pages = await read_pages(service.http, f"/partners/{asso}/memberships",
                             headers=AS_VIEWER, limit=3)
    whole = (await service.http.get(f"/partners/{asso}/memberships",
                                    headers=AS_VIEWER)).json()

    assert [len(page) for page in pages] == [3, 1]
    assert [m for page in pages for m in page] == whole["items"]
    assert [(m["cite_id"], m["left_at"] is None) for m in whole["items"]] == [
        ("cite-001", False), ("cite-002", True), ("cite-003", True), ("cite-001", True)]
