"""Migration 0003 (one open alliance per chef de file) on a database written before it,
where a collège could already lead two open alliances: it applies, and reports them."""

from __future__ import annotations

import asyncpg
from partners import service as use_cases
from partners.app import definition
from partners.settings import PartnersSettings
from partners_kit import labelled, withdrawn

from cites_runtime.migrations import migrate
from cites_runtime.testing import AS_NATIONAL, in_memory

COLLEGE = "00000000-0000-4000-8000-00000000c011"


async def test_alliances_sharing_a_chef_de_file_before_0003_do_not_stop_it_and_are_listed(
    settings: PartnersSettings,
) -> None:
    before = [m for m in definition.migrations()
              if m.source != definition.name or m.name < "0003"]
    conn = await asyncpg.connect(settings.dsn)
    try:
        await migrate(conn, settings.db_schema, before)
        await conn.execute(
            """INSERT INTO partners (partner_id, kind, name, uai, registered_at, updated_at)
               VALUES ($1, 'college', 'Collège Jean Renoir', '0930001A', now(), now())""",
            COLLEGE)
        for cite, opened in (("cite-002", "2025-01-02"), ("cite-001", "2025-01-03"),
                             ("cite-003", "2025-01-01")):  # cite-003 will be closed
            await conn.execute(
                """INSERT INTO alliances (cite_id, name, departement, wave_id, candidature_id,
                                          label_start, label_end, schools, opened_at)
                   VALUES ($1, 'Cité', '93', '2024-rolling', gen_random_uuid(), '2025-01-01',
                           '2027-12-31', '[]', $2::text::timestamptz)""", cite, opened)
            await conn.execute(
                """INSERT INTO memberships (cite_id, partner_id, roles, joined_at)
                   VALUES ($1, $2, ARRAY['chef_de_file'], now())""", cite, COLLEGE)
        await conn.execute("UPDATE alliances SET status = 'closed', closed_at = now(), "
                           "closure_reason = 'label_expired' WHERE cite_id = 'cite-003'")

        applied = await migrate(conn, settings.db_schema, definition.migrations())
        listed = await conn.fetch("SELECT uai, cites FROM colleges_leading_several_alliances")
        kept = dict(await conn.fetch(
            "SELECT cite_id, chef_de_file_partner_id::text FROM alliances"))
    finally:
        await conn.close()

    assert "partners/0003_one_alliance_per_chef_de_file.sql" in applied
    assert [(r["uai"], r["cites"]) for r in listed] == [("0930001A", ["cite-002", "cite-001"])]
    # The oldest open alliance and the closed one keep their chef de file for the index.
    assert kept == {"cite-002": COLLEGE, "cite-001": None, "cite-003": COLLEGE}

    # The service then refuses the collège as chef de file of yet another alliance.
    async with in_memory(definition, settings) as service:
        async with service.runtime.unit_of_work() as uow:
            assert await use_cases.open_alliance(uow, labelled("cite-004", lead_uai="0930004D"))
            await use_cases.follow_labels(uow, [withdrawn("cite-003")])
        await service.http.post("/alliances/cite-004/members", headers=AS_NATIONAL,
                                json={"partner_id": COLLEGE, "roles": ["funder"]})
        refused = await service.http.put("/alliances/cite-004/chef-de-file",
                                         json={"partner_id": COLLEGE}, headers=AS_NATIONAL)
    assert refused.status_code == 409
    assert "already chef de file of alliance cite-00" in refused.json()["detail"]
