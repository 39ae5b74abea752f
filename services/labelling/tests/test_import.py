"""Taking over the programme's past (docs/import.md): a real-shaped history — 2019 cités on
the 2015 QPV list, a Réunion cité, a 2022 cité renewed on 21 March 2025 — imported over
HTTP and from the command line, as the live path's events dated in business time and
marked imported; twice changes nothing; a dry run keeps nothing; a refused line keeps
nothing of its cité and says why; CSV reads as JSON does."""

from __future__ import annotations

import asyncio
import copy
import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from labelling import imports
from labelling.app import definition
from labelling.examples import programme_history
from labelling.imports import import_command
from labelling.settings import LabellingSettings
from labelling_kit import Labelling
from typer.testing import CliRunner, Result

from cites_runtime.cli import service_cli as build_cli
from cites_runtime.testing import AS_NATIONAL, AS_PREFECTURE_93, AS_VIEWER, FakeClock

TODAY = date(2026, 12, 7)


@pytest.fixture(autouse=True)
def _today(clock: FakeClock) -> None:
    clock.set_date(TODAY)


async def _import(service: Labelling, records: list[dict[str, Any]], *, dry_run: bool = False
                  ) -> dict[str, Any]:
    r = await service.http.post("/imports", json={"cites": records}, headers=AS_NATIONAL,
                                params={"dry_run": str(dry_run).lower()})
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


async def _cites(service: Labelling) -> dict[str, dict[str, Any]]:
    r = await service.http.get("/cites", headers=AS_VIEWER, params={"limit": 100})
    return {c["name"]: c for c in r.json()["items"]}


async def test_a_history_is_imported_as_the_live_path_would_have_recorded_it(
        service: Labelling) -> None:
    report = await _import(service, programme_history())

    assert [(x["reference"], x["outcome"], x["status"]) for x in report["lines"]] == [
        ("CE-2019-093-01", "imported", "labelled"),
        ("CE-2019-013-01", "imported", "expired"),   # 2020–2022, never renewed
        ("CE-2021-974-01", "imported", "labelled"),
        ("CE-2022-069-01", "imported", "labelled")]
    cites = await _cites(service)
    clichy = cites["Clichy-sous-Bois"]
    assert clichy["periods"] == [
        {"start": "2020-01-01", "end": "2022-12-31", "convention_signed_on": "2020-02-10",
         "signatories": [], "amendments": []},
        {"start": "2023-01-01", "end": "2025-12-31", "convention_signed_on": "2023-04-03",
         "signatories": [], "amendments": []},
        {"start": "2026-01-01", "end": "2028-12-31", "convention_signed_on": None,
         "signatories": [], "amendments": []}]
    assert clichy["perimeter"]["qpv_list"] == "2015"
    vaulx = cites["Vaulx-en-Velin"]
    assert vaulx["label_period"] == {"start": "2025-01-01", "end": "2027-12-31"}
    # Renewed in 2025 on the 2024 QPV list: its perimeter moved with the renewal.
    assert (vaulx["perimeter"]["qpv_list"], vaulx["perimeter"]["qpvs"][0]["code"]) == (
        "2024", "QN06933A")
    assert cites["Saint-Denis (La Réunion)"]["departement"] == "974"
    # The live path's events, each dated in business time, every one marked imported.
    events = await service.running.outbox()
    assert all(e.imported for e in events)
    marseille = [e for e in events if e.aggregate_id == cites["Marseille Nord"]["cite_id"]]
    assert [e.type.split(".")[1] for e in marseille] == ["TerritoryLabelled", "LabelExpired"]
    labelled = marseille[0].data
    assert (str(labelled.decided_on), str(labelled.convention_signed_on)) == (
        "2019-09-05", "2020-03-02")
    # The programme's reference travels with the label: funding imports past money by it.
    assert labelled.reference == next(
        r["reference"] for r in programme_history() if r["dossier"]["territory_name"]
        == "Marseille Nord")
    submitted = [e.data for e in events if e.type == "labelling.CandidatureSubmitted"]
    assert sorted(str(s.filed_on) for s in submitted) == [
        "2019-06-20", "2019-06-28", "2020-11-20", "2021-09-28"]
    assert len([e for e in events if e.type == "labelling.TroikaContactPublished"]) == 12
    renewed = [e.data for e in events if e.type == "labelling.LabelRenewed"]
    assert sorted(str(r.decided_on) for r in renewed) == [
        "2023-01-16", "2024-01-22", "2025-03-21", "2026-02-02"]


