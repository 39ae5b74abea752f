"""SQL of funding's schema: rows in, domain objects out; decides nothing.

Money moves in one statement (:func:`move`): it locks the accounts a set of movements
touches (in one order, so two transactions never wait on each other in a circle), checks
that none but a budget goes below zero, writes the new balances, the ledger rows and the
rows of what moved the money (:class:`Rows`: a commitment, a payment, dotations), and
reports what the accounts held; the domain's ledger then decides on what they held
(:func:`funding.domain.ledger.apply`) and its refusal rolls the transaction back. One
round trip, not three: a command holds its accounts' locks for less time. The locks hold
to the end of the transaction, and ``accounts``' CHECK refuses a balance below zero to
anything but a budget whatever the code says.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal
from uuid import UUID

import asyncpg

from cites_contracts.events.funding import (
    AllocationRefused,
    AllocationRevised,
    CoFinancingDeclared,
    CoFinancingRealised,
    CreditsDelegated,
    FondsDeLaCiteGranted,
    FondsUsed,
    LegalAct,
    PastSpendingImported,
    PaymentMade,
    RecoveryOrdered,
    RecoveryReceived,
    SubsidyJustified,
)
from cites_contracts.types import BudgetProgramme
from cites_runtime.db import Conn, Reads

from .domain.cite import (
    Allocation,
    AllocationFunds,
    Cite,
    CiteStatus,
    CoFinancing,
    Commitment,
    Paperwork,
    Recovery,
    Report,
)
from .domain.credits import Credits, DelegationFunds
from .domain.envelope import BudgetEnvelope, DotationRule
from .domain.fonds import ChefDeFile, Contribution, FondsGrant
from .domain.ledger import Account, AccountKind, Movement

Lock = Literal["update", "share"] | None


# --- the ledger ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Trace:
    """What a movement concerns, kept on its ledger row for the reports."""

    envelope_id: UUID | None
    """``None`` for the credits' movements (AE and CP concern no envelope)."""
    programme: BudgetProgramme
    cite_id: str | None = None
    year: int | None = None


@dataclass(frozen=True, slots=True)
class Rows:
    """What a use case writes in the statement that moves its money (the commitment, the
    payment, the dotations…): common table expressions numbering their parameters from
    ``$15`` on, and what the statement returns of them (``returned``)."""

    ctes: str
    args: tuple[Any, ...]
    returning: str = "NULL"


@dataclass(frozen=True, slots=True)
class Moved:
    """What :func:`move` found and did."""

    ok: bool
    """Every account it takes from held enough: written. If not, nothing of the money was
    (the caller refuses, which rolls its transaction back)."""
    held: dict[Account, int]
    """What each account touched held when locked (an account seen for the first time is
    absent: it held nothing)."""
    returned: Any = None
    """What the :class:`Rows` written with the money returned."""


_MOVE = """
    WITH moved AS (
        SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[]) AS m(kind, ref, delta)),
    locked AS (
        SELECT a.kind, a.ref, a.balance FROM accounts a JOIN moved m USING (kind, ref)
        ORDER BY a.kind, a.ref FOR UPDATE OF a),
    checked AS (
        SELECT NOT EXISTS (
            SELECT FROM moved m LEFT JOIN locked l USING (kind, ref)
            WHERE m.kind NOT IN ('budget', 'ae_source', 'cp_source')
              AND coalesce(l.balance, 0) + m.delta < 0) AS ok),
    updated AS (
        UPDATE accounts a SET balance = a.balance + m.delta FROM locked l JOIN moved m
        USING (kind, ref) WHERE a.kind = l.kind AND a.ref = l.ref AND (SELECT ok FROM checked)),
    created AS (
        INSERT INTO accounts AS a (kind, ref, balance)
        SELECT m.kind, m.ref, m.delta FROM moved m
        WHERE NOT EXISTS (SELECT FROM locked l WHERE l.kind = m.kind AND l.ref = m.ref)
          AND (SELECT ok FROM checked)
        ORDER BY m.kind, m.ref
        ON CONFLICT (kind, ref) DO UPDATE SET balance = a.balance + EXCLUDED.balance),
    entries AS (
        INSERT INTO ledger (at, movement, debit_kind, debit_ref, credit_kind, credit_ref,
                            amount, envelope_id, programme, cite_id, year)
        SELECT $4, * FROM unnest($5::text[], $6::text[], $7::text[], $8::text[], $9::text[],
                                 $10::bigint[], $11::uuid[], $12::text[], $13::text[],
                                 $14::integer[])
        WHERE (SELECT ok FROM checked))"""
# Every account is locked in one order (kind, ref: no two transactions wait on each other
# in a circle) before any is written; new ones are inserted in that order too (only
# credited: one debited would have gone below zero), and one another transaction created
# meanwhile gets the change added. An INSERT checks its row before it finds the conflict,
# so the accounts locked are updated, not upserted.


async def move(conn: Conn, entries: Sequence[tuple[Movement, Trace]],
               changes: Mapping[Account, int], at: datetime, rows: Rows | None = None
               ) -> Moved:
    """In one statement: lock the accounts of ``changes`` (each account's net change by
    ``entries``) and report what they hold; if none but a budget would go below zero,
    apply the changes, append ``entries`` to the ledger and write ``rows``.

    The locks hold to the end of the transaction: what was checked is what was written,
    however many transactions move money from the same account at once."""
    touched = sorted(changes)
    r = await conn.fetchrow(
        f"""{_MOVE}{rows.ctes if rows else ""}
            SELECT (SELECT ok FROM checked) AS ok, ARRAY(SELECT kind FROM locked) AS kinds,
                   ARRAY(SELECT ref FROM locked) AS refs,
                   ARRAY(SELECT balance FROM locked) AS balances,
                   {rows.returning if rows else "NULL"} AS returned""",
        [a.kind.value for a in touched], [a.ref for a in touched],
        [changes[a] for a in touched],
        at, [m.kind.value for m, _ in entries], [m.debit.kind.value for m, _ in entries],
        [m.debit.ref for m, _ in entries], [m.credit.kind.value for m, _ in entries],
        [m.credit.ref for m, _ in entries], [m.amount for m, _ in entries],
        [t.envelope_id for _, t in entries], [t.programme.value for _, t in entries],
        [t.cite_id for _, t in entries], [t.year for _, t in entries],
        *(rows.args if rows else ()))
    assert r is not None  # a SELECT without FROM answers one row
    return Moved(r["ok"], {Account(AccountKind(k), ref): b for k, ref, b in zip(
        r["kinds"], r["refs"], r["balances"], strict=True)}, r["returned"])


@dataclass(frozen=True, slots=True)
class LedgerCheck:
    movements: int
    accounts: int
    total: int
    """The sum of every balance recomputed from the ledger: zero, by double entry."""
    differences: list[dict[str, Any]]
    """Accounts whose kept balance differs from the ledger's, or that are below zero."""

    @property
    def balanced(self) -> bool:
        return self.total == 0 and not self.differences


