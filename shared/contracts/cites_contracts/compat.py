"""Is a new JSON Schema of an event a compatible evolution of the committed one?

:func:`breaking_changes` compares two schemas of the *same* (type, version) and lists what
would break a consumer, each message starting with the JSON path (``$.perimeter.qpvs[]``).

Breaking: a property removed (a rename is a removal), a type changed or narrowed
(nullable → non-null, int → string, object ↔ array, an ``anyOf`` branch dropped), a
property made required or a new required property, an enum narrowed or a ``const``
changed, a ``format`` or ``pattern`` added or changed, a constraint tightened (bounds,
lengths, item counts, ``multipleOf``, ``uniqueItems``), ``additionalProperties`` closed,
and the topic or key of the event changed (``x-topic``/``x-key`` at the root).

Both directions count, because a topic keeps its history: a consumer built on the new
contract replays events written under the old one, and a consumer still on the old
contract reads events written under the new one. So the mirror images of the rules above
break too: an enum widened, a constraint loosened, a type widened, a property made
nullable or optional — the consumers of the committed contract would refuse such data.
Those are reported with the prefix "consumers of the committed contract would refuse
new events". ARCHITECTURE.md's rule follows: adding an optional property (old consumers
ignore unknown fields) and ``title``/``description``/``default``/``examples`` changes or
renamed ``$defs`` are compatible; anything else needs a new version of the event.

``$ref`` (local JSON pointers, ``$defs`` or ``definitions``) are resolved; recursive
schemas are compared once per pair of definitions, so cycles terminate.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["breaking_changes"]

Schema = Mapping[str, Any]

_ROOT_IDENTITY = ("x-topic", "x-key")
_LOWER_BOUNDS = (("minimum", "exclusiveMinimum"),)
_UPPER_BOUNDS = (("maximum", "exclusiveMaximum"),)
_MIN_COUNTS = ("minLength", "minItems", "minProperties")
_MAX_COUNTS = ("maxLength", "maxItems", "maxProperties")
_JSON_TYPES = ("object", "array", "string", "integer", "number", "boolean", "null")


def breaking_changes(old_schema: Schema, new_schema: Schema) -> list[str]:
    """Human-readable breaking changes from ``old_schema`` to ``new_schema`` (empty if none)."""
    comparison = _Comparison(old_root=old_schema, new_root=new_schema)
    for key in _ROOT_IDENTITY:
        if key in old_schema and old_schema.get(key) != new_schema.get(key):
            was, now = old_schema[key], new_schema.get(key)
            comparison.report("$", f"{key} changed from {was!r} to {now!r}")
    # New consumers reading old events (replays): does the new schema accept old data?
    comparison.compare(old_schema, new_schema, "$")
    # Old consumers reading new events: does the old schema accept new data? They ignore
    # properties they do not know, so an added property is not a problem for them.
    mirror = _Comparison(old_root=new_schema, new_root=old_schema, ignore_unknown=True)
    mirror.compare(new_schema, old_schema, "$")
    reported = {problem.partition(": ")[0] for problem in comparison.problems}
    for problem in mirror.problems:
        path, _, message = problem.partition(": ")
        if path not in reported:  # one message per path: the first direction says enough
            reported.add(path)
            comparison.report(
                path, f"consumers of the committed contract would refuse new events: {message}"
            )
    return comparison.problems


def _pointer(root: Schema, ref: str) -> Schema:
    if not ref.startswith("#"):
        raise ValueError(f"only local $ref are supported, not {ref!r}")
    node: Any = root
    for raw in ref[1:].split("/")[1:]:
        part = raw.replace("~1", "/").replace("~0", "~")
        node = node[int(part)] if isinstance(node, list) else node[part]
    if not isinstance(node, Mapping):
        raise ValueError(f"$ref {ref!r} does not point to a schema")
    return node


@dataclass
class _Comparison:
    old_root: Schema
    new_root: Schema
    problems: list[str] = field(default_factory=list)
    _in_progress: set[tuple[str, str]] = field(default_factory=set)
    ignore_unknown: bool = False
    """Readers of the new schema ignore properties it lacks (pydantic ``extra="ignore"``)."""

    def report(self, path: str, message: str) -> None:
        self.problems.append(f"{path}: {message}")

    # --- $ref resolution ------------------------------------------------------------------

    def _resolve(self, schema: Schema, root: Schema) -> tuple[Schema, str | None]:
        """Follow ``$ref`` chains (and single-element ``allOf``); siblings override the target.

        Returns the resolved schema and the last ref followed (to detect cycles).
        """
        ref_name: str | None = None
        seen: set[str] = set()
        while True:
            if "$ref" in schema:
                ref = schema["$ref"]
                if ref in seen:
                    raise ValueError(f"$ref cycle without structure at {ref!r}")
                seen.add(ref)
                ref_name = ref
                siblings = {k: v for k, v in schema.items() if k != "$ref"}
                schema = {**_pointer(root, ref), **siblings}
            elif isinstance(schema.get("allOf"), list) and len(schema["allOf"]) == 1:
                siblings = {k: v for k, v in schema.items() if k != "allOf"}
                schema = {**schema["allOf"][0], **siblings}
            else:
                return schema, ref_name

    def _branches(self, schema: Schema, root: Schema) -> list[Schema]:
        """The alternatives a schema accepts: ``anyOf``/``oneOf`` and ``type`` lists flattened."""
        schema, _ = self._resolve(schema, root)
        for combinator in ("anyOf", "oneOf"):
            if isinstance(schema.get(combinator), list):
                shared = {k: v for k, v in schema.items() if k != combinator}
                out: list[Schema] = []
                for branch in schema[combinator]:
                    out.extend(self._branches({**shared, **branch}, root))
                return out
        types = schema.get("type")
        if isinstance(types, list):
            return [{**schema, "type": t} for t in types]
        return [schema]

    # --- comparison -----------------------------------------------------------------------

    def compare(self, old: Schema, new: Schema, path: str) -> None:
        old_resolved, old_ref = self._resolve(old, self.old_root)
        new_resolved, new_ref = self._resolve(new, self.new_root)
        pair = (old_ref or "", new_ref or "")
        if old_ref and new_ref:
            if pair in self._in_progress:
                return  # recursive schema: this pair is already being compared up the path
            self._in_progress.add(pair)
        try:
            self._compare_branches(old_resolved, new_resolved, path)
        finally:
            self._in_progress.discard(pair)

    def _compare_branches(self, old: Schema, new: Schema, path: str) -> None:
        old_branches = self._branches(old, self.old_root)
        new_branches = self._branches(new, self.new_root)
        if len(old_branches) == 1 and len(new_branches) == 1:
            self._compare_kinds(old_branches[0], new_branches[0], path)
            return
        for old_branch in old_branches:
            kind = _kind(old_branch)
            candidates = [b for b in new_branches if _accepts_kind(_kind(b), kind)]
            if not candidates:
                self.report(path, _lost_kind_message(kind, new_branches))
                continue
            # Keep the candidate that explains the old branch best (fewest problems).
            best: list[str] | None = None
            for candidate in candidates:
                trial = _Comparison(self.old_root, self.new_root, [], set(self._in_progress),
                                    self.ignore_unknown)
                trial._compare_kinds(old_branch, candidate, path)
                if best is None or len(trial.problems) < len(best):
                    best = trial.problems
                if not best:
                    break
            self.problems.extend(best or [])

    def _compare_kinds(self, old: Schema, new: Schema, path: str) -> None:
        old_kind, new_kind = _kind(old), _kind(new)
        if not _accepts_kind(new_kind, old_kind):
            self.report(path, f"type changed from {old_kind} to {new_kind}")
            return
        self._compare_values(old, new, path)
        self._compare_constraints(old, new, path)
        if old_kind == "object" or new_kind == "object":
            self._compare_objects(old, new, path)
        if old_kind == "array" or new_kind == "array":
            self._compare_arrays(old, new, path)

    def _compare_values(self, old: Schema, new: Schema, path: str) -> None:
        old_values, new_values = _allowed_values(old), _allowed_values(new)
        if new_values is None:
            return
        if old_values is None:
            shown = ", ".join(repr(v) for v in new_values)
            self.report(path, f"values restricted to [{shown}] (was unrestricted)")
            return
        removed = [v for v in old_values if v not in new_values]
        if removed:
            if "const" in old and "const" in new:
                self.report(path, f"const changed from {old['const']!r} to {new['const']!r}")
            else:
                shown = ", ".join(repr(v) for v in removed)
                self.report(path, f"enum narrowed: {shown} no longer accepted")

    def _compare_constraints(self, old: Schema, new: Schema, path: str) -> None:
        for key in ("format", "pattern"):
            if key in new and old.get(key) != new[key]:
                was = repr(old[key]) if key in old else "none"
                self.report(path, f"{key} changed from {was} to {new[key]!r}")
        self._compare_bound(old, new, path, lower=True)
        self._compare_bound(old, new, path, lower=False)
        for key in _MIN_COUNTS:
            if key in new and new[key] > old.get(key, 0):
                self.report(path, f"{key} tightened from {old.get(key, 'none')} to {new[key]}")
        for key in _MAX_COUNTS:
            if key in new and (key not in old or new[key] < old[key]):
                self.report(path, f"{key} tightened from {old.get(key, 'none')} to {new[key]}")
        if "multipleOf" in new:
            old_step = old.get("multipleOf")
            if old_step is None or old_step % new["multipleOf"]:
                self.report(path, f"multipleOf tightened from {old_step} to {new['multipleOf']}")
        if new.get("uniqueItems") and not old.get("uniqueItems"):
            self.report(path, "uniqueItems now required")

    def _compare_bound(self, old: Schema, new: Schema, path: str, *, lower: bool) -> None:
        old_bound, new_bound = _bound(old, lower=lower), _bound(new, lower=lower)
        if new_bound is None:
            return
        name = "lower bound" if lower else "upper bound"
        if old_bound is None:
            self.report(path, f"{name} added: {_show_bound(new_bound, lower=lower)}")
            return
        (old_value, old_exclusive), (new_value, new_exclusive) = old_bound, new_bound
        tighter = new_value > old_value if lower else new_value < old_value
        if tighter or (new_value == old_value and new_exclusive and not old_exclusive):
            self.report(
                path,
                f"{name} tightened from {_show_bound(old_bound, lower=lower)} "
                f"to {_show_bound(new_bound, lower=lower)}",
            )

    def _compare_objects(self, old: Schema, new: Schema, path: str) -> None:
        old_props: Mapping[str, Schema] = old.get("properties", {})
        new_props: Mapping[str, Schema] = new.get("properties", {})
        new_extra = new.get("additionalProperties", True)
        for name in sorted(old_props):
            if name not in new_props:
                if self.ignore_unknown and new_extra is not False:
                    continue
                self.report(_join(path, name), "property removed")
            else:
                self.compare(old_props[name], new_props[name], _join(path, name))
        old_required = set(old.get("required", ()))
        for name in sorted(set(new.get("required", ())) - old_required):
            if name in old_props:
                self.report(_join(path, name), "property made required")
            else:
                self.report(_join(path, name), "new required property")
        old_extra = old.get("additionalProperties", True)
        new_extra = new.get("additionalProperties", True)
        if new_extra is False and old_extra is not False:
            self.report(path, "additionalProperties closed")
        elif isinstance(old_extra, Mapping) and isinstance(new_extra, Mapping):
            self.compare(old_extra, new_extra, f"{path}{{*}}")
        elif old_extra is True and isinstance(new_extra, Mapping):
            self.report(path, "additionalProperties restricted")

    def _compare_arrays(self, old: Schema, new: Schema, path: str) -> None:
        old_prefix: list[Schema] = list(old.get("prefixItems", ()))
        new_prefix: list[Schema] = list(new.get("prefixItems", ()))
        for index, (old_item, new_item) in enumerate(zip(old_prefix, new_prefix, strict=False)):
            self.compare(old_item, new_item, f"{path}[{index}]")
        for index in range(len(new_prefix), len(old_prefix)):
            if isinstance(new.get("items"), Mapping):
                self.compare(old_prefix[index], new["items"], f"{path}[{index}]")
        old_items, new_items = old.get("items"), new.get("items")
        if isinstance(new_items, Mapping):
            if isinstance(old_items, Mapping):
                self.compare(old_items, new_items, f"{path}[]")
            elif not old_prefix:
                self.compare({}, new_items, f"{path}[]")
        elif new_items is False and old_items is not False:
            self.report(path, "extra array items no longer accepted")


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if name.isidentifier() else f"{path}[{name!r}]"


def _kind(schema: Schema) -> str:
    declared = schema.get("type")
    if isinstance(declared, str):
        return declared
    values = _allowed_values(schema)
    if values is not None and values:
        kinds = {_json_kind(v) for v in values}
        if len(kinds) == 1:
            return kinds.pop()
    return "any"


def _json_kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def _accepts_kind(new_kind: str, old_kind: str) -> bool:
    """Does a schema of ``new_kind`` accept every value of ``old_kind``?"""
    return new_kind in ("any", old_kind) or (new_kind == "number" and old_kind == "integer")


def _lost_kind_message(kind: str, new_branches: list[Schema]) -> str:
    remaining = sorted({_kind(b) for b in new_branches}, key=_kind_order)
    if kind == "null":
        return "no longer accepts null (was nullable)"
    return f"type narrowed: {kind} no longer accepted (now {' | '.join(remaining)})"


def _kind_order(kind: str) -> int:
    return _JSON_TYPES.index(kind) if kind in _JSON_TYPES else len(_JSON_TYPES)


def _allowed_values(schema: Schema) -> list[Any] | None:
    if "const" in schema:
        return [schema["const"]]
    enum = schema.get("enum")
    return list(enum) if isinstance(enum, list) else None


def _bound(schema: Schema, *, lower: bool) -> tuple[float, bool] | None:
    inclusive_key, exclusive_key = (_LOWER_BOUNDS if lower else _UPPER_BOUNDS)[0]
    candidates: list[tuple[float, bool]] = []
    if isinstance(schema.get(inclusive_key), int | float):
        candidates.append((schema[inclusive_key], False))
    if isinstance(schema.get(exclusive_key), int | float):
        candidates.append((schema[exclusive_key], True))
    if not candidates:
        return None
    # The effective bound is the tightest of the two keywords.
    if lower:
        return max(candidates, key=lambda b: (b[0], b[1]))
    return min(candidates, key=lambda b: (b[0], not b[1]))


def _show_bound(bound: tuple[float, bool], *, lower: bool) -> str:
    value, exclusive = bound
    op = (">" if exclusive else ">=") if lower else ("<" if exclusive else "<=")
    return f"{op} {value}"
