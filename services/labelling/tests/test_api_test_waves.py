"""A test wave (training, acceptance) runs like any other; every event naming a wave carries
its title and whether it is a test wave, so consumers can keep test cités out of what they
publish."""

from __future__ import annotations

from labelling.examples import CRITERIA_2024_SCORES
from labelling_kit import WAVE_2024, Labelling

from cites_contracts.events.labelling import (
    CandidatureReviewStarted,
    CandidatureSubmitted,
    TerritoryLabelled,
)
from cites_runtime.testing import AS_NATIONAL, AS_VIEWER


async def test_a_test_wave_is_planned_and_its_events_say_so(service: Labelling) -> None:
    planned = await service.http.post("/waves", headers=AS_NATIONAL, json={
        "id": "2026-formation", "year": 2026, "title": "Formation des préfectures",
        "rule_set": "2024-v1", "review_criteria": list(CRITERIA_2024_SCORES),
        "target_count": 5, "test": True})
    opened = await service.http.post("/waves/2026-formation/open", headers=AS_NATIONAL)
    await service.labelled(wave_id="2026-formation")
    await service.labelled()  # a real wave's

    assert planned.status_code == 201, planned.text
    assert (planned.json()["test"], opened.json()["test"]) == (True, True)
    got = (await service.http.get("/waves/2026-formation", headers=AS_VIEWER)).json()
    assert (got["title"], got["test"]) == ("Formation des préfectures", True)
    real = (await service.http.get(f"/waves/{WAVE_2024}", headers=AS_VIEWER)).json()
    events = await service.running.outbox("CandidatureSubmitted", "CandidatureReviewStarted",
                                          "TerritoryLabelled")
    assert [type(e.data) for e in events] == [
        CandidatureSubmitted, CandidatureReviewStarted, TerritoryLabelled] * 2
    named = [e.data.wave for e in events
             if isinstance(e.data, CandidatureSubmitted | CandidatureReviewStarted
                           | TerritoryLabelled)]
    assert [(w.id, w.title, w.test) for w in named] == \
        [("2026-formation", "Formation des préfectures", True)] * 3 \
        + [(WAVE_2024, real["title"], False)] * 3


async def test_a_cite_shows_its_wave_with_its_title_and_test_flag(service: Labelling) -> None:
    await service.http.post("/waves", headers=AS_NATIONAL, json={
        "id": "2026-recette", "year": 2026, "title": "Recette", "rule_set": "2024-v1",
        "review_criteria": list(CRITERIA_2024_SCORES), "target_count": 5, "test": True})
    await service.http.post("/waves/2026-recette/open", headers=AS_NATIONAL)
    _, cite = await service.labelled(wave_id="2026-recette")

    got = (await service.http.get(f"/cites/{cite}", headers=AS_VIEWER)).json()

    assert got["wave"] == {"id": "2026-recette", "year": 2026, "title": "Recette",
                           "test": True}