async def ledger_check(conn: Reads) -> LedgerCheck:
    """Recompute every balance from the ledger and compare it with the kept one."""
    rows = await conn.fetch(
        """WITH moves AS (
               SELECT debit_kind AS kind, debit_ref AS ref, -amount AS amount FROM ledger
               UNION ALL
               SELECT credit_kind, credit_ref, amount FROM ledger),
           derived AS (SELECT kind, ref, sum(amount)::bigint AS balance FROM moves
                       GROUP BY kind, ref)
           SELECT coalesce(d.kind, a.kind) AS kind, coalesce(d.ref, a.ref) AS ref,
                  coalesce(d.balance, 0) AS ledger, coalesce(a.balance, 0) AS kept
           FROM derived d FULL JOIN accounts a ON a.kind = d.kind AND a.ref = d.ref""")
    movements = await conn.fetchval("SELECT count(*) FROM ledger")
    differences = [{"account": f"{r['kind']} {r['ref']}", "ledger": r["ledger"],
                    "kept": r["kept"]} for r in rows
                   if r["ledger"] != r["kept"] or (
                       r["kind"] not in ("budget", "ae_source", "cp_source")
                       and r["ledger"] < 0)]
    return LedgerCheck(movements, len(rows), sum(r["ledger"] for r in rows), differences)


# --- envelopes ---------------------------------------------------------------------------------

_ENVELOPE_COLUMNS = """e.envelope_id, e.name, e.programme, e.budget_years, e.wave_ids, e.amount,
                         e.dotation_rule, e.fonds_share, e.opened_at, a.balance AS remaining"""
_ENVELOPE = f"""SELECT {_ENVELOPE_COLUMNS} FROM envelopes e
                JOIN accounts a ON a.kind = 'envelope' AND a.ref = e.envelope_id::text"""
# An envelope's account exists from its opening (the same transaction moves its amount).


def _envelope(r: asyncpg.Record) -> BudgetEnvelope:
    return BudgetEnvelope(id=r["envelope_id"], name=r["name"],
                    programme=BudgetProgramme(r["programme"]),
                    budget_years=tuple(r["budget_years"]), wave_ids=tuple(r["wave_ids"]),
                    amount=r["amount"],
                    rule=DotationRule.model_validate_json(r["dotation_rule"]),
                    fonds_share=r["fonds_share"], opened_at=r["opened_at"],
                    remaining=r["remaining"])


async def overlapping(conn: Conn, programme: BudgetProgramme, wave_ids: Sequence[str],
                      years: Sequence[int]) -> list[tuple[str, int, UUID]]:
    """(wave, year, envelope) of ``programme`` already covered among these."""
    rows = await conn.fetch(
        """SELECT wave_id, year, envelope_id FROM envelope_coverage
           WHERE programme = $1 AND wave_id = ANY ($2) AND year = ANY ($3)
           ORDER BY wave_id, year""", programme.value, list(wave_ids), list(years))
    return [(r["wave_id"], r["year"], r["envelope_id"]) for r in rows]


async def insert_envelope(conn: Conn, e: BudgetEnvelope) -> None:
    await conn.execute(
        """INSERT INTO envelopes (envelope_id, name, programme, budget_years, wave_ids, amount,
                                  dotation_rule, fonds_share, opened_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)""",
        e.id, e.name, e.programme.value, list(e.budget_years), list(e.wave_ids), e.amount,
        e.rule.model_dump_json(), e.fonds_share, e.opened_at)
    await conn.execute(
        """INSERT INTO envelope_coverage (programme, wave_id, year, envelope_id)
           SELECT $1, w, y, $4 FROM unnest($2::text[]) AS w, unnest($3::integer[]) AS y""",
        e.programme.value, list(e.wave_ids), list(e.budget_years), e.id)


async def get_envelope(conn: Reads, envelope_id: UUID, *, for_update: bool = False
                       ) -> BudgetEnvelope | None:
    """``for_update``: the envelope and its account locked to the end of the transaction
    (what it holds cannot change under a command that decides on it)."""
    r = await conn.fetchrow(f"{_ENVELOPE} WHERE e.envelope_id = $1"
                            + (" FOR UPDATE OF e, a" if for_update else ""), envelope_id)
    return _envelope(r) if r else None


async def set_envelope_amount(conn: Conn, envelope_id: UUID, amount: int) -> None:
    await conn.execute("UPDATE envelopes SET amount = $2 WHERE envelope_id = $1",
                       envelope_id, amount)


async def list_envelopes(conn: Reads, *, after: tuple[datetime, UUID] | None = None,
                         limit: int | None = None) -> list[BudgetEnvelope]:
    """In the order they were opened; ``after``: the (opened_at, envelope_id) of the last
    one of the previous page; every one without ``limit``."""
    return [_envelope(r) for r in await conn.fetch(
        f"""{_ENVELOPE}
            WHERE $1::timestamptz IS NULL OR (e.opened_at, e.envelope_id) > ($1, $2::uuid)
            ORDER BY e.opened_at, e.envelope_id LIMIT $3""",
        after[0] if after else None, after[1] if after else None, limit)]


async def covering(conn: Conn, years: Iterable[tuple[str, int]]
                   ) -> dict[tuple[str, int], dict[BudgetProgramme, BudgetEnvelope]]:
    """The envelope of each programme covering each (wave, year) of ``years``, their
    accounts locked to the end of the transaction in one order (what they hold is what the
    domain decides on). An envelope covering several is one object: what one dotation
    takes from it, the next one sees."""
    pairs = sorted(set(years))
    rows = await conn.fetch(
        f"""SELECT c.wave_id AS covers_wave, c.year AS covers_year, {_ENVELOPE_COLUMNS}
            FROM envelopes e
            JOIN accounts a ON a.kind = 'envelope' AND a.ref = e.envelope_id::text
            JOIN envelope_coverage c ON c.envelope_id = e.envelope_id
            WHERE (c.wave_id, c.year) IN (SELECT * FROM unnest($1::text[], $2::integer[]))
            ORDER BY a.ref FOR UPDATE OF a""", [w for w, _ in pairs], [y for _, y in pairs])
    envelopes: dict[UUID, BudgetEnvelope] = {}
    found: dict[tuple[str, int], dict[BudgetProgramme, BudgetEnvelope]] = {}
    for r in rows:
        envelope = envelopes.setdefault(r["envelope_id"], _envelope(r))
        found.setdefault((r["covers_wave"], r["covers_year"]), {})[envelope.programme] = envelope
    return found


# --- cités, alliances -------------------------------------------------------------------------

_CITE = """cite_id, name, wave_id, departement, label_start, label_end, status,
           requested_contribution, population, lead_college_uai"""


