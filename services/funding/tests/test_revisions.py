"""Dotations revisable by the national coordination: an allocation raised from its
envelope or lowered within what it has not committed, each a movement of the ledger and an
``AllocationRevised`` event; anything else is a 4xx that changes nothing."""

from __future__ import annotations

from uuid import uuid4

from funding_kit import Funding, p147, p230, suspended

from cites_contracts.events.labelling import ProjectReviewSubmitted
from cites_contracts.testing import event
from cites_runtime.testing import AS_NATIONAL, AS_PREFECTURE_93, AS_VIEWER


async def test_a_dotation_is_raised_from_its_envelope_or_lowered_within_its_uncommitted_part(
    service: Funding,
) -> None:
    await service.credits()
    for body in (p147(1_000_000_00), p230()):
        assert (await service.http.post("/envelopes", json=body,
                                        headers=AS_NATIONAL)).status_code == 201
    dotation = await service.funded_cite(requested=300_000_00)
    a, envelope = dotation["allocation_id"], dotation["envelope_id"]
    assert (await service.commit(a, 100_000_00)).status_code == 201
    path = f"/cites/cite-001/allocations/{a}/revision"

    async def revise(amount: int, headers: dict[str, str] = AS_NATIONAL) -> tuple[int, str]:
        r = await service.http.post(path, json={"amount": amount, "motive": "Revue 2025"},
                                    headers=headers)
        return r.status_code, r.text

    async def remaining() -> int:
        r = await service.http.get(f"/envelopes/{envelope}", headers=AS_VIEWER)
        return int(r.json()["remaining"])

    left = await remaining()  # 1 M€ − 300 k€ (the fonds share comes from P147 too)
    status, text = await revise(99_999_99)  # below what is committed
    assert status == 409 and "not enough uncommitted in the allocation" in text, text
    assert "0,01 € over" in text
    status, text = await revise(left + 300_000_01)  # more than the envelope holds
    assert status == 409 and "not enough left in the envelope" in text, text
    assert (await revise(150_000_00, AS_PREFECTURE_93))[0] == 403
    assert await remaining() == left and not await service.outbox("AllocationRevised")

    status, text = await revise(150_000_00)
    assert status == 200, text
    assert await remaining() == left + 150_000_00
    status, _ = await revise(150_000_00)  # the same again: nothing
    assert status == 200 and len(await service.outbox("AllocationRevised")) == 1
    assert (await revise(200_000_00))[0] == 200
    assert await remaining() == left + 100_000_00
    revised = await service.outbox("AllocationRevised")
    assert [(e["previous_amount"], e["amount"]) for e in revised] == [
        (300_000_00, 150_000_00), (150_000_00, 200_000_00)]
    cite = await service.cite()
    held = next(x for x in cite["allocations"] if x["allocation_id"] == a)
    assert (held["amount"], held["uncommitted"]) == (200_000_00, 100_000_00)
    statement = (await service.http.get("/cites/cite-001/statement", headers=AS_VIEWER)).json()
    line = next(x for x in statement["lines"] if (x["year"], x["programme"]) == (2025, "P147"))
    assert (line["allocated"], line["uncommitted"]) == (200_000_00, 100_000_00)
    history = (await service.http.get("/cites/cite-001/revisions", headers=AS_VIEWER,
                                      params={"limit": 1})).json()
    assert history["next_cursor"] is not None  # a page at a time
    history = history["items"] + (await service.http.get(
        "/cites/cite-001/revisions", headers=AS_VIEWER,
        params={"cursor": history["next_cursor"]})).json()["items"]
    assert [(r["previous_amount"], r["amount"], r["motive"]) for r in history] == [
        (300_000_00, 150_000_00, "Revue 2025"), (150_000_00, 200_000_00, "Revue 2025")]
    await service.ledger_balanced()

    await service.s.publish(suspended())
    status, text = await revise(250_000_00)
    assert status == 409 and "frozen" in text, text


async def test_a_revision_cites_a_revue_de_projet_the_cite_submitted_and_no_other(
    service: Funding,
) -> None:
    await service.credits()
    for body in (p147(1_000_000_00), p230()):
        await service.http.post("/envelopes", json=body, headers=AS_NATIONAL)
    a = (await service.funded_cite(requested=300_000_00))["allocation_id"]
    mine, theirs, unknown = uuid4(), uuid4(), uuid4()
    await service.s.publish(*(event(ProjectReviewSubmitted, review_id=str(r), cite_id=c)
                              for r, c in ((mine, "cite-001"), (theirs, "cite-002"))))
    await service.s.caught_up()
    path = f"/cites/cite-001/allocations/{a}/revision"

    for review in (theirs, unknown):
        r = await service.http.post(path, headers=AS_NATIONAL, json={
            "amount": 250_000_00, "motive": "Revue 2025", "review_id": str(review)})
        assert r.status_code == 422 and r.json()["detail"][0]["type"] == "review_cited"
    assert not await service.outbox("AllocationRevised")

    r = await service.http.post(path, headers=AS_NATIONAL, json={
        "amount": 250_000_00, "motive": "Revue 2025 : actions reportées",
        "review_id": str(mine)})
    assert r.status_code == 200, r.text
    revised, = await service.outbox("AllocationRevised")
    assert revised["review_id"] == str(mine)
    history = (await service.http.get("/cites/cite-001/revisions", headers=AS_VIEWER)).json()
    assert [x["review_id"] for x in history["items"]] == [str(mine)]
