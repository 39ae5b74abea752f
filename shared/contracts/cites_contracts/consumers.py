"""Consumer contracts: what each consuming service reads, checked against what is produced.

A consuming service commits ``consumes.json`` beside its code::

    {"service": "partners",
     "events": [{"type": "labelling.TerritoryLabelled", "version": 1,
                 "reads": {"cite_id": "string", "perimeter.schools[].uai": "string",
                           "convention_signed_on": "string?"}}]}

``reads`` maps each field it uses (dotted path, ``[]`` for the items of an array) to the
JSON type it expects: ``string``, ``integer``, ``number``, ``boolean``, ``object``,
``array``; a trailing ``?`` when it copes with the field being absent or null.
:func:`check` fails when the catalogue no longer satisfies a declaration: the event
(type and version) is no longer produced, a field read is gone, has another type, or may
now be absent while the consumer needs it. A consumer that forgets keys on their
tombstones lists those compacted topics (``"tombstones": ["partners.contacts"]``): the
check fails when one is not a compacted topic of the catalogue. It is the
message-contract idea of Pact, done with our own JSON Schemas:
``python -m cites_contracts.consumers check FILES`` (run by ``make contracts-check``, so
by CI).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .compat import _json_kind, _pointer  # the compatibility check's own
from .envelope import registry
from .schemas import event_schema
from .topics import ALL_TOPICS

__all__ = ["check", "check_files", "field_types"]

Schema = Mapping[str, Any]
_COMPACTED = {t.name for t in ALL_TOPICS if "compact" in t.cleanup_policy.split(",")}
_NUMERIC = {"integer": {"integer"}, "number": {"integer", "number"}}


def catalogue_schemas() -> dict[tuple[str, int], dict[str, Any]]:
    return {(s.type, s.version): event_schema(s) for s in registry.catalogue()}


def field_types(schema: Schema, path: str) -> tuple[set[str], bool] | None:
    """The JSON types the field at ``path`` may have, and whether it is always there (set
    and not null); None when the schema has no such field."""
    node: Schema = schema
    always = True
    for part in path.split("."):
        items = part.endswith("[]")
        name = part.removesuffix("[]")
        alternatives = _alternatives(schema, node)
        found = [a["properties"][name] for a in alternatives
                 if name in a.get("properties", {})]
        if not found:
            return None
        always = always and all(name in a.get("required", []) for a in alternatives)
        node = found[0] if len(found) == 1 else {"anyOf": found}
        if items:
            arrays = [a for a in _alternatives(schema, node) if "items" in a]
            if not arrays:
                return None
            always = always and "null" not in _types(schema, node)
            node = arrays[0]["items"]
    types = _types(schema, node)
    return types - {"null"}, always and "null" not in types


def _resolve(root: Schema, node: Schema) -> Schema:
    while "$ref" in node:
        node = _pointer(root, str(node["$ref"]))
    return node


def _alternatives(root: Schema, node: Schema) -> list[Schema]:
    node = _resolve(root, node)
    if "anyOf" in node or "oneOf" in node:
        return [a for branch in node.get("anyOf", node.get("oneOf", []))
                for a in _alternatives(root, branch)]
    if "allOf" in node:
        merged: dict[str, Any] = {"properties": {}, "required": []}
        for part in node["allOf"]:
            for a in _alternatives(root, part):
                merged["properties"].update(a.get("properties", {}))
                merged["required"].extend(a.get("required", []))
        return [merged]
    return [node]


def _types(root: Schema, node: Schema) -> set[str]:
    found: set[str] = set()
    for a in _alternatives(root, node):
        declared = a.get("type")
        if isinstance(declared, list):
            found.update(declared)
        elif isinstance(declared, str):
            found.add(declared)
        elif "const" in a or "enum" in a:
            values = [a["const"]] if "const" in a else list(a["enum"])
            found.update(_json_kind(v) for v in values)
        elif "properties" in a:
            found.add("object")
    return found


def check(declaration: Mapping[str, Any],
          schemas: Mapping[tuple[str, int], Schema] | None = None) -> list[str]:
    """Every way the catalogue (``schemas``: (type, version) → JSON Schema of the payload;
    the current one by default) fails ``declaration``."""
    schemas = catalogue_schemas() if schemas is None else schemas
    service = declaration["service"]
    problems = [f"{service} forgets keys on tombstones of {name}: no compacted topic of "
                "that name" for name in declaration.get("tombstones", [])
                if name not in _COMPACTED]
    for wanted in declaration["events"]:
        key = (str(wanted["type"]), int(wanted["version"]))
        where = f"{service} reads {key[0]} v{key[1]}"
        schema = schemas.get(key)
        if schema is None:
            problems.append(f"{where}: no longer produced")
            continue
        for path, expected in wanted.get("reads", {}).items():
            optional = expected.endswith("?")
            expected = expected.removesuffix("?")
            found = field_types(schema, path)
            if found is None:
                problems.append(f"{where}: field {path} is gone")
                continue
            types, always = found
            accepted = _NUMERIC.get(expected, {expected})
            if not types or not types <= accepted:
                problems.append(f"{where}: field {path} is {'/'.join(sorted(types)) or 'untyped'}"
                                f", {service} reads a {expected}")
            if not always and not optional:
                problems.append(f"{where}: field {path} may be absent or null, and "
                                f"{service} needs it (declare \"{expected}?\" if it copes)")
    return problems


def check_files(paths: Sequence[Path]) -> list[str]:
    schemas = catalogue_schemas()
    problems = []
    for path in paths:
        try:
            declaration = json.loads(path.read_text("utf-8"))
        except (OSError, ValueError) as exc:
            problems.append(f"{path}: cannot read it: {exc}")
            continue
        problems += [f"{path}: {p}" for p in check(declaration, schemas)]
    return problems


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cites_contracts.consumers",
                                     description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("command", choices=["check"])
    parser.add_argument("files", nargs="+", type=Path, help="consumes.json files")
    args = parser.parse_args(argv)
    problems = check_files(args.files)
    for p in problems:
        print(p, file=sys.stderr)
    print(f"{len(args.files)} consumer declaration(s): "
          + ("satisfied" if not problems else f"{len(problems)} problem(s)"))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
