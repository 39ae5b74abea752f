"""pytest plugin (entry point ``cites_runtime``): real infrastructure and isolation.

Session-scoped ``database`` (PostgreSQL alone) and ``infra`` (Kafka and SMTP beside it; see
:mod:`cites_runtime.testing.infra`); each test that asks gets a fresh schema + login role
(``service_db``) and a fresh topic prefix (``topic_prefix``), so tests never see each
other's data; ``service_settings(cls)`` builds a service's settings on them, with the
shared test tokens and the test's ``clock``.

A test needs Kafka when its fixtures ask for ``infra`` (directly or through another
fixture) or it is marked ``integration``; such a test is marked ``integration`` here, so
``-m "not integration"`` runs exactly the tests that need PostgreSQL only. The others'
settings name :data:`~cites_runtime.testing.infra.NO_KAFKA`, and the session starts no
broker for them.

Parallel runs (pytest-xdist, ``-n``): every worker shares the one infrastructure. Workers
start what they need through the launcher (which takes turns on its lock) and stop
nothing; the controller stops, once all are done, what was not up before the run. A test
marked ``exclusive`` (it stops or restarts a shared server or sink; every ``docker`` test
too) runs while no other worker runs a test: each test takes a shared turn, an exclusive
test the whole of it, on a lock file of the run.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import fcntl
import os
import uuid
from collections.abc import AsyncIterator, Callable, Generator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar, cast
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from cites_contracts.access import KafkaAccess

from ..db import drop_service_schema, provision_service_schema
from ..settings import ServiceSettings
from .harness import TOKENS, FakeClock
from .infra import (
    NO_KAFKA,
    Database,
    Infra,
    InfraUnavailable,
    Jaeger,
    Keycloak,
    launched_up,
    resolve_database,
    resolve_infra,
    resolve_jaeger,
    resolve_keycloak,
    stop_launched_since,
)
from .kafka import delete_topics

S = TypeVar("S", bound=ServiceSettings)


@dataclass(frozen=True)
class ServiceDb:
    """A throwaway schema owned by a throwaway role, as a service would have."""

    schema: str
    role: str
    password: str
    dsn: str
    admin_dsn: str


def role_dsn(admin_dsn: str, role: str, password: str) -> str:
    parts = urlsplit(admin_dsn)
    host = parts.hostname or "127.0.0.1"
    netloc = f"{role}:{password}@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


R = TypeVar("R")


def _or_exit(resolve: Callable[[], R]) -> R:
    """No way to the infrastructure ends the session in one line, not in each test."""
    try:
        return resolve()
    except InfraUnavailable as exc:
        pytest.exit(f"[cites] {exc}", returncode=pytest.ExitCode.USAGE_ERROR)


@pytest.fixture(scope="session")
def database() -> Iterator[Database]:
    """PostgreSQL alone: ``DATABASE_URL``, else a container, else the native launcher's."""
    resolved = _or_exit(resolve_database)
    print(f"\n[cites] PostgreSQL: {resolved.mode}")
    try:
        yield resolved
    finally:
        resolved.close()


@pytest.fixture(scope="session")
def infra(database: Database) -> Iterator[Infra]:
    """Kafka and SMTP beside ``database``'s PostgreSQL."""
    resolved = _or_exit(lambda: resolve_infra(database))
    print(f"\n[cites] infrastructure: {resolved.mode} — kafka {resolved.kafka_bootstrap}")
    try:
        yield resolved
    finally:
        if _finished:
            _sweep(resolved)
        resolved.close()


@pytest.fixture(scope="session")
def jaeger() -> Iterator[Jaeger]:
    """The tracing backend (Jaeger): ``OTEL_EXPORTER_OTLP_ENDPOINT`` and
    ``JAEGER_QUERY_URL``, else the native launcher's (built once from its Go module),
    stopped after if we started it."""
    resolved = _or_exit(resolve_jaeger)
    print(f"\n[cites] tracing: {resolved.mode} — {resolved.query_url}")
    try:
        yield resolved
    finally:
        resolved.close()


