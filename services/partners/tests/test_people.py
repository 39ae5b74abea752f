"""The people who run a cité besides its collège: the collectivité cheffe de file (a
commune or an EPCI member of the alliance, at most one) and the chef de projet
opérationnel, a post whose tenures follow one another, sometimes vacant. Isolated (real
PostgreSQL); alliances are opened by applying labelling's event directly."""

from __future__ import annotations

import json
from datetime import date, timedelta
from typing import Any

import asyncpg
import pytest
from partners import service as use_cases
from partners_kit import (
    SIREN_EPCI,
    association,
    contact,
    open_alliance,
    read_alliance,
    withdrawn,
)

from cites_runtime.testing import (
    AS_NATIONAL,
    AS_PREFECTURE_69,
    AS_PREFECTURE_93,
    AS_VIEWER,
    FakeClock,
    ServiceUnderTest,
    envelopes_json,
    read_pages,
)

CITE = "cite-001"
OPENED_ON = date(2025, 3, 10)
"""The day the test's clock opens the alliance (its first day: a CPO starts then at the
earliest)."""
COMMUNE = {"kind": "commune", "name": "Ville de Bondy", "insee_code": "93010"}
EPCI = {"kind": "epci", "name": "Est Ensemble", "siren": SIREN_EPCI, "departement": "93"}
PEOPLE = ("partners.CollectiviteCheffeDeFileDesignated", "partners.ChefDeProjetAppointed",
          "partners.ChefDeProjetPostVacated")


async def _register(service: ServiceUnderTest, body: dict[str, Any]) -> str:
    response = await service.http.post("/partners", json=body, headers=AS_NATIONAL)
    assert response.status_code in (200, 201), response.text
    return str(response.json()["partner_id"])


async def _member(service: ServiceUnderTest, body: dict[str, Any],
                  roles: tuple[str, ...] = ("funder",)) -> str:
    partner = await _register(service, body)
    joined = await service.http.post(f"/alliances/{CITE}/members", headers=AS_NATIONAL,
                                     json={"partner_id": partner, "roles": list(roles)})
    assert joined.status_code == 201, joined.text
    return partner


async def _contact(service: ServiceUnderTest, partner: str, **body: Any) -> str:
    response = await service.http.post(f"/partners/{partner}/contacts", headers=AS_NATIONAL,
                                       json=contact(**body))
    assert response.status_code == 201, response.text
    return str(response.json()["contact_id"])


async def _people_events(service: ServiceUnderTest) -> list[Any]:
    return [e for e in await service.outbox() if e.type in PEOPLE]


def _appointment(contact_id: str, employer: str, starts_on: date) -> dict[str, Any]:
    return {"contact_id": contact_id, "employer_partner_id": employer,
            "starts_on": starts_on.isoformat()}


async def _appoint(service: ServiceUnderTest, contact_id: str, employer: str,
                   starts_on: date) -> dict[str, Any]:
    response = await service.http.post(f"/alliances/{CITE}/cpo", headers=AS_PREFECTURE_93,
                                       json=_appointment(contact_id, employer, starts_on))
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def _tenures(service: ServiceUnderTest) -> list[dict[str, Any]]:
    response = await service.http.get(f"/alliances/{CITE}/cpo", headers=AS_VIEWER)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def _refused_and_unchanged(service: ServiceUnderTest, method: str, path: str,
                                 body: dict[str, Any], *, status: int, rule: str | None = None,
                                 says: str | None = None,
                                 headers: dict[str, str] = AS_NATIONAL) -> None:
    """``body`` sent to ``path`` is refused (``status``, naming ``rule``), and nothing
    changed: no event, the same alliance, the same tenures."""
    before = (await service.outbox(), await read_alliance(service), await _tenures(service))
    response = await service.http.request(method, path, json=body, headers=headers)
    assert response.status_code == status, response.text
    if rule is not None:
        assert response.json()["detail"][0]["type"] == rule, response.text
    if says is not None:
        assert says in str(response.json()["detail"])
    assert (await service.outbox(), await read_alliance(service),
            await _tenures(service)) == before


# --- the collectivité cheffe de file ----------------------------------------------------------


