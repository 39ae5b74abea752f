"""The service in isolation (HTTP in-process, FastStream's in-memory broker, real
PostgreSQL): a candidature's whole life, the cité's, and the queries."""

from __future__ import annotations

from datetime import date

from labelling_kit import TODAY, WAVE_2024, Labelling, commune, dossier_body, qpv

from cites_contracts.events.labelling import TerritoryLabelled
from cites_runtime.testing import (
    AS_NATIONAL,
    AS_PREFECTURE_69,
    AS_PREFECTURE_93,
    AS_VIEWER,
    FakeClock,
)


async def test_a_candidature_becomes_a_cite_and_every_step_is_published(service: Labelling) -> None:
    cid = await service.draft()
    await service.http.post(f"/candidatures/{cid}/submission", headers=AS_PREFECTURE_69)
    await service.http.put(f"/candidatures/{cid}/review", headers=AS_NATIONAL, json={
        "scores": {c: {"score": 4, "comment": "solide"} for c in (
            "perimeter", "diagnostic", "objectives", "governance", "steering", "action_plan",
            "means", "identity", "quality_approach")}})
    decided = await service.http.post(
        f"/candidatures/{cid}/decision", headers=AS_NATIONAL,
        json={"outcome": "label", "motive": "Alliance solide", "convention_signed_on": str(TODAY)})

    types = await service.published_types(3)
    assert decided.status_code == 200
    assert decided.json()["status"] == "labelled"
    assert decided.json()["cite_id"] == "cite-001"
    assert types == ["labelling.CandidatureSubmitted", "labelling.CandidatureReviewStarted",
                     "labelling.TerritoryLabelled"]
    events = [e for e in service.published if e.type != "labelling.TroikaContactPublished"]
    labelled = events[2].data
    assert isinstance(labelled, TerritoryLabelled)
    assert labelled.cite_id == "cite-001"
    assert str(labelled.candidature_id) == cid
    assert labelled.wave.id == WAVE_2024
    assert labelled.departement == "69"
    assert labelled.lead_college_uai == "0691234A"
    assert [s.uai for s in labelled.perimeter.schools] == ["0691234A", "0695678B"]
    assert (labelled.label_period.start, labelled.label_period.end) == (TODAY, date(2028, 3, 9))
    assert labelled.convention_signed_on == TODAY
    assert labelled.requested_annual_contribution == 25_000_000
    assert events[2].aggregate_id == "cite-001"


async def test_cite_ids_follow_each_other(service: Labelling) -> None:
    _, first = await service.labelled()
    _, second = await service.labelled(territory_name="Vénissieux")
    assert (first, second) == ("cite-001", "cite-002")


async def test_a_cite_shows_its_history(service: Labelling, clock: FakeClock) -> None:
    _, cite = await service.labelled()
    http = service.http
    clock.advance(days=30)
    await http.post(f"/cites/{cite}/convention", headers=AS_PREFECTURE_69,
                    json={"signed_on": "2025-04-01"})
    await http.post(f"/cites/{cite}/extension", headers=AS_NATIONAL,
                    json={"communes": [commune("69259", "Vénissieux")],
                          "qpvs": [qpv("QN06907B", 2100, "Les Minguettes")]})
    await http.post(f"/cites/{cite}/suspension", headers=AS_NATIONAL,
                    json={"motive": "Aucun comité de pilotage depuis un an"})
    await http.post(f"/cites/{cite}/reinstatement", headers=AS_NATIONAL, json={})
    clock.set_date(date(2027, 6, 1))  # renewal opens in the last 12 months of the period
    await http.post(f"/cites/{cite}/renewal", headers=AS_NATIONAL)
    shown = await http.get(f"/cites/{cite}", headers=AS_VIEWER)

    assert shown.status_code == 200
    body = shown.json()
    assert [h["kind"] for h in body["history"]] == [
        "TerritoryLabelled", "ConventionSigned", "PerimeterExtended", "LabelSuspended",
        "LabelReinstated", "LabelRenewed"]
    assert body["history"][3]["motive"] == "Aucun comité de pilotage depuis un an"
    assert body["history"][3]["actor"] == "coordination-nationale"
    assert body["history"][2]["added"]["communes"] == [commune("69259", "Vénissieux")]
    assert body["label_period"] == {"start": "2025-03-10", "end": "2028-03-09"}  # in force
    assert [(p["start"], p["end"]) for p in body["periods"]] == [
        ("2025-03-10", "2028-03-09"), ("2028-03-10", "2031-03-09")]
    assert body["status"] == "labelled"
    assert [c["insee_code"] for c in body["perimeter"]["communes"]] == ["69256", "69259"]
    assert (await service.outbox())[-6:] == [
        "labelling.TerritoryLabelled", "labelling.ConventionSigned",
        "labelling.PerimeterExtended", "labelling.LabelSuspended",
        "labelling.LabelReinstated", "labelling.LabelRenewed"]


