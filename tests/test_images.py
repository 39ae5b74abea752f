"""The stand-in images of deploy/images do what the compose file and testcontainers rely on
the official ones for: each is run on the Docker engine and used from this machine as a
service would use it. The images are built first when missing (deploy/images/build.py, as
`make images`: seconds when the engine has them). No engine answering is a failure, not a skip.
"""

from __future__ import annotations

import asyncio
import shlex
import smtplib
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import asyncpg
import docker
import httpx
import pytest
import yaml
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from docker.models.containers import Container

from cites_contracts.access import KafkaAccess
from cites_runtime.kafka_admin import ADMIN, broker_security

# the first test may build the images (a few minutes from nothing)
pytestmark = [pytest.mark.integration, pytest.mark.docker, pytest.mark.timeout(900)]

REPO = Path(__file__).resolve().parents[1]
PYTHON = "cites-local/python:3.11-bookworm"
KAFKA = "cites-local/kafka:4.1.1"
POSTGRES = "cites-local/postgres:15"
MAILPIT = "cites-local/mailpit:v1.27.11"
JAEGER = "cites-local/jaeger:2.12.0"
PROMETHEUS = "cites-local/prometheus:v3.16.0"


@pytest.fixture(scope="module")
def engine() -> docker.DockerClient:
    try:
        client = docker.from_env()
        client.ping()
        problem = None
    except docker.errors.DockerException as exc:
        problem = f"no Docker engine answers ({exc}): start one, as root `dockerd &`"
    if problem:
        pytest.fail(problem, pytrace=False)
    built = subprocess.run([sys.executable, str(REPO / "deploy/images/build.py"), "images"])
    if built.returncode != 0:
        pytest.fail("deploy/images/build.py could not build the stand-ins: see above", False)
    return client


