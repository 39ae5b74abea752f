"""Two replicas of partners and two of funding share their groups' partitions while cités
are labelled through labelling's API; one replica of each is SIGKILLed while it consumes,
its partitions go to the survivor (a rebalance), and still every label makes one alliance,
one dotation and one fonds, no event is doubled and the money is exact."""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections import Counter, defaultdict
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import httpx
import pytest
from e2e_platform import VIEWER, Platform, ServiceProcess, first_year_share
from e2e_platform import running_platform as platform_of
from faults_kit import Figures, alliances, label_all, outcome, report

from cites_contracts.topics import LABELLING_LABELS
from cites_runtime.dlq import list_dead_letters
from cites_runtime.testing import eventually, read_topic, wait_caught_up
from cites_runtime.testing.infra import Infra

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

CITES = 300
KILL_AT = 40  # alliances and fonds each made when one replica of each service is killed
YEAR = datetime.now(ZoneInfo("Europe/Paris")).year  # a label starts on its decision day
P147_AMOUNT, P230_AMOUNT = 100_000_000_00, 10_000_000_00
FONDS_SHARE = 15_000_00
DOTATION = first_year_share(250_000_00)
"""What the P147 default rule gives a cité that asked for nothing (the labels' requests),
this first year's share."""
BATCH = "20"
"""Records a consumer applies in one transaction: small, so that a kill lands in a stream
of batches rather than after one that held everything."""


@pytest.fixture
async def platform(infra: Infra, tmp_path: Path) -> AsyncIterator[Platform]:
    async with platform_of(infra, tmp_path, funding=True,
                           replicas={"partners": 2, "funding": 2},
                           settings={"PARTNERS_CONSUMER_BATCH_SIZE": BATCH,
                                     "FUNDING_CONSUMER_BATCH_SIZE": BATCH}) as running:
        yield running


async def test_a_replica_of_partners_and_of_funding_killed_mid_stream(
    platform: Platform,
) -> None:
    p147, p230 = [await platform.open_envelope(programme, amount, YEAR)
                  for programme, amount in (("P147", P147_AMOUNT), ("P230", P230_AMOUNT))]
    labels = platform.topic("labelling.labels")
    everything = {(labels, p) for p in range(LABELLING_LABELS.partitions)}
    labelled: list[str] = []
    driving = asyncio.ensure_future(label_all(platform, labelled, CITES))
    try:
        async def working() -> bool:
            return (await alliances(platform) >= KILL_AT
                    and await fonds_made(platform, p230) >= KILL_AT)

        await eventually(working, timeout=60, every=0.05, what=f"{KILL_AT} alliances and fonds")
        victims = [await busiest(platform.replicas[name], labels)
                   for name in ("partners", "funding")]
        held = {v.name: len(await assigned(v, labels)) for v in victims}
        for victim in victims:
            victim.kill()
        killed_at, at_kill = time.monotonic(), (await alliances(platform), len(labelled))
        survivors = [r for v in victims for r in platform.replicas[v.name] if r is not v]
        recovery = [await eventually(lambda s=s: holds_all(s, labels, everything), timeout=60,
                                     every=0.1, what=f"{s.name}'s survivor given every "
                                     "partition") for s in survivors]
        await driving
    finally:
        if not driving.done():
            driving.cancel()
    partners = await outcome(platform, labelled, timeout=120)
    money = await funding_outcome(platform, labelled, p147, p230)
    settled = time.monotonic() - killed_at
    report(Figures(
        "replicas killed", "1 of 2 partners and 1 of 2 funding replicas SIGKILLed while "
        "consuming", 2 * len(labelled), partners.lost + money.lost,
        partners.doubled + money.doubled, partners.dead_letters + money.dead_letters,
        max(recovery),
        f"labels consumed by 2 groups of 2 replicas; killed at {at_kill[0]} alliances, "
        f"{at_kill[1]} labels; partitions of the labels moved to the survivor {held}; "
        f"all applied and checked {settled:.1f} s after the kill; money exact: {money.exact}"
        f"; {platform.resent} requests sent again"))

    assert at_kill[0] >= KILL_AT and at_kill[1] < CITES  # killed mid-stream
    assert all(held.values())  # each victim was consuming labels
    assert len(set(labelled)) == CITES
    assert (partners.lost, partners.doubled, partners.dead_letters) == (0, 0, 0)
    assert (money.lost, money.doubled, money.dead_letters) == (0, 0, 0)
    assert money.exact, money


async def busiest(replicas: list[ServiceProcess], topic: str) -> ServiceProcess:
    """The replica assigned the most partitions of ``topic``: it is consuming them."""
    held = {r.ops_url: len(await assigned(r, topic)) for r in replicas}
    return max(replicas, key=lambda r: held[r.ops_url])


class Money:
    """What funding made of the labels: counted by its ledger, its statements, its
    envelopes and what reached ``funding.allocations``."""

    def __init__(self) -> None:
        self.lost = self.doubled = self.dead_letters = 0
        self.exact = False
        self.seen: dict[str, Any] = {}

    def __repr__(self) -> str:
        return f"Money(lost={self.lost}, doubled={self.doubled}, seen={self.seen})"


