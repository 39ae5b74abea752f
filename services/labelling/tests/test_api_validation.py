"""Bad input is a 422 naming the field (``loc``) and the rule (``type``), and changes nothing."""

from __future__ import annotations

import json
from typing import Any

import pytest
from labelling_kit import TODAY, Labelling, commune, dossier_body, qpv

from cites_runtime.testing import AS_NATIONAL, AS_PREFECTURE_69, AS_VIEWER


def errors(response: Any) -> list[tuple[tuple[Any, ...], str]]:
    assert response.status_code == 422, response.text
    return [(tuple(e["loc"]), e["type"]) for e in response.json()["detail"]]


@pytest.mark.parametrize(("overrides", "loc", "rule"), [
    ({"communes": [commune("20004", "Ajaccio")]}, ("body", "communes", 0, "insee_code"),
     "insee_code"),
    ({"qpvs": [qpv("QP06901M")]}, ("body", "qpvs", 0, "code"), "qpv_code"),
    ({"schools": [{"uai": "069123", "kind": "college", "name": "C",
                   "education_priority": "rep"}]}, ("body", "schools", 0, "uai"), "uai"),
    ({"departement": "20"}, ("body", "departement"), "departement"),
    ({"qpvs": [qpv(), qpv()]}, ("body", "qpvs"), "duplicate"),
    ({"troika": [{"role": "maire", "email": "a@b.fr"}, {"role": "maire", "email": "c@d.fr"}]},
     ("body", "troika"), "duplicate"),
    ({"troika": [{"role": "prefet", "email": "pas-un-mail"}]}, ("body", "troika", 0, "email"),
     "email"),
    ({"requested_annual_contribution": 2.5e7}, ("body", "requested_annual_contribution"),
     "cents"),
    ({"requested_annual_contribution": -1}, ("body", "requested_annual_contribution"),
     "cents_negative"),
    ({"territory_name": "Vaulx\x00"}, ("body", "territory_name"), "text_nul"),
    ({"diagnostic": "\ud800"}, ("body", "diagnostic"), "string_unicode"),
    ({"budget": 12}, ("body", "budget"), "extra_forbidden"),
    ({"wave_id": "2031-inconnue"}, ("body", "wave_id"), "known_wave"),
])
async def test_a_malformed_candidature_is_refused_naming_field_and_rule(
        service: Labelling, overrides: dict[str, Any], loc: tuple[Any, ...], rule: str) -> None:
    # Sent as raw JSON: "\ud800" travels escaped, as any client may send it.
    r = await service.http.post("/candidatures", content=json.dumps(dossier_body(**overrides)),
                                headers={**AS_PREFECTURE_69, "content-type": "application/json"})
    assert (loc, rule) in errors(r)
    assert (await service.http.get("/candidatures", headers=AS_NATIONAL)).json()["items"] == []


async def test_an_ineligible_submission_lists_the_failed_rules_and_stays_a_draft(
        service: Labelling) -> None:
    cid = await service.draft(wave_id="2024-generalisation", qpvs=[], lead_college_uai=None,
                              diagnostic="")
    r = await service.http.post(f"/candidatures/{cid}/submission", headers=AS_PREFECTURE_69)
    assert errors(r) == [(("dossier", "diagnostic"), "diagnostic_given"),
                         (("dossier", "qpvs"), "qpv_listed"),
                         (("dossier", "lead_college_uai"), "lead_college_in_perimeter")]
    assert r.json()["rule_set"] == "2024-v1"
    assert r.json()["detail"][1]["msg"] == (
        "the perimeter lists no QPV; the 2024 rules (2024-v1) require at least one QPV")
    shown = (await service.http.get(f"/candidatures/{cid}", headers=AS_VIEWER)).json()
    assert (shown["status"], shown["submitted_at"]) == ("draft", None)
    assert await service.outbox() == []


