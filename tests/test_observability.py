"""The observability as code of deploy/observability, checked by promtool (built from its
pinned Go module by tools/promtool/build.sh, once): the alert rules valid and their unit
tests passing (deploy/observability/prometheus/tests), the Prometheus configuration valid,
every PromQL expression of the Grafana dashboards parsed, every metric a rule or a
dashboard names exported by the services (and, for a consuming service on the real
broker, shown on its /metrics), and a runbook entry per alert.

The dashboards' expressions are checked as recording rules of a generated rules file
(``promtool check rules``): promtool parses them with Prometheus's own parser, and needs no
server (``promtool query`` asks one)."""

from __future__ import annotations

import importlib
import json
import re
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from cites_runtime.metrics import CONSUMER_LAG
from cites_runtime.testing import AS_OPERATOR, eventually, on_kafka
from cites_runtime.testing.infra import Infra
from cites_runtime.testing.plugin import SettingsFactory

REPO = Path(__file__).resolve().parents[1]
OBSERVABILITY = REPO / "deploy" / "observability"
PROMETHEUS = OBSERVABILITY / "prometheus"
RULES = PROMETHEUS / "rules.yml"
UNIT_TESTS = sorted((PROMETHEUS / "tests").glob("*.yml"))
DASHBOARDS = sorted((OBSERVABILITY / "grafana" / "dashboards").glob("*.json"))
RUNBOOK = REPO / "docs" / "operations.md"
SERVICES = sorted(p.parent.name for p in REPO.glob("services/*/pyproject.toml"))

GRAFANA_VARIABLES = {"$__rate_interval": "5m", "$__interval": "1m", "$__range": "1h"}
"""What Grafana puts for its variables when it queries: a duration each."""


@pytest.fixture(scope="module")
def promtool() -> Path:
    built = subprocess.run(["sh", str(REPO / "tools" / "promtool" / "build.sh")],
                           capture_output=True, text=True, timeout=3600)
    assert built.returncode == 0, built.stderr[-3000:]
    return Path(built.stdout.strip().splitlines()[-1])


def promtool_run(promtool: Path, *args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(promtool), *map(str, args)], capture_output=True, text=True,
                          timeout=300)


def alerts() -> list[dict[str, Any]]:
    groups = yaml.safe_load(RULES.read_text(encoding="utf-8"))["groups"]
    return [rule for group in groups for rule in group["rules"] if "alert" in rule]


def dashboard_expressions() -> list[tuple[str, str]]:
    """(where, expression) of every target of every dashboard."""
    found = []
    for path in DASHBOARDS:
        for panel in json.loads(path.read_text(encoding="utf-8"))["panels"]:
            for target in panel.get("targets", []):
                found.append((f"{path.name}: {panel['title']} {target['refId']}",
                              target["expr"]))
    return found


def as_queried(expr: str) -> str:
    for variable, value in GRAFANA_VARIABLES.items():
        expr = expr.replace(variable, value)
    return expr


def as_recording_rules(expressions: list[str]) -> str:
    rules = [{"record": f"dashboard:expression_{i}", "expr": e}
             for i, e in enumerate(expressions)]
    return yaml.safe_dump({"groups": [{"name": "dashboards", "rules": rules}]})


def test_the_rules_are_valid(promtool: Path) -> None:
    done = promtool_run(promtool, "check", "rules", "--lint=all", "--lint-fatal", RULES)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"SUCCESS: {len(alerts())} rules found" in done.stdout


def test_the_prometheus_configuration_is_valid(promtool: Path) -> None:
    done = promtool_run(promtool, "check", "config", PROMETHEUS / "prometheus.yml")
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_rules_unit_tests_pass(promtool: Path) -> None:
    assert UNIT_TESTS
    done = promtool_run(promtool, "test", "rules", *UNIT_TESTS)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout


def test_a_unit_test_expecting_what_does_not_happen_fails(promtool: Path,
                                                          tmp_path: Path) -> None:
    """The unit tests can fail: the lag alert expected of a consumer that keeps up."""
    (tmp_path / "rules.yml").write_text(RULES.read_text(encoding="utf-8"))
    (tmp_path / "wrong_test.yml").write_text(yaml.safe_dump({
        "rule_files": ["rules.yml"], "evaluation_interval": "1m",
        "tests": [{"interval": "1m", "input_series": [{
            "series": 'consumer_lag_records{consumer="funding", group="funding", '
                      'topic="labelling.labels", partition="0"}',
            "values": "0x30"}],
            "alert_rule_test": [{"eval_time": "25m", "alertname": "ConsumerLagGrowing",
                                 "exp_alerts": [{"exp_labels": {
                                     "severity": "warning", "consumer": "funding",
                                     "group": "funding", "topic": "labelling.labels",
                                     "partition": "0"}}]}]}]}))
    done = promtool_run(promtool, "test", "rules", tmp_path / "wrong_test.yml")
    assert done.returncode != 0
    assert "ConsumerLagGrowing" in done.stdout + done.stderr


def test_every_alert_is_unit_tested_firing_and_has_a_runbook_entry() -> None:
    fired: set[str] = set()
    for path in UNIT_TESTS:
        for test in yaml.safe_load(path.read_text(encoding="utf-8"))["tests"]:
            fired |= {t["alertname"] for t in test.get("alert_rule_test", [])
                      if t.get("exp_alerts")}
    runbook = RUNBOOK.read_text(encoding="utf-8")
    for rule in alerts():
        name = rule["alert"]
        assert name in fired, f"{name}: no unit test sees it fire"
        assert rule["annotations"]["runbook"] == f"docs/operations.md#{name.lower()}"
        assert f"\n### {name}\n" in runbook, f"{name}: no runbook entry in {RUNBOOK.name}"


