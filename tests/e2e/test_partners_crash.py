"""Nothing lost, nothing doubled: 500 cités labelled through labelling's API while the
partners process is killed with SIGKILL mid-way (twice) and started again."""

from __future__ import annotations

import asyncio
import json
from collections import defaultdict
from typing import Any

import asyncpg
import pytest
from e2e_platform import Platform, at_least

from cites_runtime.dlq import list_dead_letters
from cites_runtime.testing import eventually, read_topic

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

CITES = 500
FIRST_KILL = 100  # alliances opened when partners is first killed, labels still coming
BACKLOG = 350  # cités labelled when it comes back, to find a backlog it is killed in
CONCURRENCY = 8  # candidatures in flight in labelling at once


async def test_500_labels_with_partners_killed_mid_way_open_500_alliances_once_each(
    platform: Platform,
) -> None:
    labelled: list[str] = []
    slots = asyncio.Semaphore(CONCURRENCY)

    async def label(n: int) -> None:
        async with slots:
            labelled.append(await platform.label(f"07{n:05d}C", territory=f"Territoire {n}"))

    db = await asyncpg.connect(platform.partners.db.dsn)

    alliances, inbox = "SELECT count(*) FROM alliances", "SELECT count(*) FROM processed_events"
    try:
        labelling = asyncio.gather(*(label(n) for n in range(CITES)))

        async def backlog() -> bool:
            return len(labelled) >= BACKLOG or labelling.done()

        try:
            # 1. Killed while keeping up with labels as they come.
            await eventually(at_least(db, alliances, FIRST_KILL), timeout=180, every=0.05,
                             what=f"{FIRST_KILL} alliances")
            platform.partners.kill()
            first_kill = (await db.fetchval(alliances), len(labelled))
            # 2. Back with a backlog, killed again as soon as its first batch committed
            #    (its offsets may not be: the same labels come again after the restart).
            await eventually(backlog, timeout=180, what=f"{BACKLOG} cités labelled")
            applied = int(await db.fetchval(inbox))
            await platform.partners.start()
            await eventually(at_least(db, inbox, applied + 1), timeout=60, every=0.02,
                             what="a batch of the backlog applied")
            platform.partners.kill()
            # 3. Back for good, while the last labels come.
            await platform.partners.start()
            await labelling
        finally:
            if not labelling.done():
                labelling.cancel()
        await eventually(at_least(db, alliances, CITES), timeout=240, what=f"{CITES} alliances")
        opened = {r["cite_id"] for r in await db.fetch("SELECT cite_id FROM alliances")}
        chefs = await db.fetch(
            """SELECT a.cite_id, count(m.id) AS chefs, count(DISTINCT p.uai) AS uais
               FROM alliances a
               LEFT JOIN memberships m ON m.cite_id = a.cite_id AND m.left_at IS NULL
                                      AND 'chef_de_file' = ANY (m.roles)
               LEFT JOIN partners p ON p.partner_id = m.partner_id
               GROUP BY a.cite_id""")
        members = await db.fetchval("SELECT count(*) FROM memberships")
        colleges = await db.fetchval("SELECT count(*) FROM partners")
    finally:
        await db.close()
    events = await read_topic(platform.kafka, platform.topic("partners.alliances"),
                              until=lambda records: len(_opened_by_cite(records)) >= CITES,
                              timeout=120)
    by_cite = _opened_by_cite(events)
    dead = await list_dead_letters(platform.kafka, platform.topic("partners.dlq"))

    assert first_kill[0] >= FIRST_KILL and first_kill[1] < CITES  # killed mid-way
    assert platform.partners.starts == 3
    assert len(set(labelled)) == CITES
    assert opened == set(labelled)
    assert sorted({(r["chefs"], r["uais"]) for r in chefs}) == [(1, 1)]
    assert (members, colleges) == (CITES, CITES)
    # Every cité's AllianceOpened is one event (a relay may re-send it after a crash,
    # under the same event id, but never a second opening under another id).
    assert set(by_cite) == set(labelled)
    assert {len(ids) for ids in by_cite.values()} == {1}
    assert dead == []


def _opened_by_cite(records: list[Any]) -> dict[str, set[str]]:
    """cité → the event ids of the AllianceOpened records naming it."""
    by_cite: dict[str, set[str]] = defaultdict(set)
    for r in records:
        if dict(r.headers)["type"] == b"partners.AllianceOpened":
            envelope = json.loads(r.value)
            by_cite[envelope["data"]["cite_id"]].add(envelope["event_id"])
    return by_cite