async def test_a_member_commune_becomes_collectivite_cheffe_de_file_and_an_epci_replaces_it(
    service: ServiceUnderTest,
) -> None:
    await open_alliance(service)
    commune = await _member(service, COMMUNE, ("steering_committee", "funder"))
    epci = await _member(service, EPCI)
    path = f"/alliances/{CITE}/collectivite-cheffe-de-file"
    first = await service.http.put(path, json={"partner_id": commune},
                                   headers=AS_PREFECTURE_93)
    second = await service.http.put(path, json={"partner_id": epci}, headers=AS_NATIONAL)
    again = await service.http.put(path, json={"partner_id": epci}, headers=AS_NATIONAL)
    events = await _people_events(service)
    assert (first.status_code, second.status_code, again.status_code) == (200, 200, 200)
    assert first.json()["collectivite_cheffe_de_file"]["partner_id"] == commune
    assert again.json()["collectivite_cheffe_de_file"]["partner_id"] == epci
    # The one replaced stays a member with its roles.
    assert {m["partner_id"]: m["roles"] for m in again.json()["members"]}[commune] == [
        "funder", "steering_committee"]
    assert [(e.type, str(e.data.partner_id), e.data.partner_kind,
             e.data.previous_partner_id and str(e.data.previous_partner_id))
            for e in events] == [
        ("partners.CollectiviteCheffeDeFileDesignated", commune, "commune", None),
        ("partners.CollectiviteCheffeDeFileDesignated", epci, "epci", commune)]


async def test_an_alliance_has_no_collectivite_cheffe_de_file_until_one_is_designated(
    service: ServiceUnderTest,
) -> None:
    await open_alliance(service)
    alliance = await read_alliance(service)
    assert alliance["collectivite_cheffe_de_file"] is None
    assert alliance["chef_de_projet"] == {"vacant": True, "since": None, "contact_id": None,
                                          "employer_partner_id": None}


@pytest.mark.parametrize(("who", "rule"), [
    ("association member", "collectivite_cheffe_de_file_is_a_commune_or_epci"),
    ("commune not member", "collectivite_cheffe_de_file_is_a_member"),
    ("the collège chef de file", "collectivite_cheffe_de_file_is_a_commune_or_epci"),
])
async def test_the_collectivite_cheffe_de_file_is_a_commune_or_an_epci_member_of_the_alliance(
    service: ServiceUnderTest, who: str, rule: str,
) -> None:
    await open_alliance(service)
    if who == "association member":
        partner = await _member(service, association())
    elif who == "commune not member":
        partner = await _register(service, COMMUNE)
    else:
        partner = (await read_alliance(service))["chef_de_file"]["partner_id"]
    await _refused_and_unchanged(
        service, "PUT", f"/alliances/{CITE}/collectivite-cheffe-de-file",
        {"partner_id": partner}, status=422, rule=rule)


async def _designated_commune(service: ServiceUnderTest) -> str:
    """An alliance whose collectivité cheffe de file is a commune; returns the commune."""
    await open_alliance(service)
    commune = await _member(service, COMMUNE)
    designated = await service.http.put(f"/alliances/{CITE}/collectivite-cheffe-de-file",
                                        json={"partner_id": commune}, headers=AS_NATIONAL)
    assert designated.status_code == 200, designated.text
    return commune


async def test_the_collectivite_cheffe_de_file_cannot_leave_before_another_replaces_it(
    service: ServiceUnderTest,
) -> None:
    commune = await _designated_commune(service)
    await _refused_and_unchanged(service, "DELETE", f"/alliances/{CITE}/members/{commune}",
                                 {}, status=409, says="designate another commune or EPCI")


async def test_the_collectivite_cheffe_de_file_cannot_stop_being_a_commune_or_an_epci(
    service: ServiceUnderTest,
) -> None:
    commune = await _designated_commune(service)
    before = await service.http.get(f"/partners/{commune}", headers=AS_VIEWER)
    await _refused_and_unchanged(
        service, "PATCH", f"/partners/{commune}",
        {"kind": "association", "insee_code": None, "siret": "44306184100047"}, status=409,
        says="designate another commune or EPCI first")
    assert (await service.http.get(f"/partners/{commune}", headers=AS_VIEWER)).json() == (
        before.json())


