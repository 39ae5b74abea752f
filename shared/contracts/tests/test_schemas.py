"""Committed schemas: export, check (and its failures), and the generated README."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from cites_contracts import registry
from cites_contracts.schemas import (
    DEFAULT_DIR,
    ENVELOPE_FILE,
    README,
    Problem,
    check,
    expected_files,
    export,
    main,
    render_catalogue,
)

TERRITORY_LABELLED = "labelling.TerritoryLabelled.v1.json"


def edit(directory: Path, name: str, change: Callable[[Any], object]) -> None:
    path = directory / name
    schema = json.loads(path.read_text())
    change(schema)
    path.write_text(json.dumps(schema, indent=2, sort_keys=True) + "\n")


def fatal(problems: list[Problem]) -> list[str]:
    return [str(p) for p in problems if p.fatal]


def test_check_passes_on_the_committed_schemas() -> None:
    assert [str(p) for p in check()] == []


def test_every_registered_event_and_the_envelope_have_a_committed_schema() -> None:
    committed = {p.name for p in DEFAULT_DIR.glob("*.json")}
    assert committed == set(expected_files())
    assert ENVELOPE_FILE in committed
    assert len(committed) == len(registry.catalogue()) + 1


def test_export_is_deterministic(tmp_path: Path) -> None:
    first = export(tmp_path)
    assert len(first) == len(registry.catalogue()) + 1
    assert export(tmp_path) == []  # nothing changed, nothing rewritten
    assert expected_files() == expected_files()
    content = (tmp_path / TERRITORY_LABELLED).read_text()
    assert (
        content
        == json.dumps(json.loads(content), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    )


def test_a_committed_schema_edited_to_break_fails_check_against_it(
    schemas_copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def older_and_looser(schema: Any) -> None:
        # As if the committed version had a field and an enum value the model no longer has.
        schema["$defs"]["EducationPriority"]["enum"].append("zep")
        schema["properties"]["mayor_email"] = {"type": "string"}

    edit(schemas_copy, TERRITORY_LABELLED, older_and_looser)

    assert main(["check", "--against", str(schemas_copy)]) == 1

    err = capsys.readouterr().err
    assert (
        "labelling.TerritoryLabelled.v1.json: breaking change $.mayor_email: property removed"
        in err
    )
    assert (
        "$.perimeter.schools[].education_priority: enum narrowed: 'zep' no longer accepted" in err
    )
    assert "2 problem(s)" in err


def test_check_as_a_command_fails_with_a_message(schemas_copy: Path) -> None:
    edit(
        schemas_copy, "partners.ContactErased.v1.json", lambda s: s["required"].remove("erased_at")
    )
    result = subprocess.run(
        [sys.executable, "-m", "cites_contracts.schemas", "check", "--against", str(schemas_copy)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 1
    assert "$.erased_at: property made required" in result.stderr


def test_a_registered_event_without_schema_asks_for_export(schemas_copy: Path) -> None:
    (schemas_copy / TERRITORY_LABELLED).unlink()
    assert fatal(check(schemas_copy)) == [
        f"{TERRITORY_LABELLED}: no committed schema: run `python -m cites_contracts.schemas export`"
    ]


def test_a_new_event_is_only_a_note_against_an_older_set(schemas_copy: Path) -> None:
    (schemas_copy / TERRITORY_LABELLED).unlink()
    problems = check(schemas_copy, against=True)
    assert fatal(problems) == []
    assert [str(p) for p in problems] == [
        f"{TERRITORY_LABELLED}: new (no schema in {schemas_copy})"
    ]


def test_a_schema_whose_event_is_gone_fails_check(schemas_copy: Path) -> None:
    (schemas_copy / "labelling.TerritoryRenamed.v1.json").write_text("{}\n")
    (problem,) = fatal(check(schemas_copy, against=True))
    assert problem.startswith("labelling.TerritoryRenamed.v1.json: committed schema of an event no")


def test_a_compatible_change_not_exported_is_out_of_date_but_not_breaking(
    schemas_copy: Path,
) -> None:
    edit(schemas_copy, TERRITORY_LABELLED, lambda s: s.update(description="Older words."))
    assert fatal(check(schemas_copy)) == [
        f"{TERRITORY_LABELLED}: out of date (compatible change): "
        "run `python -m cites_contracts.schemas export`"
    ]
    assert fatal(check(schemas_copy, against=True)) == []


def test_an_unreadable_schema_is_reported(schemas_copy: Path) -> None:
    (schemas_copy / TERRITORY_LABELLED).write_text("{not json")
    (problem,) = fatal(check(schemas_copy))
    assert "cannot read the committed schema" in problem


def test_moving_an_event_to_another_topic_is_breaking(schemas_copy: Path) -> None:
    edit(schemas_copy, TERRITORY_LABELLED, lambda s: s.update({"x-topic": "labelling.cites"}))
    (problem,) = fatal(check(schemas_copy, against=True))
    assert "x-topic changed from 'labelling.cites' to 'labelling.labels'" in problem


def test_the_readme_catalogue_is_up_to_date() -> None:
    assert README.read_text(encoding="utf-8") == render_catalogue(), (
        "run `python -m cites_contracts.schemas docs`"
    )
    assert main(["docs", "--check"]) == 0


def test_the_catalogue_lists_every_event_with_topic_key_and_schema() -> None:
    page = render_catalogue()
    for spec in registry.catalogue():
        row = next(line for line in page.splitlines()
                   if f"schemas/{spec.type}.v{spec.version}.json" in line)
        assert f"`{spec.topic.name}`" in row
        assert f"`{spec.key_field}`" in row
        assert (spec.retired or spec.emitted_when).rstrip(".") in row


def test_docs_writes_the_page_where_asked(tmp_path: Path) -> None:
    target = tmp_path / "README.md"
    assert main(["docs", "--output", str(target)]) == 0
    assert target.read_text(encoding="utf-8") == render_catalogue()
    target.write_text("stale")
    assert main(["docs", "--check", "--output", str(target)]) == 1
