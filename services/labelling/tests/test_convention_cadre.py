"""A cité's convention-cadre over HTTP: recorded with its signatories (the préfet, the recteur
and the collectivité, each once; others may sign too), never before the decision; its
amendments (avenants) numbered in order, never before the convention; each an event and a
line of the cité's history."""

from __future__ import annotations

from datetime import timedelta

from labelling_kit import Labelling

from cites_runtime.testing import AS_NATIONAL, AS_PREFECTURE_69, AS_PREFECTURE_93, AS_VIEWER, NOW

TODAY = NOW.date()
SIGNATORIES = [{"party": "prefet", "institution": "Préfecture du Rhône"},
               {"party": "recteur", "institution": "Académie de Lyon"},
               {"party": "collectivite", "institution": "Ville de Vaulx-en-Velin"},
               {"party": "other", "institution": "CAF du Rhône"}]


async def _cite(service: Labelling) -> str:
    _, cite = await service.labelled()
    return cite


async def test_a_convention_is_recorded_with_its_signatories_each_party_once(
        service: Labelling) -> None:
    cite = await _cite(service)
    no_recteur = [s for s in SIGNATORIES if s["party"] != "recteur"]
    r = await service.http.post(f"/cites/{cite}/convention", headers=AS_PREFECTURE_69,
                                json={"signed_on": str(TODAY), "signatories": no_recteur})
    assert r.status_code == 422 and r.json()["detail"][0]["type"] == "convention_signatories"
    twice = [*SIGNATORIES, SIGNATORIES[0]]
    r = await service.http.post(f"/cites/{cite}/convention", headers=AS_PREFECTURE_69,
                                json={"signed_on": str(TODAY), "signatories": twice})
    assert r.status_code == 422
    assert "labelling.ConventionSigned" not in await service.outbox()

    r = await service.http.post(f"/cites/{cite}/convention", headers=AS_PREFECTURE_69,
                                json={"signed_on": str(TODAY), "signatories": SIGNATORIES})
    assert r.status_code == 200, r.text
    period, = r.json()["periods"]
    assert period["signatories"] == SIGNATORIES and period["convention_signed_on"] == str(TODAY)
    signed, = await service.running.outbox("ConventionSigned")
    assert [s.institution for s in signed.data.signatories] == [  # type: ignore[attr-defined]
        s["institution"] for s in SIGNATORIES]

    again = await service.http.post(f"/cites/{cite}/convention", headers=AS_PREFECTURE_69,
                                    json={"signed_on": str(TODAY), "signatories": SIGNATORIES})
    assert again.status_code == 200 and len(await service.running.outbox("ConventionSigned")) == 1
    other = [*SIGNATORIES[:2], {"party": "collectivite", "institution": "Métropole de Lyon"}]
    r = await service.http.post(f"/cites/{cite}/convention", headers=AS_PREFECTURE_69,
                                json={"signed_on": str(TODAY), "signatories": other})
    assert r.status_code == 409


async def test_signatories_may_follow_a_signature_recorded_without_them(
        service: Labelling) -> None:
    cite = await _cite(service)
    await service.http.post(f"/cites/{cite}/convention", headers=AS_PREFECTURE_69,
                            json={"signed_on": str(TODAY)})
    r = await service.http.post(f"/cites/{cite}/convention", headers=AS_PREFECTURE_69,
                                json={"signed_on": str(TODAY), "signatories": SIGNATORIES})
    assert r.status_code == 200
    assert r.json()["periods"][0]["signatories"] == SIGNATORIES
    assert len(await service.running.outbox("ConventionSigned")) == 2


async def test_amendments_are_numbered_in_order_never_before_the_convention(
        service: Labelling) -> None:
    cite = await _cite(service)
    path = f"/cites/{cite}/convention/amendments"
    early = await service.http.post(path, headers=AS_PREFECTURE_69,
                                    json={"object": "Avenant", "signed_on": str(TODAY)})
    assert early.status_code == 409 and "nothing to amend" in early.text
    await service.http.post(f"/cites/{cite}/convention", headers=AS_PREFECTURE_69,
                            json={"signed_on": str(TODAY), "signatories": SIGNATORIES})
    before = await service.http.post(path, headers=AS_PREFECTURE_69, json={
        "object": "Avenant", "signed_on": str(TODAY - timedelta(days=1))})
    assert before.status_code == 422
    assert before.json()["detail"][0]["type"] == "amendment_in_order"
    future = await service.http.post(path, headers=AS_PREFECTURE_69, json={
        "object": "Avenant", "signed_on": str(TODAY + timedelta(days=1))})
    assert future.status_code == 422
    assert (await service.http.post(path, headers=AS_PREFECTURE_93,
                                    json={"object": "Avenant"})).status_code == 403

    first = await service.http.post(path, headers=AS_PREFECTURE_69,
                                    json={"object": "Calendrier du comité de pilotage"})
    assert first.status_code == 200, first.text
    await service.http.post(path, headers=AS_PREFECTURE_69,
                            json={"object": "Calendrier du comité de pilotage"})  # a repeat
    second = await service.http.post(path, headers=AS_NATIONAL,
                                     json={"object": "Nouvelles actions de parentalité"})
    amendments = second.json()["periods"][0]["amendments"]
    assert [(a["number"], a["object"]) for a in amendments] == [
        (1, "Calendrier du comité de pilotage"), (2, "Nouvelles actions de parentalité")]
    events = await service.running.outbox("ConventionAmended")
    assert [e.data.number for e in events] == [1, 2]  # type: ignore[attr-defined]
    history = (await service.http.get(f"/cites/{cite}", headers=AS_VIEWER)).json()["history"]
    assert history[-1]["kind"] == "ConventionAmended"
    assert history[-1]["motive"] == "Avenant n° 2 : Nouvelles actions de parentalité"
