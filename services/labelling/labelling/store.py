"""SQL of the labelling schema (asyncpg, parameterised). Rows in, domain objects out."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from uuid import UUID

import asyncpg

from cites_contracts.events.labelling import (
    ConventionSignatory,
    Perimeter,
    PerimeterAddition,
    ReviewAction,
    ReviewIndicator,
    TroikaValidation,
)
from cites_contracts.events.labelling import Wave as WaveRef
from cites_contracts.types import ActorRole, LabelPeriod, QpvList
from cites_runtime.actor import Role
from cites_runtime.db import Conn, Reads

from .domain import (
    Campaign,
    Candidature,
    CandidatureStatus,
    Content,
    Decision,
    Dossier,
    FilingWindow,
    HistoryEntry,
    Label,
    LabelStatus,
    LabelTerm,
    Money,
    Outcome,
    Review,
    ReviewStatus,
    Score,
    Term,
    Wave,
    WaveStatus,
)
from .domain.dossier import STORED
from .domain.holdings import Claim, Held, Holder, Holding
from .domain.label import Amendment
from .domain.records import CiteRecord

__all__ = [
    "CandidatureSummary",
    "Filters",
    "ImportedRecord",
    "RecordedEntry",
    "ReviewFilters",
    "WaveStats",
    "add_history",
    "add_money",
    "cite_names",
    "cites_to_review",
    "claim",
    "count_reviews",
    "due_cite_ids",
    "due_review_ids",
    "get_campaign",
    "get_candidature",
    "get_label",
    "get_review",
    "get_wave",
    "history",
    "insert_campaign",
    "insert_candidature",
    "insert_reviews",
    "insert_wave",
    "list_candidatures",
    "list_labels",
    "list_reviews",
    "list_waves",
    "lock_import",
    "lock_label_if_due",
    "money_of",
    "next_cite_id",
    "open_cite",
    "release",
    "remember_year",
    "save_candidature",
    "save_convention",
    "save_import",
    "save_label",
    "save_review",
    "save_wave_status",
    "wave_stats",
    "year_of",
]

Row = asyncpg.Record | Any


@dataclass(frozen=True, slots=True)
class Filters:
    wave_id: str | None = None
    status: str | None = None
    departement: str | None = None


# --- Waves -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WaveStats:
    wave: Wave
    submitted: int
    labelled: int


def _wave(r: Row) -> Wave:
    window = (FilingWindow(r["filing_opens_on"], r["filing_closes_on"])
              if r["filing_opens_on"] is not None else None)
    return Wave(id=r["id"], year=r["year"], title=r["title"], rule_set=r["rule_set"],
                filing=window, review_criteria=tuple(r["review_criteria"]),
                target_count=r["target_count"], status=WaveStatus(r["status"]),
                term=LabelTerm(calendar=r["label_calendar"]), test=r["test"],
                qpv_list=QpvList(r["qpv_list"]))


async def get_wave(conn: Reads, wave_id: str, *, for_update: bool = False) -> Wave | None:
    lock = " FOR NO KEY UPDATE" if for_update else ""
    r = await conn.fetchrow(f"SELECT * FROM waves WHERE id = $1{lock}", wave_id)
    return _wave(r) if r else None


async def insert_wave(conn: Conn, w: Wave) -> bool:
    """False when a wave with this id exists already."""
    inserted = await conn.fetchval(
        """INSERT INTO waves (id, year, title, rule_set, filing_opens_on, filing_closes_on,
                              review_criteria, target_count, status, label_calendar, test,
                              qpv_list)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
           ON CONFLICT (id) DO NOTHING RETURNING true""",
        w.id, w.year, w.title, w.rule_set, w.filing.opens_on if w.filing else None,
        w.filing.closes_on if w.filing else None, list(w.review_criteria), w.target_count,
        w.status.value, w.term.calendar, w.test, w.qpv_list.value,
    )
    return bool(inserted)


async def save_wave_status(conn: Conn, w: Wave) -> None:
    await conn.execute("UPDATE waves SET status = $2 WHERE id = $1", w.id, w.status.value)


_WAVE_STATS = """SELECT w.*,
                         (SELECT count(*) FROM candidatures c
                           WHERE c.wave_id = w.id AND c.submitted_at IS NOT NULL) AS submitted,
                         (SELECT count(*) FROM cites l WHERE l.wave_id = w.id) AS labelled
                    FROM waves w"""


def _wave_stats(r: Row) -> WaveStats:
    return WaveStats(_wave(r), r["submitted"], r["labelled"])


async def list_waves(conn: Reads, *, after: tuple[int, str] | None = None,
                     limit: int | None = None) -> list[WaveStats]:
    """By year, then id; ``after``: the (year, id) of the last one of the previous page;
    every one without ``limit``."""
    rows = await conn.fetch(
        f"""{_WAVE_STATS}
             WHERE $1::integer IS NULL OR (w.year, w.id) > ($1, $2::text)
             ORDER BY w.year, w.id LIMIT $3""",
        after[0] if after else None, after[1] if after else None, limit)
    return [_wave_stats(r) for r in rows]


async def wave_stats(conn: Reads, wave_id: str) -> WaveStats | None:
    r = await conn.fetchrow(f"{_WAVE_STATS} WHERE w.id = $1", wave_id)
    return _wave_stats(r) if r else None


# --- Candidatures ----------------------------------------------------------------------------


def _candidature(r: Row) -> Candidature:
    decision = (Decision(Outcome(r["decision"]), r["decision_motive"], r["decided_at"],
                         r["decided_by"]) if r["decision"] else None)
    scores = r["scores"] or []
    return Candidature(
        id=r["id"], wave_id=r["wave_id"], departement=r["departement"],
        # Parsed and validated in one pass from the stored text (cheaper than a dict).
        dossier=Dossier.model_validate_json(r["dossier"], context=STORED),
        status=CandidatureStatus(r["status"]), created_at=r["created_at"],
        created_by=r["created_by"], updated_at=r["updated_at"], submitted_at=r["submitted_at"],
        filed_on=r["filed_on"], review_started_at=r["review_started_at"],
        scores={s["criterion"]: Score(s["criterion"], s["score"], s["comment"],
                                      datetime.fromisoformat(s["scored_at"]), s["scored_by"])
                for s in scores},
        decision=decision, cite_id=r["cite_id"], withdrawn_at=r["withdrawn_at"],
        withdrawal_motive=r["withdrawal_motive"], prepared_by=Role(r["prepared_by"]),
        filed_at=r["filed_at"], filed_by=Role(r["filed_by"]) if r["filed_by"] else None,
        returned_at=r["returned_at"], return_motive=r["return_motive"],
    )


_CANDIDATURE = """
    SELECT c.*, c.dossier::text AS dossier,
           (SELECT json_agg(json_build_object(
                       'criterion', s.criterion, 'score', s.score, 'comment', s.comment,
                       'scored_at', s.scored_at, 'scored_by', s.scored_by))
              FROM review_scores s WHERE s.candidature_id = c.id) AS scores"""


async def get_candidature(conn: Reads, candidature_id: UUID) -> Candidature | None:
    """The candidature and its scores, in one round trip."""
    r = await conn.fetchrow(f"{_CANDIDATURE} FROM candidatures c WHERE c.id = $1",
                            candidature_id)
    return _candidature(r) if r else None


async def lock_candidature(conn: Conn, candidature_id: UUID
                           ) -> tuple[Candidature, Wave] | None:
    """The candidature, locked for a command, with its scores and its wave (which every
    candidature command consults), in one round trip."""
    r = await conn.fetchrow(
        f"""{_CANDIDATURE}, w.id AS w_id, w.year AS w_year, w.title AS w_title,
                   w.rule_set AS w_rule_set, w.filing_opens_on AS w_filing_opens_on,
                   w.filing_closes_on AS w_filing_closes_on,
                   w.review_criteria AS w_review_criteria, w.target_count AS w_target_count,
                   w.status AS w_status, w.label_calendar AS w_label_calendar,
                   w.test AS w_test, w.qpv_list AS w_qpv_list
              FROM candidatures c JOIN waves w ON w.id = c.wave_id
             WHERE c.id = $1 FOR NO KEY UPDATE OF c""", candidature_id)
    if r is None:
        return None
    return _candidature(r), _wave({k[2:]: v for k, v in r.items() if k.startswith("w_")})


async def insert_candidature(conn: Conn, c: Candidature) -> None:
    await conn.execute(
        """INSERT INTO candidatures (id, wave_id, departement, territory_name, status, dossier,
                                     created_at, created_by, updated_at, prepared_by)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)""",
        c.id, c.wave_id, c.departement, c.dossier.territory_name, c.status.value,
        c.dossier.model_dump(mode="json"), c.created_at, c.created_by, c.updated_at,
        c.prepared_by.value,
    )


async def save_candidature(conn: Conn, c: Candidature, *, dossier: bool = False,
                           scores: bool = False) -> None:
    """Write the candidature's state; its dossier and scores only when asked (they change
    only through revision and review)."""
    d = c.decision
    await conn.execute(
        """UPDATE candidatures
              SET wave_id = $2, status = $3, updated_at = $4, submitted_at = $5,
                  review_started_at = $6, decision = $7, decision_motive = $8,
                  decided_at = $9, decided_by = $10, cite_id = $11, withdrawn_at = $12,
                  withdrawal_motive = $13, filed_on = $14, filed_at = $15, filed_by = $16,
                  returned_at = $17, return_motive = $18
            WHERE id = $1""",
        c.id, c.wave_id, c.status.value, c.updated_at, c.submitted_at, c.review_started_at,
        d.outcome.value if d else None, d.motive if d else None, d.decided_at if d else None,
        d.decided_by if d else None, c.cite_id, c.withdrawn_at, c.withdrawal_motive, c.filed_on,
        c.filed_at, c.filed_by.value if c.filed_by else None, c.returned_at, c.return_motive,
    )
    if dossier:
        await conn.execute(
            "UPDATE candidatures SET dossier = $2, territory_name = $3 WHERE id = $1",
            c.id, c.dossier.model_dump(mode="json"), c.dossier.territory_name)
    if scores and c.scores:
        rows = list(c.scores.values())
        await conn.execute(
            """INSERT INTO review_scores AS r (candidature_id, criterion, score, comment,
                                              scored_at, scored_by)
               SELECT $1, * FROM unnest($2::text[], $3::smallint[], $4::text[],
                                        $5::timestamptz[], $6::text[])
               ON CONFLICT (candidature_id, criterion) DO UPDATE
                  SET score = EXCLUDED.score, comment = EXCLUDED.comment,
                      scored_at = EXCLUDED.scored_at, scored_by = EXCLUDED.scored_by
                WHERE (r.score, r.comment) IS DISTINCT FROM (EXCLUDED.score, EXCLUDED.comment)""",
            c.id, [s.criterion for s in rows], [s.score for s in rows],
            [s.comment for s in rows], [s.scored_at for s in rows], [s.scored_by for s in rows],
        )


@dataclass(frozen=True, slots=True)
class CandidatureSummary:
    id: UUID
    wave_id: str
    departement: str
    territory_name: str
    status: CandidatureStatus
    created_at: datetime
    submitted_at: datetime | None
    decided_at: datetime | None
    cite_id: str | None
    prepared_by: Role
    filed_at: datetime | None


_CANDIDATURE_FILTER = """($1::text IS NULL OR wave_id = $1)
                     AND ($2::text IS NULL OR status = $2)
                     AND ($3::text IS NULL OR departement = $3)"""


async def list_candidatures(conn: Reads, f: Filters, *, after: tuple[datetime, UUID] | None,
                            limit: int) -> list[CandidatureSummary]:
    """Newest first; ``after``: the (created_at, id) of the last one of the previous page."""
    rows = await conn.fetch(
        f"""SELECT id, wave_id, departement, territory_name, status, created_at, submitted_at,
                   decided_at, cite_id, prepared_by, filed_at
              FROM candidatures WHERE {_CANDIDATURE_FILTER}
               AND ($4::timestamptz IS NULL OR created_at < $4
                    OR (created_at = $4 AND id > $5::uuid))
             ORDER BY created_at DESC, id LIMIT $6""",
        f.wave_id, f.status, f.departement, after[0] if after else None,
        after[1] if after else None, limit)
    return [CandidatureSummary(
        id=r["id"], wave_id=r["wave_id"], departement=r["departement"],
        territory_name=r["territory_name"], status=CandidatureStatus(r["status"]),
        created_at=r["created_at"], submitted_at=r["submitted_at"],
        decided_at=r["decided_at"], cite_id=r["cite_id"], prepared_by=Role(r["prepared_by"]),
        filed_at=r["filed_at"]) for r in rows]


# --- Cités ---------------------------------------------------------------------------------


async def next_cite_id(conn: Conn) -> str:
    n: int = await conn.fetchval("SELECT nextval('cite_number')")
    return f"cite-{n:03d}"


def _label(r: Row) -> Label:
    return Label(
        cite_id=r["cite_id"], candidature_id=r["candidature_id"], name=r["name"],
        wave=WaveRef(id=r["wave_id"], year=r["wave_year"], title=r["wave_title"],
                     test=r["wave_test"]),
        departement=r["departement"],
        perimeter=Perimeter.model_validate(r["perimeter"]),
        lead_college_uai=r["lead_college_uai"],
        periods=[Term(LabelPeriod(start=date.fromisoformat(p["start"]),
                                  end=date.fromisoformat(p["end"])),
                      date.fromisoformat(p["signed"]) if p["signed"] else None,
                      tuple(ConventionSignatory.model_validate(x) for x in p["signatories"]),
                      tuple(Amendment(a["number"], date.fromisoformat(a["signed_on"]),
                                      a["object"]) for a in p["amendments"]))
                 for p in r["periods"]],
        status=LabelStatus(r["status"]), decided_on=r["decided_on"],
        status_since=r["status_since"], renewal_applied_on=r["renewal_applied_on"],
        labelled_at=r["labelled_at"],
        status_changed_at=r["status_changed_at"],
        requested_annual_contribution=r["requested_annual_contribution"],
    )


# A cité's row, its wave's title and test flag, and its periods, oldest first
# (cites.period_* and convention_signed_on repeat the latest period's: what the expiry
# check scans).
_LABEL = """
    SELECT c.*, w.title AS wave_title, w.test AS wave_test,
           (SELECT json_agg(json_build_object('start', p.period_start,
                                              'end', p.period_end,
                                              'signed', p.convention_signed_on,
                                              'signatories', p.signatories,
                                              'amendments', p.amendments)
                            ORDER BY p.period_start)
              FROM label_periods p WHERE p.cite_id = c.cite_id) AS periods
      FROM cites c JOIN waves w ON w.id = c.wave_id"""


async def get_label(conn: Reads, cite_id: str, *, for_update: bool = False) -> Label | None:
    lock = " FOR NO KEY UPDATE OF c" if for_update else ""
    r = await conn.fetchrow(f"{_LABEL} WHERE c.cite_id = $1{lock}", cite_id)
    return _label(r) if r else None


def _periods(x: Label) -> tuple[list[date], list[date], list[date | None]]:
    return ([t.start for t in x.periods], [t.end for t in x.periods],
            [t.convention_signed_on for t in x.periods])


async def open_cite(conn: Conn, x: Label, first: HistoryEntry, actor: str | None) -> None:
    """A labelled candidature becomes its cité, in one statement: the cité and its label
    periods, what the candidature held passed to the cité, and the first entry of its
    history (a decision is a dozen round trips: this spares three)."""
    await conn.execute(
        f"""WITH cite AS (
               INSERT INTO cites (cite_id, candidature_id, name, wave_id, wave_year,
                                  departement, status, period_start, period_end,
                                  convention_signed_on, lead_college_uai, perimeter,
                                  requested_annual_contribution, labelled_at, status_changed_at,
                                  decided_on, status_since)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $19,
                       $20)),
           periods AS (
               INSERT INTO label_periods (cite_id, period_start, period_end,
                                          convention_signed_on)
               SELECT $1, * FROM unnest($16::date[], $17::date[], $18::date[])),
           held AS (
               UPDATE holdings SET candidature_id = NULL, cite_id = $1
                WHERE candidature_id = $2)
           INSERT INTO cite_history ({_HISTORY_COLUMNS})
           VALUES ($1, $21, $22, $23, $24, $25, $26, $27, $28, $29, $30, $31)""",
        x.cite_id, x.candidature_id, x.name, x.wave.id, x.wave.year, x.departement,
        x.status.value, x.period.start, x.period.end, x.convention_signed_on,
        x.lead_college_uai, x.perimeter.model_dump(mode="json"),
        x.requested_annual_contribution, x.labelled_at, x.status_changed_at, *_periods(x),
        x.decided_on, x.status_since, *_history_row(first, actor),
    )


async def save_label(conn: Conn, x: Label) -> None:
    await conn.execute(
        """WITH cite AS (
               UPDATE cites SET status = $2, period_start = $3, period_end = $4,
                                convention_signed_on = $5, perimeter = $6,
                                status_changed_at = $7, status_since = $11,
                                renewal_applied_on = $12
                WHERE cite_id = $1)
           INSERT INTO label_periods AS p (cite_id, period_start, period_end,
                                           convention_signed_on)
           SELECT $1, * FROM unnest($8::date[], $9::date[], $10::date[])
           ON CONFLICT (cite_id, period_start) DO UPDATE
              SET period_end = EXCLUDED.period_end,
                  convention_signed_on = EXCLUDED.convention_signed_on
            WHERE (p.period_end, p.convention_signed_on)
                  IS DISTINCT FROM (EXCLUDED.period_end, EXCLUDED.convention_signed_on)""",
        x.cite_id, x.status.value, x.period.start, x.period.end, x.convention_signed_on,
        x.perimeter.model_dump(mode="json"), x.status_changed_at, *_periods(x), x.status_since,
        x.renewal_applied_on,
    )


async def save_convention(conn: Conn, cite_id: str, term: Term) -> None:
    """A period's convention signatories and amendments (its dates: :func:`save_label`)."""
    await conn.execute(
        """UPDATE label_periods SET signatories = $3, amendments = $4
            WHERE cite_id = $1 AND period_start = $2""",
        cite_id, term.start, [x.model_dump(mode="json") for x in term.signatories],
        [{"number": a.number, "signed_on": a.signed_on.isoformat(), "object": a.object}
         for a in term.amendments])


