"""Money under concurrency, on the real PostgreSQL and over real HTTP (uvicorn on a port):
a thousand commands race for one account, and only what fits passes.

Each race sends every request at once (``asyncio.gather``, each on its own connection;
about 20 s for a thousand on a 2-core machine, client and server included). Every answer
is a 201 or a 409 naming the limit and by how much it was exceeded — never a 5xx — and
afterwards the money agrees everywhere: the 201s' sum fits the account, equals what the
ledger's statement says moved, one event per 201, the ledger balanced, and the account
holds exactly what was not taken. Nothing that fitted was refused: an account only goes
down during a race, so each refusal's "holds" bounds what is left at the end.

Last, two cités funded at once, each in its own transaction (two replicas' yearly checks,
or one and a label), whose years draw on envelopes shared across waves: neither waits for
the other for ever.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from datetime import date
from typing import Any

import httpx
from funding.service import fund_due_years
from funding_kit import CONVENTION, OPERATOR, WAVE, Funding, labelled, p147, p230

from cites_contracts.types import LabelPeriod
from cites_runtime.testing import AS_NATIONAL, AS_PREFECTURE_93, FakeClock, eventually

RACERS = 1_000
LIMITS = httpx.Limits(max_connections=100, max_keepalive_connections=100)
ALLOCATION = 300_000_00
"""The cité's 2025 dotation (it requested 300 k€): what the commitments race for."""

_EUROS = r"(-?[\d\u202f]+,\d\d) €"
_REFUSAL = re.compile(rf"^(?P<what>[^:]+): {_EUROS} requested, (?P<account>\w+ \S+) holds "
                      rf"{_EUROS}; {_EUROS} over$")


def amounts() -> list[int]:
    """About 1 000 € each, plus odd cents: no sum of them is a round number."""
    return [1_000_00 + 1 + (i * 37) % 97 for i in range(RACERS)]


def cents(euros: str) -> int:
    """``1\u202f000,01`` (as refusals show amounts) → ``100001``."""
    return int(euros.replace("\u202f", "").replace(",", ""))


async def race(service: Funding, requests: list[tuple[str, dict[str, Any], dict[str, str]]]
               ) -> list[httpx.Response]:
    """Send every request at once, each on its own connection: one client per hundred
    (httpcore's pool scans every queued request at each step, so queueing a thousand on
    one client spends minutes of the test's CPU before the service sees them)."""
    per_client = LIMITS.max_connections or 100
    async with contextlib.AsyncExitStack() as clients:
        answers = []
        for start in range(0, len(requests), per_client):
            http = await clients.enter_async_context(httpx.AsyncClient(
                base_url=service.s.url, limits=LIMITS, timeout=120))
            answers += [http.post(path, json=body, headers=headers)
                        for path, body, headers in requests[start:start + per_client]]
        return list(await asyncio.gather(*answers))


def refusals_are_limits(responses: list[httpx.Response], asked: list[int], what: str,
                        account: str) -> list[int]:
    """Every answer is a 201 or a 409 saying which limit and by how much; returns what each
    refusal said the account held."""
    assert {r.status_code for r in responses} <= {201, 409}, sorted(
        {(r.status_code, r.text) for r in responses if r.status_code not in (201, 409)})
    held = []
    for r, amount in zip(responses, asked, strict=True):
        if r.status_code != 409:
            continue
        said = _REFUSAL.match(r.json()["detail"])
        assert said is not None, r.text
        requested, holds, over = (cents(said.group(n)) for n in (2, 4, 5))
        assert (said["what"], said["account"], requested) == (what, account, amount), r.text
        assert 0 <= holds < requested and over == requested - holds, r.text
        held.append(holds)
    return held


def passed(responses: list[httpx.Response], asked: list[int]) -> list[int]:
    return [a for r, a in zip(responses, asked, strict=True) if r.status_code == 201]


async def statement_totals(service: Funding) -> dict[str, int]:
    r = await service.http.get("/cites/cite-001/statement", headers=AS_NATIONAL)
    assert r.status_code == 200, r.text
    totals: dict[str, int] = r.json()["totals"]
    return totals