def _cite(r: asyncpg.Record) -> Cite:
    return Cite(cite_id=r["cite_id"], name=r["name"], wave_id=r["wave_id"],
                departement=r["departement"], label_start=r["label_start"],
                label_end=r["label_end"], status=CiteStatus(r["status"]),
                requested_contribution=r["requested_contribution"],
                population=r["population"], lead_college_uai=r["lead_college_uai"])


async def insert_cites(conn: Conn, labelled: Sequence[tuple[Cite, datetime, str | None]]
                       ) -> dict[str, ChefDeFile | None]:
    """Remember the cités (each with when it was labelled and the programme's reference
    of one taken over) that funding does not know yet; those it knows are left as they
    are. Returns the new ones, each with its collège chef de file if partners named it
    already (their events may come first)."""
    cites = [c for c, _, _ in labelled]
    rows = await conn.fetch(
        f"""WITH born AS (
                INSERT INTO cites ({_CITE}, labelled_at, reference)
                SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[],
                                     $5::date[], $6::date[], $7::text[], $8::bigint[],
                                     $9::integer[], $10::text[], $11::timestamptz[],
                                     $12::text[])
                ON CONFLICT (cite_id) DO NOTHING RETURNING cite_id)
            SELECT b.cite_id, a.chef_de_file_partner_id, a.chef_de_file_uai FROM born b
            LEFT JOIN alliances a ON a.cite_id = b.cite_id
                 AND a.chef_de_file_partner_id IS NOT NULL""",
        [c.cite_id for c in cites], [c.name for c in cites], [c.wave_id for c in cites],
        [c.departement for c in cites], [c.label_start for c in cites],
        [c.label_end for c in cites], [c.status.value for c in cites],
        [c.requested_contribution for c in cites], [c.population for c in cites],
        [c.lead_college_uai for c in cites], [at for _, at, _ in labelled],
        [reference for _, _, reference in labelled])
    return {r["cite_id"]: None if r["chef_de_file_partner_id"] is None else (
        r["chef_de_file_partner_id"], r["chef_de_file_uai"]) for r in rows}


async def get_cite(conn: Reads, cite_id: str, *, lock: Lock = None) -> Cite | None:
    suffix = {None: "", "update": " FOR UPDATE", "share": " FOR SHARE"}[lock]
    r = await conn.fetchrow(f"SELECT {_CITE} FROM cites WHERE cite_id = $1{suffix}", cite_id)
    return _cite(r) if r else None


async def save_cite(conn: Conn, c: Cite) -> None:
    await conn.execute(
        """UPDATE cites SET status = $2, label_start = $3, label_end = $4, population = $5
           WHERE cite_id = $1""",
        c.cite_id, c.status.value, c.label_start, c.label_end, c.population)


async def active_cite_ids(conn: Reads) -> list[str]:
    return [r["cite_id"] for r in await conn.fetch(
        "SELECT cite_id FROM cites WHERE status = 'active' ORDER BY cite_id")]


async def list_cites(conn: Reads, *, after: tuple[str] | None = None,
                     limit: int | None = None) -> list[Cite]:
    """By id; ``after``: the (id,) of the last one of the previous page; every one without
    ``limit``."""
    return [_cite(r) for r in await conn.fetch(
        f"""SELECT {_CITE} FROM cites WHERE $1::text IS NULL OR cite_id > $1
            ORDER BY cite_id LIMIT $2""", after[0] if after else None, limit)]


async def set_chef_de_file(conn: Conn, cite_id: str, partner_id: UUID, uai: str) -> None:
    await conn.execute(
        """INSERT INTO alliances (cite_id, chef_de_file_partner_id, chef_de_file_uai)
           VALUES ($1, $2, $3)
           ON CONFLICT (cite_id) DO UPDATE SET chef_de_file_partner_id = $2,
                                               chef_de_file_uai = $3""",
        cite_id, partner_id, uai)


async def close_alliance(conn: Conn, cite_id: str) -> None:
    await conn.execute(
        """INSERT INTO alliances (cite_id, closed) VALUES ($1, true)
           ON CONFLICT (cite_id) DO UPDATE SET closed = true""", cite_id)


async def chef_de_file(conn: Reads, cite_id: str) -> ChefDeFile | None:
    r = await conn.fetchrow(
        """SELECT chef_de_file_partner_id, chef_de_file_uai FROM alliances
           WHERE cite_id = $1 AND chef_de_file_partner_id IS NOT NULL""", cite_id)
    return (r[0], r[1]) if r else None


async def set_member(conn: Conn, cite_id: str, partner_id: UUID, kind: str | None,
                     current: bool) -> None:
    await conn.execute(
        """INSERT INTO members (cite_id, partner_id, kind, current)
           VALUES ($1, $2, coalesce($3, 'unknown'), $4)
           ON CONFLICT (cite_id, partner_id) DO UPDATE
           SET current = $4, kind = coalesce($3, members.kind)""",
        cite_id, partner_id, kind, current)


async def members(conn: Reads, cite_id: str) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT partner_id, kind, current FROM members WHERE cite_id = $1 ORDER BY partner_id",
        cite_id)


# --- allocations, fonds ------------------------------------------------------------------------


async def revise_allocation(conn: Conn, revised: AllocationRevised) -> None:
    await conn.execute("UPDATE allocations SET amount = $2 WHERE allocation_id = $1",
                       revised.allocation_id, revised.amount)
    await conn.execute(
        """INSERT INTO allocation_revisions (allocation_id, previous_amount, amount, motive,
                                             revised_at, review_id)
           VALUES ($1, $2, $3, $4, $5, $6)""",
        revised.allocation_id, revised.previous_amount, revised.amount, revised.motive,
        revised.revised_at, revised.review_id)


async def remember_review(conn: Conn, review_id: UUID, cite_id: str, year: int) -> None:
    await conn.execute("INSERT INTO submitted_reviews VALUES ($1, $2, $3) "
                       "ON CONFLICT (review_id) DO NOTHING", review_id, cite_id, year)


async def review_cite(conn: Reads, review_id: UUID) -> str | None:
    """The cité of a submitted revue de projet; None when none was submitted with this id."""
    cite: str | None = await conn.fetchval(
        "SELECT cite_id FROM submitted_reviews WHERE review_id = $1", review_id)
    return cite


async def revisions_of(conn: Reads, cite_id: str, *, after: tuple[int] | None = None,
                       limit: int | None = None) -> list[asyncpg.Record]:
    """In the order they were made; ``after``: the last one's number on the previous page."""
    return await conn.fetch(
        """SELECT r.* FROM allocation_revisions r JOIN allocations a USING (allocation_id)
           WHERE a.cite_id = $1 AND ($2::bigint IS NULL OR r.id > $2)
           ORDER BY r.id LIMIT $3""", cite_id, after[0] if after else None, limit)


