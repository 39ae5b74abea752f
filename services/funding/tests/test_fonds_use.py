"""The fonds de la cité as it works: the collège chef de file uses its year's grant freely
and records each use — what it paid, for what, to whom — never beyond what the grant has
left, whoever races for it; the préfecture of the cité's département or the national
coordination may record it on the collège's behalf, nobody else. Each use moves its
amount from the grant's account to what the fonds spent, split between the programmes
that contributed; the statement shows it as ``fonds_used``."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from funding_kit import Funding

from cites_runtime.testing import (
    AS_COLLEGE,
    AS_NATIONAL,
    AS_OTHER_COLLEGE,
    AS_PARTNER,
    AS_PREFECTURE_69,
    AS_PREFECTURE_93,
    AS_VIEWER,
    COLLEGE,
    read_pages,
)

USES = "/cites/cite-001/fonds/2025/uses"
GRANT = 30_000_00
"""The cité's 2025 fonds de la cité: 15 000 € from P147, 15 000 € from P230."""


def use(amount: int, **extra: Any) -> dict[str, Any]:
    return {"amount": amount, "purpose": "Sortie scolaire au musée (car)",
            "paid_on": "2025-03-03", "payee": "Autocars de Seine-Saint-Denis", **extra}


async def listed(service: Funding) -> list[dict[str, Any]]:
    """The year's uses, oldest first, each with what the grant had left after it."""
    pages = await read_pages(service.http, USES, headers=AS_VIEWER, limit=2)
    return [u for page in pages for u in page]


async def fonds(service: Funding) -> dict[str, Any]:
    """The 2025 grant as the cité's funds show it: granted, used, left."""
    found: dict[str, Any] = next(f for f in (await service.cite())["fonds"]
                                 if f["year"] == 2025)
    return found


async def test_the_college_records_uses_up_to_its_grant_and_not_one_cent_beyond(
        service: Funding) -> None:
    await service.funded_cite()

    first = await service.http.post(USES, json=use(20_000_00), headers=AS_COLLEGE)
    over = await service.http.post(USES, json=use(10_000_01), headers=AS_COLLEGE)
    after_refusal = await listed(service)
    last = await service.http.post(USES, json=use(10_000_00, payee=None), headers=AS_COLLEGE)
    spent = await service.http.post(USES, json=use(1), headers=AS_COLLEGE)

    assert (first.status_code, first.json()["left"]) == (201, 10_000_00), first.text
    assert over.status_code == 409
    assert over.json()["detail"].startswith(
        "not that much left in the fonds de la cité: 10\u202f000,01 € requested, fonds ")
    assert over.json()["detail"].endswith("holds 10\u202f000,00 €; 0,01 € over")
    assert [u["left"] for u in after_refusal] == [10_000_00]
    assert (last.status_code, last.json()["left"]) == (201, 0), last.text
    assert spent.status_code == 409 and "holds 0,00 €; 0,01 € over" in spent.json()["detail"]
    assert [(u["amount"], u["payee"], u["left"]) for u in await listed(service)] == [
        (20_000_00, "Autocars de Seine-Saint-Denis", 10_000_00), (10_000_00, None, 0)]
    assert {k: (await fonds(service))[k] for k in ("amount", "used", "left")} == {
        "amount": GRANT, "used": GRANT, "left": 0}
    events = await service.outbox("FondsUsed")
    assert [(e["amount"], e["left"], e["drawn"]) for e in events] == [
        (20_000_00, 10_000_00, [{"programme": "P147", "amount": 10_000_00},
                                {"programme": "P230", "amount": 10_000_00}]),
        (10_000_00, 0, [{"programme": "P147", "amount": 5_000_00},
                        {"programme": "P230", "amount": 5_000_00}])]
    assert {(e["chef_de_file_partner_id"], e["recorded_by"], e["year"]) for e in events} == {
        (str(COLLEGE), "partner", 2025)}
    await service.ledger_balanced()


async def test_only_the_chef_de_file_its_prefecture_or_the_national_coordination_record_a_use(
        service: Funding) -> None:
    await service.funded_cite()

    refused = {who: await service.http.post(USES, json=use(100_00), headers=headers)
               for who, headers in [("another collège", AS_OTHER_COLLEGE),
                                    ("a partner acting for nobody", AS_PARTNER),
                                    ("another département's préfecture", AS_PREFECTURE_69),
                                    ("a viewer", AS_VIEWER)]}
    by_prefecture = await service.http.post(USES, json=use(100_00), headers=AS_PREFECTURE_93)
    by_national = await service.http.post(USES, json=use(100_00), headers=AS_NATIONAL)

    assert {who: r.status_code for who, r in refused.items()} == dict.fromkeys(refused, 403)
    assert "acts only for itself" in refused["another collège"].json()["detail"]
    assert "it acts for nobody" in refused["a partner acting for nobody"].json()["detail"]
    assert "acts only in its own département" in \
        refused["another département's préfecture"].json()["detail"]
    assert (by_prefecture.status_code, by_national.status_code) == (201, 201)
    assert [e["recorded_by"] for e in await service.outbox("FondsUsed")] == [
        "prefecture", "national_coordination"]
    assert (await fonds(service))["left"] == GRANT - 200_00


