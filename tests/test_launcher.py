"""The native launcher (deploy/local/launcher.py) against the REAL components.

`up` is run once for the module (it reuses what already runs); nothing here runs `down`,
because other tests share the running infrastructure.
"""

from __future__ import annotations

import asyncio
import contextlib
import email
import email.policy
import importlib.util
import json
import os
import random
import shutil
import signal
import smtplib
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import yaml
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from cites_contracts.access import KafkaAccess
from cites_runtime.testing import eventually, group_members
from cites_runtime.testing.infra import Keycloak

# `up` of every component, the SMTP sink wedged and replaced: no other test meanwhile.
pytestmark = [pytest.mark.integration, pytest.mark.exclusive]

REPO = Path(__file__).resolve().parents[1]
LAUNCHER = REPO / "deploy" / "local" / "launcher.py"
STATE = Path(os.environ.get("CITES_LOCAL_DIR", REPO / ".local")).resolve()
INFRA_KEYS = {"KAFKA_BOOTSTRAP_SERVERS", "KAFKA_USERNAME", "KAFKA_PASSWORD", "KAFKA_SASL_MECHANISM",
              "DATABASE_URL", "SMTP_HOST", "SMTP_PORT", "SMTP_MAILDIR", "KEYCLOAK_URL",
              "OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_GRPC_ENDPOINT", "JAEGER_QUERY_URL",
              "PROMETHEUS_URL"}


def launcher(*args: str, timeout: float = 600, env: dict[str, str] | None = None
             ) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(LAUNCHER), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=REPO,
        stdin=subprocess.DEVNULL,
        env={**os.environ, **(env or {})},
    )


@pytest.fixture(scope="module")
def infra() -> dict[str, str]:
    result = launcher("up", "--json")
    assert result.returncode == 0, f"launcher up failed:\n{result.stderr}"
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1, f"`up --json` must print one line on stdout, got {result.stdout!r}"
    data = json.loads(lines[0])
    assert isinstance(data, dict)
    return {str(k): str(v) for k, v in data.items()}


def status() -> dict[str, dict[str, Any]]:
    result = launcher("status", "--json", timeout=120)
    data = json.loads(result.stdout.strip().splitlines()[-1])
    assert isinstance(data, dict)
    return data


def test_status_reports_all_running(infra: dict[str, str]) -> None:
    result = status()
    assert set(result) == {"kafka", "postgres", "smtp", "keycloak", "jaeger", "prometheus"}
    for name, info in result.items():
        assert info["state"] == "running", (name, info)
        assert isinstance(info["pid"], int)


def test_infra_files(infra: dict[str, str]) -> None:
    assert set(infra) == INFRA_KEYS
    assert json.loads((STATE / "infra.json").read_text()) == infra
    env_lines = (STATE / "infra.env").read_text().splitlines()
    assert {line.split("=", 1)[0] for line in env_lines if line} == INFRA_KEYS
    assert infra["DATABASE_URL"].startswith("postgresql://postgres:postgres@127.0.0.1:")
    assert infra["DATABASE_URL"].endswith("/cites")
    assert infra["KAFKA_BOOTSTRAP_SERVERS"].startswith("127.0.0.1:")
    # the brokers' administrator (SASL/PLAIN): what the tests and tools connect as
    assert (infra["KAFKA_USERNAME"], infra["KAFKA_SASL_MECHANISM"]) == ("admin", "PLAIN")
    assert infra["KAFKA_PASSWORD"]
    # Jaeger: OTLP in over HTTP and gRPC, the query API, all on loopback, from one port base
    query_port = int(infra["JAEGER_QUERY_URL"].rsplit(":", 1)[1])
    assert infra["JAEGER_QUERY_URL"] == f"http://127.0.0.1:{query_port}"
    assert infra["OTEL_EXPORTER_OTLP_GRPC_ENDPOINT"] == f"127.0.0.1:{query_port + 1}"
    assert infra["OTEL_EXPORTER_OTLP_ENDPOINT"] == f"http://127.0.0.1:{query_port + 2}"
    env_print = launcher("env", timeout=60)
    assert env_print.returncode == 0
    assert "KAFKA_BOOTSTRAP_SERVERS=" in env_print.stdout


