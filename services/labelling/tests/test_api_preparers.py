"""The rectorat and the commune prepare the candidature of their territory together and
file it with the préfecture, which validates it — submits it to the national coordination —
or returns it with a motive. A préfecture submits its own drafts directly, others' only
once filed. Each acts only for its own territory; events name the préfecture who submits."""

from __future__ import annotations

from typing import Any

from labelling_kit import Labelling, commune, dossier_body

from cites_contracts.events.labelling import CandidatureSubmitted
from cites_contracts.types import ActorRole
from cites_runtime.testing import (
    AS_COMMUNE_LYON,
    AS_COMMUNE_NAMELESS,
    AS_COMMUNE_VAULX,
    AS_NATIONAL,
    AS_PREFECTURE_69,
    AS_RECTORAT_69,
    AS_RECTORAT_93,
    AS_VIEWER,
)

LYON = commune("69123", "Lyon")


async def prepared(service: Labelling, headers: dict[str, str] = AS_COMMUNE_VAULX,
                   **overrides: Any) -> str:
    return await service.draft(headers, **overrides)


async def test_a_commune_and_the_rectorat_prepare_file_and_the_prefecture_submits(
        service: Labelling) -> None:
    http = service.http
    drafted = await http.post("/candidatures", json=dossier_body(), headers=AS_COMMUNE_VAULX)
    cid = drafted.json()["id"]
    revised = await http.put(f"/candidatures/{cid}", headers=AS_RECTORAT_69,
                             json=dossier_body(territory_name="Vaulx-en-Velin — Mas du Taureau"))
    early = await http.post(f"/candidatures/{cid}/submission", headers=AS_PREFECTURE_69)
    filed = await http.post(f"/candidatures/{cid}/filing", headers=AS_RECTORAT_69)
    again = await http.post(f"/candidatures/{cid}/filing", headers=AS_COMMUNE_VAULX)
    late = await http.put(f"/candidatures/{cid}", json=dossier_body(), headers=AS_COMMUNE_VAULX)
    submitted = await http.post(f"/candidatures/{cid}/submission", headers=AS_PREFECTURE_69)

    assert drafted.status_code == 201, drafted.text
    assert (drafted.json()["prepared_by"], drafted.json()["filed_at"]) == ("commune", None)
    assert revised.status_code == 200, revised.text
    assert early.status_code == 409
    assert early.json()["detail"] == (
        f"candidature {cid} was prepared by the commune and is not filed with the "
        "préfecture yet: the rectorat or the commune files it first "
        f"(POST /candidatures/{cid}/filing)")
    assert filed.status_code == 200, filed.text
    assert filed.json()["filed_at"] is not None and filed.json()["filed_by"] == "rectorat"
    assert again.status_code == 200 and again.json()["filed_at"] == filed.json()["filed_at"]
    assert again.json()["filed_by"] == "rectorat"  # filing again changes nothing
    assert late.status_code == 409
    assert "filed with the préfecture" in late.json()["detail"]
    assert "only the préfecture may revise it now, or return it" in late.json()["detail"]
    assert submitted.status_code == 200, submitted.text
    assert submitted.json()["status"] == "submitted"
    assert submitted.json()["dossier"]["territory_name"] == "Vaulx-en-Velin — Mas du Taureau"
    assert await service.outbox() == ["labelling.CandidatureSubmitted"]
    await service.published_types(1)
    [event] = [e.data for e in service.published
               if e.type == "labelling.CandidatureSubmitted"]
    assert isinstance(event, CandidatureSubmitted)
    assert event.submitted_by is ActorRole.PREFECTURE


async def test_the_prefecture_revises_a_filed_draft_or_returns_it_with_a_motive(
        service: Labelling) -> None:
    http = service.http
    cid = await prepared(service, AS_RECTORAT_69)
    unfiled = await http.post(f"/candidatures/{cid}/return", headers=AS_PREFECTURE_69,
                              json={"motive": "Le diagnostic manque"})
    await http.post(f"/candidatures/{cid}/filing", headers=AS_RECTORAT_69)
    by_prefecture = await http.put(f"/candidatures/{cid}", headers=AS_PREFECTURE_69,
                                   json=dossier_body(territory_name="Vaulx Sud"))
    returned = await http.post(f"/candidatures/{cid}/return", headers=AS_PREFECTURE_69,
                               json={"motive": "Le diagnostic manque"})
    editable = await http.put(f"/candidatures/{cid}", json=dossier_body(),
                              headers=AS_COMMUNE_VAULX)
    not_filed_again = await http.post(f"/candidatures/{cid}/submission",
                                      headers=AS_PREFECTURE_69)
    refiled = await http.post(f"/candidatures/{cid}/filing", headers=AS_COMMUNE_VAULX)

    assert unfiled.status_code == 409
    assert "is not filed with the préfecture: nothing to return" in unfiled.json()["detail"]
    assert by_prefecture.status_code == 200, by_prefecture.text
    assert returned.status_code == 200, returned.text
    body = returned.json()
    assert (body["filed_at"], body["return_motive"]) == (None, "Le diagnostic manque")
    assert body["returned_at"] is not None and body["prepared_by"] == "rectorat"
    assert editable.status_code == 200, editable.text
    assert not_filed_again.status_code == 409
    assert refiled.status_code == 200 and refiled.json()["filed_by"] == "commune"
    assert await service.outbox() == []


