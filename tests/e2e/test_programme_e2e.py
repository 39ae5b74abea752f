"""The whole programme, small, end to end: the four services and the programme dashboard
run as processes on the real Kafka and PostgreSQL, mailing the test's own SMTP sink.

``make demo``'s simulation (``cites_sim``, the code ``python -m cites_sim run`` runs)
plays the 2019 wave, twenty cités, through the services' HTTP APIs — its history imported
with its real dates (labelled on 5 September 2019 for 2020–2022, renewed for 2023–2025,
re-applied in 2025; two of them expired in 2023), envelopes and the dotations of each
budget year since 2020, what they committed and paid before the platform (to last year)
taken over, commitments to operators who joined the alliances, payments,
suspensions, a reinstatement, a withdrawal, an extension — then reconciles what
the services' APIs, the topics and the SMTP sink say: zero differences. The dashboard,
fed only by the events, must then say what the services' APIs say and what the
reconciliation counted, its open data (read without a token) each cité's State money per
year as funding's statement says it, and Debian's Chromium (headless, driven by
Playwright) must render those figures; a screenshot is kept
(``.local/artifacts/dashboard.png``). Last, a payment funding never made is put on its
topic: the reconciliation names the difference.

``CITES_DEMO_WAVES`` and ``CITES_DEMO_SCALE`` (environment) make it play more:
``CITES_DEMO_WAVES=2019,2021,2022,2024 CITES_DEMO_SCALE=1`` is the whole ``make demo``, and it
prints the run's figures (time, events per service)."""

from __future__ import annotations

import json
import os
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from dashboard_page import MEASURES, STATUSES, render
from e2e_platform import REPO, VIEWER, Platform, SmtpSink

from cites_contracts import Envelope
from cites_contracts.codec import encode
from cites_contracts.events.funding import PaymentMade
from cites_runtime.testing import eventually, read_pages
from cites_sim import Endpoints, Report, Tokens, generate, reconcile, simulate
from cites_sim.platform import Api
from cites_sim.reconcile import euros

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

WAVES = os.environ.get("CITES_DEMO_WAVES", "2019").split(",")
SCALE = float(os.environ.get("CITES_DEMO_SCALE", "0.25"))  # 80 × 0.25: 20 cités


def endpoints(platform: Platform, sink: SmtpSink) -> Endpoints:
    assert platform.funding is not None and platform.notifications is not None
    return Endpoints(
        labelling=platform.labelling.url, partners=platform.partners.url,
        funding=platform.funding.url, notifications=platform.notifications.url,
        tokens=Tokens.from_file(REPO / "deploy" / "local" / "dev-tokens.json"),
        kafka=platform.kafka, topic_prefix=platform.topic_prefix, maildir=sink.maildir,
        ops={s.name: s.ops_url for s in (platform.labelling, platform.partners,
                                          platform.funding, platform.notifications)})


Money = dict[tuple[str, int], dict[str, int]]
CREDITS = ("ae", "cp", "delegated_ae", "delegated_cp", "engaged", "spent", "lapsed_ae",
           "lapsed_cp", "closed")


async def services_say(platform: Platform) -> tuple[dict[str, int], Money, Money]:
    """Cités per status from labelling's API, money per programme and year from funding's
    consumption report, the State's credits per programme and year from funding's."""
    cites = {}
    for status in STATUSES:
        pages = await read_pages(platform.lab, "/cites", headers=VIEWER, limit=200,
                                 status=status)
        if n := sum(len(p) for p in pages):
            cites[status] = n
    report = (await platform.funds.get("/reports/consumption", headers=VIEWER)).json()
    money = {(line["programme"], line["year"]): {k: line[k] for k in MEASURES}
             for line in report["programmes"]}
    credits = {(c["programme"], c["year"]): {
        **{k: c[k] for k in ("ae", "cp", "engaged", "spent", "lapsed_ae", "lapsed_cp")},
        "delegated_ae": sum(d["ae"] for d in c["delegations"]),
        "delegated_cp": sum(d["cp"] for d in c["delegations"]),
        "closed": c["closed_at"] is not None}
        for c in (await platform.funds.get("/credits", headers=VIEWER,
                                           params={"limit": 200})).json()["items"]}
    return cites, money, credits


def dashboard_says(summary: dict[str, Any]) -> tuple[dict[str, int], Money, Money]:
    return summary["cites"], {(m["programme"], m["year"]): {k: m[k] for k in MEASURES}
                              for m in summary["money"]}, {
        (c["programme"], c["year"]): {k: c[k] for k in CREDITS} for c in summary["credits"]}


def per_programme(money: Money) -> dict[str, dict[str, int]]:
    """Each measure summed over the years."""
    totals: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(MEASURES, 0))
    for (programme, _), figures in money.items():
        for measure in MEASURES:
            totals[programme][measure] += figures[measure]
    return dict(totals)