async def due_cite_ids(conn: Reads, today: date, *, limit: int = 1000) -> list[str]:
    """Cités whose living label ended before ``today`` (candidates for expiry)."""
    rows = await conn.fetch(
        """SELECT cite_id FROM cites
            WHERE status IN ('labelled', 'suspended') AND period_end < $1
              AND renewal_applied_on IS NULL
            ORDER BY period_end, cite_id LIMIT $2""", today, limit)
    return [r["cite_id"] for r in rows]


async def lock_label_if_due(conn: Conn, cite_id: str, today: date) -> Label | None:
    """The label, locked, if it is still due; None when it is not due any more or another
    replica holds it (that one expires it: skipping is what makes expiry exactly-once)."""
    r = await conn.fetchrow(
        f"""{_LABEL}
            WHERE c.cite_id = $1 AND c.status IN ('labelled', 'suspended')
              AND c.period_end < $2 AND c.renewal_applied_on IS NULL
            FOR NO KEY UPDATE OF c SKIP LOCKED""", cite_id, today)
    return _label(r) if r else None


_CITE_FILTER = """($1::text IS NULL OR c.wave_id = $1)
              AND ($2::text IS NULL OR c.status = $2)
              AND ($3::text IS NULL OR c.departement = $3)"""


async def list_labels(conn: Reads, f: Filters, *, after: tuple[datetime, str] | None = None,
                      limit: int | None = None) -> list[Label]:
    """In labelling order; ``after``: the (labelled_at, cite_id) of the last one of the
    previous page; every one without ``limit``."""
    rows = await conn.fetch(
        f"""{_LABEL} WHERE {_CITE_FILTER}
               AND ($4::timestamptz IS NULL OR (labelled_at, cite_id) > ($4, $5::text))
             ORDER BY labelled_at, cite_id LIMIT $6""",
        f.wave_id, f.status, f.departement, after[0] if after else None,
        after[1] if after else None, limit)
    return [_label(r) for r in rows]


