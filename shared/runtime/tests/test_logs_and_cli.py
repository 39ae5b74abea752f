from __future__ import annotations

import asyncio
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
import runtime_testapp as testapp
import typer
from aiokafka import AIOKafkaProducer
from pydantic import ValidationError
from runtime_testapp import THINGS, ThingHappened
from typer.testing import CliRunner, Result

from cites_contracts import Envelope, encode
from cites_runtime.app import Runtime
from cites_runtime.cli import service_cli
from cites_runtime.dlq import list_dead_letters
from cites_runtime.kafka import provision
from cites_runtime.logs import bind, configure_logging, get_logger
from cites_runtime.settings import ServiceSettings
from cites_runtime.testing import read_topic


def test_logs_are_json_lines_with_service_correlation_and_event(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging("labelling", level="INFO", json=True)
    try:
        with bind(correlation_id="c-1", event_id="e-1"):
            get_logger("test").info("candidature labelled", cite_id="cite-001")
        logging.getLogger("some.library").warning("plain stdlib line")
    finally:
        configure_logging("tests", level="WARNING", json=False)
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line]
    ours, library = lines[0], lines[1]
    assert ours["event"] == "candidature labelled"
    assert (ours["service"], ours["correlation_id"], ours["event_id"]) == ("labelling", "c-1",
                                                                           "e-1")
    assert ours["cite_id"] == "cite-001" and ours["level"] == "info"
    assert library["service"] == "labelling" and library["level"] == "warning"


@pytest.mark.integration
async def test_the_service_cli_migrates_and_lists_dead_letters(
    settings: ServiceSettings,
) -> None:
    cli = service_cli(testapp.definition, lambda: settings)
    runner = CliRunner()
    migrated = await _invoke_in_thread(runner, cli, ["migrate"])
    again = await _invoke_in_thread(runner, cli, ["migrate"])
    assert migrated.exit_code == 0, migrated.output
    # the runtime's own (outbox, inbox, relay, idempotency keys…) and the app's one
    assert f"{len(testapp.definition.migrations())} migration(s) applied" in migrated.output
    assert "0 migration(s) applied" in again.output

    await provision(settings.kafka, testapp.definition.topics(),
                    prefix=settings.topic_prefix)  # the broker creates no topic by itself
    producer = AIOKafkaProducer(**settings.kafka.client_kwargs())
    await producer.start()
    try:
        good = encode(Envelope.wrap(ThingHappened(thing_id="ok", n=1), sequence=1))
        await producer.send_and_wait(settings.topic(THINGS.name), b"not json", key=b"k")
        await producer.send_and_wait(settings.topic(THINGS.name), good.value, key=good.key,
                                     headers=good.headers)
    finally:
        await producer.stop()
    rt = Runtime(testapp.definition, settings)
    await rt.start()
    try:
        await read_topic(settings.kafka, settings.topic("tally.dlq"),
                         until=lambda r: len(r) >= 1)
    finally:
        await rt.stop()
    listed = await _invoke_in_thread(runner, cli, ["dlq", "list"])
    assert listed.exit_code == 0, listed.output
    assert "1 dead letter(s)" in listed.output
    assert "malformed" in listed.output

    # Garbage never applies: replay stops there until an operator parks it, with a reason.
    [letter] = await list_dead_letters(settings.kafka,
                                       settings.topic("tally.dlq"))
    stuck = await _invoke_in_thread(runner, cli, ["dlq", "replay"])
    parked = await _invoke_in_thread(runner, cli, [
        "dlq", "park", f"{letter.partition}:{letter.offset}", "--reason", "not an event"])
    wrong = await _invoke_in_thread(runner, cli, ["dlq", "skip", "0:999", "--reason", "x"])
    after = await _invoke_in_thread(runner, cli, ["dlq", "replay"])
    shown = await _invoke_in_thread(CliRunner(env={"COLUMNS": "250"}), cli,
                                    ["dlq", "list", "--parked"])
    assert stuck.exit_code == 1 and "still failing" in stuck.output
    assert parked.exit_code == 0, parked.output
    assert wrong.exit_code == 1 and "only it can be set aside" in " ".join(wrong.output.split())
    assert after.exit_code == 0, after.output
    assert "1 dead letter(s)" in shown.output and "not an event" in shown.output


async def _invoke_in_thread(runner: CliRunner, cli: typer.Typer, args: list[str]) -> Result:
    # The CLI runs its own event loop (asyncio.run): keep it off the test's loop.
    return await asyncio.to_thread(runner.invoke, cli, args)


def test_the_asyncapi_document_describes_published_and_consumed_topics(
    settings: ServiceSettings,
) -> None:
    result = CliRunner().invoke(service_cli(testapp.definition, lambda: settings), ["asyncapi"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    assert doc["asyncapi"] == "3.0.0"
    actions = {op["action"] for op in doc["operations"].values()}
    assert actions == {"send", "receive"}
    addresses = {ch["address"] for ch in doc["channels"].values()}
    assert addresses == {settings.topic(THINGS.name)}
    payload = doc["components"]["schemas"]["testapp.ThingHappened.v1"]
    assert payload["required"] == ["thing_id", "n"]
    message = doc["components"]["messages"]["testapp.ThingHappened.v1"]
    assert message["name"] == "testapp.ThingHappened"  # named after its event type
    assert "thing_id" in message["bindings"]["kafka"]["key"]["description"]


def test_settings_read_secrets_from_files_and_the_environment_wins(tmp_path: Path) -> None:
    """CITES_SECRETS_DIR (compose and Kubernetes mount secrets as files): a file named
    like the variable holds its value; the variable itself, when set, wins."""
    (tmp_path / "service_tokens").write_text('{"from-file": {"role": "viewer"}}')
    (tmp_path / "service_http_port").write_text("8123")
    (tmp_path / "service_database_url").write_text("postgresql://service@db/cites")
    show = ("from cites_runtime.settings import ServiceSettings as S; s = S(); "
            "print(sorted(s.tokens), s.http_port)")
    env = {k: v for k, v in os.environ.items() if not k.startswith("SERVICE_")}
    read = subprocess.run([sys.executable, "-c", show], capture_output=True, text=True,
                          env={**env, "CITES_SECRETS_DIR": str(tmp_path)}, check=True)
    assert read.stdout.split() == ["['from-file']", "8123"]
    read = subprocess.run([sys.executable, "-c", show], capture_output=True, text=True,
                          env={**env, "CITES_SECRETS_DIR": str(tmp_path),
                               "SERVICE_HTTP_PORT": "9000"}, check=True)
    assert read.stdout.split() == ["['from-file']", "9000"]


def test_a_service_has_no_default_database_and_says_which_variable_to_set(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Never the superuser by default: a service without its own DSN does not start."""
    monkeypatch.delenv("SERVICE_DATABASE_URL", raising=False)
    for given in ({}, {"database_url": ""}):
        with pytest.raises(ValidationError) as refused:
            ServiceSettings(**given)
        assert "SERVICE_DATABASE_URL is not set" in str(refused.value)
    monkeypatch.setenv("SERVICE_DATABASE_URL", "postgresql://service@db/cites")
    assert ServiceSettings().dsn == "postgresql://service@db/cites"
