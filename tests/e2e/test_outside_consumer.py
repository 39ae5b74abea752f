"""The reference outside consumer (examples/outside_consumer), written from the AsyncAPI
document and JSON Schemas alone, reads every topic after an end-to-end flow through the
four services and finds every record as the contracts describe it — funding's money and
notifications' deliveries included."""

from __future__ import annotations

import ast
import asyncio
import os
import secrets
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from e2e_platform import NATIONAL, WAVE, Platform

from cites_contracts.access import principal, reader_grants
from cites_runtime.kafka_admin import apply_grants, remove_principals, set_passwords, until_usable
from cites_runtime.testing import eventually

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "outside_consumer" / "consume.py"


def test_the_example_imports_nothing_of_the_platform() -> None:
    tree = ast.parse(EXAMPLE.read_text(encoding="utf-8"))
    imported = {alias.name.split(".")[0] for node in ast.walk(tree)
                if isinstance(node, ast.Import) for alias in node.names}
    imported |= {(node.module or "").split(".")[0] for node in ast.walk(tree)
                 if isinstance(node, ast.ImportFrom)}
    assert not imported & {"cites_contracts", "cites_runtime", "labelling", "partners",
                           "funding", "notifications"}


async def test_every_record_of_an_end_to_end_flow_is_as_the_contracts_describe(
    whole_platform: Platform,
) -> None:
    platform = whole_platform
    year = datetime.now(ZoneInfo("Europe/Paris")).year
    for programme in ("P147", "P230"):
        opened = await platform.funds.post("/envelopes", headers=NATIONAL, json={
            "name": f"{WAVE} {year} {programme}", "programme": programme,
            "budget_years": [year], "wave_ids": [WAVE], "amount": 10_000_000_00})
        assert opened.status_code == 201, opened.text
    cites = [await platform.label(uai, territory=f"Territoire {n}")
             for n, uai in enumerate(["0691234A", "0692345B", "0693456C"])]
    for cite in cites:
        await platform.wait_alliance(cite)
    await platform.cite_command(cites[0], "suspension", {"motive": "Gouvernance à revoir"})
    await platform.cite_command(cites[0], "reinstatement", {"motive": "Gouvernance revue"})
    registered = await platform.par.post("/partners", headers=NATIONAL, json={
        "kind": "association", "name": "Passerelles Éducatives", "departement": "69",
        "siret": "84213756400014"})
    assert registered.status_code == 201, registered.text

    async def mailed() -> bool:  # each cité's troïka told of its label, by real SMTP
        for cite in cites:
            sent = await platform.delivery_log(cite_id=cite, status="sent")
            if sum(n["template"] == "cite-labelled" for n in sent) < 3:
                return False
        funded = [await platform.funded_cite(cite) for cite in cites]
        return all(f is not None and f["allocations"] for f in funded)

    await eventually(mailed, timeout=120, what="the labels funded and mailed")
    # As an outside team: a read-only principal of its own, made as the operators make one
    # (`python -m cites_runtime.kafka_admin reader`), its password in KAFKA_PASSWORD.
    team, password = principal("outside", platform.topic_prefix), secrets.token_urlsafe(18)
    wanted = reader_grants(team, prefix=platform.topic_prefix)
    await asyncio.to_thread(set_passwords, platform.kafka, {team: password})
    try:
        await asyncio.to_thread(apply_grants, platform.kafka, wanted, [team])
        await until_usable(platform.kafka, {team: password})
        done = await asyncio.to_thread(subprocess.run, [
            sys.executable, str(EXAMPLE), "--bootstrap", platform.kafka.bootstrap,
            "--username", team,
            "--asyncapi", str(REPO / "shared" / "contracts" / "asyncapi.yaml"),
            "--prefix", platform.topic_prefix, "--idle", "3", "--timeout", "120",
        ], capture_output=True, text=True, timeout=180,
            env={**os.environ, "KAFKA_PASSWORD": password})
    finally:
        await asyncio.to_thread(remove_principals, platform.kafka, [team])

    assert done.returncode == 0, done.stdout + done.stderr
    counts = {line.split()[1]: int(line.split()[0]) for line in done.stdout.splitlines()
              if line.strip() and line.split()[0].isdigit() and len(line.split()) == 2}
    assert counts["labelling.TerritoryLabelled"] == 3
    assert counts["labelling.CandidatureSubmitted"] == 3
    assert counts["labelling.LabelSuspended"] == counts["labelling.LabelReinstated"] == 1
    assert counts["partners.AllianceOpened"] == 3
    assert counts["partners.PartnerRegistered"] >= 4  # 3 lead collèges + the association
    assert counts["funding.EnvelopeOpened"] == 2
    assert counts["funding.FundsAllocated"] >= 3
    assert counts["notifications.NotificationSent"] >= 9
    assert ", 0 not as described" in done.stdout