async def test_a_second_import_changes_nothing(service: Labelling) -> None:
    await _import(service, programme_history())
    before = (await _cites(service), len(await service.running.outbox()))

    report = await _import(service, programme_history())

    assert [x["outcome"] for x in report["lines"]] == ["unchanged"] * 4
    assert (await _cites(service), len(await service.running.outbox())) == before


async def test_a_dry_run_reports_and_keeps_nothing(service: Labelling) -> None:
    history = programme_history()
    history[1]["dossier"]["qpvs"][0]["code"] = "QN01301A"  # 2024 list, in a 2019 wave

    report = await _import(service, history, dry_run=True)

    assert report["dry_run"] is True
    assert (report["imported"], report["refused"]) == (3, 1)
    [refused] = [x for x in report["lines"] if x["outcome"] == "refused"]
    assert refused["line"] == 2
    assert refused["problems"][0]["rule"] == "qpvs_of_the_wave_list"
    assert await _cites(service) == {}
    assert await service.running.outbox() == []


async def test_a_refused_line_keeps_nothing_of_its_cite_and_the_others_go_in(
        service: Labelling) -> None:
    history = programme_history()
    history[0]["convention_signed_on"] = "2019-08-01"  # before the decision of 5 September
    history[2]["dossier"]["qpvs"][0]["code"] = "QPX"  # not a QPV code at all
    history[3]["renewals"][0]["decided_on"] = "2027-01-01"  # in the future

    report = await _import(service, history)

    why = {x["reference"]: [(p["field"], p["rule"]) for p in x["problems"]]
           for x in report["lines"]}
    assert why == {
        "CE-2019-093-01": [("convention_signed_on", "convention_in_order")],
        "CE-2019-013-01": [],
        "CE-2021-974-01": [("dossier.qpvs.0.code", "qpv_code")],
        "CE-2022-069-01": [("decided_on", "decision_not_future")]}
    assert list(await _cites(service)) == ["Marseille Nord"]
    r = await service.http.get("/candidatures", headers=AS_VIEWER)
    assert [c["territory_name"] for c in r.json()["items"]] == ["Marseille Nord"]


async def test_a_decision_added_to_a_pending_reapplication_is_applied_and_the_past_is_not_rewritten(
        service: Labelling) -> None:
    history = programme_history()
    pending = copy.deepcopy(history[3])
    pending["renewals"] = [{"filed_on": "2024-11-15"}]  # re-applied, not decided yet
    await _import(service, [pending])
    vaulx = (await _cites(service))["Vaulx-en-Velin"]
    assert (vaulx["status"], vaulx["label_period"]["end"]) == ("labelled", "2024-12-31")

    report = await _import(service, [history[3]])  # decided on 21 March 2025
    assert report["lines"][0]["outcome"] == "completed"
    vaulx = (await _cites(service))["Vaulx-en-Velin"]
    assert vaulx["label_period"] == {"start": "2025-01-01", "end": "2027-12-31"}
    assert [e.type for e in await service.running.outbox()].count(
        "labelling.RenewalApplied") == 1

    rewritten = copy.deepcopy(history[3])
    rewritten["decided_on"] = "2022-01-21"
    report = await _import(service, [rewritten])
    [line] = report["lines"]
    assert line["outcome"] == "refused"
    assert "does not rewrite it" in line["problems"][0]["message"]
    assert "decided_on" in line["problems"][0]["message"]


async def test_only_the_national_coordination_imports(service: Labelling) -> None:
    for headers, status in ((AS_VIEWER, 403), (AS_PREFECTURE_93, 403), ({}, 401)):
        r = await service.http.post("/imports", json={"cites": programme_history()},
                                    headers=headers)
        assert r.status_code == status
    assert await _cites(service) == {}