# --- History ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RecordedEntry:
    entry: HistoryEntry
    actor: str | None


_HISTORY_COLUMNS = """cite_id, kind, occurred_at, actor_role, actor, motive, period_start,
                      period_end, signed_on, effective_on, added, review_id"""


def _history_row(e: HistoryEntry, actor: str | None) -> tuple[object, ...]:
    """A history entry's columns after ``cite_id``, in :data:`_HISTORY_COLUMNS`' order."""
    return (e.kind, e.occurred_at, e.actor_role.value if e.actor_role else None, actor,
            e.motive, e.period.start if e.period else None,
            e.period.end if e.period else None, e.signed_on, e.effective_on,
            e.added.model_dump(mode="json") if e.added else None, e.review_id)


async def add_history(conn: Conn, cite_id: str, e: HistoryEntry, actor: str | None) -> None:
    await conn.execute(
        f"""INSERT INTO cite_history ({_HISTORY_COLUMNS})
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)""",
        cite_id, *_history_row(e, actor))


async def history(conn: Reads, cite_id: str) -> list[RecordedEntry]:
    rows = await conn.fetch("SELECT * FROM cite_history WHERE cite_id = $1 ORDER BY id", cite_id)
    return [RecordedEntry(HistoryEntry(
        kind=r["kind"], occurred_at=r["occurred_at"],
        actor_role=ActorRole(r["actor_role"]) if r["actor_role"] else None,
        motive=r["motive"],
        period=(LabelPeriod(start=r["period_start"], end=r["period_end"])
                if r["period_start"] else None),
        signed_on=r["signed_on"], effective_on=r["effective_on"],
        added=PerimeterAddition.model_validate(r["added"]) if r["added"] else None,
        review_id=r["review_id"],
    ), r["actor"]) for r in rows]


