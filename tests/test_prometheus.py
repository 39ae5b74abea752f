"""The alert rules and the dashboards on a real Prometheus (the server built from its pinned
Go module by tools/promtool/build.sh) scraping the five services run as processes on the
real broker and database (tests/e2e/e2e_platform.py), with the repository's
deploy/observability/prometheus/rules.yml as its rule file, unchanged.

What promtool's unit tests (tests/test_observability.py) cannot tell: that the services'
real ``/metrics`` have the series, names and labels the rules and the dashboard read.
Prometheus's HTTP API says it: every target up, every rule group loaded and evaluated
without error, every expression evaluated, and the series each selects there — all but
those named in :data:`EMPTY_ON_A_HEALTHY_PLATFORM`, each for its reason. Then a label
partners must refuse makes DeadLetters fire, and a stopped service makes ServiceDown
pending (its ``for:`` is two minutes: pending is what the rule file says first)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from cites_runtime.testing import eventually
from cites_runtime.testing.http import free_port
from cites_runtime.testing.infra import Infra

sys.path.insert(0, str(Path(__file__).parent))  # test_observability: the files' readers
sys.path.insert(0, str(Path(__file__).parent / "e2e"))  # the platform's processes

from e2e_platform import NATIONAL, Platform, running_platform
from test_observability import REPO, RULES, alerts, as_queried, dashboard_expressions

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

BUILD = REPO / "tools" / "promtool" / "build.sh"
JOB = "cites"
"""The scrape job's name, as in deploy/observability/prometheus/prometheus.yml (ServiceDown
selects ``up{job="cites"}``)."""
SCRAPE_EVERY = "3s"

EMPTY_ON_A_HEALTHY_PLATFORM = {
    "consumer_dead_letters_total":
        "a consumer's dead-letter counter is born with its first letter: none yet (the "
        "test then causes one and requires it)",
    'notifications_outcomes_total{channel="email",outcome="failed"}':
        "the SMTP sink takes every mail: none failed for good",
    'notifications_outcomes_total{channel="email",outcome="retry"}':
        "the SMTP sink takes every mail at the first attempt: none is tried again",
}
"""The series the rules select that a healthy platform, having sent a mail, does not have
(selector → why); every other selector of the rules must find series."""

DEAD_LETTER_PANEL = "platform.json: Dead letters (last hour), by consumer and reason A"
"""The dashboard's one panel that reads ``consumer_dead_letters_total`` alone: empty until
the first dead letter."""

COLLEGE = {"kind": "college", "name": "Collège Elsa Triolet", "uai": "0691999X",
           "departement": "69", "commune_insee_code": "69259"}
PRINCIPAL = "principale.0691999x@ac-lyon.fr"
LYCEE_UAI = "0690042L"
"""Registered as a lycée: a label naming it as lead collège is one partners refuses."""


@dataclass
class Prometheus:
    """A Prometheus server of the test's own, read through its HTTP API."""

    http: httpx.AsyncClient
    proc: subprocess.Popen[bytes]
    log: Path

    async def api(self, path: str, **params: str) -> Any:
        """``/api/v1/<path>``'s ``data``; an error answer fails the test with its text."""
        answer = await self.http.get(f"/api/v1/{path}", params=params)
        body = answer.json()
        assert answer.status_code == 200 and body["status"] == "success", (
            f"{path} {params}: {answer.status_code} {body}")
        return body["data"]

    async def query(self, expr: str) -> list[dict[str, Any]]:
        """An instant query's series (its result must be a vector)."""
        data = await self.api("query", query=expr)
        assert data["resultType"] == "vector", (expr, data)
        result: list[dict[str, Any]] = data["result"]
        return result

    async def selectors(self, expr: str) -> set[str]:
        """The series selectors of ``expr`` as Prometheus's own parser reads it
        (``/api/v1/parse_query``), ranges and offsets left out: ``name{label="value",…}``."""
        found: set[str] = set()

        def walk(node: Any) -> None:
            if isinstance(node, list):
                for item in node:
                    walk(item)
            elif isinstance(node, dict):
                if node.get("type") in ("vectorSelector", "matrixSelector"):
                    matchers = sorted(f'{m["name"]}{m["type"]}{json.dumps(m["value"])}'
                                      for m in node["matchers"] if m["name"] != "__name__")
                    found.add(node["name"] + (f"{{{','.join(matchers)}}}" if matchers else ""))
                for value in node.values():
                    walk(value)

        walk(await self.api("parse_query", query=expr))
        return found

    async def alerts(self, name: str) -> list[dict[str, Any]]:
        listed: list[dict[str, Any]] = (await self.api("alerts"))["alerts"]
        return [a for a in listed if a["labels"]["alertname"] == name]

    def log_tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]


@pytest.fixture(scope="module")
def prometheus_binary() -> Path:
    built = subprocess.run(["sh", str(BUILD), "prometheus"], capture_output=True, text=True,
                           timeout=3600)
    assert built.returncode == 0, built.stderr[-3000:]
    return Path(built.stdout.strip().splitlines()[-1])


