"""SQL of the alliances: opening, members and roles, status, and their queries."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from pydantic_core import to_json

from cites_contracts.events.labelling import PerimeterSchool, TerritoryLabelled
from cites_contracts.types import AllianceClosureReason, AllianceRole, PartnerKind
from cites_runtime.db import Conn, Reads

from ..domain import Alliance, AllianceStatus, Member, Partner
from .registry import PARTNER_COLUMNS, Row, partner_from, partner_values

# --- alliances ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Opening:
    """What :func:`open_alliances` found for one label."""

    opened: bool
    """False: the cité already had an alliance, and nothing was written for it."""
    lead: Partner | None
    """The partner holding the lead collège's UAI (whatever its kind); None when a
    concurrent transaction registered it after this statement's snapshot."""
    lead_registered: bool
    """The UAI was unknown: ``lead`` is the partner given, registered now."""


@dataclass(frozen=True, slots=True)
class NewAlliance:
    """An alliance to open: its cité as the label describes it, and the lead collège to
    register if its UAI is unknown."""

    label: TerritoryLabelled
    lead: Partner


def _schools(schools: Iterable[PerimeterSchool]) -> str:
    """A perimeter's schools as the ``schools`` column holds them (JSON)."""
    return to_json([{"uai": s.uai, "kind": s.kind.value, "name": s.name,
                     "education_priority": s.education_priority.value}
                    for s in schools]).decode()


async def open_alliances(conn: Conn, alliances: Sequence[NewAlliance], at: datetime
                         ) -> list[Opening]:
    """Insert each alliance unless its cité has one; for each inserted, register its
    ``lead`` unless that UAI is known, and return the partner holding it. No member joins
    here: who may lead is the domain's to say (then :func:`insert_memberships`). One
    statement for them all, because a replayed history is thousands of these. Their
    cités and leads' UAIs must be distinct (a lead registered here is not seen by another
    alliance of the same statement)."""
    columns: tuple[list[Any], ...] = tuple([] for _ in range(19))
    for a in alliances:
        label = a.label
        for column, value in zip(columns, (
                label.cite_id, label.name, label.departement, label.wave.id,
                label.candidature_id, label.label_period.start, label.label_period.end,
                _schools(label.perimeter.schools), *partner_values(a.lead)), strict=True):
            column.append(value)
    rows = await conn.fetch(
        f"""WITH input AS (
                SELECT * FROM unnest($2::text[], $3::text[], $4::text[], $5::text[],
                                     $6::uuid[], $7::date[], $8::date[], $9::text[],
                                     $10::uuid[], $11::text[], $12::text[], $13::text[],
                                     $14::text[], $15::text[], $16::text[], $17::text[],
                                     $18::text[], $19::timestamptz[], $20::timestamptz[])
                     WITH ORDINALITY AS i (cite_id, name, departement, wave_id,
                                           candidature_id, label_start, label_end, schools,
                                           partner_id, kind, lead_name, lead_departement,
                                           uai, siret, siren, insee_code, commune_insee_code,
                                           registered_at, updated_at, ord)),
            alliance AS (
                INSERT INTO alliances (cite_id, name, departement, wave_id, candidature_id,
                                       label_start, label_end, schools, opened_at)
                SELECT cite_id, name, departement, wave_id, candidature_id, label_start,
                       label_end, schools::jsonb, $1
                FROM input ORDER BY ord
                ON CONFLICT (cite_id) DO NOTHING
                RETURNING cite_id),
            registered AS (
                INSERT INTO partners ({PARTNER_COLUMNS})
                SELECT partner_id, kind, lead_name, lead_departement, uai, siret, siren,
                       insee_code, commune_insee_code, registered_at, updated_at
                FROM input JOIN alliance USING (cite_id) ORDER BY ord
                ON CONFLICT (uai) DO NOTHING
                RETURNING {PARTNER_COLUMNS}, true AS created),
            lead AS (
                SELECT * FROM registered
                UNION ALL
                SELECT {PARTNER_COLUMNS}, false FROM partners
                WHERE uai IN (SELECT uai FROM input JOIN alliance USING (cite_id)))
            SELECT alliance.cite_id IS NOT NULL AS opened, lead.*
            FROM input
            LEFT JOIN alliance USING (cite_id)
            LEFT JOIN lead ON lead.uai = input.uai AND alliance.cite_id IS NOT NULL
            ORDER BY input.ord""",
        at, *columns,
    )
    assert len(rows) == len(alliances), "cités and leads' UAIs must be distinct"
    return [Opening(row["opened"], partner_from(row) if row["partner_id"] is not None
                    else None, bool(row["created"])) for row in rows]


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


