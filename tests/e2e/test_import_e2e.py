"""Taking over the programme's past, end to end: a real-shaped history (two 2019 cités on
the 2015 QPV list, one of them renewed in 2023 and 2026, a Réunion cité of 2021 renewed in
2024, a 2022 cité renewed on 21 March 2025) imported with labelling's command line, then
again through the national coordination's API, which changes nothing. Every service, the
dashboard and its open data then agree on the real years: labelling's label periods,
partners' alliances, funding's dotations per budget year, the dashboard's cités per
decision year and its open data (a perimeter moved to the 2024 QPV list at its 2025
renewal) — and nobody was mailed about the past. Then the cités' money of the years before
the platform (to 2024) is taken over with funding's command line, twice: funding's
statements and the dashboard's years show what each dotation committed and paid."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from e2e_platform import NATIONAL, VIEWER, Platform, SmtpSink
from labelling.examples import programme_history

from cites_runtime.testing import eventually, read_pages

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

YEARS = list(range(2020, 2029))  # the budget years the history's labels touch


async def _open_envelopes(platform: Platform) -> None:
    for wave in ("2019", "2021", "2022"):
        for programme in ("P147", "P230"):
            r = await platform.funds.post("/envelopes", headers=NATIONAL, json={
                "name": f"{wave} {programme} 2020–2028", "programme": programme,
                "budget_years": YEARS, "wave_ids": [wave], "amount": 10_000_000_000})
            assert r.status_code == 201, r.text


async def _cites(platform: Platform) -> dict[str, dict[str, Any]]:
    pages = await read_pages(platform.lab, "/cites", headers=VIEWER, limit=100)
    return {c["name"]: c for page in pages for c in page}


async def _funded_years(platform: Platform, cite_id: str) -> list[int]:
    r = await platform.funds.get(f"/cites/{cite_id}/statement", headers=VIEWER)
    assert r.status_code == 200, r.text
    return sorted({line["year"] for line in r.json()["lines"] if line["allocated"]})


PAST = range(2020, 2025)
"""The budget years before the platform: their money is taken over."""


def _past_money(expected_years: dict[str, list[int]]) -> list[dict[str, Any]]:
    """Each cité's money of its years before 2025: 100 000 € committed, 90 000 € paid."""
    references = {r["dossier"]["territory_name"]: r["reference"]
                  for r in programme_history()}
    return [{"reference": references[name], "years": [
        {"year": y, "committed": 100_000_00, "paid": 90_000_00} for y in years if y in PAST]}
        for name, years in expected_years.items()]


async def _past_money_taken_over(platform: Platform, cites: dict[str, dict[str, Any]],
                                 expected_years: dict[str, list[int]], tmp_path: Path) -> None:
    assert platform.funding is not None and platform.dash is not None
    file = tmp_path / "past-money.json"
    records = _past_money(expected_years)
    file.write_text(json.dumps({"cites": records}), encoding="utf-8")
    for outcome in ("imported", "unchanged"):
        done = platform.funding.cli("import", str(file), "--json")
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        assert [x["outcome"] for x in json.loads(done.stdout)["lines"]] == [outcome] * 4
    taken = sum(len(r["years"]) for r in records)  # 5 + 3 + 4 + 3 years
    for name, cite in cites.items():
        r = await platform.funds.get(f"/cites/{cite['cite_id']}/statement", headers=VIEWER)
        lines = {x["year"]: x for x in r.json()["lines"] if x["programme"] == "P147"}
        assert {y: (lines[y]["committed"], lines[y]["paid"]) for y in lines if y in PAST} == {
            y: (100_000_00, 90_000_00) for y in expected_years[name] if y in PAST}, name
    years: dict[int, Any] = {}

    async def dashboard_agrees() -> bool:
        summary = (await platform.dash.get("/api/summary", headers=VIEWER)).json()
        years.update({y["year"]: (y["committed"], y["paid"]) for y in summary["years"]
                      if y["year"] in PAST})
        return sum(c for c, _ in years.values()) == taken * 100_000_00 and sum(
            p for _, p in years.values()) == taken * 90_000_00

    await eventually(dashboard_agrees, timeout=120,
                     what=lambda: f"the dashboard's past years: {years}")


