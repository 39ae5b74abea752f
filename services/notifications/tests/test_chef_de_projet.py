"""The chef de projet opérationnel's post, as the troïka hears of it: a new holder from a
day, a vacancy since a day and why. Isolated: in-memory broker, real PostgreSQL."""

from __future__ import annotations

from datetime import date
from uuid import uuid4

from notifications_kit import labelled, troika_cards

from cites_contracts.events.partners import ChefDeProjetAppointed, ChefDeProjetPostVacated
from cites_contracts.testing import event
from cites_runtime.testing import ServiceUnderTest


async def test_the_troika_is_told_when_the_chef_de_projet_post_falls_vacant(
        service: ServiceUnderTest) -> None:
    cards, submitted = troika_cards(uuid4(), uuid4().hex[:12], departement="69",
                                    territory_name="Vaulx-en-Velin")
    label = labelled(submitted)
    holder = uuid4()
    await service.publish(*cards, submitted, label, event(
        ChefDeProjetAppointed, cite_id=label.cite_id, contact_id=str(holder),
        employer_partner_id=str(uuid4()), starts_on="2025-09-01", previous_contact_id=None,
        appointed_at="2025-08-28T10:00:00Z"), event(
        ChefDeProjetPostVacated, cite_id=label.cite_id, contact_id=str(holder),
        ends_on=date(2026, 6, 30).isoformat(), motive="Mutation sur un autre poste",
        vacated_at="2026-06-02T10:00:00Z"))

    rows = await service.runtime.pool.fetch(
        """SELECT template, recipient->>'troika_role' AS role, subject, body_text
           FROM notifications WHERE template LIKE 'chef-de-projet-%'
           ORDER BY template, role""")
    told = {(r["template"], r["role"]) for r in rows}
    assert told == {(t, role) for t in ("chef-de-projet-appointed",
                                        "chef-de-projet-post-vacated")
                    for role in ("maire", "prefet", "recteur")}
    vacated = next(r for r in rows if r["template"] == "chef-de-projet-post-vacated")
    assert vacated["subject"] == "Vaulx-en-Velin : poste de chef de projet opérationnel vacant"
    assert "jusqu’au 30 juin 2026" in vacated["body_text"]
    assert "Mutation sur un autre poste" in vacated["body_text"]
    assert str(holder) not in vacated["body_text"]