async def get_allocation(conn: Reads, allocation_id: UUID) -> Allocation | None:
    r = await conn.fetchrow("SELECT * FROM allocations WHERE allocation_id = $1",
                            allocation_id)
    return _allocation(r) if r else None


def _allocation(r: asyncpg.Record) -> Allocation:
    return Allocation(allocation_id=r["allocation_id"], cite_id=r["cite_id"],
                      envelope_id=r["envelope_id"], programme=BudgetProgramme(r["programme"]),
                      year=r["year"], amount=r["amount"], rule=r["rule"], basis=r["basis"],
                      allocated_at=r["allocated_at"])


async def allocations_of(conn: Reads, cite_id: str) -> list[Allocation]:
    return [_allocation(r) for r in await conn.fetch(
        "SELECT * FROM allocations WHERE cite_id = $1 ORDER BY year, programme, allocated_at",
        cite_id)]


_ALLOCATION_FUNDS = """
    SELECT a.allocation_id, a.envelope_id, a.programme, a.year,
           coalesce(u.balance, 0) AS uncommitted, coalesce(f.balance, 0) AS frozen
    FROM allocations a
    LEFT JOIN accounts u ON u.kind = 'allocation' AND u.ref = a.allocation_id::text
    LEFT JOIN accounts f ON f.kind = 'frozen' AND f.ref = a.allocation_id::text"""


def _allocation_funds(r: asyncpg.Record) -> AllocationFunds:
    return AllocationFunds(r["allocation_id"], r["envelope_id"],
                           BudgetProgramme(r["programme"]), r["year"], r["uncommitted"],
                           r["frozen"])


async def allocation_funds(conn: Reads, cite_id: str) -> list[AllocationFunds]:
    """Each allocation of the cité with what its accounts hold now."""
    return [_allocation_funds(r) for r in await conn.fetch(
        f"""{_ALLOCATION_FUNDS} WHERE a.cite_id = $1
            ORDER BY a.year, a.programme, a.allocated_at""", cite_id)]


async def get_allocation_funds(conn: Reads, allocation_id: UUID) -> AllocationFunds | None:
    """One allocation with what its accounts hold now."""
    r = await conn.fetchrow(f"{_ALLOCATION_FUNDS} WHERE a.allocation_id = $1", allocation_id)
    return _allocation_funds(r) if r else None


async def funded(conn: Reads, cite_id: str) -> tuple[set[tuple[UUID, int]], set[int]]:
    """What the cité was given already: its dotations (envelope, year; not its allocations
    made by hand) and the years of its fonds de la cité."""
    rows = await conn.fetch(
        """SELECT envelope_id, year FROM allocations WHERE cite_id = $1 AND rule <> 'manual'
           UNION ALL
           SELECT NULL, year FROM fonds_grants WHERE cite_id = $1""", cite_id)
    return ({(r["envelope_id"], r["year"]) for r in rows if r["envelope_id"] is not None},
            {r["year"] for r in rows if r["envelope_id"] is None})


def refusal_key(refused: AllocationRefused) -> str:
    """How :func:`funding_rows` names a refusal it recorded."""
    return "/".join((refused.cite_id, str(refused.year), refused.programme.value
                     if refused.programme else "", refused.reason.value))


def funding_rows(allocations: Sequence[Allocation], grants: Sequence[FondsDeLaCiteGranted],
                 refusals: Sequence[AllocationRefused]) -> Rows:
    """Allocations (dotations, or one made by hand: a unique index holds a cité's dotation
    of an envelope and year once), fonds grants and refusals, written with the money they
    move. Returns the :func:`refusal_key` of each refusal recorded for the first time (a
    refusal is told once per cité, year, programme and reason)."""
    return Rows(
        """, allocated AS (
            INSERT INTO allocations (allocation_id, cite_id, envelope_id, programme, year,
                                     amount, rule, basis, allocated_at)
            SELECT * FROM unnest($15::uuid[], $16::text[], $17::uuid[], $18::text[],
                                 $19::integer[], $20::bigint[], $21::text[], $22::text[],
                                 $23::timestamptz[])),
        granted AS (
            INSERT INTO fonds_grants (grant_id, cite_id, year, uai, partner_id, granted_at)
            SELECT * FROM unnest($24::uuid[], $25::text[], $26::integer[], $27::text[],
                                 $28::uuid[], $29::timestamptz[])),
        refused AS (
            INSERT INTO refusals (cite_id, year, programme, reason, refused_at)
            SELECT * FROM unnest($30::text[], $31::integer[], $32::text[], $33::text[],
                                 $34::timestamptz[])
            ON CONFLICT DO NOTHING RETURNING cite_id, year, programme, reason)""",
        ([a.allocation_id for a in allocations], [a.cite_id for a in allocations],
         [a.envelope_id for a in allocations], [a.programme.value for a in allocations],
         [a.year for a in allocations], [a.amount for a in allocations],
         [a.rule for a in allocations], [a.basis for a in allocations],
         [a.allocated_at for a in allocations],
         [g.grant_id for g in grants], [g.cite_id for g in grants], [g.year for g in grants],
         [g.lead_college_uai for g in grants], [g.chef_de_file_partner_id for g in grants],
         [g.granted_at for g in grants],
         [r.cite_id for r in refusals], [r.year for r in refusals],
         [r.programme and r.programme.value for r in refusals],
         [r.reason.value for r in refusals], [r.refused_at for r in refusals]),
        returning="""ARRAY(SELECT concat_ws('/', cite_id, year, coalesce(programme, ''),
                                            reason) FROM refused)""")


async def name_fonds_recipient(conn: Conn, cite_id: str, partner_id: UUID, uai: str
                               ) -> None:
    """The partner id of the collège a fonds was granted to by UAI alone."""
    await conn.execute(
        """UPDATE fonds_grants SET partner_id = $2
           WHERE cite_id = $1 AND uai = $3 AND partner_id IS NULL""", cite_id, partner_id, uai)


async def fonds_of(conn: Reads, cite_id: str) -> list[asyncpg.Record]:
    """Each grant of the cité with what the ledger put in it (``amount``), what the
    collège used of it and what is left."""
    return await conn.fetch(
        """SELECT g.grant_id, g.year, g.uai, g.partner_id, g.granted_at,
                  coalesce(sum(l.amount), 0)::bigint AS amount,
                  coalesce(max(f.balance), 0)::bigint AS left
           FROM fonds_grants g
           LEFT JOIN ledger l ON l.credit_kind = 'fonds' AND l.credit_ref = g.grant_id::text
                AND l.movement = 'grant'
           LEFT JOIN accounts f ON f.kind = 'fonds' AND f.ref = g.grant_id::text
           WHERE g.cite_id = $1 GROUP BY g.grant_id ORDER BY g.year""", cite_id)