async def test_a_prefecture_submits_its_own_draft_directly_which_others_do_not_touch(
        service: Labelling) -> None:
    http = service.http
    cid = await service.draft()
    revised = await http.put(f"/candidatures/{cid}", json=dossier_body(),
                             headers=AS_RECTORAT_69)
    filed = await http.post(f"/candidatures/{cid}/filing", headers=AS_COMMUNE_VAULX)
    submitted = await http.post(f"/candidatures/{cid}/submission", headers=AS_PREFECTURE_69)

    assert revised.status_code == 403
    assert revised.json()["detail"] == (
        f"candidature {cid} is the préfecture's own draft: the rectorat and the commune "
        "prepare only the drafts they started")
    assert filed.status_code == 403
    assert submitted.status_code == 200
    assert submitted.json()["prepared_by"] == "prefecture"


async def test_a_rectorat_or_a_commune_acts_only_for_its_own_territory(
        service: Labelling) -> None:
    http = service.http
    elsewhere = await http.post("/candidatures", json=dossier_body(), headers=AS_RECTORAT_93)
    not_named = await http.post("/candidatures", json=dossier_body(), headers=AS_COMMUNE_LYON)
    nameless = await http.post("/candidatures", json=dossier_body(),
                               headers=AS_COMMUNE_NAMELESS)
    cid = await prepared(service)
    refused = [
        await http.put(f"/candidatures/{cid}", json=dossier_body(), headers=AS_RECTORAT_93),
        await http.put(f"/candidatures/{cid}", json=dossier_body(), headers=AS_COMMUNE_LYON),
        await http.post(f"/candidatures/{cid}/filing", headers=AS_RECTORAT_93),
        await http.post(f"/candidatures/{cid}/filing", headers=AS_COMMUNE_LYON),
    ]
    # Vaulx may not revise its commune out of the dossier.
    dropped = await http.put(f"/candidatures/{cid}", headers=AS_COMMUNE_VAULX,
                             json=dossier_body(communes=[LYON]))

    assert elsewhere.status_code == 403
    assert elsewhere.json()["detail"] == (
        "the rectorat acting for 93 prepares only its own département's candidatures, and "
        "this concerns département 69: ask that département's rectorat")
    assert not_named.status_code == 403
    assert not_named.json()["detail"] == (
        "commune 69123 prepares only candidatures whose communes include it, and this one's "
        "are 69256: ask the rectorat or the préfecture")
    assert nameless.status_code == 403
    assert "names no commune (its insee_code claim" in nameless.json()["detail"]
    assert [r.status_code for r in refused] == [403] * 4
    assert dropped.status_code == 403
    assert "69123" in dropped.json()["detail"]
    shown = await http.get(f"/candidatures/{cid}", headers=AS_NATIONAL)
    assert shown.json()["filed_at"] is None


async def test_who_prepared_and_when_it_was_filed_show_in_the_list(service: Labelling) -> None:
    http = service.http
    own = await service.draft()
    theirs = await prepared(service, AS_COMMUNE_VAULX)
    await http.post(f"/candidatures/{theirs}/filing", headers=AS_COMMUNE_VAULX)
    listed = await http.get("/candidatures", headers=AS_VIEWER)
    by_rectorat = await http.get("/candidatures", headers=AS_RECTORAT_69)

    assert listed.status_code == 200 and by_rectorat.status_code == 200
    items = {i["id"]: i for i in listed.json()["items"]}
    assert (items[own]["prepared_by"], items[own]["filed_at"]) == ("prefecture", None)
    assert items[theirs]["prepared_by"] == "commune"
    assert items[theirs]["filed_at"] is not None
