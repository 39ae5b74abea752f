"""Wrong state is a 409, unknown ids a 404; repeating a decision or a state change is a
no-op answered 200 with no second event."""

from __future__ import annotations

import asyncio
from datetime import date

from labelling_kit import Labelling, dossier_body

from cites_runtime.testing import AS_NATIONAL, AS_PREFECTURE_69, AS_VIEWER, FakeClock

LABEL = {"outcome": "label", "motive": "Alliance solide"}
REJECT = {"outcome": "reject", "motive": "Diagnostic trop général"}


async def test_repeating_the_same_decision_is_a_no_op(service: Labelling) -> None:
    cid, cite = await service.labelled()
    again = await service.http.post(f"/candidatures/{cid}/decision", headers=AS_NATIONAL,
                                    json=LABEL)
    assert again.status_code == 200
    assert again.json()["cite_id"] == cite
    assert (await service.outbox()).count("labelling.TerritoryLabelled") == 1
    assert len((await service.http.get("/cites", headers=AS_VIEWER)).json()["items"]) == 1


async def test_two_simultaneous_identical_decisions_label_once(service: Labelling) -> None:
    cid = await service.under_review()
    both = await asyncio.gather(*(service.http.post(
        f"/candidatures/{cid}/decision", headers=AS_NATIONAL, json=LABEL) for _ in range(2)))
    assert [r.status_code for r in both] == [200, 200]
    assert {r.json()["cite_id"] for r in both} == {"cite-001"}
    assert (await service.outbox()).count("labelling.TerritoryLabelled") == 1


async def test_a_contradicting_decision_is_a_conflict_and_changes_nothing(
        service: Labelling) -> None:
    cid, cite = await service.labelled()
    r = await service.http.post(f"/candidatures/{cid}/decision", headers=AS_NATIONAL,
                                json=REJECT)
    assert r.status_code == 409
    assert f"already labelled as {cite}" in r.json()["detail"]
    shown = (await service.http.get(f"/candidatures/{cid}", headers=AS_NATIONAL)).json()
    assert (shown["status"], shown["decision"]["outcome"]) == ("labelled", "label")
    assert "labelling.CandidatureRejected" not in await service.outbox()


async def test_a_rejection_repeated_is_a_no_op_and_labelling_it_is_a_conflict(
        service: Labelling) -> None:
    cid = await service.under_review(score=1)
    first = await service.http.post(f"/candidatures/{cid}/decision", headers=AS_NATIONAL,
                                    json=REJECT)
    again = await service.http.post(f"/candidatures/{cid}/decision", headers=AS_NATIONAL,
                                    json=REJECT)
    label = await service.http.post(f"/candidatures/{cid}/decision", headers=AS_NATIONAL,
                                    json=LABEL)
    assert [first.status_code, again.status_code, label.status_code] == [200, 200, 409]
    assert (await service.outbox()).count("labelling.CandidatureRejected") == 1


async def test_a_decision_waits_for_the_review(service: Labelling) -> None:
    cid = await service.submitted()
    r = await service.http.post(f"/candidatures/{cid}/decision", headers=AS_NATIONAL,
                                json=LABEL)
    assert r.status_code == 409
    assert "score the wave's criteria first" in r.json()["detail"]


async def test_submitting_twice_announces_once(service: Labelling) -> None:
    cid = await service.submitted()
    again = await service.http.post(f"/candidatures/{cid}/submission", headers=AS_PREFECTURE_69)
    assert again.status_code == 200
    assert await service.outbox() == ["labelling.CandidatureSubmitted"]


async def test_only_a_draft_is_revised_and_only_an_undecided_one_withdrawn(
        service: Labelling) -> None:
    submitted = await service.submitted()
    cid, _ = await service.labelled()
    revise = await service.http.put(f"/candidatures/{submitted}", json=dossier_body(),
                                    headers=AS_PREFECTURE_69)
    withdraw = await service.http.post(f"/candidatures/{cid}/withdrawal", headers=AS_PREFECTURE_69)
    assert (revise.status_code, withdraw.status_code) == (409, 409)
    assert "only a draft can be revised" in revise.json()["detail"]