async def get_fonds(conn: Conn, cite_id: str, departement: str, year: int
                    ) -> FondsGrant | None:
    """The cité's grant of ``year`` with what each programme put in it, its account locked
    to the end of the transaction (what it has left cannot change under a use deciding on
    it: a concurrent use waits, then reads what this one left)."""
    r = await conn.fetchrow(
        """SELECT g.grant_id, g.partner_id, a.balance FROM fonds_grants g
           JOIN accounts a ON a.kind = 'fonds' AND a.ref = g.grant_id::text
           WHERE g.cite_id = $1 AND g.year = $2 FOR UPDATE OF a""", cite_id, year)
    if r is None:
        return None
    contributions = await conn.fetch(
        """SELECT programme, envelope_id, sum(amount)::bigint AS amount FROM ledger
           WHERE cite_id = $1 AND year = $2 AND movement = 'grant'
             AND credit_kind = 'fonds' AND credit_ref = $3
           GROUP BY programme, envelope_id ORDER BY programme""",
        cite_id, year, str(r["grant_id"]))
    return FondsGrant(r["grant_id"], cite_id, departement, year, r["partner_id"], tuple(
        Contribution(BudgetProgramme(c["programme"]), c["envelope_id"], c["amount"])
        for c in contributions), r["balance"])


async def insert_fonds_use(conn: Conn, used: FondsUsed) -> None:
    await conn.execute(
        """INSERT INTO fonds_uses (use_id, grant_id, amount, purpose, payee, paid_on,
                                   left_after, recorded_by, recorded_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)""",
        used.use_id, used.grant_id, used.amount, used.purpose, used.payee, used.paid_on,
        used.left, used.recorded_by.value, used.recorded_at)


_FONDS_USE = """SELECT u.*, g.cite_id, g.year
                 FROM fonds_uses u JOIN fonds_grants g USING (grant_id)"""


