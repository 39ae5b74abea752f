"""The money, across processes: labelling, partners and funding run as ``python -m …`` on
the real Kafka and PostgreSQL and meet only on Kafka. The year's envelopes are opened,
50 cités labelled through labelling's API while funding is SIGKILLed mid-way (twice) and
started again; then a suspension, a reinstatement, a withdrawal and the release of its
frozen money. Nothing is doubled — by funding's ledger and by what reached
``funding.allocations`` — and every cent is where the rules put it."""

from __future__ import annotations

import asyncio
import json
from collections import defaultdict
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import pytest
from e2e_platform import (
    NATIONAL,
    VIEWER,
    Platform,
    at_least,
    first_year_share,
    running_platform,
)

from cites_runtime.dlq import list_dead_letters
from cites_runtime.testing import eventually, read_topic
from cites_runtime.testing.infra import Infra

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

CITES = 50
CONCURRENCY = 8  # candidatures in flight in labelling at once
KILL_AT = 8  # dotations allocated when funding is first killed, labels still coming
YEAR = datetime.now(ZoneInfo("Europe/Paris")).year  # a label starts on its decision day
P147_AMOUNT, P230_AMOUNT = 40_000_000_00, 1_000_000_00
FONDS_SHARE = 15_000_00
# What the candidatures ask (cents a year) → the P147 default rule's dotation: the request
# within 120 k€–650 k€, and 250 k€ when it asked for nothing (labelling sends 0); this
# first year's, prorated from today (the labels' start).
ASKED = {asked: first_year_share(yearly) for asked, yearly in (
    (0, 250_000_00), (50_000_00, 120_000_00), (300_000_00, 300_000_00),
    (900_000_00, 650_000_00))}


def asked(n: int) -> int:
    return list(ASKED)[n % len(ASKED)]


@pytest.fixture
async def platform(infra: Infra, tmp_path: Path) -> AsyncIterator[Platform]:
    """With funding, consuming in small batches (5 records a transaction), so that a kill
    lands between two of them while labels still wait."""
    async with running_platform(infra, tmp_path, funding=True,
                                settings={"FUNDING_CONSUMER_BATCH_SIZE": "5"}) as running:
        yield running


