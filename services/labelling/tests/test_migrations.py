"""Migrations on a database that already holds cités and candidatures: what 0003 backfills
(real PostgreSQL; the rows are written as the service wrote them before 0003)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from typing import Any
from uuid import UUID, uuid4

import asyncpg
import pytest
from labelling import store
from labelling.app import definition
from labelling.settings import LabellingSettings
from labelling_kit import dossier_body, qpv

from cites_runtime.db import create_pool
from cites_runtime.migrations import migrate
from cites_runtime.testing import migrated_before

AT = datetime(2024, 1, 15, 10, 0, tzinfo=UTC)


@pytest.fixture
async def before_0003(settings: LabellingSettings) -> AsyncIterator[asyncpg.Connection]:
    """The schema as migrated up to 0002, and a connection on it."""
    async with migrated_before(definition, settings, "0003") as conn:
        yield conn


async def candidature(conn: asyncpg.Connection, status: str, *, qpvs: list[str],
                      lead: str, submitted: datetime | None = AT) -> UUID:
    body = dossier_body(qpvs=[qpv(q) for q in qpvs], lead_college_uai=lead, schools=[
        {"uai": lead, "kind": "college", "name": "Collège", "education_priority": "rep"}])
    dossier = {k: v for k, v in body.items() if k not in ("wave_id", "departement")}
    cid = uuid4()
    await conn.execute(
        """INSERT INTO candidatures (id, wave_id, departement, territory_name, status, dossier,
                                     created_at, created_by, updated_at, submitted_at)
           VALUES ($1, '2024-generalisation', '69', 'T', $2, $3, $4, 'pref', $4, $5)""",
        cid, status, json.dumps(dossier), AT, submitted)
    return cid


async def cite(conn: asyncpg.Connection, n: int, status: str, *, qpvs: list[str], lead: str,
               labelled: datetime) -> str:
    cid = await candidature(conn, "labelled", qpvs=qpvs, lead=lead)
    cite_id = f"cite-{n:03d}"
    perimeter = {"communes": [{"insee_code": "69256", "name": "Vaulx-en-Velin"}],
                 "qpvs": [qpv(q) for q in qpvs],
                 "schools": [{"uai": lead, "kind": "college", "name": "Collège",
                              "education_priority": "rep"}]}
    await conn.execute(
        """INSERT INTO cites (cite_id, candidature_id, name, wave_id, wave_year, departement,
                              status, period_start, period_end, lead_college_uai, perimeter,
                              requested_annual_contribution, labelled_at, status_changed_at)
           VALUES ($1, $2, 'T', '2024-generalisation', 2024, '69', $3, $4, $5, $6, $7, 0,
                   $8, $8)""",
        cite_id, cid, status, date(2024, 1, 15), date(2027, 1, 14), lead,
        json.dumps(perimeter), labelled)
    return cite_id


async def holdings(conn: asyncpg.Connection) -> dict[tuple[str, str], Any]:
    rows = await conn.fetch("SELECT kind, code, candidature_id, cite_id FROM holdings")
    return {(r["kind"], r["code"]): r["cite_id"] or r["candidature_id"] for r in rows}


async def test_0003_gives_what_active_cites_and_pending_candidatures_hold(
        before_0003: asyncpg.Connection, settings: LabellingSettings) -> None:
    conn = before_0003
    first = await cite(conn, 1, "labelled", qpvs=["QN06901M", "QN06902M"], lead="0691111A",
                       labelled=AT)
    # Labelled before the rule, over the same QPV: the earliest keeps it.
    second = await cite(conn, 2, "suspended", qpvs=["QN06902M", "QN06903M"], lead="0692222B",
                        labelled=AT.replace(month=3))
    await cite(conn, 3, "withdrawn", qpvs=["QN06904M"], lead="0693333C", labelled=AT)
    await cite(conn, 4, "expired", qpvs=["QN06905M"], lead="0694444D", labelled=AT)
    pending = await candidature(conn, "under_review", qpvs=["QN06906M", "QN06901M"],
                                lead="0695555E")
    await candidature(conn, "draft", qpvs=["QN06907M"], lead="0696666F", submitted=None)
    await candidature(conn, "rejected", qpvs=["QN06908M"], lead="0697777G")
    await candidature(conn, "withdrawn", qpvs=["QN06909M"], lead="0698888H")

    await migrate(conn, settings.db_schema, definition.migrations())

    assert await holdings(conn) == {
        ("qpv", "QN06901M"): first, ("qpv", "QN06902M"): first,
        ("qpv", "QN06903M"): second, ("qpv", "QN06906M"): pending,
        ("lead_college", "0691111A"): first, ("lead_college", "0692222B"): second,
        ("lead_college", "0695555E"): pending,
    }


async def history(conn: asyncpg.Connection, cite_id: str, kind: str, start: date | None,
                  end: date | None, signed_on: date | None = None) -> None:
    await conn.execute(
        """INSERT INTO cite_history (cite_id, kind, occurred_at, period_start, period_end,
                                     signed_on)
           VALUES ($1, $2, $3, $4, $5, $6)""", cite_id, kind, AT, start, end, signed_on)


async def test_0003_gives_each_cite_every_period_of_its_history_with_its_convention(
        before_0003: asyncpg.Connection, settings: LabellingSettings) -> None:
    conn = before_0003
    # Renewed right after labelling, as the service did before the renewal window: the
    # cité row kept only the new period; the history has both.
    renewed = await cite(conn, 1, "labelled", qpvs=["QN06901M"], lead="0691111A", labelled=AT)
    await conn.execute("""UPDATE cites SET period_start = '2027-01-15', period_end = '2030-01-14',
                                           convention_signed_on = NULL WHERE cite_id = $1""",
                       renewed)
    await history(conn, renewed, "TerritoryLabelled", date(2024, 1, 15), date(2027, 1, 14))
    await history(conn, renewed, "ConventionSigned", date(2024, 1, 15), date(2027, 1, 14),
                  date(2024, 2, 1))
    await history(conn, renewed, "LabelSuspended", None, None)
    await history(conn, renewed, "LabelRenewed", date(2027, 1, 15), date(2030, 1, 14))
    plain = await cite(conn, 2, "withdrawn", qpvs=["QN06902M"], lead="0692222B", labelled=AT)
    await conn.execute("UPDATE cites SET convention_signed_on = '2024-01-15' WHERE cite_id = $1",
                       plain)
    await history(conn, plain, "TerritoryLabelled", date(2024, 1, 15), date(2027, 1, 14),
                  date(2024, 1, 15))

    await migrate(conn, settings.db_schema, definition.migrations())

    rows = await conn.fetch("""SELECT cite_id, period_start, period_end, convention_signed_on
                                 FROM label_periods ORDER BY cite_id, period_start""")
    assert [tuple(r) for r in rows] == [
        (renewed, date(2024, 1, 15), date(2027, 1, 14), date(2024, 2, 1)),
        (renewed, date(2027, 1, 15), date(2030, 1, 14), None),
        (plain, date(2024, 1, 15), date(2027, 1, 14), date(2024, 1, 15)),
    ]
    pool = await create_pool(settings.dsn, settings.db_schema)
    try:
        label = await store.get_label(pool, renewed)  # as the service reads it
    finally:
        await pool.close()
    assert label is not None
    assert label.period_on(date(2026, 6, 1)).period.start == date(2024, 1, 15)


async def test_0007_puts_stored_perimeters_on_the_2024_list_and_the_first_waves_on_2015(
        before_0003: asyncpg.Connection, settings: LabellingSettings) -> None:
    """The perimeters stored before a perimeter said its list hold 2024-list codes only
    (the only ones accepted then); the 2019–2022 waves refer to the 2015 list."""
    conn = before_0003
    cite_id = await cite(conn, 1, "labelled", qpvs=["QN06901M"], lead="0691111A",
                         labelled=AT)

    await migrate(conn, settings.db_schema, definition.migrations())

    stored = json.loads(await conn.fetchval("SELECT perimeter FROM cites WHERE cite_id = $1",
                                            cite_id))
    assert stored["qpv_list"] == "2024"
    waves = dict(await conn.fetch("SELECT id, qpv_list FROM waves"))
    assert waves == {"2019": "2015", "2021": "2015", "2022": "2015",
                     "2024-generalisation": "2024"}
    pool = await create_pool(settings.dsn, settings.db_schema)
    try:
        label = await store.get_label(pool, cite_id)
    finally:
        await pool.close()
    assert label is not None and label.perimeter.qpv_list.value == "2024"
