"""How a service's process runs (``cites_runtime.tuning``): once started, what start-up
allocated is frozen out of the collector's walks and young collections are rarer; the
event loop is uvloop, for ``serve`` as for the runtime's own entry points."""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import socket
from typing import Any

import pytest
import runtime_testapp as testapp
import uvicorn
from typer.testing import CliRunner

from cites_runtime import tuning
from cites_runtime.app import Runtime
from cites_runtime.cli import service_cli
from cites_runtime.settings import ServiceSettings
from cites_runtime.testing.http import free_port


@pytest.mark.integration
async def test_a_started_service_freezes_its_start_up_heap_and_collects_less_often(
    migrated: ServiceSettings,
) -> None:
    before = gc.get_threshold()
    runtime = Runtime(testapp.definition, migrated.model_copy(update={
        "consumers_enabled": False, "relay_enabled": False}))
    await runtime.start()
    try:
        assert gc.get_threshold() == tuning.GC_THRESHOLDS
        assert gc.get_freeze_count() > 10_000  # modules, models, the app
    finally:
        await runtime.stop()
        gc.set_threshold(*before)


@pytest.mark.integration
async def test_a_service_may_keep_cpythons_collector_thresholds(
    migrated: ServiceSettings,
) -> None:
    """Notifications does: rendering mail leaves cycles, which the batch thresholds let
    pile up in the old generations (its RSS 80 → 158–162 MB after 300 labels' 2,700 mails
    with them, 90 MB with CPython's; ``python -m bench --only rss``)."""
    before = gc.get_threshold()
    definition = dataclasses.replace(testapp.definition,
                                     gc_thresholds=tuning.CPYTHON_GC_THRESHOLDS)
    runtime = Runtime(definition, migrated.model_copy(update={
        "consumers_enabled": False, "relay_enabled": False}))
    gc.set_threshold(1, 2, 3)
    await runtime.start()
    try:
        assert gc.get_threshold() == (700, 10, 10)
    finally:
        await runtime.stop()
        gc.set_threshold(*before)


def test_run_runs_on_uvloop() -> None:
    async def loop() -> str:
        return type(asyncio.get_running_loop()).__module__

    assert tuning.run(loop()).startswith("uvloop")


def test_serve_runs_the_app_on_uvloop(monkeypatch: pytest.MonkeyPatch,
                                      settings: ServiceSettings) -> None:
    served: dict[str, Any] = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **options: served.update(options))
    result = CliRunner().invoke(service_cli(testapp.definition, lambda: settings), ["serve"])
    assert result.exit_code == 0, result.output
    assert served["loop"] == "uvloop"


def test_serve_shares_its_port_on_uvloop_when_told(monkeypatch: pytest.MonkeyPatch,
                                                   settings: ServiceSettings) -> None:
    """``<SERVICE>_HTTP_REUSE_PORT``: the server is handed a socket already bound to the
    API port with SO_REUSEPORT (the other replicas bind theirs), still on uvloop."""
    served: dict[str, Any] = {}

    def run(server: uvicorn.Server, sockets: list[socket.socket]) -> None:
        served.update(loop=server.config.loop, sockets=[
            (s.getsockname(), s.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT))
            for s in sockets])
        server.started = True
        for s in sockets:
            s.close()

    monkeypatch.setattr(uvicorn.Server, "run", run)
    port = free_port()
    shared = settings.model_copy(update={"http_reuse_port": True, "http_port": port})
    result = CliRunner().invoke(service_cli(testapp.definition, lambda: shared), ["serve"])

    assert result.exit_code == 0, result.output
    assert served["loop"] == "uvloop"
    assert served["sockets"] == [(("127.0.0.1", port), 1)]