async def test_candidatures_are_listed_by_wave_status_and_departement_page_by_page(
        service: Labelling) -> None:
    for n in range(3):
        await service.submitted(territory_name=f"Territoire {n}")
    await service.draft()
    await service.draft(AS_PREFECTURE_93, departement="93",
                        communes=[commune("93066", "Saint-Denis")], qpvs=[qpv("QN09301A")])
    http = service.http

    submitted = (await http.get("/candidatures", headers=AS_NATIONAL,
                                params={"status": "submitted", "limit": 2})).json()
    rest = (await http.get("/candidatures", headers=AS_NATIONAL, params={
        "status": "submitted", "limit": 2, "cursor": submitted["next_cursor"]})).json()
    in_93 = (await http.get("/candidatures", headers=AS_NATIONAL,
                            params={"departement": "93"})).json()
    other_wave = (await http.get("/candidatures", headers=AS_NATIONAL,
                                 params={"wave": "2021"})).json()
    own = (await http.get("/candidatures", headers=AS_PREFECTURE_69)).json()

    assert (len(submitted["items"]), len(rest["items"])) == (2, 1)
    assert submitted["next_cursor"] is not None and rest["next_cursor"] is None
    assert {i["territory_name"] for i in submitted["items"] + rest["items"]} == {
        "Territoire 0", "Territoire 1", "Territoire 2"}
    assert [i["departement"] for i in in_93["items"]] == ["93"]
    assert other_wave == {"items": [], "next_cursor": None}
    assert len(own["items"]) == 4  # the préfecture of the Rhône sees only the Rhône


async def test_a_viewer_reads_a_candidature_without_the_troika_mailboxes(
        service: Labelling) -> None:
    cid = await service.submitted()
    as_viewer = (await service.http.get(f"/candidatures/{cid}", headers=AS_VIEWER)).json()
    as_owner = (await service.http.get(f"/candidatures/{cid}", headers=AS_PREFECTURE_69)).json()
    assert as_viewer["troika_redacted"] is True
    assert as_viewer["dossier"]["troika"] == []
    assert len(as_owner["dossier"]["troika"]) == 3


async def test_cites_are_listed_by_status_and_a_withdrawn_one_keeps_its_facts(
        service: Labelling) -> None:
    # The open data these facts feed is the dashboard's (its tests/test_opendata.py).
    _, first = await service.labelled()
    _, second = await service.labelled(territory_name="Vénissieux",
                                       communes=[commune("69259", "Vénissieux")],
                                       qpvs=[qpv("QN06907B"), qpv("QN06908C")])
    await service.http.post(f"/cites/{second}/withdrawal", headers=AS_NATIONAL,
                            json={"motive": "Retrait à la demande de la commune"})
    http = service.http

    listed = (await http.get("/cites", headers=AS_VIEWER, params={"status": "labelled"})).json()
    every = (await http.get("/cites", headers=AS_VIEWER)).json()
    withdrawn = (await http.get(f"/cites/{second}", headers=AS_VIEWER)).json()

    assert [c["cite_id"] for c in listed["items"]] == [first]
    assert [c["cite_id"] for c in every["items"]] == [first, second]
    assert {k: withdrawn[k] for k in ("cite_id", "name", "departement", "status",
                                      "label_period")} == {
        "cite_id": second, "name": "Vénissieux", "departement": "69", "status": "withdrawn",
        "label_period": {"start": "2025-03-10", "end": "2028-03-09"}}
    assert [c["insee_code"] for c in withdrawn["perimeter"]["communes"]] == ["69259"]
    assert [q["code"] for q in withdrawn["perimeter"]["qpvs"]] == ["QN06907B", "QN06908C"]
    assert withdrawn["wave"]["id"] == WAVE_2024
    assert [{"start": p["start"], "end": p["end"]} for p in withdrawn["periods"]] == [
        {"start": "2025-03-10", "end": "2028-03-09"}]


async def test_the_national_coordination_plans_opens_and_closes_a_wave(service: Labelling) -> None:
    http = service.http
    planned = await http.post("/waves", headers=AS_NATIONAL, json={
        "id": "2026-outre-mer", "year": 2026, "title": "Vague outre-mer", "rule_set": "2024-v1",
        "filing": {"opens_on": "2025-03-01", "closes_on": "2025-06-30"},
        "review_criteria": ["perimeter", "diagnostic"], "target_count": 12})
    cid = await service.draft(wave_id="2026-outre-mer")
    too_early = await http.post(f"/candidatures/{cid}/submission", headers=AS_PREFECTURE_69)
    opened = await http.post("/waves/2026-outre-mer/open", headers=AS_NATIONAL)
    on_time = await http.post(f"/candidatures/{cid}/submission", headers=AS_PREFECTURE_69)
    closed = await http.post("/waves/2026-outre-mer/close", headers=AS_NATIONAL)
    late = await http.post("/candidatures", headers=AS_PREFECTURE_69,
                           json=dossier_body(wave_id="2026-outre-mer"))
    waves = (await http.get("/waves", headers=AS_VIEWER)).json()["items"]
    first = (await http.get("/waves", headers=AS_VIEWER, params={"limit": 3})).json()
    rest = (await http.get("/waves", headers=AS_VIEWER,
                           params={"limit": 3, "cursor": first["next_cursor"]})).json()

    assert planned.status_code == 201
    assert planned.json()["status"] == "planned"
    assert too_early.status_code == 409
    assert opened.json()["status"] == "open"
    assert on_time.status_code == 200
    assert closed.json()["status"] == "closed"
    assert late.status_code == 409
    assert [w["id"] for w in waves] == ["2019", "2021", "2022", WAVE_2024, "2026-outre-mer"]
    assert waves[-1]["submitted_count"] == 1
    assert [w["id"] for w in first["items"] + rest["items"]] == [w["id"] for w in waves]
    assert rest["next_cursor"] is None
