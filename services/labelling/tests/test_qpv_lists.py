"""QPV lists and Saint-Martin: a wave's perimeters refer to one QPV list (the 2015 list,
codes ``QP…``, for the 2019–2022 waves; the 2024 list, codes ``QN…``, since), a perimeter
says which and keeps it; Saint-Martin (978) files candidatures like any département."""

from __future__ import annotations

from typing import Any

import pytest
from labelling.domain import Ineligible, Label, first_period
from labelling.domain.dossier import Addition
from labelling.domain.waves import CRITERIA_2019
from labelling.examples import CRITERIA_2024_SCORES
from labelling_kit import (
    NATIONAL,
    NOW,
    TODAY,
    WAVE_2024,
    Labelling,
    commune,
    qpv,
    school,
    submitted,
    wave,
)
from labelling_kit import dossier as a_dossier

from cites_contracts.events.labelling import CandidatureSubmitted, TerritoryLabelled
from cites_contracts.types import QpvList
from cites_runtime.actor import Actor, Role
from cites_runtime.errors import RuleBroken
from cites_runtime.testing import AS_NATIONAL, AS_PREFECTURE_69, AS_PREFECTURE_978, AS_VIEWER

WAVE_2019 = wave("2019-v1", id="2019", qpv_list=QpvList.LIST_2015)
PREFECTURE_978 = Actor(Role.PREFECTURE, "pref-978", "978")
SAINT_MARTIN: dict[str, Any] = {
    "territory_name": "Saint-Martin", "communes": [commune("97801", "Saint-Martin")],
    "qpvs": [qpv("QN97801A", 6100, "Quartier d'Orléans")],
    "lead_college_uai": "9780011K",
    "schools": [school("9780011K", name="Collège Mont des Accords"),
                school("9780012L", "ecole", "rep", "École Aline Hanson")]}


# --- the domain -------------------------------------------------------------------------------


def labelled_on_2015_list() -> tuple[Label, TerritoryLabelled]:
    """A cité of the 2019 wave whose perimeter holds 2015-list QPVs."""
    w = wave("2019-v1", id="2019", qpv_list=QpvList.LIST_2015)
    c = submitted(w, qpvs=[qpv("QP069033", 27350)])
    c.score(wave=w, scores={k: (4, "") for k in CRITERIA_2019}, actor=NATIONAL, now=NOW)
    return c.label(wave=w, cite_id="cite-001", period=first_period(TODAY, 3),
                   decided_on=TODAY, convention_signed_on=None, motive="Solide",
                   actor=NATIONAL, now=NOW)


def test_a_2019_wave_perimeter_of_the_2015_list_is_filed_and_says_its_list() -> None:
    c = submitted(WAVE_2019, qpvs=[qpv("QP069033", 27350), qpv("QP069034", 1610)])
    assert c.status.value == "submitted"
    label, event = labelled_on_2015_list()
    assert label.perimeter.qpv_list is QpvList.LIST_2015
    assert event.perimeter.qpv_list is QpvList.LIST_2015
    assert [q.code for q in event.perimeter.qpvs] == ["QP069033"]


def test_a_perimeter_mixing_the_lists_is_refused_naming_the_odd_qpvs() -> None:
    with pytest.raises(Ineligible) as caught:
        submitted(WAVE_2019, qpvs=[qpv("QP069033", 27350), qpv("QN06902M", 1610)])
    failure, = [f for f in caught.value.failures if f.rule == "qpvs_of_the_wave_list"]
    assert failure.field == "qpvs"
    assert failure.message.startswith(
        "QPV(s) QN06902M are not of the 2015 list (codes QP…) the wave's perimeters refer to")


def test_a_généralisation_candidature_names_qpvs_of_the_2024_list() -> None:
    with pytest.raises(Ineligible) as caught:
        submitted(wave(), qpvs=[qpv("QP069033")])
    assert [f.message.split(";")[0] for f in caught.value.failures] == [
        "QPV(s) QP069033 are not of the 2024 list (codes QN…) the wave's perimeters refer to"]


def test_saint_martin_files_in_its_own_territory() -> None:
    c = submitted(wave(), by=PREFECTURE_978, **SAINT_MARTIN)
    assert (c.departement, c.status.value) == ("978", "submitted")


def test_an_extension_of_a_2015_perimeter_refuses_a_2024_qpv_and_takes_a_2015_one() -> None:
    label, _ = labelled_on_2015_list()

    with pytest.raises(RuleBroken) as caught:
        label.extend(Addition(qpvs=(a_qpv("QN06902M"),)), decided_on=TODAY, actor=NATIONAL,
                     today=TODAY, now=NOW)
    assert [(f.field, f.rule, f.message) for f in caught.value.failures] == [
        ("qpvs", "qpvs_of_the_perimeter_list",
         "QPV QN06902M is not of the 2015 list the perimeter of cite-001 refers to")]

    extended = label.extend(Addition(qpvs=(a_qpv("QP069034"),)), decided_on=TODAY,
                            actor=NATIONAL, today=TODAY, now=NOW)
    assert extended is not None and extended.perimeter.qpv_list is QpvList.LIST_2015
    assert [q.code for q in extended.perimeter.qpvs] == ["QP069033", "QP069034"]


