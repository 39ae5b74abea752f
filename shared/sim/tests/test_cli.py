"""What ``python -m cites_sim run`` prints and how it exits, without a platform: the
reconciliation's tables and each difference named; an unknown wave refused before any
request."""

from __future__ import annotations

from datetime import date

from rich.console import Console
from typer.testing import CliRunner

from cites_sim.cli import app, render
from cites_sim.reconcile import CountRow, MoneyRow, Report
from cites_sim.simulate import Run

FIGURES = {"allocated": 100, "fonds": 30, "committed": 50, "paid": 20, "frozen": 0,
           "released": 0, "remaining": 870}


def printed(report: Report) -> str:
    console = Console(record=True, width=120)
    render(report, Run(run_id="r", seed=1, today=date(2026, 11, 30),
                       waves={"2019": "r-2019"}), console)
    return console.export_text()


def test_a_reconciled_run_says_so_and_a_difference_is_named() -> None:
    report = Report(run_id="r", seconds=12.0, counts=[CountRow("active", {
        "simulation": 2, "labelling": 2, "partners": 2, "funding": 2, "events": 2})],
        money=[MoneyRow("e", "P147", "r-2019", 1000, {"simulation": FIGURES,
                                                       "funding API": FIGURES,
                                                       "events": FIGURES})],
        events={"labelling": 6}, phases=[("2019: candidatures", 3.5)])
    text = printed(report)
    assert "0 differences" in text and "2019 P147" in text and "2019: candidatures" in text
    report.differences.append("r-2019 P147 paid: simulation 0.20 €, funding API 0.20 €, "
                              "events 0.35 €")
    text = printed(report)
    assert "1 difference(s)" in text and "events 0.35 €" in text


def test_an_unknown_wave_is_refused_before_anything_is_asked() -> None:
    result = CliRunner().invoke(app, ["run", "--waves", "2019,2023",
                                      "--labelling-url", "http://127.0.0.1:9"])
    assert result.exit_code == 2
    assert "2023" in result.output
