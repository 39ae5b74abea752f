"""The Docker path of the test infrastructure (testcontainers): PostgreSQL, Kafka in KRaft
mode, Mailpit and Jaeger, each in a container of this session.

Images come from ``CITES_POSTGRES_IMAGE``, ``CITES_KAFKA_IMAGE``, ``CITES_MAILPIT_IMAGE``
and ``CITES_JAEGER_IMAGE``, by default the official pinned ones. An official image the engine
lacks is pulled; where no registry answers, the stand-in that ``make images`` builds under
our own name (``cites-local/...``) is used; with neither, :class:`InfraUnavailable` says so
in one line.

Kafka runs in a generic container configured only through the image's documented
``KAFKA_*`` variables (one node, broker and controller). Its listener for the tests must be
advertised as the host address and port the tests dial, known before the broker starts:
so that host port is chosen free beforehand and bound, not left to Docker. The broker is
ready once it describes its cluster and creates a topic through that advertised address.
PostgreSQL's host port is fixed the same way: a fault test really stops a container and
starts it again (:class:`Server`), and it must come back on the same address.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import os
import secrets
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker
import docker.errors
import httpx
from docker.utils import parse_repository_tag
from testcontainers.community.postgres import PostgresContainer
from testcontainers.core.config import ConnectionMode, testcontainers_config
from testcontainers.core.container import DockerContainer
from testcontainers.core.docker_client import DockerClient

from cites_contracts.access import KafkaAccess

from ..kafka_admin import ADMIN, broker_answers, broker_security
from .infra import InfraUnavailable

__all__ = [
    "JAEGER",
    "KAFKA",
    "MAILPIT",
    "POSTGRES",
    "Image",
    "Reach",
    "Server",
    "kafka_env",
    "resolve_image",
    "start_jaeger",
    "start_kafka",
    "start_mailpit",
    "start_postgres",
]


@dataclass(frozen=True)
class Image:
    what: str
    variable: str
    official: str
    stand_in: str


POSTGRES = Image("PostgreSQL", "CITES_POSTGRES_IMAGE", "postgres:16.10-bookworm",
                 "cites-local/postgres:15")
KAFKA = Image("Kafka", "CITES_KAFKA_IMAGE", "apache/kafka:4.1.1", "cites-local/kafka:4.1.1")
MAILPIT = Image("Mailpit", "CITES_MAILPIT_IMAGE", "axllent/mailpit:v1.27.11",
                "cites-local/mailpit:v1.27.11")
JAEGER = Image("Jaeger", "CITES_JAEGER_IMAGE", "jaegertracing/jaeger:2.12.0",
               "cites-local/jaeger:2.12.0")

OWNER = "org.cites-educatives.tests.owner"
"""Label on every container of a session: ``<hostname>/<pid>`` of the pytest that made it."""

PG_SETTINGS = ("max_connections=300", "fsync=off", "synchronous_commit=off",
               "full_page_writes=off")
"""As the native launcher's throwaway cluster: many pools, no durability needed."""

KAFKA_TEMPLATE = Path("deploy/local/kafka/server.properties.template")
KAFKA_SINGLE_NODE = {
    "num.partitions": "3",
    "default.replication.factor": "1",
    "min.insync.replicas": "1",
    "offsets.topic.replication.factor": "1",
    "transaction.state.log.replication.factor": "1",
    "transaction.state.log.min.isr": "1",
    "share.coordinator.state.topic.replication.factor": "1",
    "share.coordinator.state.topic.min.isr": "1",
    "group.initial.rebalance.delay.ms": "0",
    "auto.create.topics.enable": "false",
}
"""What a one-node cluster needs; the rest of the native launcher's broker settings are
added from its template when the repository is at hand, so both paths run one broker."""
LISTENER_KEYS = {"process.roles", "node.id", "controller.quorum.voters", "listeners",
                 "advertised.listeners", "controller.listener.names",
                 "inter.broker.listener.name", "listener.security.protocol.map", "log.dirs"}


def say(message: str) -> None:
    print(f"\n[cites] {message}", flush=True)


