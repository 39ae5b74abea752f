"""Find real PostgreSQL, Kafka and SMTP for tests.

PostgreSQL alone (:func:`resolve_database`: all a service's isolated tests need):

1. ``DATABASE_URL`` (admin DSN) given → it;
2. a Docker engine answers → a container (:mod:`.containers`);
3. otherwise → the native launcher's PostgreSQL (``launcher.py up postgres``).

Kafka and SMTP beside it (:func:`resolve_infra`): ``KAFKA_BOOTSTRAP_SERVERS`` and
``DATABASE_URL`` given → them (Kafka's administrator from ``KAFKA_USERNAME``,
``KAFKA_PASSWORD`` and ``KAFKA_SASL_MECHANISM``; SMTP from ``SMTP_HOST``/``SMTP_PORT``,
its mail read from ``SMTP_MAILDIR`` or ``MAILPIT_URL``; the tracing backend from
``OTEL_EXPORTER_OTLP_ENDPOINT`` and ``JAEGER_QUERY_URL``, when given); else apache/kafka in
KRaft mode, Mailpit and Jaeger in containers, or the launcher's Kafka, SMTP sink and Jaeger
— sharing that PostgreSQL.

``CITES_INFRA=docker`` insists on Docker (one clear failure when no engine answers);
``CITES_INFRA=native`` (or ``CITES_NO_DOCKER=1``) never tries it. The same tests run in
every mode.

The identity provider (:func:`resolve_keycloak`): ``KEYCLOAK_URL`` given → it; otherwise
the native launcher's Keycloak, in every mode (no Keycloak image is needed: the launcher
runs Maven Central's distribution on the machine's JDK). Never skipped: no way to it ends
the session.

The tracing backend (:func:`resolve_jaeger`): ``OTEL_EXPORTER_OTLP_ENDPOINT`` and
``JAEGER_QUERY_URL`` given → them; otherwise the native launcher's Jaeger (built from its Go
module), in every mode. :class:`Infra` carries a tracing backend's endpoints too (the
launcher's Jaeger natively, a container's under Docker), so services under test can export
spans to a real one.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from email.message import Message
from pathlib import Path
from typing import Literal

from cites_contracts.access import KafkaAccess

from . import mail

__all__ = ["NO_KAFKA", "Database", "Infra", "InfraUnavailable", "Jaeger", "Keycloak",
           "find_repo_root", "launched_up", "resolve_database", "resolve_infra",
           "resolve_jaeger", "resolve_keycloak", "stop_launched_since"]

Mode = Literal["env", "docker", "native"]
Component = Literal["kafka", "postgres"]
Controls = tuple[Callable[[], None], Callable[[], None]]

DEV_PASSWORD = "cites-dev"
"""The development users' password in the realm (``deploy/keycloak/realm.py``)."""

NO_KAFKA = "no-kafka-asked-for.invalid:9092"
"""The Kafka address in the settings of a test that did not ask for Kafka (see the
plugin's ``service_settings``): resolving it fails at once, and its name says why."""


class InfraUnavailable(Exception):
    """The infrastructure cannot be had this way: one line saying what is missing and how
    to choose another way. The plugin ends the session with it."""


@dataclass
class Database:
    """PostgreSQL alone; ``database_url`` is an admin DSN."""

    mode: Mode
    database_url: str
    _controls: Controls | None = field(default=None, repr=False)
    _teardown: list[Callable[[], None]] = field(default_factory=list, repr=False)

    def can_stop(self) -> bool:
        """Whether the tests may stop and start it (not when it was given)."""
        return self._controls is not None

    def stop(self) -> None:
        """Really stop it (fault injection): a fast shutdown keeping its data, natively
        or its container (started again on the same host port)."""
        if self._controls is None:
            raise RuntimeError("cannot stop a PostgreSQL given by the environment")
        self._controls[0]()

    def start(self) -> None:
        if self._controls is None:
            raise RuntimeError("cannot start a PostgreSQL given by the environment")
        self._controls[1]()

    def close(self) -> None:
        while self._teardown:
            self._teardown.pop()()