@pytest.fixture
def run(engine: docker.DockerClient) -> Iterator[Callable[..., Container]]:
    """Start a container (detached, named for this test); removed with its volumes after."""
    started: list[Container] = []

    def start(image: str, **options: Any) -> Container:
        name = f"cites-images-test-{uuid.uuid4().hex[:8]}"
        container = engine.containers.run(image, name=name, detach=True, **options)
        started.append(container)
        return container

    yield start
    for container in started:
        container.remove(force=True, v=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def host_port(container: Container, port: str) -> int:
    container.reload()
    return int(container.ports[port][0]["HostPort"])


def wait_exec(container: Container, cmd: list[str], timeout: float = 90) -> str:
    """Run `cmd` in the container until it exits 0 (as a health check is run); its output."""
    deadline = time.monotonic() + timeout
    while True:
        code, output = container.exec_run(cmd)
        if code == 0:
            return str(output.decode(errors="replace"))
        container.reload()
        if container.status != "running" or time.monotonic() > deadline:
            logs = container.logs(tail=30).decode(errors="replace")
            pytest.fail(f"{cmd} never succeeded ({container.status}): {output!r}\n{logs}")
        time.sleep(1)


def test_python_image_makes_a_virtualenv_with_pip_as_the_service_dockerfile_does(
    run: Callable[..., Container],
) -> None:
    script = (
        "python -m venv /tmp/venv && /tmp/venv/bin/python -m pip --version && command -v useradd"
    )
    container = run(PYTHON, command=["sh", "-c", script])

    assert container.wait(timeout=120)["StatusCode"] == 0, container.logs().decode()
    output = container.logs().decode()
    assert "pip " in output and "python 3.11" in output and "/useradd" in output


def test_kafka_answers_its_health_check_and_a_record_round_trips_through_the_host_listener(
    run: Callable[..., Container],
) -> None:
    port, password = free_port(), "images-test-admin"
    settings = {  # as docker-compose.yml's kafka service, the host listener on a free port
        "CLUSTER_ID": "Th3Co6r3SO2vb2LB6vIVhQ",
        "KAFKA_NODE_ID": "1",
        "KAFKA_PROCESS_ROLES": "broker,controller",
        "KAFKA_LISTENERS": f"CLIENT://:9092,CONTROLLER://:9093,HOST://:{port}",
        "KAFKA_ADVERTISED_LISTENERS": f"CLIENT://kafka:9092,HOST://127.0.0.1:{port}",
        "KAFKA_LISTENER_SECURITY_PROTOCOL_MAP": (
            "CONTROLLER:SASL_PLAINTEXT,CLIENT:SASL_PLAINTEXT,HOST:SASL_PLAINTEXT"
        ),
        "KAFKA_CONTROLLER_LISTENER_NAMES": "CONTROLLER",
        "KAFKA_INTER_BROKER_LISTENER_NAME": "CLIENT",
        "KAFKA_CONTROLLER_QUORUM_VOTERS": "1@kafka:9093",
        "KAFKA_LOG_DIRS": "/var/lib/kafka/data",
        "KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR": "1",
        "KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR": "1",
        "KAFKA_TRANSACTION_STATE_LOG_MIN_ISR": "1",
        "KAFKA_SHARE_COORDINATOR_STATE_TOPIC_REPLICATION_FACTOR": "1",
        "KAFKA_SHARE_COORDINATOR_STATE_TOPIC_MIN_ISR": "1",
        "KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS": "0",
        "KAFKA_AUTO_CREATE_TOPICS_ENABLE": "false",
        "KAFKA_HEAP_OPTS": "-Xmx512m -Xms128m",
        # every listener authenticates, the authoriser denies what no ACL allows
        **{"KAFKA_" + k.replace("_", "__").replace("-", "___").replace(".", "_").upper(): v
           for k, v in broker_security(["CLIENT", "HOST"], password).items()},
    }
    kafka = run(
        KAFKA, hostname="kafka", environment=settings, ports={f"{port}/tcp": ("127.0.0.1", port)}
    )
    # Kafka's own tools as the administrator (PLAIN), as compose's healthcheck runs them.
    probe = ("security.protocol=SASL_PLAINTEXT\nsasl.mechanism=PLAIN\n"
             "sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule "
             f'required username="{ADMIN}" password="{password}";\n')
    health = (f"printf '%s' {shlex.quote(probe)} > /tmp/probe.properties && "
              "/opt/kafka/bin/kafka-broker-api-versions.sh --bootstrap-server localhost:9092 "
              "--command-config /tmp/probe.properties")

    wait_exec(kafka, ["sh", "-c", health])
    access = KafkaAccess(f"127.0.0.1:{port}", ADMIN, password, "PLAIN")
    assert asyncio.run(round_trip(access, "images-test")) == (b"dossier-1", b"label")
    kafka.stop(timeout=60)

    assert kafka.wait(timeout=10)["StatusCode"] == 143  # the JVM ended on SIGTERM, not killed
    kafka.start()  # the data volume is formatted already: kept, not formatted again
    wait_exec(kafka, ["sh", "-c", health])
    topics = wait_exec(
        kafka, ["/opt/kafka/bin/kafka-topics.sh", "--bootstrap-server", "localhost:9092",
                "--command-config", "/tmp/probe.properties", "--list"]
    )
    assert "images-test" in topics.split()
    assert "already formatted" in kafka.logs().decode()


async def round_trip(access: KafkaAccess, topic: str) -> tuple[bytes | None, bytes | None]:
    admin = AIOKafkaAdminClient(**access.client_kwargs())
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, 3, 1)])
    finally:
        await admin.close()
    producer = AIOKafkaProducer(**access.client_kwargs())
    await producer.start()
    try:
        await producer.send_and_wait(topic, b"label", key=b"dossier-1")
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(topic, **access.client_kwargs(), auto_offset_reset="earliest")
    await consumer.start()
    try:
        record = await asyncio.wait_for(consumer.getone(), 30)
    finally:
        await consumer.stop()
    return record.key, record.value