async def test_a_thousand_commitments_racing_one_allocation_commit_only_what_it_holds(
    served: Funding,
) -> None:
    dotation = await served.funded_cite(requested=ALLOCATION)
    allocation = dotation["allocation_id"]
    assert dotation["amount"] == dotation["uncommitted"] == ALLOCATION
    asked = amounts()

    responses = await race(served, [("/cites/cite-001/commitments", {
        "allocation_id": allocation, "operator_partner_id": str(OPERATOR),
        "action_title": f"Action {i}", "amount": amount,
        "legal_act": CONVENTION}, AS_PREFECTURE_93)
        for i, amount in enumerate(asked)])

    held = refusals_are_limits(responses, asked, "not enough uncommitted in the allocation",
                               f"allocation {allocation}")
    committed = passed(responses, asked)
    assert 0 < len(committed) < RACERS and sum(committed) <= ALLOCATION
    assert all(r.json()["amount"] == r.json()["unpaid"] for r in responses
               if r.status_code == 201)
    left = (await served.dotation())["uncommitted"]
    assert left == ALLOCATION - sum(committed)
    assert left <= min(held)  # what was refused never fitted, even at the end
    assert (await statement_totals(served))["committed"] == sum(committed)
    events = await served.outbox("FundsCommitted")
    assert sorted(e["amount"] for e in events) == sorted(committed)
    assert len((await served.cite())["commitments"]) == len(committed)
    await served.ledger_balanced()


async def test_a_thousand_payments_racing_one_commitment_pay_only_what_it_has_not_paid(
    served: Funding,
) -> None:
    allocation = (await served.funded_cite(requested=ALLOCATION))["allocation_id"]
    made = await served.commit(allocation, ALLOCATION)
    assert made.status_code == 201, made.text
    commitment = made.json()["commitment_id"]
    asked = amounts()

    responses = await race(served, [(f"/commitments/{commitment}/payments",
                                     {"amount": amount}, AS_PREFECTURE_93)
                                    for amount in asked])

    held = refusals_are_limits(responses, asked, "not enough unpaid on the commitment",
                               f"commitment {commitment}")
    paid = passed(responses, asked)
    assert 0 < len(paid) < RACERS and sum(paid) <= ALLOCATION
    view = (await served.http.get(f"/commitments/{commitment}", headers=AS_NATIONAL)).json()
    assert view["unpaid"] == ALLOCATION - sum(paid)
    assert view["unpaid"] <= min(held)
    assert sorted(p["amount"] for p in view["payments"]) == sorted(paid)
    assert (await statement_totals(served))["paid"] == sum(paid)
    events = await served.outbox("PaymentMade")
    assert sorted(e["amount"] for e in events) == sorted(paid)
    await served.ledger_balanced()


async def test_a_thousand_manual_allocations_racing_one_envelope_allocate_only_what_is_left(
    served: Funding,
) -> None:
    spare = 300_000_00  # what the envelope holds once the cité has its dotation and fonds
    e147, _ = await served.open_envelopes(p147_amount=ALLOCATION + 15_000_00 + spare)
    await served.funded_cite(requested=ALLOCATION)
    asked = amounts()

    responses = await race(served, [("/cites/cite-001/allocations", {
        "envelope_id": e147, "year": 2025, "amount": amount,
        "motive": f"Rallonge {i}"}, AS_NATIONAL) for i, amount in enumerate(asked)])

    held = refusals_are_limits(responses, asked, "not enough left in the envelope",
                               f"envelope {e147}")
    allocated = passed(responses, asked)
    assert 0 < len(allocated) < RACERS and sum(allocated) <= spare
    assert all(r.json()["rule"] == "manual" and r.json()["uncommitted"] == r.json()["amount"]
               for r in responses if r.status_code == 201)
    envelope = (await served.http.get(f"/envelopes/{e147}", headers=AS_NATIONAL)).json()
    assert envelope["remaining"] == spare - sum(allocated)
    assert envelope["remaining"] <= min(held)
    assert (await statement_totals(served))["allocated"] == ALLOCATION + sum(allocated)
    events = [e for e in await served.outbox("FundsAllocated")
              if e["dotation_rule"] == "manual"]
    assert sorted(e["amount"] for e in events) == sorted(allocated)
    await served.ledger_balanced()


DOUBLES = 100