@dataclass
class Infra:
    """Kafka, PostgreSQL and an SMTP server."""

    mode: Mode
    kafka_bootstrap: str
    database_url: str
    kafka_username: str | None = None
    """The brokers' administrator (every listener authenticates; see ``kafka``)."""
    kafka_password: str | None = field(default=None, repr=False)
    kafka_mechanism: Literal["SCRAM-SHA-512", "PLAIN"] = "PLAIN"
    smtp_host: str | None = None
    smtp_port: int | None = None
    smtp_maildir: str | None = None
    mailpit_url: str | None = None
    otlp_endpoint: str | None = None
    """Where services export spans (OTLP over HTTP, ``OTEL_EXPORTER_OTLP_ENDPOINT``'s
    form); None when no tracing backend runs beside this infrastructure."""
    jaeger_query_url: str | None = None
    """The tracing backend's query API (and UI), where exported spans are read back."""
    launcher: Path | None = None
    database: Database | None = None
    _controls: dict[str, Controls] = field(default_factory=dict, repr=False)
    _teardown: list[Callable[[], None]] = field(default_factory=list, repr=False)

    @property
    def kafka(self) -> KafkaAccess:
        """The brokers as their administrator: what tests' own clients and services use
        (a service's own principal is had with ``kafka.as_user``)."""
        return KafkaAccess(self.kafka_bootstrap, self.kafka_username, self.kafka_password,
                           self.kafka_mechanism)

    # -- faults ---------------------------------------------------------------------
    def can_stop(self, component: Component | None = None) -> bool:
        """Whether the tests may stop and start ``component`` (default: both servers);
        not one the environment gave."""
        return all(self._stoppable(c) for c in ((component,) if component else
                                                ("kafka", "postgres")))

    def require_stoppable(self, component: Component | None = None) -> None:
        """For a fault test: skip it, loudly, when ``component`` was given by the
        environment and cannot be stopped — but fail it under CI (``CI`` set), where a
        fault test that does not run would hide what CI must cover."""
        if self.can_stop(component):
            return
        import pytest

        why = (f"{component or 'Kafka and PostgreSQL'} given by the environment cannot be "
               "stopped by the tests; run without KAFKA_BOOTSTRAP_SERVERS and DATABASE_URL "
               "to cover this fault")
        if os.environ.get("CI"):
            pytest.fail(f"under CI every fault test must run: {why}")
        pytest.skip(f"SKIPPED LOUDLY: {why}")

    def stop(self, component: Component) -> None:
        """Really stop a server (fault injection): its process, natively, or its
        container is shut down (PostgreSQL: fast shutdown; Kafka: controlled shutdown) and
        keeps its data; ``start`` brings it back on the same address, ready."""
        if component == "postgres" and self.database is not None:
            self.database.stop()
        elif component in self._controls:
            self._controls[component][0]()
        else:
            raise RuntimeError(f"cannot stop a {component} given by the environment")

    def start(self, component: Component) -> None:
        if component == "postgres" and self.database is not None:
            self.database.start()
        elif component in self._controls:
            self._controls[component][1]()
        else:
            raise RuntimeError(f"cannot start a {component} given by the environment")

    def _stoppable(self, component: Component) -> bool:
        if component == "postgres" and self.database is not None:
            return self.database.can_stop()
        return component in self._controls

    # -- mail -----------------------------------------------------------------------
    def mails(self, to_containing: str | None = None) -> list[Message]:
        """The mails the SMTP server kept, oldest first (only those whose To holds
        ``to_containing`` if given): from the native sink's maildir or Mailpit's API."""
        if self.smtp_maildir:
            return mail.from_maildir(Path(self.smtp_maildir), to_containing)
        if self.mailpit_url:
            return mail.from_mailpit(self.mailpit_url, to_containing)
        raise LookupError(f"the tests cannot read what the SMTP server at {self.smtp_host}:"
                          f"{self.smtp_port} kept: give SMTP_MAILDIR (a maildir) or "
                          "MAILPIT_URL (Mailpit's HTTP address)")

    def close(self) -> None:
        while self._teardown:
            self._teardown.pop()()


