#!/usr/bin/env python3
"""The platform under ``docker compose``, as an operator brings it up and as CI checks it.

    python deploy/compose/stage.py up       # .env (from .env.example if none), images, up --wait
                                            # (COMPOSE_PROFILES=observability: with Prometheus)
    python deploy/compose/stage.py down     # stop (volumes kept); --wipe removes them
    python deploy/compose/stage.py check    # CI: engine, images, up (with Prometheus), demo,
                                            # metrics and rules, faults, down -v
    python deploy/compose/stage.py engine   # a Docker engine that answers (started if none)

Images: the compose file's official ones when the engine has them or can pull them;
otherwise the stand-ins of deploy/images (``make images``), named in STAND_INS. ``check``
fails — never skips — when something cannot run: no engine that can be started, an image
that cannot be built, a service that is not healthy, a reconciliation with a difference.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
COMPOSE = ["docker", "compose", "--project-directory", str(REPO)]
STAND_INS = {
    "KAFKA_IMAGE": ("apache/kafka:4.1.1", "cites-local/kafka:4.1.1"),
    "POSTGRES_IMAGE": ("postgres:16.10-bookworm", "cites-local/postgres:15"),
    "MAILPIT_IMAGE": ("axllent/mailpit:v1.27.11", "cites-local/mailpit:v1.27.11"),
    "JAEGER_IMAGE": ("jaegertracing/jaeger:2.12.0", "cites-local/jaeger:2.12.0"),
    "PROMETHEUS_IMAGE": ("prom/prometheus:v3.16.0", "cites-local/prometheus:v3.16.0"),
    "PYTHON_IMAGE": ("python:3.11.14-slim-bookworm", "cites-local/python:3.11-bookworm"),
}
"""Variable of the compose file → (its official default, the stand-in deploy/images builds)."""
SIM = [sys.executable, "-m", "cites_sim", "run", "--mailpit", "http://127.0.0.1:8025",
       "--kafka", f"127.0.0.1:{os.environ.get('CITES_KAFKA_PORT', '19092')}",
       "--concurrency", "8",
       # /metrics is on each service's ops port (published on 127.0.0.1 only)
       "--ops-urls", json.dumps({s: f"http://127.0.0.1:900{n}" for n, s in enumerate(
           ("labelling", "partners", "funding", "notifications"), 1)})]
# Faults injected while the second run goes on: partners crashes (its process SIGKILLed
# from the host, as a kernel OOM kill would; Docker restarts it) while the labels it
# consumes pour in, and Kafka restarts while commitments and payments are made.
CRASH_PARTNERS = "kill -9 $(docker inspect -f '{{.State.Pid}}' cites-partners-1)"
RESTART_KAFKA = " ".join([*COMPOSE, "restart", "kafka"])
OBSERVABILITY = {"COMPOSE_PROFILES": "observability"}
"""The compose profile that adds Prometheus: the check runs with it; `down` names it so that
its container goes too."""
RULES = REPO / "deploy" / "observability" / "prometheus" / "rules.yml"
SCRAPED = ("labelling", "partners", "funding", "notifications", "dashboard")
"""Whose ops port (``<service>:9000``) Prometheus scrapes under compose."""


class StageError(RuntimeError):
    pass


def say(message: str) -> None:
    print(f"[compose] {message}", file=sys.stderr, flush=True)


def run(cmd: Sequence[str], *, env: Mapping[str, str] | None = None, check: bool = True,
        capture: bool = False, timeout: float = 1800) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(list(cmd), env={**os.environ, **(env or {})}, text=True,
                          capture_output=capture, timeout=timeout, check=False)
    if check and done.returncode != 0:
        detail = (done.stderr or "")[-3000:] if capture else ""
        raise StageError(f"{' '.join(cmd)} exited {done.returncode}\n{detail}")
    return done


def engine_answers() -> bool:
    return shutil.which("docker") is not None and subprocess.run(
        ["docker", "info"], capture_output=True, timeout=30, check=False).returncode == 0


def ensure_engine(*, start: bool) -> None:
    """A Docker engine that answers: started here (Debian's docker.io, as root) if
    ``start`` and none answers."""
    if engine_answers():
        return
    if not start:
        raise StageError("no Docker engine answers: start one (`dockerd`), or use make run")
    if shutil.which("dockerd") is None:
        say("installing Debian's docker.io …")
        run(["apt-get", "update", "-qq"])
        run(["apt-get", "install", "-y", "-qq", "docker.io"],
            env={"DEBIAN_FRONTEND": "noninteractive"})
    log = REPO / ".local" / "dockerd.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    say(f"starting dockerd (log: {log}) …")
    with log.open("ab") as out:
        subprocess.Popen(["dockerd"], stdout=out, stderr=subprocess.STDOUT,
                         start_new_session=True)
    deadline = time.monotonic() + 60
    while not engine_answers():
        if time.monotonic() > deadline:
            raise StageError(f"dockerd did not answer within 60 s: see {log}")
        time.sleep(1)
    say("engine up")


def has_image(name: str) -> bool:
    return subprocess.run(["docker", "image", "inspect", name], capture_output=True,
                          timeout=60, check=False).returncode == 0


def can_pull(name: str) -> bool:
    return subprocess.run(["docker", "pull", "-q", name], capture_output=True, timeout=300,
                          check=False).returncode == 0


def images() -> dict[str, str]:
    """The image variables for compose: official where present or pullable, else the
    stand-ins (built by ``make images`` when missing)."""
    chosen: dict[str, str] = {}
    for variable, (official, stand_in) in STAND_INS.items():
        wanted = os.environ.get(variable)
        if wanted:
            chosen[variable] = wanted
        elif has_image(official) or can_pull(official):
            chosen[variable] = official
        else:
            chosen[variable] = stand_in
    missing = [chosen[v] for v, (_, stand_in) in STAND_INS.items()
               if chosen[v] == stand_in and not has_image(stand_in)]
    if missing:
        say(f"no registry: building the stand-in images ({', '.join(missing)}) …")
        run(["make", "-C", str(REPO), "images"])
    say("images: " + ", ".join(f"{v}={i}" for v, i in chosen.items()))
    return chosen


def ensure_dotenv() -> None:
    env_file = REPO / ".env"
    if not env_file.exists():
        shutil.copy(REPO / ".env.example", env_file)
        say(".env created from .env.example: DEVELOPMENT values — change them for anything "
            "but a machine of your own")
        return
    # An .env older than the platform: the variables it lacks, with their dev values.
    example = [line for line in (REPO / ".env.example").read_text().splitlines()
               if re.match(r"^\w+=", line)]
    have = set(re.findall(r"^(\w+)=", env_file.read_text(), re.MULTILINE))
    missing = [line for line in example if line.split("=", 1)[0] not in have]
    if missing:
        with env_file.open("a") as out:
            out.write("".join(f"{line}\n" for line in missing))
        say(f"added to .env from .env.example (DEVELOPMENT values): "
            f"{', '.join(line.split('=', 1)[0] for line in missing)}")


def dotenv() -> dict[str, str]:
    """The values of ``.env`` (``NAME=value`` lines; comments and blanks skipped)."""
    found: dict[str, str] = {}
    for line in (REPO / ".env").read_text().splitlines():
        name, sep, value = line.strip().partition("=")
        if sep and not name.startswith("#"):
            found[name.strip()] = value.strip()
    return found


def as_administrator() -> dict[str, str]:
    """The simulation's Kafka principal: the brokers' administrator, from ``.env``."""
    return {"KAFKA_USERNAME": "admin", "KAFKA_SASL_MECHANISM": "PLAIN",
            "KAFKA_PASSWORD": dotenv()["KAFKA_ADMIN_PASSWORD"]}


def forged_event_refused() -> None:
    """From the host, as an outsider would: no credentials → no connection; partners'
    own principal producing a TerritoryLabelled on labelling.labels → refused by the
    broker (its ACLs let it write only its own topics)."""
    import asyncio

    from aiokafka import AIOKafkaProducer
    from aiokafka.errors import KafkaConnectionError, TopicAuthorizationFailedError

    from cites_contracts.access import KafkaAccess

    bootstrap = f"127.0.0.1:{os.environ.get('CITES_KAFKA_PORT', '19092')}"

    async def attempt(access: KafkaAccess) -> str:
        producer = AIOKafkaProducer(**access.client_kwargs(), request_timeout_ms=10_000)
        try:
            await producer.start()
            await producer.send_and_wait("labelling.labels", b"{}", key=b"cite-forged")
            return "accepted"
        except (KafkaConnectionError, TopicAuthorizationFailedError) as exc:
            return type(exc).__name__
        finally:
            await producer.stop()

    import logging
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)  # the refusals are the point
    anonymous = asyncio.run(attempt(KafkaAccess(bootstrap)))
    partners = asyncio.run(attempt(KafkaAccess(bootstrap, "partners",
                                               dotenv()["PARTNERS_KAFKA_PASSWORD"])))
    if anonymous == "accepted" or partners != "TopicAuthorizationFailedError":
        raise StageError(f"a forged event on labelling.labels: without credentials "
                         f"{anonymous}, as partners {partners}")
    say(f"forged event on labelling.labels refused: without credentials ({anonymous}), "
        f"as partners ({partners})")


def build_commit() -> str:
    """The commit the images are built from (their ``build_info``): $CITES_BUILD_COMMIT,
    else git's HEAD, else ``unknown``."""
    if commit := os.environ.get("CITES_BUILD_COMMIT"):
        return commit
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True,
                          text=True, check=False)
    return head.stdout.strip() if head.returncode == 0 else "unknown"