async def get_fonds_use(conn: Reads, use_id: UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(f"{_FONDS_USE} WHERE u.use_id = $1", use_id)


async def fonds_uses(conn: Reads, cite_id: str, year: int, *,
                     after: tuple[int] | None = None, limit: int | None = None
                     ) -> list[asyncpg.Record]:
    """The uses of the cité's grant of ``year`` in the order they were recorded (one by
    one: each locks the grant's account); ``after``: the last one's ``id`` on the previous
    page."""
    return await conn.fetch(
        f"""{_FONDS_USE} WHERE g.cite_id = $1 AND g.year = $2
              AND ($3::bigint IS NULL OR u.id > $3)
            ORDER BY u.id LIMIT $4""", cite_id, year, after[0] if after else None, limit)


# --- commitments, payments, co-financing -------------------------------------------------------


def _commitment(r: asyncpg.Record) -> Commitment:
    paperwork = None if r["legal_act_kind"] is None else Paperwork(
        LegalAct(kind=r["legal_act_kind"], reference=r["legal_act_reference"],
                 signed_on=r["legal_act_signed_on"]),
        r["subsidy_request"], r["justification_due"])
    report = None if r["reported_spent"] is None else Report(r["reported_spent"],
                                                             r["report_submitted_on"])
    return Commitment(commitment_id=r["commitment_id"], cite_id=r["cite_id"],
                      allocation_id=r["allocation_id"],
                      operator_partner_id=r["operator_partner_id"],
                      action_title=r["action_title"], amount=r["amount"],
                      unpaid=r["unpaid"], cancelled=r["cancelled_at"] is not None,
                      committed_at=r["committed_at"], paperwork=paperwork, paid=r["paid"],
                      report=report, ordered=r["ordered"])


_COMMITMENT = """SELECT c.*, a.balance AS unpaid FROM commitments c
                 JOIN accounts a ON a.kind = 'commitment' AND a.ref = c.commitment_id::text"""
# A commitment's account exists from the start (the same transaction moves its amount);
# its paid and ordered are kept by insert_payment and insert_recovery.


async def get_commitment(conn: Reads, commitment_id: UUID, *, for_update: bool = False
                         ) -> Commitment | None:
    """``for_update``: the commitment and its account locked to the end of the transaction
    (what it has not paid cannot change under a command that decides on it)."""
    r = await conn.fetchrow(f"{_COMMITMENT} WHERE c.commitment_id = $1"
                            + (" FOR UPDATE OF c, a" if for_update else ""), commitment_id)
    return _commitment(r) if r else None


async def commitments_of(conn: Reads, cite_id: str, *,
                         after: tuple[datetime, UUID] | None = None, limit: int | None = None
                         ) -> list[Commitment]:
    """In the order they were committed; ``after``: the (committed_at, commitment_id) of
    the last one of the previous page; every one without ``limit``."""
    return [_commitment(r) for r in await conn.fetch(
        f"""{_COMMITMENT} WHERE c.cite_id = $1
              AND ($2::timestamptz IS NULL OR (c.committed_at, c.commitment_id) > ($2, $3::uuid))
            ORDER BY c.committed_at, c.commitment_id LIMIT $4""",
        cite_id, after[0] if after else None, after[1] if after else None, limit)]


def insert_commitment(c: Commitment) -> Rows:
    """The commitment, written with the money it moves."""
    p = c.paperwork
    return Rows(
        """, committed AS (
            INSERT INTO commitments (commitment_id, cite_id, allocation_id,
                                     operator_partner_id, action_title, amount, committed_at,
                                     legal_act_kind, legal_act_reference, legal_act_signed_on,
                                     subsidy_request, justification_due)
            VALUES ($15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25, $26))""",
        (c.commitment_id, c.cite_id, c.allocation_id, c.operator_partner_id, c.action_title,
         c.amount, c.committed_at, p and p.legal_act.kind.value, p and p.legal_act.reference,
         p and p.legal_act.signed_on, p and p.subsidy_request, p and p.justification_due))


async def record_report(conn: Conn, justified: SubsidyJustified) -> None:
    await conn.execute(
        """UPDATE commitments SET reported_spent = $2, report_submitted_on = $3,
                                  reported_at = $4
           WHERE commitment_id = $1""", justified.commitment_id, justified.spent,
        justified.submitted_on, justified.recorded_at)


async def member_kind(conn: Reads, cite_id: str, partner_id: UUID) -> str | None:
    """The partner's kind if it is a current member of the cité's open alliance, else
    ``None`` (``unknown`` when partners never told its kind)."""
    kind: str | None = await conn.fetchval(
        """SELECT kind FROM members m
           WHERE cite_id = $1 AND partner_id = $2 AND current
             AND NOT coalesce((SELECT closed FROM alliances a WHERE a.cite_id = m.cite_id),
                              false)""", cite_id, partner_id)
    return kind


def _kept_credits(year: str) -> str:
    """A CTE ``k``: the credits of allocation ``al``'s programme for ``year`` (an SQL
    expression), if recorded, with what is left undelegated; locked in share (a closing
    waits for the commitments and payments under way, and they for it)."""
    return f"""k AS (
        SELECT k.ae, k.cp, k.closed_at,
               coalesce((SELECT balance FROM accounts WHERE kind = 'ae_open'
                         AND ref = k.programme || '/' || k.year), 0) AS ae_open,
               coalesce((SELECT balance FROM accounts WHERE kind = 'cp_open'
                         AND ref = k.programme || '/' || k.year), 0) AS cp_open
        FROM credits k JOIN al ON k.programme = al.programme AND k.year = {year}
        FOR SHARE OF k)"""


def _credits_at(r: asyncpg.Record, programme: BudgetProgramme, year: int) -> Credits | None:
    return None if r["ae"] is None else Credits(programme, year, r["ae"], r["cp"],
                                                r["ae_open"], r["cp_open"], r["closed_at"])


@dataclass(frozen=True, slots=True)
class CommitmentGround:
    """What a commitment is decided on, read in one statement."""

    cite: Cite
    """Locked in share: a freeze waits for the commitment, or it for the freeze."""
    allocation: Allocation | None
    """``None`` if the cité has no such allocation."""
    member_kind: str | None
    """The operator's kind if it is a current member of the cité's open alliance."""
    credits: Credits | None
    """The allocation's programme's credits of its year, if recorded (locked in share)."""


async def commitment_ground(conn: Conn, cite_id: str, allocation_id: UUID, operator: UUID
                            ) -> CommitmentGround | None:
    """What committing ``operator``'s action on the allocation stands on; ``None`` if the
    cité is unknown."""
    r = await conn.fetchrow(
        f"""WITH c AS (SELECT {_CITE} FROM cites WHERE cite_id = $1 FOR SHARE),
                al AS (SELECT * FROM allocations WHERE allocation_id = $2 AND cite_id = $1),
                {_kept_credits("al.year")}
            SELECT c.*, al.allocation_id, al.envelope_id, al.programme, al.year, al.amount,
                   al.rule, al.basis, al.allocated_at, k.*,
                   (SELECT m.kind FROM members m
                    WHERE m.cite_id = $1 AND m.partner_id = $3 AND m.current
                      AND NOT coalesce((SELECT closed FROM alliances a WHERE a.cite_id = $1),
                                       false)) AS member_kind
            FROM c LEFT JOIN al ON true LEFT JOIN k ON true""",
        cite_id, allocation_id, operator)
    if r is None:
        return None
    allocation = None if r["allocation_id"] is None else _allocation(r)
    return CommitmentGround(_cite(r), allocation, r["member_kind"], None if allocation is None
                            else _credits_at(r, allocation.programme, allocation.year))


@dataclass(frozen=True, slots=True)
class PaymentGround:
    """What a payment is decided on, read in one statement."""

    commitment: Commitment
    """Locked with its account: what it has not paid cannot change under the payment."""
    departement: str
    """Its cité's."""
    allocation: Allocation | None
    credits: Credits | None
    """The allocation's programme's credits of the year the payment is made, if recorded
    (locked in share)."""


async def payment_ground(conn: Conn, commitment_id: UUID, year: int) -> PaymentGround | None:
    """What paying against the commitment in ``year`` stands on; ``None`` if it is
    unknown."""
    r = await conn.fetchrow(
        f"""WITH cm AS ({_COMMITMENT} WHERE c.commitment_id = $1 FOR UPDATE OF c, a),
                al AS (SELECT al.* FROM allocations al JOIN cm USING (allocation_id)
                       WHERE al.cite_id = cm.cite_id),
                {_kept_credits("$2")}
            SELECT cm.*, (SELECT departement FROM cites WHERE cite_id = cm.cite_id),
                   al.envelope_id AS al_envelope, al.programme AS al_programme,
                   al.year AS al_year, al.amount AS al_amount, al.rule AS al_rule,
                   al.basis AS al_basis, al.allocated_at AS al_allocated_at, k.*
            FROM cm LEFT JOIN al ON true LEFT JOIN k ON true""", commitment_id, year)
    if r is None:
        return None
    allocation = None if r["al_envelope"] is None else Allocation(
        r["allocation_id"], r["cite_id"], r["al_envelope"], BudgetProgramme(r["al_programme"]),
        r["al_year"], r["al_amount"], r["al_rule"], r["al_basis"], r["al_allocated_at"])
    return PaymentGround(_commitment(r), r["departement"], allocation,
                         None if allocation is None else _credits_at(r, allocation.programme,
                                                                     year))


# --- recoveries ----------------------------------------------------------------------------


def _recovery(r: asyncpg.Record) -> Recovery:
    return Recovery(recovery_id=r["recovery_id"], commitment_id=r["commitment_id"],
                    cite_id=r["cite_id"], payee_partner_id=r["payee_partner_id"],
                    programme=BudgetProgramme(r["programme"]), amount=r["amount"],
                    outstanding=r["outstanding"], order_reference=r["order_reference"],
                    ordered_on=r["ordered_on"], motive=r["motive"], ordered_at=r["ordered_at"])


_RECOVERY = """SELECT r.*, a.balance AS outstanding FROM recoveries r
               JOIN accounts a ON a.kind = 'receivable' AND a.ref = r.recovery_id::text"""


async def insert_recovery(conn: Conn, ordered: RecoveryOrdered) -> None:
    """The order, and what its commitment had ordered back raised by it (one statement)."""
    await conn.execute(
        """WITH o AS (
               INSERT INTO recoveries (recovery_id, commitment_id, cite_id, payee_partner_id,
                                       programme, amount, order_reference, ordered_on,
                                       motive, ordered_at)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
               RETURNING commitment_id, amount)
           UPDATE commitments c SET ordered = c.ordered + o.amount
           FROM o WHERE c.commitment_id = o.commitment_id""",
        ordered.recovery_id, ordered.commitment_id, ordered.cite_id,
        ordered.payee_partner_id, ordered.programme.value, ordered.amount,
        ordered.order_reference, ordered.ordered_on, ordered.motive, ordered.ordered_at)


async def get_recovery(conn: Reads, recovery_id: UUID, *, for_update: bool = False
                       ) -> Recovery | None:
    """``for_update``: the order and its account locked to the end of the transaction."""
    r = await conn.fetchrow(f"{_RECOVERY} WHERE r.recovery_id = $1"
                            + (" FOR UPDATE OF r, a" if for_update else ""), recovery_id)
    return _recovery(r) if r else None


async def recoveries_of(conn: Reads, commitment_id: UUID) -> list[Recovery]:
    return [_recovery(r) for r in await conn.fetch(
        f"{_RECOVERY} WHERE r.commitment_id = $1 ORDER BY r.ordered_at, r.recovery_id",
        commitment_id)]


async def insert_receipt(conn: Conn, received: RecoveryReceived) -> None:
    await conn.execute(
        """INSERT INTO recovery_receipts (receipt_id, recovery_id, amount, received_on,
                                          received_at)
           VALUES ($1, $2, $3, $4, $5)""", received.receipt_id, received.recovery_id,
        received.amount, received.received_on, received.received_at)


async def receipts_of(conn: Reads, recovery_id: UUID) -> list[asyncpg.Record]:
    return await conn.fetch(
        """SELECT * FROM recovery_receipts WHERE recovery_id = $1
           ORDER BY received_at, receipt_id""", recovery_id)


async def cancel_commitment(conn: Conn, commitment_id: UUID, motive: str, at: datetime
                            ) -> None:
    await conn.execute(
        "UPDATE commitments SET cancelled_at = $2, cancel_motive = $3 WHERE commitment_id = $1",
        commitment_id, at, motive)


def insert_payment(paid: PaymentMade) -> Rows:
    """The payment, and what its commitment paid raised by it, written with the money it
    moves."""
    return Rows(
        """, made AS (
            INSERT INTO payments (payment_id, commitment_id, amount, paid_at)
            VALUES ($15, $16, $17, $18) RETURNING commitment_id, amount),
        counted AS (
            UPDATE commitments c SET paid = c.paid + made.amount
            FROM made WHERE c.commitment_id = made.commitment_id)""",
        (paid.payment_id, paid.commitment_id, paid.amount, paid.paid_at))


async def payments_of(conn: Reads, commitment_id: UUID) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT * FROM payments WHERE commitment_id = $1 ORDER BY paid_at, payment_id",
        commitment_id)


