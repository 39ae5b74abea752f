"""Find real Kafka, PostgreSQL and SMTP for tests, in this order:

1. ``KAFKA_BOOTSTRAP_SERVERS`` and ``DATABASE_URL`` (admin DSN) given → use them;
2. a Docker engine answers → testcontainers (apache/kafka KRaft, postgres:16, Mailpit);
3. otherwise → the project's native launcher ``deploy/local/launcher.py``.

The same tests run in all three modes.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

__all__ = ["Infra", "find_repo_root", "resolve_infra"]

Mode = Literal["env", "docker", "native"]
Component = Literal["kafka", "postgres"]

KAFKA_IMAGE = "apache/kafka:4.1.1"
POSTGRES_IMAGE = "postgres:16"
MAILPIT_IMAGE = "axllent/mailpit:v1.27"


@dataclass
class Infra:
    mode: Mode
    kafka_bootstrap: str
    database_url: str
    smtp_host: str | None = None
    smtp_port: int | None = None
    smtp_maildir: str | None = None
    launcher: Path | None = None
    _teardown: list[Callable[[], None]] = field(default_factory=list, repr=False)
    _handles: dict[str, Any] = field(default_factory=dict, repr=False)

    # -- faults ---------------------------------------------------------------------
    def can_stop(self) -> bool:
        """Whether the tests may stop and start the servers (not when they were given)."""
        return self.mode in ("native", "docker")

    def stop(self, component: Component) -> None:
        """Really stop a server (fault injection). Natively the process is shut down
        (PostgreSQL: fast shutdown; Kafka: controlled shutdown) and keeps its data; with
        Docker the container is paused instead, as restarting one would change its port."""
        if self.mode == "native":
            self._launch("down", component)
        elif self.mode == "docker":
            self._handles[component].get_wrapped_container().pause()
        else:
            raise RuntimeError(f"cannot stop a {component} given by the environment")

    def start(self, component: Component) -> None:
        if self.mode == "native":
            self._launch("up", component)
        elif self.mode == "docker":
            self._handles[component].get_wrapped_container().unpause()
        else:
            raise RuntimeError(f"cannot start a {component} given by the environment")

    def close(self) -> None:
        while self._teardown:
            self._teardown.pop()()

    def _launch(self, *args: str) -> str:
        assert self.launcher is not None
        return run_launcher(self.launcher, *args)


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
    except OSError:
        return False


def _docker_answers() -> bool:
    if os.environ.get("CITES_NO_DOCKER"):
        return False
    try:
        import docker

        client = docker.from_env(timeout=3)
        client.ping()
        return True
    except Exception:
        return False


def _from_docker() -> Infra:
    from testcontainers.core.container import DockerContainer
    from testcontainers.kafka import KafkaContainer
    from testcontainers.postgres import PostgresContainer

    kafka = KafkaContainer(KAFKA_IMAGE).with_kraft()
    pg = PostgresContainer(POSTGRES_IMAGE, username="postgres", password="postgres",
                           dbname="cites", driver=None)
    mail = DockerContainer(MAILPIT_IMAGE).with_exposed_ports(1025, 8025)
    for c in (kafka, pg, mail):
        c.start()
    infra = Infra(
        mode="docker",
        kafka_bootstrap=kafka.get_bootstrap_server(),
        database_url=pg.get_connection_url(),
        smtp_host=mail.get_container_host_ip(),
        smtp_port=int(mail.get_exposed_port(1025)),
    )
    infra._handles.update(kafka=kafka, postgres=pg, mailpit=mail)
    infra._teardown.extend([kafka.stop, pg.stop, mail.stop])
    return infra


def _from_native(root: Path) -> Infra:
    launcher = root / "deploy" / "local" / "launcher.py"
    state = Path(os.environ.get("CITES_LOCAL_DIR", root / ".local"))
    previous = state / "infra.json"
    was_up = False
    if previous.exists():
        info = json.loads(previous.read_text())
        was_up = _port_open(info["KAFKA_BOOTSTRAP_SERVERS"]) and _port_open(
            info["DATABASE_URL"].rsplit("@", 1)[1].split("/", 1)[0]
        )
    out = run_launcher(launcher, "up", "--json")
    info = json.loads(out.strip().splitlines()[-1])
    infra = Infra(
        mode="native",
        kafka_bootstrap=info["KAFKA_BOOTSTRAP_SERVERS"],
        database_url=info["DATABASE_URL"],
        smtp_host=info.get("SMTP_HOST"),
        smtp_port=int(info["SMTP_PORT"]) if info.get("SMTP_PORT") else None,
        smtp_maildir=info.get("SMTP_MAILDIR"),
        launcher=launcher,
    )
    if not was_up and not os.environ.get("CITES_KEEP_INFRA"):
        # We started it, so we stop it; an infrastructure someone else started stays up.
        infra._teardown.append(lambda: _stop(launcher))
    return infra


def _stop(launcher: Path) -> None:
    run_launcher(launcher, "down")


def resolve_infra() -> Infra:
    kafka, db = os.environ.get("KAFKA_BOOTSTRAP_SERVERS"), os.environ.get("DATABASE_URL")
    if kafka and db:
        port = os.environ.get("SMTP_PORT")
        return Infra(mode="env", kafka_bootstrap=kafka, database_url=db,
                     smtp_host=os.environ.get("SMTP_HOST"), smtp_port=int(port) if port else None,
                     smtp_maildir=os.environ.get("SMTP_MAILDIR"))
    if _docker_answers():
        return _from_docker()
    root = find_repo_root()
    if root is None:
        raise RuntimeError(
            "no infrastructure: set KAFKA_BOOTSTRAP_SERVERS and DATABASE_URL, start a Docker "
            "engine, or run the tests from the repository (deploy/local/launcher.py)"
        )
    return _from_native(root)
