"""Exclusive perimeters over HTTP: a submission or an extension that would overlap an active
cité or a pending candidature (a QPV, or the lead collège) is a 409 naming what overlaps and
who holds it, and changes nothing; ending the holder frees what it held. Concurrent
requests on real PostgreSQL: of two racing for a QPV or a collège, exactly one wins."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date
from typing import Any
from uuid import UUID

from labelling import service as use_cases
from labelling.expiry import expire_due_labels
from labelling_kit import PREFECTURE_69, Labelling, commune, qpv, school

from cites_runtime.testing import (
    AS_NATIONAL,
    AS_PREFECTURE_69,
    AS_VIEWER,
    FakeClock,
    eventually,
)

QPV_RULE = "(a QPV belongs to at most one active cité or pending candidature)"
LEAD_RULE = "(a collège is chef de file of at most one active cité or pending candidature)"
MOTIVE = {"motive": "Fin de la démarche"}


def led_by(uai: str, n: int = 0) -> dict[str, Any]:
    """The lead collège ``uai`` (and a school of its own) for a candidature."""
    return {"lead_college_uai": uai,
            "schools": [school(uai, name=f"Collège {uai}"),
                        school(f"069{n:04d}E", "ecole", "rep", f"École {n}")]}


async def submit(s: Labelling, cid: str) -> Any:
    return await s.http.post(f"/candidatures/{cid}/submission", headers=AS_PREFECTURE_69)


async def status_of(s: Labelling, cid: str) -> str:
    r = await s.http.get(f"/candidatures/{cid}", headers=AS_NATIONAL)
    return str(r.json()["status"])


async def submitted_count(s: Labelling) -> int:
    return (await s.outbox()).count("labelling.CandidatureSubmitted")


async def refused_and_unchanged(s: Labelling, cid: str) -> str:
    """Submit ``cid``, which must be refused (409), stay a draft and emit nothing: the
    refusal's detail."""
    before = await submitted_count(s)
    r = await submit(s, cid)
    assert r.status_code == 409
    assert await status_of(s, cid) == "draft"
    assert await submitted_count(s) == before
    return str(r.json()["detail"])


async def one_wins(s: Labelling, drafts: list[str]) -> tuple[str, list[str]]:
    """Submit every draft at once: exactly one is accepted. The winner and the refusals'
    details."""
    answers = await asyncio.gather(*(submit(s, cid) for cid in drafts))
    codes = [r.status_code for r in answers]
    assert sorted(codes) == [200] + [409] * (len(drafts) - 1)
    return drafts[codes.index(200)], [r.json()["detail"] for r in answers
                                      if r.status_code == 409]


# --- QPVs ------------------------------------------------------------------------------------


async def test_a_submission_overlapping_a_cite_is_409_naming_the_qpvs_and_the_cite(
        service: Labelling) -> None:
    _, cite = await service.labelled(qpvs=[qpv(), qpv("QN06907B")])
    cid = await service.draft(qpvs=[qpv("QN06907B"), qpv("QN06903C"), qpv()])

    detail = await refused_and_unchanged(service, cid)

    assert detail == f"QPVs QN06901M, QN06907B already belong to cité {cite} {QPV_RULE}"


async def test_a_submission_overlapping_a_pending_candidature_is_409_naming_it(
        service: Labelling) -> None:
    pending = await service.submitted()
    reviewed = await service.under_review(qpvs=[qpv("QN06907B")])
    cid = await service.draft(qpvs=[qpv(), qpv("QN06907B")])

    r = await submit(service, cid)

    assert r.status_code == 409
    detail = r.json()["detail"]
    assert f"QPV QN06901M already belongs to pending candidature {pending}" in detail
    assert f"QPV QN06907B already belongs to pending candidature {reviewed}" in detail
    assert await status_of(service, cid) == "draft"


async def test_a_draft_holds_nothing(service: Labelling) -> None:
    await service.draft()
    cid = await service.draft(qpvs=[qpv()], **led_by("0691234A"))
    assert (await submit(service, cid)).status_code == 200


async def test_communes_may_be_shared_between_cites(service: Labelling) -> None:
    # Vaulx-en-Velin has several QPVs: one cité around Grande Île, another around the Mas.
    await service.labelled(communes=[commune()], qpvs=[qpv()])
    _, second = await service.labelled(communes=[commune()], qpvs=[qpv("QN06904D")])
    shown = (await service.http.get(f"/cites/{second}", headers=AS_VIEWER)).json()
    assert [c["insee_code"] for c in shown["perimeter"]["communes"]] == ["69256"]


