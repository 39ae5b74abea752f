"""Each compatibility rule, on hand-written schemas and on the real event schemas."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from cites_contracts import registry
from cites_contracts.compat import breaking_changes
from cites_contracts.schemas import event_schema


def obj(required: tuple[str, ...] = (), **properties: Any) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "required": list(required)}


STRING = {"type": "string"}
INTEGER = {"type": "integer"}
NULLABLE_STRING = {"anyOf": [{"type": "string"}, {"type": "null"}], "default": None}

BREAKING = [
    ("removed", obj(a=STRING, b=STRING), obj(a=STRING), "$.b: property removed"),
    ("renamed", obj(("a",), a=STRING), obj(("b",), b=STRING), "$.a: property removed"),
    ("int to string", obj(a=INTEGER), obj(a=STRING), "$.a: type changed from integer to string"),
    ("number to int", obj(a={"type": "number"}), obj(a=INTEGER), "type changed from number"),
    ("nullable to non-null", obj(a=NULLABLE_STRING), obj(a=STRING), "$.a: no longer accepts null"),
    (
        "object to array",
        obj(a=obj(x=STRING)),
        obj(a={"type": "array", "items": STRING}),
        "$.a: type changed from object to array",
    ),
    (
        "anyOf narrowed",
        obj(a={"anyOf": [STRING, INTEGER]}),
        obj(a={"anyOf": [STRING]}),
        "$.a: type narrowed: integer no longer accepted",
    ),
    ("type list narrowed", obj(a={"type": ["string", "null"]}), obj(a=STRING), "accepts null"),
    ("made required", obj(a=STRING), obj(("a",), a=STRING), "$.a: property made required"),
    ("new required", obj(a=STRING), obj(("b",), a=STRING, b=STRING), "$.b: new required property"),
    (
        "enum narrowed",
        obj(a={"type": "string", "enum": ["x", "y"]}),
        obj(a={"type": "string", "enum": ["x"]}),
        "$.a: enum narrowed: 'y' no longer accepted",
    ),
    (
        "enum added",
        obj(a=STRING),
        obj(a={"type": "string", "enum": ["x"]}),
        "$.a: values restricted to ['x']",
    ),
    (
        "const changed",
        obj(a={"type": "string", "const": "x"}),
        obj(a={"type": "string", "const": "y"}),
        "$.a: const changed from 'x' to 'y'",
    ),
    (
        "format changed",
        obj(a={"type": "string", "format": "date"}),
        obj(a={"type": "string", "format": "date-time"}),
        "$.a: format changed from 'date' to 'date-time'",
    ),
    (
        "format added",
        obj(a=STRING),
        obj(a={"type": "string", "format": "email"}),
        "$.a: format changed from none to 'email'",
    ),
    (
        "pattern changed",
        obj(a={"type": "string", "pattern": "^[0-9]+$"}),
        obj(a={"type": "string", "pattern": "^[0-9]{5}$"}),
        "$.a: pattern changed",
    ),
    (
        "minLength tightened",
        obj(a={"type": "string", "minLength": 1}),
        obj(a={"type": "string", "minLength": 2}),
        "$.a: minLength tightened from 1 to 2",
    ),
    (
        "maxLength added",
        obj(a=STRING),
        obj(a={"type": "string", "maxLength": 9}),
        "$.a: maxLength tightened from none to 9",
    ),
    (
        "minimum tightened",
        obj(a={"type": "integer", "minimum": 0}),
        obj(a={"type": "integer", "minimum": 1}),
        "$.a: lower bound tightened from >= 0 to >= 1",
    ),
    (
        "minimum made exclusive",
        obj(a={"type": "integer", "minimum": 0}),
        obj(a={"type": "integer", "exclusiveMinimum": 0}),
        "$.a: lower bound tightened from >= 0 to > 0",
    ),
    (
        "maximum added",
        obj(a=INTEGER),
        obj(a={"type": "integer", "maximum": 10}),
        "$.a: upper bound added: <= 10",
    ),
    (
        "exclusiveMaximum tightened",
        obj(a={"type": "integer", "exclusiveMaximum": 10}),
        obj(a={"type": "integer", "exclusiveMaximum": 5}),
        "$.a: upper bound tightened from < 10 to < 5",
    ),
    (
        "minItems tightened",
        obj(a={"type": "array", "items": STRING}),
        obj(a={"type": "array", "items": STRING, "minItems": 1}),
        "$.a: minItems tightened from none to 1",
    ),
    (
        "maxItems tightened",
        obj(a={"type": "array", "items": STRING, "maxItems": 4}),
        obj(a={"type": "array", "items": STRING, "maxItems": 3}),
        "$.a: maxItems tightened from 4 to 3",
    ),
    (
        "array items retyped",
        obj(a={"type": "array", "items": STRING}),
        obj(a={"type": "array", "items": INTEGER}),
        "$.a[]: type changed from string to integer",
    ),
    (
        "additionalProperties closed",
        obj(a=STRING),
        {**obj(a=STRING), "additionalProperties": False},
        "$: additionalProperties closed",
    ),
    (
        "topic changed",
        {**obj(a=STRING), "x-topic": "labelling.labels"},
        {**obj(a=STRING), "x-topic": "labelling.cites"},
        "$: x-topic changed from 'labelling.labels' to 'labelling.cites'",
    ),
]


@pytest.mark.parametrize(
    ("old", "new", "expected"), [c[1:] for c in BREAKING], ids=[c[0] for c in BREAKING]
)
def test_breaking_change_is_reported_with_its_path(
    old: dict[str, Any], new: dict[str, Any], expected: str
) -> None:
    problems = breaking_changes(old, new)
    assert any(expected in p for p in problems), problems


def test_a_rename_reports_the_removal_and_the_new_required_property() -> None:
    problems = breaking_changes(obj(("a",), a=STRING), obj(("b",), b=STRING))
    assert problems == ["$.a: property removed", "$.b: new required property"]


CHANGES = [
    ("optional added", obj(a=STRING), obj(a=STRING, b=NULLABLE_STRING)),
    (
        "enum widened",
        obj(a={"type": "string", "enum": ["x"]}),
        obj(a={"type": "string", "enum": ["x", "y"]}),
    ),
    (
        "description, title, default, examples changed",
        obj(a={"type": "string", "description": "old", "title": "A", "default": "1"}),
        obj(
            a={
                "type": "string",
                "description": "new",
                "title": "B",
                "default": "2",
                "examples": ["z"],
            }
        ),
    ),
    (
        "constraints loosened",
        obj(
            a={"type": "string", "minLength": 5, "maxLength": 5},
            n={"type": "integer", "minimum": 1, "exclusiveMaximum": 9},
        ),
        obj(
            a={"type": "string", "minLength": 1, "maxLength": 10},
            n={"type": "integer", "minimum": 0},
        ),
    ),
    ("made nullable", obj(a=STRING), obj(a=NULLABLE_STRING)),
    ("integer widened to number", obj(a=INTEGER), obj(a={"type": "number"})),
    ("required dropped", obj(("a",), a=STRING), obj(a=STRING)),
    ("pattern dropped", obj(a={"type": "string", "pattern": "^x$"}), obj(a=STRING)),
    (
        "items loosened",
        obj(a={"type": "array", "items": STRING, "maxItems": 3}),
        obj(a={"type": "array", "items": STRING}),
    ),
    (
        "additionalProperties opened",
        {**obj(a=STRING), "additionalProperties": False},
        obj(a=STRING),
    ),
]

# Old consumers validate with the committed contract: data it would refuse breaks them.
COMPATIBLE = [c for c in CHANGES if c[0] in {"optional added",
                                             "description, title, default, examples changed"}]
MIRROR_BREAKING = [c for c in CHANGES if c not in COMPATIBLE]


@pytest.mark.parametrize(
    ("old", "new"), [c[1:] for c in MIRROR_BREAKING], ids=[c[0] for c in MIRROR_BREAKING]
)
def test_a_widening_breaks_the_consumers_of_the_committed_contract(
    old: dict[str, Any], new: dict[str, Any]
) -> None:
    problems = breaking_changes(old, new)
    assert problems
    assert all("consumers of the committed contract would refuse new events" in p
               for p in problems), problems


@pytest.mark.parametrize(
    ("old", "new"), [c[1:] for c in COMPATIBLE], ids=[c[0] for c in COMPATIBLE]
)
def test_compatible_change_is_accepted(old: dict[str, Any], new: dict[str, Any]) -> None:
    assert breaking_changes(old, new) == []


# --- $ref / $defs -------------------------------------------------------------------------


def with_defs(**defs: Any) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {
            "perimeter": {"$ref": "#/$defs/Perimeter"},
            "previous": {"anyOf": [{"$ref": "#/$defs/Perimeter"}, {"type": "null"}]},
        },
        "required": ["perimeter"],
        "$defs": defs,
    }


def perimeter(qpv: dict[str, Any]) -> dict[str, Any]:
    return {
        "Perimeter": obj(("qpvs",), qpvs={"type": "array", "items": {"$ref": "#/$defs/Qpv"}}),
        "Qpv": qpv,
    }


OLD_QPV = obj(("code", "population"), code=STRING, population=INTEGER)


def test_a_property_removed_inside_defs_is_reported_at_every_use() -> None:
    new_qpv = obj(("code",), code=STRING)
    problems = breaking_changes(with_defs(**perimeter(OLD_QPV)), with_defs(**perimeter(new_qpv)))
    assert problems == [
        "$.perimeter.qpvs[].population: property removed",
        "$.previous.qpvs[].population: property removed",
    ]


def test_an_enum_narrowed_inside_defs_is_breaking() -> None:
    old = with_defs(
        **perimeter(obj(kind={"$ref": "#/$defs/Kind"})), Kind={"enum": ["a", "b"], "type": "string"}
    )
    new = with_defs(
        **perimeter(obj(kind={"$ref": "#/$defs/Kind"})), Kind={"enum": ["a"], "type": "string"}
    )
    assert breaking_changes(old, new) == [
        "$.perimeter.qpvs[].kind: enum narrowed: 'b' no longer accepted",
        "$.previous.qpvs[].kind: enum narrowed: 'b' no longer accepted",
    ]


def test_an_optional_property_added_inside_defs_and_a_renamed_def_are_compatible() -> None:
    new_defs = perimeter(obj(("code", "population"), code=STRING, population=INTEGER, name=STRING))
    new = with_defs(Zone=new_defs["Perimeter"], Qpv=new_defs["Qpv"])
    new["properties"]["perimeter"] = {"$ref": "#/$defs/Zone", "description": "renamed"}
    new["properties"]["previous"] = {"anyOf": [{"$ref": "#/$defs/Zone"}, {"type": "null"}]}
    assert breaking_changes(with_defs(**perimeter(OLD_QPV)), new) == []


def tree(child_type: str) -> dict[str, Any]:
    node = obj(
        value={"type": child_type},
        children={"type": "array", "items": {"$ref": "#/$defs/Node"}},
    )
    return {"$ref": "#/$defs/Node", "$defs": {"Node": node}}


def test_recursive_schemas_terminate_and_report_once() -> None:
    assert breaking_changes(tree("string"), tree("string")) == []
    assert breaking_changes(tree("string"), tree("integer")) == [
        "$.value: type changed from string to integer"
    ]


# --- Real event schemas -------------------------------------------------------------------


@pytest.mark.parametrize("spec", registry.catalogue(), ids=lambda s: f"{s.type}.v{s.version}")
def test_every_event_schema_is_compatible_with_itself(spec: Any) -> None:
    assert breaking_changes(event_schema(spec), event_schema(spec)) == []


def test_dropping_the_population_of_a_qpv_from_territory_labelled_is_breaking() -> None:
    spec = registry.get("labelling.TerritoryLabelled", 2)
    assert spec is not None
    old = event_schema(spec)
    new = copy.deepcopy(old)
    del new["$defs"]["PerimeterQpv"]["properties"]["population"]
    new["$defs"]["PerimeterQpv"]["required"].remove("population")
    assert breaking_changes(old, new) == ["$.perimeter.qpvs[].population: property removed"]


def test_narrowing_an_enum_of_a_real_event_is_breaking() -> None:
    spec = registry.get("partners.PartnerJoinedAlliance", 1)
    assert spec is not None
    old = event_schema(spec)
    new = copy.deepcopy(old)
    new["$defs"]["AllianceRole"]["enum"].remove("funder")
    assert breaking_changes(old, new) == ["$.roles[]: enum narrowed: 'funder' no longer accepted"]