@dataclass
class Keycloak:
    """The identity provider: ``url`` (e.g. http://127.0.0.1:18080), the realm ``cites``
    of ``deploy/keycloak/cites-realm.json``."""

    mode: Mode
    url: str
    realm: str = "cites"
    _teardown: list[Callable[[], None]] = field(default_factory=list, repr=False)

    @property
    def issuer(self) -> str:
        return f"{self.url}/realms/{self.realm}"

    @property
    def token_endpoint(self) -> str:
        return f"{self.issuer}/protocol/openid-connect/token"

    async def token(self, username: str, *, client: str = "cites-cli",
                    password: str = DEV_PASSWORD, host: str | None = None) -> str:
        """An access token of the development user ``username``, from the password grant
        of ``client`` (``cites-cli``: audience ``cites-api``). ``host`` asks Keycloak under
        another name (its tokens then name another issuer)."""
        import httpx

        async with httpx.AsyncClient(timeout=30) as http:
            answer = await http.post(
                self.token_endpoint, headers={"Host": host} if host else {},
                data={"grant_type": "password", "client_id": client, "username": username,
                      "password": password, "scope": "openid"})
        if answer.status_code != 200:
            raise AssertionError(f"Keycloak refused {username} a token ({client}): "
                                 f"{answer.status_code} {answer.text[:300]}")
        return str(answer.json()["access_token"])

    @contextlib.asynccontextmanager
    async def client_like(self, like: str, url: str) -> AsyncIterator[str]:
        """A client of the realm made for one test — a copy of ``like`` (its flows and
        mappers) whose sign-in comes back to ``url`` (a page served on a port of the
        test's) — deleted after; its client id. Uses the admin API as ``KEYCLOAK_ADMIN``
        / ``KEYCLOAK_ADMIN_PASSWORD`` (the launcher's: admin / admin)."""
        import httpx

        async with httpx.AsyncClient(base_url=self.url, timeout=30) as http:
            login = await http.post("/realms/master/protocol/openid-connect/token", data={
                "grant_type": "password", "client_id": "admin-cli",
                "username": os.environ.get("KEYCLOAK_ADMIN", "admin"),
                "password": os.environ.get("KEYCLOAK_ADMIN_PASSWORD", "admin")})
            login.raise_for_status()
            http.headers["Authorization"] = f"Bearer {login.json()['access_token']}"
            clients = f"/admin/realms/{self.realm}/clients"
            [model] = (await http.get(clients, params={"clientId": like})).json()
            client_id = f"{like}-test-{uuid.uuid4().hex[:8]}"
            copy = {k: v for k, v in model.items() if k not in ("id", "clientId")}
            copy["protocolMappers"] = [{k: v for k, v in m.items() if k != "id"}
                                       for m in model.get("protocolMappers", [])]
            created = await http.post(clients, json={
                **copy, "clientId": client_id, "redirectUris": [f"{url}/*"],
                "webOrigins": ["+"]})
            created.raise_for_status()
            try:
                yield client_id
            finally:
                [made] = (await http.get(clients, params={"clientId": client_id})).json()
                await http.delete(f"{clients}/{made['id']}")

    def close(self) -> None:
        while self._teardown:
            self._teardown.pop()()


@dataclass
class Jaeger:
    """The tracing backend: OTLP in (``otlp_endpoint`` over HTTP, the form of
    ``OTEL_EXPORTER_OTLP_ENDPOINT``; ``otlp_grpc_endpoint`` host:port), the query API at
    ``query_url`` (``/api/traces/<trace id>``, ``/api/services``)."""

    mode: Mode
    otlp_endpoint: str
    query_url: str
    otlp_grpc_endpoint: str | None = None
    _teardown: list[Callable[[], None]] = field(default_factory=list, repr=False)

    def trace(self, trace_id: str, *, spans: int = 1, timeout: float = 20.0
              ) -> dict[str, object]:
        """The trace ``trace_id`` (32 hex digits) as the query API returns it (``spans``,
        ``processes``), waiting up to ``timeout`` seconds for at least ``spans`` of its
        spans to be stored (each span is stored as it comes: a trace read at once may
        lack one exported an instant later); raises ``LookupError`` when they never
        appear."""
        import time

        import httpx

        deadline = time.monotonic() + timeout
        while True:
            answer = httpx.get(f"{self.query_url}/api/traces/{trace_id}", timeout=5)
            if answer.status_code == 200 and (data := answer.json().get("data")):
                found: dict[str, object] = data[0]
                stored = found.get("spans")
                if isinstance(stored, list) and len(stored) >= spans:
                    return found
            if time.monotonic() >= deadline:
                raise LookupError(f"no trace {trace_id} with {spans} span(s) in Jaeger at "
                                  f"{self.query_url} after {timeout:.0f}s (last answer "
                                  f"{answer.status_code})")
            time.sleep(0.2)

    def close(self) -> None:
        while self._teardown:
            self._teardown.pop()()


