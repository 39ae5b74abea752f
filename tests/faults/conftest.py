"""The fault-injection suite: the real services as processes on real Kafka and PostgreSQL,
a fault injected mid-run, and figures (lost, doubled, dead letters, recovery) printed and
asserted. Every scenario adds its row to the table printed at the end of the run."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from cites_runtime.testing.infra import Infra

sys.path.insert(0, str(Path(__file__).parents[1] / "e2e"))  # e2e_platform
sys.path.insert(0, str(Path(__file__).parent))  # faults_kit

from e2e_platform import Platform, running_platform
from faults_kit import FIGURES, table


@pytest.fixture
async def platform(infra: Infra, tmp_path: Path) -> AsyncIterator[Platform]:
    async with running_platform(infra, tmp_path) as running:
        yield running


@pytest.fixture
def can_stop(infra: Infra) -> Infra:
    infra.require_stoppable()
    return infra


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if FIGURES:
        terminalreporter.write_sep("=", "fault injection: figures")
        terminalreporter.write_line(table(FIGURES))