def traces_readable() -> None:
    """Jaeger's query API answers from the host, on the published port, as a person reads
    traces (compose found its container healthy already: ``up --wait``)."""
    import urllib.request

    url = f"http://127.0.0.1:{os.environ.get('CITES_JAEGER_PORT', '16686')}/api/services"
    try:
        with urllib.request.urlopen(url, timeout=10) as answer:
            senders = json.loads(answer.read())["data"] or []
    except (OSError, ValueError, KeyError) as exc:
        raise StageError(f"Jaeger's query API does not answer at {url}: {exc}") from exc
    say(f"traces readable at {url.removesuffix('/api/services')} "
        f"(services that sent spans: {', '.join(sorted(senders)) or 'none yet'})")


def traces_from(services: Sequence[str]) -> None:
    """Every one of ``services`` has sent spans to Jaeger (they export by OTLP as compose
    configures them): what the demo just did is traced."""
    import urllib.request

    url = f"http://127.0.0.1:{os.environ.get('CITES_JAEGER_PORT', '16686')}/api/services"
    deadline = time.monotonic() + 30  # the exporters send in batches, every few seconds
    while True:
        with urllib.request.urlopen(url, timeout=10) as answer:
            senders = set(json.loads(answer.read())["data"] or [])
        missing = sorted(set(services) - senders)
        if not missing:
            say(f"traces in Jaeger from {', '.join(sorted(services))}")
            return
        if time.monotonic() > deadline:
            raise StageError(f"no span in Jaeger from {', '.join(missing)} after the demo")
        time.sleep(2)