async def test_50_labels_funded_once_each_through_a_crash_then_frozen_unfrozen_released(
    platform: Platform,
) -> None:
    funding = platform.funding
    assert funding is not None
    p147, p230 = [await platform.open_envelope(programme, amount, YEAR)
                  for programme, amount in (("P147", P147_AMOUNT), ("P230", P230_AMOUNT))]

    # 1. 50 cités labelled through labelling's API; funding SIGKILLed while it consumes
    #    them, back with a backlog, SIGKILLed again right after its first batch committed
    #    (its offsets perhaps not: the same events come again), back for good.
    uais: dict[str, str] = {}  # cité → its lead collège
    requested: dict[str, int] = {}
    slots = asyncio.Semaphore(CONCURRENCY)

    async def label(n: int) -> None:
        async with slots:
            uai = f"08{n:05d}F"
            cite = await platform.label(uai, territory=f"Territoire {n}", requested=asked(n))
            uais[cite], requested[cite] = uai, asked(n)

    db = await asyncpg.connect(funding.db.dsn)

    allocations, inbox = "SELECT count(*) FROM allocations", "SELECT count(*) FROM processed_events"
    try:
        labelling = asyncio.gather(*(label(n) for n in range(CITES)))
        try:
            await eventually(at_least(db, allocations, KILL_AT), timeout=120, every=0.02,
                             what=f"{KILL_AT} dotations")
            funding.kill()
            killed_at = int(await db.fetchval(allocations))
            await eventually(lambda: _done_or(labelling, len(uais) >= CITES * 3 // 4),
                             timeout=120, what="a backlog of labels")
            applied = int(await db.fetchval(inbox))
            await funding.start()
            await eventually(at_least(db, inbox, applied + 1), timeout=60, every=0.01,
                             what="a batch of the backlog applied")
            funding.kill()
            await funding.start()
            await labelling
        finally:
            if not labelling.done():
                labelling.cancel()
        # Every cité funded, and funding told by partners who its chef de file is.
        await eventually(at_least(db, allocations, CITES), timeout=120, what=f"{CITES} dotations")
        await eventually(at_least(db, "SELECT count(*) FROM fonds_grants", CITES), timeout=60,
                         what=f"{CITES} fonds")
        await eventually(at_least(db, """SELECT count(*) FROM alliances
                                     WHERE chef_de_file_partner_id IS NOT NULL""", CITES),
                         timeout=60, what=f"{CITES} chefs de file")

        # 2. Suspended → FundsFrozen; reinstated → FundsUnfrozen.
        suspended, withdrawn = sorted(uais)[:2]
        await platform.cite_command(suspended, "suspension", {"motive": "Revue non rendue"})
        frozen = await platform.wait_funds(suspended, lambda c: c["status"] == "suspended",
                                           "suspended")
        await platform.cite_command(suspended, "reinstatement", {"motive": "Revue reçue"})
        thawed = await platform.wait_funds(suspended, lambda c: c["status"] == "active",
                                           "reinstated")
        # 3. Withdrawn → FundsFrozen; released → FundsReleased, back in the envelope.
        before = await platform.remaining(p147)
        await platform.cite_command(withdrawn, "withdrawal", {"motive": "Convention rompue"})
        ended = await platform.wait_funds(withdrawn, lambda c: c["status"] == "withdrawn",
                                          "withdrawn")
        release = await platform.funds.post(f"/cites/{withdrawn}/release", headers=NATIONAL,
                                            json={"motive": "Fin du label"})
        after = await platform.remaining(p147)
        again = await platform.funds.post(f"/cites/{withdrawn}/release", headers=NATIONAL,
                                          json={"motive": "Fin du label"})

        # The ledger: balanced, one dotation per cité and year, one fonds (two shares).
        check = (await platform.funds.get("/ledger/check", headers=VIEWER)).json()
        dotations = await db.fetch("""SELECT cite_id, year, count(*) AS n, sum(amount) AS amount
                                      FROM ledger WHERE movement = 'allocate'
                                      GROUP BY cite_id, year""")
        grants = await db.fetch("""SELECT cite_id, year, count(*) AS n, sum(amount) AS amount
                                   FROM ledger WHERE movement = 'grant'
                                   GROUP BY cite_id, year""")

        async def published() -> bool:
            return not await db.fetchval(
                "SELECT count(*) FROM outbox WHERE published_at IS NULL")

        await eventually(published, timeout=60, what="funding's outbox published")
    finally:
        await db.close()
    alliances = {a["cite_id"]: a for a in (await platform.par.get(
        "/alliances", headers=VIEWER, params={"limit": 200})).json()["items"]}
    funded = {c: await platform.funded_cite(c) for c in uais}
    envelopes = {e["envelope_id"]: e for e in (await platform.funds.get(
        "/envelopes", headers=VIEWER)).json()["items"]}
    records = await read_topic(platform.kafka, platform.topic("funding.allocations"),
                               timeout=60)
    events = by_type(records)
    dead = await list_dead_letters(platform.kafka, platform.topic("funding.dlq"))

    with_partner = sum(e["chef_de_file_partner_id"] is not None
                       for e in events["funding.FondsDeLaCiteGranted"])
    print(f"\n[funding e2e] killed at {killed_at} dotations; {len(records)} records on "
          f"funding.allocations, {len(records) - sum(map(len, events.values()))} sent again; "
          f"{with_partner} of {CITES} fonds named the chef de file's partner id")
    assert KILL_AT <= killed_at < CITES  # killed while consuming the labels
    assert funding.starts == 3
    assert len(uais) == CITES

    # Nothing doubled, by the ledger…
    assert check["balanced"] and check["total"] == 0, check
    assert {(r["cite_id"], r["year"]): (r["n"], r["amount"]) for r in dotations} == {
        (c, YEAR): (1, ASKED[requested[c]]) for c in uais}
    assert {(r["cite_id"], r["year"]): (r["n"], r["amount"]) for r in grants} == {
        (c, YEAR): (2, 2 * FONDS_SHARE) for c in uais}
    assert {c: (len(f["allocations"]), len(f["fonds"])) if f else None
            for c, f in funded.items()} == {c: (1, 1) for c in uais}
    # … and by what reached Kafka: one FundsAllocated and one FondsDeLaCiteGranted per cité
    # and year (a relay may send an event again after a crash: the same event id).
    allocated = once_per_cite_and_year(events["funding.FundsAllocated"])
    granted = once_per_cite_and_year(events["funding.FondsDeLaCiteGranted"])
    assert set(allocated) == set(granted) == {(c, YEAR) for c in uais}
    assert {(c, e["envelope_id"], e["programme"], e["amount"], e["dotation_rule"])
            for (c, _), e in allocated.items()} == {
        (c, p147, "P147", ASKED[requested[c]], "requested_capped") for c in uais}
    assert "funding.AllocationRefused" not in events
    # Each fonds to the cité's lead collège, which partners made chef de file.
    for (c, _), e in granted.items():
        chef = alliances[c]
        assert e["lead_college_uai"] == uais[c] == chef["chef_de_file_uai"], (c, e)
        assert e["contributions"] == [{"programme": "P147", "amount": FONDS_SHARE},
                                      {"programme": "P230", "amount": FONDS_SHARE}]
        assert e["chef_de_file_partner_id"] in (None, chef["chef_de_file_partner_id"])
        funds = funded[c]
        assert funds is not None
        assert funds["chef_de_file"] == {"partner_id": chef["chef_de_file_partner_id"],
                                         "uai": uais[c]}
        assert [(f["uai"], f["partner_id"], f["amount"], f["year"]) for f in funds["fonds"]
                ] == [(uais[c], chef["chef_de_file_partner_id"], 2 * FONDS_SHARE, YEAR)]

    # Suspension froze the whole dotation, reinstatement gave it back.
    dotation = ASKED[requested[suspended]]
    assert [(a["frozen"], a["uncommitted"]) for a in frozen["allocations"]] == [(dotation, 0)]
    assert [(a["frozen"], a["uncommitted"]) for a in thawed["allocations"]] == [(0, dotation)]
    # Withdrawal froze it; the release gave exactly that back to the P147 envelope.
    released = ASKED[requested[withdrawn]]
    assert [(a["frozen"], a["uncommitted"]) for a in ended["allocations"]] == [(released, 0)]
    assert release.status_code == 200, release.text
    assert [a["frozen"] for a in release.json()] == [released]
    assert after - before == released
    assert (again.status_code, again.json()) == (200, [])  # released once
    frozen_events = sorted((e["cite_id"], e["reason"], [f["amount"] for f in e["frozen"]])
                           for e in events["funding.FundsFrozen"])
    assert frozen_events == [(suspended, "label_suspended", [dotation]),
                             (withdrawn, "label_withdrawn", [released])]
    assert [(e["cite_id"], [u["amount"] for u in e["unfrozen"]])
            for e in events["funding.FundsUnfrozen"]] == [(suspended, [dotation])]
    assert [(e["cite_id"], [(r["envelope_id"], r["amount"]) for r in e["released"]])
            for e in events["funding.FundsReleased"]] == [(withdrawn, [(p147, released)])]

    # The envelopes: exactly the dotations and fonds shares out, the release back.
    dotations_out = sum(ASKED[requested[c]] for c in uais) - released
    assert envelopes[p147]["remaining"] == P147_AMOUNT - dotations_out - CITES * FONDS_SHARE
    assert envelopes[p230]["remaining"] == P230_AMOUNT - CITES * FONDS_SHARE
    assert dead == []
async def _done_or(task: asyncio.Future[Any], condition: bool) -> bool:
    return condition or task.done()


def by_type(records: list[Any]) -> dict[str, list[dict[str, Any]]]:
    """The events' payloads by type, each event once (a re-sent record keeps its event
    id), in topic order per cité."""
    found: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)
    for r in records:
        envelope = json.loads(r.value)
        found[envelope["type"]].setdefault(envelope["event_id"], envelope)
    return {t: [e["data"] for e in events.values()] for t, events in found.items()}


def once_per_cite_and_year(events: list[dict[str, Any]]) -> dict[tuple[str, int], Any]:
    """The events by (cité, year), asserting each has one."""
    found: dict[tuple[str, int], list[dict[str, Any]]] = defaultdict(list)
    for e in events:
        found[(e["cite_id"], e["year"])].append(e)
    doubled = {k: len(v) for k, v in found.items() if len(v) != 1}
    assert not doubled, f"more than one event for: {doubled}"
    return {k: v[0] for k, v in found.items()}