async def insert_cofinancing(conn: Conn, declared: CoFinancingDeclared) -> None:
    await conn.execute(
        """INSERT INTO cofinancing (cofinancing_id, cite_id, year, funder, amount, declared_at,
                                    funder_partner_id)
           VALUES ($1, $2, $3, $4, $5, $6, $7)""",
        declared.cofinancing_id, declared.cite_id, declared.year, declared.funder,
        declared.amount, declared.declared_at, declared.funder_partner_id)


async def get_cofinancing(conn: Reads, cofinancing_id: UUID, *, for_update: bool = False
                          ) -> CoFinancing | None:
    r = await conn.fetchrow(
        f"""SELECT * FROM cofinancing WHERE cofinancing_id = $1
            {'FOR UPDATE' if for_update else ''}""", cofinancing_id)
    return None if r is None else CoFinancing(
        r["cofinancing_id"], r["cite_id"], r["year"], r["funder"], r["amount"],
        r["funder_partner_id"], r["actual"], r["declared_at"])


async def cofinancings_of(conn: Reads, cite_id: str, *,
                          after: tuple[datetime, UUID] | None = None, limit: int = 50
                          ) -> list[CoFinancing]:
    rows = await conn.fetch(
        """SELECT * FROM cofinancing WHERE cite_id = $1
             AND ($2::timestamptz IS NULL OR (declared_at, cofinancing_id) > ($2, $3))
           ORDER BY declared_at, cofinancing_id LIMIT $4""",
        cite_id, after[0] if after else None, after[1] if after else None, limit)
    return [CoFinancing(r["cofinancing_id"], r["cite_id"], r["year"], r["funder"], r["amount"],
                        r["funder_partner_id"], r["actual"], r["declared_at"]) for r in rows]


async def realise_cofinancing(conn: Conn, realised: CoFinancingRealised) -> None:
    await conn.execute(
        "UPDATE cofinancing SET actual = $2, realised_at = $3 WHERE cofinancing_id = $1",
        realised.cofinancing_id, realised.actual, realised.realised_at)


# --- reports ------------------------------------------------------------------------------------


async def movements_by_year(conn: Reads, cite_id: str | None = None
                            ) -> list[asyncpg.Record]:
    """Sums of the ledger's movements per (year, programme, movement), for one cité or
    for all (then per envelope too): what the statements and the consumption report are
    built from, so they agree with the ledger by construction."""
    if cite_id is not None:
        return await conn.fetch(
            """SELECT year, programme, movement, sum(amount)::bigint AS amount FROM ledger
               WHERE cite_id = $1 GROUP BY year, programme, movement
               ORDER BY year, programme""", cite_id)
    return await conn.fetch(
        """SELECT envelope_id, programme, year, movement, sum(amount)::bigint AS amount
           FROM ledger WHERE envelope_id IS NOT NULL
           GROUP BY envelope_id, programme, year, movement
           ORDER BY programme, envelope_id, year NULLS FIRST""")


async def cofinancing_by_year(conn: Reads, cite_id: str) -> list[asyncpg.Record]:
    """Per year and funder: what was planned, and what was given of the co-financings
    whose actual amount is known (with what they had planned)."""
    return await conn.fetch(
        """SELECT year, funder, sum(amount)::bigint AS amount,
                  sum(actual)::bigint AS actual, count(actual)::int AS realised,
                  count(*)::int AS declared
           FROM cofinancing
           WHERE cite_id = $1 GROUP BY year, funder ORDER BY year, funder""", cite_id)


# --- the State's credits ----------------------------------------------------------------------


_CREDITS = """SELECT c.*,
                     coalesce((SELECT balance FROM accounts WHERE kind = 'ae_open'
                               AND ref = c.programme || '/' || c.year), 0) AS ae_open,
                     coalesce((SELECT balance FROM accounts WHERE kind = 'cp_open'
                               AND ref = c.programme || '/' || c.year), 0) AS cp_open
              FROM credits c"""


def _credits(r: asyncpg.Record) -> Credits:
    return Credits(BudgetProgramme(r["programme"]), r["year"], r["ae"], r["cp"], r["ae_open"],
                   r["cp_open"], r["closed_at"])


async def get_credits(conn: Reads, programme: BudgetProgramme, year: int, *,
                      lock: Lock = None) -> Credits | None:
    """A programme's credits of ``year`` with what is left undelegated; ``lock``: the row
    locked (``update`` to change them, ``share`` to spend from them: a closing waits for
    the commitments and payments under way, and they for it)."""
    r = await conn.fetchrow(
        f"""{_CREDITS} WHERE c.programme = $1 AND c.year = $2
            {'FOR UPDATE' if lock == 'update' else 'FOR SHARE' if lock == 'share' else ''}""",
        programme.value, year)
    return _credits(r) if r else None


async def save_credits(conn: Conn, c: Credits, at: datetime) -> None:
    await conn.execute(
        """INSERT INTO credits (programme, year, ae, cp, voted_at, closed_at)
           VALUES ($1, $2, $3, $4, $5, $6)
           ON CONFLICT (programme, year) DO UPDATE
           SET ae = $3, cp = $4, voted_at = $5, closed_at = $6""",
        c.programme.value, c.year, c.ae, c.cp, at, c.closed_at)


