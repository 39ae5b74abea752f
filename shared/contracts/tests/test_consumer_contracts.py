"""The consumer-contract checker: a producer's change that breaks what a consumer reads
fails it; a change the consumer does not care about passes."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from cites_contracts.consumers import catalogue_schemas, check, check_files, field_types

LABELLED = ("labelling.TerritoryLabelled", 1)
DECLARATION: dict[str, Any] = {
    "service": "partners",
    "events": [{"type": LABELLED[0], "version": 1, "reads": {
        "cite_id": "string", "lead_college_uai": "string", "label_period.end": "string",
        "perimeter.schools[].uai": "string", "convention_signed_on": "string?"}}],
}


def changed(edit: Callable[[dict[str, Any]], None]) -> dict[tuple[str, int], Any]:
    schemas = copy.deepcopy(catalogue_schemas())
    edit(schemas[LABELLED])
    return schemas


def test_todays_catalogue_satisfies_the_declaration() -> None:
    assert check(DECLARATION) == []


def _drop(field: str) -> Callable[[dict[str, Any]], None]:
    def edit(schema: dict[str, Any]) -> None:
        del schema["properties"][field]
        schema["required"].remove(field)
    return edit


def _rename(old: str, new: str) -> Callable[[dict[str, Any]], None]:
    def edit(schema: dict[str, Any]) -> None:
        schema["properties"][new] = schema["properties"].pop(old)
        schema["required"] = [new if r == old else r for r in schema["required"]]
    return edit


def _optional(field: str) -> Callable[[dict[str, Any]], None]:
    def edit(schema: dict[str, Any]) -> None:
        schema["required"].remove(field)
    return edit


def _retype(field: str) -> Callable[[dict[str, Any]], None]:
    def edit(schema: dict[str, Any]) -> None:
        schema["properties"][field] = {"type": "integer"}
    return edit


def _nested(edit_def: Callable[[dict[str, Any]], None]) -> Callable[[dict[str, Any]], None]:
    def edit(schema: dict[str, Any]) -> None:
        edit_def(schema["$defs"]["PerimeterSchool"])
    return edit


@pytest.mark.parametrize(("edit", "problem"), [
    (_drop("lead_college_uai"), "field lead_college_uai is gone"),
    (_rename("lead_college_uai", "chef_de_file_uai"), "field lead_college_uai is gone"),
    (_optional("lead_college_uai"), "field lead_college_uai may be absent or null"),
    (_retype("cite_id"), "field cite_id is integer, partners reads a string"),
    (_nested(_drop("uai")), "field perimeter.schools[].uai is gone"),
    (_nested(_retype("uai")), "field perimeter.schools[].uai is integer"),
], ids=["removed", "renamed", "made-optional", "retyped", "nested-removed", "nested-retyped"])
def test_a_breaking_change_to_a_field_read_fails_the_check(
    edit: Callable[[dict[str, Any]], None], problem: str,
) -> None:
    problems = check(DECLARATION, changed(edit))
    assert len(problems) == 1 and problem in problems[0], problems
    assert problems[0].startswith("partners reads labelling.TerritoryLabelled v1: ")


def test_an_event_version_no_longer_produced_fails_the_check() -> None:
    schemas = catalogue_schemas()
    del schemas[LABELLED]
    assert check(DECLARATION, schemas) == [
        "partners reads labelling.TerritoryLabelled v1: no longer produced"]


def test_changes_to_fields_nobody_reads_pass() -> None:
    assert check(DECLARATION, changed(_drop("name"))) == []
    assert check(DECLARATION, changed(_optional("decided_by"))) == []


def test_a_field_declared_optional_may_be_null() -> None:
    types, always = field_types(catalogue_schemas()[LABELLED], "convention_signed_on") or (
        set(), True)
    assert types == {"string"} and not always


def test_an_unreadable_declaration_is_a_problem_not_a_traceback(tmp_path: Path) -> None:
    broken = tmp_path / "consumes.json"
    broken.write_text("{not json", encoding="utf-8")
    problems = check_files([tmp_path / "missing.json", broken])
    assert [p.split(": cannot read it")[0] for p in problems] == [
        str(tmp_path / "missing.json"), str(broken)]


def test_tombstones_are_read_only_on_compacted_topics() -> None:
    forgets = {**DECLARATION, "tombstones": ["partners.contacts", "labelling.labels"]}
    assert check(forgets) == ["partners forgets keys on tombstones of labelling.labels: no "
                              "compacted topic of that name"]
