"""The dashboard on the real broker: its consumer group applies the platform's events (runs
included) and catches up, and its health probe sees that, and the dead letter of an event
it cannot place counted until replayed; the open data, read without a token, publishes
what labelling, partners and funding told on their topics, never a test wave's cité."""

from __future__ import annotations

from uuid import uuid4

import pytest
from dashboard_kit import (
    Dashboard,
    alliance_opened,
    allocated,
    chef_designated,
    committed,
    failed,
    fonds,
    labelled,
    labelled_in,
    sent,
    suspended,
)

from cites_contracts.events.labelling import Wave
from cites_runtime.dlq import list_dead_letters
from cites_runtime.testing import eventually

pytestmark = pytest.mark.integration


async def test_on_kafka_the_probe_sees_the_group_caught_up_and_the_dead_letter_waiting(
    live: Dashboard,
) -> None:
    unknown = uuid4()
    await live.s.publish(labelled("cite-001"), labelled("cite-002"), labelled("cite-003"),
                         suspended("cite-001"), sent(), sent(), failed(),
                         committed("cite-001", unknown, 10_000_00))  # an unknown allocation
    await live.s.caught_up()

    async def probed() -> bool:
        health = (await live.summary())["health"]
        if health is None:
            return False
        lag = {c["group"]: c["lag"] for c in health["consumers"]}
        letters = {d["topic"]: d["depth"] for d in health["dead_letters"]}
        return lag.get("dashboard") == 0 and letters.get("dashboard.dlq") == 1

    await eventually(probed, timeout=60, what="the probe: dashboard caught up, one letter")
    summary = await live.summary()
    assert summary["cites"] == {"labelled": 2, "suspended": 1}  # runs applied on Kafka too
    assert (summary["notifications"]["sent"], summary["notifications"]["failed"]) == (2, 1)
    own = next(s for s in summary["health"]["services"] if s["name"] == "dashboard")
    assert (own["ready"], own["outbox_backlog"]) == (True, 0)
    # Groups that do not run here have read nothing of what is on their topics.
    lag = {c["group"]: c["lag"] for c in summary["health"]["consumers"]}
    assert lag["partners"] == 4  # the labels and the suspension
    letter, = await list_dead_letters(live.s.settings.kafka,
                                      live.s.settings.topic("dashboard.dlq"))
    assert (letter.event_type, letter.reason) == ("funding.FundsCommitted", "rejected")
    assert letter.error.endswith(f"cité cite-001's allocation {unknown} does not exist")


async def test_on_kafka_the_open_data_publishes_what_three_services_told_without_a_token(
    live: Dashboard,
) -> None:
    real = Wave(id="2019", year=2019, title="Vague 2019 (préfiguration)")
    trial = Wave(id="2026-recette", year=2026, title="Recette", test=True)
    label = labelled_in("cite-001", real, schools=[
        {"uai": "0690002B", "kind": "college", "name": "Collège Elsa Triolet",
         "education_priority": "rep"}])
    await live.s.publish(label, labelled_in("cite-002", trial), alliance_opened("cite-001"),
                         chef_designated("cite-001", "0690002B"),
                         allocated("cite-001", uuid4(), 250_000_00),
                         fonds("cite-001", 2025, 15_000_00, 15_000_00),
                         allocated("cite-002", uuid4(), 90_000_00))
    await live.s.caught_up()

    r = await live.open_data()

    assert r.status_code == 200, r.text
    [cite] = r.json()
    assert (cite["code_cite"], cite["vague"], cite["statut"]) == (
        "cite-001", "Vague 2019 (préfiguration)", "labellisée")
    assert cite["college_chef_de_file"] == {"uai": "0690002B", "nom": "Collège Elsa Triolet"}
    assert cite["annees"] == [{"annee": 2025, "dotation_p147": 250000.0, "dotation_p230": 0.0,
                               "fonds_de_la_cite": 30000.0}]
