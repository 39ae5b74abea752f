"""Contacts: personal data with consent, minimised in events, erased for good on request."""

from __future__ import annotations

import json
from typing import Any

import pytest
from partners_kit import association, contact

from cites_runtime.testing import (
    AS_NATIONAL,
    AS_PARTNER,
    AS_PREFECTURE_69,
    AS_VIEWER,
    FakeClock,
    ServiceUnderTest,
    envelopes_json,
    read_pages,
)


async def _partner_with(service: ServiceUnderTest, *contacts: dict[str, Any]
                        ) -> tuple[str, list[str]]:
    partner = (await service.http.post("/partners", json=association(),
                                       headers=AS_NATIONAL)).json()["partner_id"]
    ids: list[str] = []
    for body in contacts:
        if ids:  # one after the other, as people add them: listed in that order
            service.settings.clock.advance(seconds=1)
        response = await service.http.post(f"/partners/{partner}/contacts", json=body,
                                           headers=AS_NATIONAL)
        assert response.status_code == 201, response.text
        ids.append(response.json()["contact_id"])
    return partner, ids


def _named(update: Any) -> list[str]:
    """The contact ids a PartnerUpdated names."""
    return [str(c) for c in update.data.contact_ids]


async def _cards(service: ServiceUnderTest) -> list[tuple[str, str]]:
    """(contact id, e-mail) of every contact card in the outbox, in order."""
    return [(str(c.data.contact_id), c.data.email)
            for c in await service.outbox("ContactCardPublished")]


async def test_only_consenting_contacts_cards_carry_an_email_and_only_on_the_contacts_topic(
    service: ServiceUnderTest,
) -> None:
    partner, (yes, _) = await _partner_with(
        service, contact("yes@asso.example.org"), contact("no@asso.example.org", consent=False))
    updates = await service.outbox("PartnerUpdated")
    cards = await service.outbox("ContactCardPublished")
    listed = (await service.http.get(f"/partners/{partner}/contacts",
                                     headers=AS_NATIONAL)).json()["items"]
    on_the_wire = json.dumps(envelopes_json([*updates, *cards]))
    # Adding a contact who did not consent changes nothing events say: no event.
    assert len(updates) == 1
    assert _named(updates[0]) == [yes]
    assert "@" not in json.dumps(envelopes_json(updates))  # registry events: ids only
    assert await _cards(service) == [(yes, "yes@asso.example.org")]
    assert [(c.topic.name, c.aggregate_id) for c in cards] == [("partners.contacts", yes)]
    assert "Anne Martin" not in on_the_wire and "+33" not in on_the_wire
    assert [(c["email"], c["consent"]) for c in listed] == [("yes@asso.example.org", True),
                                                            ("no@asso.example.org", False)]


async def test_withdrawing_consent_records_its_date_and_erases_the_card_from_events(
    service: ServiceUnderTest, clock: FakeClock,
) -> None:
    partner, (cid,) = await _partner_with(service, contact())
    before = (await service.http.get(f"/partners/{partner}/contacts",
                                     headers=AS_NATIONAL)).json()["items"][0]
    clock.advance(days=1)
    withdrawn = await service.http.patch(f"/partners/{partner}/contacts/{cid}",
                                         json={"consent": False}, headers=AS_NATIONAL)
    renamed = await service.http.patch(f"/partners/{partner}/contacts/{cid}",
                                       json={"name": "Anne Martin-Durand"}, headers=AS_NATIONAL)
    updates = await service.outbox("PartnerUpdated")
    assert withdrawn.status_code == 200
    assert withdrawn.json()["consent"] is False
    assert before["consent_recorded_at"] == "2025-03-10T09:30:00Z"
    assert withdrawn.json()["consent_recorded_at"] == "2025-03-11T09:30:00Z"
    # What events say of a contact without consent is nothing: renaming it emits nothing.
    assert (renamed.status_code, renamed.json()["name"]) == (200, "Anne Martin-Durand")
    assert [_named(u) for u in updates] == [[cid], []]
    # Its card is gone from the outbox and a tombstone erases it from the contacts topic.
    assert await _cards(service) == []
    assert await service.outbox_tombstones() == [("partners.contacts", cid)]