# -- images ------------------------------------------------------------------------------
def resolve_image(client: docker.DockerClient, image: Image) -> str:
    """The image to run for ``image``: the one its variable names (default: the official
    one) if the engine has it or can pull it; else, for the official one, our stand-in if
    the engine has it. Raises :class:`InfraUnavailable` naming what is missing."""
    chosen = os.environ.get(image.variable) or image.official
    if _present(client, chosen):
        return chosen
    why = _pull(client, chosen)
    if why is None:
        return chosen
    if chosen == image.official:
        if _present(client, image.stand_in):
            say(f"{image.official} cannot be pulled ({why}): using the stand-in "
                f"{image.stand_in}")
            return image.stand_in
        missing = (f"this engine has neither {chosen} (cannot be pulled: {why}) nor its "
                   f"stand-in {image.stand_in}")
    else:
        missing = f"this engine lacks {image.variable}={chosen}, which cannot be pulled ({why})"
    raise InfraUnavailable(
        f"no Docker image for {image.what}: {missing}; build the stand-ins with "
        "`make images`, or use the native launcher with CITES_NO_DOCKER=1")


def _present(client: docker.DockerClient, name: str) -> bool:
    try:
        client.images.get(name)
    except docker.errors.ImageNotFound:
        return False
    return True


def _pull(client: docker.DockerClient, name: str) -> str | None:
    """None once pulled, else why not (first line of the engine's answer)."""
    repository, tag = parse_repository_tag(name)
    try:
        client.images.pull(repository, tag=tag or "latest")
    except docker.errors.APIError as exc:
        return (str(exc.explanation or exc).splitlines() or ["refused"])[0]
    return None


def without_reaper(client: docker.DockerClient) -> None:
    """testcontainers' reaper (Ryuk) removes a killed session's containers; its image must
    be had like any other. Without it, :func:`remove_abandoned` does that job at the next
    session's start."""
    if testcontainers_config.ryuk_disabled:
        return
    ryuk = testcontainers_config.ryuk_image
    if _present(client, ryuk) or _pull(client, ryuk) is None:
        return
    testcontainers_config.ryuk_disabled = True