def test_postgres_initialises_from_postgres_variables_and_takes_command_line_settings(
    run: Callable[..., Container],
    tmp_path: Path,
) -> None:
    init = tmp_path / "10-roles.sql"
    init.write_text("CREATE ROLE labelling LOGIN PASSWORD 'labelling-pw';\n")
    init.chmod(0o644)
    postgres = run(
        POSTGRES,
        command=["postgres", "-c", "max_connections=300"],
        environment={
            "POSTGRES_DB": "cites",
            "POSTGRES_USER": "admin",
            "POSTGRES_PASSWORD": "admin-pw",
            "POSTGRES_INITDB_ARGS": "--auth-host=scram-sha-256",
        },
        volumes={str(init): {"bind": "/docker-entrypoint-initdb.d/10-roles.sql", "mode": "ro"}},
        ports={"5432/tcp": ("127.0.0.1", None)},
    )

    wait_exec(
        postgres, ["pg_isready", "-U", "admin", "-d", "cites", "-h", "127.0.0.1"]
    )  # compose's
    wait_exec(
        postgres,
        [
            "sh",
            "-c",
            "PGPASSWORD=admin-pw psql --username admin --dbname cites "
            "--host 127.0.0.1 -c 'select version();'",
        ],
    )  # testcontainers' wait
    port = host_port(postgres, "5432/tcp")
    settings = asyncio.run(read_settings(f"postgresql://admin:admin-pw@127.0.0.1:{port}/cites"))
    assert settings == ("300", "cites", "scram-sha-256")
    assert (
        asyncio.run(read_user(f"postgresql://labelling:labelling-pw@127.0.0.1:{port}/cites"))
        == "labelling"
    )
    with pytest.raises(asyncpg.InvalidPasswordError):
        asyncio.run(read_user(f"postgresql://admin:wrong@127.0.0.1:{port}/cites"))
    postgres.stop(timeout=30)

    assert postgres.wait(timeout=10)["StatusCode"] == 0  # a fast shutdown, not a kill
    assert "database system is shut down" in postgres.logs(tail=5).decode()


async def read_settings(dsn: str) -> tuple[str, str, str]:
    connection = await asyncpg.connect(dsn)
    try:
        row = await connection.fetchrow(
            "SELECT current_setting('max_connections'), current_database(), "
            "current_setting('password_encryption')"
        )
    finally:
        await connection.close()
    assert row is not None
    return row[0], row[1], row[2]


async def read_user(dsn: str) -> str:
    connection = await asyncpg.connect(dsn)
    try:
        return str(await connection.fetchval("SELECT current_user"))
    finally:
        await connection.close()


def test_mailpit_keeps_a_message_sent_over_smtp_and_shows_it_in_its_api_and_inbox(
    run: Callable[..., Container],
) -> None:
    mailpit = run(
        MAILPIT,
        environment={
            "MP_SMTP_AUTH_ACCEPT_ANY": "1",
            "MP_SMTP_AUTH_ALLOW_INSECURE": "1",
            "MP_MAX_MESSAGES": "5000",
        },
        ports={"1025/tcp": ("127.0.0.1", None), "8025/tcp": ("127.0.0.1", None)},
    )
    wait_exec(mailpit, ["/mailpit", "readyz"])  # compose's health check
    assert "accessible via" in mailpit.logs().decode()  # testcontainers' wait
    message = EmailMessage()
    message["From"], message["To"] = "cite@example.org", "prefecture-93@example.org"
    message["Subject"] = "Labellisation de la cité"
    message.set_content("La candidature est labellisée.")

    with smtplib.SMTP("127.0.0.1", host_port(mailpit, "1025/tcp"), timeout=10) as smtp:
        smtp.login("notifications", "any")
        smtp.send_message(message)

    web = f"http://127.0.0.1:{host_port(mailpit, '8025/tcp')}"
    listed = httpx.get(f"{web}/api/v1/messages", timeout=10).json()
    assert [m["Subject"] for m in listed["messages"]] == ["Labellisation de la cité"]
    inbox, bundle = httpx.get(f"{web}/", timeout=10), httpx.get(f"{web}/dist/app.js", timeout=10)
    assert inbox.status_code == 200 and "Mailpit" in inbox.text
    assert bundle.status_code == 200 and len(bundle.content) > 100_000  # the web UI was built