def prometheus_api(path: str) -> Any:
    """``data`` of Prometheus's ``/api/v1/<path>`` on its published port."""
    import urllib.request

    url = (f"http://127.0.0.1:{os.environ.get('CITES_PROMETHEUS_PORT', '9090')}"
           f"/api/v1/{path}")
    try:
        with urllib.request.urlopen(url, timeout=10) as answer:
            return json.loads(answer.read())["data"]
    except (OSError, ValueError, KeyError) as exc:
        raise StageError(f"Prometheus's API does not answer at {url}: {exc}") from exc


def metrics_scraped_and_rules_loaded() -> None:
    """Prometheus (the `observability` profile) scrapes every service's ops port, each
    up, and has loaded every group of the rule file, each rule evaluated without error."""
    import yaml

    groups = sorted(g["name"] for g in yaml.safe_load(RULES.read_text())["groups"])
    wanted = {f"{name}:9000" for name in SCRAPED}
    deadline = time.monotonic() + 90  # a scrape every 15 s, an evaluation every 30 s
    while True:
        targets = prometheus_api("targets?state=active")["activeTargets"]
        health = {t["labels"]["instance"]: t["health"] for t in targets
                  if t["labels"]["job"] == "cites"}
        loaded = prometheus_api("rules")["groups"]
        rules = {(g["name"], r["name"]): (r["health"], r.get("lastError", ""))
                 for g in loaded for r in g["rules"]}
        problems = [f"target {t}: {health.get(t, 'not scraped')}" for t in sorted(wanted)
                    if health.get(t) != "up"]
        if sorted(g["name"] for g in loaded) != groups:
            problems.append(f"rule groups {sorted(g['name'] for g in loaded)}, not {groups}")
        problems += [f"rule {group}/{name}: {state} {error}".rstrip()
                     for (group, name), (state, error) in sorted(rules.items())
                     if (state, error) != ("ok", "")]
        if not problems:
            say(f"Prometheus: {len(wanted)} services scraped and up, {len(rules)} rules of "
                f"{len(groups)} groups evaluated ok")
            return
        if time.monotonic() > deadline:
            raise StageError("Prometheus after the demo: " + "; ".join(problems))
        time.sleep(3)