# --- Holdings (domain/holdings.py) -----------------------------------------------------------


async def claim(conn: Conn, claims: list[Claim], holder: Holder, at: datetime
                ) -> list[Holding]:
    """Take for ``holder`` what nobody holds among ``claims``; return the claims others
    hold (empty: ``holder`` holds them all now, some perhaps from before).

    The key on (kind, code) decides: an INSERT finding a row another transaction has not
    committed yet waits for it, then does nothing if it committed. The same statement reads
    who holds the claims it did not insert, in its snapshot (one round trip: what a
    candidature held since its submission, its decision finds at once); a row committed
    while the INSERT waited is not in that snapshot, so such a claim is tried again, in a
    new statement (which sees that commit), as is one whose holder let go meanwhile."""
    others: list[Holding] = []
    pending = sorted(claims)  # one order for every claimant
    while pending:
        rows = await conn.fetch(
            """WITH c AS (SELECT * FROM unnest($1::text[], $2::text[]) WITH ORDINALITY
                                    AS c (kind, code, n)),
                    ins AS (INSERT INTO holdings (kind, code, candidature_id, cite_id,
                                                  held_since)
                            SELECT kind, code, $3, $4, $5 FROM c ORDER BY n
                            ON CONFLICT (kind, code) DO NOTHING
                            RETURNING kind, code)
               SELECT kind, code, NULL::uuid AS candidature_id, NULL::text AS cite_id,
                      true AS inserted
                 FROM ins
               UNION ALL
               SELECT h.kind, h.code, h.candidature_id, h.cite_id, false
                 FROM holdings h JOIN c ON (h.kind, h.code) = (c.kind, c.code)""",
            [c.kind.value for c in pending], [c.code for c in pending],
            holder.candidature_id, holder.cite_id, at)
        done = {Claim(Held(r["kind"]), r["code"]) for r in rows if r["inserted"]}
        held = {Claim(Held(r["kind"]), r["code"]): Holder(r["candidature_id"], r["cite_id"])
                for r in rows if not r["inserted"]}
        rest = [c for c in pending if c not in done]
        others += [Holding(c, held[c]) for c in rest if c in held and held[c] != holder]
        pending = [c for c in rest if c not in held]  # freed in between: try again
    return others


