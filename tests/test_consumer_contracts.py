"""Each consuming service's committed declaration (services/<name>/consumes.json) is what
its code consumes, and today's catalogue satisfies every declaration."""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import pytest

from cites_contracts.consumers import check_files

REPO = Path(__file__).resolve().parents[1]
SERVICES = sorted(p.parent.name for p in REPO.glob("services/*/pyproject.toml"))
DECLARATIONS = sorted(REPO.glob("services/*/consumes.json"))


@pytest.mark.parametrize("service", SERVICES)
def test_a_service_that_consumes_declares_exactly_the_events_and_tombstones_it_handles(
    service: str,
) -> None:
    consumer = importlib.import_module(f"{service}.app").definition.consumer
    path = REPO / "services" / service / "consumes.json"
    if consumer is None:
        assert not path.exists(), f"{service} consumes nothing: remove {path}"
        return
    declared = json.loads(path.read_text(encoding="utf-8"))
    assert declared["service"] == consumer.name
    handled = {(model.spec.type, model.spec.version) for model in consumer.handlers}
    assert {(e["type"], e["version"]) for e in declared["events"]} == handled
    forgets = {topic.name for topic in consumer.tombstone_handlers}
    assert set(declared.get("tombstones", [])) == forgets


def test_todays_catalogue_satisfies_every_declaration() -> None:
    assert DECLARATIONS, "no consumer declares what it reads"
    assert check_files(DECLARATIONS) == []