def reconciled_per_programme(report: Report) -> dict[str, dict[str, int]]:
    """The reconciliation's figures (the events', equal to the ledger's and the
    simulation's when it found no difference), each measure summed over the envelopes."""
    totals: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(MEASURES, 0))
    for row in report.money:
        for measure in MEASURES:
            totals[row.programme][measure] += row.figures["events"][measure]
    return dict(totals)


Years = dict[int, tuple[int, int, int]]


def open_data_years(cite: dict[str, Any]) -> Years:
    """The open data's years of a cité: (P147 dotation, P230 dotation, fonds), in cents."""
    return {y["annee"]: (round(y["dotation_p147"] * 100), round(y["dotation_p230"] * 100),
                         round(y["fonds_de_la_cite"] * 100)) for y in cite["annees"]}


async def funding_years(platform: Platform, cite_id: str) -> Years:
    """The same from funding's statement of the cité (its years that allocated or granted)."""
    r = await platform.funds.get(f"/cites/{cite_id}/statement", headers=VIEWER)
    assert r.status_code == 200, r.text
    found: dict[int, list[int]] = defaultdict(lambda: [0, 0, 0])
    for line in r.json()["lines"]:
        figures = found[line["year"]]
        figures[0 if line["programme"] == "P147" else 1] += line["allocated"]
        figures[2] += line["fonds"]
    return {year: (a, b, c) for year, (a, b, c) in found.items() if a or b or c}