async def test_erasure_removes_the_contacts_personal_data_for_good(
    service: ServiceUnderTest,
) -> None:
    email, name = "erase.me@asso.example.org", "Zoé Effacée"
    partner, (cid, kept) = await _partner_with(service, contact(email, name=name),
                                               contact("stays@asso.example.org"))
    await service.all_published()  # the relay published them: erasure purges them
    in_outbox = await service.runtime.pool.fetchval(
        "SELECT count(*) FROM outbox_history "
        "WHERE position(convert_to($1, 'UTF8') IN value) > 0",
        email)
    erased = await service.http.delete(f"/partners/{partner}/contacts/{cid}",
                                       headers=AS_NATIONAL)
    again = await service.http.delete(f"/partners/{partner}/contacts/{cid}",
                                      headers=AS_NATIONAL)
    listed = (await service.http.get(f"/partners/{partner}/contacts",
                                     headers=AS_NATIONAL)).json()["items"]
    row = await service.runtime.pool.fetchrow(
        "SELECT * FROM contacts WHERE contact_id = $1", cid)
    after = await _mentions(service, email, name)
    erasures = await service.outbox("ContactErased")
    assert (erased.status_code, again.status_code) == (204, 204)
    assert [c["contact_id"] for c in listed] == [kept]
    assert row is not None and row["erased_at"] is not None
    assert [row[c] for c in ("name", "function", "email", "phone")] == [None] * 4
    assert in_outbox == 1 and after == 0  # its card, published, then purged
    assert await service.outbox_tombstones() == [("partners.contacts", cid)]
    assert len(erasures) == 1
    assert envelopes_json(erasures)[0]["data"].keys() == {"partner_id", "contact_id",
                                                          "erased_at"}
    assert str(erasures[0].data.contact_id) == cid


async def _mentions(service: ServiceUnderTest, *texts: str) -> int:
    """Rows of the service's tables (contacts, service, outbox) mentioning any text."""
    return int(await service.runtime.pool.fetchval(
        """SELECT count(*) FROM (
               SELECT c::text AS t FROM contacts c UNION ALL
               SELECT p::text FROM partners p UNION ALL
               SELECT convert_from(value, 'UTF8') FROM outbox_history WHERE value IS NOT NULL
           ) everything
           WHERE position($1 IN t) > 0 OR position($2 IN t) > 0""", *texts))


async def test_a_contact_is_checked_before_it_is_stored(service: ServiceUnderTest) -> None:
    partner, _ = await _partner_with(service)
    bad_email = await service.http.post(f"/partners/{partner}/contacts",
                                        json=contact("not-an-email"), headers=AS_NATIONAL)
    no_consent = await service.http.post(
        f"/partners/{partner}/contacts",
        json={k: v for k, v in contact().items() if k != "consent"}, headers=AS_NATIONAL)
    bad_phone = await service.http.post(f"/partners/{partner}/contacts",
                                        json=contact(phone="call me"), headers=AS_NATIONAL)
    assert [r.status_code for r in (bad_email, no_consent, bad_phone)] == [422] * 3
    assert [r.json()["detail"][0]["loc"][-1] for r in (bad_email, no_consent, bad_phone)] == [
        "email", "consent", "phone"]
    assert await service.runtime.pool.fetchval("SELECT count(*) FROM contacts") == 0


@pytest.mark.parametrize(("headers", "status"), [(AS_VIEWER, 403), (AS_PARTNER, 403),
                                                 (AS_PREFECTURE_69, 403), (AS_NATIONAL, 200)])
async def test_contacts_are_shown_to_the_national_coordination_and_their_prefecture(
    service: ServiceUnderTest, headers: dict[str, str], status: int,
) -> None:
    partner, _ = await _partner_with(service, contact())
    response = await service.http.get(f"/partners/{partner}/contacts", headers=headers)
    assert response.status_code == status


async def test_an_unknown_contact_is_a_404(service: ServiceUnderTest) -> None:
    partner, _ = await _partner_with(service)
    unknown = "00000000-0000-4000-8000-000000000000"
    patched = await service.http.patch(f"/partners/{partner}/contacts/{unknown}",
                                       json={"consent": True}, headers=AS_NATIONAL)
    erased = await service.http.delete(f"/partners/{partner}/contacts/{unknown}",
                                       headers=AS_NATIONAL)
    assert (patched.status_code, erased.status_code) == (404, 404)
    assert await service.outbox("ContactErased") == []


async def test_a_partners_contacts_are_read_a_page_at_a_time_in_the_order_added(
    service: ServiceUnderTest,
) -> None:
    partner, ids = await _partner_with(service, *(contact(f"c{n}@asso.example.org")
                                                  for n in range(5)))
    pages = await read_pages(service.http, f"/partners/{partner}/contacts",
                             headers=AS_NATIONAL, limit=2)
    assert [[c["contact_id"] for c in page] for page in pages] == [ids[:2], ids[2:4], ids[4:]]