async def test_a_rejected_or_withdrawn_candidature_frees_its_qpvs(service: Labelling) -> None:
    rejected = await service.under_review(score=1)
    withdrawn = await service.submitted(qpvs=[qpv("QN06907B")])
    await service.http.post(f"/candidatures/{rejected}/decision", headers=AS_NATIONAL,
                            json={"outcome": "reject", "motive": "Diagnostic trop général"})
    await service.http.post(f"/candidatures/{withdrawn}/withdrawal", headers=AS_PREFECTURE_69)
    cid = await service.draft(qpvs=[qpv(), qpv("QN06907B")])
    assert (await submit(service, cid)).status_code == 200


async def test_a_labelled_candidatures_qpvs_pass_to_its_cite(service: Labelling) -> None:
    _, cite = await service.labelled()
    cid = await service.draft(qpvs=[qpv()])
    r = await submit(service, cid)
    assert r.status_code == 409
    assert f"already belongs to cité {cite}" in r.json()["detail"]


async def test_a_suspended_cite_keeps_its_qpvs(service: Labelling) -> None:
    _, cite = await service.labelled()
    await service.http.post(f"/cites/{cite}/suspension", headers=AS_NATIONAL, json=MOTIVE)
    cid = await service.draft(qpvs=[qpv()])
    assert (await submit(service, cid)).status_code == 409


async def test_a_withdrawn_label_frees_its_qpvs_and_its_lead_college(service: Labelling) -> None:
    _, cite = await service.labelled()
    await service.http.post(f"/cites/{cite}/withdrawal", headers=AS_NATIONAL, json=MOTIVE)
    cid = await service.draft(qpvs=[qpv()], **led_by("0691234A"))
    assert (await submit(service, cid)).status_code == 200


async def test_an_expired_label_frees_its_qpvs(service: Labelling, clock: FakeClock) -> None:
    await service.labelled()  # 2025-03-10 – 2028-03-09
    clock.set_date(date(2028, 3, 10))
    assert await expire_due_labels(service.runtime) == ["cite-001"]
    cid = await service.draft(qpvs=[qpv()], **led_by("0691234A"))
    assert (await submit(service, cid)).status_code == 200


# --- Extensions ------------------------------------------------------------------------------


async def test_an_extension_overlapping_another_cite_is_409_and_changes_nothing(
        service: Labelling) -> None:
    _, first = await service.labelled()
    _, second = await service.labelled(qpvs=[qpv("QN06907B")])
    before = (await service.http.get(f"/cites/{second}", headers=AS_VIEWER)).json()
    events = await service.outbox()

    r = await service.http.post(f"/cites/{second}/extension", headers=AS_NATIONAL, json={
        "communes": [commune("69259", "Vénissieux")], "qpvs": [qpv(), qpv("QN06908C")]})

    assert r.status_code == 409
    assert r.json()["detail"] == f"QPV QN06901M already belongs to cité {first} {QPV_RULE}"
    assert (await service.http.get(f"/cites/{second}", headers=AS_VIEWER)).json() == before
    assert await service.outbox() == events
    free = await service.draft(qpvs=[qpv("QN06908C")])  # nothing of it was kept
    assert (await submit(service, free)).status_code == 200


async def test_an_extension_takes_its_new_qpvs(service: Labelling) -> None:
    _, cite = await service.labelled()
    r = await service.http.post(f"/cites/{cite}/extension", headers=AS_NATIONAL,
                                json={"qpvs": [qpv("QN06907B")]})
    assert r.status_code == 200
    cid = await service.draft(qpvs=[qpv("QN06907B")])
    refused = await submit(service, cid)
    assert refused.status_code == 409
    assert f"QPV QN06907B already belongs to cité {cite}" in refused.json()["detail"]


# --- Lead collège ----------------------------------------------------------------------------


async def test_a_lead_college_of_an_active_cite_cannot_lead_a_new_candidature(
        service: Labelling) -> None:
    _, cite = await service.labelled()
    cid = await service.draft(qpvs=[qpv("QN06907B")], **led_by("0691234A", 1))

    detail = await refused_and_unchanged(service, cid)

    assert detail == f"collège 0691234A is already chef de file of cité {cite} {LEAD_RULE}"


async def test_a_lead_college_of_a_pending_candidature_cannot_lead_another(
        service: Labelling) -> None:
    pending = await service.submitted()
    cid = await service.draft(qpvs=[qpv("QN06907B")], **led_by("0691234A", 1))
    r = await submit(service, cid)
    assert r.status_code == 409
    assert r.json()["detail"] == (
        f"collège 0691234A is already chef de file of pending candidature {pending} "
        f"{LEAD_RULE}")


