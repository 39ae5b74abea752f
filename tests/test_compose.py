"""What an operator relies on in docker-compose.yml and deploy/Dockerfile, read from the
files (the compose stage, `make compose-check`, brings the platform up for real and
checks `docker compose config`'s resolved bindings): official images pinned and
overridable, ports on 127.0.0.1, secrets from .env or files, one image per service,
restart, memory and log limits everywhere, one-shot jobs for roles, topics and
migrations."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
COMPOSE_FILE = REPO / "docker-compose.yml"
APP_SERVICES = ("labelling", "partners", "funding", "notifications", "dashboard")
INFRA_SERVICES = ("kafka", "postgres", "mailpit", "jaeger", "prometheus")
JOBS = ("db-init", "kafka-init", *(f"{s}-migrate" for s in APP_SERVICES))
OFFICIAL = {"kafka": ("KAFKA_IMAGE", "apache/kafka"), "postgres": ("POSTGRES_IMAGE", "postgres"),
            "mailpit": ("MAILPIT_IMAGE", "axllent/mailpit"),
            "jaeger": ("JAEGER_IMAGE", "jaegertracing/jaeger"),
            "prometheus": ("PROMETHEUS_IMAGE", "prom/prometheus")}
LOOPBACK_ONLY = (":9000", ":9090")
"""Container ports published on this machine's loopback whatever CITES_BIND says: the
services' ops ports, and Prometheus's, which serves their figures."""


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE_FILE.read_text())
    assert isinstance(data, dict)
    return data


def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    result = compose["services"]
    assert isinstance(result, dict)
    return result


def resolved(text: str) -> str:
    """Compose's interpolation, for reading: ``${VAR:-default}`` → default, a required
    ``${VAR:?message}`` → ``<VAR>``."""
    text = re.sub(r"\$\{(\w+):\?[^}]*\}", r"<\1>", text)
    return re.sub(r"\$\{\w+:-([^}]*)\}", r"\1", text)


def env_of(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):  # the "KEY=value" list form
        env = dict(item.split("=", 1) for item in env)
    return {str(k): str(v) for k, v in env.items()}


def test_every_service_and_job_exists(compose: dict[str, Any]) -> None:
    assert set(services(compose)) == {*INFRA_SERVICES, *APP_SERVICES, *JOBS}


@pytest.mark.parametrize("name", INFRA_SERVICES)
def test_infrastructure_images_are_official_pinned_and_overridable(
        compose: dict[str, Any], name: str) -> None:
    variable, official = OFFICIAL[name]
    match = re.fullmatch(r"\$\{(\w+):-([^}]+)\}", services(compose)[name]["image"])
    assert match, f"{name}: image not overridable by a variable"
    assert match.group(1) == variable
    image, _, tag = match.group(2).partition(":")
    assert image == official and re.search(r"\d+\.\d+", tag), f"{name}: {tag!r} not pinned"


def test_every_host_port_binds_to_127_0_0_1_unless_told(compose: dict[str, Any]) -> None:
    ports = [(n, str(p)) for n, s in services(compose).items() for p in s.get("ports", [])]
    assert ports
    for name, port in ports:
        if port.endswith(LOOPBACK_ONLY):
            assert port.startswith("127.0.0.1:"), (name, port)
        else:
            assert port.startswith("${CITES_BIND:-127.0.0.1}:"), (name, port)


@pytest.mark.parametrize("name", [*INFRA_SERVICES, *APP_SERVICES])
def test_long_running_containers_restart_have_memory_limits_health_and_log_rotation(
        compose: dict[str, Any], name: str) -> None:
    svc = services(compose)[name]
    assert svc["restart"] == "unless-stopped"
    assert svc["deploy"]["resources"]["limits"]["memory"]
    assert svc["logging"]["options"]["max-size"]
    assert svc["healthcheck"]["test"] and not svc["healthcheck"].get("disable")


@pytest.mark.parametrize("name", JOBS)
def test_jobs_run_once_with_limits_and_log_rotation(compose: dict[str, Any], name: str) -> None:
    svc = services(compose)[name]
    assert svc["restart"] == "no"
    assert svc["deploy"]["resources"]["limits"]["memory"]
    assert svc["logging"]["options"]["max-size"]


def test_no_secret_is_written_in_the_compose_file(compose: dict[str, Any]) -> None:
    """Passwords come from .env (`${VAR:?…}`: compose refuses to start without them) and
    the tokens from a file mounted as a secret; no literal password, no inline token."""
    every = services(compose)
    assert every["postgres"]["environment"]["POSTGRES_PASSWORD"].startswith(
        "${POSTGRES_PASSWORD:?")
    for name, svc in every.items():
        for key, value in env_of(svc).items():
            assert not key.endswith("_TOKENS"), (name, key)
            if "://" in value and "@" in value:
                password = urlsplit(resolved(value)).password or ""
                assert re.fullmatch(r"<\w+_PASSWORD>", password), (name, key)
    assert compose["secrets"]["tokens"]["file"].startswith("${CITES_TOKENS_FILE:-")


def test_env_example_names_every_required_variable(compose: dict[str, Any]) -> None:
    lines = [line for line in COMPOSE_FILE.read_text().splitlines()
             if not line.lstrip().startswith("#")]
    required = set(re.findall(r"\$\{(\w+):\?", "\n".join(lines)))
    example = (REPO / ".env.example").read_text()
    given = set(re.findall(r"^(\w+)=", example, re.MULTILINE))
    assert required and required <= given, required - given
    assert all("dev" in line for line in example.splitlines()
               if re.match(r"^\w+_PASSWORD=", line)), "example passwords say they are dev"


def test_every_image_is_built_by_one_service_only(compose: dict[str, Any]) -> None:
    built = [s["image"] for s in services(compose).values() if "build" in s]
    assert len(built) == len(set(built)) == len(APP_SERVICES) + 1  # the services + tools
    used = {s["image"] for s in services(compose).values()}
    assert {s["image"] for n, s in services(compose).items() if n in JOBS} <= set(built) | used


@pytest.mark.parametrize("name", APP_SERVICES)
def test_each_service_waits_for_its_migration_job_and_gets_its_tokens_as_a_file(
        compose: dict[str, Any], name: str) -> None:
    every = services(compose)
    svc, job = every[name], every[f"{name}-migrate"]
    assert job["command"] == ["python", "-m", name, "migrate"]
    assert job["image"] == svc["image"]
    assert job["depends_on"]["db-init"]["condition"] == "service_completed_successfully"
    assert svc["depends_on"][f"{name}-migrate"]["condition"] == "service_completed_successfully"
    assert svc["depends_on"]["kafka-init"]["condition"] == "service_completed_successfully"
    assert svc["depends_on"]["kafka"]["condition"] == "service_healthy"
    assert "command" not in svc  # the image's: serve, never migrate
    assert svc["build"]["args"]["SERVICE"] == name
    assert svc["secrets"] == [{"source": "tokens", "target": f"{name}_tokens"}]
    env, prefix = env_of(svc), name.upper()
    assert env["CITES_SECRETS_DIR"] == "/run/secrets"
    url = urlsplit(resolved(env[f"{prefix}_DATABASE_URL"]))
    assert (url.username, url.hostname, url.port, url.path) == (name, "postgres", 5432, "/cites")
    assert env[f"{prefix}_DB_SCHEMA"] == name
    assert env[f"{prefix}_KAFKA_BOOTSTRAP_SERVERS"] == "kafka:9092"
    # its own principal, whose password the kafka-init job set
    assert env[f"{prefix}_KAFKA_USERNAME"] == name
    assert resolved(env[f"{prefix}_KAFKA_PASSWORD"]) == f"<{prefix}_KAFKA_PASSWORD>"
    assert resolved(env_of(every["kafka-init"])[f"{prefix}_KAFKA_PASSWORD"]) == \
        f"<{prefix}_KAFKA_PASSWORD>"
    assert env[f"{prefix}_HTTP_PORT"] == "8000"
    # Probes, /metrics and the documents on the ops port: the API port answers none of
    # them, and the ops port is published on this machine's loopback only.
    assert env[f"{prefix}_OPS_PORT"] == "9000"
    assert "127.0.0.1:9000/health/ready" in str(svc["healthcheck"]["test"])
    assert [p for p in svc["ports"] if str(p).endswith(":9000")] == [
        f"127.0.0.1:{9001 + APP_SERVICES.index(name)}:9000"]
    # A development stack, said so: its static tokens are refused in production.
    assert (env[f"{prefix}_ENVIRONMENT"], env[f"{prefix}_AUTH_MODE"]) == ("development",
                                                                          "static")


def test_roles_and_schemas_come_from_a_job_over_sql(compose: dict[str, Any]) -> None:
    every = services(compose)
    init = every["db-init"]
    assert init["command"] == ["python", "-m", "cites_runtime.provision"]
    assert env_of(init)["CITES_SERVICES"].split(",") == list(APP_SERVICES)
    assert init["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert "volumes" not in every["postgres"] or not any(
        "docker-entrypoint-initdb.d" in str(v) for v in every["postgres"]["volumes"])


def test_app_services_publish_distinct_ports(compose: dict[str, Any]) -> None:
    published = [str(services(compose)[n]["ports"][0]).split(":")[-2] for n in APP_SERVICES]
    assert published == ["8001", "8002", "8003", "8004", "8005"]


def test_the_dashboard_probes_every_other_service_inside_the_network(
        compose: dict[str, Any]) -> None:
    probed = json.loads(env_of(services(compose)["dashboard"])["DASHBOARD_SERVICES"])
    assert probed == {name: f"http://{name}:9000" for name in APP_SERVICES
                      if name != "dashboard"}


def test_notifications_reaches_the_smtp_sink(compose: dict[str, Any]) -> None:
    env = env_of(services(compose)["notifications"])
    assert (env["NOTIFICATIONS_SMTP_HOST"], env["NOTIFICATIONS_SMTP_PORT"]) == ("mailpit", "1025")


@pytest.mark.parametrize("name", APP_SERVICES)
def test_every_service_exports_its_spans_to_jaeger_inside_the_network(
        compose: dict[str, Any], name: str) -> None:
    assert env_of(services(compose)[name])["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://jaeger:4318"


def test_jaeger_publishes_its_query_api_and_ui_only(compose: dict[str, Any]) -> None:
    jaeger = services(compose)["jaeger"]
    assert [resolved(str(port)) for port in jaeger["ports"]] == ["127.0.0.1:16686:16686"]
    assert "13133/status" in " ".join(jaeger["healthcheck"]["test"])


def test_prometheus_runs_in_the_observability_profile_alone_with_the_repositorys_files(
        compose: dict[str, Any]) -> None:
    """`docker compose up` without the profile starts what it always did; with it,
    Prometheus reads deploy/observability/prometheus (its configuration and the rules)
    and publishes its HTTP API on this machine only."""
    every = services(compose)
    prometheus = every["prometheus"]
    assert {n: s["profiles"] for n, s in every.items() if "profiles" in s} == {
        "prometheus": ["observability"]}
    assert "./deploy/observability/prometheus:/etc/prometheus:ro" in prometheus["volumes"]
    assert "--config.file=/etc/prometheus/prometheus.yml" in prometheus["command"]
    assert [resolved(str(port)) for port in prometheus["ports"]] == ["127.0.0.1:9090:9090"]
    assert "9090/-/ready" in " ".join(prometheus["healthcheck"]["test"])


def test_prometheus_scrapes_every_services_ops_port_inside_the_network(
        compose: dict[str, Any]) -> None:
    config = yaml.safe_load((REPO / "deploy/observability/prometheus/prometheus.yml")
                            .read_text())
    (job,) = config["scrape_configs"]
    (static,) = job["static_configs"]
    assert config["rule_files"] == ["rules.yml"]
    assert job["job_name"] == "cites"  # the job the rules select (ServiceDown)
    assert static["targets"] == [f"{name}:9000" for name in APP_SERVICES]
    assert all(env_of(services(compose)[name])[f"{name.upper()}_OPS_PORT"] == "9000"
               for name in APP_SERVICES)


def test_kafka_is_a_single_kraft_node_and_creates_no_topic_itself(
        compose: dict[str, Any]) -> None:
    every = services(compose)
    env = env_of(every["kafka"])
    assert set(env["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    assert env["KAFKA_CONTROLLER_QUORUM_VOTERS"] == f"{env['KAFKA_NODE_ID']}@kafka:9093"
    assert "CLIENT://kafka:9092" in env["KAFKA_ADVERTISED_LISTENERS"]
    assert env["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"
    assert "kafka-broker-api-versions.sh" in str(every["kafka"]["healthcheck"]["test"])
    init = every["kafka-init"]
    assert "python -m cites_runtime.kafka_admin provision --require-passwords" in " ".join(
        init["command"])
    assert init["depends_on"]["kafka"]["condition"] == "service_healthy"


def test_every_kafka_listener_authenticates_as_natively(compose: dict[str, Any]) -> None:
    """The broker's security settings are broker_security's, as the launcher and the
    tests' containers write them: SASL on every listener, the authoriser on, no ACL no
    access, the administrator's password from .env."""
    from cites_runtime.kafka_admin import broker_security
    from cites_runtime.testing.containers import _kafka_variable

    env = env_of(services(compose)["kafka"])
    listeners = dict(pair.split(":") for pair in
                     env["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"].split(","))
    assert set(listeners.values()) == {"SASL_PLAINTEXT"}
    names = [n for n in listeners if n != env["KAFKA_CONTROLLER_LISTENER_NAMES"]]
    wanted = {_kafka_variable(k): v for k, v in broker_security(
        names, "<KAFKA_ADMIN_PASSWORD>").items()}
    assert {k: resolved(env[k]) for k in wanted if k in env} == wanted
    assert env["KAFKA_ALLOW_EVERYONE_IF_NO_ACL_FOUND"] == "false"


def test_dockerfile_shape() -> None:
    text = (REPO / "deploy/Dockerfile").read_text()
    assert re.search(r"^ARG PYTHON_IMAGE=python:3\.11\.\d+-slim", text, re.MULTILINE)
    assert re.search(r"^FROM base AS tools$", text, re.MULTILINE)
    assert "pip install -c constraints.txt" in text
    assert "HEALTHCHECK" in text and "/health/ready" in text
    assert re.search(r"^USER (?!root)\S+", text, re.MULTILINE), "the image must not run as root"


def test_the_build_context_leaves_out_what_the_images_do_not_need() -> None:
    ignored = (REPO / ".dockerignore").read_text().split()
    for path in (".venv", ".local", ".git", "tools/promtool/bin"):
        assert any(p.strip("/") == path for p in ignored), path