async def test_a_candidature_is_withdrawn_once(service: Labelling) -> None:
    cid = await service.submitted()
    first = await service.http.post(f"/candidatures/{cid}/withdrawal", headers=AS_PREFECTURE_69,
                                    json={"motive": "Périmètre à revoir"})
    again = await service.http.post(f"/candidatures/{cid}/withdrawal", headers=AS_PREFECTURE_69)
    review = await service.http.put(f"/candidatures/{cid}/review", headers=AS_NATIONAL,
                                    json={"scores": {"means": {"score": 3}}})
    assert (first.status_code, again.status_code, review.status_code) == (200, 200, 409)
    assert first.json()["withdrawal_motive"] == "Périmètre à revoir"
    assert (await service.outbox()).count("labelling.CandidatureWithdrawn") == 1


async def test_label_state_changes_are_idempotent_and_an_ended_label_refuses_them(
        service: Labelling) -> None:
    _, cite = await service.labelled()
    http = service.http
    suspend = {"motive": "Revue de projet non rendue"}
    codes = [
        (await http.post(f"/cites/{cite}/suspension", headers=AS_NATIONAL, json=suspend)),
        (await http.post(f"/cites/{cite}/suspension", headers=AS_NATIONAL, json=suspend)),
        (await http.post(f"/cites/{cite}/renewal", headers=AS_NATIONAL)),
        (await http.post(f"/cites/{cite}/withdrawal", headers=AS_NATIONAL, json=suspend)),
        (await http.post(f"/cites/{cite}/withdrawal", headers=AS_NATIONAL, json=suspend)),
        (await http.post(f"/cites/{cite}/reinstatement", headers=AS_NATIONAL)),
    ]
    assert [r.status_code for r in codes] == [200, 200, 409, 200, 200, 409]
    assert codes[5].json()["detail"] == f"{cite}'s label is withdrawn: it cannot be reinstated"
    events = await service.outbox()
    assert (events.count("labelling.LabelSuspended"), events.count("labelling.LabelWithdrawn"),
            events.count("labelling.LabelReinstated")) == (1, 1, 0)


async def test_a_label_is_renewed_once_per_period(service: Labelling, clock: FakeClock) -> None:
    _, cite = await service.labelled()
    clock.set_date(date(2027, 6, 1))  # in the last 12 months of 2025-03-10 – 2028-03-09
    first = await service.http.post(f"/cites/{cite}/renewal", headers=AS_NATIONAL)
    again = await service.http.post(f"/cites/{cite}/renewal", headers=AS_NATIONAL)
    assert (first.status_code, again.status_code) == (200, 409)
    assert "already renewed for 2028-03-10 – 2031-03-09" in again.json()["detail"]


async def test_unknown_ids_are_404(service: Labelling) -> None:
    http = service.http
    unknown = "00000000-0000-4000-8000-000000000001"
    answers = [
        await http.get(f"/candidatures/{unknown}", headers=AS_NATIONAL),
        await http.post(f"/candidatures/{unknown}/decision", headers=AS_NATIONAL, json=LABEL),
        await http.post(f"/candidatures/{unknown}/submission", headers=AS_PREFECTURE_69),
        await http.get("/cites/cite-404", headers=AS_NATIONAL),
        await http.post("/cites/cite-404/suspension", headers=AS_NATIONAL, json={"motive": "m"}),
        await http.get("/waves/2031", headers=AS_NATIONAL),
        await http.post("/waves/2031/open", headers=AS_NATIONAL),
    ]
    assert [r.status_code for r in answers] == [404] * 7
    assert answers[3].json()["detail"] == "cité cite-404 does not exist"


async def test_a_wave_id_is_planned_once_and_a_closed_wave_not_reopened(
        service: Labelling) -> None:
    body = {"id": "2019", "year": 2019, "title": "Bis", "rule_set": "2019-v1",
            "review_criteria": ["means"], "target_count": 1}
    again = await service.http.post("/waves", headers=AS_NATIONAL, json=body)
    reopen = await service.http.post("/waves/2019/open", headers=AS_NATIONAL)
    closed_twice = await service.http.post("/waves/2019/close", headers=AS_NATIONAL)
    assert (again.status_code, reopen.status_code, closed_twice.status_code) == (409, 409, 200)