async def test_a_prefecture_designates_and_appoints_in_its_own_departement_only(
    service: ServiceUnderTest,
) -> None:
    await open_alliance(service)
    commune = await _member(service, COMMUNE)
    person = await _contact(service, commune)
    await _refused_and_unchanged(
        service, "PUT", f"/alliances/{CITE}/collectivite-cheffe-de-file",
        {"partner_id": commune}, status=403, headers=AS_PREFECTURE_69)
    await _refused_and_unchanged(
        service, "POST", f"/alliances/{CITE}/cpo", _appointment(person, commune, OPENED_ON),
        status=403, headers=AS_PREFECTURE_69)
    await _appoint(service, person, commune, OPENED_ON)
    await _refused_and_unchanged(
        service, "POST", f"/alliances/{CITE}/cpo/vacancy",
        {"ends_on": OPENED_ON.isoformat()}, status=403, headers=AS_PREFECTURE_69)


# --- the chef de projet opérationnel ------------------------------------------------------------


async def test_appointing_a_chef_de_projet_opens_a_tenure_the_alliance_shows(
    service: ServiceUnderTest, clock: FakeClock,
) -> None:
    await open_alliance(service)
    commune = await _member(service, COMMUNE)
    person = await _contact(service, commune, email="cpo@bondy.example.fr")
    clock.advance(days=20)
    appointed = await _appoint(service, person, commune, OPENED_ON + timedelta(days=5))
    alliance = await read_alliance(service)
    [event] = await _people_events(service)
    assert (appointed["contact_id"], appointed["employer_partner_id"],
            appointed["starts_on"], appointed["ends_on"]) == (
        person, commune, "2025-03-15", None)
    assert alliance["chef_de_projet"] == {"vacant": False, "since": "2025-03-15",
                                          "contact_id": person,
                                          "employer_partner_id": commune}
    assert await _tenures(service) == [appointed]
    assert (event.type, str(event.data.contact_id), str(event.data.employer_partner_id),
            event.data.starts_on, event.data.previous_contact_id, event.data.appointed_at) == (
        "partners.ChefDeProjetAppointed", person, commune, date(2025, 3, 15), None, clock.now)
    # A person by id only: no name nor address on the alliances' topic.
    assert "Anne Martin" not in json.dumps(envelopes_json([event]))
    assert "cpo@bondy.example.fr" not in json.dumps(envelopes_json([event]))


async def test_appointing_someone_new_ends_the_previous_tenure_the_day_before(
    service: ServiceUnderTest, clock: FakeClock,
) -> None:
    await open_alliance(service)
    commune = await _member(service, COMMUNE)
    asso = await _member(service, association())
    first = await _contact(service, commune, email="first@bondy.example.fr")
    second = await _contact(service, asso, email="second@asso.example.org")
    await _appoint(service, first, commune, OPENED_ON)
    clock.advance(days=100)
    await _appoint(service, second, asso, date(2025, 6, 1))
    tenures = await _tenures(service)
    events = await _people_events(service)
    assert [(t["contact_id"], t["starts_on"], t["ends_on"]) for t in tenures] == [
        (first, "2025-03-10", "2025-05-31"), (second, "2025-06-01", None)]
    assert [str(e.data.previous_contact_id) for e in events][1:] == [first]
    assert (await read_alliance(service))["chef_de_projet"]["contact_id"] == second


async def test_appointing_the_holder_again_changes_nothing(service: ServiceUnderTest) -> None:
    await open_alliance(service)
    commune = await _member(service, COMMUNE)
    person = await _contact(service, commune)
    await _appoint(service, person, commune, OPENED_ON)
    again = await service.http.post(f"/alliances/{CITE}/cpo", headers=AS_NATIONAL,
                                    json=_appointment(person, commune, OPENED_ON))
    assert again.status_code == 201, again.text
    assert len(await _tenures(service)) == 1
    assert len(await _people_events(service)) == 1