def find_repo_root(start: Path | None = None) -> Path | None:
    env = os.environ.get("CITES_REPO_ROOT")
    if env:
        return Path(env)
    here = (start or Path.cwd()).resolve()
    for d in (here, *here.parents):
        if (d / "deploy" / "local" / "launcher.py").exists():
            return d
    return None


def run_launcher(launcher: Path, *args: str) -> str:
    proc = subprocess.run(
        [sys.executable, str(launcher), *args],
        capture_output=True, text=True, timeout=900,
    )
    if proc.returncode != 0:
        raise RuntimeError(
            f"native launcher '{' '.join(args)}' failed ({proc.returncode}):\n"
            f"{proc.stderr[-4000:]}"
        )
    return proc.stdout


def _port_open(hostport: str) -> bool:
    host, _, port = hostport.rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=0.5):
            return True
    except (OSError, ValueError):
        return False


def _docker_why_not() -> str | None:
    """None when a Docker engine answers, else why not."""
    try:
        import docker

        docker.from_env(timeout=3).ping()
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}".splitlines()[0]
    return None


def _use_docker() -> bool:
    choice = os.environ.get("CITES_INFRA", "")
    if choice not in ("", "docker", "native"):
        raise InfraUnavailable(f"CITES_INFRA={choice}: choose docker or native (unset: Docker "
                               "if an engine answers, else the native launcher)")
    if choice == "native" or (choice == "" and os.environ.get("CITES_NO_DOCKER")):
        return False
    why = _docker_why_not()
    if choice == "docker" and why is not None:
        raise InfraUnavailable(f"CITES_INFRA=docker but no Docker engine answers ({why}); "
                               "start one, or unset CITES_INFRA to use the native launcher")
    return why is None


def _launcher(root: Path | None) -> Path:
    if root is None:
        raise InfraUnavailable(
            "no infrastructure: set DATABASE_URL (and KAFKA_BOOTSTRAP_SERVERS), start a "
            "Docker engine, or run the tests from the repository (deploy/local/launcher.py)")
    return root / "deploy" / "local" / "launcher.py"


def _was_up(root: Path, key: str) -> bool:
    """Whether the component the launcher last wrote ``key`` for answers now."""
    state = Path(os.environ.get("CITES_LOCAL_DIR", root / ".local"))
    previous = state / "infra.json"
    if not previous.exists():
        return False
    info = json.loads(previous.read_text())
    address = str(info.get(key) or "")
    if key in ("KEYCLOAK_URL", "JAEGER_QUERY_URL"):
        address = address.split("://", 1)[-1].split("/", 1)[0]
    elif key == "DATABASE_URL":
        address = address.rsplit("@", 1)[-1].split("/", 1)[0]
    elif key == "SMTP_PORT":
        address = f"{info.get('SMTP_HOST')}:{address}"
    return bool(address) and _port_open(address)


def _launch(launcher: Path, root: Path, components: dict[str, str]
            ) -> tuple[dict[str, str], list[Callable[[], None]]]:
    """``launcher up <components> --json``; returns its answer and, for each component we
    started (not one someone else had up), how to stop it. A pytest-xdist worker stops
    nothing: the other workers may still use what it started, and the controller stops it
    once they are all done (:func:`stop_launched_since`)."""
    started = [c for c, key in components.items() if not _was_up(root, key)]
    out = run_launcher(launcher, "up", *components, "--json")
    info: dict[str, str] = json.loads(out.strip().splitlines()[-1])
    teardown: list[Callable[[], None]] = []
    if started and not os.environ.get("CITES_KEEP_INFRA") \
            and not os.environ.get("PYTEST_XDIST_WORKER"):
        def stop() -> None:
            run_launcher(launcher, "down", *started)

        teardown.append(stop)
    return info, teardown


