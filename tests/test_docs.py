"""The documentation: the README stays the front door (at most 250 lines, every page it
links exists), and the site builds with no warning (MkDocs strict: a broken link, a page
out of the navigation, fail it)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_the_readme_is_a_front_door_whose_links_lead_somewhere() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert len(readme.splitlines()) <= 250
    targets = re.findall(r"\]\(((?!https?://)[^)#]+)\)", readme)
    assert targets
    missing = [t for t in targets if not (REPO / t).exists()]
    assert missing == []


def test_the_site_builds_strict(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path)],
        cwd=REPO, capture_output=True, text=True, timeout=300, check=False,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    assert done.returncode == 0, done.stderr[-3000:]
    assert (tmp_path / "guarantees" / "index.html").is_file()
