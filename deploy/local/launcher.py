"""Native (no Docker) infrastructure for development and tests, on 127.0.0.1.

    .venv/bin/python deploy/local/launcher.py up [kafka] [postgres] [smtp] [keycloak] [jaeger]
                                                 [prometheus] [--json]
    .venv/bin/python deploy/local/launcher.py status [--json]
    .venv/bin/python deploy/local/launcher.py env
    .venv/bin/python deploy/local/launcher.py down [components] [--purge]

* Kafka 4 in KRaft mode (one broker+controller node): jars fetched from Maven Central by
  Maven with ``deploy/local/pom.xml``, run on the JDK (17+).
* PostgreSQL from Debian's packages: a throwaway cluster (initdb), database ``cites``,
  ``deploy/postgres/init.sql`` applied (one role + schema per service).
* An SMTP sink (``smtp_sink.py``) keeping each message as an ``.eml`` file.
* Keycloak, the identity provider people sign in with: its distribution fetched from Maven
  Central (``org.keycloak:keycloak-quarkus-dist``, once), run on a JDK 21+ (Temurin's when
  installed beside the default JDK 17), in memory, the realm ``deploy/keycloak/
  cites-realm.json`` imported at every start; an administrator ``admin``/``admin``.
* Jaeger, where traces go: built once from its Go module (``cmd/jaeger``) into
  <state>/jaeger/, run with in-memory storage; OTLP over gRPC and HTTP in, the query API
  (and its UI page) out.
* Prometheus, metrics and alerts: built once from its Go module by tools/promtool/build.sh
  (the one pin, shared with promtool), scraping the ops ports of the services `make run`
  starts (127.0.0.1:9001–9005, and every further replica's, see layout.py; written again,
  and reloaded, at each ``up``) and evaluating deploy/observability/prometheus/rules.yml;
  its data in <state>/prometheus/. The HTTP API, no web UI (not built in).

Ports: CITES_KAFKA_PORT (19092), CITES_KAFKA_CONTROLLER_PORT (19093), CITES_PG_PORT
(15432), CITES_SMTP_PORT (11025), CITES_KEYCLOAK_PORT (18080), CITES_JAEGER_PORT (16686:
Jaeger's query API and UI; OTLP gRPC on the next port, OTLP HTTP on the one after, the
query's gRPC API on the third), CITES_PROMETHEUS_PORT (9090). State (jars, data, logs,
pids): CITES_LOCAL_DIR (<repo>/.local). ``up`` writes <state>/infra.env and
<state>/infra.json. Readiness is polled with a deadline, never slept for. Human output
goes to stderr, except the summary of ``up`` / ``status`` / ``env`` (and the JSON of
``--json``), which goes to stdout.
"""

from __future__ import annotations

import sys

# Run as a script, Python puts deploy/local/ first on sys.path: a neighbour file named like
# a standard module (platform.py is one) would then shadow it. Import from elsewhere only.
if sys.path and sys.path[0] and __file__.startswith(sys.path[0].rstrip("/") + "/"):
    sys.path.pop(0)

import argparse
import asyncio
import base64
import contextlib
import fcntl
import functools
import hashlib
import json
import os
import secrets
import shlex
import shutil
import signal
import socket
import string
import subprocess
import time
import urllib.request
import uuid
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg

from cites_contracts.access import KafkaAccess
from cites_runtime.kafka_admin import ADMIN, broker_answers, broker_security

# layout.py, beside this file (after the standard modules, which it must not shadow).
sys.path.append(str(Path(__file__).resolve().parent))

from layout import LayoutError, every_replica

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
POM = HERE / "pom.xml"
LOG4J2 = HERE / "kafka" / "log4j2.yaml"
SERVER_PROPERTIES = HERE / "kafka" / "server.properties.template"
INIT_SQL = REPO / "deploy" / "postgres" / "init.sql"
SMTP_SINK = HERE / "smtp_sink.py"
REALM = REPO / "deploy" / "keycloak" / "cites-realm.json"
COMPONENTS = ("kafka", "postgres", "smtp", "keycloak", "jaeger", "prometheus")
SERVICES = ("labelling", "partners", "funding", "notifications", "dashboard")
"""Each has its own Kafka principal (and database role)."""
DEPENDENCY_GOAL = "org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy-dependencies"
KAFKA_MAIN, STORAGE_MAIN = "kafka.Kafka", "kafka.tools.StorageTool"
KAFKA_JVM = "-Xmx768m -Xms128m -XX:+UseG1GC -XX:+ExitOnOutOfMemoryError -Djava.awt.headless=true"
APT_JAVA_MAVEN = ["openjdk-17-jre-headless", "maven"]
KEYCLOAK_VERSION = "26.5.6"
KEYCLOAK_ARTIFACT = f"org.keycloak:keycloak-quarkus-dist:{KEYCLOAK_VERSION}:zip"
KEYCLOAK_JAVA = 21
"""Keycloak 26 needs a JDK 21 or newer (Kafka's JDK 17 will not do)."""
KEYCLOAK_HEAP = "-Xms64m -Xmx640m"
JAEGER_MODULE, JAEGER_VERSION = "github.com/jaegertracing/jaeger", "v1.75.0"
JAEGER_MAX_TRACES = 100_000
"""In-memory storage keeps at most this many traces (the oldest go first)."""
PROMETHEUS_BUILD = REPO / "tools" / "promtool" / "build.sh"
OBSERVABILITY = REPO / "deploy" / "observability" / "prometheus"


