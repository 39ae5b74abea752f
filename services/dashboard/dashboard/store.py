"""asyncpg SQL on the dashboard's schema: the projection's rows in, the summary's sums out.
Decides nothing (the rules are ``domain.programme``'s)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any
from uuid import UUID

import asyncpg

from cites_runtime.db import Conn, Reads

from .domain.programme import CANDIDATURE_RANK, CandidatureStatus

__all__ = [
    "CiteRow",
    "MovementRow",
    "ReviewRow",
    "add_allocations",
    "add_cites",
    "add_member",
    "add_period",
    "allocation_of_commitment",
    "candidature_seen",
    "candidatures_labelled",
    "deliveries",
    "health",
    "money_sums",
    "movements_of_allocation",
    "record_movements",
    "remember_commitment",
    "review_indicators",
    "review_syntheses",
    "save_health",
    "save_review",
    "save_waves",
    "set_chef_de_file",
    "set_perimeter",
]


MovementRow = tuple[str, str, int, str, int]
"""(cite_id, programme, year, movement, amount)."""


# --- labelling ---------------------------------------------------------------------------

async def candidature_seen(conn: Conn, candidature_id: UUID, wave_id: str,
                           departement: str | None, status: CandidatureStatus) -> None:
    """Record the candidature at ``status`` unless it is already further on."""
    await conn.execute(
        """INSERT INTO candidatures (candidature_id, wave_id, departement, status, rank)
           VALUES ($1, $2, $3, $4, $5)
           ON CONFLICT (candidature_id) DO UPDATE SET
               departement = coalesce(candidatures.departement, EXCLUDED.departement),
               status = CASE WHEN EXCLUDED.rank > candidatures.rank THEN EXCLUDED.status
                             ELSE candidatures.status END,
               rank = greatest(candidatures.rank, EXCLUDED.rank)""",
        candidature_id, wave_id, departement, status.value, CANDIDATURE_RANK[status])


async def candidature_withdrawn(conn: Conn, candidature_id: UUID) -> None:
    """A withdrawal names no wave: it changes a candidature already seen."""
    await conn.execute(
        """UPDATE candidatures SET status = 'withdrawn', rank = 3
           WHERE candidature_id = $1 AND rank < 3""", candidature_id)


WaveRow = tuple[str, int, str | None, bool]
"""(wave_id, year, title, test) as an event names the wave."""


async def save_waves(conn: Conn, rows: Sequence[WaveRow]) -> None:
    """Waves as events name them: a title told replaces none, and a wave once told a test
    wave stays one (events written before the flag was carried say false)."""
    await conn.execute(
        """INSERT INTO waves AS w (wave_id, year, title, test)
           SELECT i, max(y), max(t), bool_or(x)
           FROM unnest($1::text[], $2::int[], $3::text[], $4::bool[]) AS r(i, y, t, x)
           GROUP BY i
           ON CONFLICT (wave_id) DO UPDATE SET year = EXCLUDED.year,
               title = coalesce(EXCLUDED.title, w.title), test = w.test OR EXCLUDED.test""",
        *map(list, zip(*rows, strict=True)))


CiteRow = tuple[str, str, str, int, str, datetime, date, str, str, str]
"""(cite_id, name, wave_id, wave_year, departement, labelled_at, decided_on, perimeter
(JSON), lead collège's UAI, label period (JSON ``{"start", "end"}``))."""


async def add_cites(conn: Conn, rows: Sequence[CiteRow]) -> None:
    """New cités, labelled (a cité already known is left as it is)."""
    await conn.execute(
        """INSERT INTO cites (cite_id, name, wave_id, wave_year, departement, status,
                              labelled_at, decided_on, perimeter, lead_college_uai, periods)
           SELECT c, n, w, y, d, 'labelled', t, o, p::jsonb, u, jsonb_build_array(l::jsonb)
           FROM unnest($1::text[], $2::text[], $3::text[], $4::int[], $5::text[],
                       $6::timestamptz[], $7::date[], $8::text[], $9::text[], $10::text[])
                AS r(c, n, w, y, d, t, o, p, u, l)
           ON CONFLICT (cite_id) DO NOTHING""", *map(list, zip(*rows, strict=True)))


async def add_period(conn: Conn, cite_id: str, period: dict[str, str]) -> bool:
    """A label period (``{"start", "end"}``) granted to the cité, after the others;
    False when the cité is unknown."""
    done = await conn.execute(
        """UPDATE cites SET periods = periods || jsonb_build_array($2::jsonb)
           WHERE cite_id = $1""", cite_id, period)
    return done != "UPDATE 0"


async def set_perimeter(conn: Conn, cite_id: str, perimeter: dict[str, Any]) -> bool:
    """The cité's whole perimeter now; False when the cité is unknown."""
    done = await conn.execute("UPDATE cites SET perimeter = $2::jsonb WHERE cite_id = $1",
                              cite_id, perimeter)
    return done != "UPDATE 0"


async def candidatures_labelled(conn: Conn, rows: Sequence[tuple[UUID, str, str]]) -> None:
    """(candidature id, wave id, département) of labelled candidatures: a decision is final,
    so it replaces whatever status they had."""
    await conn.execute(
        """INSERT INTO candidatures (candidature_id, wave_id, departement, status, rank)
           SELECT i, w, d, 'labelled', 3
           FROM unnest($1::uuid[], $2::text[], $3::text[]) AS r(i, w, d)
           ON CONFLICT (candidature_id) DO UPDATE SET
               departement = coalesce(candidatures.departement, EXCLUDED.departement),
               status = CASE WHEN candidatures.rank < 3 THEN 'labelled'
                             ELSE candidatures.status END,
               rank = 3""", *map(list, zip(*rows, strict=True)))


async def set_cite_status(conn: Conn, cite_id: str, status: str) -> bool:
    """False when the cité is unknown."""
    done = await conn.execute("UPDATE cites SET status = $2 WHERE cite_id = $1",
                              cite_id, status)
    return done != "UPDATE 0"


ReviewRow = tuple[UUID, str, str, int, date]
"""(review_id, cite_id, departement, year, due_on), as each of the review's events says."""


async def save_review(conn: Conn, review: ReviewRow, *, submitted_on: date | None = None,
                      late: bool | None = None, overdue_noted_at: datetime | None = None,
                      report: dict[str, Any] | None = None) -> None:
    """The review, with its submission (and what it reports: ``money``,
    ``commune_contribution``, ``actions``, ``indicators``) or labelling's overdue note when
    the event tells one; what an event told is kept by those that do not tell it."""
    r = report or {}
    await conn.execute(
        """INSERT INTO reviews AS r (review_id, cite_id, departement, year, due_on,
                                     submitted_on, late, overdue_noted_at, money,
                                     commune_contribution, actions, indicators)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
           ON CONFLICT (review_id) DO UPDATE SET
               submitted_on = coalesce(EXCLUDED.submitted_on, r.submitted_on),
               late = coalesce(EXCLUDED.late, r.late),
               overdue_noted_at = coalesce(r.overdue_noted_at, EXCLUDED.overdue_noted_at),
               money = coalesce(EXCLUDED.money, r.money),
               commune_contribution = coalesce(EXCLUDED.commune_contribution,
                                               r.commune_contribution),
               actions = coalesce(EXCLUDED.actions, r.actions),
               indicators = coalesce(EXCLUDED.indicators, r.indicators)""",
        *review, submitted_on, late, overdue_noted_at, r.get("money"),
        r.get("commune_contribution"), r.get("actions"), r.get("indicators"))


async def review_syntheses(conn: Reads) -> list[asyncpg.Record]:
    """Per year, over the submitted reviews: how many, the sums of their money (each
    measure), of the commune's contributions, of their actions (count, cost)."""
    return await conn.fetch(
        """SELECT year, count(*)::int AS submitted,
                  coalesce(sum((money->>'allocated')::bigint), 0)::bigint AS allocated,
                  coalesce(sum((money->>'fonds')::bigint), 0)::bigint AS fonds,
                  coalesce(sum((money->>'committed')::bigint), 0)::bigint AS committed,
                  coalesce(sum((money->>'paid')::bigint), 0)::bigint AS paid,
                  coalesce(sum((money->>'ordered_back')::bigint), 0)::bigint AS ordered_back,
                  coalesce(sum((money->>'cofinancing')::bigint), 0)::bigint AS cofinancing,
                  coalesce(sum(commune_contribution), 0)::bigint AS commune_contribution,
                  coalesce(sum(jsonb_array_length(actions)), 0)::int AS actions,
                  coalesce(sum((SELECT sum((a->>'cost')::bigint)
                                  FROM jsonb_array_elements(actions) a)), 0)::bigint
                      AS actions_cost
             FROM reviews WHERE submitted_on IS NOT NULL AND money IS NOT NULL
            GROUP BY year ORDER BY year""")


async def review_indicators(conn: Reads) -> list[asyncpg.Record]:
    """Per year and indicator code, over the submitted reviews: its label and unit (the
    first seen), how many measured it, their mean (4 decimals)."""
    return await conn.fetch(
        """SELECT r.year, i->>'code' AS code, min(i->>'label') AS label,
                  min(i->>'unit') AS unit, count(*)::int AS cites,
                  round(avg((i->>'value')::numeric), 4) AS mean
             FROM reviews r, jsonb_array_elements(r.indicators) i
            WHERE r.submitted_on IS NOT NULL
            GROUP BY r.year, i->>'code' ORDER BY r.year, i->>'code'""")


# --- partners ----------------------------------------------------------------------------

async def open_alliance(conn: Conn, cite_id: str, chef_de_file: UUID, uai: str) -> None:
    await conn.execute(
        """INSERT INTO alliances (cite_id, status, chef_de_file_uai) VALUES ($1, 'open', $2)
           ON CONFLICT (cite_id) DO NOTHING""", cite_id, uai)
    await add_member(conn, cite_id, chef_de_file, "college")


async def set_chef_de_file(conn: Conn, cite_id: str, uai: str) -> None:
    """The collège chef de file partners designated last (an alliance not heard of yet is
    recorded open: its opening is the event before on the same topic)."""
    await conn.execute(
        """INSERT INTO alliances (cite_id, status, chef_de_file_uai) VALUES ($1, 'open', $2)
           ON CONFLICT (cite_id) DO UPDATE SET chef_de_file_uai = EXCLUDED.chef_de_file_uai""",
        cite_id, uai)


async def add_member(conn: Conn, cite_id: str, partner_id: UUID, kind: str) -> None:
    await conn.execute(
        """INSERT INTO alliance_members (cite_id, partner_id, partner_kind) VALUES ($1, $2, $3)
           ON CONFLICT (cite_id, partner_id) DO UPDATE SET partner_kind = EXCLUDED.partner_kind""",
        cite_id, partner_id, kind)


async def remove_member(conn: Conn, cite_id: str, partner_id: UUID) -> None:
    await conn.execute("DELETE FROM alliance_members WHERE cite_id = $1 AND partner_id = $2",
                       cite_id, partner_id)


async def close_alliance(conn: Conn, cite_id: str) -> None:
    await conn.execute(
        """INSERT INTO alliances (cite_id, status) VALUES ($1, 'closed')
           ON CONFLICT (cite_id) DO UPDATE SET status = 'closed'""", cite_id)


# --- funding -----------------------------------------------------------------------------

async def save_envelope(conn: Conn, envelope_id: UUID, name: str, programme: str,
                        budget_years: Sequence[int], wave_ids: Sequence[str], amount: int
                        ) -> None:
    await conn.execute(
        """INSERT INTO envelopes (envelope_id, name, programme, budget_years, wave_ids, amount)
           VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (envelope_id) DO NOTHING""",
        envelope_id, name, programme, list(budget_years), list(wave_ids), amount)


async def amend_envelope(conn: Conn, envelope_id: UUID, amount: int) -> bool:
    done = await conn.execute("UPDATE envelopes SET amount = $2 WHERE envelope_id = $1",
                              envelope_id, amount)
    return done != "UPDATE 0"


async def add_allocations(conn: Conn, rows: Sequence[tuple[UUID, str, str, int]]) -> None:
    """(allocation id, cité, programme, year) of new allocations."""
    await conn.execute(
        """INSERT INTO allocations (allocation_id, cite_id, programme, year)
           SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::int[])
           ON CONFLICT (allocation_id) DO NOTHING""", *map(list, zip(*rows, strict=True)))


async def movements_of_allocation(conn: Conn, moves: Sequence[tuple[UUID, str, int]]
                                  ) -> list[MovementRow] | UUID:
    """Each (allocation id, movement, amount) as a row of its allocation's cité, programme
    and year; or the first allocation id not known."""
    ids = list({m[0] for m in moves})
    rows = await conn.fetch("SELECT * FROM allocations WHERE allocation_id = ANY($1::uuid[])",
                            ids)
    known = {r["allocation_id"]: r for r in rows}
    out: list[MovementRow] = []
    for allocation_id, movement, amount in moves:
        a = known.get(allocation_id)
        if a is None:
            return allocation_id
        out.append((a["cite_id"], a["programme"], a["year"], movement, amount))
    return out


async def remember_commitment(conn: Conn, commitment_id: UUID, allocation_id: UUID) -> None:
    await conn.execute("INSERT INTO commitment_allocations VALUES ($1, $2) "
                       "ON CONFLICT (commitment_id) DO NOTHING", commitment_id, allocation_id)


async def allocation_of_commitment(conn: Reads, commitment_id: UUID) -> UUID | None:
    allocation: UUID | None = await conn.fetchval(
        "SELECT allocation_id FROM commitment_allocations WHERE commitment_id = $1",
        commitment_id)
    return allocation


async def record_movements(conn: Conn, rows: Sequence[MovementRow]) -> None:
    if rows:
        await conn.execute(
            """INSERT INTO movements (cite_id, programme, year, movement, amount)
               SELECT * FROM unnest($1::text[], $2::text[], $3::int[], $4::text[],
                                    $5::bigint[])""", *map(list, zip(*rows, strict=True)))


# --- notifications -----------------------------------------------------------------------

async def deliveries(conn: Conn, rows: Sequence[tuple[UUID, str, str, datetime]]) -> None:
    """(notification id, status, template, when) of outcomes; each notification's last one
    told replaces the one before (one notification at most once per call)."""
    await conn.execute(
        """INSERT INTO deliveries (notification_id, status, template, at)
           SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::timestamptz[])
           ON CONFLICT (notification_id) DO UPDATE SET status = EXCLUDED.status,
                                                      at = EXCLUDED.at""",
        *map(list, zip(*rows, strict=True)))


# --- health ------------------------------------------------------------------------------

async def save_health(conn: Reads, taken_at: datetime, body: dict[str, Any]) -> None:
    await conn.execute(
        """INSERT INTO platform_health (id, taken_at, body) VALUES (1, $1, $2::jsonb)
           ON CONFLICT (id) DO UPDATE SET taken_at = EXCLUDED.taken_at, body = EXCLUDED.body""",
        taken_at, json.dumps(body))


async def health(conn: Reads) -> dict[str, Any] | None:
    raw = await conn.fetchval("SELECT body FROM platform_health WHERE id = 1")
    return None if raw is None else dict(json.loads(raw))


# --- the summary's reads -----------------------------------------------------------------

async def cites_by_wave(conn: Reads) -> list[asyncpg.Record]:
    return await conn.fetch(
        """SELECT wave_id, min(wave_year) AS year, status, count(*)::int AS n FROM cites
           GROUP BY wave_id, status ORDER BY min(wave_year), wave_id, status""")


async def waves(conn: Reads) -> list[asyncpg.Record]:
    return await conn.fetch("SELECT wave_id, year, title, test FROM waves ORDER BY wave_id")


async def candidatures_by_wave(conn: Reads) -> list[asyncpg.Record]:
    return await conn.fetch(
        """SELECT wave_id, status, count(*)::int AS n FROM candidatures
           GROUP BY wave_id, status ORDER BY wave_id, status""")


async def by_departement(conn: Reads) -> list[asyncpg.Record]:
    return await conn.fetch(
        """WITH money AS (
               SELECT cite_id,
                      sum(amount) FILTER (WHERE movement = 'allocate') AS allocated,
                      sum(CASE movement WHEN 'commit' THEN amount WHEN 'cancel' THEN -amount
                          END) AS committed,
                      sum(amount) FILTER (WHERE movement = 'pay') AS paid
               FROM movements GROUP BY cite_id),
           members AS (
               SELECT m.cite_id, count(*) AS n FROM alliance_members m
               JOIN alliances a USING (cite_id) WHERE a.status = 'open' GROUP BY m.cite_id)
           SELECT c.departement, count(*)::int AS cites,
                  count(*) FILTER (WHERE c.status = 'labelled')::int AS active,
                  coalesce(sum(members.n), 0)::int AS members,
                  coalesce(sum(money.allocated), 0)::bigint AS allocated,
                  coalesce(sum(money.committed), 0)::bigint AS committed,
                  coalesce(sum(money.paid), 0)::bigint AS paid
           FROM cites c LEFT JOIN money USING (cite_id) LEFT JOIN members USING (cite_id)
           GROUP BY c.departement ORDER BY c.departement""")


async def cofinancing_declared(conn: Conn, cofinancing_id: UUID, cite_id: str, year: int,
                               planned: int) -> None:
    await conn.execute(
        """INSERT INTO cofinancing (cofinancing_id, cite_id, year, planned)
           VALUES ($1, $2, $3, $4) ON CONFLICT (cofinancing_id) DO NOTHING""",
        cofinancing_id, cite_id, year, planned)


async def cofinancing_realised(conn: Conn, cofinancing_id: UUID, actual: int) -> bool:
    """False if the dashboard never heard of the co-financing."""
    return bool(await conn.fetchval(
        "UPDATE cofinancing SET actual = $2 WHERE cofinancing_id = $1 RETURNING true",
        cofinancing_id, actual))


async def cofinancing_by_year(conn: Reads) -> list[asyncpg.Record]:
    """(year, planned, given): local authorities' co-financing of each year, planned, and
    given by those that recorded it."""
    return await conn.fetch(
        """SELECT year, sum(planned)::bigint AS planned,
                  coalesce(sum(actual), 0)::bigint AS given
           FROM cofinancing GROUP BY year ORDER BY year""")


async def labelled_by_year(conn: Reads) -> list[asyncpg.Record]:
    """(year, cites): the cités labelled each year, by their decision's date."""
    return await conn.fetch(
        """SELECT extract(year FROM decided_on)::int AS year, count(*)::int AS cites
           FROM cites GROUP BY 1 ORDER BY 1""")


async def money_sums(conn: Reads) -> list[asyncpg.Record]:
    return await conn.fetch(
        """SELECT programme, year, movement, sum(amount)::bigint AS amount,
                  count(*)::int AS n
           FROM movements WHERE movement <> 'spend'
           GROUP BY programme, year, movement ORDER BY programme, year""")


async def save_credits(conn: Conn, programme: str, year: int, ae: int, cp: int) -> None:
    await conn.execute(
        """INSERT INTO credits (programme, year, ae, cp) VALUES ($1, $2, $3, $4)
           ON CONFLICT (programme, year) DO UPDATE SET ae = $3, cp = $4""",
        programme, year, ae, cp)


async def save_delegation(conn: Conn, programme: str, year: int, departement: str, ae: int,
                          cp: int) -> None:
    """The département's totals (the event carries them: applying it again is harmless)."""
    await conn.execute(
        """INSERT INTO credit_delegations (programme, year, departement, ae, cp)
           VALUES ($1, $2, $3, $4, $5)
           ON CONFLICT (programme, year, departement) DO UPDATE SET ae = $4, cp = $5""",
        programme, year, departement, ae, cp)


async def close_year(conn: Conn, programme: str, year: int, lapsed_ae: int, lapsed_cp: int,
                     restes: int) -> None:
    await conn.execute(
        """INSERT INTO credits (programme, year, closed, lapsed_ae, lapsed_cp, restes_a_payer)
           VALUES ($1, $2, true, $3, $4, $5)
           ON CONFLICT (programme, year) DO UPDATE
           SET closed = true, lapsed_ae = $3, lapsed_cp = $4, restes_a_payer = $5""",
        programme, year, lapsed_ae, lapsed_cp, restes)


async def credits(conn: Reads) -> list[asyncpg.Record]:
    """Each programme's years: voted, delegated, committed (AE: commitments of the year's
    allocations, net of cancellations), paid (CP: payments made that year), closed."""
    return await conn.fetch(
        """WITH used AS (
               SELECT programme, year,
                      sum(CASE movement WHEN 'commit' THEN amount WHEN 'cancel' THEN -amount
                          ELSE 0 END)::bigint AS engaged,
                      sum(amount) FILTER (WHERE movement = 'spend')::bigint AS spent
               FROM movements WHERE movement IN ('commit', 'cancel', 'spend')
               GROUP BY programme, year),
           delegated AS (
               SELECT programme, year, sum(ae)::bigint AS ae, sum(cp)::bigint AS cp
               FROM credit_delegations GROUP BY programme, year)
           SELECT c.*, coalesce(d.ae, 0) AS delegated_ae, coalesce(d.cp, 0) AS delegated_cp,
                  coalesce(u.engaged, 0) AS engaged, coalesce(u.spent, 0) AS spent
           FROM credits c
           LEFT JOIN delegated d USING (programme, year)
           LEFT JOIN used u USING (programme, year)
           ORDER BY c.programme, c.year""")


async def review_counts(conn: Reads) -> list[asyncpg.Record]:
    """(year, due_on, late, n): how many reviews share a year, a deadline and ``late``
    (null: not submitted)."""
    return await conn.fetch(
        """SELECT year, due_on, late, count(*)::int AS n FROM reviews
           GROUP BY year, due_on, late ORDER BY year, due_on""")


async def late_or_missing_reviews(conn: Reads, today: date, limit: int
                                  ) -> list[asyncpg.Record]:
    """Reviews submitted late, or not submitted with their deadline before ``today``
    (``domain.reviews``' overdue): the latest year first, those not submitted first, by
    département and cité; at most ``limit``. Each with its cité's name (null when the
    dashboard never heard of the cité)."""
    return await conn.fetch(
        """SELECT r.review_id, r.cite_id, c.name AS cite_name, r.departement, r.year,
                  r.due_on, r.submitted_on
           FROM reviews r LEFT JOIN cites c USING (cite_id)
           WHERE r.late OR (r.submitted_on IS NULL AND r.due_on < $1)
           ORDER BY r.year DESC, r.submitted_on IS NOT NULL, r.departement, r.cite_id
           LIMIT $2""", today, limit)


async def envelopes(conn: Reads) -> list[asyncpg.Record]:
    return await conn.fetch("SELECT * FROM envelopes ORDER BY programme, name")


async def alliance_sizes(conn: Reads) -> list[asyncpg.Record]:
    return await conn.fetch(
        """SELECT size, count(*)::int AS alliances FROM (
               SELECT a.cite_id, count(m.partner_id)::int AS size FROM alliances a
               LEFT JOIN alliance_members m USING (cite_id) WHERE a.status = 'open'
               GROUP BY a.cite_id) s
           GROUP BY size ORDER BY size""")


async def alliance_counts(conn: Reads) -> asyncpg.Record:
    row = await conn.fetchrow(
        """SELECT count(*) FILTER (WHERE status = 'open')::int AS open,
                  count(*) FILTER (WHERE status = 'closed')::int AS closed FROM alliances""")
    assert row is not None
    return row


async def members_by_kind(conn: Reads) -> list[asyncpg.Record]:
    return await conn.fetch(
        """SELECT partner_kind AS kind, count(*)::int AS members FROM alliance_members m
           JOIN alliances a USING (cite_id) WHERE a.status = 'open'
           GROUP BY partner_kind ORDER BY count(*) DESC, partner_kind""")


async def deliveries_by_template(conn: Reads) -> list[asyncpg.Record]:
    return await conn.fetch(
        """SELECT template, count(*) FILTER (WHERE status = 'sent')::int AS sent,
                  count(*) FILTER (WHERE status = 'failed')::int AS failed
           FROM deliveries GROUP BY template ORDER BY template""")


# --- the open data's reads ---------------------------------------------------------------

async def open_data_cites(conn: Reads) -> list[asyncpg.Record]:
    """Every cité with what the open data says of it, its wave's title and test flag, and
    the chef de file partners designated (null: the lead collège its label named)."""
    return await conn.fetch(
        """SELECT c.cite_id, c.name, c.departement, c.status, c.perimeter,
                  coalesce(a.chef_de_file_uai, c.lead_college_uai) AS college_uai,
                  c.periods, c.wave_id, coalesce(w.year, c.wave_year) AS wave_year,
                  w.title AS wave_title, w.test AS wave_test
           FROM cites c LEFT JOIN waves w USING (wave_id) LEFT JOIN alliances a USING (cite_id)
           ORDER BY c.cite_id""")


async def open_data_money(conn: Reads) -> list[asyncpg.Record]:
    """The sums of each cité's allocations and grants per year and programme."""
    return await conn.fetch(
        """SELECT cite_id, year, programme, movement, sum(amount)::bigint AS amount
           FROM movements WHERE movement IN ('allocate', 'grant')
           GROUP BY cite_id, year, programme, movement ORDER BY cite_id, year""")