async def release(conn: Conn, holder: Holder) -> None:
    """Free everything ``holder`` holds (a candidature rejected or withdrawn, a label
    withdrawn or expired)."""
    if holder.cite_id is not None:
        await conn.execute("DELETE FROM holdings WHERE cite_id = $1", holder.cite_id)
    else:
        await conn.execute("DELETE FROM holdings WHERE candidature_id = $1",
                           holder.candidature_id)


# --- Imports of the programme's records -----------------------------------------------------


@dataclass(frozen=True, slots=True)
class ImportedRecord:
    reference: str
    cite_id: str
    record: CiteRecord
    imported_at: datetime


async def lock_import(conn: Conn, reference: str) -> ImportedRecord | None:
    """What was imported under ``reference``, if anything; two imports of one reference
    take turns until the end of the transaction (the first one's cité is the second's)."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtext('labelling.import'), "
                       "hashtext($1))", reference)
    r = await conn.fetchrow("SELECT cite_id, record::text AS record, imported_at FROM imports "
                            "WHERE reference = $1", reference)
    if r is None:
        return None
    return ImportedRecord(reference, r["cite_id"],
                          CiteRecord.model_validate_json(r["record"], context=STORED),
                          r["imported_at"])


async def save_import(conn: Conn, record: CiteRecord, cite_id: str, at: datetime,
                      by: str | None) -> None:
    await conn.execute(
        """INSERT INTO imports (reference, cite_id, record, imported_at, imported_by)
           VALUES ($1, $2, $3, $4, $5)
           ON CONFLICT (reference) DO UPDATE
              SET record = EXCLUDED.record, imported_at = EXCLUDED.imported_at,
                  imported_by = EXCLUDED.imported_by""",
        record.reference, cite_id, record.model_dump(mode="json"), at, by)


# --- Revues de projet (domain/review.py) ------------------------------------------------------


async def get_campaign(conn: Reads, year: int, *, for_update: bool = False) -> Campaign | None:
    r = await conn.fetchrow("SELECT * FROM review_campaigns WHERE year = $1"
                            + (" FOR UPDATE" if for_update else ""), year)
    return Campaign(r["year"], r["due_on"], r["opened_at"]) if r else None


async def count_reviews(conn: Reads, year: int) -> int:
    n: int = await conn.fetchval("SELECT count(*) FROM reviews WHERE year = $1", year)
    return n


async def insert_campaign(conn: Conn, c: Campaign) -> None:
    await conn.execute("INSERT INTO review_campaigns (year, due_on, opened_at) "
                       "VALUES ($1, $2, $3)", c.year, c.due_on, c.opened_at)


async def cites_to_review(conn: Reads, year: int) -> list[tuple[str, str]]:
    """(cite_id, département) of the cités whose label covers part of ``year`` (one of its
    periods does; not withdrawn before the year began) and which have no review of it."""
    rows = await conn.fetch(
        """SELECT c.cite_id, c.departement FROM cites c
            WHERE EXISTS (SELECT 1 FROM label_periods p WHERE p.cite_id = c.cite_id
                             AND p.period_start <= make_date($1, 12, 31)
                             AND p.period_end >= make_date($1, 1, 1))
              AND NOT (c.status = 'withdrawn' AND c.status_since < make_date($1, 1, 1))
              AND NOT EXISTS (SELECT 1 FROM reviews r
                               WHERE r.cite_id = c.cite_id AND r.year = $1)
            ORDER BY c.cite_id""", year)
    return [(r["cite_id"], r["departement"]) for r in rows]


def _review(r: Row) -> Review:
    content = r["content"]
    return Review(
        review_id=r["review_id"], cite_id=r["cite_id"], departement=r["departement"],
        year=r["year"], due_on=r["due_on"], status=ReviewStatus(r["status"]),
        opened_at=r["opened_at"], updated_at=r["updated_at"],
        content=Content(
            operational_review=content["operational_review"],
            actions=tuple(ReviewAction.model_validate(a) for a in content["actions"]),
            commune_contribution=content["commune_contribution"],
            indicators=tuple(ReviewIndicator.model_validate(i)
                             for i in content["indicators"])) if content else None,
        validations=tuple(TroikaValidation.model_validate(v) for v in r["validations"]),
        submitted_on=r["submitted_on"],
        money=Money(**r["money"]) if r["money"] else None,
        overdue_noted_at=r["overdue_noted_at"])


def _content(c: Content | None) -> dict[str, Any] | None:
    if c is None:
        return None
    return {"operational_review": c.operational_review,
            "actions": [a.model_dump(mode="json") for a in c.actions],
            "commune_contribution": c.commune_contribution,
            "indicators": [i.model_dump(mode="json") for i in c.indicators]}


async def insert_reviews(conn: Conn, reviews: list[Review]) -> None:
    await conn.executemany(
        """INSERT INTO reviews (review_id, cite_id, departement, year, due_on, status,
                                opened_at, updated_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $7)""",
        [(x.review_id, x.cite_id, x.departement, x.year, x.due_on, x.status.value,
          x.opened_at) for x in reviews])


async def get_review(conn: Reads, review_id: UUID, *, for_update: bool = False
                     ) -> Review | None:
    r = await conn.fetchrow("SELECT * FROM reviews WHERE review_id = $1"
                            + (" FOR UPDATE" if for_update else ""), review_id)
    return _review(r) if r else None


async def save_review(conn: Conn, x: Review) -> None:
    await conn.execute(
        """UPDATE reviews SET status = $2, content = $3, validations = $4, submitted_on = $5,
                              money = $6, updated_at = $7, overdue_noted_at = $8
            WHERE review_id = $1""",
        x.review_id, x.status.value, _content(x.content),
        [v.model_dump(mode="json") for v in x.validations], x.submitted_on,
        dataclasses.asdict(x.money) if x.money else None, x.updated_at, x.overdue_noted_at)


@dataclass(frozen=True, slots=True)
class ReviewFilters:
    year: int | None = None
    status: str | None = None
    departement: str | None = None
    cite_id: str | None = None
    overdue: bool | None = None
    """True: past the deadline (before ``today``) and still not submitted."""
    today: date | None = None


async def list_reviews(conn: Reads, f: ReviewFilters, *, after: tuple[int, str] | None = None,
                       limit: int | None = None) -> list[Review]:
    """By year, then cité; ``after``: the (year, cite_id) of the previous page's last."""
    rows = await conn.fetch(
        """SELECT * FROM reviews
            WHERE ($1::int IS NULL OR year = $1) AND ($2::text IS NULL OR status = $2)
              AND ($3::text IS NULL OR departement = $3) AND ($4::text IS NULL OR cite_id = $4)
              AND ($5::bool IS NULL OR $5 = (due_on < $9 AND status <> 'submitted'))
              AND ($6::int IS NULL OR (year, cite_id) > ($6, $7::text))
            ORDER BY year, cite_id LIMIT $8""",
        f.year, f.status, f.departement, f.cite_id, f.overdue,
        after[0] if after else None, after[1] if after else None, limit, f.today)
    return [_review(r) for r in rows]


