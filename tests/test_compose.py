"""Structural checks of docker-compose.yml and deploy/Dockerfile.

No Docker engine runs on the development machines, so the compose file is parsed and
checked here; when a `docker compose` plugin is installed, `docker compose config -q`
validates it too (that works without an engine).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
COMPOSE_FILE = REPO / "docker-compose.yml"
APP_SERVICES = ("labelling", "partners", "funding", "notifications", "dashboard")
INFRA_SERVICES = ("kafka", "postgres", "mailpit")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE_FILE.read_text())
    assert isinstance(data, dict)
    return data


def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    result = compose["services"]
    assert isinstance(result, dict)
    return result


def env_of(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):  # the "KEY=value" list form
        env = dict(item.split("=", 1) for item in env)
    return {str(k): str(v) for k, v in env.items()}


def test_all_services_exist(compose: dict[str, Any]) -> None:
    assert set(INFRA_SERVICES) | set(APP_SERVICES) <= set(services(compose))


@pytest.mark.parametrize("name", INFRA_SERVICES + APP_SERVICES)
def test_every_service_has_a_healthcheck(compose: dict[str, Any], name: str) -> None:
    check = services(compose)[name].get("healthcheck")
    assert check, f"{name} has no healthcheck"
    assert not check.get("disable", False)
    assert check.get("test"), f"{name}'s healthcheck has no test"


def test_kafka_is_a_single_kraft_node(compose: dict[str, Any]) -> None:
    kafka = services(compose)["kafka"]
    assert kafka["image"].startswith("apache/kafka:4.")
    env = env_of(kafka)
    assert set(env["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    assert env["KAFKA_CONTROLLER_QUORUM_VOTERS"] == f"{env['KAFKA_NODE_ID']}@kafka:9093"
    assert "PLAINTEXT://kafka:9092" in env["KAFKA_ADVERTISED_LISTENERS"]
    for key in ("KAFKA_LISTENERS", "KAFKA_CONTROLLER_LISTENER_NAMES"):
        assert env[key]
    for key in (
        "KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR",
        "KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR",
        "KAFKA_TRANSACTION_STATE_LOG_MIN_ISR",
    ):
        assert env[key] == "1", key
    assert "kafka-broker-api-versions.sh" in str(kafka["healthcheck"]["test"])


def test_postgres_mounts_init_sql(compose: dict[str, Any]) -> None:
    pg = services(compose)["postgres"]
    assert env_of(pg)["POSTGRES_DB"] == "cites"
    assert "pg_isready" in str(pg["healthcheck"]["test"])
    mounts = [str(v).split(":") for v in pg.get("volumes", [])]
    init = [m for m in mounts if m[0] == "./deploy/postgres/init.sql"]
    assert init, "deploy/postgres/init.sql is not mounted"
    assert init[0][1].startswith("/docker-entrypoint-initdb.d/")
    assert (REPO / "deploy/postgres/init.sql").is_file()


def test_init_sql_creates_a_role_and_schema_per_service() -> None:
    sql = (REPO / "deploy/postgres/init.sql").read_text()
    match = re.search(r"ARRAY\[([^\]]*)\]", sql)
    assert match, "init.sql should list the services in an ARRAY[...]"
    listed = re.findall(r"'([a-z_]+)'", match.group(1))
    assert sorted(listed) == sorted(APP_SERVICES)
    for statement in (
        "CREATE ROLE %I LOGIN",
        "CREATE SCHEMA IF NOT EXISTS %I AUTHORIZATION %I",
        "SET search_path = %I",
        "REVOKE ALL ON SCHEMA public FROM PUBLIC",
    ):
        assert statement in sql, statement


@pytest.mark.parametrize("name", APP_SERVICES)
def test_app_service_wiring(compose: dict[str, Any], name: str) -> None:
    svc = services(compose)[name]
    depends = svc["depends_on"]
    for infra in ("kafka", "postgres"):
        assert depends[infra]["condition"] == "service_healthy", (name, infra)

    build = svc["build"]
    assert build["context"] == "."
    assert build["args"]["SERVICE"] == name
    dockerfile = REPO / build["dockerfile"]
    assert dockerfile.is_file()
    assert re.search(r"^ARG SERVICE\b", dockerfile.read_text(), re.MULTILINE)

    command = " ".join(svc["command"]) if isinstance(svc["command"], list) else svc["command"]
    assert f"python -m {name} migrate" in command
    assert command.index(f"python -m {name} migrate") < command.rindex(f"python -m {name}")

    env, prefix = env_of(svc), name.upper()
    url = urlsplit(env[f"{prefix}_DATABASE_URL"])
    assert (url.username, url.password) == (name, name)
    assert (url.hostname, url.port, url.path) == ("postgres", 5432, "/cites")
    assert env[f"{prefix}_DB_SCHEMA"] == name
    assert env[f"{prefix}_KAFKA_BOOTSTRAP_SERVERS"] == "kafka:9092"
    assert env[f"{prefix}_HTTP_PORT"] == "8000"
    assert "/health/ready" in str(svc["healthcheck"]["test"])


def test_app_services_publish_distinct_ports(compose: dict[str, Any]) -> None:
    published = [str(services(compose)[n]["ports"][0]).split(":")[0] for n in APP_SERVICES]
    assert published == ["8001", "8002", "8003", "8004", "8005"]


def test_the_dashboard_probes_every_other_service_inside_the_network(
        compose: dict[str, Any]) -> None:
    probed = json.loads(env_of(services(compose)["dashboard"])["DASHBOARD_SERVICES"])
    assert probed == {name: f"http://{name}:8000" for name in APP_SERVICES
                      if name != "dashboard"}


def test_notifications_reaches_the_smtp_sink(compose: dict[str, Any]) -> None:
    env = env_of(services(compose)["notifications"])
    assert (env["NOTIFICATIONS_SMTP_HOST"], env["NOTIFICATIONS_SMTP_PORT"]) == ("mailpit", "1025")


@pytest.mark.parametrize("name", APP_SERVICES)
def test_only_services_that_exist_start_by_default(compose: dict[str, Any], name: str) -> None:
    # `docker compose up` must build: a service whose code has not landed stays in a profile.
    exists = (REPO / "services" / name / "pyproject.toml").exists()
    profiles = compose["services"][name].get("profiles", [])
    assert (profiles == []) is exists, f"{name}: exists={exists}, profiles={profiles}"


@pytest.mark.parametrize("name", APP_SERVICES)
def test_app_services_get_the_dev_tokens(compose: dict[str, Any], name: str) -> None:
    tokens = json.loads(env_of(compose["services"][name])[f"{name.upper()}_TOKENS"])
    assert tokens == json.loads((REPO / "deploy" / "local" / "dev-tokens.json").read_text())


def test_dockerfile_shape() -> None:
    text = (REPO / "deploy/Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11-slim|^ARG PYTHON_IMAGE=python:3\.11-slim", text, re.M)
    assert "pip install -c constraints.txt" in text
    assert "HEALTHCHECK" in text
    assert "/health/ready" in text
    assert re.search(r"^USER (?!root)\S+", text, re.MULTILINE), "the image must not run as root"


def _docker_compose_available() -> bool:
    if not shutil.which("docker"):
        return False
    probe = subprocess.run(["docker", "compose", "version"], capture_output=True, timeout=30)
    return probe.returncode == 0


@pytest.mark.skipif(not _docker_compose_available(), reason="no `docker compose` plugin")
def test_docker_compose_config_validates() -> None:
    result = subprocess.run(
        ["docker", "compose", "-f", str(COMPOSE_FILE), "config", "-q"],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr


def test_topics_are_provisioned_before_the_services_and_never_auto_created(
    compose: dict[str, Any],
) -> None:
    every = services(compose)
    assert env_of(every["kafka"])["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"
    topics = every["topics"]
    command = " ".join(topics["command"])
    assert "python -m cites_contracts.topics apply --bootstrap kafka:9092" in command
    assert topics["depends_on"]["kafka"]["condition"] == "service_healthy"
    assert topics.get("restart") == "no"
    for name in APP_SERVICES:
        assert every[name]["depends_on"]["topics"]["condition"] == (
            "service_completed_successfully"), name
