"""The page in a real browser (Debian's Chromium, headless, driven by Playwright), on the
dashboard served for real with static tokens (development and tests): it asks for a
reader's token, refuses one the API refuses, then shows the figures and follows the
events as they come; every chart has its description and every table its caption.
(Signing in through the identity provider: ``test_sign_in``.)"""

from __future__ import annotations

from datetime import date

from dashboard_kit import (
    Dashboard,
    labelled,
    review_opened,
    review_submitted,
    suspended,
    withdrawn,
)
from playwright.async_api import Page

from cites_runtime.testing import FakeClock


async def figure(page: Page, name: str) -> str | None:
    return await page.get_attribute(f'[data-figure="{name}"]', "data-value")


async def shown_to_a_viewer(served: Dashboard, page: Page) -> None:
    """The page opened, a viewer's token typed in, the summary drawn."""
    await page.goto(f"{served.s.url}/")
    await page.fill("#jeton-valeur", "tok-viewer")
    await page.click("#jeton button")
    await page.wait_for_selector("body[data-loaded=true]")


async def test_the_page_asks_for_a_readers_token_then_follows_the_events(
    served: Dashboard, page: Page,
) -> None:
    await served.s.publish(labelled("cite-001"), labelled("cite-002"), suspended("cite-002"))
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))

    await page.goto(f"{served.s.url}/")
    await page.wait_for_selector("#jeton:not([hidden])")
    asked = await page.inner_text("#etat-connexion")
    await page.fill("#jeton-valeur", "tok-partner")  # a partner may not read the summary
    await page.click("#jeton button")
    await page.wait_for_selector("#jeton:not([hidden])")
    refused = await page.inner_text("#etat-connexion")
    await page.fill("#jeton-valeur", "tok-viewer")
    await page.click("#jeton button")
    await page.wait_for_selector("body[data-loaded=true]")
    shown = (await figure(page, "cites-labelled"), await figure(page, "cites-suspended"))
    await served.s.publish(withdrawn("cite-001"))
    await page.wait_for_selector('[data-figure="cites-withdrawn"][data-value="1"]')

    assert asked == "Un jeton de lecture est nécessaire."
    assert refused == "Ce jeton n'est pas accepté."
    assert shown == ("1", "1")
    assert await figure(page, "cites-labelled") == "0"
    assert await page.inner_text("#etat-connexion") == "En direct"
    assert errors == []


async def test_every_chart_is_described_and_every_table_captioned(
    served: Dashboard, page: Page,
) -> None:
    await shown_to_a_viewer(served, page)

    canvases = await page.locator("canvas").evaluate_all(
        "cs => cs.map(c => [c.getAttribute('role'), c.getAttribute('aria-label')])")
    captions = await page.locator("table").evaluate_all(
        "ts => ts.map(t => t.caption ? t.caption.textContent.trim() : '')")
    drawn = await page.evaluate(
        "() => [...document.querySelectorAll('canvas')].every(c => Chart.getChart(c))")

    assert len(canvases) == 5
    assert all(role == "img" and label for role, label in canvases)
    assert captions and all(captions)
    assert drawn
    assert page.url == f"{served.s.url}/"  # no token in the address, ever


async def test_the_page_shows_each_year_region_and_academie_in_regions_a_keyboard_reaches(
    served: Dashboard, page: Page,
) -> None:
    await served.s.publish(labelled("cite-001", departement="69"),
                           labelled("cite-002", departement="974"))
    await shown_to_a_viewer(served, page)

    years = await page.locator("#tab-annees tbody tr").all_inner_texts()
    regions = await page.locator("#tab-regions tbody th").all_inner_texts()
    academies = await page.locator("#tab-academies tbody tr").count()
    unreachable = await page.locator(".defile").evaluate_all(
        "ds => ds.filter(d => d.tabIndex < 0 || !d.getAttribute('aria-labelledby')).length")

    assert [y.split("\t")[:2] for y in years] == [["2025", "2"]]
    assert [r.strip() for r in regions] == ["Auvergne-Rhône-Alpes", "La Réunion"]
    assert academies == 2
    assert unreachable == 0


async def test_the_page_shows_the_reviews_of_each_year_and_those_late_or_missing(
    served: Dashboard, page: Page, clock: FakeClock,
) -> None:
    clock.set_date(date(2026, 4, 15))
    late = review_opened("cite-002", 2025, date(2026, 3, 31), departement="69")
    await served.s.publish(labelled("cite-001"), labelled("cite-002", departement="69"),
                           review_opened("cite-001", 2025, date(2026, 3, 31)), late,
                           review_submitted(late, date(2026, 4, 2)))
    await shown_to_a_viewer(served, page)

    years = await page.locator("#tab-revues tbody tr").all_inner_texts()
    listed = await page.locator("#tab-revues-retard tbody tr").all_inner_texts()
    headers = await page.locator("#tab-revues-retard thead th").evaluate_all(
        "hs => hs.map(h => h.scope)")

    assert [y.split("\t") for y in years] == [["2025", "2", "0", "1", "1", "0"]]
    assert [r.split("\t") for r in listed] == [
        ["Cité éducative cite-001", "93 — Seine-Saint-Denis", "2025", "31/03/2026",
         "non déposée"],
        ["Cité éducative cite-002", "69 — Rhône", "2025", "31/03/2026", "02/04/2026"]]
    assert headers and set(headers) == {"col"}
    assert await figure(page, "reviews-overdue") == "1"
    assert await page.locator("#revues-tronque").is_hidden()