@pytest.fixture(scope="session")
def keycloak() -> Iterator[Keycloak]:
    """The identity provider (Keycloak, realm ``cites``): ``KEYCLOAK_URL``, else the
    native launcher's. Started once per session (about 15 s), stopped after if we
    started it."""
    resolved = _or_exit(resolve_keycloak)
    print(f"\n[cites] identity provider: {resolved.mode} — {resolved.issuer}")
    try:
        yield resolved
    finally:
        resolved.close()


def needs_kafka(item: pytest.Item) -> bool:
    """Whether the test's fixtures ask for ``infra`` or it is marked ``integration``."""
    return ("infra" in getattr(item, "fixturenames", ())
            or item.get_closest_marker("integration") is not None)


@pytest.hookimpl(tryfirst=True)  # before -m deselects
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if needs_kafka(item) and item.get_closest_marker("integration") is None:
            item.add_marker(pytest.mark.integration)
        # Containers publishing host ports, the compose stage: as when nothing ran beside.
        if item.get_closest_marker("docker") and item.get_closest_marker("exclusive") is None:
            item.add_marker(pytest.mark.exclusive)


# -- tables printed at the end of the run ------------------------------------------------
SUMMARY_ROW = "cites_summary_row"
"""The key of a test report's user property ``(title, header, row)``: a row of a table
printed at the end of the run under ``title``. Reports reach a parallel run's controller,
so the table gathers every worker's rows."""
_summary: dict[tuple[str, str], list[str]] = {}


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    for key, value in report.user_properties:
        if key == SUMMARY_ROW:
            title, header, row = cast("tuple[str, str, str]", value)  # a list, from a worker
            _summary.setdefault((title, header), []).append(row)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    for (title, header), rows in _summary.items():
        terminalreporter.write_sep("=", title)
        terminalreporter.write_line("\n".join([header, *rows]))


# -- parallel runs (pytest-xdist) ----------------------------------------------------------
_LOCK_KEY = "cites_turns"
_up_before: set[str] | None = None
"""On the controller of a parallel run: the launcher's components up before any worker."""


@pytest.hookimpl(tryfirst=True)  # before xdist starts the workers
def pytest_sessionstart(session: pytest.Session) -> None:
    """On the controller of a parallel run: the workers start with the environment a
    single process runs its tests in. Importing readline (pytest does) sets COLUMNS and
    LINES in the process's own environment, not in ``os.environ``; workers would inherit
    them, and code reading them at the time of a test (rich's console width, which tests
    widen with COLUMNS) would see them fixed."""
    config = session.config
    if getattr(config.option, "numprocesses", None) and not hasattr(config, "workerinput"):
        for name in ("COLUMNS", "LINES"):
            if name not in os.environ:
                os.unsetenv(name)


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """On the controller, before a worker starts: note what already runs (the first time),
    and give the worker the run's lock file."""
    global _up_before
    if _up_before is None:
        _up_before = launched_up()
    basetemp = node.config._tmp_path_factory.getbasetemp()
    node.workerinput[_LOCK_KEY] = str(basetemp / "cites-turns.lock")


def pytest_sessionfinish(session: pytest.Session) -> None:
    """On the controller of a parallel run: stop what the workers started."""
    if _up_before is not None and not hasattr(session.config, "workerinput"):
        stop_launched_since(_up_before)