class LauncherError(Exception):
    """Ends the command with one line on stderr and an exit code."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


def say(message: str) -> None:
    print(f"[launcher] {message}", file=sys.stderr, flush=True)


@dataclass(frozen=True)
class Config:
    state: Path
    kafka_port: int
    controller_port: int
    pg_port: int
    smtp_port: int
    keycloak_port: int = 18080
    jaeger_port: int = 16686
    prometheus_port: int = 9090

    @classmethod
    def from_env(cls) -> Config:
        def port(name: str, default: int) -> int:
            return int(os.environ.get(name, default))

        state = Path(os.environ.get("CITES_LOCAL_DIR", REPO / ".local")).resolve()
        return cls(
            state,
            port("CITES_KAFKA_PORT", 19092),
            port("CITES_KAFKA_CONTROLLER_PORT", 19093),
            port("CITES_PG_PORT", 15432),
            port("CITES_SMTP_PORT", 11025),
            port("CITES_KEYCLOAK_PORT", 18080),
            port("CITES_JAEGER_PORT", 16686),
            port("CITES_PROMETHEUS_PORT", 9090),
        )

    @property
    def kafka(self) -> Path:
        return self.state / "kafka"

    @property
    def smtp(self) -> Path:
        return self.state / "smtp"

    @property
    def maildir(self) -> Path:
        return self.smtp / "mail"

    @property
    def keycloak(self) -> Path:
        return self.state / "keycloak"

    @property
    def keycloak_url(self) -> str:
        return f"http://127.0.0.1:{self.keycloak_port}"

    @property
    def jaeger(self) -> Path:
        return self.state / "jaeger"

    @property
    def jaeger_ports(self) -> dict[str, int]:
        """Jaeger's listeners, all from CITES_JAEGER_PORT: the query's HTTP API and UI,
        OTLP over gRPC, OTLP over HTTP, the query's gRPC API."""
        base = self.jaeger_port
        return {"query": base, "otlp_grpc": base + 1, "otlp_http": base + 2,
                "query_grpc": base + 3}

    @property
    def jaeger_query_url(self) -> str:
        return f"http://127.0.0.1:{self.jaeger_ports['query']}"

    @property
    def prometheus(self) -> Path:
        return self.state / "prometheus"

    @property
    def prometheus_url(self) -> str:
        return f"http://127.0.0.1:{self.prometheus_port}"

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.kafka_port}"

    def kafka_secrets(self) -> dict[str, str]:
        """The administrator's password and each service principal's, made once (random)
        and kept in <state>/kafka/credentials.json (mode 0600): the brokers authenticate
        every client, and a password anyone could guess would let anyone in."""
        path = self.kafka / "credentials.json"
        found: dict[str, str] = json.loads(path.read_text()) if path.exists() else {}
        wanted = [ADMIN, *SERVICES]
        if all(found.get(name) for name in wanted):
            return found
        found = {name: found.get(name) or secrets.token_urlsafe(24) for name in wanted}
        self.kafka.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(found, f, indent=2)
        return found

    def kafka_admin(self) -> KafkaAccess:
        return KafkaAccess(self.bootstrap, ADMIN, self.kafka_secrets()[ADMIN], "PLAIN")

    def dsn(self, database: str = "cites", user: str = "postgres") -> str:
        password = user  # dev only: every role's password is its name
        return f"postgresql://{user}:{password}@127.0.0.1:{self.pg_port}/{database}"

    def infra(self) -> dict[str, str]:
        return {
            "KAFKA_BOOTSTRAP_SERVERS": self.bootstrap,
            # the administrator: tests and tools; services get their own (services.py)
            "KAFKA_USERNAME": ADMIN,
            "KAFKA_PASSWORD": self.kafka_secrets()[ADMIN],
            "KAFKA_SASL_MECHANISM": "PLAIN",
            "DATABASE_URL": self.dsn(),
            "SMTP_HOST": "127.0.0.1",
            "SMTP_PORT": str(self.smtp_port),
            "SMTP_MAILDIR": str(self.maildir),
            "KEYCLOAK_URL": self.keycloak_url,
            # OpenTelemetry's own variable: an SDK exporting OTLP over HTTP reads it
            "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{self.jaeger_ports['otlp_http']}",
            "OTEL_EXPORTER_OTLP_GRPC_ENDPOINT": f"127.0.0.1:{self.jaeger_ports['otlp_grpc']}",
            "JAEGER_QUERY_URL": self.jaeger_query_url,
            "PROMETHEUS_URL": self.prometheus_url,
        }


# ----------------------------------------------------------------------------- processes
def run(
    cmd: list[str],
    *,
    what: str,
    env: dict[str, str] | None = None,
    code: int = 1,
    cwd: Path | None = None,
) -> str:
    """Run a command to completion; on failure raise with the tail of its output."""
    proc = subprocess.run(
        cmd, capture_output=True, text=True, env=env, cwd=cwd, stdin=subprocess.DEVNULL
    )
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-25:])
        raise LauncherError(
            f"{what} failed (exit {proc.returncode}): {shlex.join(cmd)}\n{tail}", code
        )
    return proc.stdout