LAUNCHED = {"postgres": "DATABASE_URL", "kafka": "KAFKA_BOOTSTRAP_SERVERS", "smtp": "SMTP_PORT",
            "jaeger": "JAEGER_QUERY_URL", "keycloak": "KEYCLOAK_URL"}
"""The launcher's components the tests' fixtures start, and the key of ``infra.json``
saying where each answers."""


def launched_up() -> set[str]:
    """Which of :data:`LAUNCHED` answer now, as the launcher last wrote them."""
    root = find_repo_root()
    if root is None:
        return set()
    return {c for c, key in LAUNCHED.items() if _was_up(root, key)}


def stop_launched_since(before: set[str]) -> None:
    """Stop the components of :data:`LAUNCHED` that answer now but did not in ``before``
    (unless ``CITES_KEEP_INFRA``): what a parallel run's workers started, stopped by the
    controller once every worker is done."""
    root = find_repo_root()
    started = sorted(launched_up() - before)
    if root is None or not started or os.environ.get("CITES_KEEP_INFRA"):
        return
    run_launcher(_launcher(root), "down", *started)


def _launcher_controls(launcher: Path, component: str) -> Controls:
    def stop() -> None:
        run_launcher(launcher, "down", component)

    def start() -> None:
        run_launcher(launcher, "up", component)

    return stop, start


# -- PostgreSQL alone ---------------------------------------------------------------------
def resolve_database() -> Database:
    """PostgreSQL for tests: ``DATABASE_URL``, else a container, else the launcher's."""
    url = os.environ.get("DATABASE_URL")
    if url:
        return Database("env", url)
    if _use_docker():
        from . import containers

        client = containers.engine()
        containers.without_reaper(client)
        containers.remove_abandoned(client)
        image = containers.resolve_image(client, containers.POSTGRES)
        pg = containers.start_postgres(image, containers.reach())
        return Database("docker", pg.address, (pg.stop, pg.start), [pg.remove])
    root = find_repo_root()
    launcher = _launcher(root)
    assert root is not None
    info, teardown = _launch(launcher, root, {"postgres": "DATABASE_URL"})
    return Database("native", info["DATABASE_URL"], _launcher_controls(launcher, "postgres"),
                    teardown)


# -- Kafka and SMTP beside it -------------------------------------------------------------
def resolve_infra(database: Database | None = None) -> Infra:
    """Kafka, PostgreSQL (``database``'s, resolved here if not given) and SMTP."""
    kafka, url = os.environ.get("KAFKA_BOOTSTRAP_SERVERS"), os.environ.get("DATABASE_URL")
    if kafka and url:
        port = os.environ.get("SMTP_PORT")
        given = KafkaAccess.from_env()
        return Infra(mode="env", kafka_bootstrap=kafka, database_url=url,
                     kafka_username=given.username, kafka_password=given.password,
                     kafka_mechanism=given.mechanism,
                     smtp_host=os.environ.get("SMTP_HOST"), smtp_port=int(port) if port else None,
                     smtp_maildir=os.environ.get("SMTP_MAILDIR"),
                     mailpit_url=os.environ.get("MAILPIT_URL"),
                     otlp_endpoint=os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"),
                     jaeger_query_url=os.environ.get("JAEGER_QUERY_URL"))
    owned = database is None
    database = database or resolve_database()
    try:
        infra = _from_docker(database) if _use_docker() else _from_native(database)
    except BaseException:
        if owned:
            database.close()
        raise
    if owned:
        infra._teardown.insert(0, database.close)  # closed last
    return infra