async def test_kafka_round_trip(infra: dict[str, str]) -> None:
    access = KafkaAccess.from_env(environ=infra)  # the administrator: every listener is SASL
    topic = f"launcher-test-{uuid.uuid4().hex[:12]}"
    admin = AIOKafkaAdminClient(**access.client_kwargs())
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, num_partitions=3, replication_factor=1)])
        producer = AIOKafkaProducer(
            **access.client_kwargs(), acks="all", enable_idempotence=True
        )
        await producer.start()
        try:
            await producer.send_and_wait(
                topic, b"bonjour", key=b"cite-1", headers=[("type", b"test.Hello")]
            )
        finally:
            await producer.stop()
        consumer = AIOKafkaConsumer(
            topic, **access.client_kwargs(), group_id=f"g-{topic}", auto_offset_reset="earliest"
        )
        await consumer.start()
        try:
            message = await asyncio.wait_for(consumer.getone(), timeout=30)
        finally:
            await consumer.stop()
        assert (message.key, message.value) == (b"cite-1", b"bonjour")
        assert ("type", b"test.Hello") in list(message.headers)
    finally:
        await admin.delete_topics([topic])
        await admin.close()


async def test_postgres_roles_are_isolated(infra: dict[str, str]) -> None:
    admin = await asyncpg.connect(infra["DATABASE_URL"])
    try:
        assert await admin.fetchval("SELECT 1") == 1
        roles = await admin.fetch(
            "SELECT nspname, pg_get_userbyid(nspowner) AS owner FROM pg_namespace "
            "WHERE nspname = ANY($1::text[])",
            ["labelling", "partners", "funding", "notifications", "dashboard"],
        )
        assert {r["nspname"]: r["owner"] for r in roles} == {
            n: n for n in ("labelling", "partners", "funding", "notifications", "dashboard")
        }
    finally:
        await admin.close()

    dsn = infra["DATABASE_URL"].replace("postgres:postgres@", "labelling:labelling@", 1)
    conn = await asyncpg.connect(dsn)
    table = f"t_{uuid.uuid4().hex[:10]}"
    try:
        assert await conn.fetchval("SHOW search_path") == "labelling"
        for other in ("partners", "public"):
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await conn.execute(f"CREATE TABLE {other}.{table} (id int)")
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute("CREATE SCHEMA intruder")
        await conn.execute(f"CREATE TABLE labelling.{table} (id int)")
        await conn.execute(f"INSERT INTO {table} VALUES (1)")  # search_path = labelling
        assert await conn.fetchval(f"SELECT count(*) FROM labelling.{table}") == 1
    finally:
        await conn.execute(f"DROP TABLE IF EXISTS labelling.{table}")
        await conn.close()

    with pytest.raises(asyncpg.InvalidPasswordError):
        await asyncpg.connect(dsn.replace("labelling:labelling@", "labelling:wrong@", 1))


def test_smtp_sink_stores_eml(infra: dict[str, str]) -> None:
    maildir = Path(infra["SMTP_MAILDIR"])
    subject = f"Label accordé {uuid.uuid4().hex[:8]}"
    msg = EmailMessage()
    msg["From"] = "noreply@cites.example"
    msg["To"] = "troika@cites.example"
    msg["Subject"] = subject
    msg.set_content("La cité est labellisée.")
    with smtplib.SMTP(infra["SMTP_HOST"], int(infra["SMTP_PORT"]), timeout=10) as smtp:
        smtp.send_message(msg, to_addrs=["troika@cites.example", "prefet@cites.example"])

    deadline = time.monotonic() + 10
    found: list[EmailMessage] = []
    while not found and time.monotonic() < deadline:
        for path in sorted(maildir.glob("*.eml")):
            parsed = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
            if isinstance(parsed, EmailMessage) and parsed["Subject"] == subject:
                found.append(parsed)
        if not found:
            time.sleep(0.1)
    assert found, f"no .eml with subject {subject!r} in {maildir}"
    stored = found[0]
    assert stored["X-Envelope-From"] == "noreply@cites.example"
    assert stored["X-Envelope-To"] == "troika@cites.example, prefet@cites.example"


