"""Start, migrate and stop the platform's services natively (the `make run` path).

Each service runs as ``python -m <name>`` with its own database role and schema, reading
the infrastructure's addresses from ``.local/infra.json`` (written by launcher.py). People
sign in through the launcher's Keycloak (``auth_mode`` oidc, the realm ``cites`` as
issuer); health, /metrics and the API documents are on each service's ops port
(9001–9005, as under compose), where the dashboard's probe and ``make demo`` read them.
A service may run several processes (``CITES_REPLICAS=partners=2,funding=2``): they share
its API port, each has its own ops port (layout.py says which); ``up`` starts the missing
ones and stops those beyond the count, ``status`` and ``down`` take every one.
Usage: services.py {up,migrate,down,status} [SERVICE ...]
       services.py cli SERVICE ARGS...   (its command line with its settings, e.g.
                                          services.py cli partners dlq list)
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

# layout.py, beside this file: found even when this file is loaded by path (the tests do),
# and after the standard modules, which a neighbour could otherwise shadow.
sys.path.append(str(Path(__file__).resolve().parent))

from layout import SERVICES, LayoutError, Replica, ports, replica_counts, replicas

ROOT = Path(__file__).resolve().parents[2]
STATE = Path(os.environ.get("CITES_LOCAL_DIR", ROOT / ".local"))
RUN = STATE / "services"
PORTS = {name: ports(name)[0] for name in SERVICES}
OPS_PORTS = {name: ports(name)[1] for name in SERVICES}
"""Each service's (first replica's) ops port: health, /metrics, /docs, /openapi.json,
/asyncapi.json."""
REALM = "cites"
DEV_PASSWORD = "cites-dev"
"""The development users' password (deploy/keycloak/realm.py)."""
DEV_USERS = ("national", "prefecture-69 (and prefecture-01 … prefecture-976)", "viewer",
             "rectorat (69)", "commune (69256)", "partner", "operator")


def infra() -> dict[str, str]:
    path = STATE / "infra.json"
    if not path.exists():
        sys.exit("infrastructure is not up: run `make infra-up` (or `make run`) first")
    info: dict[str, str] = json.loads(path.read_text())
    return info


def kafka_secrets() -> dict[str, str]:
    """The principals' passwords the launcher made (<state>/kafka/credentials.json)."""
    path = STATE / "kafka" / "credentials.json"
    if not path.exists():
        sys.exit("Kafka is not up: run `make infra-up` (or `make run`) first")
    found: dict[str, str] = json.loads(path.read_text())
    return found


def service_env(name: str, replica: Replica | None = None) -> dict[str, str]:
    """The environment of ``name``'s process ``replica`` (by default its first)."""
    replica = replica or replicas(name)[0]
    info = infra()
    admin = urlsplit(info["DATABASE_URL"])
    prefix = name.upper() + "_"
    env = dict(os.environ)
    env.update({
        f"{prefix}DATABASE_URL": f"postgresql://{name}:{name}@{admin.hostname}:{admin.port}"
                                 f"{admin.path}",
        f"{prefix}DB_SCHEMA": name,
        f"{prefix}KAFKA_BOOTSTRAP_SERVERS": info["KAFKA_BOOTSTRAP_SERVERS"],
        f"{prefix}KAFKA_USERNAME": name,
        f"{prefix}KAFKA_PASSWORD": kafka_secrets().get(name, ""),
        f"{prefix}HTTP_PORT": str(replica.http_port),
        f"{prefix}HTTP_REUSE_PORT": str(replica.of > 1).lower(),  # the replicas share it
        f"{prefix}OPS_PORT": str(replica.ops_port),
        f"{prefix}SMTP_HOST": info.get("SMTP_HOST", "127.0.0.1"),
        f"{prefix}SMTP_PORT": str(info.get("SMTP_PORT", "")),
        f"{prefix}ENVIRONMENT": "development",
        f"{prefix}AUTH_MODE": "oidc",
        f"{prefix}OIDC_ISSUER": issuer(info),
    })
    env.pop(f"{prefix}TOKENS", None)  # static tokens are not read in oidc mode: refused
    if otlp := info.get("OTEL_EXPORTER_OTLP_ENDPOINT"):  # the launcher's Jaeger: spans go there
        env.update({"OTEL_EXPORTER_OTLP_ENDPOINT": otlp, "OTEL_SERVICE_NAME": name})
    if name == "dashboard":  # it probes the other services' /health/ready and /metrics
        env["DASHBOARD_SERVICES"] = json.dumps({other: f"http://127.0.0.1:{port}"
                                                for other, port in OPS_PORTS.items()
                                                if other != name})
    return env