def a_qpv(code: str) -> Any:
    return a_dossier(qpvs=[qpv(code)]).qpvs[0]


# --- over HTTP --------------------------------------------------------------------------------


async def plan_2015_wave(service: Labelling, wave_id: str = "2026-liste-2015") -> None:
    planned = await service.http.post("/waves", headers=AS_NATIONAL, json={
        "id": wave_id, "year": 2026, "title": "Vague sur la liste 2015", "rule_set": "2024-v1",
        "review_criteria": list(CRITERIA_2024_SCORES), "target_count": 5, "qpv_list": "2015"})
    assert planned.status_code == 201, planned.text
    assert planned.json()["qpv_list"] == "2015"
    opened = await service.http.post(f"/waves/{wave_id}/open", headers=AS_NATIONAL)
    assert opened.status_code == 200, opened.text


async def test_each_wave_says_the_qpv_list_of_its_perimeters(service: Labelling) -> None:
    waves = (await service.http.get("/waves", headers=AS_VIEWER)).json()["items"]
    lists = {w["id"]: w["qpv_list"] for w in waves}
    assert {k: lists[k] for k in ("2019", "2021", "2022", WAVE_2024)} == {
        "2019": "2015", "2021": "2015", "2022": "2015", WAVE_2024: "2024"}


async def test_a_cite_of_the_2015_list_is_labelled_and_its_events_say_so(service: Labelling
                                                                         ) -> None:
    await plan_2015_wave(service)
    _, cite = await service.labelled(wave_id="2026-liste-2015",
                                     qpvs=[qpv("QP069033", 27350), qpv("QP069034", 1610)])

    got = (await service.http.get(f"/cites/{cite}", headers=AS_VIEWER)).json()
    assert got["perimeter"]["qpv_list"] == "2015"
    assert [q["code"] for q in got["perimeter"]["qpvs"]] == ["QP069033", "QP069034"]
    events = await service.running.outbox("CandidatureSubmitted", "TerritoryLabelled")
    assert [(type(e.data), e.version, e.data.perimeter.qpv_list) for e in events
            if isinstance(e.data, CandidatureSubmitted | TerritoryLabelled)] == [
        (CandidatureSubmitted, 3, QpvList.LIST_2015), (TerritoryLabelled, 2, QpvList.LIST_2015)]


async def test_mixing_the_lists_is_refused_with_a_422_naming_the_odd_ones(service: Labelling
                                                                          ) -> None:
    await plan_2015_wave(service)
    cid = await service.draft(wave_id="2026-liste-2015",
                              qpvs=[qpv("QP069033", 27350), qpv("QN06902M", 1610, "Herpe")])

    r = await service.http.post(f"/candidatures/{cid}/submission", headers=AS_PREFECTURE_69)

    assert r.status_code == 422, r.text
    messages = [e["msg"] for e in r.json()["detail"] if e["type"] == "qpvs_of_the_wave_list"]
    assert len(messages) == 1 and messages[0].startswith(
        "QPV(s) QN06902M are not of the 2015 list (codes QP…)")
    assert await service.outbox() == []


async def test_saint_martin_files_a_candidature_and_is_labelled(service: Labelling) -> None:
    r = await service.http.post("/candidatures", headers=AS_PREFECTURE_978, json={
        "wave_id": WAVE_2024, "departement": "978", **_eligible(SAINT_MARTIN)})
    assert r.status_code == 201, r.text
    cid = r.json()["id"]
    submitted_ = await service.http.post(f"/candidatures/{cid}/submission",
                                         headers=AS_PREFECTURE_978)
    assert submitted_.status_code == 200, submitted_.text
    await service.http.put(f"/candidatures/{cid}/review", headers=AS_NATIONAL,
                           json={"scores": CRITERIA_2024_SCORES})
    decided = await service.http.post(f"/candidatures/{cid}/decision", headers=AS_NATIONAL,
                                      json={"outcome": "label", "motive": "Dossier solide"})
    assert decided.status_code == 200, decided.text

    cites = (await service.http.get("/cites", params={"departement": "978"},
                                    headers=AS_VIEWER)).json()["items"]
    assert [(c["departement"], c["name"]) for c in cites] == [("978", "Saint-Martin")]


def _eligible(territory: dict[str, Any]) -> dict[str, Any]:
    from labelling_kit import dossier_body
    body = dossier_body(**territory)
    del body["wave_id"], body["departement"]
    return body