@contextlib.contextmanager
def _turn(lock: Path, exclusive: bool) -> Iterator[None]:
    """A shared turn, or the whole of it when ``exclusive``. A test waiting for the whole
    turn holds the gate, so that no shared turn starts before it has had its own."""
    with lock.with_suffix(".gate").open("a") as gate, lock.open("a") as turns:
        fcntl.flock(gate, fcntl.LOCK_EX)
        try:
            fcntl.flock(turns, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        finally:
            if not exclusive:
                fcntl.flock(gate, fcntl.LOCK_UN)
        yield  # both released as the files close


@pytest.hookimpl(wrapper=True, tryfirst=True)  # around setup, call and teardown
def pytest_runtest_protocol(item: pytest.Item) -> Generator[None, object, object]:
    workerinput: dict[str, Any] | None = getattr(item.config, "workerinput", None)
    if workerinput is None or _LOCK_KEY not in workerinput:
        return (yield)
    with _turn(Path(workerinput[_LOCK_KEY]),
               item.get_closest_marker("exclusive") is not None):
        return (yield)


@pytest.fixture
def unique() -> str:
    return uuid.uuid4().hex[:10]


SWEEP_EVERY = 20
"""Finished tests' topics are deleted in one request every this many tests (and at the
end of the session)."""
_finished: list[str] = []


@pytest.fixture
def topic_prefix(unique: str, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh topic prefix; once the test is over, its topics are deleted — a few tests'
    at a time, in one request. A broker keeps several open files per partition, and a
    whole run's topics (thousands of partitions) would exhaust its file descriptors."""
    prefix = f"t{unique}."
    yield prefix
    if not needs_kafka(request.node):
        return
    _finished.append(prefix)
    if len(_finished) >= SWEEP_EVERY:
        _sweep(request.getfixturevalue("infra"))


def _sweep(infra: Infra) -> None:
    prefixes = tuple(_finished)
    _finished.clear()

    async def delete() -> None:
        await delete_topics(infra.kafka, prefixes)

    # In a thread of its own: a test's event loop may still be set on this one.
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        try:
            pool.submit(asyncio.run, asyncio.wait_for(delete(), 30)).result()
        except Exception as exc:  # a broker a test stopped, or slow: the next sweep's turn
            print(f"\n[cites] could not delete finished tests' topics: {exc!r}")
            _finished.extend(prefixes)


class HasDatabase(Protocol):
    @property
    def database_url(self) -> str: ...


async def new_service_db(where: HasDatabase, name: str) -> ServiceDb:
    """A schema and login role named ``name`` on ``where``'s PostgreSQL (a
    :class:`Database` or an :class:`Infra`)."""
    admin = await asyncpg.connect(where.database_url)
    try:
        await provision_service_schema(admin, name, name, name)
    finally:
        await admin.close()
    return ServiceDb(name, name, name, role_dsn(where.database_url, name, name),
                     where.database_url)


async def drop_db(db: ServiceDb) -> None:
    for _ in range(20):
        try:
            admin = await asyncpg.connect(db.admin_dsn)
            break
        except (OSError, asyncpg.CannotConnectNowError):
            await asyncio.sleep(0.5)  # a test may have just restarted PostgreSQL
    else:
        return
    try:
        await admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1", db.role
        )
        await drop_service_schema(admin, db.schema, db.role)
    finally:
        await admin.close()


@pytest.fixture
async def service_db(database: Database, unique: str) -> AsyncIterator[ServiceDb]:
    db = await new_service_db(database, f"t_{unique}")
    yield db
    await drop_db(db)


@pytest.fixture
def clock() -> FakeClock:
    """The services' clock in this test (``uow.now``): fixed, moved by hand."""
    return FakeClock()


class SettingsFactory(Protocol):
    def __call__(self, cls: type[S], /, **overrides: Any) -> S: ...


@pytest.fixture
def service_settings(request: pytest.FixtureRequest, service_db: ServiceDb, topic_prefix: str,
                     clock: FakeClock) -> SettingsFactory:
    """``service_settings(LabellingSettings, **overrides)``: a service's settings on this
    test's schema, role and topic prefix, in the test environment with the static
    :data:`TOKENS` (``auth_mode`` static) and the test's clock. Kafka
    is the session's only for a test that needs it (:func:`needs_kafka`), else
    :data:`NO_KAFKA`. Its services connect as the brokers' administrator and create their
    prefixed topics at start (``provision_topics_on_start``): each test has its own topic
    names, which no service's ACLs name; the ACLs themselves are tested apart
    (``tests/test_kafka_acls.py``) and hold in ``make run``, compose and the end-to-end
    runs."""
    access = (request.getfixturevalue("infra").kafka if needs_kafka(request.node)
              else KafkaAccess(NO_KAFKA))

    def make(cls: type[S], /, **overrides: Any) -> S:
        values: dict[str, Any] = dict(
            database_url=service_db.dsn, db_schema=service_db.schema,
            kafka_bootstrap_servers=access.bootstrap, kafka_username=access.username,
            kafka_password=access.password, kafka_sasl_mechanism=access.mechanism,
            provision_topics_on_start=True, topic_prefix=topic_prefix,
            environment="test", auth_mode="static", tokens=TOKENS,
            relay_poll_interval_s=0.2, log_json=False, log_level="WARNING",
            clock=clock,
        )
        values.update(overrides)
        return cls(**values)

    return make
