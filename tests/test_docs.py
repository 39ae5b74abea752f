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


def test_the_events_catalogue_and_the_readme_diagram_are_up_to_date() -> None:
    done = subprocess.run([sys.executable, "tools/docs/catalogue.py", "check"], cwd=REPO,
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr


def test_the_catalogue_names_every_event_its_producer_and_its_consumers() -> None:
    # Read against the sources the page is not generated from: the registry and each
    # service's consumes.json.
    import json

    from cites_contracts.envelope import registry

    page = (REPO / "docs" / "catalogue.md").read_text(encoding="utf-8")
    consumers: dict[tuple[str, int], set[str]] = {}
    for path in REPO.glob("services/*/consumes.json"):
        declared = json.loads(path.read_text(encoding="utf-8"))
        for e in declared["events"]:
            consumers.setdefault((e["type"], e["version"]), set()).add(declared["service"])
    for spec in registry.catalogue():
        # A consumer of the version a retired one is upcast to receives it too.
        up = registry.upcaster(spec.model)
        while up is not None:
            target = (up.target.spec.type, up.target.spec.version)
            consumers.setdefault((spec.type, spec.version), set()).update(
                consumers.get(target, set()))
            up = registry.upcaster(up.target)
    for spec in registry.catalogue():
        row = next(line for line in page.splitlines()
                   if line.startswith(f"| [`{spec.type}`](#")
                   and f"| {spec.version} |" in line)
        cells = [c.strip() for c in row.split("|")]
        assert cells[3] == spec.producer and cells[4] == f"`{spec.topic.name}`"
        named = set() if cells[5] == "—" else set(cells[5].split(", "))
        assert named == consumers.get((spec.type, spec.version), set()), spec.type
        assert f"\n## {spec.type}.v{spec.version}\n" in page
