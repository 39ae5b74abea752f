"""Renewal over HTTP: only in the window before the current period ends (422 naming the
window otherwise, nothing changed); the new period starts the day after; the cité and its
history show both periods (as the dashboard's open data does, from LabelRenewed)."""

from __future__ import annotations

from datetime import date
from typing import Any

from labelling.expiry import expire_due_labels
from labelling_kit import Labelling

from cites_contracts.events.labelling import LabelRenewed
from cites_runtime.testing import (
    AS_NATIONAL,
    AS_PREFECTURE_69,
    AS_PREFECTURE_93,
    AS_VIEWER,
    FakeClock,
)

CURRENT = {"start": "2025-03-10", "end": "2028-03-09"}  # labelled on 2025-03-10
RENEWED = {"start": "2028-03-10", "end": "2031-03-09"}


async def test_a_renewal_before_the_window_is_422_naming_the_window_and_changes_nothing(
        service: Labelling) -> None:
    _, cite = await service.labelled()
    before = (await service.http.get(f"/cites/{cite}", headers=AS_VIEWER)).json()

    r = await service.http.post(f"/cites/{cite}/renewal", headers=AS_NATIONAL)

    assert r.status_code == 422
    assert r.json() == {
        "detail": [{"loc": ["label", "label_period"], "type": "renewal_window",
                    "msg": f"{cite} can be renewed only in the last 12 months of its period "
                           "(2025-03-10 – 2028-03-09): from 2027-03-10 to 2028-03-09; the "
                           "renewal is dated 2025-03-10"}],
        "renewal_window": {"opens_on": "2027-03-10", "closes_on": "2028-03-09"}}
    assert (await service.http.get(f"/cites/{cite}", headers=AS_VIEWER)).json() == before
    assert "labelling.LabelRenewed" not in await service.outbox()


async def test_a_renewal_after_the_period_ended_is_422_too(
        service: Labelling, clock: FakeClock) -> None:
    _, cite = await service.labelled()
    clock.set_date(date(2028, 3, 10))  # ended yesterday; not expired yet by the job
    r = await service.http.post(f"/cites/{cite}/renewal", headers=AS_NATIONAL)
    assert r.status_code == 422
    assert r.json()["renewal_window"] == {"opens_on": "2027-03-10", "closes_on": "2028-03-09"}


async def test_a_renewal_in_the_window_adds_the_next_period_and_keeps_the_current(
        service: Labelling, clock: FakeClock) -> None:
    _, cite = await service.labelled()
    clock.set_date(date(2027, 3, 10))  # the first day of the window

    r = await service.http.post(f"/cites/{cite}/renewal", headers=AS_NATIONAL,
                                json={"convention_signed_on": "2027-03-10"})

    assert r.status_code == 200
    assert r.json()["label_period"] == CURRENT  # still in force until 2028-03-09
    unsigned = {"signatories": [], "amendments": []}
    assert r.json()["periods"] == [{**CURRENT, "convention_signed_on": None, **unsigned},
                                   {**RENEWED, "convention_signed_on": "2027-03-10",
                                    **unsigned}]
    [renewed] = await service.running.outbox("LabelRenewed")
    assert isinstance(renewed.data, LabelRenewed)
    assert renewed.data.previous_period.model_dump(mode="json") == CURRENT
    assert renewed.data.label_period.model_dump(mode="json") == RENEWED


async def test_the_renewed_period_is_in_force_the_day_after_the_current_ends(
        service: Labelling, clock: FakeClock) -> None:
    _, cite = await service.labelled()
    clock.set_date(date(2028, 3, 9))
    await service.http.post(f"/cites/{cite}/renewal", headers=AS_NATIONAL)
    on_last_day = (await service.http.get(f"/cites/{cite}", headers=AS_VIEWER)).json()
    clock.set_date(date(2028, 3, 10))
    next_day = (await service.http.get(f"/cites/{cite}", headers=AS_VIEWER)).json()
    assert (on_last_day["label_period"], next_day["label_period"]) == (CURRENT, RENEWED)
    assert next_day["status"] == "labelled"


async def test_the_cite_history_shows_both_periods(service: Labelling, clock: FakeClock) -> None:
    _, cite = await service.labelled()
    clock.set_date(date(2027, 9, 1))
    await service.http.post(f"/cites/{cite}/renewal", headers=AS_NATIONAL)
    shown = (await service.http.get(f"/cites/{cite}", headers=AS_VIEWER)).json()
    assert [(h["kind"], h["label_period"]) for h in shown["history"]] == [
        ("TerritoryLabelled", CURRENT), ("LabelRenewed", RENEWED)]
    assert [{"start": p["start"], "end": p["end"]} for p in shown["periods"]] == [
        CURRENT, RENEWED]


async def test_a_re_application_filed_in_time_lets_the_renewal_come_after_the_period(
        service: Labelling, clock: FakeClock) -> None:
    _, cite = await service.labelled()  # 2025-03-10 – 2028-03-09
    clock.set_date(date(2028, 1, 15))
    elsewhere = await service.http.post(f"/cites/{cite}/renewal-application",
                                        headers=AS_PREFECTURE_93)
    applied = await service.http.post(f"/cites/{cite}/renewal-application",
                                      headers=AS_PREFECTURE_69, json={"filed_on": "2028-01-10"})
    assert elsewhere.status_code == 403
    assert applied.status_code == 200, applied.text
    assert applied.json()["renewal_applied_on"] == "2028-01-10"

    clock.set_date(date(2028, 4, 20))  # the period ended; the expiry job passes it by
    assert await expire_due_labels(service.runtime) == []
    renewed = await service.http.post(f"/cites/{cite}/renewal", headers=AS_NATIONAL,
                                      json={"decided_on": "2028-04-18"})

    assert renewed.status_code == 200, renewed.text
    body = renewed.json()
    assert (body["status"], body["renewal_applied_on"]) == ("labelled", None)
    assert body["label_period"] == RENEWED  # in force since 2028-03-10, decided later
    assert await service.outbox() == ["labelling.CandidatureSubmitted",
                                      "labelling.CandidatureReviewStarted",
                                      "labelling.TerritoryLabelled", "labelling.RenewalApplied",
                                      "labelling.LabelRenewed"]