def up(env: Mapping[str, str]) -> float:
    ensure_dotenv()
    started = time.monotonic()
    run([*COMPOSE, "up", "--detach", "--wait", "--build", "--wait-timeout", "600"],
        env={"CITES_BUILD_COMMIT": build_commit(), **env})
    seconds = time.monotonic() - started
    say(f"docker compose up --wait: every service healthy in {seconds:.0f} s")
    return seconds


def host_bindings(env: Mapping[str, str]) -> list[tuple[str, str]]:
    """(service, host address) of every published port, as compose resolves them."""
    config = json.loads(run([*COMPOSE, "config", "--format", "json"], env=env,
                            capture=True).stdout)
    return [(name, str(port.get("host_ip", "")))
            for name, svc in config["services"].items() for port in svc.get("ports", [])]


def check() -> None:
    timings: dict[str, float] = {}
    started = time.monotonic()
    ensure_dotenv()
    ensure_engine(start=True)
    timings["engine"] = time.monotonic() - started
    mark = time.monotonic()
    env = {**images(), **OBSERVABILITY}
    run(["make", "-C", str(REPO), "compose-cli"])
    timings["images"] = time.monotonic() - mark
    bindings = host_bindings(env)
    opened = [b for b in bindings if b[1] != "127.0.0.1"]
    if not bindings or opened:
        raise StageError(f"host ports not bound to 127.0.0.1 only: {opened or 'none found'}")
    say(f"docker compose config: {len(bindings)} host ports, all on 127.0.0.1")
    run([*COMPOSE, "down", "--volumes", "--remove-orphans"], env=env)
    try:
        timings["up"] = up(env)
        forged_event_refused()
        traces_readable()
        env = {**env, **as_administrator()}
        mark = time.monotonic()
        run([*SIM, "--waves", "2019", "--run-id", f"ci{int(time.time())}a"], env=env)
        traces_from(["labelling", "partners", "funding", "notifications"])
        metrics_scraped_and_rules_loaded()
        timings["demo 2019"] = time.monotonic() - mark
        say("make demo against compose: 0 differences")
        mark = time.monotonic()
        run([*SIM, "--waves", "2024", "--run-id", f"ci{int(time.time())}b",
             "--fault", f"candidatures filed={CRASH_PARTNERS}",
             "--fault", f"commitments and payments={RESTART_KAFKA}"], env=env)
        timings["demo 2024 (live), partners killed, kafka restarted"] = time.monotonic() - mark
        say("partners SIGKILLed and Kafka restarted under load: 0 differences")
    except BaseException:
        run([*COMPOSE, "ps", "--all"], env=env, check=False)
        run([*COMPOSE, "logs", "--tail", "60"], env=env, check=False)
        raise
    finally:
        mark = time.monotonic()
        run([*COMPOSE, "down", "--volumes", "--remove-orphans"], env=env, check=False)
        timings["down"] = time.monotonic() - mark
    timings["stage"] = time.monotonic() - started
    say("compose stage passed: " + ", ".join(f"{k} {v:.0f} s" for k, v in timings.items()))


def main(argv: Sequence[str]) -> int:
    command = argv[0] if argv else "up"
    try:
        if command == "up":
            ensure_engine(start=False)
            up(images())
            say("platform up: dashboard http://127.0.0.1:8005/ (a development stack: type a "
                "token of the tokens file, e.g. dev-viewer), mails http://127.0.0.1:8025, "
                "traces http://127.0.0.1:16686"
                + (", metrics and alerts http://127.0.0.1:9090"
                   if "observability" in os.environ.get("COMPOSE_PROFILES", "") else
                   " (COMPOSE_PROFILES=observability adds Prometheus)"))
        elif command == "down":
            ensure_dotenv()
            run([*COMPOSE, "down", *(["--volumes"] if "--wipe" in argv else [])],
                env=OBSERVABILITY)
        elif command == "engine":
            ensure_engine(start=True)
        elif command == "check":
            check()
        else:
            say(f"unknown command {command!r}: up, down [--wipe], check or engine")
            return 2
    except StageError as exc:
        say(f"FAILED: {exc}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
