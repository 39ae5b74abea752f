"""A label partners cannot apply goes to its dead letters with the reason, the labels after
it are applied, and once an operator fixes the cause a replay applies it exactly once."""

from __future__ import annotations

import json
from typing import Any

import pytest
from e2e_platform import NATIONAL, Platform

from cites_runtime.testing import read_topic

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

LYCEE_UAI = "0690042L"


async def test_a_label_naming_a_registered_lycee_as_lead_college_waits_in_the_dlq_until_fixed(
    platform: Platform,
) -> None:
    # The registry knows this UAI as a lycée: an operator's earlier mistake, say.
    registered = await platform.par.post("/partners", headers=NATIONAL, json={
        "kind": "lycee", "name": "Cité scolaire Aimé Césaire", "uai": LYCEE_UAI})
    partner_id = registered.json()["partner_id"]
    poisoned = await platform.label(LYCEE_UAI, lead_name="Collège Aimé Césaire")
    following = await platform.label("0691234A")

    after = await platform.wait_alliance(following)
    letters = await read_topic(platform.kafka, platform.topic("partners.dlq"),
                               until=lambda r: len(r) >= 1)
    headers = {k: v.decode() for k, v in letters[0].headers}
    listed = platform.partners.cli("dlq", "list")
    not_yet = platform.partners.cli("dlq", "replay")
    missing = await platform.alliance(poisoned)

    fixed = await platform.par.patch(f"/partners/{partner_id}", headers=NATIONAL,
                                     json={"kind": "college"})
    replayed = platform.partners.cli("dlq", "replay")
    replayed_again = platform.partners.cli("dlq", "replay")
    alliance = await platform.wait_alliance(poisoned, timeout=10)
    alliance_events = await read_topic(platform.kafka, platform.topic("partners.alliances"),
                                       until=lambda r: len(_opened(r)) >= 2, timeout=60)
    opened = _opened(alliance_events)

    assert registered.status_code == 201
    assert after["status"] == "open"  # the label after the poison was applied
    assert len(letters) == 1
    assert (headers["dlq.reason"], headers["type"]) == ("rejected",
                                                         "labelling.TerritoryLabelled")
    assert f"{poisoned}: the lead collège's UAI {LYCEE_UAI} is registered as lycée" in (
        headers["dlq.error"])
    assert headers["dlq.original_topic"] == platform.topic("labelling.labels")
    assert listed.returncode == 0 and "1 dead letter(s)" in listed.stdout
    assert not_yet.returncode == 1 and "still failing" in not_yet.stdout
    assert missing is None
    assert fixed.status_code == 200
    assert replayed.returncode == 0, replayed.stdout + replayed.stderr
    assert "applied 1, already applied 0" in replayed.stdout
    assert "applied 0, already applied 0" in replayed_again.stdout
    assert alliance["chef_de_file"]["partner_id"] == partner_id
    assert sorted(opened) == sorted([poisoned, following])


def _opened(records: list[Any]) -> list[str]:
    return [json.loads(r.value)["data"]["cite_id"] for r in records
            if dict(r.headers)["type"] == b"partners.AllianceOpened"]