def test_the_lag_alert_is_tested_on_the_series_shape_the_gauge_has() -> None:
    """The unit tests' lag series carry the gauge's labels (and Prometheus's own)."""
    shapes = set()
    for path in UNIT_TESTS:
        for test in yaml.safe_load(path.read_text(encoding="utf-8"))["tests"]:
            for series in test["input_series"]:
                name, _, labels = series["series"].partition("{")
                if name == "consumer_lag_records":
                    shapes.add(frozenset(re.findall(r"(\w+)=", labels)))
    assert shapes == {frozenset({*CONSUMER_LAG._labelnames, "instance", "job"})}


def test_every_dashboard_expression_parses(promtool: Path, tmp_path: Path) -> None:
    found = dashboard_expressions()
    assert DASHBOARDS and found
    queried = [as_queried(e) for _, e in found]
    left = [(where, e) for (where, _), e in zip(found, queried, strict=True) if "$" in e]
    assert not left, f"Grafana variables this check does not know: {left}"
    rules = tmp_path / "dashboards.yml"
    rules.write_text(as_recording_rules(queried))
    done = promtool_run(promtool, "check", "rules", rules)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"SUCCESS: {len(queried)} rules found" in done.stdout


def test_an_expression_that_does_not_parse_is_refused(promtool: Path, tmp_path: Path) -> None:
    rules = tmp_path / "broken.yml"
    rules.write_text(as_recording_rules(["sum by (group) (consumer_lag_records"]))
    done = promtool_run(promtool, "check", "rules", rules)
    assert done.returncode != 0
    assert "parse error" in done.stdout + done.stderr


_KEYWORDS = {"and", "or", "unless", "offset", "bool", "by", "without", "on", "ignoring",
             "group_left", "group_right", "inf", "nan"}


def metric_names(expr: str) -> set[str]:
    """The metric names an expression selects (its strings, label matchers, ranges,
    grouping clauses, functions and keywords left out)."""
    bare = re.sub(r'"(?:[^"\\]|\\.)*"', "", expr)
    bare = re.sub(r"\{[^}]*\}|\[[^\]]*\]", " ", bare)
    bare = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ",
                  bare)
    names = re.findall(r"(?<![\w.$])([a-zA-Z_:][\w:]*)\b(?!\s*\()", bare)
    return {n for n in names if n.lower() not in _KEYWORDS}


def exported() -> set[str]:
    """Every sample name the runtime's and the services' metrics can export, whether or
    not a series of them exists yet; and ``up``, Prometheus's own."""
    for service in SERVICES:
        importlib.import_module(f"{service}.app")  # registers the service's own metrics
    importlib.import_module("cites_runtime.app")
    suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"),
                "summary": ("_sum", "_count"), "info": ("_info",)}
    names = {"up"}
    for family in REGISTRY.collect():
        names |= {family.name + s for s in suffixes.get(family.type, ("",))}
    return names


def test_every_metric_a_rule_or_a_dashboard_names_is_exported() -> None:
    have = exported()
    wanted = {(rule["alert"], e) for rule in alerts() for e in [rule["expr"]]}
    wanted |= set(dashboard_expressions())
    missing = {(where, name) for where, e in wanted for name in metric_names(as_queried(e))
               if name not in have}
    assert not missing, f"named but exported by no service: {sorted(missing)}"
    assert metric_names(alerts()[0]["expr"]) == {"consumer_lag_records"}
    assert metric_names('sum by (le) (rate(http_request_seconds_bucket{job="x"}[5m]))'
                        ) == {"http_request_seconds_bucket"}


async def test_a_consuming_service_shows_on_metrics_the_series_its_rules_read(
    service_settings: SettingsFactory, infra: Infra
) -> None:
    """Partners on the real broker: its /metrics carries, under the labels the rules and
    the dashboard group by, its lag on every partition it reads, its outbox's age and its
    relay's leadership, its readiness, its pool and its build."""
    from partners.app import definition
    from partners.settings import PartnersSettings

    settings = service_settings(PartnersSettings)
    assert definition.consumer is not None
    reads = {settings.topic(t) for t in definition.consumer.topics}
    seen: dict[str, list[dict[str, str]]] = {}
    async with on_kafka(definition, settings) as partners:

        async def all_there() -> bool:
            answer = await partners.http.get("/metrics", headers=AS_OPERATOR)
            seen.clear()
            for family in text_string_to_metric_families(answer.text):
                for sample in family.samples:
                    seen.setdefault(sample.name, []).append(dict(sample.labels))
            lag_topics = {s["topic"] for s in seen.get("consumer_lag_records", [])
                          if s["group"] == settings.topic(definition.consumer.name)}
            # Partners' own outbox series: the registry is the process's, and another
            # service of an earlier test may have one already.
            return lag_topics == reads and any(
                settings.db_schema in s.values() for s in seen.get("outbox_lag_seconds", []))

        await eventually(all_there, every=0.5, what=lambda: f"seen: {sorted(seen)}")
    mine = {name: [s for s in samples if settings.db_schema in s.values()
                   or definition.name in s.values()] for name, samples in seen.items()}
    for name in ("outbox_lag_seconds", "outbox_relay_leader", "db_pool_connections",
                 "db_pool_max_connections", "service_ready", "build_info"):
        assert mine[name], f"{name}: no series of partners"
    lag = [s for s in seen["consumer_lag_records"] if s["consumer"] == definition.name]
    assert {s["topic"] for s in lag} == reads
    assert {(s["service"], s["version"]) for s in mine["build_info"]} == {
        ("partners", metadata.version("cites-partners"))}
