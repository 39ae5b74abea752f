"""The pytest plugin's ways to the infrastructure: a test asking for no Kafka gets none (and
no broker starts for it), a session that cannot have its infrastructure ends in one line
saying how to choose another way, the Docker path's images and broker settings, and mail
read back from Mailpit."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import docker.errors
import httpx
import pytest

from cites_runtime.settings import ServiceSettings
from cites_runtime.testing import in_memory, on_kafka
from cites_runtime.testing.containers import (
    KAFKA,
    OWNER,
    kafka_env,
    remove_abandoned,
    resolve_image,
)
from cites_runtime.testing.infra import NO_KAFKA, Database, InfraUnavailable
from cites_runtime.testing.mail import from_mailpit
from cites_runtime.testing.plugin import SettingsFactory

sys.path.insert(0, str(Path(__file__).parent))

import runtime_testapp as testapp

INFRA_VARIABLES = ("KAFKA_BOOTSTRAP_SERVERS", "DATABASE_URL", "SMTP_HOST", "SMTP_PORT",
                   "SMTP_MAILDIR", "MAILPIT_URL", "CITES_INFRA", "CITES_NO_DOCKER",
                   "PYTEST_ADDOPTS")


def inner_session(tmp_path: Path, tests: str, *args: str, **env: str
                  ) -> subprocess.CompletedProcess[str]:
    """``tests`` run by a pytest of their own (the plugin loaded), in ``env`` only."""
    (tmp_path / "test_inner.py").write_text(textwrap.dedent(tests))
    clean = {k: v for k, v in os.environ.items() if k not in INFRA_VARIABLES}
    return subprocess.run(
        [sys.executable, "-m", "pytest", str(tmp_path / "test_inner.py"), "-p",
         "no:cacheprovider", "-o", "asyncio_mode=auto", "-q", "-rA", *args],
        cwd=tmp_path, env={**clean, **env}, capture_output=True, text=True, timeout=120)


# -- a test that asks for no Kafka ---------------------------------------------------------
def test_a_test_not_asking_for_kafka_gets_settings_without_it_and_no_broker_is_started(
    database: Database, tmp_path: Path,
) -> None:
    done = inner_session(tmp_path, """
        from cites_runtime.settings import ServiceSettings
        from cites_runtime.testing.infra import NO_KAFKA

        def test_isolated(service_settings):
            settings = service_settings(ServiceSettings, service_name="isolated")
            assert settings.kafka_bootstrap_servers == NO_KAFKA

        def test_on_kafka(infra):
            raise AssertionError("deselected: it asks for infra, so it is an integration test")
        """, "-m", "not integration",
        # No Kafka may be started: the native launcher is nowhere to be found.
        DATABASE_URL=database.database_url, CITES_INFRA="native", CITES_REPO_ROOT="/nowhere")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 passed, 1 deselected" in done.stdout


async def test_on_kafka_refuses_settings_made_for_a_test_that_asked_for_no_kafka(
    service_settings: SettingsFactory,
) -> None:
    settings = service_settings(ServiceSettings, service_name="testapp")
    assert settings.kafka_bootstrap_servers == NO_KAFKA
    with pytest.raises(RuntimeError, match="never asked for Kafka"):
        async with on_kafka(testapp.definition, settings):
            pass
    async with in_memory(testapp.definition, settings) as isolated:  # what it is for
        assert (await isolated.http.get("/health/live")).status_code == 200


# -- no way to the infrastructure: one line, and how to choose another way ------------------
def test_docker_insisted_on_without_an_engine_ends_the_session_in_one_line(
    tmp_path: Path,
) -> None:
    done = inner_session(tmp_path, """
        def test_needs_postgres(database):
            pass
        """, CITES_INFRA="docker", DOCKER_HOST="unix:///nowhere/docker.sock")
    assert done.returncode == pytest.ExitCode.USAGE_ERROR, done.stdout + done.stderr
    said = [line for line in done.stdout.splitlines() if "[cites]" in line]
    assert len(said) == 1 and "CITES_INFRA=docker but no Docker engine answers" in said[0]
    assert "Traceback" not in done.stdout + done.stderr


class FakeImages:
    def __init__(self, present: set[str]):
        self.present = present
        self.pulled: list[str] = []

    def get(self, name: str) -> object:
        if name not in self.present:
            raise docker.errors.ImageNotFound(name)
        return object()

    def pull(self, repository: str, tag: str) -> object:
        self.pulled.append(f"{repository}:{tag}")
        raise docker.errors.APIError("Get \"https://registry-1.docker.io/v2/\": no such host")


class FakeEngine:
    def __init__(self, *present: str):
        self.images = FakeImages(set(present))


def test_an_official_image_the_engine_lacks_and_cannot_pull_gives_way_to_its_stand_in(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(KAFKA.variable, raising=False)
    engine: Any = FakeEngine(KAFKA.stand_in)
    assert resolve_image(engine, KAFKA) == KAFKA.stand_in
    assert engine.images.pulled == [KAFKA.official]  # tried first
    assert resolve_image(FakeEngine(KAFKA.official, KAFKA.stand_in),  # type: ignore[arg-type]
                         KAFKA) == KAFKA.official


def test_with_neither_image_the_refusal_names_it_make_images_and_the_native_path(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(KAFKA.variable, raising=False)
    with pytest.raises(InfraUnavailable) as refused:
        resolve_image(FakeEngine(), KAFKA)  # type: ignore[arg-type]
    said = str(refused.value)
    assert "\n" not in said
    for named in (KAFKA.official, KAFKA.stand_in, "make images", "CITES_NO_DOCKER=1"):
        assert named in said
    monkeypatch.setenv(KAFKA.variable, "example/kafka:9")  # chosen: no stand-in for it
    with pytest.raises(InfraUnavailable, match="CITES_KAFKA_IMAGE=example/kafka:9"):
        resolve_image(FakeEngine(KAFKA.stand_in), KAFKA)  # type: ignore[arg-type]


# -- the broker's configuration ------------------------------------------------------------
def test_the_broker_advertises_the_host_port_to_the_tests_and_keeps_its_own_listener_inside(
) -> None:
    env = kafka_env("172.17.0.1", 40123, cluster_id="MkU3OEVBNTcwNTJENDM2Qg",
                    admin_password="s3cret",
                    settings={"log.cleaner.dedupe.buffer.size": "8388608",
                              "auto.create.topics.enable": "false"})
    assert env["KAFKA_ADVERTISED_LISTENERS"].split(",")[0] == "HOST://172.17.0.1:40123"
    # Every listener authenticates, as natively and in compose.
    assert set(env["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"].split(",")) == {
        "HOST:SASL_PLAINTEXT", "BROKER:SASL_PLAINTEXT", "CONTROLLER:SASL_PLAINTEXT"}
    assert env["KAFKA_ALLOW_EVERYONE_IF_NO_ACL_FOUND"] == "false"
    assert env["KAFKA_INTER_BROKER_LISTENER_NAME"] == "BROKER"
    assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert env["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"  # topics are declared
    assert env["KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR"] == "1"
    assert env["KAFKA_LOG_CLEANER_DEDUPE_BUFFER_SIZE"] == "8388608"
    assert env["CLUSTER_ID"] == "MkU3OEVBNTcwNTJENDM2Qg"


# -- mail read back from Mailpit -----------------------------------------------------------
def _mail(to: str, subject: str) -> bytes:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "notifications@example.gouv.fr", to, subject
    msg.set_content("Madame, Monsieur")
    return bytes(msg)


def test_mails_are_read_from_mailpit_oldest_first_a_page_at_a_time_only_those_to_the_tag(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("cites_runtime.testing.mail.PAGE", 2)
    kept = [(f"id{i}", f"{'maire.abc' if i % 2 else 'prefet.xyz'}@example.gouv.fr", f"n{i}")
            for i in range(5)]  # oldest first
    downloaded: list[str] = []

    def mailpit(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/v1/messages":
            start, limit = int(request.url.params["start"]), int(request.url.params["limit"])
            newest_first = list(reversed(kept))[start:start + limit]
            return httpx.Response(200, json={"total": len(kept), "messages": [
                {"ID": i, "To": [{"Name": "", "Address": to}]} for i, to, _ in newest_first]})
        message_id = request.url.path.split("/")[-2]
        downloaded.append(message_id)
        _, to, subject = next(k for k in kept if k[0] == message_id)
        return httpx.Response(200, content=_mail(to, subject))

    found = from_mailpit("http://mailpit", "abc", transport=httpx.MockTransport(mailpit))
    assert [m["Subject"] for m in found] == ["n1", "n3"]
    assert sorted(downloaded) == ["id1", "id3"]
    assert len(from_mailpit("http://mailpit", transport=httpx.MockTransport(mailpit))) == 5


def test_the_environment_may_name_mailpit_for_reading_what_its_smtp_server_kept(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from cites_runtime.testing.infra import resolve_infra

    for name, value in {"KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9092",
                        "DATABASE_URL": "postgresql://postgres@127.0.0.1/cites",
                        "SMTP_HOST": "127.0.0.1", "SMTP_PORT": "1025",
                        "MAILPIT_URL": "http://127.0.0.1:8025"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("SMTP_MAILDIR", raising=False)
    given = resolve_infra()
    assert (given.mode, given.mailpit_url, given.can_stop()) == ("env", "http://127.0.0.1:8025",
                                                                 False)


class FakeContainer:
    def __init__(self, owner: str):
        self.labels = {OWNER: owner}
        self.removed = False

    def remove(self, force: bool, v: bool) -> None:
        self.removed = True


def test_containers_of_a_killed_session_on_this_host_are_removed_and_no_others(
) -> None:
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()
    host = socket.gethostname()
    left = FakeContainer(f"{host}/{dead}")
    ours = FakeContainer(f"{host}/{os.getpid()}")
    elsewhere = FakeContainer(f"another-host/{dead}")

    class Containers:
        def list(self, all: bool, filters: dict[str, str]) -> list[FakeContainer]:
            assert filters == {"label": OWNER}
            return [left, ours, elsewhere]

    class Engine:
        containers = Containers()

    remove_abandoned(Engine())  # type: ignore[arg-type]
    assert (left.removed, ours.removed, elsewhere.removed) == (True, False, False)
