"""Migrations on a projection that already holds cités (real PostgreSQL; the rows written
as the service wrote them before)."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

from dashboard.app import definition
from dashboard.settings import DashboardSettings

from cites_contracts.events.labelling import Perimeter
from cites_runtime.migrations import migrate
from cites_runtime.testing import migrated_before


async def test_0004_puts_the_perimeters_kept_so_far_on_the_2024_list(
        settings: DashboardSettings) -> None:
    async with migrated_before(definition, settings, "0004") as conn:
        perimeter = {"communes": [{"insee_code": "97801", "name": "Saint-Martin"}],
                     "qpvs": [{"code": "QN97801A", "name": "Quartier d'Orléans",
                               "population": 6100}],
                     "schools": [{"uai": "9780011K", "kind": "college", "name": "Collège",
                                  "education_priority": "rep_plus"}]}
        await conn.execute(
            """INSERT INTO cites (cite_id, name, wave_id, wave_year, departement, status,
                                  labelled_at, decided_on, perimeter)
               VALUES ('cite-001', 'Saint-Martin', '2024-generalisation', 2024, '978',
                       'labelled', $1, $2, $3), ('cite-002', 'Sans périmètre', '2019', 2019,
                       '69', 'labelled', $1, $2, NULL)""",
            datetime(2025, 1, 6, tzinfo=UTC), date(2025, 1, 6), json.dumps(perimeter))

        await migrate(conn, settings.db_schema, definition.migrations())

        rows = dict(await conn.fetch("SELECT cite_id, perimeter FROM cites"))
        assert rows["cite-002"] is None
        kept = Perimeter.model_validate_json(rows["cite-001"])
        assert kept.qpv_list.value == "2024" and kept.qpvs[0].code == "QN97801A"