async def test_one_command_sent_many_times_at_once_with_its_idempotency_key_acts_once(
    served: Funding,
) -> None:
    """A client retrying before its first answer came: one 201, then the first result."""
    e147, _ = await served.open_envelopes()
    allocation = (await served.funded_cite(requested=ALLOCATION))["allocation_id"]
    key = {"Idempotency-Key": "rallonge-2025-cite-001"}
    allocated = await race(served, [("/cites/cite-001/allocations", {
        "envelope_id": e147, "year": 2025, "amount": 50_000_00, "motive": "Rallonge"},
        {**AS_NATIONAL, **key})] * DOUBLES)
    committed = await race(served, [("/cites/cite-001/commitments", {
        "allocation_id": allocation, "operator_partner_id": str(OPERATOR),
        "action_title": "Ateliers", "amount": 10_000_00,
        "legal_act": CONVENTION}, {**AS_PREFECTURE_93, **key})] * DOUBLES)
    commitment = committed[0].json()["commitment_id"]
    paid = await race(served, [(f"/commitments/{commitment}/payments", {"amount": 1_000_00},
                                {**AS_PREFECTURE_93, **key})] * DOUBLES)

    for answers, id_field in ((allocated, "allocation_id"), (committed, "commitment_id"),
                              (paid, "commitment_id")):
        statuses = sorted(r.status_code for r in answers)
        assert statuses == [200] * (DOUBLES - 1) + [201], {r.text for r in answers}
        assert len({r.json()[id_field] for r in answers}) == 1
    assert len([e for e in await served.outbox("FundsAllocated")
                if e["dotation_rule"] == "manual"]) == 1
    assert len(await served.outbox("FundsCommitted")) == 1
    assert len(await served.outbox("PaymentMade")) == 1
    totals = await statement_totals(served)
    assert (totals["allocated"], totals["committed"], totals["paid"]) == (
        ALLOCATION + 50_000_00, 10_000_00, 1_000_00)
    await served.ledger_balanced()


async def test_two_cites_funded_at_once_from_shared_envelopes_never_deadlock(
    service: Funding, clock: FakeClock,
) -> None:
    """Cité 1 (wave 2024, labelled from 2025) is due 2025 and 2026, cité 2 (wave 2026)
    2026; P230's envelope covers both waves and years, P147 has one envelope for 2025 and
    another for 2026. Each cité's funding would take both envelopes of a year, then the next
    year's: cité 1 holding P230's while waiting for P147 2026's, cité 2 the other way round."""
    clock.set_date(date(2026, 3, 10))
    later = "2026-rolling"
    await service.s.publish(  # known, but no envelope yet: nothing funded
        labelled("cite-001"),
        labelled("cite-002", wave=later, period=LabelPeriod.of_years(date(2026, 1, 1))))
    opened = []
    for body in (p230(budget_years=[2025, 2026], wave_ids=[WAVE, later]),
                 p147(budget_years=[2025]), p147(budget_years=[2026], wave_ids=[WAVE, later])):
        r = await service.http.post("/envelopes", json=body, headers=AS_NATIONAL)
        assert r.status_code == 201, r.text
        opened.append(r.json()["envelope_id"])
    shared = opened[0]
    runtime = service.s.runtime

    async def fund(cite_id: str) -> int:
        async with runtime.unit_of_work() as uow:
            return await fund_due_years(uow, cite_id)

    async def waiting_for_locks(n: int) -> None:
        async def check() -> bool:
            return bool(await runtime.pool.fetchval(
                """SELECT count(*) = $1 FROM pg_stat_activity
                   WHERE usename = current_user AND wait_event_type = 'Lock'""", n))
        await eventually(check, timeout=10, what=f"{n} transactions waiting for a lock")

    # P230's envelope held a moment, so that both start and queue for it, cité 1 first.
    async with runtime.pool.acquire() as gate:
        hold = gate.transaction()
        await hold.start()
        await gate.execute("SELECT 1 FROM accounts WHERE kind = 'envelope' AND ref = $1 "
                           "FOR UPDATE", shared)
        first = asyncio.create_task(fund("cite-001"))
        await waiting_for_locks(1)
        second = asyncio.create_task(fund("cite-002"))
        await waiting_for_locks(2)
        await hold.rollback()
        emitted = await asyncio.gather(first, second, return_exceptions=True)

    assert emitted == [4, 2]  # 2025 and 2026: a dotation and a fonds each
    for cite_id, years in (("cite-001", [2025, 2026]), ("cite-002", [2026])):
        assert [a["year"] for a in (await service.cite(cite_id))["allocations"]] == years
    await service.ledger_balanced()