def cells_of(perimeter: dict[str, Any]) -> dict[str, str]:
    """A perimeter's lists as CSV cells: items by ``|``, their parts by ``:``."""
    p = perimeter
    return {
        "communes": "|".join(f"{x['insee_code']}:{x['name']}" for x in p["communes"]),
        "qpvs": "|".join(f"{x['code']}:{x['population']}:{x['name']}" for x in p["qpvs"]),
        "schools": "|".join(f"{x['uai']}:{x['kind']}:{x['education_priority']}:{x['name']}"
                            for x in p["schools"])}


def test_a_csv_file_reads_as_the_json_records() -> None:
    history = programme_history()
    rows = [",".join(imports.CSV_COLUMNS)]
    for c in history:
        d = c["dossier"]
        cells = {
            "reference": c["reference"], "wave_id": c["wave_id"],
            "departement": c["departement"], "territory_name": d["territory_name"],
            **cells_of(d),
            "lead_college_uai": d["lead_college_uai"],
            "troika": "|".join(f"{x['role']}:{x['email']}" for x in d["troika"]),
            "filed_on": c["filed_on"], "decided_on": c["decided_on"],
            "convention_signed_on": c["convention_signed_on"] or "",
        }
        for n, r in enumerate(c["renewals"] or [{}]):
            row = dict(cells) if n == 0 else {"reference": c["reference"]}
            row |= {f"renewal_{k}": v or "" for k, v in r.items() if k != "perimeter"}
            if p := r.get("perimeter"):
                row |= {"renewal_qpv_list": p["qpv_list"], **{
                    f"renewal_{k}": v for k, v in cells_of(p).items()}}
            rows.append(",".join(f'"{row.get(col, "")}"' for col in imports.CSV_COLUMNS))

    lines = imports.read_csv("\n".join(rows) + "\n")

    assert [x.problems for x in lines] == [()] * 4
    assert [x.record for x in lines] == [x.record for x in imports.read_json(
        json.dumps({"cites": history}))]


def test_a_csv_line_repeating_a_cite_with_other_facts_is_refused_alone() -> None:
    text = ("reference,wave_id,decided_on,renewal_decided_on\n"
            "CE-1,2019,2019-09-05,\n"
            "CE-1,2021,,2023-01-16\n")
    [first, second] = imports.read_csv(text)
    assert first.record is None  # a record without its dossier and dates
    assert (second.number, second.problems[0].rule) == (3, "renewal_line")
    with pytest.raises(ValueError, match="lacks decided_on"):
        imports.read_csv("reference,wave_id\nCE-1,2019\n")


async def test_the_command_line_imports_a_file_twice_and_changes_nothing_the_second_time(
        migrated: LabellingSettings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LABELLING_DATABASE_URL", migrated.dsn)
    monkeypatch.setenv("LABELLING_DB_SCHEMA", migrated.db_schema)
    file = tmp_path / "history.json"
    file.write_text(json.dumps({"cites": programme_history()}), encoding="utf-8")
    cli = build_cli(definition, LabellingSettings, own={"import": import_command})
    runner = CliRunner()

    def invoke(*args: str) -> Result:  # in a thread: the command runs its own event loop
        return runner.invoke(cli, ["import", *args])

    dry = await asyncio.to_thread(invoke, str(file), "--dry-run", "--json")
    first = await asyncio.to_thread(invoke, str(file), "--json")
    second = await asyncio.to_thread(invoke, str(file), "--json")

    assert (dry.exit_code, first.exit_code, second.exit_code) == (0, 0, 0), first.output
    outcomes = [[x["outcome"] for x in json.loads(r.output)["lines"]]
                for r in (dry, first, second)]
    assert outcomes == [["imported"] * 4, ["imported"] * 4, ["unchanged"] * 4]
    bad = tmp_path / "bad.json"
    bad.write_text('{"cites": [{"reference": "CE-X"}]}', encoding="utf-8")
    refused = await asyncio.to_thread(invoke, str(bad))
    assert refused.exit_code == 1
    assert "refused" in refused.output and "CE-X" in refused.output
