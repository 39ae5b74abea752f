"""Driving and measuring a fault scenario: labelling cités through the platform, and what
it did with every label it was given."""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

import asyncpg
from e2e_platform import Platform

from cites_runtime.dlq import list_dead_letters
from cites_runtime.testing import eventually, read_topic, wait_caught_up

CONCURRENCY = 8  # candidatures in flight at once


async def label_all(platform: Platform, labelled: list[str], cites: int) -> None:
    """Label ``cites`` cités, CONCURRENCY at a time, appending each to ``labelled``."""
    slots = asyncio.Semaphore(CONCURRENCY)

    async def one(i: int) -> None:
        async with slots:
            labelled.append(await platform.label(f"07{i:05d}C", territory=f"Territoire {i}"))

    await asyncio.gather(*(one(i) for i in range(cites)))


@dataclass
class Figures:
    scenario: str
    fault: str
    events: int
    lost: int
    doubled: int
    dead_letters: int
    recovery_s: float | None
    notes: str = ""

    def row(self) -> str:
        recovery = "-" if self.recovery_s is None else f"{self.recovery_s:.1f} s"
        return (f"| {self.scenario} | {self.fault} | {self.events:,} | {self.lost} | "
                f"{self.doubled} | {self.dead_letters} | {recovery} | {self.notes} |")


FIGURES: list[Figures] = []

HEADER = ("| scenario | injected fault | events | lost | doubled effects | dead letters | "
          "recovery | also seen |\n|---|---|---|---|---|---|---|---|")


def table(figures: list[Figures]) -> str:
    return "\n".join([HEADER, *(f.row() for f in figures)])


def report(figures: Figures) -> Figures:
    FIGURES.append(figures)
    print(f"\n{HEADER}\n{figures.row()}")
    return figures


async def count(dsn: str, sql: str) -> int:
    conn = await asyncpg.connect(dsn)
    try:
        return int(await conn.fetchval(sql))
    finally:
        await conn.close()


async def alliances(platform: Platform) -> int:
    return await count(platform.partners.db.dsn, "SELECT count(*) FROM alliances")


async def wait_alliances(platform: Platform, n: int, timeout: float) -> float:
    """Wait until partners holds ``n`` alliances; returns the seconds it took."""
    started = time.monotonic()

    async def enough() -> bool:
        return await alliances(platform) >= n

    await eventually(enough, timeout=timeout, every=0.1, what=f"{n} alliances")
    return time.monotonic() - started


@dataclass
class Outcome:
    """What the platform made of ``labelled`` (every cité a run labelled)."""

    lost: int  # labelled, but no alliance
    doubled: int  # AllianceOpened under more than one event id, or more than one chef
    dead_letters: int
    wire_duplicates: int  # the same TerritoryLabelled event on the wire more than once

    @property
    def clean(self) -> bool:
        return self.lost == 0 and self.doubled == 0 and self.dead_letters == 0


async def outcome(platform: Platform, labelled: list[str], *, timeout: float = 240) -> Outcome:
    """Wait for the platform to settle (every alliance there, partners' lag at 0), then
    count from partners' tables and from the topics themselves."""
    await wait_alliances(platform, len(labelled), timeout)
    labels, alliances_topic = (platform.topic("labelling.labels"),
                               platform.topic("partners.alliances"))
    await wait_caught_up(platform.kafka, platform.topic("partners"), labels, timeout=timeout)
    conn = await asyncpg.connect(platform.partners.db.dsn)
    try:
        opened = {r["cite_id"] for r in await conn.fetch("SELECT cite_id FROM alliances")}
        chefs = await conn.fetch(
            """SELECT a.cite_id, count(m.id) AS chefs FROM alliances a
               LEFT JOIN memberships m ON m.cite_id = a.cite_id AND m.left_at IS NULL
                                      AND 'chef_de_file' = ANY (m.roles)
               GROUP BY a.cite_id""")
    finally:
        await conn.close()
    wire = await read_topic(platform.kafka, labels, until=lambda r: len(r) >= len(labelled),
                            timeout=120)
    events = await read_topic(
        platform.kafka, alliances_topic, timeout=120,
        until=lambda r: len(opened_ids(r)) >= len(labelled))
    by_cite = opened_ids(events)
    dead = await list_dead_letters(platform.kafka, platform.topic("partners.dlq"))
    sent = Counter(json.loads(r.value)["event_id"] for r in wire
                   if dict(r.headers).get("type") == b"labelling.TerritoryLabelled")
    return Outcome(
        lost=len(set(labelled) - opened) + len(set(labelled) - set(by_cite)),
        doubled=sum(len(ids) - 1 for ids in by_cite.values())
        + sum(max(0, r["chefs"] - 1) for r in chefs),
        dead_letters=len(dead),
        wire_duplicates=sum(n - 1 for n in sent.values()),
    )


def opened_ids(records: list[Any]) -> dict[str, set[str]]:
    """cité → the event ids of the AllianceOpened records naming it."""
    by_cite: dict[str, set[str]] = {}
    for r in records:
        if dict(r.headers).get("type") == b"partners.AllianceOpened":
            envelope = json.loads(r.value)
            by_cite.setdefault(envelope["data"]["cite_id"], set()).add(envelope["event_id"])
    return by_cite