async def test_a_vacancy_ends_the_tenure_and_the_post_is_vacant_from_the_day_after(
    service: ServiceUnderTest, clock: FakeClock,
) -> None:
    await open_alliance(service)
    commune = await _member(service, COMMUNE)
    person = await _contact(service, commune)
    await _appoint(service, person, commune, OPENED_ON)
    clock.advance(days=60)
    vacancy = {"ends_on": "2025-04-30", "motive": "Fin du contrat de projet"}
    ended = await service.http.post(f"/alliances/{CITE}/cpo/vacancy", json=vacancy,
                                    headers=AS_PREFECTURE_93)
    again = await service.http.post(f"/alliances/{CITE}/cpo/vacancy", json=vacancy,
                                    headers=AS_NATIONAL)
    events = await _people_events(service)
    assert (ended.status_code, again.status_code) == (200, 200), ended.text
    assert (ended.json()["ends_on"], ended.json()["motive"]) == (
        "2025-04-30", "Fin du contrat de projet")
    assert (await read_alliance(service))["chef_de_projet"] == {
        "vacant": True, "since": "2025-05-01", "contact_id": None,
        "employer_partner_id": None}
    assert [e.type for e in events] == ["partners.ChefDeProjetAppointed",
                                        "partners.ChefDeProjetPostVacated"]
    assert (str(events[1].data.contact_id), events[1].data.ends_on, events[1].data.motive) == (
        person, date(2025, 4, 30), "Fin du contrat de projet")
    # Vacant already, another end date: nothing to end.
    await _refused_and_unchanged(service, "POST", f"/alliances/{CITE}/cpo/vacancy",
                                 {"ends_on": "2025-05-02"}, status=409, says="vacant")
    # A successor starts after the vacancy only.
    await _refused_and_unchanged(
        service, "POST", f"/alliances/{CITE}/cpo",
        _appointment(person, commune, date(2025, 4, 30)), status=422,
        rule="cpo_tenures_do_not_overlap")
    await _appoint(service, person, commune, date(2025, 5, 1))


async def _held_post(service: ServiceUnderTest, clock: FakeClock) -> dict[str, str]:
    """An alliance with a commune and an association members; the commune's consenting
    contact holds the post since the 20th of March, today is the 10th of May. Returns the
    ids: commune, asso (members), held (the holder), consenting, silent (commune's contacts),
    stranger (an association's contact, not a member), erased (a commune's, erased)."""
    await open_alliance(service)
    ids = {"commune": await _member(service, COMMUNE),
           "asso": await _member(service, association())}
    ids["held"] = await _contact(service, ids["commune"], email="held@bondy.example.fr")
    ids["consenting"] = await _contact(service, ids["commune"], email="next@bondy.example.fr")
    ids["silent"] = await _contact(service, ids["commune"], email="no@bondy.example.fr",
                                   consent=False)
    ids["erased"] = await _contact(service, ids["commune"], email="gone@bondy.example.fr")
    erased = await service.http.delete(f"/partners/{ids['commune']}/contacts/{ids['erased']}",
                                       headers=AS_NATIONAL)
    assert erased.status_code == 204
    outsider = await _register(service, association("44306184100047"))
    ids["stranger"] = await _contact(service, outsider, email="x@outside.example.org")
    ids["outsider"] = outsider
    clock.advance(days=61)  # the 10th of May
    await _appoint(service, ids["held"], ids["commune"], date(2025, 3, 20))
    return ids


@pytest.mark.parametrize(("who", "employer", "starts_on", "rule"), [
    ("consenting", "commune", "2025-05-11", "cpo_starts_on_not_future"),
    ("consenting", "commune", "2025-03-09", "cpo_starts_on_after_opening"),
    ("consenting", "commune", "2025-03-20", "cpo_tenures_do_not_overlap"),
    ("consenting", "commune", "2025-03-15", "cpo_tenures_do_not_overlap"),
    ("silent", "commune", "2025-05-01", "cpo_contact_consents"),
    ("erased", "commune", "2025-05-01", "cpo_contact_consents"),
    ("consenting", "asso", "2025-05-01", "cpo_is_a_contact_of_its_employer"),
    ("stranger", "outsider", "2025-05-01", "cpo_employer_is_a_member"),
])
async def test_an_appointment_breaking_a_rule_is_refused_naming_it(
    service: ServiceUnderTest, clock: FakeClock, who: str, employer: str, starts_on: str,
    rule: str,
) -> None:
    ids = await _held_post(service, clock)
    await _refused_and_unchanged(
        service, "POST", f"/alliances/{CITE}/cpo",
        _appointment(ids[who], ids[employer], date.fromisoformat(starts_on)),
        status=422, rule=rule)