async def test_a_refused_re_application_lets_the_label_expire(
        service: Labelling, clock: FakeClock) -> None:
    _, cite = await service.labelled()
    clock.set_date(date(2028, 1, 15))
    await service.http.post(f"/cites/{cite}/renewal-application", headers=AS_PREFECTURE_69)
    clock.set_date(date(2028, 4, 20))

    refused = await service.http.post(f"/cites/{cite}/renewal-refusal", headers=AS_NATIONAL,
                                      json={"motive": "Revue de projet non transmise"})

    assert refused.status_code == 200, refused.text
    assert await expire_due_labels(service.runtime) == [cite]
    got = (await service.http.get(f"/cites/{cite}", headers=AS_VIEWER)).json()
    assert (got["status"], got["status_since"]) == ("expired", "2028-03-10")
    assert [h["kind"] for h in got["history"]] == [
        "TerritoryLabelled", "RenewalApplied", "RenewalRefused", "LabelExpired"]


async def test_bad_input_at_the_re_application_and_refusal_is_4xx_and_changes_nothing(
        service: Labelling, clock: FakeClock) -> None:
    _, cite = await service.labelled()
    clock.set_date(date(2028, 1, 15))
    answers = [
        await service.http.post(f"/cites/{cite}/renewal-application", headers=AS_PREFECTURE_69,
                                json={"filed_on": "le 10 janvier"}),
        await service.http.post(f"/cites/{cite}/renewal-application", headers=AS_PREFECTURE_69,
                                json={"filed_on": "2028-01-10", "period": "2028"}),
        await service.http.post(f"/cites/{cite}/renewal-application", headers=AS_PREFECTURE_69,
                                json={"filed_on": "2027-01-10"}),  # before the window
        await service.http.post("/cites/cite-999/renewal-application", headers=AS_PREFECTURE_69),
        await service.http.post(f"/cites/{cite}/renewal-refusal", headers=AS_NATIONAL,
                                json={}),  # no motive
        await service.http.post(f"/cites/{cite}/renewal-refusal", headers=AS_NATIONAL,
                                json={"motive": "Rien à renouveler"}),  # nothing pending
    ]

    assert [a.status_code for a in answers] == [422, 422, 422, 404, 422, 409]
    got = (await service.http.get(f"/cites/{cite}", headers=AS_VIEWER)).json()
    assert got["renewal_applied_on"] is None
    assert not {"labelling.RenewalApplied", "labelling.RenewalRefused"} & set(
        await service.outbox())


def _perimeter(cite: dict[str, Any], *, qpvs: list[dict[str, Any]] | None = None,
               schools: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """The cité's perimeter as a renewal states it, with ``qpvs`` or ``schools`` changed."""
    p = cite["perimeter"]
    return {"communes": p["communes"], "qpv_list": "2024", "qpvs": qpvs or p["qpvs"],
            "schools": schools or p["schools"]}


async def test_a_renewal_may_give_the_cite_a_new_perimeter_which_it_then_holds(
        service: Labelling, clock: FakeClock) -> None:
    _, cite = await service.labelled()
    _, other = await service.labelled()
    clock.set_date(date(2027, 3, 10))
    before = (await service.http.get(f"/cites/{cite}", headers=AS_VIEWER)).json()
    held = (await service.http.get(f"/cites/{other}", headers=AS_VIEWER)).json()[
        "perimeter"]["qpvs"]
    new_qpv = {"code": "QN06977Z", "name": "Les Noirettes", "population": 2100}

    taken = await service.http.post(f"/cites/{cite}/renewal", headers=AS_NATIONAL, json={
        "perimeter": _perimeter(before, qpvs=[*before["perimeter"]["qpvs"], *held])})
    no_lead = await service.http.post(f"/cites/{cite}/renewal", headers=AS_NATIONAL, json={
        "perimeter": _perimeter(before, schools=[
            s for s in before["perimeter"]["schools"] if s["uai"] != before[
                "lead_college_uai"]])})
    assert (await service.http.get(f"/cites/{cite}", headers=AS_VIEWER)).json() == before
    r = await service.http.post(f"/cites/{cite}/renewal", headers=AS_NATIONAL, json={
        "perimeter": _perimeter(before, qpvs=[new_qpv])})

    assert taken.status_code == 409 and held[0]["code"] in taken.json()["detail"]
    assert no_lead.status_code == 422
    assert no_lead.json()["detail"][0]["type"] == "lead_college_in_perimeter"
    assert r.status_code == 200, r.text
    assert [q["code"] for q in r.json()["perimeter"]["qpvs"]] == ["QN06977Z"]
    [renewed] = await service.running.outbox("LabelRenewed")
    assert isinstance(renewed.data, LabelRenewed) and renewed.data.perimeter is not None
    assert [q.code for q in renewed.data.perimeter.qpvs] == ["QN06977Z"]
    # The QPV it left is free: another cité's renewal may take it now.
    freed = before["perimeter"]["qpvs"][0]
    o = (await service.http.get(f"/cites/{other}", headers=AS_VIEWER)).json()
    took = await service.http.post(f"/cites/{other}/renewal", headers=AS_NATIONAL, json={
        "perimeter": _perimeter(o, qpvs=[*o["perimeter"]["qpvs"], freed])})
    assert took.status_code == 200, took.text