def remove_abandoned(client: docker.DockerClient) -> None:
    """Remove the containers an earlier session on this host left (its pytest killed)."""
    host = socket.gethostname()
    for container in client.containers.list(all=True, filters={"label": OWNER}):
        owner_host, _, pid = str(container.labels.get(OWNER, "")).rpartition("/")
        if owner_host == host and pid.isdigit() and not _alive(int(pid)):
            with contextlib.suppress(docker.errors.APIError):
                container.remove(force=True, v=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# -- where the tests reach the containers -------------------------------------------------
@dataclass(frozen=True)
class Reach:
    """The host address containers' ports are published on (``bind``; empty: every
    address) and where the tests dial them (``host``; None: as testcontainers finds it
    for a started container, the gateway of its network when the tests run in a
    container beside the engine)."""

    bind: str
    host: str | None

    def dial(self, container: DockerContainer) -> str:
        return self.host or str(container.get_container_host_ip())


def reach() -> Reach:
    tc = DockerClient()
    mode = tc.get_connection_mode()
    if mode is ConnectionMode.docker_host:
        host = tc.host()
        if host in ("localhost", "127.0.0.1", "::1"):
            return Reach("127.0.0.1", "127.0.0.1")  # nothing published beyond this host
        return Reach("", host)
    if mode is ConnectionMode.gateway_ip:
        return Reach("", None)
    raise InfraUnavailable(
        f"testcontainers reaches containers by their own address here ({mode.value}), but "
        "Kafka must advertise a published port: set TESTCONTAINERS_CONNECTION_MODE to "
        "gateway_ip or docker_host, or use the native launcher with CITES_NO_DOCKER=1")


def _publish(container: DockerContainer, port: int, where: Reach, host_port: int | None = None
             ) -> None:
    # docker-py takes (address, port) where testcontainers' annotation says a port only.
    binding: Any = (where.bind, host_port) if where.bind else host_port
    container.ports[str(port)] = binding


def _owned(container: DockerContainer, **kwargs: Any) -> DockerContainer:
    return container.with_kwargs(labels={OWNER: f"{socket.gethostname()}/{os.getpid()}"},
                                 **kwargs)


def _wait(container: DockerContainer, what: str, why_not: Callable[[], str | None],
          timeout: float) -> None:
    """Poll ``why_not`` (None: ready) until ``timeout``; fail at once if the container
    exits, with the end of its log either way."""
    deadline = time.monotonic() + timeout
    while True:
        reason = why_not()
        if reason is None:
            return
        wrapped = container.get_wrapped_container()
        wrapped.reload()
        if wrapped.status in ("exited", "dead"):
            raise RuntimeError(f"{what}: the container exited\n{_log_tail(container)}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not ready within {timeout:.0f}s ({reason})\n"
                               f"{_log_tail(container)}")
        time.sleep(0.5)


def _log_tail(container: DockerContainer) -> str:
    logs: bytes = container.get_wrapped_container().logs(tail=40)
    return logs.decode("utf-8", "replace")


def _on_free_port(make: Callable[[int], DockerContainer], bind: str
                  ) -> tuple[DockerContainer, int]:
    """A container started by ``make(host_port)`` on a host port chosen free beforehand
    (a fixed port: the address stays the same when the container is stopped and started
    again, and Kafka can advertise it)."""
    for attempt in range(3):
        port = _free_port(bind)
        container = make(port)
        try:
            container.start()
        except docker.errors.APIError as exc:
            container.stop()
            taken = "already allocated" in str(exc) or "address already in use" in str(exc)
            if taken and attempt < 2:
                continue  # taken between our check and Docker's bind
            raise
        return container, port
    raise AssertionError("unreachable")


def _free_port(bind: str) -> int:
    with socket.socket() as s:
        s.bind((bind or "0.0.0.0", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    """A server in a container of this session: ``stop`` really stops it (its stop signal,
    data kept), ``start`` starts it again on the same host port and waits until ready."""

    container: DockerContainer
    address: str
    what: str
    why_not: Callable[[], str | None]
    ready_within: float

    def stop(self) -> None:
        self.container.get_wrapped_container().stop(timeout=30)

    def start(self) -> None:
        self.container.get_wrapped_container().start()
        self.wait()

    def wait(self) -> None:
        try:
            _wait(self.container, self.what, self.why_not, self.ready_within)
        except BaseException:
            self.remove()
            raise

    def remove(self) -> None:
        self.container.stop()


# -- PostgreSQL ---------------------------------------------------------------------------
def start_postgres(image: str, where: Reach) -> Server:
    """PostgreSQL (the official image's interface: POSTGRES_* variables, ``postgres -c``),
    database ``cites``, superuser postgres/postgres; its address is an admin DSN."""
    def make(port: int) -> DockerContainer:
        pg = PostgresContainer(image, username="postgres", password="postgres",
                               dbname="cites", driver=None)
        pg.with_command(["postgres", *(a for s in PG_SETTINGS for a in ("-c", s))])
        _publish(pg, 5432, where, port)
        return _owned(pg, stop_signal="SIGINT")  # fast shutdown, as the launcher's

    # PostgresContainer.start waits until psql answers over TCP inside the container.
    pg, port = _on_free_port(make, where.bind)

    def why_not() -> str | None:
        done = pg.get_wrapped_container().exec_run(
            ["pg_isready", "-h", "127.0.0.1", "-U", "postgres", "-d", "cites"])
        return None if done.exit_code == 0 else done.output.decode("utf-8", "replace")

    return Server(pg, f"postgresql://postgres:postgres@{where.dial(pg)}:{port}/cites",
                  f"PostgreSQL ({image})", why_not, 60)


# -- Kafka --------------------------------------------------------------------------------
def kafka_env(host: str, port: int, *, cluster_id: str, admin_password: str,
              settings: dict[str, str] | None = None) -> dict[str, str]:
    """The apache/kafka image's variables for one KRaft node: the tests' listener (HOST)
    advertised as ``host:port``, the broker's own (BROKER) and the controller's inside,
    every one authenticating as natively (:func:`cites_runtime.kafka_admin.broker_security`)."""
    security = broker_security(["HOST", "BROKER"], admin_password)
    env = {_kafka_variable(k): v
           for k, v in {**KAFKA_SINGLE_NODE, **(settings or {}), **security}.items()}
    env.update({
        "CLUSTER_ID": cluster_id,
        "KAFKA_NODE_ID": "1",
        "KAFKA_PROCESS_ROLES": "broker,controller",
        "KAFKA_LISTENERS": "HOST://:9092,BROKER://:9094,CONTROLLER://:9093",
        "KAFKA_ADVERTISED_LISTENERS": f"HOST://{host}:{port},BROKER://localhost:9094",
        "KAFKA_LISTENER_SECURITY_PROTOCOL_MAP":
            "HOST:SASL_PLAINTEXT,BROKER:SASL_PLAINTEXT,CONTROLLER:SASL_PLAINTEXT",
        "KAFKA_INTER_BROKER_LISTENER_NAME": "BROKER",
        "KAFKA_CONTROLLER_LISTENER_NAMES": "CONTROLLER",
        "KAFKA_CONTROLLER_QUORUM_VOTERS": "1@localhost:9093",
        "KAFKA_LOG_DIRS": "/tmp/kraft-combined-logs",
        "KAFKA_HEAP_OPTS": "-Xmx768m -Xms128m",
    })
    return env


def _kafka_variable(key: str) -> str:
    """The image's naming: ``.`` → ``_``, ``_`` → ``__``, ``-`` → ``___``, upper case."""
    return "KAFKA_" + key.replace("_", "__").replace("-", "___").replace(".", "_").upper()


def launcher_broker_settings(root: Path | None) -> dict[str, str]:
    """The native launcher's broker settings but its listeners and paths (placeholders)."""
    if root is None or not (root / KAFKA_TEMPLATE).exists():
        return {}
    found: dict[str, str] = {}
    for line in (root / KAFKA_TEMPLATE).read_text().splitlines():
        key, sep, value = line.partition("=")
        key = key.strip()
        if sep and not key.startswith("#") and key not in LISTENER_KEYS and "${" not in value \
                and not key.startswith(("listener.name.", "sasl.")):
            found[key] = value.strip()
    return found


def new_cluster_id() -> str:
    """As Kafka makes them (22 base64url characters), never starting with '-'."""
    while True:
        made = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not made.startswith("-"):
            return made


def start_kafka(image: str, where: Reach, host: str, settings: dict[str, str]
                ) -> tuple[Server, KafkaAccess]:
    """Kafka in KRaft mode, advertised at ``host`` (where the tests dial the containers);
    its address is the bootstrap one. Returns it and its administrator's access (a
    password made for this container)."""
    def make(port: int) -> DockerContainer:
        kafka = DockerContainer(image).with_envs(
            **kafka_env(host, port, cluster_id=cluster_id, admin_password=password,
                        settings=settings))
        _publish(kafka, 9092, where, port)
        return _owned(kafka)

    cluster_id, password = new_cluster_id(), secrets.token_urlsafe(18)
    kafka, port = _on_free_port(make, where.bind)
    access = KafkaAccess(f"{host}:{port}", ADMIN, password, "PLAIN")
    server = Server(kafka, access.bootstrap, f"Kafka ({image}) at {access.bootstrap}",
                    functools.partial(broker_answers, access, timeout=15), 120)
    server.wait()
    return server, access


# -- Mailpit ------------------------------------------------------------------------------
def start_mailpit(image: str, where: Reach) -> tuple[DockerContainer, str, int, str]:
    """Mailpit: returns the container, where the tests dial it, its SMTP port and its HTTP
    address."""
    mail = DockerContainer(image).with_envs(
        MP_SMTP_AUTH_ACCEPT_ANY="1", MP_SMTP_AUTH_ALLOW_INSECURE="1", MP_MAX_MESSAGES="5000")
    _publish(mail, 1025, where)
    _publish(mail, 8025, where)
    _owned(mail).start()
    host = where.dial(mail)
    smtp_port = int(mail.get_exposed_port(1025))
    web = f"http://{host}:{mail.get_exposed_port(8025)}"

    def why_not() -> str | None:
        try:
            answer = httpx.get(f"{web}/readyz", timeout=2)
            with socket.create_connection((host, smtp_port), timeout=2) as smtp:
                banner = smtp.recv(64)
        except (httpx.HTTPError, OSError) as exc:
            return repr(exc)
        if answer.status_code != 200:
            return f"/readyz answered {answer.status_code}"
        return None if banner.startswith(b"220") else f"SMTP greeted {banner!r}"

    try:
        _wait(mail, f"Mailpit ({image}) at {web}", why_not, timeout=60)
    except BaseException:
        mail.stop()
        raise
    return mail, host, smtp_port, web


# -- Jaeger -------------------------------------------------------------------------------
def start_jaeger(image: str, where: Reach) -> tuple[DockerContainer, str, str]:
    """Jaeger's all-in-one (in-memory storage): returns the container, its OTLP/HTTP
    endpoint (``OTEL_EXPORTER_OTLP_ENDPOINT``'s form) and its query API's address."""
    jaeger = DockerContainer(image)
    _publish(jaeger, 4318, where)
    _publish(jaeger, 16686, where)
    _owned(jaeger).start()
    host = where.dial(jaeger)
    otlp = f"http://{host}:{jaeger.get_exposed_port(4318)}"
    query = f"http://{host}:{jaeger.get_exposed_port(16686)}"

    def why_not() -> str | None:
        try:
            answer = httpx.get(f"{query}/api/services", timeout=2)
        except httpx.HTTPError as exc:
            return repr(exc)
        return None if answer.status_code == 200 else f"/api/services {answer.status_code}"

    try:
        _wait(jaeger, f"Jaeger ({image}) at {query}", why_not, timeout=60)
    except BaseException:
        jaeger.stop()
        raise
    return jaeger, otlp, query


def engine() -> docker.DockerClient:
    return docker.from_env(timeout=30)
