"""``python -m cites_sim run``: the programme's waves played on the running platform (by
default ``make run``'s), a progress bar per phase, then the reconciliation; exit 1 naming
each difference when something does not reconcile, 2 when the platform refused a step or
did not settle in time."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import sys
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from cites_contracts.access import KafkaAccess

from .generator import WAVES, generate
from .kafka import Health
from .platform import Api, Endpoints, SignIn, SimError, Tokens
from .reconcile import MONEY, Report, euros, reconcile
from .simulate import Progress as Reporter
from .simulate import Run, simulate, taken_codes

__all__ = ["app", "main", "render"]

REPO = Path(__file__).resolve().parents[3]
app = typer.Typer(add_completion=False, help="The Cités éducatives programme, simulated on "
                  "the running platform and reconciled.")


@app.callback()
def _root() -> None:
    """Commands: run."""


class RichReporter(Reporter):
    """A rich progress bar per phase; while the platform settles, what still moves."""

    def __init__(self, progress: Progress):
        self.progress = progress
        self.tasks: dict[str, TaskID] = {}

    def phase(self, name: str, total: int):  # type: ignore[no-untyped-def]
        task = self.progress.add_task(name, total=total or None)
        self.tasks[name] = task
        return lambda n: self.progress.advance(task, n)

    def done(self, name: str) -> None:
        task = self.tasks[name]
        total = self.progress.tasks[task].total
        self.progress.update(task, total=total or 1, completed=total or 1)

    def settling(self, health: Health) -> None:
        last = list(self.tasks)[-1] if self.tasks else None
        if last and last.startswith("settling"):
            self.progress.update(self.tasks[last], description=f"{last} — "
                                 f"{health.pending() if not health.quiet else 'quiet'}")


def render(report: Report, run: Run, console: Console) -> None:
    """The reconciliation as tables: cités, money per envelope, notifications, queues."""
    for table in (_cites_table(report), _years_table(report), _money_table(report, run),
                  _queues_table(report), _phases_table(report), _events_table(report, run)):
        console.print(table)
    for note in report.notes:
        console.print(f"[yellow]note:[/yellow] {note}")
    if report.ok:
        console.print("[bold green]Everything reconciles: 0 differences.[/bold green]")
    else:
        console.print(f"[bold red]{len(report.differences)} difference(s):[/bold red]")
        for d in report.differences:
            console.print(f"  [red]✗[/red] {d}")


def _cites_table(report: Report) -> Table:
    t = Table(title=f"Cités — run {report.run_id}", caption=(
        "active: labelled, alliance open, funds free; suspended: alliance suspended, funds "
        "frozen; withdrawn: alliance closed, frozen funds released to the envelope; expired: "
        "its last period over, not renewed, alliance closed, funds frozen"))
    t.add_column("measure")
    for source in ("simulation", "labelling", "partners", "funding", "events"):
        t.add_column(source, justify="right")
    for row in report.counts:
        style = None if row.agrees() else "bold red"
        t.add_row(row.measure, *("·" if v is None else str(v) for v in row.values.values()),
                  style=style)
    return t


def _years_table(report: Report) -> Table:
    """Per year of the programme: cités labelled that year, the State money of that budget
    year (dotations, committed, paid)."""
    y = Table(title="Per year: cités labelled (by decision), State money (by budget year, €)")
    for column in ("year", "measure", "simulation", "service", "events"):
        y.add_column(column, justify="left" if column == "measure" else "right")
    for row in report.years:
        values = list(row.values.values())
        shown = [str(v) if row.measure == "cités labelled" else euros(v).removesuffix(" €")
                 for v in values]
        y.add_row(str(row.year), row.measure, *shown,
                  style=None if row.agrees() else "bold red")
    return y


def _money_table(report: Report, run: Run) -> Table:
    m = Table(title="Money per envelope, in euros")
    m.add_column("envelope")
    m.add_column("figure")
    for source in ("simulation", "funding API", "events"):
        m.add_column(source, justify="right")
    for line in report.money:
        label = next((w for w, i in run.waves.items() if i == line.wave_id), line.wave_id)
        for i, k in enumerate(MONEY):
            values = [line.figures.get(s, {}).get(k) for s in ("simulation", "funding API",
                                                               "events")]
            m.add_row(f"{label} {line.programme}" if i == 0 else "", k,
                      *(euros(v).removesuffix(" €") for v in values),
                      style=None if len(set(values)) == 1 else "bold red",
                      end_section=i == len(MONEY) - 1)
    return m


def _queues_table(report: Report) -> Table:
    n = Table(title="Notifications and queues")
    n.add_column("figure")
    n.add_column("value", justify="right")
    for k, v in report.notifications.items():
        n.add_row(f"notifications {k}", str(v))
    for group, lag in report.lag.items():
        n.add_row(f"lag of consumer group {group}", str(lag))
    for consumer, letters in report.dead_letters.items():
        n.add_row(f"dead letters of {consumer}", str(letters))
    return n


def _phases_table(report: Report) -> Table:
    ph = Table(title="Where the time went")
    ph.add_column("phase")
    ph.add_column("seconds", justify="right")
    for name, seconds in report.phases:
        ph.add_row(name, f"{seconds:.1f}")
    return ph


def _events_table(report: Report, run: Run) -> Table:
    e = Table(title=f"Events of this run ({run.seconds:.0f} s from the first request to settled)")
    e.add_column("producer")
    e.add_column("events", justify="right")
    e.add_column("events/s", justify="right")
    for producer, count in sorted(report.events.items()):
        e.add_row(producer, str(count), f"{count / max(run.seconds, 1e-9):.1f}")
    e.add_row("all", str(sum(report.events.values())),
              f"{sum(report.events.values()) / max(run.seconds, 1e-9):.1f}")
    return e


@app.command()
def run(
    waves: Annotated[str, typer.Option(help="Waves, in order: those of the past imported "
                                             "with their dates, 2024 played live")
                     ] = "2019,2021,2022,2024",
    seed: Annotated[int, typer.Option(help="Seed of the generated programme")] = 2019,
    scale: Annotated[float, typer.Option(help="Cités per wave × this (10: 2,000 cités)")] = 1.0,
    concurrency: Annotated[int, typer.Option(help="Actors working at once")] = 8,
    operations: Annotated[int, typer.Option(help="Associations (and their commitments) "
                                                 "per cité")] = 2,
    run_id: Annotated[str | None, typer.Option(help="Names the run's waves (default: from "
                                                    "the time)")] = None,
    labelling_url: str = "http://127.0.0.1:8001",
    partners_url: str = "http://127.0.0.1:8002",
    funding_url: str = "http://127.0.0.1:8003",
    notifications_url: str = "http://127.0.0.1:8004",
    ops_urls: Annotated[str, typer.Option(help="JSON: service → its ops port's URL, where "
                                               "/metrics is when <SERVICE>_OPS_PORT is set "
                                               "(docker compose: 127.0.0.1:9001–9004)")
                        ] = "{}",
    tokens: Annotated[Path, typer.Option(help="The services' static tokens (JSON), when "
                                              "they run with AUTH_MODE=static")] =
        REPO / "deploy" / "local" / "dev-tokens.json",
    issuer: Annotated[str | None, typer.Option(help="Sign in at this identity provider "
                                                    "instead (make run's Keycloak: http://"
                                                    "127.0.0.1:18080/realms/cites), as its "
                                                    "development users")] = None,
    client_id: Annotated[str, typer.Option(help="The provider's client for the password "
                                                "grant")] = "cites-cli",
    password: Annotated[str, typer.Option(help="The development users' password")
                        ] = "cites-dev",
    kafka: Annotated[str, typer.Option(help="Kafka's bootstrap servers; the principal from "
                                            "KAFKA_USERNAME, KAFKA_PASSWORD and "
                                            "KAFKA_SASL_MECHANISM (the administrator or a "
                                            "reader)")] = "127.0.0.1:19092",
    topic_prefix: Annotated[str, typer.Option(help="The services' topic prefix")] = "",
    maildir: Annotated[Path, typer.Option(help="The SMTP sink's maildir")] =
        REPO / ".local" / "smtp" / "mail",
    mailpit: Annotated[str | None, typer.Option(help="The SMTP sink as Mailpit's HTTP API "
                                                     "(docker compose: http://127.0.0.1:8025)"
                                                     ", instead of the maildir")] = None,
    fault: Annotated[list[str] | None, typer.Option(help="PHASE=COMMAND: run COMMAND (a "
                                                         "shell line) when a phase whose name "
                                                         "holds PHASE starts; repeatable")
                     ] = None,
    settle_timeout: Annotated[float, typer.Option(help="Seconds to wait for the platform "
                                                       "to settle")] = 180.0,
    report_json: Annotated[Path | None, typer.Option("--json", help="Also write the "
                                                     "report here")] = None,
) -> None:
    """Replay the waves on the platform through its HTTP APIs, then reconcile.

    Long because Typer declares the options in the signature; the body is short."""
    labels = [w.strip() for w in waves.split(",") if w.strip()]
    unknown = [w for w in labels if w not in WAVES]
    if unknown:
        raise typer.BadParameter(f"unknown wave(s) {unknown}; known: {', '.join(WAVES)}")
    console = Console()
    try:
        who = Tokens.from_file(tokens) if issuer is None else asyncio.run(
            _signed_in(issuer, client_id, password))
    except SimError as exc:
        console.print(f"[bold red]The simulation stopped:[/bold red] {exc}")
        raise typer.Exit(2) from exc
    endpoints = Endpoints(labelling_url, partners_url, funding_url, notifications_url,
                          who,
                          kafka=dataclasses.replace(KafkaAccess.from_env(), bootstrap=kafka),
                          topic_prefix=topic_prefix,
                          maildir=maildir, mailpit=mailpit, ops=json.loads(ops_urls))
    faults = [_fault(f) for f in fault or []]
    rid = run_id or time.strftime("demo%m%d-%H%M%S").lower()
    try:
        report, done = asyncio.run(_main(endpoints, console, labels, seed, scale, concurrency,
                                         operations, rid, settle_timeout, faults))
    except SimError as exc:
        console.print(f"[bold red]The simulation stopped:[/bold red] {exc}")
        raise typer.Exit(2) from exc
    render(report, done, console)
    if report_json is not None:
        report_json.write_text(json.dumps(report.to_dict(), indent=2, default=str))
    raise typer.Exit(0 if report.ok else 1)


async def _signed_in(issuer: str, client_id: str, password: str) -> Tokens:
    return await Tokens.sign_in(await SignIn.at(issuer, client_id=client_id,
                                                password=password))


def _fault(spec: str) -> tuple[str, str]:
    phase, sep, command = spec.partition("=")
    if not sep or not phase.strip() or not command.strip():
        raise typer.BadParameter(f"--fault takes PHASE=COMMAND, not {spec!r}")
    return phase.strip(), command.strip()


class FaultInjector(Reporter):
    """Runs each fault's command (a shell line, in the background) when the first phase
    whose name holds its phase starts: a fault injected while the run goes on. The run's
    reconciliation then says whether anything was lost or doubled."""

    def __init__(self, inner: Reporter, faults: list[tuple[str, str]], console: Console):
        self.inner, self.pending, self.console = inner, list(faults), console
        self.running: list[tuple[str, asyncio.Task[int]]] = []

    def phase(self, name: str, total: int):  # type: ignore[no-untyped-def]
        for fault in [f for f in self.pending if f[0] in name]:
            self.pending.remove(fault)
            self.console.print(f"[yellow]fault[/yellow] as «{name}» starts: {fault[1]}")
            self.running.append((fault[1], asyncio.ensure_future(_shell(fault[1]))))
        return self.inner.phase(name, total)

    def done(self, name: str) -> None:
        self.inner.done(name)

    def settling(self, health: Health) -> None:
        self.inner.settling(health)

    async def outcome(self) -> list[str]:
        """Waits for the faults' commands; returns what went wrong with them."""
        wrong = [f"fault never injected: no phase holds {phase!r}"
                 for phase, _ in self.pending]
        for command, task in self.running:
            if (code := await task) != 0:
                wrong.append(f"fault {command!r} exited {code}")
        return wrong