async def insert_memberships(conn: Conn, members: Sequence[tuple[str, Member]]) -> None:
    """:func:`insert_membership` for many (cité, member) at once: one statement."""
    await conn.execute(
        """WITH k AS (
               SELECT * FROM unnest($1::text[], $2::uuid[], $3::text[], $4::timestamptz[])
                        AS k (cite_id, partner_id, roles, joined_at)),
           member AS (
               INSERT INTO memberships (cite_id, partner_id, roles, joined_at)
               SELECT cite_id, partner_id, string_to_array(roles, ','), joined_at FROM k)
           UPDATE alliances a SET chef_de_file_partner_id = k.partner_id
           FROM k
           WHERE a.cite_id = k.cite_id AND 'chef_de_file' = ANY (string_to_array(k.roles, ','))""",
        [cite_id for cite_id, _ in members], [m.partner_id for _, m in members],
        [",".join(sorted(r.value for r in m.roles)) for _, m in members],
        [m.joined_at for _, m in members],
    )


_STATE = ("cite_id, departement, status, suspended_at, closed_at, closure_reason, "
          "opened_at, collectivite_cheffe_de_file_partner_id")
"""The columns of an alliance's own state (its label's end and schools are not read)."""


def _closure_reason(row: Row) -> AllianceClosureReason | None:
    return AllianceClosureReason(row["closure_reason"]) if row["closure_reason"] else None


async def load_alliance(conn: Conn, cite_id: str, *, lock_partner: UUID | None = None
                        ) -> Alliance | None:
    """The alliance with its members, locked for the rest of the transaction (commands on
    one alliance serialise, so the chef de file rule is checked against the state that
    commits). ``lock_partner``: that partner's row is locked too (FOR UPDATE), after the
    alliance's and before the members are read, so what is read of it is what commits."""
    row = await conn.fetchrow(
        f"SELECT {_STATE} FROM alliances WHERE cite_id = $1 FOR UPDATE", cite_id)
    if row is None:
        return None
    if lock_partner is not None:
        await conn.execute("SELECT FROM partners WHERE partner_id = $1 FOR UPDATE",
                           lock_partner)
    rows = await conn.fetch(
        """SELECT m.partner_id, p.kind, p.name, m.roles, m.joined_at, p.uai
           FROM memberships m JOIN partners p USING (partner_id)
           WHERE m.cite_id = $1 AND m.left_at IS NULL""",
        cite_id,
    )
    members = [Member(r["partner_id"], PartnerKind(r["kind"]), r["name"],
                      frozenset(AllianceRole(x) for x in r["roles"]), r["joined_at"], r["uai"])
               for r in rows]
    return Alliance.of(cite_id, row["departement"], AllianceStatus(row["status"]), members,
                       suspended_at=row["suspended_at"], closed_at=row["closed_at"],
                       closure_reason=_closure_reason(row), opened_at=row["opened_at"],
                       collectivite_cheffe_de_file=row["collectivite_cheffe_de_file_partner_id"])


async def set_roles(conn: Conn, cite_id: str, member: Member) -> None:
    await conn.execute(
        """WITH member AS (
               UPDATE memberships SET roles = $3
               WHERE cite_id = $1 AND partner_id = $2 AND left_at IS NULL)
           UPDATE alliances SET chef_de_file_partner_id = $2
           WHERE cite_id = $1 AND 'chef_de_file' = ANY ($3::text[])""",
        cite_id, member.partner_id, sorted(r.value for r in member.roles),
    )


async def set_collectivite_cheffe_de_file(conn: Conn, cite_id: str, partner_id: UUID | None
                                          ) -> None:
    await conn.execute(
        """UPDATE alliances SET collectivite_cheffe_de_file_partner_id = $2
           WHERE cite_id = $1""", cite_id, partner_id)


