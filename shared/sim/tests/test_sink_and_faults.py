"""The run's helpers for ``docker compose``: mails counted from Mailpit's HTTP API a page
at a time, and faults injected as the phases they name start."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from rich.console import Console

from cites_runtime.testing.http import serve_app
from cites_sim.cli import FaultInjector
from cites_sim.reconcile import _mailpit_message_ids
from cites_sim.simulate import Progress


def mailpit(message_ids: list[str]) -> FastAPI:
    """Mailpit's ``GET /api/v1/messages`` over these messages, as Mailpit pages it."""
    app = FastAPI()

    @app.get("/api/v1/messages")
    async def messages(start: int = 0, limit: int = 50) -> dict[str, Any]:
        page = message_ids[start:start + limit]
        return {"total": len(message_ids), "messages_count": len(message_ids),
                "start": start, "count": len(page),
                "messages": [{"ID": str(i), "MessageID": m} for i, m in enumerate(page)]}

    return app


async def test_mails_are_counted_from_mailpit_across_its_pages() -> None:
    ids = [f"n{i}@cites.example" for i in range(1_203)] + ["<n7@cites.example>"]
    async with serve_app(mailpit(ids)) as url:
        found = await _mailpit_message_ids(url)
    assert len(found) == 1_203 and found["n7"] == 2 and found["n1202"] == 1


async def test_a_fault_runs_when_its_phase_starts_and_its_outcome_is_told(
        tmp_path: Path) -> None:
    marker = tmp_path / "injected"
    faults = FaultInjector(Progress(), [("labelled", f"touch {marker}"),
                                        ("payments", "exit 3"), ("never", "true")],
                           Console(file=None, quiet=True))
    faults.phase("2019: collèges and associations registered", 10)
    await asyncio.sleep(0.2)
    assert not marker.exists()
    faults.phase("2019: candidatures filed, reviewed, labelled", 10)
    faults.phase("2019: commitments and payments", 10)
    wrong = await faults.outcome()
    assert marker.exists()
    assert wrong == ["fault never injected: no phase holds 'never'",
                     "fault 'exit 3' exited 3"]


@pytest.mark.parametrize("spec", ["no-equals", "=command", "phase="])
def test_a_fault_must_name_a_phase_and_a_command(spec: str) -> None:
    import typer

    from cites_sim.cli import _fault

    with pytest.raises(typer.BadParameter):
        _fault(spec)