async def test_a_small_programme_reconciles_shows_on_the_dashboard_and_a_stray_payment_does_not(
    platform_with_dashboard: Platform, smtp_sink: SmtpSink, tmp_path: Path,
) -> None:
    platform = platform_with_dashboard
    assert platform.dashboard is not None and platform.dash is not None
    where = endpoints(platform, smtp_sink)
    programme = generate(7, waves=WAVES, scale=SCALE, operations=1,
                         departements=where.tokens.prefectures)
    async with Api.open(where) as api:
        run = await simulate(where, programme, run_id="e2e", concurrency=4, api=api)
        report = await reconcile(where, run, api=api)

    # 1. The reconciliation: every source agrees.
    assert report.differences == [], "\n".join(report.differences)
    cites = len(programme.territories)
    first = next(r for r in report.counts if r.measure.startswith("cités"))
    assert set(first.values.values()) == {cites}
    suspended = next(r for r in report.counts if r.measure == "suspended")
    assert suspended.values["funding"] == len(programme.suspended) - len(programme.reinstated)
    p147 = next(m for m in report.money if m.programme == "P147")
    # Money moved at every step, and the three sources agree on it (differences == []).
    assert all(p147.figures["events"][k] > 0 for k in MEASURES)
    # Subsidies justified, part of them ordered back and half of that repaid, alike.
    assert 0 < p147.figures["events"]["recovered"] < p147.figures["events"]["ordered_back"]
    assert report.notifications["sent"] == report.notifications["mails in the SMTP sink"] > 0
    assert report.lag and not any(report.lag.values())
    # Per year: cités by the year they were decided, dotations by budget year 2020 → today.
    years = {(r.year, r.measure) for r in report.years}
    assert (2019, "cités labelled") in years and {(y, "allocated") for y in range(2020, 2026)
                                                  } <= years
    # The money of the years before the platform (2020–2024), taken over, and this one's.
    assert {(y, m) for y in range(2020, 2025) for m in ("committed", "paid")} <= years
    print(json.dumps({"cites": cites, "seconds": round(run.seconds, 1),
                      "events": report.events, "phases": run.phases}, indent=1))

    # 2. The dashboard, fed by the events only, says what the services' APIs say and what
    # the reconciliation counted; its probe sees every consumer caught up, no dead letter.
    expected: dict[str, Any] = {}
    last: dict[str, Any] = {}

    async def agrees() -> bool:
        said = await services_say(platform)
        summary = (await platform.dash.get("/api/summary", headers=VIEWER)).json()
        last.update(summary=summary, said=said)
        health = summary["health"]
        if dashboard_says(summary) != said or health is None:
            return False
        expected.update(cites=said[0], money=said[1], credits=said[2], health=health)
        return (all(c["lag"] == 0 for c in health["consumers"])
                and all(d["depth"] == 0 for d in health["dead_letters"])
                and all(s["ready"] and s["outbox_backlog"] is not None  # its relay reported
                        for s in health["services"]))

    await eventually(agrees, timeout=180, every=0.5,
                     what=lambda: f"the dashboard agreeing with the services: {last}")
    assert sum(expected["cites"].values()) == cites
    assert expected["cites"].get("suspended", 0) == suspended.values["funding"]
    assert per_programme(expected["money"]) == reconciled_per_programme(report)
    # The simulation's préfectures committed on P147's AE (of their allocations' years)
    # and paid from its CP (this year's), and it closed last year: the dashboard's
    # credits, compared above, are not empty.
    credits = expected["credits"]
    assert any(c["engaged"] for c in credits.values())
    assert any(c["spent"] for c in credits.values())
    assert credits[("P147", run.today.year - 1)]["closed"]
    assert {s["name"] for s in expected["health"]["services"]} == {
        "labelling", "partners", "funding", "notifications", "dashboard"}
    # The communes' co-financing, planned and given, per year: the dashboard's is what the
    # reconciliation counted in funding's statements, its events and the simulation.
    counted = {(r.year, r.measure): r.values["events"] for r in report.years
               if r.measure.startswith("cofinancing")}
    assert counted and any(v for (_, m), v in counted.items() if m == "cofinancing given")
    shown = {(y["year"], f"cofinancing {k}"): y[f"cofinancing_{k}"]
             for y in last["summary"]["years"] for k in ("planned", "given")}
    assert {k: v for k, v in shown.items() if v} == counted

    # 2b. The year's revues de projet: the first wave's filed, validated and submitted with
    # their money as funding's events told labelling (the reconciliation compared each with
    # funding's statement), one late, one missing; the dashboard counts them as labelling's
    # synthesis does and lists the missing one after its deadline.
    year = run.today.year - 1
    missing = [c for c, r in run.reviews.items() if r.submitted_on is None]
    assert missing and any(r.late for r in run.reviews.values())
    synthesis = (await platform.lab.get(f"/reviews/synthesis/{year}", headers=VIEWER)).json()
    assert synthesis["submitted"] == len(run.reviews) - len(missing)
    assert synthesis["money"]["committed"] > 0 and synthesis["overdue"] >= len(missing)

    async def counted() -> bool:
        summary = (await platform.dash.get("/api/summary", headers=VIEWER)).json()
        shown = {y["year"]: y for y in summary["reviews"]["years"]}.get(year)
        listed = {r["cite_id"] for r in summary["reviews"]["late_or_missing"]
                  if r["submitted_on"] is None}
        return shown is not None and (
            shown["due"], shown["submitted_on_time"] + shown["submitted_late"],
            shown["submitted_late"], shown["overdue"]) == (
            synthesis["reviews"], synthesis["submitted"], synthesis["submitted_late"],
            synthesis["overdue"]) and set(missing) <= listed

    await eventually(counted, timeout=60, what="the dashboard's revues de projet")
    # Its national synthesis of the year: the same sums, actions and indicator means.
    reviews = (await platform.dash.get("/api/summary", headers=VIEWER)).json()["reviews"]
    shown, = (y for y in reviews["syntheses"] if y["year"] == year)
    assert {k: shown[k] for k in synthesis["money"]} == synthesis["money"]
    assert (shown["submitted"], shown["commune_contribution"], shown["actions"],
            shown["actions_cost"]) == (synthesis["submitted"],
                                       synthesis["commune_contribution"],
                                       synthesis["actions"]["count"],
                                       synthesis["actions"]["cost"])
    assert {i["code"]: (i["cites"], i["mean"]) for i in reviews["indicators"]
            if i["year"] == year} == {i["code"]: (i["cites"], i["mean"])
                                      for i in synthesis["indicators"]}

    # 3. The open data, read without a token: every cité, and each year's State money as
    # funding's statement of the cité says it.
    published = await platform.dash.get("/opendata/cites.json")
    assert published.status_code == 200, published.text
    assert len(published.json()) == cites
    assert any(c["annees"] for c in published.json())
    for cite_data in published.json():
        assert open_data_years(cite_data) == await funding_years(platform,
                                                                 cite_data["code_cite"])

    # 4. The page, in a real browser: the same figures rendered.
    await render(platform.dashboard.url, expected, tmp_path / "dashboard.png")

    # 5. A payment funding never made, on its topic: the events no longer add up to what
    # the ledger and the simulation say, and the reconciliation says by how much, where.
    cite = next(c for c in run.cites.values() if c.commitments)
    assert cite.allocation_id is not None
    commitment_id, operator, _ = cite.commitments[0]
    stray = Envelope.wrap(PaymentMade.model_validate({
        "cite_id": cite.cite_id, "payment_id": "00000000-0000-4000-8000-000000000001",
        "commitment_id": commitment_id, "allocation_id": cite.allocation_id,
        "payee_partner_id": operator, "amount": 12_345, "paid_at": "2026-01-01T00:00:00Z"}),
        sequence=10_000)
    record = encode(stray)
    producer = AIOKafkaProducer(**where.kafka.client_kwargs())
    await producer.start()
    try:
        await producer.send_and_wait(where.topic("funding.allocations"), record.value,
                                     key=record.key, headers=record.headers)
    finally:
        await producer.stop()
    # Only the events disagree (funding does not read its own topic), by 123.45 €.
    again = await reconcile(where, run)
    assert [d for d in again.differences if "P147 paid" in d] == [
        f"{run.waves['2019']} P147 paid: simulation {euros(p147.figures['simulation']['paid'])}, "
        f"funding API {euros(p147.figures['simulation']['paid'])}, "
        f"events {euros(p147.figures['simulation']['paid'] + 12_345)}"], again.differences