def alive(pid: int, marker: str, proc: Path = Path("/proc")) -> bool:
    """True when a thread of `pid` still runs and its command line contains `marker`, or
    reads empty.

    Every thread counts, not only the leader: a killed process whose main thread is already a
    zombie may still hold its sockets through another thread for a moment (CI saw `up` find the
    SMTP port taken right after stopping a wedged sink), and the leader's own cmdline is empty
    by then. An empty command line of a running thread counts as ours: a process that has
    just exec'd may read so for a moment on this kernel (CI saw `up` call a Prometheus it had
    just started "exited" while it ran on); a pid reused by another program shows that
    program's command line, and a kernel thread (empty too) is told by its flags.
    """
    try:
        tasks = list((proc / str(pid) / "task").iterdir())
    except OSError:
        return False
    for task in tasks:
        try:
            stat = (task / "stat").read_text().rsplit(")", 1)[1].split()
            cmdline = (task / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        state, kernel = stat[0], int(stat[6]) & _PF_KTHREAD
        if state not in ("Z", "X") and (marker in cmdline or not (cmdline.strip() or kernel)):
            return True
    return False


_PF_KTHREAD = 0x00200000
"""A kernel thread, in the flags of /proc/<pid>/stat (include/linux/sched.h)."""


def read_pid(pidfile: Path, marker: str) -> int | None:
    try:
        pid = int(pidfile.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    return pid if alive(pid, marker) else None


def spawn(cmd: list[str], logfile: Path, pidfile: Path, cwd: Path) -> int:
    """Start `cmd` in the background in its own session (process group), output to `logfile`."""
    if logfile.exists() and logfile.stat().st_size > 20 * 1024 * 1024:
        logfile.replace(logfile.with_name(logfile.name + ".1"))
    with logfile.open("ab") as out:
        out.write(f"\n===== {time.strftime('%F %T')} {shlex.join(cmd)}\n".encode())
        out.flush()
        proc = subprocess.Popen(
            cmd, cwd=cwd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    pidfile.write_text(f"{proc.pid}\n")
    proc.returncode = 0  # detached on purpose: no "still running" warning when we exit
    return proc.pid


def stop_group(pid: int, marker: str, timeout: float) -> None:
    """SIGTERM the process group led by `pid`, wait for it to go, then SIGKILL."""
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 10.0)):
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            return
        if poll(lambda: not alive(pid, marker), wait):
            return
    raise LauncherError(f"process {pid} ({marker}) survived SIGKILL")


def poll(check: Callable[[], bool], timeout: float, every: float = 0.25) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        if check():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(every)


def tail(logfile: Path, lines: int = 40) -> str:
    try:
        return "\n".join(logfile.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return f"(no log at {logfile})"


def port_free(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def holders(port: int) -> list[str]:
    """The processes with a TCP socket bound to ``port`` on this machine (as far as /proc
    lets us see them), for error messages: ``pid 123 (cmdline) LISTEN``."""
    states = {"0A": "LISTEN", "01": "ESTABLISHED", "06": "TIME_WAIT", "08": "CLOSE_WAIT",
              "04": "FIN_WAIT1", "05": "FIN_WAIT2", "09": "LAST_ACK"}
    inodes: dict[str, str] = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                if int(fields[1].rsplit(":", 1)[1], 16) == port:
                    inodes[fields[9]] = states.get(fields[3], fields[3])
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            for fd in (proc / "fd").iterdir():
                target = os.readlink(fd)
                inode = target[len("socket:["):-1] if target.startswith("socket:[") else None
                if inode in inodes:
                    cmd = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(
                        errors="replace").strip()
                    found.append(f"pid {proc.name} ({cmd[:120]}) {inodes[inode]}")
    orphans = len(inodes) - len(found)
    return found + ([f"{orphans} socket(s) of no visible process"] if orphans > 0 else [])


def require_free(port: int, env_name: str) -> None:
    if not port_free(port):
        who = "; ".join(holders(port)) or "no process visible here"
        raise LauncherError(
            f"127.0.0.1:{port} is taken by another program ({who}): free it or set {env_name}"
        )


def apt_install(packages: list[str]) -> bool:
    """Install Debian packages when we are root with apt; True on success."""
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        return False
    say(f"installing {' '.join(packages)} with apt-get ...")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "-q", "--no-install-recommends", *packages]
    for cmd in (["apt-get", "update", "-q"], install):
        done = subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
        if done.returncode != 0:
            return False
    return True


# ----------------------------------------------------------------------------- kafka
def ensure_java_maven() -> None:
    def ok() -> bool:
        if not (shutil.which("java") and shutil.which("mvn")):
            return False
        java = ["java", "-XshowSettings:properties", "-version"]
        props = subprocess.run(java, capture_output=True, text=True).stderr.splitlines()
        spec = [ln.split("=")[1].strip() for ln in props if "java.specification.version" in ln]
        return bool(spec) and int(spec[0].removeprefix("1.")) >= 17

    if not ok() and not (apt_install(APT_JAVA_MAVEN) and ok()):
        raise LauncherError(
            "Kafka needs a JDK 17+ and Maven: apt-get install openjdk-17-jre-headless maven", 2
        )


def ensure_jars(cfg: Config) -> Path:
    """Kafka's jars in <state>/kafka/libs, fetched once (again only if the pom changes)."""
    libs, marker = cfg.kafka / "libs", cfg.kafka / "libs" / ".pom.sha256"
    digest = hashlib.sha256(POM.read_bytes()).hexdigest()
    if marker.exists() and marker.read_text().strip() == digest:
        return libs
    say("fetching Kafka's jars from Maven Central (once) ...")
    shutil.rmtree(libs, ignore_errors=True)
    mvn = ["mvn", "-q", "-B", "-f", str(POM), DEPENDENCY_GOAL, "-DincludeScope=runtime"]
    mvn += [f"-DoutputDirectory={libs}", f"-Dmaven.repo.local={cfg.state / 'm2'}"]
    run(mvn, what="mvn (fetching Kafka from Maven Central)", code=2)
    marker.write_text(digest + "\n")
    return libs


def kafka_properties(cfg: Config) -> str:
    base = string.Template(SERVER_PROPERTIES.read_text()).substitute(
        kafka_port=cfg.kafka_port, controller_port=cfg.controller_port, log_dirs=cfg.kafka / "data"
    )
    security = broker_security(["CLIENT"], cfg.kafka_secrets()[ADMIN])
    return base + "".join(f"{key}={value}\n" for key, value in security.items())


def new_cluster_id() -> str:
    """A random KRaft cluster id as Kafka's ``Uuid.randomUuid()`` makes one: URL-safe base64
    of 16 random bytes, never starting with ``-`` (which command lines take for an option)."""
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id


def kafka_java(cfg: Config, libs: Path) -> list[str]:
    """The JVM command line, up to the main class, that runs Kafka's tools and server."""
    java = ["java", *KAFKA_JVM.split(), f"-Dlog4j2.configurationFile={LOG4J2}"]
    return [*java, f"-Dkafka.logs.dir={cfg.kafka}", "-cp", f"{libs}/*"]


def format_storage(java: list[str], props: Path, cluster_id: str) -> None:
    """Format the log directories of ``props`` for ``cluster_id``. The id is given as
    ``--cluster-id=ID``: any id, even one starting with ``-``, stays the option's value."""
    say(f"formatting Kafka storage (cluster id {cluster_id}) ...")
    fmt = [STORAGE_MAIN, "format", f"--cluster-id={cluster_id}", "-c", str(props),
           "--ignore-formatted"]
    run([*java, *fmt], what="kafka storage format")


def kafka_up(cfg: Config) -> str:
    pidfile, logfile = cfg.kafka / "kafka.pid", cfg.kafka / "kafka.log"
    if (pid := read_pid(pidfile, KAFKA_MAIN)) is not None:
        wait_kafka(cfg, pid, logfile, create_topic=False)
        return f"reused (pid {pid})"
    require_free(cfg.kafka_port, "CITES_KAFKA_PORT")
    require_free(cfg.controller_port, "CITES_KAFKA_CONTROLLER_PORT")
    ensure_java_maven()
    cfg.kafka.mkdir(parents=True, exist_ok=True)
    libs = ensure_jars(cfg)
    props = cfg.kafka / "server.properties"
    props.touch(mode=0o600)  # it holds the administrator's password
    props.chmod(0o600)
    props.write_text(kafka_properties(cfg))
    java = kafka_java(cfg, libs)
    if not (cfg.kafka / "data" / "meta.properties").exists():
        format_storage(java, props, new_cluster_id())
    pid = spawn([*java, KAFKA_MAIN, str(props)], logfile, pidfile, cfg.kafka)
    wait_kafka(cfg, pid, logfile, create_topic=True)
    return f"started (pid {pid})"


def wait_kafka(
    cfg: Config, pid: int, logfile: Path, *, create_topic: bool, timeout: float = 120
) -> None:
    deadline, why = time.monotonic() + timeout, None
    while time.monotonic() < deadline:
        if not alive(pid, KAFKA_MAIN):
            raise LauncherError(f"Kafka (pid {pid}) exited; end of {logfile}:\n{tail(logfile)}")
        if (why := broker_answers(cfg.kafka_admin(), create_topic=create_topic)) is None:
            return
        time.sleep(0.5)
    raise LauncherError(
        f"Kafka not ready on {cfg.bootstrap} after {timeout:.0f}s ({why}); "
        f"last lines of {logfile}:\n{tail(logfile)}"
    )


def kafka_down(cfg: Config, purge: bool) -> None:
    if (pid := read_pid(cfg.kafka / "kafka.pid", KAFKA_MAIN)) is not None:
        say(f"stopping Kafka (pid {pid}) ...")
        stop_group(pid, KAFKA_MAIN, timeout=60)
    (cfg.kafka / "kafka.pid").unlink(missing_ok=True)
    if purge:
        shutil.rmtree(cfg.kafka / "data", ignore_errors=True)
        for name in ("server.properties", "kafka.log", "kafka.log.1"):
            (cfg.kafka / name).unlink(missing_ok=True)


# ----------------------------------------------------------------------------- postgres
AS_ROOT = os.geteuid() == 0


def as_pg(cmd: list[str]) -> list[str]:
    """Run as the `postgres` system user when we are root (initdb refuses root)."""
    return ["runuser", "-u", "postgres", "--", *cmd] if AS_ROOT else cmd


def pg_home(cfg: Config) -> Path:
    """<state>/postgres; as root, a /tmp folder when `postgres` could not traverse <state>."""
    home = cfg.state / "postgres"
    existing = [p for p in (home, *home.parents) if p.exists()]
    if AS_ROOT and not all(p.stat().st_mode & 0o001 for p in existing[1:]):
        home = Path(f"/tmp/cites-pg-{hashlib.sha256(str(cfg.state).encode()).hexdigest()[:12]}")
    return home


def ensure_pg_user() -> None:
    if AS_ROOT and subprocess.run(["id", "-u", "postgres"], capture_output=True).returncode:
        useradd = ["useradd", "--system", "--home-dir", "/var/lib/postgresql", "postgres"]
        run([*useradd, "--shell", "/bin/sh"], what="useradd postgres")


def pg_bin() -> Path:
    def find() -> Path | None:
        found = sorted(
            Path("/usr/lib/postgresql").glob("*/bin/initdb"),
            key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0,
        )
        return found[-1].parent if found else None

    if (bindir := find()) is None and apt_install(["postgresql"]):
        bindir = find()
    if bindir is None:
        raise LauncherError("PostgreSQL server binaries not found: apt-get install postgresql", 2)
    if int(bindir.parent.name) < 15:
        raise LauncherError(f"PostgreSQL >= 15 needed, found {bindir.parent.name}", 2)
    return bindir


def pg_pid(home: Path) -> int | None:
    try:
        pid = int((home / "data" / "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    return pid if alive(pid, "postgres") else None


async def pg_select1(cfg: Config, database: str = "postgres") -> None:
    conn = await asyncpg.connect(cfg.dsn(database), timeout=5)
    try:
        await conn.fetchval("SELECT 1")
    finally:
        await conn.close()


def pg_answers(cfg: Config) -> bool:
    try:
        asyncio.run(pg_select1(cfg))
    except Exception:
        return False
    return True


def pg_conf(cfg: Config, home: Path) -> str:
    return f"""# written by deploy/local/launcher.py on every start (a throwaway dev/test cluster)
listen_addresses = '127.0.0.1'
port = {cfg.pg_port}
unix_socket_directories = '{home / "run"}'
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 300
shared_buffers = 128MB
password_encryption = scram-sha-256
log_min_messages = warning
log_line_prefix = '%m [%p] %u@%d '
"""


def pg_up(cfg: Config) -> str:
    home = pg_home(cfg)
    data, logfile = home / "data", home / "postgres.log"
    pid = pg_pid(home)
    if pid is None:
        require_free(cfg.pg_port, "CITES_PG_PORT")
        bindir = pg_bin()
        ensure_pg_user()
        if home.parent != cfg.state:
            say(f"user postgres cannot traverse {cfg.state}: PostgreSQL data goes to {home}")
        (home / "run").mkdir(parents=True, exist_ok=True)
        if AS_ROOT:
            shutil.chown(home, "postgres", "postgres")
            shutil.chown(home / "run", "postgres", "postgres")
        if not (data / "PG_VERSION").exists():
            say(f"initdb {data} ...")
            shutil.rmtree(data, ignore_errors=True)
            pwfile = home / ".pwfile"
            pwfile.write_text("postgres\n")
            if AS_ROOT:
                shutil.chown(pwfile, "postgres", "postgres")
            initdb = [str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "-E", "UTF8"]
            initdb += [f"--pwfile={pwfile}", "--auth-host=scram-sha-256", "--auth-local=peer"]
            try:
                run(as_pg([*initdb, "--no-locale"]), what="initdb", cwd=home)
            finally:
                pwfile.unlink(missing_ok=True)
            with (data / "postgresql.conf").open("a") as conf:
                conf.write("\ninclude = 'cites.conf'\n")
        (data / "cites.conf").write_text(pg_conf(cfg, home))
        if AS_ROOT:
            shutil.chown(data / "cites.conf", "postgres", "postgres")
        say("starting PostgreSQL ...")
        pg_ctl = [str(bindir / "pg_ctl"), "-D", str(data), "-l", str(logfile), "-w", "-t", "60"]
        try:
            run(as_pg([*pg_ctl, "start"]), what="pg_ctl start", cwd=home)
        except LauncherError as exc:
            raise LauncherError(f"{exc}\nlast lines of {logfile}:\n{tail(logfile)}") from None
        state = f"started (pid {pg_pid(home)})"
    else:
        state = f"reused (pid {pid})"
    asyncio.run(pg_ready_and_init(cfg, logfile))
    return state


async def pg_ready_and_init(cfg: Config, logfile: Path, timeout: float = 60) -> None:
    deadline, why = time.monotonic() + timeout, ""
    while True:
        try:
            await pg_select1(cfg)
            break
        except (TimeoutError, OSError, asyncpg.PostgresError) as exc:
            why = f"{type(exc).__name__}: {exc}"
        if time.monotonic() >= deadline:
            raise LauncherError(
                f"PostgreSQL not answering on 127.0.0.1:{cfg.pg_port} ({why}); "
                f"last lines of {logfile}:\n{tail(logfile)}"
            )
        await asyncio.sleep(0.25)
    conn = await asyncpg.connect(cfg.dsn("postgres"))
    try:
        if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = 'cites'"):
            await conn.execute("CREATE DATABASE cites")
    finally:
        await conn.close()
    conn = await asyncpg.connect(cfg.dsn("cites"))
    try:
        await conn.execute(INIT_SQL.read_text())
    finally:
        await conn.close()


def pg_down(cfg: Config, purge: bool) -> None:
    home = pg_home(cfg)
    if (pid := pg_pid(home)) is not None:
        say(f"stopping PostgreSQL (pid {pid}) ...")
        pg_ctl = [str(pg_bin() / "pg_ctl"), "-D", str(home / "data"), "-w", "-t", "60"]
        stop = subprocess.run(as_pg([*pg_ctl, "-m", "fast", "stop"]), capture_output=True, cwd=home)
        if stop.returncode != 0 and alive(pid, "postgres"):
            stop_group(pid, "postgres", timeout=5)
    if purge:
        shutil.rmtree(home, ignore_errors=True)


# ----------------------------------------------------------------------------- smtp
def smtp_banner(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
            ok = s.recv(512).startswith(b"220")
            s.sendall(b"QUIT\r\n")
            return ok
    except OSError:
        return False


def smtp_up(cfg: Config) -> str:
    pidfile, logfile = cfg.smtp / "smtp.pid", cfg.smtp / "smtp.log"
    if (pid := read_pid(pidfile, SMTP_SINK.name)) is not None:
        if poll(lambda: smtp_banner(cfg.smtp_port), 10):
            return f"reused (pid {pid})"
        stop_group(pid, SMTP_SINK.name, timeout=5)
        # The kernel may take a moment to release the port of the process just killed (CI
        # saw it still taken, once in several runs, right after a SIGSTOPped sink was
        # killed; not reproduced since): wait for it rather than call it someone else's.
        poll(lambda: port_free(cfg.smtp_port), 15)
    require_free(cfg.smtp_port, "CITES_SMTP_PORT")
    cfg.maildir.mkdir(parents=True, exist_ok=True)
    sink = [sys.executable, "-P", str(SMTP_SINK), "--port", str(cfg.smtp_port)]
    # One CI run saw the sink neither answer nor log a line within 30 s (cause unknown, not
    # reproduced): a second start is cheap, and the error now says what the process was doing.
    failures = []
    for attempt in (1, 2):
        pid = spawn([*sink, "--maildir", str(cfg.maildir)], logfile, pidfile, cfg.smtp)
        settled = functools.partial(smtp_settled, pid, cfg.smtp_port)
        if poll(settled, 45) and alive(pid, SMTP_SINK.name):
            return f"started (pid {pid})" + (" on a second attempt" if attempt > 1 else "")
        failures.append(f"attempt {attempt}: pid {pid} {process_state(pid)}")
        say(f"SMTP sink not answering ({failures[-1]}); restarting it ...")
        stop_group(pid, SMTP_SINK.name, timeout=5)
        poll(lambda: port_free(cfg.smtp_port), 15)
    raise LauncherError(
        f"SMTP sink not answering on 127.0.0.1:{cfg.smtp_port} ({'; '.join(failures)}); "
        f"last lines of {logfile}:\n{tail(logfile)}"
    )


def smtp_settled(pid: int, port: int) -> bool:
    """The sink answers, or has exited."""
    return not alive(pid, SMTP_SINK.name) or smtp_banner(port)


def process_state(pid: int) -> str:
    """What a child we spawned is doing, for error messages: its exit status or its state."""
    try:
        done, status = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        done, status = 0, 0
    if done:
        code = os.waitstatus_to_exitcode(status)
        return f"exited ({f'signal {-code}' if code < 0 else f'code {code}'})"
    try:
        fields = dict(
            line.split(":\t", 1)
            for line in Path(f"/proc/{pid}/status").read_text().splitlines()
            if ":\t" in line
        )
        wchan = Path(f"/proc/{pid}/wchan").read_text().strip() or "-"
    except OSError:
        return "gone"
    return f"still running (state {fields.get('State', '?')}, waiting in {wchan})"


def smtp_down(cfg: Config, purge: bool) -> None:
    if (pid := read_pid(cfg.smtp / "smtp.pid", SMTP_SINK.name)) is not None:
        say(f"stopping the SMTP sink (pid {pid}) ...")
        stop_group(pid, SMTP_SINK.name, timeout=10)
    (cfg.smtp / "smtp.pid").unlink(missing_ok=True)
    if purge:
        shutil.rmtree(cfg.smtp, ignore_errors=True)


# ----------------------------------------------------------------------------- keycloak
def keycloak_java() -> Path:
    """A JDK ``KEYCLOAK_JAVA``+ home: CITES_KEYCLOAK_JAVA_HOME, else the newest under
    /usr/lib/jvm (the default ``java`` may be older: it is left as it is), else one apt
    installs."""
    def version(home: Path) -> int:
        release = home / "release"
        with contextlib.suppress(OSError, ValueError, IndexError):
            for line in release.read_text().splitlines():
                if line.startswith("JAVA_VERSION="):
                    return int(line.split("=", 1)[1].strip('"').split(".")[0])
        return 0

    def found() -> Path | None:
        given = os.environ.get("CITES_KEYCLOAK_JAVA_HOME")
        homes = [Path(given)] if given else sorted(
            (h for h in Path("/usr/lib/jvm").glob("*") if (h / "bin" / "java").exists()),
            key=version)
        usable = [h for h in homes if version(h) >= KEYCLOAK_JAVA]
        return usable[-1] if usable else None

    home = found()
    if home is None and apt_install([f"openjdk-{KEYCLOAK_JAVA}-jre-headless"]):
        home = found()
    if home is None:
        raise LauncherError(f"Keycloak needs a JDK {KEYCLOAK_JAVA}+ (none in /usr/lib/jvm): "
                            "install one and set CITES_KEYCLOAK_JAVA_HOME to it", 2)
    return home


def keycloak_dist(cfg: Config) -> Path:
    """Keycloak's distribution in <state>/keycloak/keycloak-<version>, fetched from Maven
    Central once and built once for how we run it (in memory, one node)."""
    dist = cfg.keycloak / f"keycloak-{KEYCLOAK_VERSION}"
    built = dist / ".built"
    if built.exists():
        return dist
    ensure_java_maven()
    m2 = cfg.state / "m2"
    group, artifact, version, kind = KEYCLOAK_ARTIFACT.split(":")
    archive = m2.joinpath(*group.split("."), artifact, version, f"{artifact}-{version}.{kind}")
    if not archive.exists():
        say(f"fetching Keycloak {KEYCLOAK_VERSION} from Maven Central (once, 165 MB) ...")
        get = ["mvn", "-q", "-B", "org.apache.maven.plugins:maven-dependency-plugin:3.8.1:get",
               f"-Dartifact={KEYCLOAK_ARTIFACT}", "-Dtransitive=false", f"-Dmaven.repo.local={m2}"]
        run(get, what="mvn (fetching Keycloak from Maven Central)", code=2)
    say(f"unpacking {archive.name} ...")
    shutil.rmtree(dist, ignore_errors=True)
    with zipfile.ZipFile(archive) as zipped:
        for member in zipped.infolist():
            name = Path(member.filename)
            target = cfg.keycloak / dist.name / Path(*name.parts[1:])  # keycloak-<v>/... → dist/...
            if member.is_dir() or len(name.parts) < 2:
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            with zipped.open(member) as src, target.open("wb") as out:
                shutil.copyfileobj(src, out)
            if mode := (member.external_attr >> 16) & 0o777:
                target.chmod(mode)
    say("building Keycloak for a dev node (in-memory database) ...")
    env = {**os.environ, "JAVA_HOME": str(keycloak_java())}
    run([str(dist / "bin" / "kc.sh"), "build", "--db=dev-mem"], what="kc.sh build", env=env)
    built.write_text(f"{KEYCLOAK_VERSION} --db=dev-mem\n")
    return dist


def keycloak_answers(cfg: Config) -> bool:
    url = f"{cfg.keycloak_url}/realms/cites/.well-known/openid-configuration"
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status == 200)
    except (OSError, ValueError):
        return False


def keycloak_marker(cfg: Config) -> str:
    return str(cfg.keycloak / f"keycloak-{KEYCLOAK_VERSION}" / "bin" / "kc.sh")


def keycloak_start(cfg: Config) -> tuple[int, str]:
    """Start Keycloak (or find it running); returns its pid and what was done. Its realm
    is imported at every start: it runs in memory, so it is always the realm file's."""
    pidfile, logfile = cfg.keycloak / "keycloak.pid", cfg.keycloak / "keycloak.log"
    if (pid := read_pid(pidfile, keycloak_marker(cfg))) is not None:
        return pid, f"reused (pid {pid})"
    require_free(cfg.keycloak_port, "CITES_KEYCLOAK_PORT")
    cfg.keycloak.mkdir(parents=True, exist_ok=True)
    dist = keycloak_dist(cfg)
    imports = dist / "data" / "import"
    imports.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(REALM, imports / REALM.name)
    env = {**os.environ, "JAVA_HOME": str(keycloak_java()), "JAVA_OPTS_KC_HEAP": KEYCLOAK_HEAP,
           "KC_BOOTSTRAP_ADMIN_USERNAME": "admin", "KC_BOOTSTRAP_ADMIN_PASSWORD": "admin"}
    # start --optimized on the build above: no re-augmentation at each start (start-dev's
    # costs ~8 s more); http on loopback, the issuer from the request's host.
    cmd = [str(dist / "bin" / "kc.sh"), "start", "--optimized", "--cache=local",
           "--http-enabled=true", "--hostname-strict=false", "--http-host=127.0.0.1",
           f"--http-port={cfg.keycloak_port}", "--import-realm"]
    say("starting Keycloak ...")
    if logfile.exists() and logfile.stat().st_size > 20 * 1024 * 1024:
        logfile.replace(logfile.with_name(logfile.name + ".1"))
    with logfile.open("ab") as out:
        out.write(f"\n===== {time.strftime('%F %T')} {shlex.join(cmd)}\n".encode())
        out.flush()
        proc = subprocess.Popen(cmd, cwd=cfg.keycloak, env=env, stdin=subprocess.DEVNULL,
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    pidfile.write_text(f"{proc.pid}\n")
    proc.returncode = 0  # detached on purpose, as spawn()'s
    return proc.pid, f"started (pid {proc.pid})"


def keycloak_wait(cfg: Config, pid: int, timeout: float = 180) -> None:
    logfile = cfg.keycloak / "keycloak.log"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not alive(pid, keycloak_marker(cfg)):
            raise LauncherError(f"Keycloak (pid {pid}) exited; end of {logfile}:\n"
                                f"{tail(logfile)}")
        if keycloak_answers(cfg):
            return
        time.sleep(0.5)
    raise LauncherError(f"Keycloak not ready on {cfg.keycloak_url} after {timeout:.0f}s; "
                        f"last lines of {logfile}:\n{tail(logfile)}")


def keycloak_up(cfg: Config) -> str:
    pid, done = keycloak_start(cfg)
    keycloak_wait(cfg, pid)
    return done


def keycloak_down(cfg: Config, purge: bool) -> None:
    if (pid := read_pid(cfg.keycloak / "keycloak.pid", keycloak_marker(cfg))) is not None:
        say(f"stopping Keycloak (pid {pid}) ...")
        stop_group(pid, keycloak_marker(cfg), timeout=30)
    (cfg.keycloak / "keycloak.pid").unlink(missing_ok=True)
    if purge:  # in memory: only its log to forget (the distribution is kept, as the jars)
        for name in ("keycloak.log", "keycloak.log.1"):
            (cfg.keycloak / name).unlink(missing_ok=True)


# ----------------------------------------------------------------------------- jaeger
def go_binary() -> str:
    """The Go toolchain: ``go`` on PATH, else /usr/local/go's."""
    found = shutil.which("go") or shutil.which("go", path="/usr/local/go/bin")
    if found is None:
        raise LauncherError("Jaeger is built from its Go module and needs Go (1.24+): "
                            "see go.dev/doc/install", 2)
    return found


def jaeger_binary(cfg: Config) -> Path:
    """<state>/jaeger/jaeger-<version>, built once from the module's ``cmd/jaeger`` (as its
    own main module, so its go.mod's replace and exclude directives apply); again only
    when missing."""
    binary = cfg.jaeger / f"jaeger-{JAEGER_VERSION}"
    if binary.exists():
        return binary
    go = go_binary()
    say(f"building Jaeger {JAEGER_VERSION} from its Go module (once, a few minutes) ...")
    started = time.monotonic()
    module = f"{JAEGER_MODULE}@{JAEGER_VERSION}"
    found = run([go, "mod", "download", "-json", module], what=f"go mod download {module}", code=2)
    source = Path(json.loads(found)["Dir"])
    cfg.jaeger.mkdir(parents=True, exist_ok=True)
    partial = binary.with_name(binary.name + ".partial")
    ldflags = f"-s -w -X {JAEGER_MODULE}/internal/version.latestVersion={JAEGER_VERSION}"
    build = [go, "build", "-trimpath", "-ldflags", ldflags, "-o", str(partial), "./cmd/jaeger"]
    run(build, what="go build (Jaeger)", env={**os.environ, "CGO_ENABLED": "0"}, cwd=source,
        code=2)
    partial.replace(binary)
    say(f"built {binary.name} in {time.monotonic() - started:.0f}s")
    return binary


def jaeger_config(cfg: Config) -> dict[str, object]:
    """Jaeger's collector configuration (JSON is YAML): OTLP in, in-memory storage, the
    query API; every listener on 127.0.0.1, no internal metrics endpoint."""
    ports = {name: f"127.0.0.1:{port}" for name, port in cfg.jaeger_ports.items()}
    return {
        "service": {
            "extensions": ["jaeger_storage", "jaeger_query"],
            "pipelines": {"traces": {"receivers": ["otlp"], "processors": ["batch"],
                                     "exporters": ["jaeger_storage_exporter"]}},
            "telemetry": {"resource": {"service.name": "jaeger"},
                          "metrics": {"level": "none"}, "logs": {"level": "info"}},
        },
        "extensions": {
            "jaeger_storage": {"backends": {"memstore": {
                "memory": {"max_traces": JAEGER_MAX_TRACES}}}},
            "jaeger_query": {"storage": {"traces": "memstore"},
                             "http": {"endpoint": ports["query"]},
                             "grpc": {"endpoint": ports["query_grpc"]}},
        },
        "receivers": {"otlp": {"protocols": {"grpc": {"endpoint": ports["otlp_grpc"]},
                                             "http": {"endpoint": ports["otlp_http"]}}}},
        "processors": {"batch": {}},
        "exporters": {"jaeger_storage_exporter": {"trace_storage": "memstore"}},
    }


def jaeger_answers(cfg: Config) -> bool:
    """The query API answers (it lists the services that sent spans)."""
    try:
        with urllib.request.urlopen(f"{cfg.jaeger_query_url}/api/services", timeout=2) as r:
            return bool(r.status == 200)
    except (OSError, ValueError):
        return False


def jaeger_marker(cfg: Config) -> str:
    return str(cfg.jaeger / f"jaeger-{JAEGER_VERSION}")


def jaeger_up(cfg: Config) -> str:
    pidfile, logfile = cfg.jaeger / "jaeger.pid", cfg.jaeger / "jaeger.log"
    if (pid := read_pid(pidfile, jaeger_marker(cfg))) is not None:
        done = f"reused (pid {pid})"
    else:
        for name, port in cfg.jaeger_ports.items():
            require_free(port, f"CITES_JAEGER_PORT (Jaeger's {name} port {port})")
        binary = jaeger_binary(cfg)
        config = cfg.jaeger / "config.yaml"
        config.write_text(json.dumps(jaeger_config(cfg), indent=2) + "\n")
        pid = spawn([str(binary), f"--config=file:{config}"], logfile, pidfile, cfg.jaeger)
        done = f"started (pid {pid})"
    deadline = time.monotonic() + 60
    while not jaeger_answers(cfg):
        if not alive(pid, jaeger_marker(cfg)):
            raise LauncherError(f"Jaeger (pid {pid}) exited; end of {logfile}:\n{tail(logfile)}")
        if time.monotonic() >= deadline:
            raise LauncherError(f"Jaeger not answering on {cfg.jaeger_query_url} after 60s; "
                                f"last lines of {logfile}:\n{tail(logfile)}")
        time.sleep(0.25)
    return done


def jaeger_down(cfg: Config, purge: bool) -> None:
    if (pid := read_pid(cfg.jaeger / "jaeger.pid", jaeger_marker(cfg))) is not None:
        say(f"stopping Jaeger (pid {pid}) ...")
        stop_group(pid, jaeger_marker(cfg), timeout=15)
    (cfg.jaeger / "jaeger.pid").unlink(missing_ok=True)
    if purge:  # in memory: only its log and configuration to forget (the binary is kept)
        for name in ("jaeger.log", "jaeger.log.1", "config.yaml"):
            (cfg.jaeger / name).unlink(missing_ok=True)


# ----------------------------------------------------------------------------- prometheus
def prometheus_binary() -> Path:
    """The server tools/promtool/build.sh builds (once, from its pinned Go module; the
    path of the one it built before otherwise)."""
    done = subprocess.run(["sh", str(PROMETHEUS_BUILD), "prometheus"], capture_output=True,
                          text=True, stdin=subprocess.DEVNULL)
    if done.returncode != 0:
        raise LauncherError(f"{PROMETHEUS_BUILD} failed:\n{done.stderr[-3000:]}", 2)
    return Path(done.stdout.split()[-1])


def prometheus_config() -> dict[str, object]:
    """deploy/observability/prometheus/prometheus.yml (its intervals, its job) with the
    targets of `make run` (every replica's ops port on 127.0.0.1, layout.py) and the rules
    by their path (JSON is YAML)."""
    import yaml

    config: dict[str, Any] = yaml.safe_load((OBSERVABILITY / "prometheus.yml").read_text())
    config["rule_files"] = [str(OBSERVABILITY / rules) for rules in config["rule_files"]]
    (job,) = config["scrape_configs"]
    job["static_configs"] = [{"targets": [f"127.0.0.1:{replica.ops_port}"
                                          for replica in every_replica()]}]
    return config


def prometheus_answers(cfg: Config) -> bool:
    try:
        with urllib.request.urlopen(f"{cfg.prometheus_url}/-/ready", timeout=2) as r:
            return bool(r.status == 200)
    except (OSError, ValueError):
        return False


def prometheus_marker(cfg: Config) -> str:
    """On its command line: its configuration's path, which names this state folder."""
    return f"--config.file={cfg.prometheus / 'prometheus.yml'}"


def prometheus_up(cfg: Config) -> str:
    pidfile, logfile = cfg.prometheus / "prometheus.pid", cfg.prometheus / "prometheus.log"
    config, text = cfg.prometheus / "prometheus.yml", json.dumps(prometheus_config(), indent=2)
    if (pid := read_pid(pidfile, prometheus_marker(cfg))) is not None:
        done = f"reused (pid {pid})"
        if not config.exists() or config.read_text() != text + "\n":  # replicas changed
            config.write_text(text + "\n")
            os.kill(pid, signal.SIGHUP)
            done += ", its targets changed: configuration reloaded"
    else:
        require_free(cfg.prometheus_port, "CITES_PROMETHEUS_PORT")
        binary = prometheus_binary()
        cfg.prometheus.mkdir(parents=True, exist_ok=True)
        config.write_text(text + "\n")
        pid = spawn([str(binary), f"--config.file={config}",
                     f"--storage.tsdb.path={cfg.prometheus / 'data'}",
                     f"--web.listen-address=127.0.0.1:{cfg.prometheus_port}"],
                    logfile, pidfile, cfg.prometheus)
        done = f"started (pid {pid})"
    deadline = time.monotonic() + 60
    while not prometheus_answers(cfg):
        if not alive(pid, prometheus_marker(cfg)):
            raise LauncherError(f"Prometheus (pid {pid}) exited; end of {logfile}:\n"
                                f"{tail(logfile)}")
        if time.monotonic() >= deadline:
            raise LauncherError(f"Prometheus not ready on {cfg.prometheus_url} after 60s; "
                                f"last lines of {logfile}:\n{tail(logfile)}")
        time.sleep(0.25)
    return done


def prometheus_down(cfg: Config, purge: bool) -> None:
    pidfile = cfg.prometheus / "prometheus.pid"
    if (pid := read_pid(pidfile, prometheus_marker(cfg))) is not None:
        say(f"stopping Prometheus (pid {pid}) ...")
        stop_group(pid, prometheus_marker(cfg), timeout=30)
    pidfile.unlink(missing_ok=True)
    if purge:  # its samples, log and configuration (the binary is tools/promtool/bin's)
        shutil.rmtree(cfg.prometheus, ignore_errors=True)


# ----------------------------------------------------------------------------- commands
def status(cfg: Config) -> dict[str, dict[str, object]]:
    """Each component: running (its process lives and answers), not answering, or stopped."""
    checks: dict[str, tuple[int | None, str, Callable[[], bool]]] = {
        "kafka": (
            read_pid(cfg.kafka / "kafka.pid", KAFKA_MAIN),
            cfg.bootstrap,
            lambda: broker_answers(cfg.kafka_admin(), create_topic=False) is None,
        ),
        "postgres": (pg_pid(pg_home(cfg)), f"127.0.0.1:{cfg.pg_port}", lambda: pg_answers(cfg)),
        "smtp": (
            read_pid(cfg.smtp / "smtp.pid", SMTP_SINK.name),
            f"127.0.0.1:{cfg.smtp_port}",
            lambda: smtp_banner(cfg.smtp_port),
        ),
        "keycloak": (
            read_pid(cfg.keycloak / "keycloak.pid", keycloak_marker(cfg)),
            cfg.keycloak_url,
            lambda: keycloak_answers(cfg),
        ),
        "jaeger": (
            read_pid(cfg.jaeger / "jaeger.pid", jaeger_marker(cfg)),
            cfg.jaeger_query_url,
            lambda: jaeger_answers(cfg),
        ),
        "prometheus": (
            read_pid(cfg.prometheus / "prometheus.pid", prometheus_marker(cfg)),
            cfg.prometheus_url,
            lambda: prometheus_answers(cfg),
        ),
    }
    result: dict[str, dict[str, object]] = {}
    for name, (pid, address, answers) in checks.items():
        state = "stopped" if pid is None else "running" if answers() else "not answering"
        result[name] = {"state": state, "pid": pid, "address": address}
    return result


@contextmanager
def locked(cfg: Config) -> Iterator[None]:
    """One launcher at a time changes the state folder."""
    cfg.state.mkdir(parents=True, exist_ok=True)
    with (cfg.state / "launcher.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def cmd_up(cfg: Config, components: list[str], as_json: bool) -> int:
    started = time.monotonic()
    with locked(cfg):
        # Keycloak takes the longest to start: started first, waited for last.
        keycloak = keycloak_start(cfg) if "keycloak" in components else None
        for name, up in (("postgres", pg_up), ("smtp", smtp_up), ("kafka", kafka_up),
                         ("jaeger", jaeger_up), ("prometheus", prometheus_up)):
            if name in components:
                say(f"{name}: {up(cfg)}")
        if keycloak is not None:
            keycloak_wait(cfg, keycloak[0])
            say(f"keycloak: {keycloak[1]}")
        infra = cfg.infra()
        env_lines = [f"{key}={shlex.quote(value)}\n" for key, value in infra.items()]
        (cfg.state / "infra.env").write_text("".join(env_lines))
        (cfg.state / "infra.json").write_text(json.dumps(infra, indent=2) + "\n")
    say(f"ready in {time.monotonic() - started:.1f}s; wrote {cfg.state}/infra.env and infra.json")
    if as_json:
        print(json.dumps(infra))
    else:
        print(f"Kafka       {cfg.bootstrap}  (KRaft controller 127.0.0.1:{cfg.controller_port})")
        print(f"PostgreSQL  {cfg.dsn()}  (service roles: labelling/labelling, ...)")
        print(f"SMTP sink   127.0.0.1:{cfg.smtp_port}  -> {cfg.maildir}")
        print(f"Keycloak    {cfg.keycloak_url}  (realm cites; admin console: admin/admin)")
        otlp = cfg.jaeger_ports
        print(f"Jaeger      {cfg.jaeger_query_url}  (traces: UI and /api/traces; OTLP in: "
              f"HTTP 127.0.0.1:{otlp['otlp_http']}, gRPC 127.0.0.1:{otlp['otlp_grpc']})")
        print(f"Prometheus  {cfg.prometheus_url}  (metrics and alerts: /api/v1/query, "
              f"/api/v1/alerts; scrapes every service replica's ops port, "
              f"{len(every_replica())} from 127.0.0.1:{every_replica()[0].ops_port})")
        print(f"env         source {cfg.state / 'infra.env'}")
    return 0


def cmd_down(cfg: Config, components: list[str], purge: bool) -> int:
    with locked(cfg):
        for name, down in (("prometheus", prometheus_down), ("jaeger", jaeger_down),
                           ("keycloak", keycloak_down),
                           ("smtp", smtp_down),
                           ("kafka", kafka_down), ("postgres", pg_down)):
            if name in components:
                down(cfg, purge)
        if purge and set(components) == set(COMPONENTS):
            for name in ("infra.env", "infra.json"):
                (cfg.state / name).unlink(missing_ok=True)
    say("stopped" + (" and purged (jars and Maven cache kept)" if purge else ""))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="start (or reuse) the components, write infra.env/infra.json")
    up.add_argument("components", nargs="*", metavar="{" + ",".join(COMPONENTS) + "}",
                    help="default: all")
    up.add_argument(
        "--json", action="store_true", help="print the infra JSON as the only stdout line"
    )
    down = sub.add_parser("down", help="stop the components; leave no process behind")
    down.add_argument("components", nargs="*", metavar="{" + ",".join(COMPONENTS) + "}",
                      help="default: all")
    down.add_argument(
        "--purge", action="store_true", help="also delete data (keeps jars and Maven cache)"
    )
    st = sub.add_parser("status", help="show each component")
    st.add_argument("--json", action="store_true")
    sub.add_parser("env", help="print <state>/infra.env")
    args = parser.parse_args(argv)
    if unknown := set(getattr(args, "components", [])) - set(COMPONENTS):
        parser.error(f"unknown component(s) {sorted(unknown)}; choose among {COMPONENTS}")
    cfg = Config.from_env()
    try:
        if args.command == "up":
            return cmd_up(cfg, args.components or list(COMPONENTS), args.json)
        if args.command == "down":
            return cmd_down(cfg, args.components or list(COMPONENTS), args.purge)
        if args.command == "status":
            result = status(cfg)
            if args.json:
                print(json.dumps(result))
            for name, info in result.items():
                pid = info["pid"] or "-"
                line = f"{name:<10} {info['state']:<14} pid={pid:<8} {info['address']}"
                print(line, file=sys.stderr if args.json else sys.stdout)
            return 0 if all(i["state"] == "running" for i in result.values()) else 1
        env_file = cfg.state / "infra.env"
        if not env_file.exists():
            raise LauncherError(f"{env_file} does not exist: run `launcher.py up` first")
        print(env_file.read_text(), end="")
        return 0
    except LauncherError as exc:
        print(f"launcher: {exc}", file=sys.stderr)
        return exc.code
    except LayoutError as exc:
        print(f"launcher: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
