"""Contacts: personal data with consent, minimised in events, erased for good on request."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from partners_kit import (
    NATIONAL,
    PARTNER,
    PREFECTURE_69,
    VIEWER,
    MakePartners,
    Partners,
    association,
    contact,
)

pytestmark = pytest.mark.integration


async def _partner_with(service: Partners, *contacts: dict[str, Any]) -> tuple[str, list[str]]:
    partner = (await service.http.post("/partners", json=association(),
                                       headers=NATIONAL)).json()["partner_id"]
    ids = []
    for body in contacts:
        response = await service.http.post(f"/partners/{partner}/contacts", json=body,
                                           headers=NATIONAL)
        assert response.status_code == 201, response.text
        ids.append(response.json()["contact_id"])
    return partner, ids


async def test_events_carry_the_email_of_consenting_contacts_only(partners: Partners) -> None:
    partner, (yes, _) = await _partner_with(
        partners, contact("yes@asso.example.org"), contact("no@asso.example.org", consent=False))
    updates = await partners.events("PartnerUpdated")
    listed = (await partners.http.get(f"/partners/{partner}/contacts", headers=NATIONAL)).json()
    # Adding a contact who did not consent changes nothing events say: no event.
    assert len(updates) == 1
    assert updates[0]["data"]["contacts"] == [{"contact_id": yes,
                                               "email": "yes@asso.example.org"}]
    assert "Anne Martin" not in str(updates) and "+33" not in str(updates)
    assert [(c["email"], c["consent"]) for c in listed] == [("yes@asso.example.org", True),
                                                            ("no@asso.example.org", False)]


async def test_withdrawing_consent_records_its_date_and_drops_the_email_from_events(
    partners: Partners,
) -> None:
    partner, (cid,) = await _partner_with(partners, contact())
    before = (await partners.http.get(f"/partners/{partner}/contacts",
                                      headers=NATIONAL)).json()[0]
    withdrawn = await partners.http.patch(f"/partners/{partner}/contacts/{cid}",
                                          json={"consent": False}, headers=NATIONAL)
    updates = await partners.events("PartnerUpdated")
    assert withdrawn.status_code == 200
    assert withdrawn.json()["consent"] is False
    assert withdrawn.json()["consent_recorded_at"] > before["consent_recorded_at"]
    assert [u["data"]["contacts"] for u in updates] == [
        [{"contact_id": cid, "email": "a.martin@asso.example.org"}], []]


async def test_erasure_removes_the_contacts_personal_data_for_good(
    make_partners: MakePartners,
) -> None:
    email, name = "erase.me@asso.example.org", "Zoé Effacée"
    async with make_partners(consumers_enabled=False) as service:  # the relay publishes
        partner, (cid, kept) = await _partner_with(service, contact(email, name=name),
                                                   contact("stays@asso.example.org"))
        await _wait_published(service)
        in_outbox = await service.runtime.pool.fetchval(
            "SELECT count(*) FROM outbox WHERE position($1 IN convert_from(value, 'UTF8')) > 0",
            email)
        erased = await service.http.delete(f"/partners/{partner}/contacts/{cid}",
                                           headers=NATIONAL)
        again = await service.http.delete(f"/partners/{partner}/contacts/{cid}",
                                          headers=NATIONAL)
        listed = (await service.http.get(f"/partners/{partner}/contacts",
                                         headers=NATIONAL)).json()
        row = await service.runtime.pool.fetchrow(
            "SELECT * FROM contacts WHERE contact_id = $1", cid)
        after = await _mentions(service, email, name)
        erasures = await service.events("ContactErased")
    assert (erased.status_code, again.status_code) == (204, 204)
    assert [c["contact_id"] for c in listed] == [kept]
    assert row is not None and row["erased_at"] is not None
    assert [row[c] for c in ("name", "function", "email", "phone")] == [None] * 4
    assert in_outbox == 2 and after == 0  # its two PartnerUpdated, published, then purged
    assert len(erasures) == 1
    assert erasures[0]["data"].keys() == {"partner_id", "contact_id", "erased_at"}
    assert erasures[0]["data"]["contact_id"] == cid


async def _mentions(service: Partners, *texts: str) -> int:
    """Rows of the service's tables (contacts, partners, outbox) mentioning any text."""
    return int(await service.runtime.pool.fetchval(
        """SELECT count(*) FROM (
               SELECT c::text AS t FROM contacts c UNION ALL
               SELECT p::text FROM partners p UNION ALL
               SELECT convert_from(value, 'UTF8') FROM outbox) everything
           WHERE position($1 IN t) > 0 OR position($2 IN t) > 0""", *texts))


async def test_a_contact_is_checked_before_it_is_stored(partners: Partners) -> None:
    partner, _ = await _partner_with(partners)
    bad_email = await partners.http.post(f"/partners/{partner}/contacts",
                                         json=contact("not-an-email"), headers=NATIONAL)
    no_consent = await partners.http.post(
        f"/partners/{partner}/contacts",
        json={k: v for k, v in contact().items() if k != "consent"}, headers=NATIONAL)
    bad_phone = await partners.http.post(f"/partners/{partner}/contacts",
                                         json=contact(phone="call me"), headers=NATIONAL)
    assert [r.status_code for r in (bad_email, no_consent, bad_phone)] == [422] * 3
    assert [r.json()["detail"][0]["loc"][-1] for r in (bad_email, no_consent, bad_phone)] == [
        "email", "consent", "phone"]
    assert await partners.runtime.pool.fetchval("SELECT count(*) FROM contacts") == 0


@pytest.mark.parametrize(("headers", "status"), [(VIEWER, 403), (PARTNER, 403),
                                                 (PREFECTURE_69, 403), (NATIONAL, 200)])
async def test_contacts_are_shown_to_the_national_coordination_and_their_prefecture(
    partners: Partners, headers: dict[str, str], status: int,
) -> None:
    partner, _ = await _partner_with(partners, contact())
    response = await partners.http.get(f"/partners/{partner}/contacts", headers=headers)
    assert response.status_code == status


async def test_an_unknown_contact_is_a_404(partners: Partners) -> None:
    partner, _ = await _partner_with(partners)
    unknown = "00000000-0000-4000-8000-000000000000"
    patched = await partners.http.patch(f"/partners/{partner}/contacts/{unknown}",
                                        json={"consent": True}, headers=NATIONAL)
    erased = await partners.http.delete(f"/partners/{partner}/contacts/{unknown}",
                                        headers=NATIONAL)
    assert (patched.status_code, erased.status_code) == (404, 404)
    assert await partners.events("ContactErased") == []


async def _wait_published(service: Partners, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    pool = service.runtime.pool
    while await pool.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL"):
        if time.monotonic() > deadline:
            raise AssertionError("the relay did not publish the outbox in time")
        await asyncio.sleep(0.1)
