"""SQL of the alliances: opening, members and roles, status, and their queries."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from uuid import UUID

from cites_contracts.types import AllianceClosureReason, AllianceRole, PartnerKind
from cites_runtime.db import Conn

from ..domain import Alliance, AllianceStatus, Member, Partner
from .registry import PARTNER_COLUMNS, Reads, Row, partner_from, partner_values

# --- alliances ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Opening:
    """What :func:`open_alliance` found, in one round trip."""

    opened: bool
    """False: the cité already had an alliance, and nothing was written."""
    lead: Partner | None
    """The partner holding the lead collège's UAI (whatever its kind); None when a
    concurrent transaction registered it after this statement's snapshot."""
    lead_registered: bool
    """The UAI was unknown: ``lead`` is the partner given, registered now."""


async def open_alliance(conn: Conn, *, cite_id: str, name: str, departement: str,
                        wave_id: str, candidature_id: UUID, label_start: date,
                        label_end: date, schools: list[dict[str, str]], lead: Partner,
                        at: datetime) -> Opening:
    """Insert the alliance unless the cité has one; if inserted, register ``lead`` unless
    its UAI is known, and return the partner holding that UAI. No member joins here: who
    may lead is the domain's to say (then :func:`insert_membership`). One statement,
    because a replayed history is thousands of these."""
    row = await conn.fetchrow(
        f"""WITH alliance AS (
                INSERT INTO alliances (cite_id, name, departement, wave_id, candidature_id,
                                       label_start, label_end, schools, opened_at)
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
                ON CONFLICT (cite_id) DO NOTHING
                RETURNING cite_id),
            registered AS (
                INSERT INTO partners ({PARTNER_COLUMNS})
                SELECT $10::uuid, $11::text, $12::text, $13::text, $14::text, $15::text,
                       $16::text, $17::text, $18::text, $19::timestamptz, $20::timestamptz
                FROM alliance
                ON CONFLICT (uai) DO NOTHING
                RETURNING {PARTNER_COLUMNS}, true AS created),
            lead AS (
                SELECT * FROM registered
                UNION ALL
                SELECT {PARTNER_COLUMNS}, false FROM partners
                WHERE uai = $14 AND EXISTS (SELECT 1 FROM alliance))
            SELECT EXISTS (SELECT 1 FROM alliance) AS opened, lead.*
            FROM (VALUES (1)) AS one LEFT JOIN lead ON true""",
        cite_id, name, departement, wave_id, candidature_id, label_start, label_end, schools,
        at, *partner_values(lead),
    )
    assert row is not None
    found = partner_from(row) if row["partner_id"] is not None else None
    return Opening(row["opened"], found, bool(row["created"]))


# The chef de file role lives in memberships.roles; the alliance row repeats who holds it
# (chef_de_file_partner_id), written by the same statement, for the index that lets a
# collège lead one alliance not closed at most (migration 0003).

async def insert_membership(conn: Conn, cite_id: str, member: Member) -> None:
    await conn.execute(
        """WITH member AS (
               INSERT INTO memberships (cite_id, partner_id, roles, joined_at)
               VALUES ($1, $2, $3, $4))
           UPDATE alliances SET chef_de_file_partner_id = $2
           WHERE cite_id = $1 AND 'chef_de_file' = ANY ($3::text[])""",
        cite_id, member.partner_id, sorted(r.value for r in member.roles), member.joined_at,
    )


async def load_alliance(conn: Conn, cite_id: str, *, with_members: bool = True,
                        lock_partner: UUID | None = None) -> Alliance | None:
    """The alliance, locked for the rest of the transaction (commands on one alliance
    serialise, so the chef de file rule is checked against the state that commits).
    ``lock_partner``: that partner's row is locked too (FOR UPDATE), after the alliance's
    and before the members are read, so what is read of it is what commits."""
    row = await conn.fetchrow(
        "SELECT departement, status FROM alliances WHERE cite_id = $1 FOR UPDATE", cite_id)
    if row is None:
        return None
    if lock_partner is not None:
        await conn.execute("SELECT FROM partners WHERE partner_id = $1 FOR UPDATE",
                           lock_partner)
    status = AllianceStatus(row["status"])
    if not with_members:
        return Alliance(cite_id, row["departement"], status)
    rows = await conn.fetch(
        """SELECT m.partner_id, p.kind, p.name, m.roles, m.joined_at, p.uai
           FROM memberships m JOIN partners p USING (partner_id)
           WHERE m.cite_id = $1 AND m.left_at IS NULL""",
        cite_id,
    )
    members = [Member(r["partner_id"], PartnerKind(r["kind"]), r["name"],
                      frozenset(AllianceRole(x) for x in r["roles"]), r["joined_at"], r["uai"])
               for r in rows]
    return Alliance.of(cite_id, row["departement"], status, members)


async def set_roles(conn: Conn, cite_id: str, member: Member) -> None:
    await conn.execute(
        """WITH member AS (
               UPDATE memberships SET roles = $3
               WHERE cite_id = $1 AND partner_id = $2 AND left_at IS NULL)
           UPDATE alliances SET chef_de_file_partner_id = $2
           WHERE cite_id = $1 AND 'chef_de_file' = ANY ($3::text[])""",
        cite_id, member.partner_id, sorted(r.value for r in member.roles),
    )