def spawn_prometheus(binary: Path, home: Path, targets: list[str]
                     ) -> tuple[subprocess.Popen[bytes], int, Path]:
    """Prometheus scraping ``targets`` (host:port of ops ports) as the job ``cites``,
    evaluating the repository's rule file every second; its data in ``home``, on a free
    port. (process, port, log)

    A scrape every :data:`SCRAPE_EVERY`, as long as it may take: the runtime answers
    ``/metrics`` once it has read its readiness and its lag from the broker, each bounded
    at 2 s (a scrape cut shorter says ``up`` 0: ServiceDown pending on a healthy
    platform)."""
    home.mkdir(parents=True, exist_ok=True)
    config = home / "prometheus.yml"
    config.write_text(yaml.safe_dump({
        "global": {"scrape_interval": SCRAPE_EVERY, "scrape_timeout": SCRAPE_EVERY,
                   "evaluation_interval": "1s"},
        "rule_files": [str(RULES)],
        "scrape_configs": [{"job_name": JOB, "metrics_path": "/metrics",
                            "static_configs": [{"targets": targets}]}],
    }))
    port = free_port()
    log = home / "prometheus.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [str(binary), f"--config.file={config}", f"--storage.tsdb.path={home / 'data'}",
             f"--web.listen-address=127.0.0.1:{port}"],
            stdout=out, stderr=subprocess.STDOUT)
    return proc, port, log


@asynccontextmanager
async def running_prometheus(binary: Path, home: Path, targets: list[str]
                             ) -> AsyncIterator[Prometheus]:
    """:func:`spawn_prometheus`'s server, once it is ready; stopped at the end."""
    proc, port, log = spawn_prometheus(binary, home, targets)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
            prometheus = Prometheus(http, proc, log)
            await ready(prometheus)
            yield prometheus
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=30)


async def ready(prometheus: Prometheus) -> None:
    async def answers() -> bool:
        assert prometheus.proc.poll() is None, f"Prometheus exited:\n{prometheus.log_tail()}"
        try:
            return (await prometheus.http.get("/-/ready")).status_code == 200
        except httpx.HTTPError:
            return False

    await eventually(answers, timeout=60, every=0.2, what="Prometheus ready")


async def a_mail_and_a_label(platform: Platform) -> None:
    """A partner collège with a consenting contact, then a label it leads: every service
    publishes or consumes, and notifications mails the principal."""
    college = await platform.register_partner(COLLEGE)
    await platform.add_contact(college, "Hélène Durand", PRINCIPAL)
    await platform.wait_addresses(college, 1)
    cite = await platform.label(COLLEGE["uai"], lead_name=COLLEGE["name"])
    await platform.wait_alliance(cite)


async def test_prometheus_scrapes_the_services_and_evaluates_every_rule_and_panel(
    infra: Infra, tmp_path: Path, prometheus_binary: Path
) -> None:
    async with running_platform(infra, tmp_path, funding=True, notifications=True,
                                dashboard=True) as platform:
        processes = [platform.labelling, platform.partners, platform.funding,
                     platform.notifications, platform.dashboard]
        targets = {f"127.0.0.1:{p.ops_port}": p.name for p in processes if p is not None}
        assert len(targets) == 5
        async with running_prometheus(prometheus_binary, tmp_path / "prometheus",
                                      sorted(targets)) as prometheus:
            await a_mail_and_a_label(platform)
            await seen_by_prometheus(prometheus, targets)
            await evaluated_as_the_services_export(prometheus)
            await dead_letters_fire(prometheus, platform)
            await a_stopped_service_is_pending_down(prometheus, platform, targets)


async def seen_by_prometheus(prometheus: Prometheus, targets: dict[str, str]) -> None:
    """Every service scraped and up; every group of the rule file loaded, each rule
    evaluated (health ``ok``, no ``lastError``); the mail sent and every consumer's lag
    scraped."""
    groups = [g["name"] for g in yaml.safe_load(RULES.read_text(encoding="utf-8"))["groups"]]
    seen: dict[str, Any] = {}

    async def all_up() -> bool:
        active = (await prometheus.api("targets", state="active"))["activeTargets"]
        seen["targets"] = {t["labels"]["instance"]: (t["health"], t["lastError"])
                           for t in active if t["labels"]["job"] == JOB}
        return set(seen["targets"]) == set(targets) and all(
            health == "up" for health, _ in seen["targets"].values())

    async def all_evaluated() -> bool:
        loaded = (await prometheus.api("rules"))["groups"]
        seen["rules"] = {(g["name"], r["name"]): (r["health"], r.get("lastError", ""))
                         for g in loaded for r in g["rules"]}
        return sorted(g["name"] for g in loaded) == sorted(groups) and all(
            health != "unknown" for health, _ in seen["rules"].values())

    async def mail_sent_and_lag_read() -> bool:
        sent = await prometheus.query(
            'notifications_outcomes_total{channel="email",outcome="sent"}')
        lags = await prometheus.query("consumer_lag_records")
        seen["mail"], seen["lag"] = sent, sorted({s["metric"]["consumer"] for s in lags})
        return bool(sent) and seen["lag"] == ["dashboard", "funding", "labelling",
                                              "notifications", "partners"]

    await eventually(all_up, timeout=60, every=0.5, what=lambda: f"targets: {seen}")
    await eventually(all_evaluated, timeout=60, every=0.5, what=lambda: f"rules: {seen}")
    await eventually(mail_sent_and_lag_read, timeout=90, every=0.5,
                     what=lambda: f"mail and lag: {seen}")
    assert {rule: state for rule, state in seen["rules"].items() if state != ("ok", "")} == {}
    assert len(seen["rules"]) == len(alerts())