def _from_docker(database: Database) -> Infra:
    from . import containers

    client = containers.engine()
    containers.without_reaper(client)
    containers.remove_abandoned(client)  # (when PostgreSQL came from DATABASE_URL)
    kafka_image = containers.resolve_image(client, containers.KAFKA)
    mailpit_image = containers.resolve_image(client, containers.MAILPIT)
    jaeger_image = containers.resolve_image(client, containers.JAEGER)
    where = containers.reach()
    mailpit, host, smtp_port, web = containers.start_mailpit(mailpit_image, where)
    started: list[Callable[[], None]] = [mailpit.stop]
    try:
        jaeger, otlp, query = containers.start_jaeger(jaeger_image, where)
        started.append(jaeger.stop)
        broker, kafka = containers.start_kafka(
            kafka_image, where, host, containers.launcher_broker_settings(find_repo_root()))
    except BaseException:
        for stop in reversed(started):
            stop()
        raise
    return Infra(mode="docker", kafka_bootstrap=broker.address,
                 database_url=database.database_url, kafka_username=kafka.username,
                 kafka_password=kafka.password, smtp_host=host, smtp_port=smtp_port,
                 mailpit_url=web, otlp_endpoint=otlp, jaeger_query_url=query,
                 database=database, _controls={"kafka": (broker.stop, broker.start)},
                 _teardown=[mailpit.stop, jaeger.stop, broker.remove])


def _from_native(database: Database) -> Infra:
    root = find_repo_root()
    launcher = _launcher(root)
    assert root is not None
    info, teardown = _launch(launcher, root, {"kafka": "KAFKA_BOOTSTRAP_SERVERS",
                                              "smtp": "SMTP_PORT",
                                              "jaeger": "JAEGER_QUERY_URL"})
    return Infra(
        mode="native",
        kafka_bootstrap=info["KAFKA_BOOTSTRAP_SERVERS"],
        database_url=database.database_url,
        kafka_username=info.get("KAFKA_USERNAME"),
        kafka_password=info.get("KAFKA_PASSWORD"),
        kafka_mechanism="PLAIN" if info.get("KAFKA_SASL_MECHANISM") == "PLAIN"
        else "SCRAM-SHA-512",
        smtp_host=info.get("SMTP_HOST"),
        smtp_port=int(info["SMTP_PORT"]) if info.get("SMTP_PORT") else None,
        smtp_maildir=info.get("SMTP_MAILDIR"),
        otlp_endpoint=info.get("OTEL_EXPORTER_OTLP_ENDPOINT"),
        jaeger_query_url=info.get("JAEGER_QUERY_URL"),
        launcher=launcher,
        database=database,
        _controls={"kafka": _launcher_controls(launcher, "kafka")},
        _teardown=teardown,
    )


# -- the identity provider ----------------------------------------------------------------
def resolve_keycloak() -> Keycloak:
    """Keycloak for tests: ``KEYCLOAK_URL``, else the native launcher's (any mode)."""
    url = os.environ.get("KEYCLOAK_URL")
    if url:
        return Keycloak("env", url.rstrip("/"))
    root = find_repo_root()
    if root is None:
        raise InfraUnavailable("no identity provider: set KEYCLOAK_URL (a Keycloak with the "
                               "realm of deploy/keycloak/cites-realm.json), or run the tests "
                               "from the repository (deploy/local/launcher.py up keycloak)")
    launcher = _launcher(root)
    info, teardown = _launch(launcher, root, {"keycloak": "KEYCLOAK_URL"})
    return Keycloak("native", info["KEYCLOAK_URL"], _teardown=teardown)


# -- the tracing backend ------------------------------------------------------------------
def resolve_jaeger() -> Jaeger:
    """Jaeger for tests: ``OTEL_EXPORTER_OTLP_ENDPOINT`` and ``JAEGER_QUERY_URL``, else the
    native launcher's (any mode)."""
    otlp, query = os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"), os.environ.get("JAEGER_QUERY_URL")
    if otlp and query:
        return Jaeger("env", otlp.rstrip("/"), query.rstrip("/"))
    root = find_repo_root()
    if root is None:
        raise InfraUnavailable("no tracing backend: set OTEL_EXPORTER_OTLP_ENDPOINT and "
                               "JAEGER_QUERY_URL (a Jaeger's OTLP/HTTP receiver and query API), "
                               "or run the tests from the repository (deploy/local/launcher.py "
                               "up jaeger)")
    launcher = _launcher(root)
    info, teardown = _launch(launcher, root, {"jaeger": "JAEGER_QUERY_URL"})
    return Jaeger("native", info["OTEL_EXPORTER_OTLP_ENDPOINT"], info["JAEGER_QUERY_URL"],
                  info.get("OTEL_EXPORTER_OTLP_GRPC_ENDPOINT"), _teardown=teardown)
