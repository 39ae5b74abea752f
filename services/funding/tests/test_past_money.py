"""The money of the years before the platform, taken over per cité and year
(``POST /imports``, ``python -m funding import``): what a dotation committed and paid, on
the ledger and as events marked imported; once; all or nothing per cité; never over the
dotation, never for a year whose credits the platform keeps, never rewriting funding's
dotation. Isolated: in-memory broker, real PostgreSQL."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from funding.app import definition
from funding.imports import import_command
from funding.settings import FundingSettings
from funding_kit import LEAD_UAI, Funding, expired
from typer.testing import CliRunner, Result

from cites_contracts.testing import territory_labelled
from cites_contracts.types import LabelPeriod
from cites_runtime.app import run_migrations
from cites_runtime.cli import service_cli as build_cli
from cites_runtime.testing import AS_NATIONAL, AS_PREFECTURE_93, AS_VIEWER

REFERENCE = "CE-2019-093-01"
WAVE_2019 = "2019"


async def _a_2019_cite_taken_over(service: Funding, *, ended: bool = True) -> None:
    """The 2019 wave's envelope (2020–2022, the rule gives 300 000 € a year), P147's
    credits of 2022 kept by the platform, and a cité labelling imported: labelled on
    5 September 2019 for 2020–2022 with its programme reference, its label over since."""
    r = await service.http.post("/envelopes", json={
        "name": "Vague 2019 : programme 147", "programme": "P147", "wave_ids": [WAVE_2019],
        "budget_years": [2020, 2021, 2022], "amount": 100_000_000_00}, headers=AS_NATIONAL)
    assert r.status_code == 201, r.text
    r = await service.http.post("/credits", json={
        "programme": "P147", "year": 2022, "ae": 1_000_000_00, "cp": 1_000_000_00},
        headers=AS_NATIONAL)
    assert r.status_code == 200, r.text
    label = territory_labelled(
        "cite-001", departement="93", lead_uai=LEAD_UAI, wave=WAVE_2019, wave_year=2019,
        label_period=LabelPeriod(start=date(2020, 1, 1), end=date(2022, 12, 31)),
        labelled_at=datetime(2019, 9, 5, 10, tzinfo=UTC), requested_annual_contribution=300_000_00,
        reference=REFERENCE)
    await service.s.publish(label, *([expired()] if ended else []))


async def _import(service: Funding, *records: dict[str, Any], dry_run: bool = False,
                  headers: dict[str, str] = AS_NATIONAL) -> Any:
    return await service.http.post("/imports", params={"dry_run": str(dry_run).lower()},
                                   json={"cites": list(records)}, headers=headers)


def _past(*years: dict[str, Any]) -> dict[str, Any]:
    return {"reference": REFERENCE, "years": list(years)}


async def _lines(service: Funding) -> dict[int, dict[str, Any]]:
    statement = (await service.http.get("/cites/cite-001/statement", headers=AS_VIEWER)).json()
    return {x["year"]: x for x in statement["lines"] if x["programme"] == "P147"}


async def test_past_years_are_taken_over_once_on_the_ledger_and_as_imported_events(
        service: Funding) -> None:
    await _a_2019_cite_taken_over(service)
    record = _past({"year": 2020, "dotation": 300_000_00, "committed": 280_000_00,
                    "paid": 250_000_00},
                   {"year": 2021, "programme": "P147", "committed": 300_000_00,
                    "paid": 300_000_00})
    first = await _import(service, record)
    assert first.status_code == 200, first.text
    assert first.json()["lines"] == [{"line": 1, "reference": REFERENCE, "outcome": "imported",
                                      "cite_id": "cite-001", "years": 2, "problems": []}]
    events = await service.s.outbox("PastSpendingImported")
    assert all(e.imported for e in events)
    taken = [(e.data.year, e.data.committed, e.data.paid, e.data.from_frozen)
             for e in events]
    # The label ended: what was still uncommitted froze, so the past commits from there.
    assert taken == [(2020, 280_000_00, 250_000_00, 280_000_00),
                     (2021, 300_000_00, 300_000_00, 300_000_00)]
    lines = await _lines(service)
    assert (lines[2020]["committed"], lines[2020]["paid"]) == (280_000_00, 250_000_00)
    assert (lines[2021]["committed"], lines[2021]["paid"]) == (300_000_00, 300_000_00)
    # What stays frozen is what the past left uncommitted.
    assert (lines[2020]["frozen"], lines[2021]["frozen"], lines[2022]["frozen"]) == (
        20_000_00, 0, 300_000_00)
    await service.ledger_balanced()
    # The same record again: nothing changes, nothing is published.
    again = await _import(service, record)
    assert [x["outcome"] for x in again.json()["lines"]] == ["unchanged"]
    assert len(await service.s.outbox("PastSpendingImported")) == 2
    assert await _lines(service) == lines
    # A year taken over as the past is not a year whose credits the platform keeps.
    voted = await service.http.post("/credits", json={
        "programme": "P147", "year": 2021, "ae": 1_00, "cp": 1_00}, headers=AS_NATIONAL)
    assert voted.status_code == 409 and "taken over as the past" in voted.json()["detail"]


async def test_a_record_breaking_a_rule_is_refused_whole_naming_each_line(
        service: Funding) -> None:
    await _a_2019_cite_taken_over(service)
    await _import(service, _past({"year": 2020, "committed": 100_000_00, "paid": 0}))
    refused = await _import(service, _past(
        {"year": 2021, "committed": 10_000_00, "paid": 0},  # fine alone: not kept either
        {"year": 2020, "committed": 100_000_00, "paid": 1_00},  # says otherwise
        {"year": 2022, "committed": 10_000_00, "paid": 0},  # the platform keeps 2022
        {"year": 2023, "committed": 10_000_00, "paid": 0},  # no dotation
        {"year": 2020, "programme": "P230", "committed": 1_00, "paid": 0},  # no P230 one
    ), {"reference": "CE-UNKNOWN", "years": [{"year": 2020, "committed": 0, "paid": 0}]},
        {"reference": REFERENCE, "years": [{"year": 2021, "committed": 1, "paid": 2}]})
    lines = refused.json()["lines"]
    assert [x["outcome"] for x in lines] == ["refused"] * 3
    assert [(p["field"], p["rule"]) for p in lines[0]["problems"]] == [
        ("years.1", "differs"), ("years.2.year", "credits_kept"), ("years.3.year", "no_dotation"),
        ("years.4.year", "no_dotation")]
    assert lines[1]["problems"][0]["rule"] == "notfound"
    assert "import its history into labelling first" in lines[1]["problems"][0]["message"]
    assert lines[2]["problems"][0]["rule"] == "paid_over_committed"
    assert len(await service.s.outbox("PastSpendingImported")) == 1  # 2021 kept nothing
    over = await _import(service, _past({"year": 2021, "dotation": 250_000_00,
                                         "committed": 300_000_01, "paid": 0}))
    assert [(p["field"], p["rule"]) for p in over.json()["lines"][0]["problems"]] == [
        ("years.0.dotation", "dotation_differs")]
    over = await _import(service, _past({"year": 2021, "committed": 300_000_01, "paid": 0}))
    problem, = over.json()["lines"][0]["problems"]
    assert (problem["rule"], problem["message"]) == (
        "over_dotation", "300\u202f000,01 € committed, but the P147 2021 dotation has "
        "300\u202f000,00 € left to commit")
    await service.ledger_balanced()


async def test_an_active_cites_past_commits_from_its_allocation_and_a_dry_run_keeps_nothing(
        service: Funding) -> None:
    await _a_2019_cite_taken_over(service, ended=False)
    record = _past({"year": 2020, "committed": 200_000_00, "paid": 150_000_00})
    dry = await _import(service, record, dry_run=True)
    assert dry.json()["dry_run"] and dry.json()["imported"] == 1
    assert await service.s.outbox("PastSpendingImported") == []
    assert (await _lines(service))[2020]["committed"] == 0
    assert (await _import(service, record, headers=AS_PREFECTURE_93)).status_code == 403
    assert (await _import(service, record)).json()["imported"] == 1
    taken, = await service.s.outbox("PastSpendingImported")
    assert taken.data.from_frozen == 0
    cite = await service.cite()
    left = {a["year"]: a["uncommitted"] for a in cite["allocations"]}
    assert left[2020] == 100_000_00
    await service.ledger_balanced()


async def test_the_command_line_takes_a_csv_over_once(
        settings: FundingSettings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    await run_migrations(definition, settings)
    monkeypatch.setenv("FUNDING_DATABASE_URL", settings.dsn)
    monkeypatch.setenv("FUNDING_DB_SCHEMA", settings.db_schema)
    from cites_runtime.testing import in_memory

    async with in_memory(definition, settings) as running:
        await _a_2019_cite_taken_over(Funding(running))
    file = tmp_path / "past.csv"
    file.write_text("reference,year,programme,committed,paid\n"
                    f"{REFERENCE},2020,P147,280000_00,250000_00\n"
                    f"{REFERENCE},2021,,300000_00,300000_00\n".replace("_", ""),
                    encoding="utf-8")
    cli = build_cli(definition, FundingSettings, own={"import": import_command})
    runner = CliRunner()

    def invoke(*args: str) -> Result:  # in a thread: the command runs its own event loop
        return runner.invoke(cli, ["import", *args])

    first = await asyncio.to_thread(invoke, str(file), "--json")
    second = await asyncio.to_thread(invoke, str(file), "--json")
    assert (first.exit_code, second.exit_code) == (0, 0), first.output
    assert [(x["outcome"], x["years"]) for x in json.loads(first.output)["lines"]] == [
        ("imported", 2)]
    assert [x["outcome"] for x in json.loads(second.output)["lines"]] == ["unchanged"]