def issuer(info: dict[str, str]) -> str:
    """The identity provider the services accept tokens of: the launcher's Keycloak."""
    if "KEYCLOAK_URL" not in info:
        sys.exit("Keycloak is not up: run `make infra-up` (or `make run`) first")
    return f"{info['KEYCLOAK_URL']}/realms/{REALM}"


def pid_of(name: str) -> int | None:
    pid_file = RUN / f"{name}.pid"
    if not pid_file.exists():
        return None
    pid = int(pid_file.read_text())
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        pid_file.unlink()
        return None
    return pid


def migrate(name: str) -> None:
    subprocess.run([sys.executable, "-m", name, "migrate"], env=service_env(name), check=True)


def provision_kafka(names: list[str]) -> None:
    """Topics, the services' principals and their ACLs, as the administrator (the compose
    kafka-init job does the same): services create no topic and may write only their own."""
    info, passwords = infra(), kafka_secrets()
    env = {**os.environ, **{k: v for k, v in info.items() if k.startswith("KAFKA_")},
           **{f"{n.upper()}_KAFKA_PASSWORD": passwords[n] for n in names if n in passwords}}
    consumes = sorted(str(p) for p in ROOT.glob("services/*/consumes.json"))
    subprocess.run([sys.executable, "-m", "cites_runtime.kafka_admin", "provision",
                    "--services", ",".join(names), "--require-passwords",
                    "--consumes", *consumes], env=env, check=True,
                   stdout=sys.stderr)  # what it did is no output of a command it precedes


def wait_ready(replica: Replica, timeout: float = 60) -> None:
    url = f"http://127.0.0.1:{replica.ops_port}/health/ready"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        if pid_of(replica.name) is None:
            break
        time.sleep(0.3)
    log = RUN / f"{replica.name}.log"
    tail = log.read_text()[-3000:] if log.exists() else ""
    sys.exit(f"{replica.name} did not become ready ({url}); last log lines:\n{tail}")


def start_replicas(name: str) -> list[Replica]:
    """Every replica of ``name`` running (those missing started, each waited for until
    ready) and none beyond the count (those stopped): what `up` does for one service."""
    wanted = replicas(name)
    for surplus in running_replicas(name, beyond=len(wanted)):
        stop(surplus)
    for replica in wanted:
        if pid_of(replica.name) is None:
            log = open(RUN / f"{replica.name}.log", "ab")  # noqa: SIM115 - handed to the child
            proc = subprocess.Popen([sys.executable, "-m", name],
                                    env=service_env(name, replica), stdout=log,
                                    stderr=subprocess.STDOUT, start_new_session=True)
            (RUN / f"{replica.name}.pid").write_text(str(proc.pid))
    for replica in wanted:
        wait_ready(replica)
    return wanted


def running_replicas(name: str, beyond: int = 0) -> list[str]:
    """The pid files' stems of ``name``'s replicas numbered above ``beyond``."""
    found = []
    for pid_file in RUN.glob(f"{name}*.pid") if RUN.exists() else []:
        match = re.fullmatch(rf"{re.escape(name)}(?:-(\d+))?", pid_file.stem)
        if match and int(match.group(1) or 1) > beyond:
            found.append(pid_file.stem)
    return sorted(found)


def up(names: list[str]) -> None:
    RUN.mkdir(parents=True, exist_ok=True)
    if not names:
        print("no service exists yet (services/*/pyproject.toml): infrastructure only")
    else:
        provision_kafka(names)
    started: list[Replica] = []
    for name in names:
        migrate(name)
        started += start_replicas(name)
    summary(started)


