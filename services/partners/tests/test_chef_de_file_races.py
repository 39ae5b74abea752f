"""The chef de file rules under concurrent requests, on the real PostgreSQL: a partner's
kind changing while it is designated (over HTTP, or as lead collège of a new label), and
one collège designated in two alliances at once. Each round sends both commands together;
whatever order they happen in, one wins and the other is refused with a clear 409/422 —
never a server error — and afterwards every alliance not closed is led by a collège that
leads no other."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from partners_kit import college, labelled, open_alliance

from cites_runtime.testing import AS_NATIONAL, AS_VIEWER, ServiceUnderTest

ROUNDS = 30


async def _register_and_join(service: ServiceUnderTest, uai: str, *cites: str) -> str:
    registered = await service.http.post("/partners", json=college(uai), headers=AS_NATIONAL)
    assert registered.status_code == 201, registered.text
    partner_id = str(registered.json()["partner_id"])
    for cite in cites:
        joined = await service.http.post(f"/alliances/{cite}/members", headers=AS_NATIONAL,
                                         json={"partner_id": partner_id,
                                               "roles": ["steering_committee"]})
        assert joined.status_code == 201, joined.text
    return partner_id


def _designate(service: ServiceUnderTest, cite: str, partner_id: str
               ) -> asyncio.Task[httpx.Response]:
    return asyncio.ensure_future(service.http.put(
        f"/alliances/{cite}/chef-de-file", json={"partner_id": partner_id},
        headers=AS_NATIONAL))


def _make_lycee(service: ServiceUnderTest, partner_id: str) -> asyncio.Task[httpx.Response]:
    return asyncio.ensure_future(service.http.patch(
        f"/partners/{partner_id}", json={"kind": "lycee"}, headers=AS_NATIONAL))


async def _chefs_breaking_the_rules(service: ServiceUnderTest) -> list[dict[str, Any]]:
    """Alliances not closed whose chef de file is no collège, or leads another too."""
    rows = await service.runtime.pool.fetch(
        """SELECT a.cite_id, p.uai, p.kind,
                  count(*) OVER (PARTITION BY m.partner_id) AS alliances_led
           FROM alliances a
           JOIN memberships m ON m.cite_id = a.cite_id AND m.left_at IS NULL
                             AND 'chef_de_file' = ANY (m.roles)
           JOIN partners p ON p.partner_id = m.partner_id
           WHERE a.status <> 'closed'""")
    return [dict(r) for r in rows if r["kind"] != "college" or r["alliances_led"] > 1]


async def _chef(service: ServiceUnderTest, cite: str) -> str:
    response = await service.http.get(f"/alliances/{cite}", headers=AS_VIEWER)
    return str(response.json()["chef_de_file"]["partner_id"])


async def test_a_kind_change_racing_a_designation_never_leaves_a_non_college_chef_de_file(
    service: ServiceUnderTest,
) -> None:
    cite = await open_alliance(service, labelled("cite-001", lead_uai="0930001A"))
    outcomes = []
    for n in range(ROUNDS):
        candidate = await _register_and_join(service, f"0931{n:03d}C", cite)
        if n % 2:  # either command may start first
            kind_change, designation = _make_lycee(service, candidate), _designate(
                service, cite, candidate)
        else:
            designation, kind_change = _designate(service, cite, candidate), _make_lycee(
                service, candidate)
        designated, changed = await designation, await kind_change
        outcomes.append((designated.status_code, changed.status_code))
        if designated.status_code == 200:
            assert changed.status_code == 409, changed.text
            assert "only a collège can be" in changed.json()["detail"]
            assert await _chef(service, cite) == candidate
        else:
            assert (designated.status_code, changed.status_code) == (422, 200), (
                designated.text, changed.text)
            assert designated.json()["detail"][0]["type"] == "chef_de_file_is_a_college"
        assert await _chefs_breaking_the_rules(service) == []
    assert set(outcomes) <= {(200, 409), (422, 200)}
    # A refused command left no event: one per designation and kind change that passed.
    designations = await service.outbox("ChefDeFileDesignated")
    updates = await service.outbox("PartnerUpdated")
    assert len(designations) == 1 + outcomes.count((200, 409))  # 1: the opening's
    assert len(updates) == outcomes.count((422, 200))


async def test_a_kind_change_racing_a_label_never_makes_a_non_college_chef_de_file(
    service: ServiceUnderTest,
) -> None:
    for n in range(ROUNDS):
        uai, cite = f"0932{n:03d}D", f"cite-{n + 1:03d}"
        lead = await _register_and_join(service, uai)  # known before its label arrives
        changed = _make_lycee(service, lead)
        await service.publish(labelled(cite, lead_uai=uai))  # the consumer, in memory
        response = await changed
        opened = await service.http.get(f"/alliances/{cite}", headers=AS_VIEWER)
        if response.status_code == 200:  # the lead is a lycée: the label is dead-lettered
            assert opened.status_code == 404, opened.text
        else:
            assert (response.status_code, opened.status_code) == (409, 200), response.text
            assert "only a collège can be" in response.json()["detail"]
            assert opened.json()["chef_de_file"]["partner_id"] == lead
        assert await _chefs_breaking_the_rules(service) == []
    alliances = await service.outbox("AllianceOpened")
    updates = await service.outbox("PartnerUpdated")
    assert len(alliances) + len(updates) == ROUNDS  # a label or a kind change, never both


async def test_one_college_designated_in_two_alliances_at_once_leads_one(
    service: ServiceUnderTest,
) -> None:
    for n in range(ROUNDS):
        first = await open_alliance(service, labelled(f"cite-{2 * n + 1:03d}",
                                                      lead_uai=f"0933{n:03d}E"))
        second = await open_alliance(service, labelled(f"cite-{2 * n + 2:03d}",
                                                       lead_uai=f"0934{n:03d}F"))
        candidate = await _register_and_join(service, f"0935{n:03d}G", first, second)
        responses = await asyncio.gather(_designate(service, first, candidate),
                                         _designate(service, second, candidate))
        statuses = [r.status_code for r in responses]
        assert sorted(statuses) == [200, 409], [r.text for r in responses]
        won, lost = ((first, second) if statuses[0] == 200 else (second, first))
        refusal = responses[statuses.index(409)].json()["detail"]
        assert f"(UAI 0935{n:03d}G) is already chef de file of alliance {won}" in refusal
        assert await _chef(service, won) == candidate
        assert await _chef(service, lost) != candidate
        assert await _chefs_breaking_the_rules(service) == []
    # Per round, two openings' events and the winner's: the refused one emitted nothing.
    designated = await service.outbox("ChefDeFileDesignated")
    assert len(designated) == 3 * ROUNDS
    assert sum(e.data.previous_partner_id is not None for e in designated) == ROUNDS
