"""SQL of the chef de projet opérationnel's post: its tenures (ids and dates only)."""

from __future__ import annotations

from datetime import date, datetime

from cites_runtime.db import Conn, Reads

from ..domain import ChefDeProjetPost, Tenure
from .registry import Row

_TENURE = "contact_id, employer_partner_id, starts_on, ends_on, motive"


async def load_post(conn: Conn, cite_id: str, opened_on: date) -> ChefDeProjetPost:
    """The post with its latest tenure (the alliance is locked by the caller: commands on
    one post serialise with it)."""
    row = await conn.fetchrow(
        f"""SELECT {_TENURE} FROM cpo_tenures WHERE cite_id = $1
            ORDER BY starts_on DESC LIMIT 1""", cite_id)
    latest = Tenure(row["contact_id"], row["employer_partner_id"], row["starts_on"],
                    row["ends_on"], row["motive"]) if row else None
    return ChefDeProjetPost(cite_id, opened_on, latest)


async def end_tenure(conn: Conn, cite_id: str, tenure: Tenure, at: datetime) -> None:
    """Write the end of ``tenure`` (its last day and motive), ended ``at``."""
    await conn.execute(
        """UPDATE cpo_tenures SET ends_on = $3, motive = $4, ended_at = $5
           WHERE cite_id = $1 AND starts_on = $2""",
        cite_id, tenure.starts_on, tenure.ends_on, tenure.motive, at)


async def insert_tenure(conn: Conn, cite_id: str, tenure: Tenure, at: datetime) -> None:
    await conn.execute(
        """INSERT INTO cpo_tenures (cite_id, contact_id, employer_partner_id, starts_on,
                                    appointed_at)
           VALUES ($1, $2, $3, $4, $5)""",
        cite_id, tenure.contact_id, tenure.employer_partner_id, tenure.starts_on, at)


_TENURE_ROW = f"{_TENURE}, appointed_at, ended_at"


async def tenure_row(conn: Reads, cite_id: str, starts_on: date) -> Row | None:
    """The tenure of the post of ``cite_id`` that starts on ``starts_on``."""
    row: Row | None = await conn.fetchrow(
        f"SELECT {_TENURE_ROW} FROM cpo_tenures WHERE cite_id = $1 AND starts_on = $2",
        cite_id, starts_on)
    return row


async def tenures(conn: Reads, cite_id: str, *, after: date | None, limit: int) -> list[Row]:
    """The post's tenures in the order they began, from after ``after``."""
    return list(await conn.fetch(
        f"""SELECT {_TENURE_ROW} FROM cpo_tenures
            WHERE cite_id = $1 AND ($2::date IS NULL OR starts_on > $2)
            ORDER BY starts_on LIMIT $3""",
        cite_id, after, limit))