async def test_a_history_imported_twice_is_known_alike_by_every_service_in_real_years(
    platform_with_dashboard: Platform, smtp_sink: SmtpSink, tmp_path: Path,
) -> None:
    platform = platform_with_dashboard
    assert platform.dash is not None and platform.funding is not None
    await _open_envelopes(platform)
    file = tmp_path / "history.json"
    file.write_text(json.dumps({"cites": programme_history()}), encoding="utf-8")

    done = platform.labelling.cli("import", str(file), "--json")
    assert done.returncode == 0, done.stderr[-3000:]
    assert [x["outcome"] for x in json.loads(done.stdout)["lines"]] == ["imported"] * 4
    cites = await _cites(platform)
    assert {n: c["status"] for n, c in cites.items()} == {
        "Clichy-sous-Bois": "labelled", "Marseille Nord": "expired",
        "Saint-Denis (La Réunion)": "labelled", "Vaulx-en-Velin": "labelled"}

    # Funding funds each budget year of each label period, up to this one — and only those.
    expected_years = {
        "Clichy-sous-Bois": list(range(2020, 2027)),   # 2020–2022, 2023–2025, 2026–2028
        "Marseille Nord": [2020, 2021, 2022],           # 2020–2022, then expired
        "Saint-Denis (La Réunion)": list(range(2021, 2027)),  # 2021–2023, 2024–2026
        "Vaulx-en-Velin": list(range(2022, 2027)),      # 2022–2024, 2025–2027
    }
    funded: dict[str, list[int]] = {}

    async def funding_agrees() -> bool:
        for name, cite in cites.items():
            funded[name] = await _funded_years(platform, cite["cite_id"])
        return funded == expected_years

    await eventually(funding_agrees, timeout=120, what=lambda: f"funding's years: {funded}")

    # The dashboard, fed by the events: cités by their decision's year, by status, by
    # département, and the money of each budget year as funding's report says it.
    summary: dict[str, Any] = {}
    report = (await platform.funds.get("/reports/consumption", headers=VIEWER)).json()
    allocated = {}
    for line in report["programmes"]:
        allocated[line["year"]] = allocated.get(line["year"], 0) + line["allocated"]

    async def dashboard_agrees() -> bool:
        summary.update((await platform.dash.get("/api/summary", headers=VIEWER)).json())
        years = {y["year"]: y for y in summary["years"]}
        return (summary["cites"] == {"labelled": 3, "expired": 1}
                and {y: v["cites_labelled"] for y, v in years.items() if v["cites_labelled"]}
                == {2019: 2, 2021: 1, 2022: 1}
                and {y: v["allocated"] for y, v in years.items() if v["allocated"]} == allocated)

    await eventually(dashboard_agrees, timeout=120,
                     what=lambda: f"the dashboard's years: {summary.get('years')}")
    opendata = (await platform.dash.get("/opendata/cites.json")).json()
    reunion = next(c for c in opendata if c["departement"] == "974")
    assert sorted(y["annee"] for y in reunion["annees"]) == expected_years[
        "Saint-Denis (La Réunion)"]
    # Vaulx-en-Velin's renewal of 2025 moved its perimeter to the 2024 QPV list.
    vaulx = next(c for c in opendata if c["nom_cite"] == "Vaulx-en-Velin")
    assert [q["code"] for q in vaulx["qpv"]] == ["QN06933A"]

    # Partners opened every alliance, and closed the one whose label expired.
    alliances = {name: (await platform.alliance(c["cite_id"]) or {}).get("status")
                 for name, c in cites.items()}
    assert alliances == {"Clichy-sous-Bois": "open", "Marseille Nord": "closed",
                         "Saint-Denis (La Réunion)": "open", "Vaulx-en-Velin": "open"}

    await _past_money_taken_over(platform, cites, expected_years, tmp_path)

    # The same history again, through the API: nothing changes anywhere.
    summary.update((await platform.dash.get("/api/summary", headers=VIEWER)).json())
    before = (cites, funded.copy(), summary["years"])
    again = await platform.lab.post("/imports", headers=NATIONAL,
                                    json={"cites": programme_history()})
    assert again.status_code == 200, again.text
    assert [x["outcome"] for x in again.json()["lines"]] == ["unchanged"] * 4
    await funding_agrees()
    summary.update((await platform.dash.get("/api/summary", headers=VIEWER)).json())
    assert (await _cites(platform), funded, summary["years"]) == before

    # The past is not news: once every consumer caught up, the sink holds no mail.
    async def caught_up() -> bool:
        health = (await platform.dash.get("/api/summary", headers=VIEWER)).json()["health"]
        return health is not None and all(c["lag"] == 0 for c in health["consumers"])

    await eventually(caught_up, timeout=60, what="every consumer caught up")
    assert smtp_sink.count() == 0