def test_up_twice_is_idempotent(infra: dict[str, str]) -> None:
    before = {name: info["pid"] for name, info in status().items()}
    again = launcher("up", "--json")
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout.strip().splitlines()[-1]) == infra
    after = {name: info["pid"] for name, info in status().items()}
    assert after == before
    assert "reused" in again.stderr


def test_a_sink_that_stopped_answering_is_replaced_not_reused(infra: dict[str, str]) -> None:
    """`up` reuses a running sink only if it answers; a wedged one is stopped and restarted."""
    wedged = status()["smtp"]["pid"]
    os.kill(wedged, signal.SIGSTOP)  # alive, listening, but never answers
    try:
        again = launcher("up", "smtp", "--json", timeout=180)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(wedged, signal.SIGCONT)
    assert again.returncode == 0, again.stderr
    assert "started" in again.stderr and "reused" not in again.stderr
    fresh = status()["smtp"]
    assert fresh["pid"] != wedged and fresh["state"] == "running"
    with smtplib.SMTP(infra["SMTP_HOST"], int(infra["SMTP_PORT"]), timeout=10) as smtp:
        assert smtp.noop()[0] == 250


ZOMBIE_LEADER = r"""
import ctypes, socket, sys, threading, time
listener = socket.socket()
listener.bind(("127.0.0.1", 0))
listener.listen()
print(listener.getsockname()[1], flush=True)
threading.Thread(target=time.sleep, args=(3600,)).start()
ctypes.CDLL(None).pthread_exit(None)  # the leader exits; its thread lives on with the socket
"""


@pytest.fixture
def launcher_module(monkeypatch: pytest.MonkeyPatch) -> Any:
    """deploy/local/launcher.py imported as a module, to call its functions."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("launcher", LAUNCHER)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "launcher", module)  # its dataclasses look themselves up
    spec.loader.exec_module(module)
    return module


def test_kafka_storage_formats_with_a_cluster_id_starting_with_a_dash(
    infra: dict[str, str], launcher_module: Any, tmp_path: Path
) -> None:
    """URL-safe base64 of a random UUID starts with `-` one time in 64; the storage tool
    must take such an id as the option's value, not as an option of its own."""
    cfg = launcher_module.Config(tmp_path, 1, 2, 3, 4)  # ports only fill the properties
    props = tmp_path / "server.properties"
    props.write_text(launcher_module.kafka_properties(cfg))
    libs = launcher_module.Config.from_env().kafka / "libs"  # fetched by `up` (the fixture)
    cluster_id = "-" + launcher_module.new_cluster_id()[1:]
    launcher_module.format_storage(launcher_module.kafka_java(cfg, libs), props, cluster_id)
    meta = (tmp_path / "kafka" / "data" / "meta.properties").read_text()
    assert f"cluster.id={cluster_id}" in meta.splitlines()


def test_new_cluster_ids_never_start_with_a_dash(launcher_module: Any) -> None:
    ids = {launcher_module.new_cluster_id() for _ in range(2_000)}
    assert len(ids) == 2_000
    assert all(len(i) == 22 and not i.startswith("-") for i in ids)