async def test_a_lead_college_may_be_an_ordinary_school_of_another_cite(
        service: Labelling) -> None:
    await service.labelled()  # led by 0691234A
    cid = await service.draft(qpvs=[qpv("QN06907B")], lead_college_uai="0692222K", schools=[
        school("0692222K", name="Collège Jacques Duclos"), school("0691234A")])
    assert (await submit(service, cid)).status_code == 200


# --- Under concurrency (real PostgreSQL) -----------------------------------------------------


async def test_of_submissions_racing_for_one_qpv_exactly_one_wins(service: Labelling) -> None:
    drafts = [await service.draft(qpvs=[qpv()], **led_by(f"069100{n}C", n)) for n in range(6)]

    winner, refusals = await one_wins(service, drafts)

    assert all(detail == f"QPV QN06901M already belongs to pending candidature "
               f"{winner} {QPV_RULE}" for detail in refusals)
    assert [await status_of(service, c) for c in drafts].count("submitted") == 1
    assert await submitted_count(service) == 1


async def test_of_submissions_racing_for_one_lead_college_exactly_one_wins(
        service: Labelling) -> None:
    drafts = [await service.draft(qpvs=[qpv(f"QN0692{n}F")], **led_by("0691234A", n))
              for n in range(6)]

    winner, refusals = await one_wins(service, drafts)

    assert all(f"chef de file of pending candidature {winner}" in detail
               for detail in refusals)
    assert await submitted_count(service) == 1


async def test_an_extension_and_a_submission_racing_for_a_qpv_one_wins(
        service: Labelling) -> None:
    for _ in range(3):
        _, cite = await service.labelled()
        cid = await service.draft(qpvs=[qpv("QN06907B")])
        extension, submission = await asyncio.gather(
            service.http.post(f"/cites/{cite}/extension", headers=AS_NATIONAL,
                              json={"qpvs": [qpv("QN06907B")]}),
            submit(service, cid))
        assert sorted([extension.status_code, submission.status_code]) == [200, 409]
        # Free both for the next round.
        await service.http.post(f"/cites/{cite}/withdrawal", headers=AS_NATIONAL, json=MOTIVE)
        await service.http.post(f"/candidatures/{cid}/withdrawal", headers=AS_PREFECTURE_69)


async def test_a_submission_waits_for_one_uncommitted_holding_its_qpv_then_is_refused(
        service: Labelling) -> None:
    # No check-then-act: the second submission cannot read "free" while the first has
    # claimed the QPV without committing yet; it waits, then sees the claim.
    first = await service.draft(qpvs=[qpv()])
    second = await service.draft(qpvs=[qpv()])
    async with waiting_behind_an_open_submission(service, first, second) as racing:
        assert not racing.done()
    r = await racing
    assert r.status_code == 409
    assert f"pending candidature {first}" in r.json()["detail"]


async def test_a_submission_waiting_for_one_that_rolls_back_wins(service: Labelling) -> None:
    first = await service.draft(qpvs=[qpv()])
    second = await service.draft(qpvs=[qpv()])

    class Abandoned(Exception):
        pass

    racing: asyncio.Future[Any] | None = None
    with contextlib.suppress(Abandoned):
        async with waiting_behind_an_open_submission(service, first, second) as racing:
            raise Abandoned
    assert racing is not None
    assert (await racing).status_code == 200
    assert await status_of(service, first) == "draft"


@asynccontextmanager
async def waiting_behind_an_open_submission(s: Labelling, first: str, second: str
                                            ) -> AsyncIterator[asyncio.Future[Any]]:
    """``first`` submitted in a transaction left open for the block (committed at its end,
    rolled back if it raises), and ``second`` submitted over HTTP meanwhile, seen waiting
    for it: that submission's answer, to await."""
    async with s.runtime.unit_of_work() as uow:
        await use_cases.submit_candidature(uow, UUID(first), PREFECTURE_69)
        holder_pid: int = await uow.conn.fetchval("SELECT pg_backend_pid()")
        racing = asyncio.ensure_future(submit(s, second))
        await eventually(lambda: _blocked_by(s, holder_pid, racing),
                         what="the racing submission waiting for the first")
        yield racing


async def _blocked_by(s: Labelling, pid: int, racing: asyncio.Future[Any]) -> bool:
    if racing.done():  # it did not wait: the test fails on what it answered
        return True
    waiting: int = await s.runtime.pool.fetchval(
        "SELECT count(*) FROM pg_stat_activity WHERE $1 = ANY(pg_blocking_pids(pid))", pid)
    return waiting > 0
