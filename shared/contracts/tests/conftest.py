"""Shared fixtures of the contracts tests."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from cites_contracts.schemas import DEFAULT_DIR


@pytest.fixture
def schemas_copy(tmp_path: Path) -> Path:
    """A scratch copy of the committed schemas, to edit without touching the real ones."""
    copy = tmp_path / "schemas"
    shutil.copytree(DEFAULT_DIR, copy)
    return copy