async def evaluated_as_the_services_export(prometheus: Prometheus) -> None:
    """Every rule's and every panel's expression evaluates; every panel finds series but
    the dead letters'; every selector of the rules finds series but those of
    :data:`EMPTY_ON_A_HEALTHY_PLATFORM`; no DeadLetters or ServiceDown alert yet."""
    for rule in alerts():
        await prometheus.query(rule["expr"])  # evaluates: an error answer fails in api()
    selectors = {s for rule in alerts() for s in await prometheus.selectors(rule["expr"])}
    assert EMPTY_ON_A_HEALTHY_PLATFORM.keys() <= selectors  # the list names real selectors
    seen: dict[str, Any] = {}

    async def as_exported() -> bool:
        """(A rate needs two scrapes of a counter: the panels may wait one more.)"""
        seen["empty panels"] = [where for where, expr in dashboard_expressions()
                                if not await prometheus.query(as_queried(expr))]
        seen["empty selectors"] = {s for s in selectors if not await prometheus.query(s)}
        return (seen["empty panels"] == [DEAD_LETTER_PANEL]
                and seen["empty selectors"] == EMPTY_ON_A_HEALTHY_PLATFORM.keys())

    await eventually(as_exported, timeout=30, every=1, what=lambda: f"{seen}")
    assert await prometheus.alerts("DeadLetters") == []
    assert await prometheus.alerts("ServiceDown") == []


async def dead_letters_fire(prometheus: Prometheus, platform: Platform) -> None:
    """A label naming a registered lycée as its lead collège: partners dead-letters it
    (``rejected``); DeadLetters (no ``for:``) fires for partners at once, with its
    severity and runbook, and the dead letters' panel finds it."""
    registered = await platform.par.post("/partners", headers=NATIONAL, json={
        "kind": "lycee", "name": "Cité scolaire Aimé Césaire", "uai": LYCEE_UAI})
    assert registered.status_code == 201, registered.text
    await platform.label(LYCEE_UAI, lead_name="Collège Aimé Césaire")
    seen: dict[str, Any] = {}

    async def firing() -> bool:
        seen["alerts"] = await prometheus.alerts("DeadLetters")
        return any(a["state"] == "firing" for a in seen["alerts"])

    panel = as_queried(dict(dashboard_expressions())[DEAD_LETTER_PANEL])

    async def on_the_panel() -> bool:  # an increase needs the counter scraped twice
        seen["panel"] = await prometheus.query(panel)
        return bool(seen["panel"])

    await eventually(firing, timeout=60, every=0.5, what=lambda: f"DeadLetters: {seen}")
    await eventually(on_the_panel, timeout=30, every=0.5, what=lambda: f"panel: {seen}")
    (alert,) = seen["alerts"]
    letters = seen["panel"]

    assert alert["state"] == "firing"
    assert {k: alert["labels"][k] for k in ("consumer", "reason", "severity", "job")} == {
        "consumer": "partners", "reason": "rejected", "severity": "warning", "job": JOB}
    assert alert["annotations"]["runbook"] == "docs/operations.md#deadletters"
    assert [(s["metric"]["consumer"], s["metric"]["reason"]) for s in letters] == [
        ("partners", "rejected")]


async def a_stopped_service_is_pending_down(prometheus: Prometheus, platform: Platform,
                                            targets: dict[str, str]) -> None:
    """The dashboard's process stopped: its scrape fails (``up`` 0) and ServiceDown is
    pending for its instance alone (firing would take the rule's two minutes)."""
    assert platform.dashboard is not None
    platform.dashboard.stop()
    instance = f"127.0.0.1:{platform.dashboard.ops_port}"
    seen: dict[str, Any] = {}

    async def pending() -> bool:
        seen["alerts"] = await prometheus.alerts("ServiceDown")
        return bool(seen["alerts"])

    await eventually(pending, timeout=30, every=0.5, what=lambda: f"ServiceDown: {seen}")
    down = await prometheus.query(f'up{{job="{JOB}"}} == 0')

    assert [(a["state"], a["labels"]["instance"]) for a in seen["alerts"]] == [
        ("pending", instance)]
    assert [s["metric"]["instance"] for s in down] == [instance]
    assert targets[instance] == "dashboard"