async def end_membership(conn: Conn, cite_id: str, partner_id: UUID, at: datetime,
                         motive: str | None) -> None:
    await conn.execute(
        """UPDATE memberships SET left_at = $3, left_motive = $4
           WHERE cite_id = $1 AND partner_id = $2 AND left_at IS NULL""",
        cite_id, partner_id, at, motive,
    )


async def lock_alliances(conn: Conn, cite_ids: Sequence[str]) -> dict[str, Alliance]:
    """The alliances of these cités (those that exist), without their members, locked
    for the rest of the transaction as :func:`load_alliance` locks one (in the order of
    their cités)."""
    rows = await conn.fetch(
        f"""SELECT {_STATE} FROM alliances WHERE cite_id = ANY ($1::text[])
            ORDER BY cite_id FOR UPDATE""", list(cite_ids))
    return {r["cite_id"]: Alliance(r["cite_id"], r["departement"], AllianceStatus(r["status"]),
                                   suspended_at=r["suspended_at"], closed_at=r["closed_at"],
                                   closure_reason=_closure_reason(r))
            for r in rows}


async def save_alliances(conn: Conn, alliances: Sequence[Alliance]) -> None:
    """Write each alliance's status, since when, and its closure, with its label's end and
    schools where the alliance holds them (kept as stored otherwise): one statement."""
    await conn.execute(
        """UPDATE alliances a
           SET status = k.status, suspended_at = k.suspended_at, closed_at = k.closed_at,
               closure_reason = k.closure_reason,
               label_end = coalesce(k.label_end, a.label_end),
               schools = coalesce(k.schools::jsonb, a.schools)
           FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::timestamptz[],
                       $5::text[], $6::date[], $7::text[])
                AS k (cite_id, status, suspended_at, closed_at, closure_reason, label_end,
                      schools)
           WHERE a.cite_id = k.cite_id""",
        [a.cite_id for a in alliances], [a.status.value for a in alliances],
        [a.suspended_at for a in alliances], [a.closed_at for a in alliances],
        [a.closure_reason.value if a.closure_reason else None for a in alliances],
        [a.label_end for a in alliances],
        [_schools(a.schools) if a.schools is not None else None for a in alliances],
    )


async def chefs_de_file_of_open_alliances(conn: Conn, partners: Sequence[tuple[UUID, str]]
                                          ) -> dict[UUID, str]:
    """:func:`chef_de_file_of_open_alliance` for many (partner, ``other_than``) at once:
    the partners that lead one, with its cité."""
    rows = await conn.fetch(
        """SELECT DISTINCT ON (m.partner_id) m.partner_id, m.cite_id
           FROM memberships m JOIN alliances a USING (cite_id)
           JOIN unnest($1::uuid[], $2::text[]) AS k (partner_id, other_than) USING (partner_id)
           WHERE m.left_at IS NULL AND 'chef_de_file' = ANY (m.roles)
             AND a.status <> 'closed' AND m.cite_id IS DISTINCT FROM k.other_than
           ORDER BY m.partner_id, a.opened_at, m.cite_id""",
        [p for p, _ in partners], [c for _, c in partners],
    )
    return {r["partner_id"]: str(r["cite_id"]) for r in rows}


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


async def collectivite_cheffe_de_file_of_open_alliance(conn: Conn, partner_id: UUID
                                                      ) -> str | None:
    """The cité of an alliance not yet closed whose collectivité cheffe de file this
    partner is."""
    value = await conn.fetchval(
        """SELECT cite_id FROM alliances
           WHERE collectivite_cheffe_de_file_partner_id = $1 AND status <> 'closed'
           ORDER BY opened_at, cite_id LIMIT 1""", partner_id)
    return str(value) if value is not None else None


# --- alliance queries -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AllianceRows:
    """An alliance as stored, with every membership it had (current and former), in the
    order they joined."""

    alliance: Row
    memberships: list[Row]
    tenure: Row | None = None
    """The chef de projet's latest tenure (None: the post was never held)."""


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
    tenure = await conn.fetchrow(
        """SELECT contact_id, employer_partner_id, starts_on, ends_on FROM cpo_tenures
           WHERE cite_id = $1 ORDER BY starts_on DESC LIMIT 1""", cite_id)
    return AllianceRows(row, list(rows), tenure)


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