async def end_membership(conn: Conn, cite_id: str, partner_id: UUID, at: datetime,
                         motive: str | None) -> None:
    await conn.execute(
        """UPDATE memberships SET left_at = $3, left_motive = $4
           WHERE cite_id = $1 AND partner_id = $2 AND left_at IS NULL""",
        cite_id, partner_id, at, motive,
    )


async def set_status(conn: Conn, cite_id: str, status: AllianceStatus, at: datetime,
                     reason: AllianceClosureReason | None = None) -> None:
    await conn.execute(
        """UPDATE alliances SET status = $2,
                  suspended_at = CASE WHEN $2 = 'suspended' THEN $3
                                      WHEN $2 = 'open' THEN NULL ELSE suspended_at END,
                  closed_at = CASE WHEN $2 = 'closed' THEN $3 END,
                  closure_reason = $4
           WHERE cite_id = $1""",
        cite_id, status.value, at, reason.value if reason else None,
    )


async def replace_schools(conn: Conn, cite_id: str, schools: list[dict[str, str]]) -> None:
    await conn.execute("UPDATE alliances SET schools = $2 WHERE cite_id = $1", cite_id, schools)


async def extend_label(conn: Conn, cite_id: str, end: date) -> None:
    await conn.execute("UPDATE alliances SET label_end = $2 WHERE cite_id = $1", cite_id, end)


async def chef_de_file_of_open_alliance(conn: Conn, partner_id: UUID, *,
                                        other_than: str | None = None) -> str | None:
    """The cité of an alliance not yet closed (but ``other_than``) whose chef de file this
    partner is. Read from the memberships, which hold the role even where the alliance
    row's copy is empty (alliances that shared a chef de file before migration 0003)."""
    value = await conn.fetchval(
        """SELECT m.cite_id FROM memberships m JOIN alliances a USING (cite_id)
           WHERE m.partner_id = $1 AND m.left_at IS NULL AND 'chef_de_file' = ANY (m.roles)
             AND a.status <> 'closed' AND m.cite_id IS DISTINCT FROM $2
           ORDER BY a.opened_at, m.cite_id
           LIMIT 1""",
        partner_id, other_than,
    )
    return str(value) if value is not None else None


# --- alliance queries -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AllianceRows:
    """An alliance as stored, with every membership it had (current and former), in the
    order they joined."""

    alliance: Row
    memberships: list[Row]


async def alliance_rows(conn: Reads, cite_id: str) -> AllianceRows | None:
    row = await conn.fetchrow("SELECT * FROM alliances WHERE cite_id = $1", cite_id)
    if row is None:
        return None
    rows = await conn.fetch(
        """SELECT m.partner_id, p.kind, p.name, m.roles, m.joined_at, m.left_at, m.left_motive
           FROM memberships m JOIN partners p USING (partner_id)
           WHERE m.cite_id = $1 ORDER BY m.joined_at, m.id""",
        cite_id,
    )
    return AllianceRows(row, list(rows))


async def list_alliances(conn: Reads, *, departement: str | None, status: AllianceStatus | None,
                         after: str | None, limit: int) -> list[Row]:
    """Alliances by cite_id, from after ``after``, each with its chef de file and its
    number of current members."""
    return list(await conn.fetch(
        """SELECT a.cite_id, a.name, a.departement, a.status, a.opened_at,
                  c.partner_id AS chef_de_file_partner_id, p.uai AS chef_de_file_uai,
                  (SELECT count(*) FROM memberships n
                   WHERE n.cite_id = a.cite_id AND n.left_at IS NULL) AS members
           FROM alliances a
           JOIN memberships c ON c.cite_id = a.cite_id AND c.left_at IS NULL
                              AND 'chef_de_file' = ANY (c.roles)
           JOIN partners p ON p.partner_id = c.partner_id
           WHERE ($1::text IS NULL OR a.departement = $1)
             AND ($2::text IS NULL OR a.status = $2)
             AND ($3::text IS NULL OR a.cite_id > $3)
           ORDER BY a.cite_id
           LIMIT $4""",
        departement, status.value if status else None, after, limit,
    ))


async def memberships_of(conn: Reads, partner_id: UUID, *,
                         after: tuple[datetime, int] | None = None, limit: int | None = None
                         ) -> list[Row]:
    """Every membership the partner had, current and former, with its alliance, in the
    order they began (``id``: the membership's row, which breaks ties); ``after``: the
    (joined_at, id) of the last one of the previous page; every one without ``limit``."""
    return list(await conn.fetch(
        """SELECT m.id, m.cite_id, a.name AS alliance_name, a.status AS alliance_status,
                  m.roles, m.joined_at, m.left_at, m.left_motive
           FROM memberships m JOIN alliances a USING (cite_id)
           WHERE m.partner_id = $1
             AND ($2::timestamptz IS NULL OR (m.joined_at, m.id) > ($2, $3::bigint))
           ORDER BY m.joined_at, m.id LIMIT $4""",
        partner_id, after[0] if after else None, after[1] if after else None, limit,
    ))
