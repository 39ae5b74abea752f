"""The platform for end-to-end tests: labelling and partners (and funding, for the tests that
ask for ``platform_with_funding``) as separate processes on a fresh schema each and a topic
prefix of their own, always stopped at the end."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from cites_runtime.testing.infra import Infra

sys.path.insert(0, str(Path(__file__).parent))  # e2e_platform lives beside the tests

from e2e_platform import Platform, running_platform


@pytest.fixture
async def platform(infra: Infra, tmp_path: Path) -> AsyncIterator[Platform]:
    async with running_platform(infra, tmp_path) as running:
        yield running


@pytest.fixture
async def platform_with_funding(infra: Infra, tmp_path: Path) -> AsyncIterator[Platform]:
    """The same, with funding as a third process."""
    async with running_platform(infra, tmp_path, funding=True) as running:
        yield running