async def funding_outcome(platform: Platform, labelled: list[str], p147: str,
                          p230: str) -> Money:
    """Wait until funding has every fonds and its group has committed every label, then
    count: one allocation and one fonds per cité (ledger rows, events by id), statements
    and envelopes to the cent."""
    funding = platform.funding
    assert funding is not None
    await eventually(lambda: at_least_fonds(platform, p230, len(labelled)), timeout=120,
                     what=f"{len(labelled)} fonds")
    await wait_caught_up(platform.kafka, platform.topic("funding"),
                         platform.topic("labelling.labels"), timeout=120)
    rows = await ledger_rows(funding)
    events = await events_by_cite(platform, len(labelled))
    statements = await asyncio.gather(*(statement(platform, c) for c in labelled))
    envelopes = {e: await platform.remaining(e) for e in (p147, p230)}
    check = (await platform.funds.get("/ledger/check", headers=VIEWER)).json()
    money = Money()
    money.lost = sum(1 for c in labelled if rows.get((c, "allocate"), 0) == 0
                     or rows.get((c, "grant"), 0) == 0 or len(events[c]["allocated"]) == 0)
    money.doubled = (sum(max(0, rows.get((c, "allocate"), 0) - 1) for c in labelled)
                     + sum(max(0, rows.get((c, "grant"), 0) - 2) for c in labelled)
                     + sum(max(0, len(ids) - 1) for e in events.values() for ids in e.values()))
    money.dead_letters = len(await list_dead_letters(platform.kafka,
                                                     platform.topic("funding.dlq")))
    money.seen = {"statements": Counter((s["allocated"], s["fonds"]) for s in statements),
                  "envelopes": envelopes, "ledger": check}
    money.exact = (bool(check["balanced"]) and check["total"] == 0
                   and all((s["allocated"], s["fonds"]) == (DOTATION, 2 * FONDS_SHARE)
                           for s in statements)
                   and envelopes == {p147: P147_AMOUNT - len(labelled) * (DOTATION + FONDS_SHARE),
                                     p230: P230_AMOUNT - len(labelled) * FONDS_SHARE})
    return money


async def ledger_rows(funding: ServiceProcess) -> dict[tuple[str, str], int]:
    """(cité, movement) → rows of funding's ledger, for allocations and fonds grants."""
    conn = await asyncpg.connect(funding.db.dsn)
    try:
        found = await conn.fetch("""SELECT cite_id, movement, count(*) AS n FROM ledger
                                    WHERE movement IN ('allocate', 'grant')
                                    GROUP BY cite_id, movement""")
    finally:
        await conn.close()
    return {(r["cite_id"], r["movement"]): int(r["n"]) for r in found}


async def events_by_cite(platform: Platform, cites: int) -> dict[str, dict[str, set[str]]]:
    """cité → ``allocated`` and ``granted``: the event ids of its FundsAllocated and
    FondsDeLaCiteGranted on ``funding.allocations`` (a relay's re-send keeps the id)."""
    kinds = {"funding.FundsAllocated": "allocated", "funding.FondsDeLaCiteGranted": "granted"}
    found: dict[str, dict[str, set[str]]] = defaultdict(lambda: {"allocated": set(),
                                                                 "granted": set()})

    def read(records: list[Any]) -> bool:
        found.clear()
        for r in records:
            envelope = json.loads(r.value)
            if (kind := kinds.get(envelope["type"])) is not None:
                found[envelope["data"]["cite_id"]][kind].add(envelope["event_id"])
        return sum(1 for e in found.values() if e["allocated"] and e["granted"]) >= cites

    await read_topic(platform.kafka, platform.topic("funding.allocations"), until=read,
                     timeout=120)
    return found


async def statement(platform: Platform, cite_id: str) -> dict[str, int]:
    """The totals of the cité's statement (``GET /cites/{id}/statement``)."""
    answer = await platform.funds.get(f"/cites/{cite_id}/statement", headers=VIEWER)
    assert answer.status_code == 200, answer.text
    totals: dict[str, int] = answer.json()["totals"]
    return totals
async def fonds_made(platform: Platform, p230: str) -> int:
    """Fonds granted so far: each takes one share from the P230 envelope."""
    return (P230_AMOUNT - await platform.remaining(p230)) // FONDS_SHARE


async def at_least_fonds(platform: Platform, p230: str, n: int) -> bool:
    return await fonds_made(platform, p230) >= n


LAG = re.compile(r'^consumer_lag_records\{([^}]*)\}', re.MULTILINE)


async def assigned(process: ServiceProcess, topic: str) -> set[tuple[str, int]]:
    """The partitions of ``topic`` the process's consumer is assigned, as its /metrics
    says (its lag series, one per assigned partition); none when it does not answer."""
    try:
        async with httpx.AsyncClient(timeout=10) as http:
            text = (await http.get(f"{process.ops_url}/metrics")).text
    except httpx.HTTPError:
        return set()
    found = set()
    for labels in LAG.findall(text):
        fields = dict(re.findall(r'(\w+)="([^"]*)"', labels))
        if fields.get("topic") == topic:
            found.add((topic, int(fields["partition"])))
    return found


async def holds_all(process: ServiceProcess, topic: str, every: set[tuple[str, int]]) -> bool:
    return await assigned(process, topic) == every

