"""The fault-injection suite: the real services as processes on real Kafka and PostgreSQL,
a fault injected mid-run, and figures (lost, doubled, dead letters, recovery) printed and
asserted. Every scenario adds its row to the table printed at the end of the run."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Generator
from pathlib import Path

import pytest

from cites_runtime.testing.infra import Infra
from cites_runtime.testing.plugin import SUMMARY_ROW

sys.path.insert(0, str(Path(__file__).parents[1] / "e2e"))  # e2e_platform
sys.path.insert(0, str(Path(__file__).parent))  # faults_kit

from e2e_platform import Platform, running_platform
from faults_kit import FIGURES, HEADER


@pytest.fixture
async def platform(infra: Infra, tmp_path: Path) -> AsyncIterator[Platform]:
    async with running_platform(infra, tmp_path) as running:
        yield running


@pytest.fixture
def can_stop(infra: Infra) -> Infra:
    infra.require_stoppable()
    return infra


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item) -> Generator[None, pytest.TestReport,
                                                               pytest.TestReport]:
    """The scenario's figures go with its report: the plugin prints their table at the end
    of the run (gathered from every worker in a parallel run)."""
    report = yield
    while FIGURES:
        report.user_properties.append(
            (SUMMARY_ROW, ("fault injection: figures", HEADER, FIGURES.pop(0).row())))
    return report