def summary(started: list[Replica]) -> None:
    """What `up` prints: where each service answers, then how to sign in."""
    info = infra()
    print("\nThe platform is up:")
    for r in started:
        shared = f", port shared by its {r.of} replicas" if r.of > 1 else ""
        print(f"  {r.name:<14} http://127.0.0.1:{r.http_port}  (docs http://127.0.0.1:"
              f"{r.ops_port}/docs, log {RUN / (r.name + '.log')}{shared})")
    print(f"  {'kafka':<14} {info['KAFKA_BOOTSTRAP_SERVERS']}")
    print(f"  {'postgresql':<14} {info['DATABASE_URL']}")
    print(f"  {'smtp sink':<14} {info.get('SMTP_HOST')}:{info.get('SMTP_PORT')} "
          f"(mail in {info.get('SMTP_MAILDIR')})")
    print(f"  {'keycloak':<14} {info['KEYCLOAK_URL']}  (admin console: admin / admin)")
    if query := info.get("JAEGER_QUERY_URL"):
        print(f"  {'traces':<14} {query}/search  (Jaeger; API {query}/api/traces?service=NAME, "
              f"spans in over OTLP at {info.get('OTEL_EXPORTER_OTLP_ENDPOINT')})")
    if metrics := info.get("PROMETHEUS_URL"):
        print(f"  {'metrics':<14} {metrics}/api/v1/alerts  (Prometheus: the services' /metrics "
              f"scraped, deploy/observability's rules; query {metrics}/api/v1/query?query=up)")
    print("\nSign in:")
    if any(r.service == "dashboard" for r in started):
        print(f"  the programme dashboard  http://127.0.0.1:{PORTS['dashboard']}/  "
              "(as viewer, national or a préfecture)")
    print(f"  dev users                {', '.join(DEV_USERS)}")
    print(f"                           password {DEV_PASSWORD} for every one")
    print(f"  a token for curl         curl -s -d grant_type=password -d client_id=cites-cli "
          f"-d username=national -d password={DEV_PASSWORD} \\\n"
          f"                             {issuer(info)}/protocol/openid-connect/token "
          "| jq -r .access_token")
    print("\nStop everything with `make stop`.")


def stop(stem: str) -> None:
    """SIGTERM to the process group of the pid file ``stem``, SIGKILL after 10 s."""
    pid = pid_of(stem)
    if pid is not None:
        os.killpg(pid, signal.SIGTERM)
        for _ in range(100):
            if pid_of(stem) is None:
                break
            time.sleep(0.1)
        else:
            os.killpg(pid, signal.SIGKILL)
        print(f"{stem} stopped")
    (RUN / f"{stem}.pid").unlink(missing_ok=True)


def down() -> None:
    """Every process `up` started, replicas included."""
    for pid_file in sorted(RUN.glob("*.pid")) if RUN.exists() else []:
        stop(pid_file.stem)


def status(names: list[str]) -> None:
    for name in names:
        for stem in running_replicas(name) or [name]:
            pid = pid_of(stem)
            print(f"{stem:<14} {'running, pid ' + str(pid) if pid else 'stopped'}")


def main(argv: list[str]) -> None:
    if not argv or argv[0] not in {"up", "migrate", "down", "status", "cli"}:
        sys.exit(__doc__)
    command, names = argv[0], argv[1:]
    if command == "cli":
        if not names:
            sys.exit(__doc__)
        provision_kafka(names[:1])  # its principal and ACLs, if `make run` never made them
        # the launcher's settings, but those the caller gives (<SERVICE>_…) win
        mine = {k: v for k, v in os.environ.items() if k.startswith(names[0].upper() + "_")}
        env = {**service_env(names[0]), **mine}
        sys.exit(subprocess.run([sys.executable, "-m", *names], env=env,
                                check=False).returncode)
    if command == "up":
        try:
            replica_counts()  # refused before anything starts
        except LayoutError as exc:
            sys.exit(f"services.py: {exc}")
        up(names)
    elif command == "migrate":
        for name in names:
            migrate(name)
    elif command == "down":
        down()
    else:
        status(names)


if __name__ == "__main__":
    main(sys.argv[1:])
