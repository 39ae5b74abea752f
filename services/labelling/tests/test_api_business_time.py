"""Business time over HTTP: a decision carries the date it takes effect in the programme
(``decided_on``, ``effective_on``), apart from when the service recorded it; the label's
period follows its wave's rule from that date; a date in the future, before the programme,
or before what it follows is a 422 that changes nothing."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest
from labelling.examples import CRITERIA_2024_SCORES
from labelling_kit import Labelling

from cites_contracts.events.labelling import LabelSuspended, TerritoryLabelled
from cites_runtime.testing import AS_NATIONAL, AS_PREFECTURE_69, AS_VIEWER, FakeClock

LABEL = {"outcome": "label", "motive": "Dossier solide"}


async def decide(service: Labelling, cid: str, **body: Any) -> Any:
    return await service.http.post(f"/candidatures/{cid}/decision", headers=AS_NATIONAL,
                                   json={**LABEL, **body})


async def test_a_decision_dated_in_the_past_labels_from_that_date_and_records_when_learnt(
        service: Labelling, clock: FakeClock) -> None:
    cid = await service.under_review()  # filed on 2025-03-10
    clock.set_date(date(2025, 6, 2))

    r = await decide(service, cid, decided_on="2025-04-01", convention_signed_on="2025-05-15")

    assert r.status_code == 200, r.text
    cite = (await service.http.get(f"/cites/{r.json()['cite_id']}", headers=AS_VIEWER)).json()
    assert (cite["decided_on"], cite["status_since"]) == ("2025-04-01", "2025-04-01")
    assert cite["label_period"] == {"start": "2025-04-01", "end": "2028-03-31"}
    assert cite["labelled_at"] == "2025-06-02T09:30:00Z"
    [labelled] = await service.running.outbox("TerritoryLabelled")
    assert isinstance(labelled.data, TerritoryLabelled)
    assert labelled.data.decided_on == date(2025, 4, 1)
    assert labelled.data.labelled_at == datetime(2025, 6, 2, 9, 30, tzinfo=UTC)
    assert [(h["kind"], h["effective_on"]) for h in cite["history"]] \
        == [("TerritoryLabelled", "2025-04-01")]


@pytest.mark.parametrize(("body", "field", "rule"), [
    ({"decided_on": "2025-06-03"}, "decided_on", "decision_not_future"),
    ({"decided_on": "2025-03-09"}, "decided_on", "decision_in_order"),  # before the filing
    ({"decided_on": "2025-04-01", "convention_signed_on": "2025-03-31"},
     "convention_signed_on", "convention_in_order"),  # signed before the decision
])
async def test_a_decision_date_out_of_order_is_422_and_changes_nothing(
        service: Labelling, clock: FakeClock, body: dict[str, str], field: str,
        rule: str) -> None:
    cid = await service.under_review()
    clock.set_date(date(2025, 6, 2))

    r = await decide(service, cid, **body)

    assert r.status_code == 422, r.text
    assert [(e["loc"][-1], e["type"]) for e in r.json()["detail"]] == [(field, rule)]
    got = (await service.http.get(f"/candidatures/{cid}", headers=AS_VIEWER)).json()
    assert got["status"] == "under_review"
    assert "labelling.TerritoryLabelled" not in await service.outbox()


async def test_a_wave_in_calendar_years_labels_whole_years_from_january(
        service: Labelling, clock: FakeClock) -> None:
    wave = {"id": "2025-calendrier", "year": 2025, "title": "Vague 2025",
            "rule_set": "2024-v1", "review_criteria": list(CRITERIA_2024_SCORES),
            "target_count": 40, "label_in_calendar_years": True}
    planned = await service.http.post("/waves", headers=AS_NATIONAL, json=wave)
    assert planned.status_code == 201, planned.text
    assert planned.json()["label_in_calendar_years"] is True
    opened = await service.http.post("/waves/2025-calendrier/open", headers=AS_NATIONAL)
    assert opened.status_code == 200, opened.text
    cid = await service.under_review(wave_id="2025-calendrier")
    clock.set_date(date(2025, 9, 20))

    in_may = await decide(service, cid, decided_on="2025-05-26")

    assert in_may.status_code == 200, in_may.text
    cite = (await service.http.get(f"/cites/{in_may.json()['cite_id']}",
                                   headers=AS_VIEWER)).json()
    assert cite["label_period"] == {"start": "2025-01-01", "end": "2027-12-31"}


async def test_a_suspension_takes_effect_on_its_date_and_not_before_the_label(
        service: Labelling, clock: FakeClock) -> None:
    _, cite = await service.labelled()  # decided on 2025-03-10
    clock.set_date(date(2025, 4, 15))

    early = await service.http.post(f"/cites/{cite}/suspension", headers=AS_NATIONAL, json={
        "motive": "Gouvernance absente", "effective_on": "2025-03-09"})
    r = await service.http.post(f"/cites/{cite}/suspension", headers=AS_NATIONAL, json={
        "motive": "Gouvernance absente", "effective_on": "2025-04-01"})

    assert early.status_code == 422
    assert early.json()["detail"][0]["type"] == "status_in_order"
    assert r.status_code == 200, r.text
    assert (r.json()["status"], r.json()["status_since"]) == ("suspended", "2025-04-01")
    [suspended] = await service.running.outbox("LabelSuspended")
    assert isinstance(suspended.data, LabelSuspended)
    assert suspended.data.effective_on == date(2025, 4, 1)


async def test_a_prefecture_cannot_date_a_decision(service: Labelling) -> None:
    cid = await service.under_review()
    r = await service.http.post(f"/candidatures/{cid}/decision", headers=AS_PREFECTURE_69,
                                json={**LABEL, "decided_on": "2025-03-10"})
    assert r.status_code == 403
