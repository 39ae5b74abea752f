"""The official AsyncAPI parser (@asyncapi/parser, pinned in tools/asyncapi) accepts the
platform document and every service's document with 0 errors and 0 warnings."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
VALIDATE = REPO / "tools" / "asyncapi" / "validate.mjs"
PARSER = REPO / "tools" / "asyncapi" / "node_modules" / "@asyncapi" / "parser"
SERVICES = sorted(p.parent.name for p in REPO.glob("services/*/pyproject.toml"))


def parse(*paths: Path) -> subprocess.CompletedProcess[str]:
    assert shutil.which("node"), "node is needed: `make test` installs it with the parser"
    assert PARSER.is_dir(), "the parser is not installed: `make test` runs npm ci for it"
    return subprocess.run(["node", str(VALIDATE), *map(str, paths)], capture_output=True,
                          text=True, timeout=300, cwd=REPO)


def test_the_platform_document_is_valid_without_warnings() -> None:
    done = parse(REPO / "shared" / "contracts" / "asyncapi.yaml")
    assert done.returncode == 0, done.stdout + done.stderr
    from cites_contracts import registry
    from cites_contracts.topics import ALL_TOPICS

    # One per (type, version), and a compacted topic's tombstone.
    messages = len(registry.catalogue()) + sum(t.cleanup_policy == "compact"
                                               for t in ALL_TOPICS)
    assert f"valid ({messages} messages, 0 errors or warnings" in done.stdout


def test_every_service_document_is_valid_without_warnings(tmp_path: Path) -> None:
    documents = []
    for service in SERVICES:
        printed = subprocess.run([sys.executable, "-m", service, "asyncapi"],
                                 capture_output=True, text=True, timeout=120, check=True)
        documents.append(tmp_path / f"{service}.json")
        documents[-1].write_text(printed.stdout, encoding="utf-8")
    done = parse(*documents)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count("0 errors or warnings") == len(SERVICES)


def test_a_service_reading_a_topic_for_its_tombstones_alone_is_valid(tmp_path: Path) -> None:
    from cites_contracts.asyncapi import service_document
    from cites_contracts.topics import LABELLING_CONTACTS, PARTNERS_CONTACTS

    document = tmp_path / "forgetful.json"
    document.write_text(json.dumps(service_document(
        "forgetful", title="forgetful events", version="0.1.0", produces=[], consumes=[],
        tombstones=[PARTNERS_CONTACTS, LABELLING_CONTACTS])), encoding="utf-8")
    done = parse(document)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "valid (2 messages, 0 errors or warnings" in done.stdout


def test_the_checker_does_fail_on_a_broken_document(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    text = (REPO / "shared" / "contracts" / "asyncapi.yaml").read_text(encoding="utf-8")
    broken.write_text(text.replace("action: send", "action: publish", 1), encoding="utf-8")
    done = parse(broken)
    assert done.returncode == 1 and "INVALID" in done.stdout