async def _shell(command: str) -> int:
    proc = await asyncio.create_subprocess_shell(command)
    return await proc.wait()


async def _main(endpoints: Endpoints, console: Console, labels: list[str], seed: int,
                scale: float, concurrency: int, operations: int, run_id: str,
                settle_timeout: float, faults: list[tuple[str, str]] | None = None
                ) -> tuple[Report, Run]:
    async with Api.open(endpoints, connections=max(concurrency, 4) * 2) as api:
        qpvs, uais = await taken_codes(api)
        programme = generate(seed, waves=labels, scale=scale, operations=operations,
                             salt=run_id, departements=endpoints.tokens.prefectures,
                             taken_qpvs=qpvs, taken_uais=uais)
        console.print(f"Run [bold]{run_id}[/bold]: {len(programme.territories)} cités in "
                      f"waves {', '.join(labels)} (seed {seed}, scale {scale}), "
                      f"{concurrency} actors at once")
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                   TimeElapsedColumn())
        with Progress(*columns, console=console) as bars:
            reporter = FaultInjector(RichReporter(bars), faults or [], console)
            done = await simulate(endpoints, programme, run_id=run_id, concurrency=concurrency,
                                  progress=reporter, settle_timeout=settle_timeout,
                                  api=api)
            if wrong := await reporter.outcome():
                raise SimError("; ".join(wrong))
        console.print("Reconciling: the services' APIs, the topics, the SMTP sink…")
        report = await reconcile(endpoints, done, api=api, settle_timeout=settle_timeout)
    return report, done


def main() -> None:
    sys.exit(app())
