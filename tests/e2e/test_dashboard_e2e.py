"""The programme dashboard, end to end and in a real browser: the four services and the
dashboard run as processes on the real Kafka and PostgreSQL; envelopes are opened, four
cités labelled, one commitment made and partly paid, one cité suspended and one withdrawn,
all through the services' APIs. Once the dashboard's summary says what labelling's and
funding's own APIs say, Debian's Chromium (headless, driven by Playwright) loads the page:
its tiles, tables and charts show those figures, in French, and the platform's health
shows every consumer caught up and no dead letter. A screenshot is kept
(``.local/artifacts/dashboard.png``)."""

from __future__ import annotations

import shutil
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from e2e_platform import NATIONAL, PREFECTURE_69, VIEWER, WAVE, Platform
from playwright.async_api import Page, async_playwright

from cites_runtime.testing import eventually, read_pages

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

REPO = Path(__file__).resolve().parents[2]
ARTIFACT = REPO / ".local" / "artifacts" / "dashboard.png"
STATUSES = ("labelled", "suspended", "withdrawn", "expired")
MEASURES = ("allocated", "fonds", "committed", "paid", "frozen", "released")
YEAR = datetime.now(ZoneInfo("Europe/Paris")).year


def chromium() -> str:
    found = shutil.which("chromium")
    assert found, "Debian's Chromium is missing: `make chromium` installs it (make test does)"
    return found


def euros(cents: int) -> str:
    """As the page writes an amount (Intl.NumberFormat fr-FR, whole euros), spaces made
    plain: "1 234 567 €"."""
    return f"{round(cents / 100):,} €".replace(",", " ")


def plain(text: str) -> str:
    return text.replace("\u202f", " ").replace("\u00a0", " ").strip()


async def services_say(platform: Platform) -> tuple[dict[str, int], dict[tuple[str, int],
                                                                         dict[str, int]]]:
    """Cités per status from labelling's API, money per programme and year from funding's
    consumption report."""
    cites = {}
    for status in STATUSES:
        pages = await read_pages(platform.lab, "/cites", headers=VIEWER, limit=200,
                                 status=status)
        if n := sum(len(p) for p in pages):
            cites[status] = n
    report = (await platform.funds.get("/reports/consumption", headers=VIEWER)).json()
    money = {(line["programme"], line["year"]): {k: line[k] for k in MEASURES}
             for line in report["programmes"]}
    return cites, money


def dashboard_says(summary: dict[str, Any]) -> tuple[dict[str, int],
                                                     dict[tuple[str, int], dict[str, int]]]:
    return summary["cites"], {(m["programme"], m["year"]): {k: m[k] for k in MEASURES}
                              for m in summary["money"]}


async def test_the_dashboard_page_shows_in_chromium_what_the_services_apis_say(
    platform_with_dashboard: Platform, tmp_path: Path,
) -> None:
    platform = platform_with_dashboard
    assert platform.dashboard is not None and platform.dash is not None
    for programme, amount in (("P147", 40_000_000_00), ("P230", 1_000_000_00)):
        opened = await platform.funds.post("/envelopes", headers=NATIONAL, json={
            "name": f"{WAVE} {YEAR} {programme}", "programme": programme,
            "budget_years": [YEAR], "wave_ids": [WAVE], "amount": amount})
        assert opened.status_code == 201, opened.text
    cites = [await platform.label(uai, territory=f"Territoire {n}")
             for n, uai in enumerate(["0691234A", "0692345B", "0693456C", "0694567D"])]
    for cite in cites:
        await platform.wait_alliance(cite)

    # An association joins the second cité; the préfecture commits 40 k€ and pays 15 k€.
    asso = await platform.register_partner({"kind": "association", "siret": "84213756400014",
                                            "name": "Passerelles Éducatives",
                                            "departement": "69"})
    joined = await platform.par.post(f"/alliances/{cites[1]}/members", headers=NATIONAL,
                                     json={"partner_id": asso, "roles": ["action_operator"]})
    assert joined.status_code == 201, joined.text
    funded = await platform.wait_funds(cites[1], lambda c: bool(c["allocations"]), "funded")
    allocation = next(a for a in funded["allocations"] if a["programme"] == "P147")
    commitment: dict[str, Any] = {}

    async def committed() -> bool:  # a 409 until funding has heard the partner joined
        r = await platform.funds.post(
            f"/cites/{cites[1]}/commitments",
            headers={**PREFECTURE_69, "Idempotency-Key": f"ateliers-{cites[1]}"},
            json={"allocation_id": allocation["allocation_id"], "operator_partner_id": asso,
                  "action_title": "Ateliers du mercredi", "amount": 40_000_00})
        assert r.status_code in (200, 201, 409), r.text
        commitment.update(r.json())
        return r.status_code in (200, 201)

    await eventually(committed, timeout=60, every=0.2, what="the commitment accepted")
    paid = await platform.funds.post(f"/commitments/{commitment['commitment_id']}/payments",
                                     headers=PREFECTURE_69, json={"amount": 15_000_00})
    assert paid.status_code == 201, paid.text
    # One cité suspended, one withdrawn: their uncommitted money freezes.
    await platform.cite_command(cites[0], "suspension", {"motive": "Gouvernance à revoir"})
    await platform.cite_command(cites[2], "withdrawal", {"motive": "Convention rompue"})
    for cite, status in ((cites[0], "suspended"), (cites[2], "withdrawn")):
        await platform.wait_funds(cite, lambda c, s=status: c["status"] == s, status)

    # The dashboard's summary says what the services' APIs say, and its probe sees every
    # consumer caught up, no dead letter, every service ready.
    expected: dict[str, Any] = {}
    last: dict[str, Any] = {}

    async def agrees() -> bool:
        said = await services_say(platform)
        summary = (await platform.dash.get("/api/summary", headers=VIEWER)).json()
        last.update(summary=summary, said=said)
        health = summary["health"]
        if dashboard_says(summary) != said or health is None:
            return False
        expected.update(cites=said[0], money=said[1], health=health)
        return (all(c["lag"] == 0 for c in health["consumers"])
                and all(d["depth"] == 0 for d in health["dead_letters"])
                and all(s["ready"] and s["outbox_backlog"] is not None  # its relay reported
                        for s in health["services"]))

    await eventually(agrees, timeout=180, every=0.5,
                     what=lambda: f"the dashboard agreeing with the services: {last}")
    assert expected["cites"] == {"labelled": 2, "suspended": 1, "withdrawn": 1}
    p147 = expected["money"][("P147", YEAR)]
    assert (p147["committed"], p147["paid"]) == (40_000_00, 15_000_00)
    assert p147["frozen"] > 0
    assert {s["name"] for s in expected["health"]["services"]} == {
        "labelling", "partners", "funding", "notifications", "dashboard"}

    # The page, in a real browser.
    shot = tmp_path / "dashboard.png"
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=chromium(), headless=True)
        try:
            page = await browser.new_page(viewport={"width": 1280, "height": 900},
                                          locale="fr-FR")
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            await page.goto(f"{platform.dashboard.url}/#token=dev-viewer")
            await page.wait_for_selector("body[data-loaded=true]", timeout=30_000)
            await page.wait_for_selector('[data-group="dashboard"][data-value="0"]',
                                         timeout=30_000)
            await check_page(page, expected)
            assert errors == []
            assert "token" not in page.url  # the token left the address bar
            await page.screenshot(path=str(shot), full_page=True)
        finally:
            await browser.close()
    ARTIFACT.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(shot, ARTIFACT)
    print(f"\n[dashboard] screenshot: {shot} (copied to {ARTIFACT})")


