"""Migrations on a database that already holds commitments: what 0005 backfills (real
PostgreSQL; the rows written as the service wrote them before 0005)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from uuid import uuid4

from funding.app import definition
from funding.settings import FundingSettings

from cites_runtime.migrations import migrate
from cites_runtime.testing import migrated_before

AT = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)


async def test_0005_keeps_on_each_commitment_what_it_paid_and_ordered_back(
        settings: FundingSettings) -> None:
    async with migrated_before(definition, settings, "0005") as conn:
        envelope, allocation, paid, untouched = uuid4(), uuid4(), uuid4(), uuid4()
        await conn.execute(
            """INSERT INTO envelopes VALUES ($1, 'E', 'P147', '{2025}', '{2024}', 1000000,
                                             '{}', 0, $2)""", envelope, AT)
        await conn.execute(
            """INSERT INTO cites VALUES ('cite-001', 'C', '2024', '69', '2025-01-01',
                                         '2027-12-31', 'active', NULL, 1000, '0690001A', $1)""",
            AT)
        await conn.execute(
            """INSERT INTO allocations VALUES ($1, 'cite-001', $2, 'P147', 2025, 100000,
                                               'manual', 'b', $3)""", allocation, envelope, AT)
        await conn.execute(
            """INSERT INTO commitments (commitment_id, cite_id, allocation_id,
                                        operator_partner_id, action_title, amount,
                                        committed_at)
               SELECT c, 'cite-001', $2, $3, 'Action', 90000, $4 FROM unnest($1::uuid[]) c""",
            [paid, untouched], allocation, uuid4(), AT)
        await conn.execute(
            """INSERT INTO payments VALUES ($1, $3, 30000, $4), ($2, $3, 40000, $4)""",
            uuid4(), uuid4(), paid, AT)
        await conn.execute(
            """INSERT INTO recoveries VALUES ($1, $2, 'cite-001', $3, 'P147', 20000, 'T-1',
                                              $4, 'unspent', $5)""",
            uuid4(), paid, uuid4(), date(2025, 6, 1), AT)

        await migrate(conn, settings.db_schema, definition.migrations())

        kept = {r["commitment_id"]: (r["paid"], r["ordered"]) for r in await conn.fetch(
            "SELECT commitment_id, paid, ordered FROM commitments")}
        assert kept == {paid: (70000, 20000), untouched: (0, 0)}