def test_jaeger_stores_a_span_sent_over_otlp_and_serves_it_from_its_query_api(
    run: Callable[..., Container],
) -> None:
    jaeger = run(JAEGER, ports={"4318/tcp": ("127.0.0.1", None),
                                "16686/tcp": ("127.0.0.1", None)})
    wait_exec(jaeger, ["wget", "-q", "-O", "/dev/null", "http://127.0.0.1:13133/status"])
    trace_id, span_id = uuid.uuid4().hex, uuid.uuid4().hex[:16]
    now = time.time_ns()
    span = {"traceId": trace_id, "spanId": span_id, "name": "handle LabelGranted", "kind": 5,
            "startTimeUnixNano": str(now - 5_000_000), "endTimeUnixNano": str(now)}
    service = {"key": "service.name", "value": {"stringValue": "labelling"}}
    body = {"resourceSpans": [{"resource": {"attributes": [service]},
                               "scopeSpans": [{"scope": {"name": "test"}, "spans": [span]}]}]}

    sent = httpx.post(f"http://127.0.0.1:{host_port(jaeger, '4318/tcp')}/v1/traces",
                      json=body, timeout=10)

    assert sent.status_code == 200, sent.text
    query = f"http://127.0.0.1:{host_port(jaeger, '16686/tcp')}"
    deadline = time.monotonic() + 20
    while (answer := httpx.get(f"{query}/api/traces/{trace_id}", timeout=10)).status_code != 200:
        assert time.monotonic() < deadline, answer.text
        time.sleep(0.2)
    [trace] = answer.json()["data"]
    assert [(s["spanID"], s["operationName"]) for s in trace["spans"]] == [
        (span_id, "handle LabelGranted")]
    assert [p["serviceName"] for p in trace["processes"].values()] == ["labelling"]
    assert jaeger.attrs["Config"]["User"] == "10001"  # as upstream's image


def test_prometheus_loads_the_platforms_rules_as_compose_mounts_them_and_answers_its_api(
    run: Callable[..., Container],
) -> None:
    """As the compose file's `observability` profile runs it: deploy/observability/prometheus
    mounted read-only on /etc/prometheus, the image's own arguments."""
    prometheus = run(PROMETHEUS, ports={"9090/tcp": ("127.0.0.1", None)}, volumes={
        str(REPO / "deploy/observability/prometheus"): {"bind": "/etc/prometheus", "mode": "ro"}})
    wait_exec(prometheus, ["wget", "-q", "-O", "/dev/null", "http://127.0.0.1:9090/-/ready"])
    api = f"http://127.0.0.1:{host_port(prometheus, '9090/tcp')}/api/v1"
    rules_file = yaml.safe_load((REPO / "deploy/observability/prometheus/rules.yml").read_text())

    loaded = httpx.get(f"{api}/rules", timeout=10).json()["data"]["groups"]
    build = httpx.get(f"{api}/status/buildinfo", timeout=10).json()["data"]
    checked = prometheus.exec_run(["promtool", "check", "rules", "/etc/prometheus/rules.yml"])

    assert sorted(g["name"] for g in loaded) == sorted(g["name"] for g in rules_file["groups"])
    assert build["version"] == "3.16.0"
    assert checked.exit_code == 0, checked.output.decode(errors="replace")
    assert prometheus.attrs["Config"]["User"] == "nobody"  # as upstream's image
