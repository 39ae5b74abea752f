"""The programme dashboard's page as a reader's browser renders it: Debian's Chromium,
headless, driven by Playwright, and the checks of its DOM and charts (used by
``test_programme_e2e``)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from playwright.async_api import Page, async_playwright

REPO = Path(__file__).resolve().parents[2]
ARTIFACT = REPO / ".local" / "artifacts" / "dashboard.png"
STATUSES = ("labelled", "suspended", "withdrawn", "expired")
MEASURES = ("allocated", "fonds", "fonds_used", "committed", "paid", "frozen", "released",
            "ordered_back", "recovered")


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


async def render(url: str, expected: dict[str, Any], shot: Path) -> None:
    """Load the page at ``url`` (the dev viewer's token typed in its form), wait
    for its data and its probe, check the DOM against ``expected`` and keep a screenshot
    (``shot``, copied to ``.local/artifacts/dashboard.png``)."""
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=chromium(), headless=True)
        try:
            page = await browser.new_page(viewport={"width": 1280, "height": 900},
                                          locale="fr-FR")
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            await page.goto(f"{url}/")
            await page.fill("#jeton-valeur", "dev-viewer")  # static tokens: a dev platform
            await page.click("#jeton button")
            await page.wait_for_selector("body[data-loaded=true]", timeout=30_000)
            await page.wait_for_selector('[data-group="dashboard"][data-value="0"]',
                                         timeout=30_000)
            await check_page(page, expected)
            assert errors == []
            assert page.url == f"{url}/"  # no token in the address
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
    money: dict[tuple[str, int], dict[str, int]] = expected["money"]
    for (programme, year), figures in money.items():
        for measure, cents in figures.items():
            cell = page.locator(f'#tab-argent tbody td[data-programme="{programme}"]'
                                f'[data-year="{year}"][data-measure="{measure}"]')
            assert await cell.get_attribute("data-cents") == str(cents), (programme, measure)
            assert plain(await cell.inner_text()) == euros(cents), (programme, measure)
    for programme in sorted({p for p, _ in money}):
        years = sorted(y for p, y in money if p == programme)
        chart = await page.evaluate(
            """p => { const c = Chart.getChart(`g-${p}`);
                      return [c.data.labels, Object.fromEntries(c.data.datasets.map(
                          d => [d.label, d.data]))]; }""", programme)
        assert chart[0] == [str(y) for y in years], programme
        for label, measure in (("Alloué", "allocated"), ("Engagé", "committed"),
                               ("Payé", "paid"), ("Gelé", "frozen")):
            assert chart[1][label] == [money[(programme, y)][measure] / 100 for y in years], (
                programme, label)
    waves = await page.evaluate(
        "() => Chart.getChart('g-vagues').data.datasets.map(d => [d.label, d.data])")
    assert dict(waves) == {"Actives": [cites.get("labelled", 0)],
                           "Suspendues": [cites.get("suspended", 0)],
                           "Retirées": [cites.get("withdrawn", 0)],
                           "Expirées": [cites.get("expired", 0)]}
    for (programme, year), figures in expected["credits"].items():
        for credit, value in figures.items():
            cell = page.locator(f'#tab-credits td[data-programme="{programme}"]'
                                f'[data-year="{year}"][data-credit="{credit}"]')
            attribute = "data-value" if credit == "closed" else "data-cents"
            assert await cell.get_attribute(attribute) == (
                str(value).lower() if credit == "closed" else str(value)), (programme, year,
                                                                            credit)
    lags = await page.locator("#tab-retard td[data-group]").evaluate_all(
        "cells => cells.map(c => [c.dataset.group, c.dataset.value])")
    assert dict(lags) == {"dashboard": "0", "funding": "0", "labelling": "0",
                          "notifications": "0", "partners": "0"}
    letters = await page.locator("#tab-dlq td[data-topic]").evaluate_all(
        "cells => cells.map(c => c.dataset.value)")
    assert letters == ["0"] * 5
    ready = await page.locator("#tab-services td[data-health]").evaluate_all(
        "cells => cells.map(c => c.dataset.health)")
    assert ready == ["ok"] * 5
    backlogs = await page.locator('#tab-services td[data-measure="outbox"]').evaluate_all(
        "cells => cells.map(c => c.dataset.value)")
    assert len(backlogs) == 5 and all(b.isdigit() for b in backlogs), backlogs