@pytest.mark.parametrize(("ends_on", "rule"), [
    ("2025-05-11", "cpo_ends_on_not_future"),
    ("2025-03-19", "cpo_ends_on_after_start"),
])
async def test_a_vacancy_breaking_a_rule_is_refused_naming_it(
    service: ServiceUnderTest, clock: FakeClock, ends_on: str, rule: str,
) -> None:
    await _held_post(service, clock)
    await _refused_and_unchanged(service, "POST", f"/alliances/{CITE}/cpo/vacancy",
                                 {"ends_on": ends_on}, status=422, rule=rule)


async def test_a_post_never_held_has_no_vacancy_to_declare(service: ServiceUnderTest) -> None:
    await open_alliance(service)
    await _refused_and_unchanged(service, "POST", f"/alliances/{CITE}/cpo/vacancy",
                                 {"ends_on": OPENED_ON.isoformat()}, status=409,
                                 says="vacant")


async def test_a_closed_alliance_appoints_no_one(service: ServiceUnderTest) -> None:
    await open_alliance(service)
    commune = await _member(service, COMMUNE)
    person = await _contact(service, commune)
    async with service.runtime.unit_of_work() as uow:
        await use_cases.follow_labels(uow, [withdrawn(CITE)])
    await _refused_and_unchanged(service, "POST", f"/alliances/{CITE}/cpo",
                                 _appointment(person, commune, OPENED_ON), status=409,
                                 says="closed")


async def test_tenures_are_listed_a_page_at_a_time_in_the_order_they_began(
    service: ServiceUnderTest, clock: FakeClock,
) -> None:
    await open_alliance(service)
    commune = await _member(service, COMMUNE)
    people = [await _contact(service, commune, email=f"cpo{n}@bondy.example.fr")
              for n in range(3)]
    clock.advance(days=90)
    for n, person in enumerate(people):
        await _appoint(service, person, commune, OPENED_ON + timedelta(days=10 * n))
    pages = await read_pages(service.http, f"/alliances/{CITE}/cpo", headers=AS_VIEWER,
                             limit=2)
    assert [len(p) for p in pages] == [2, 1]
    assert [t["contact_id"] for p in pages for t in p] == people
    assert [t["ends_on"] for p in pages for t in p] == ["2025-03-19", "2025-03-29", None]


async def test_an_erased_chef_de_projet_leaves_only_an_id_in_the_tenures(
    service: ServiceUnderTest, clock: FakeClock,
) -> None:
    ids = await _held_post(service, clock)
    erased = await service.http.delete(f"/partners/{ids['commune']}/contacts/{ids['held']}",
                                       headers=AS_NATIONAL)
    tenures = await _tenures(service)
    rows = await service.runtime.pool.fetch("SELECT t::text AS row FROM cpo_tenures t")
    events = await _people_events(service)
    seen = json.dumps([tenures, await read_alliance(service), [r["row"] for r in rows],
                       envelopes_json(events)])
    assert erased.status_code == 204
    assert [t["contact_id"] for t in tenures] == [ids["held"]]
    assert "held@bondy.example.fr" not in seen
    assert "Anne Martin" not in seen


async def test_the_database_itself_refuses_two_current_chefs_de_projet(
    service: ServiceUnderTest, clock: FakeClock,
) -> None:
    ids = await _held_post(service, clock)
    with pytest.raises(asyncpg.UniqueViolationError, match="cpo_tenures_one_current"):
        await service.runtime.pool.execute(
            """INSERT INTO cpo_tenures (cite_id, contact_id, employer_partner_id, starts_on,
                                        appointed_at)
               VALUES ($1, $2, $3, '2025-05-01', now())""",
            CITE, ids["consenting"], ids["commune"])