def test_a_process_is_gone_only_when_its_last_thread_is(
    tmp_path: Path, launcher_module: Any
) -> None:
    """A killed sink whose main thread is a zombie may still hold its port through another
    thread (CI once saw `up` find the port taken right after stopping a wedged sink): the
    launcher must not call it gone, nor the port free, until every thread has exited."""
    module = launcher_module

    script = tmp_path / "zombie_leader.py"
    script.write_text(ZOMBIE_LEADER)
    proc = subprocess.Popen(
        [sys.executable, str(script)], stdout=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        assert proc.stdout is not None
        port = int(proc.stdout.readline())
        deadline = time.monotonic() + 10
        while Path(f"/proc/{proc.pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z":
            assert time.monotonic() < deadline, "the leader thread never exited"
            time.sleep(0.05)
        assert not module.port_free(port)
        assert module.alive(proc.pid, script.name), "a zombie leader with a live thread is alive"
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


def test_a_services_command_line_runs_with_its_settings(infra: dict[str, str]) -> None:
    """`services.py cli SERVICE …` gives the command line the service's own settings (its
    role's DSN, the broker): what an operator needs for `dlq list` on `make run`."""
    done = subprocess.run(
        [sys.executable, str(REPO / "deploy" / "local" / "services.py"), "cli", "partners",
         "dlq", "list"], capture_output=True, text=True, timeout=120, cwd=REPO, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "partners.dlq" in done.stdout


def listening(pid: int) -> set[tuple[str, int]]:
    """(address, port) of every TCP socket `pid` listens on (IPv4 and IPv6)."""
    inodes = {os.readlink(fd)[len("socket:["):-1] for fd in Path(f"/proc/{pid}/fd").iterdir()
              if os.readlink(fd).startswith("socket:[")}
    found = set()
    for table in ("tcp", "tcp6"):
        for line in Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and fields[9] in inodes:  # LISTEN
                address, port = fields[1].rsplit(":", 1)
                host = ".".join(str(b) for b in reversed(bytes.fromhex(address))) \
                    if table == "tcp" else address
                found.add((host, int(port, 16)))
    return found


def test_jaeger_listens_on_its_four_ports_on_loopback_only(infra: dict[str, str]) -> None:
    pid = status()["jaeger"]["pid"]
    base = int(infra["JAEGER_QUERY_URL"].rsplit(":", 1)[1])

    assert listening(pid) == {("127.0.0.1", base + offset) for offset in range(4)}


def test_prometheus_scrapes_make_runs_services_with_the_repositorys_rules_on_loopback(
    infra: dict[str, str],
) -> None:
    """Its targets are the ops ports deploy/local/services.py gives `make run`'s services;
    every group of deploy/observability/prometheus/rules.yml is loaded; it listens on its
    one port, on loopback only."""
    spec = importlib.util.spec_from_file_location("services_py", REPO / "deploy/local/services.py")
    assert spec is not None and spec.loader is not None
    services_py = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(services_py)
    url = infra["PROMETHEUS_URL"]
    rules = yaml.safe_load((REPO / "deploy/observability/prometheus/rules.yml").read_text())

    def api(path: str) -> Any:
        with urllib.request.urlopen(f"{url}/api/v1/{path}", timeout=10) as answer:
            return json.loads(answer.read())["data"]

    deadline = time.monotonic() + 30  # targets appear at the first scrape round
    while not (targets := api("targets?state=active")["activeTargets"]):
        assert time.monotonic() < deadline, "Prometheus lists no target"
        time.sleep(0.5)
    groups = api("rules")["groups"]
    pid = status()["prometheus"]["pid"]

    assert sorted(t["scrapeUrl"] for t in targets) == sorted(
        f"http://127.0.0.1:{port}/metrics" for port in services_py.OPS_PORTS.values())
    assert services_py.OPS_PORTS == {"labelling": 9001, "partners": 9002, "funding": 9003,
                                     "notifications": 9004, "dashboard": 9005}
    assert {t["labels"]["job"] for t in targets} == {"cites"}  # the job the rules select
    assert sorted(g["name"] for g in groups) == sorted(g["name"] for g in rules["groups"])
    assert listening(pid) == {("127.0.0.1", int(url.rsplit(":", 1)[1]))}


@pytest.mark.parametrize(("state", "flags", "cmdline", "expected"), [
    ("S", 0, b"/bin/prometheus\0--config.file=/s/prometheus.yml\0", True),
    ("R", 0, b"", True),                      # just exec'd: its command line not there yet
    ("Z", 0, b"/bin/prometheus\0--config.file=/s/prometheus.yml\0", False),  # exited
    ("S", 0, b"/usr/bin/bash\0", False),      # the pid reused by another program
    ("I", 0x00200000, b"", False),            # a kernel thread under the pid
])
def test_a_process_is_ours_when_it_runs_with_our_marker_or_has_just_exec_d(
    launcher_module: Any, tmp_path: Path, state: str, flags: int, cmdline: bytes,
    expected: bool,
) -> None:
    """``up`` waits on what it spawned: a process that has just exec'd may read an empty
    command line for a moment, which must not make it "exited" (CI saw a Prometheus called
    so while it ran on)."""
    task = tmp_path / "4242" / "task" / "4242"
    task.mkdir(parents=True)
    (task / "stat").write_text(f"4242 (prometheus) {state} 1 4242 4242 0 -1 {flags} 0 0\n")
    (task / "cmdline").write_bytes(cmdline)

    assert launcher_module.alive(4242, "--config.file=/s/prometheus.yml",
                                 proc=tmp_path) is expected
    assert launcher_module.alive(4343, "--config.file=/s/prometheus.yml",
                                 proc=tmp_path) is False


SERVICES_PY = REPO / "deploy" / "local" / "services.py"


def free_base(offsets: list[int]) -> int:
    """A port base whose ``base + offset`` are all free on loopback now."""
    for _ in range(200):
        base = random.randrange(20_000, 40_000)
        if all(launcher_port_free(base + offset) for offset in offsets):
            return base
    raise AssertionError("no free port base found")


def launcher_port_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


@pytest.fixture
def replicas_env(infra: dict[str, str], tmp_path: Path) -> Iterator[dict[str, str]]:
    """services.py's environment for a `make run` of the test's own: partners as two
    replicas, on port bases of the test's, with a state folder of its own (the launcher's
    addresses and Kafka credentials copied in), so that its pid files are no one else's.
    Everything it started is stopped after (``services.py down``)."""
    state = tmp_path / "state"
    (state / "kafka").mkdir(parents=True)
    shutil.copy(STATE / "infra.json", state / "infra.json")
    shutil.copy(STATE / "kafka" / "credentials.json", state / "kafka" / "credentials.json")
    env = {**os.environ, "CITES_LOCAL_DIR": str(state), "CITES_REPLICAS": "partners=2",
           "CITES_HTTP_PORT": str(free_base([1])), "CITES_OPS_PORT": str(free_base([1, 11]))}
    try:
        yield env
    finally:
        subprocess.run([sys.executable, str(SERVICES_PY), "down"], env=env, timeout=120,
                       capture_output=True, check=False)


def services_py(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(SERVICES_PY), *args], env=env,
                          capture_output=True, text=True, timeout=300, cwd=REPO, check=False)


async def test_a_second_replica_joins_the_group_and_the_port_answers_while_either_is_killed(
    infra: dict[str, str], replicas_env: dict[str, str],
) -> None:
    """`CITES_REPLICAS=partners=2`: two processes, each ready on its own ops port, both
    members of partners' consumer group with partitions of their own, both on the one API
    port (SO_REUSEPORT); SIGKILL either, and the port still answers every request, the
    survivor is given every partition; `up` again brings the killed one back."""
    env = replicas_env
    http_port, ops_port = int(env["CITES_HTTP_PORT"]) + 1, int(env["CITES_OPS_PORT"]) + 1
    run = Path(env["CITES_LOCAL_DIR"]) / "services"
    access = KafkaAccess.from_env(environ=infra)
    keycloak = Keycloak("native", infra["KEYCLOAK_URL"])
    viewer = {"Authorization": f"Bearer {await keycloak.token('viewer')}"}

    async def members() -> list[set[Any]]:
        return await group_members(access, "partners")

    async def two_sharing() -> bool:
        found = await members()
        return len(found) == 2 and all(found) and not found[0] & found[1]

    async def answered(n: int) -> list[int]:
        """Status of ``n`` requests, each on a connection of its own."""
        codes = []
        for _ in range(n):
            async with httpx.AsyncClient(timeout=10) as http:
                codes.append((await http.get(f"http://127.0.0.1:{http_port}/alliances",
                                             headers=viewer)).status_code)
        return codes

    up = services_py(env, "up", "partners")
    assert up.returncode == 0, up.stderr[-3000:]
    pids = {stem: int((run / f"{stem}.pid").read_text()) for stem in ("partners", "partners-2")}
    assert {ready(ops_port), ready(ops_port + 10)} == {200}
    await eventually(two_sharing, timeout=60, what="two members sharing the partitions")
    assert await answered(20) == [200] * 20
    status_lines = services_py(env, "status", "partners").stdout.splitlines()
    assert [line.split()[0] for line in status_lines] == ["partners", "partners-2"]
    assert all("running" in line for line in status_lines)

    every_partition = set().union(*await members())

    async def survivor_alone() -> bool:
        found = await members()
        return len(found) == 1 and found[0] == every_partition

    for victim in ("partners-2", "partners"):
        os.killpg(pids[victim], signal.SIGKILL)
        assert await answered(20) == [200] * 20  # the survivor takes every connection
        await eventually(survivor_alone, timeout=60,
                         what=f"{victim} gone, the survivor given every partition")
        again = services_py(env, "up", "partners")
        assert again.returncode == 0, again.stderr[-3000:]
        pids[victim] = int((run / f"{victim}.pid").read_text())
        await eventually(two_sharing, timeout=60, what=f"{victim} back in the group")
    down = services_py(env, "down")
    assert down.returncode == 0, down.stderr
    assert not list(run.glob("*.pid"))
    assert not any(map(alive, pids.values()))


def alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie, dead but not reaped, does not)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def ready(port: int) -> int:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/health/ready", timeout=10) as r:
        return int(r.status)


def test_prometheus_is_given_every_replicas_ops_port(
    launcher_module: Any, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With ``CITES_REPLICAS``, each replica is a target of its own: the second of a
    service ten ports above the first's, the third twenty."""
    monkeypatch.setenv("CITES_REPLICAS", "partners=2,funding=3")
    monkeypatch.delenv("CITES_OPS_PORT", raising=False)
    (job,) = launcher_module.prometheus_config()["scrape_configs"]
    (targets,) = job["static_configs"]

    assert sorted(targets["targets"]) == [
        f"127.0.0.1:{port}" for port in (9001, 9002, 9003, 9004, 9005, 9012, 9013, 9023)]


@pytest.mark.parametrize("replicas", ["partners=0", "partners=7", "billing=2", "partners",
                                      "partners=two"])
def test_replica_counts_it_cannot_lay_out_are_refused_before_anything_starts(
    replicas: str, tmp_path: Path,
) -> None:
    env = {**os.environ, "CITES_LOCAL_DIR": str(tmp_path), "CITES_REPLICAS": replicas}
    done = services_py(env, "up", "partners")

    assert done.returncode != 0
    assert "CITES_REPLICAS" in done.stderr and repr(replicas) in done.stderr, done.stderr
    assert list(tmp_path.iterdir()) == []


async def test_prometheus_takes_up_the_replicas_of_the_next_up_without_a_restart(
    infra: dict[str, str],
) -> None:
    """`up` with other replicas rewrites the running Prometheus's targets and has it reload
    them (same process); `up` with none puts the services' own ports back."""
    url = infra["PROMETHEUS_URL"]
    before = status()["prometheus"]["pid"]

    def targets() -> set[str]:
        with urllib.request.urlopen(f"{url}/api/v1/targets?state=active", timeout=10) as r:
            return {t["scrapeUrl"] for t in json.loads(r.read())["data"]["activeTargets"]}

    def scraped(ports: set[int]) -> Any:
        async def check() -> bool:
            return targets() == {f"http://127.0.0.1:{p}/metrics" for p in ports}
        return check

    own = {9001, 9002, 9003, 9004, 9005}
    try:
        more = launcher("up", "prometheus", timeout=120, env={"CITES_REPLICAS": "partners=3"})
        assert more.returncode == 0, more.stderr
        assert "configuration reloaded" in more.stderr
        await eventually(scraped(own | {9012, 9022}), timeout=30, what="the replicas scraped")
    finally:
        again = launcher("up", "prometheus", timeout=120)
    assert again.returncode == 0, again.stderr
    await eventually(scraped(own), timeout=30, what="the services' own ports scraped again")
    assert status()["prometheus"]["pid"] == before
