"""SQL of the registry: partners and their contacts (asyncpg, parameterised)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from cites_contracts.types import PartnerKind
from cites_runtime.db import Conn, Reads

from ..domain import Contact, ContactDetails, Identity, Partner, PartnerDetails

# Queries run on a pool or inside a unit of work alike.
Row = asyncpg.Record
"""What a query answers when no domain object fits: read by column name."""

PARTNER_COLUMNS = ("partner_id, kind, name, departement, uai, siret, siren, insee_code, "
                   "commune_insee_code, registered_at, updated_at")


# --- partners -------------------------------------------------------------------------------


def partner_from(row: asyncpg.Record) -> Partner:
    details = PartnerDetails(
        kind=PartnerKind(row["kind"]), name=row["name"], departement=row["departement"],
        uai=row["uai"], siret=row["siret"], siren=row["siren"], insee_code=row["insee_code"],
        commune_insee_code=row["commune_insee_code"],
    )
    return Partner(row["partner_id"], details, row["registered_at"], row["updated_at"])


def partner_values(p: Partner) -> tuple[Any, ...]:
    d = p.details
    return (p.partner_id, d.kind.value, d.name, d.departement, d.uai, d.siret, d.siren,
            d.insee_code, d.commune_insee_code, p.registered_at, p.updated_at)


async def get_partner(conn: Reads, partner_id: UUID, *, for_update: bool = False
                      ) -> Partner | None:
    # FOR UPDATE serialises changes to one partner, so each snapshot event it emits
    # includes every change committed before it.
    lock = " FOR UPDATE" if for_update else ""
    row = await conn.fetchrow(
        f"SELECT {PARTNER_COLUMNS} FROM partners WHERE partner_id = $1{lock}", partner_id)
    return partner_from(row) if row else None


async def lock_partners(conn: Conn, partner_ids: Sequence[UUID]) -> dict[UUID, Partner]:
    """:func:`get_partner` ``for_update`` of many at once, locked in one order (theirs by
    id) so that two transactions locking some of the same wait rather than deadlock."""
    rows = await conn.fetch(
        f"""SELECT {PARTNER_COLUMNS} FROM partners WHERE partner_id = ANY ($1::uuid[])
            ORDER BY partner_id FOR UPDATE""", list(partner_ids))
    return {r["partner_id"]: partner_from(r) for r in rows}


async def find_by_identity(conn: Conn, identity: Identity) -> list[Partner]:
    rows = await conn.fetch(
        f"""SELECT {PARTNER_COLUMNS} FROM partners
            WHERE uai = $1 OR siret = $2 OR insee_code = $3 OR (siren = $4 AND siret IS NULL)
            ORDER BY registered_at""",
        identity.uai, identity.siret, identity.insee_code, identity.siren_alone,
    )
    return [partner_from(r) for r in rows]


async def insert_partner(conn: Conn, partner: Partner) -> bool:
    """False when one of its identifiers was taken meanwhile (a concurrent registration)."""
    inserted = await conn.fetchval(
        f"""INSERT INTO partners ({PARTNER_COLUMNS})
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
            ON CONFLICT DO NOTHING RETURNING true""",
        *partner_values(partner),
    )
    return bool(inserted)


async def update_partner(conn: Conn, partner: Partner) -> None:
    await conn.execute(
        """UPDATE partners SET kind = $2, name = $3, departement = $4, uai = $5, siret = $6,
                  siren = $7, insee_code = $8, commune_insee_code = $9, updated_at = $10
           WHERE partner_id = $1""",
        *partner_values(partner)[:9], partner.updated_at,
    )


async def register_college_unless_known(conn: Conn, college: Partner) -> tuple[Partner, bool]:
    """The partner holding ``college``'s UAI, inserting ``college`` if there is none:
    one round trip in the usual case. Returns (partner, created)."""
    assert college.details.uai is not None
    row = await conn.fetchrow(
        f"""WITH new AS (
                INSERT INTO partners ({PARTNER_COLUMNS})
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
                ON CONFLICT (uai) DO NOTHING
                RETURNING {PARTNER_COLUMNS}, true AS created)
            SELECT * FROM new
            UNION ALL
            SELECT {PARTNER_COLUMNS}, false FROM partners WHERE uai = $5""",
        *partner_values(college),
    )
    if row is None:
        # Inserted by a concurrent transaction after this statement's snapshot was taken.
        row = await conn.fetchrow(
            f"SELECT {PARTNER_COLUMNS}, false AS created FROM partners WHERE uai = $1",
            college.details.uai)
        assert row is not None
    return partner_from(row), row["created"]


async def list_partners(conn: Reads, *, kind: PartnerKind | None, commune: str | None,
                        after: tuple[str, UUID] | None, limit: int) -> list[Partner]:
    """Partners by (name, partner_id), from after ``after``."""
    rows = await conn.fetch(
        f"""SELECT {PARTNER_COLUMNS} FROM partners
            WHERE ($1::text IS NULL OR kind = $1)
              AND ($2::text IS NULL OR commune_insee_code = $2)
              AND ($3::text IS NULL OR (name, partner_id) > ($3, $4::uuid))
            ORDER BY name, partner_id
            LIMIT $5""",
        kind.value if kind else None, commune, after[0] if after else None,
        after[1] if after else None, limit,
    )
    return [partner_from(r) for r in rows]


# --- contacts -------------------------------------------------------------------------------

_CONTACT_COLUMNS = ("contact_id, partner_id, name, function, email, phone, consent, "
                    "consent_recorded_at, created_at")


def _contact(row: asyncpg.Record) -> Contact:
    details = ContactDetails(name=row["name"], email=row["email"], function=row["function"],
                             phone=row["phone"], consent=row["consent"])
    return Contact(row["contact_id"], row["partner_id"], details, row["consent_recorded_at"],
                   row["created_at"])


async def contacts_of(conn: Reads, partner_id: UUID, *,
                      after: tuple[datetime, UUID] | None = None, limit: int | None = None
                      ) -> list[Contact]:
    """The partner's live (not erased) contacts, in the order they were added; ``after``:
    the (created_at, contact_id) of the last one of the previous page; every one without
    ``limit``."""
    rows = await conn.fetch(
        f"""SELECT {_CONTACT_COLUMNS} FROM contacts
            WHERE partner_id = $1 AND erased_at IS NULL
              AND ($2::timestamptz IS NULL OR (created_at, contact_id) > ($2, $3::uuid))
            ORDER BY created_at, contact_id LIMIT $4""",
        partner_id, after[0] if after else None, after[1] if after else None, limit,
    )
    return [_contact(r) for r in rows]


async def get_contact(conn: Conn, partner_id: UUID, contact_id: UUID
                      ) -> tuple[Contact | None, bool]:
    """(the contact, whether it exists at all): an erased contact is (None, True)."""
    row = await conn.fetchrow(
        f"SELECT {_CONTACT_COLUMNS}, erased_at FROM contacts "
        "WHERE contact_id = $1 AND partner_id = $2",
        contact_id, partner_id,
    )
    if row is None:
        return None, False
    return (None if row["erased_at"] else _contact(row)), True


async def insert_contact(conn: Conn, contact: Contact) -> None:
    d = contact.details
    await conn.execute(
        f"INSERT INTO contacts ({_CONTACT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        contact.contact_id, contact.partner_id, d.name, d.function, d.email, d.phone,
        d.consent, contact.consent_recorded_at, contact.created_at,
    )


async def update_contact(conn: Conn, contact: Contact) -> None:
    d = contact.details
    await conn.execute(
        """UPDATE contacts SET name = $2, function = $3, email = $4, phone = $5, consent = $6,
                  consent_recorded_at = $7
           WHERE contact_id = $1""",
        contact.contact_id, d.name, d.function, d.email, d.phone, d.consent,
        contact.consent_recorded_at,
    )


async def erase_contact(conn: Conn, contact_id: UUID, at: datetime) -> None:
    # The personal columns are overwritten, not flagged: nothing here can bring them back.
    await conn.execute(
        """UPDATE contacts SET name = NULL, function = NULL, email = NULL, phone = NULL,
                  consent = false, consent_recorded_at = $2, erased_at = $2
           WHERE contact_id = $1""",
        contact_id, at,
    )