async def due_review_ids(conn: Reads, today: date, *, limit: int = 1000) -> list[UUID]:
    """Reviews past their deadline, not submitted, not yet noted overdue."""
    rows = await conn.fetch(
        """SELECT review_id FROM reviews
            WHERE status <> 'submitted' AND overdue_noted_at IS NULL AND due_on < $1
            ORDER BY due_on, review_id LIMIT $2""", today, limit)
    return [r["review_id"] for r in rows]


async def cite_names(conn: Reads, cite_ids: list[str]) -> dict[str, str]:
    rows = await conn.fetch("SELECT cite_id, name FROM cites WHERE cite_id = ANY($1)", cite_ids)
    return {r["cite_id"]: r["name"] for r in rows}


# --- The money of each cité's years, from funding's events ----------------------------------


async def money_of(conn: Reads, pairs: list[tuple[str, int]]) -> dict[tuple[str, int], Money]:
    """The money of each (cité, year) asked: zeros for a year funding said nothing of."""
    rows = await conn.fetch(
        """SELECT m.* FROM cite_money m
             JOIN unnest($1::text[], $2::int[]) AS k(cite_id, year) USING (cite_id, year)""",
        [c for c, _ in pairs], [y for _, y in pairs])
    found = {(r["cite_id"], r["year"]): Money(
        allocated=r["allocated"], fonds=r["fonds"], committed=r["committed"], paid=r["paid"],
        ordered_back=r["ordered_back"], cofinancing=r["cofinancing"]) for r in rows}
    return {p: found.get(p, Money()) for p in pairs}