async def delegated_so_far(conn: Reads, programme: BudgetProgramme, year: int,
                           departement: str) -> tuple[int, int]:
    r = await conn.fetchrow(
        """SELECT ae, cp FROM delegations WHERE programme = $1 AND year = $2
           AND departement = $3""", programme.value, year, departement)
    return (r["ae"], r["cp"]) if r else (0, 0)


async def add_delegation(conn: Conn, d: CreditsDelegated) -> None:
    await conn.execute(
        """INSERT INTO delegations (programme, year, departement, ae, cp)
           VALUES ($1, $2, $3, $4, $5)
           ON CONFLICT (programme, year, departement) DO UPDATE SET ae = $4, cp = $5""",
        d.programme.value, d.year, d.departement, d.total_ae, d.total_cp)


async def delegation_funds(conn: Reads, years: Sequence[tuple[BudgetProgramme, int]]
                           ) -> dict[tuple[BudgetProgramme, int], list[DelegationFunds]]:
    """Per programme and year of ``years``, what each département was delegated and holds
    of its credits (AE not committed, CP not paid), by département; a year delegating
    nothing is absent. One query, however many years."""
    rows = await conn.fetch(
        """SELECT d.programme, d.year, d.departement, d.ae AS total_ae, d.cp AS total_cp,
                  coalesce(ae.balance, 0) AS ae, coalesce(cp.balance, 0) AS cp
           FROM delegations d
           JOIN unnest($1::text[], $2::integer[]) AS y(programme, year)
                ON d.programme = y.programme AND d.year = y.year
           LEFT JOIN accounts ae ON ae.kind = 'ae_delegated'
                AND ae.ref = d.programme || '/' || d.year || '/' || d.departement
           LEFT JOIN accounts cp ON cp.kind = 'cp_delegated'
                AND cp.ref = d.programme || '/' || d.year || '/' || d.departement
           ORDER BY d.programme, d.year, d.departement""",
        [p.value for p, _ in years], [y for _, y in years])
    funds: dict[tuple[BudgetProgramme, int], list[DelegationFunds]] = {}
    for r in rows:
        funds.setdefault((BudgetProgramme(r["programme"]), r["year"]), []).append(
            DelegationFunds(r["departement"], r["ae"], r["cp"], r["total_ae"], r["total_cp"]))
    return funds


async def restes_a_payer(conn: Reads, programme: BudgetProgramme, year: int
                         ) -> tuple[int, int]:
    """(unpaid, how many) of the commitments of the year's allocations of ``programme``
    neither paid in full nor cancelled."""
    r = await conn.fetchrow(
        """SELECT coalesce(sum(a.balance), 0)::bigint AS unpaid, count(*)::int AS n
           FROM commitments c
           JOIN allocations al USING (allocation_id)
           JOIN accounts a ON a.kind = 'commitment' AND a.ref = c.commitment_id::text
           WHERE al.programme = $1 AND al.year = $2 AND c.cancelled_at IS NULL
             AND a.balance > 0""", programme.value, year)
    assert r is not None  # an aggregate answers one row
    return r["unpaid"], r["n"]


async def credits_report(conn: Reads) -> list[asyncpg.Record]:
    """Per programme, year and département (NULL: the year's own accounts), the sums of
    the credits' movements by kind and the accounts they debited or credited."""
    return await conn.fetch(
        """SELECT programme, year, movement, debit_kind, debit_ref, credit_kind, credit_ref,
                  sum(amount)::bigint AS amount
           FROM ledger WHERE movement IN ('vote', 'unvote', 'delegate', 'engage', 'disengage',
                                          'spend', 'lapse')
           GROUP BY programme, year, movement, debit_kind, debit_ref, credit_kind, credit_ref
           ORDER BY programme, year""")


async def list_credits(conn: Reads, *, after: tuple[str, int] | None = None,
                       limit: int | None = None) -> list[Credits]:
    """By programme and year, with what each has left undelegated; ``after``: the last
    (programme, year) of the previous page."""
    return [_credits(r) for r in await conn.fetch(
        f"""{_CREDITS}
            WHERE $1::text IS NULL OR (c.programme, c.year) > ($1, $2::integer)
            ORDER BY c.programme, c.year LIMIT $3""",
        after[0] if after else None, after[1] if after else None, limit)]


# --- the years before the platform ------------------------------------------------------------


async def cite_by_reference(conn: Conn, reference: str) -> Cite | None:
    """The cité of ``reference``, locked for its past money to be taken over."""
    r = await conn.fetchrow(f"SELECT {_CITE} FROM cites WHERE reference = $1 FOR UPDATE",
                            reference)
    return _cite(r) if r else None


async def dotations_by_year(conn: Reads, cite_id: str
                            ) -> dict[tuple[BudgetProgramme, int], Allocation]:
    """The cité's dotations (not its manual allocations), by programme and year."""
    rows = await conn.fetch(
        "SELECT * FROM allocations WHERE cite_id = $1 AND rule <> 'manual'", cite_id)
    return {(BudgetProgramme(r["programme"]), r["year"]): _allocation(r) for r in rows}


async def past_spending_of(conn: Reads, cite_id: str) -> dict[UUID, tuple[int, int]]:
    """What each dotation of the cité took over of its past: committed and paid."""
    rows = await conn.fetch(
        "SELECT allocation_id, committed, paid FROM past_spending WHERE cite_id = $1", cite_id)
    return {r["allocation_id"]: (r["committed"], r["paid"]) for r in rows}


async def insert_past_spending(conn: Conn, e: PastSpendingImported) -> None:
    await conn.execute(
        """INSERT INTO past_spending (allocation_id, cite_id, programme, year, committed, paid,
                                      from_frozen, recorded_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8)""",
        e.allocation_id, e.cite_id, e.programme.value, e.year, e.committed, e.paid,
        e.from_frozen, e.recorded_at)


async def credits_kept(conn: Reads, years: Iterable[tuple[BudgetProgramme, int]]
                       ) -> set[tuple[BudgetProgramme, int]]:
    """Which of ``years`` (programme, year) have their credits kept by the platform."""
    pairs = list(years)
    rows = await conn.fetch(
        """SELECT programme, year FROM credits
           WHERE (programme, year) IN (SELECT * FROM unnest($1::text[], $2::integer[]))""",
        [p.value for p, _ in pairs], [y for _, y in pairs])
    return {(BudgetProgramme(r["programme"]), r["year"]) for r in rows}


async def lock_budget_year(conn: Conn, programme: BudgetProgramme, year: int) -> None:
    """Serialise, for one programme's year, voting its credits and taking its past over:
    a year is one or the other, never both."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))",
                       f"funding budget year {programme.value}/{year}")


async def has_past_spending(conn: Reads, programme: BudgetProgramme, year: int) -> bool:
    return bool(await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM past_spending WHERE programme = $1 AND year = $2)",
        programme.value, year))