async def test_a_use_is_paid_within_the_grants_year_up_to_today_from_a_grant_that_exists(
        service: Funding) -> None:
    await service.funded_cite()  # today is 10 March 2025

    answers = [await service.http.post(USES, json=use(100_00, paid_on=day),
                                       headers=AS_COLLEGE)
               for day in ("2024-12-31", "2025-03-11", "2025-01-01", "2025-03-10")]
    next_year = await service.http.post("/cites/cite-001/fonds/2026/uses", json=use(100_00),
                                        headers=AS_COLLEGE)
    no_purpose = await service.http.post(USES, json=use(100_00, purpose=" "),
                                         headers=AS_COLLEGE)

    assert [a.status_code for a in answers] == [422, 422, 201, 201]
    assert [a.json()["detail"][0]["loc"] for a in answers[:2]] == [["body", "paid_on"]] * 2
    assert next_year.status_code == 404, next_year.text
    assert no_purpose.status_code == 422
    assert len(await service.outbox("FondsUsed")) == 2


async def test_a_use_retried_with_its_idempotency_key_is_recorded_once(
        service: Funding) -> None:
    await service.funded_cite()
    keyed = {**AS_COLLEGE, "Idempotency-Key": "facture-2025-017"}

    first = await service.http.post(USES, json=use(1_250_00), headers=keyed)
    again = await service.http.post(USES, json=use(1_250_00), headers=keyed)
    other = await service.http.post(USES, json=use(1_300_00), headers=keyed)

    assert (first.status_code, again.status_code) == (201, 200), again.text
    assert first.json() == again.json()
    assert other.status_code == 409 and "Idempotency-Key" in other.json()["detail"]
    assert len(await service.outbox("FondsUsed")) == 1
    assert (await fonds(service))["left"] == GRANT - 1_250_00
    assert [u["use_id"] for u in await listed(service)] == [first.json()["use_id"]]


async def test_uses_racing_for_the_last_euros_never_exceed_the_grant(served: Funding) -> None:
    await served.funded_cite()
    first = await served.http.post(USES, json=use(25_000_00), headers=AS_COLLEGE)
    assert first.status_code == 201, first.text
    asked = [500_00 + 1 + (i * 37) % 97 for i in range(40)]  # 40 × ~500 € for 5 000 €

    async with httpx.AsyncClient(base_url=served.s.url, timeout=120,
                                 limits=httpx.Limits(max_connections=40)) as http:
        answers = await asyncio.gather(*[
            http.post(USES, json=use(amount), headers=AS_COLLEGE) for amount in asked])

    assert {a.status_code for a in answers} <= {201, 409}, [a.text for a in answers]
    used = [amount for a, amount in zip(answers, asked, strict=True) if a.status_code == 201]
    assert 0 < len(used) < len(asked) and sum(used) <= 5_000_00
    assert (await fonds(served))["left"] == 5_000_00 - sum(used)
    assert len(await listed(served)) == 1 + len(used)
    assert all(a.json()["detail"].startswith("not that much left in the fonds de la cité")
               for a in answers if a.status_code == 409)
    events = await served.outbox("FondsUsed")
    assert sum(e["amount"] for e in events) == 25_000_00 + sum(used)
    await served.ledger_balanced()


async def test_the_statement_shows_what_the_fonds_was_used_for_per_programme(
        service: Funding) -> None:
    await service.funded_cite()
    for amount in (1_000_01, 2_000_00):
        r = await service.http.post(USES, json=use(amount), headers=AS_COLLEGE)
        assert r.status_code == 201, r.text

    statement = (await service.http.get("/cites/cite-001/statement", headers=AS_VIEWER)).json()
    lines = {(x["year"], x["programme"]): x for x in statement["lines"]}

    assert (lines[(2025, "P147")]["fonds_used"], lines[(2025, "P230")]["fonds_used"]) == (
        1_500_00, 1_500_01)  # split as contributed: 15 000 € each
    assert statement["totals"]["fonds_used"] == 3_000_01
    ledger = await service.s.runtime.pool.fetchval(
        "SELECT sum(amount) FROM ledger WHERE cite_id = 'cite-001' AND movement = 'use'")
    assert ledger == 3_000_01
    csv = (await service.http.get("/cites/cite-001/statement.csv", headers=AS_VIEWER)).text
    assert csv.splitlines()[0].endswith(",fonds_used,cofinancing")
    await service.ledger_balanced()