async def add_money(conn: Conn, cite_id: str, year: int, **deltas: int) -> None:
    """Add ``deltas`` (a :class:`Money` field → cents, signed) to the cité's year."""
    columns = [name for name in deltas if name in Money.__dataclass_fields__]
    assert len(columns) == len(deltas), deltas
    sets = ", ".join(f"{c} = cite_money.{c} + EXCLUDED.{c}" for c in columns)
    await conn.execute(
        f"""INSERT INTO cite_money (cite_id, year, {", ".join(columns)})
            VALUES ($1, $2, {", ".join(f"${i + 3}" for i in range(len(columns)))})
            ON CONFLICT (cite_id, year) DO UPDATE SET {sets}""",
        cite_id, year, *(deltas[c] for c in columns))


async def remember_year(conn: Conn, money_id: UUID, cite_id: str, year: int) -> None:
    """The budget year of an allocation or a commitment (the same again: unchanged)."""
    await conn.execute("INSERT INTO money_years (id, cite_id, year) VALUES ($1, $2, $3) "
                       "ON CONFLICT (id) DO NOTHING", money_id, cite_id, year)


async def year_of(conn: Reads, money_id: UUID) -> int | None:
    year: int | None = await conn.fetchval("SELECT year FROM money_years WHERE id = $1",
                                           money_id)
    return year
