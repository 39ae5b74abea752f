"""Order per aggregate and replay, with the real processes: a suspension committed late
is not overtaken by its cité's reinstatement, and a suspension replayed from the dead
letters after the reinstatement cannot suspend the alliance again."""

from __future__ import annotations

import json
from zoneinfo import ZoneInfo

import asyncpg
import pytest
from e2e_platform import Platform
from faults_kit import Figures, alliances, report, wait_alliances
from labelling import service as labelling

from cites_runtime.actor import Actor, Role
from cites_runtime.db import create_pool
from cites_runtime.dlq import list_dead_letters
from cites_runtime.testing import eventually, read_topic, wait_caught_up
from cites_runtime.testing.infra import Infra
from cites_runtime.uow import UnitOfWork, outbox_channel

PARIS = ZoneInfo("Europe/Paris")

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

NATIONAL = Actor(Role.NATIONAL, "fault-suite")
OTHERS = 20


def sequences_of(records: list[object], cite_id: str) -> list[tuple[str, int]]:
    """(type, sequence) of ``cite_id``'s events, in the order they are on the wire."""
    out = []
    for r in records:
        envelope = json.loads(r.value)  # type: ignore[attr-defined]
        if envelope["aggregate_id"] == cite_id:
            out.append((envelope["type"].split(".")[-1], envelope["sequence"]))
    return out


async def test_a_suspension_committed_late_reaches_kafka_before_the_reinstatement(
    platform: Platform,
) -> None:
    x = await platform.label("0691234A", territory="Vaulx-en-Velin")
    await platform.wait_alliance(x)
    db = platform.labelling.db
    pool = await create_pool(db.dsn, db.schema, min_size=1, max_size=1)
    try:
        async with pool.acquire() as t1, t1.transaction():
            # T1: labelling's own use case, its outbox row written, its commit held back.
            # In the service's zone, as the service dates it: the label was decided on
            # Paris's date, which is UTC's next one for an hour each night.
            uow = UnitOfWork(t1, channel=outbox_channel(db.schema), zone=PARIS)
            await labelling.suspend_label(uow, x, "Gouvernance à revoir", NATIONAL)
            await uow.flush()
            # Meanwhile 20 commands commit through the API, their rows after T1's.
            others = [await platform.label(f"06{n:05d}D", territory=f"Autre {n}")
                      for n in range(OTHERS)]
            held = await read_topic(platform.kafka, platform.topic("labelling.labels"),
                                    timeout=30, idle=2.0)
        # T1 committed; the reinstatement (T2) goes through the API.
        await platform.cite_command(x, "reinstatement", {"motive": "Gouvernance revue"})
    finally:
        await pool.close()
    await wait_alliances(platform, 1 + OTHERS, timeout=60)
    wire = await read_topic(platform.kafka, platform.topic("labelling.labels"),
                            until=lambda rs: len(sequences_of(rs, x)) >= 3, timeout=60)
    # On the wire is not yet applied: partners' state is read once it has consumed them.
    await wait_caught_up(platform.kafka, platform.topic("partners"),
                         platform.topic("labelling.labels"))
    alliance = await platform.alliance(x)
    published_while_held = sum(1 for c in others if sequences_of(held, c))
    report(Figures("out-of-order guard", "a cité's suspension held uncommitted while 20 "
                   "other commands commit, then its reinstatement", len(wire), 0, 0, 0, None,
                   f"published while T1 was open: {published_while_held} of {OTHERS} (held "
                   "back by the visibility barrier); the cité's events on the wire: "
                   + ", ".join(f"{t} #{n}" for t, n in sequences_of(wire, x))))

    assert sequences_of(wire, x) == [("TerritoryLabelled", 1), ("LabelSuspended", 2),
                                     ("LabelReinstated", 3)]
    assert published_while_held == 0  # nothing overtook the open transaction
    assert alliance is not None and alliance["status"] == "open"


async def test_replaying_a_suspension_after_the_reinstatement_leaves_the_alliance_open(
    platform: Platform, infra: Infra,
) -> None:
    x = await platform.label("0691234A", territory="Vaulx-en-Velin")
    await platform.wait_alliance(x)
    schema = platform.partners.db.schema
    admin = await asyncpg.connect(infra.database_url)
    try:
        # The fault: partners' database refuses to suspend any alliance, for a while.
        await admin.execute(f"""
            CREATE FUNCTION {schema}.fault_no_suspension() RETURNS trigger
            LANGUAGE plpgsql AS $$ BEGIN
              RAISE EXCEPTION 'injected fault: no suspension today' USING ERRCODE = 'XX000';
            END $$;
            CREATE TRIGGER fault_no_suspension BEFORE UPDATE ON {schema}.alliances
              FOR EACH ROW WHEN (NEW.status = 'suspended')
              EXECUTE FUNCTION {schema}.fault_no_suspension();""")
        await platform.cite_command(x, "suspension", {"motive": "Gouvernance à revoir"})

        async def dead_lettered() -> bool:
            return bool(await list_dead_letters(platform.kafka,
                                                platform.topic("partners.dlq")))

        await eventually(dead_lettered, timeout=60, what="the suspension dead-lettered")
        await admin.execute(f"DROP TRIGGER fault_no_suspension ON {schema}.alliances")
    finally:
        await admin.close()
    await platform.cite_command(x, "reinstatement", {"motive": "Gouvernance revue"})
    await wait_caught_up(platform.kafka, platform.topic("partners"),
                         platform.topic("labelling.labels"))  # the reinstatement applied
    replayed = platform.partners.cli("dlq", "replay")
    alliance = await platform.alliance(x)
    letters = await list_dead_letters(platform.kafka, platform.topic("partners.dlq"))
    report(Figures("replay cannot regress", "LabelSuspended dead-lettered (trigger "
                   "refusing it), LabelReinstated applied, then dlq replay", 3, 0, 0,
                   len(letters), None, "replay: " + replayed.stdout.strip().splitlines()[-1]
                   + f"; alliance {alliance and alliance['status']}"))

    assert [letter.event_type for letter in letters] == ["labelling.LabelSuspended"]
    assert replayed.returncode == 0, replayed.stdout + replayed.stderr
    assert "applied 0, already applied 0, stale (their aggregate moved on since: " \
           "skipped) 1" in replayed.stdout
    assert alliance is not None and alliance["status"] == "open"
    assert await alliances(platform) == 1