async def check_page(page: Page, expected: dict[str, Any]) -> None:
    """The rendered DOM: tiles, the money table, the charts' data, the health tables."""
    cites: dict[str, int] = expected["cites"]
    assert await page.get_attribute("html", "lang") == "fr"
    assert await page.title() == "Cités éducatives — tableau de bord du programme"
    for status in STATUSES:
        tile = page.locator(f'[data-figure="cites-{status}"]')
        assert await tile.get_attribute("data-value") == str(cites.get(status, 0)), status
        assert plain(await tile.inner_text()) == str(cites.get(status, 0)), status
    assert await page.locator('[data-figure="cites-total"]').inner_text() == str(
        sum(cites.values()))
    for (programme, year), figures in expected["money"].items():
        for measure, cents in figures.items():
            cell = page.locator(f'#tab-argent tbody td[data-programme="{programme}"]'
                                f'[data-year="{year}"][data-measure="{measure}"]')
            assert await cell.get_attribute("data-cents") == str(cents), (programme, measure)
            assert plain(await cell.inner_text()) == euros(cents), (programme, measure)
        chart = await page.evaluate(
            """p => Object.fromEntries(Chart.getChart(`g-${p}`).data.datasets.map(
                   d => [d.label, d.data]))""", programme)
        assert chart["Alloué"] == [figures["allocated"] / 100], programme
        assert chart["Engagé"] == [figures["committed"] / 100], programme
        assert chart["Payé"] == [figures["paid"] / 100], programme
        assert chart["Gelé"] == [figures["frozen"] / 100], programme
    waves = await page.evaluate(
        "() => Chart.getChart('g-vagues').data.datasets.map(d => [d.label, d.data])")
    assert dict(waves) == {"Actives": [cites.get("labelled", 0)],
                           "Suspendues": [cites.get("suspended", 0)],
                           "Retirées": [cites.get("withdrawn", 0)],
                           "Expirées": [cites.get("expired", 0)]}
    lags = await page.locator("#tab-retard td[data-group]").evaluate_all(
        "cells => cells.map(c => [c.dataset.group, c.dataset.value])")
    assert dict(lags) == {"dashboard": "0", "funding": "0", "notifications": "0",
                          "partners": "0"}
    letters = await page.locator("#tab-dlq td[data-topic]").evaluate_all(
        "cells => cells.map(c => c.dataset.value)")
    assert letters == ["0"] * 4
    ready = await page.locator("#tab-services td[data-health]").evaluate_all(
        "cells => cells.map(c => c.dataset.health)")
    assert ready == ["ok"] * 5
    backlogs = await page.locator('#tab-services td[data-measure="outbox"]').evaluate_all(
        "cells => cells.map(c => c.dataset.value)")
    assert len(backlogs) == 5 and all(b.isdigit() for b in backlogs), backlogs