async def test_a_review_scores_only_the_wave_criteria_from_0_to_5(service: Labelling) -> None:
    cid = await service.submitted()
    unknown = await service.http.put(f"/candidatures/{cid}/review", headers=AS_NATIONAL,
                                     json={"scores": {"indicator_precision": {"score": 3}}})
    too_high = await service.http.put(f"/candidatures/{cid}/review", headers=AS_NATIONAL,
                                      json={"scores": {"means": {"score": 6}}})
    empty = await service.http.put(f"/candidatures/{cid}/review", headers=AS_NATIONAL,
                                   json={"scores": {}})
    assert errors(unknown) == [(("body", "scores"), "wave_criterion")]
    assert errors(too_high) == [(("body", "scores", "means", "score"), "less_than_equal")]
    assert errors(empty) == [(("body", "scores"), "too_short")]
    assert await service.outbox() == ["labelling.CandidatureSubmitted"]


async def test_a_decision_needs_a_motive_and_a_rejection_has_no_convention(
        service: Labelling) -> None:
    cid = await service.under_review()
    no_motive = await service.http.post(f"/candidatures/{cid}/decision", headers=AS_NATIONAL,
                                        json={"outcome": "label", "motive": "  "})
    odd = await service.http.post(f"/candidatures/{cid}/decision", headers=AS_NATIONAL,
                                  json={"outcome": "reject", "motive": "Non retenu",
                                        "convention_signed_on": str(TODAY)})
    future = await service.http.post(f"/candidatures/{cid}/decision", headers=AS_NATIONAL,
                                     json={"outcome": "label", "motive": "Retenu",
                                           "convention_signed_on": "2025-03-11"})
    assert errors(no_motive) == [(("body", "motive"), "string_too_short")]
    assert errors(odd) == [(("body", "convention_signed_on"), "convention_with_label")]
    assert errors(future) == [(("body", "convention_signed_on"), "convention_not_future")]
    assert "labelling.TerritoryLabelled" not in await service.outbox()


async def test_an_extension_outside_the_departement_is_refused(service: Labelling) -> None:
    _, cite = await service.labelled()
    r = await service.http.post(f"/cites/{cite}/extension", headers=AS_NATIONAL,
                                json={"qpvs": [qpv("QN03801A")]})
    assert errors(r) == [(("body", "qpvs"), "qpvs_in_departement")]
    assert "labelling.PerimeterExtended" not in await service.outbox()


async def test_a_wave_names_a_known_rule_set_and_a_coherent_window(service: Labelling) -> None:
    wave = {"id": "2030", "year": 2030, "title": "Vague 2030", "review_criteria": ["means"],
            "target_count": 10}
    unknown = await service.http.post("/waves", headers=AS_NATIONAL,
                                      json={**wave, "rule_set": "2030-v1"})
    backwards = await service.http.post("/waves", headers=AS_NATIONAL, json={
        **wave, "rule_set": "2024-v1",
        "filing": {"opens_on": "2030-06-01", "closes_on": "2030-01-01"}})
    assert errors(unknown) == [(("body", "rule_set"), "known_rule_set")]
    assert errors(backwards) == [(("body", "filing"), "filing_window")]


@pytest.mark.parametrize(("path", "params", "loc"), [
    ("/candidatures", {"departement": "20"}, ("query", "departement")),
    ("/candidatures", {"status": "accepted"}, ("query", "status")),
    ("/candidatures", {"limit": 0}, ("query", "limit")),
    ("/cites", {"cursor": "not-a-cursor"}, ("query", "cursor")),
    ("/cites", {"wave": "Vague 2019"}, ("query", "wave")),
    ("/candidatures/not-a-uuid", {}, ("path", "candidature_id")),
    ("/cites/cite-1", {}, ("path", "cite_id")),
])
async def test_malformed_queries_are_refused(service: Labelling, path: str,
                                             params: dict[str, Any], loc: tuple[str, ...]
                                             ) -> None:
    r = await service.http.get(path, params=params, headers=AS_NATIONAL)
    assert [e[0] for e in errors(r)] == [loc]
