"""Committed JSON Schemas of every event, their compatibility check, and the catalogue page.

``shared/contracts/schemas/`` holds one file per (type, version), ``<type>.v<version>.json``,
the schema of that event's *payload* (the envelope's ``data``) with the contract's
metadata at the root (``x-topic``, ``x-key``…), plus ``envelope.json`` once.
Output is deterministic (sorted keys, two-space indent) so diffs show real changes.

Commands (``python -m cites_contracts.schemas …``):

- ``export``: rewrite the schema files from the registry (never deletes a file).
- ``check``: fail, listing every problem, when a committed schema is incompatible with
  the current model of the same (type, version), a registered event has no committed
  schema, a committed schema's event is no longer registered, a committed schema or the
  README is out of date.
- ``check --against DIR``: compare the current models with the schemas in DIR (e.g. the
  base branch's): only breaking changes and removed events fail; new events are listed.
- ``docs``: rewrite ``shared/contracts/README.md`` from the registry (``--check`` to verify).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import events as _events  # noqa: F401 - fills the registry
from .compat import breaking_changes
from .envelope import Envelope, Event, EventSpec, registry
from .topics import ALL_TOPICS, ERASURE_PROMISE, dead_letter_topics

__all__ = [
    "ENVELOPE_FILE",
    "Problem",
    "check",
    "envelope_schema",
    "event_schema",
    "expected_files",
    "export",
    "main",
    "render_catalogue",
    "schema_filename",
]

_IN_REPOSITORY = Path(__file__).resolve().parent.parent
PUBLISHED = Path(__file__).resolve().parent / "published"
"""Where an installed wheel carries the published documents (see setup.py)."""
PACKAGE_ROOT = _IN_REPOSITORY if (_IN_REPOSITORY / "schemas").is_dir() else PUBLISHED
"""The repository's ``shared/contracts`` (editable install), else the wheel's copies."""
DEFAULT_DIR = PACKAGE_ROOT / "schemas"
README = _IN_REPOSITORY / "README.md"
ENVELOPE_FILE = "envelope.json"
DIALECT = "https://json-schema.org/draft/2020-12/schema"
_COMMAND = "python -m cites_contracts.schemas"


# --- Schemas ------------------------------------------------------------------------------


def schema_filename(spec: EventSpec) -> str:
    return f"{spec.type}.v{spec.version}.json"


def event_schema(spec: EventSpec) -> dict[str, Any]:
    """JSON Schema of the payload of ``spec``, with the contract's metadata at its root."""
    schema = spec.model.model_json_schema(mode="validation")
    schema.update(
        {
            "$schema": DIALECT,
            "$id": schema_filename(spec),
            "x-event-type": spec.type,
            "x-event-version": spec.version,
            "x-producer": spec.producer,
            "x-topic": spec.topic.name,
            "x-key": spec.key_field,
            "x-emitted-when": spec.emitted_when,
        }
    )
    if spec.retired:
        schema["x-retired"] = spec.retired
    upcaster = registry.upcaster(spec.model)
    if upcaster is not None:  # its records are applied as this newer version
        schema["x-upcast-to"] = upcaster.target.spec.version
    if spec.topic.personal_data:
        schema["x-personal-data"] = True
    return schema


def envelope_schema() -> dict[str, Any]:
    """JSON Schema of the envelope; ``data`` is described by the event's own schema."""
    schema = Envelope[Event].model_json_schema(mode="validation")
    schema.pop("$defs", None)
    schema["properties"]["data"] = {
        "type": "object",
        "description": "The event payload: see <type>.v<version>.json",
    }
    schema.update(
        {
            "$schema": DIALECT,
            "$id": ENVELOPE_FILE,
            "title": "Envelope",
            "description": (
                "Kafka record value of every event. Headers repeat type, version, "
                "event_id, correlation_id (and traceparent); the key is aggregate_id."
            ),
        }
    )
    return schema


def render(schema: Mapping[str, Any]) -> str:
    return json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def expected_files() -> dict[str, str]:
    """File name → content, for the envelope and every registered event."""
    files = {ENVELOPE_FILE: render(envelope_schema())}
    for spec in registry.catalogue():
        files[schema_filename(spec)] = render(event_schema(spec))
    return files


def export(directory: Path = DEFAULT_DIR) -> list[Path]:
    """Write every schema file that changed; return those written."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, content in expected_files().items():
        path = directory / name
        if not path.exists() or path.read_text(encoding="utf-8") != content:
            path.write_text(content, encoding="utf-8")
            written.append(path)
    return written


# --- Check --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Problem:
    """One finding of :func:`check`; ``fatal`` ones make the command fail."""

    file: str
    message: str
    fatal: bool = True

    def __str__(self) -> str:
        return f"{self.file}: {self.message}"


def _load(path: Path) -> tuple[dict[str, Any] | None, str | None]:
    try:
        loaded = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        return None, f"cannot read the committed schema: {exc}"
    if not isinstance(loaded, dict):
        return None, "the committed schema is not a JSON object"
    return loaded, None


def check(directory: Path = DEFAULT_DIR, *, against: bool = False) -> list[Problem]:
    """Compare the registry with the schemas in ``directory``.

    ``against=False``: ``directory`` is this package's committed schemas; every drift is
    fatal. ``against=True``: ``directory`` is an older set; new events are not fatal and
    compatible differences are expected.
    """
    problems: list[Problem] = []
    current = {ENVELOPE_FILE: envelope_schema()}
    current.update({schema_filename(spec): event_schema(spec) for spec in registry.catalogue()})
    expected = expected_files()
    for name, schema in current.items():
        path = directory / name
        if not path.exists():
            if against:
                problems.append(Problem(name, f"new (no schema in {directory})", fatal=False))
            else:
                problems.append(Problem(name, f"no committed schema: run `{_COMMAND} export`"))
            continue
        committed, error = _load(path)
        if committed is None:
            problems.append(Problem(name, error or "unreadable"))
            continue
        breaking = breaking_changes(committed, schema)
        hint = "keep the old model registered and publish the change as a new version"
        for change in breaking:
            problems.append(Problem(name, f"breaking change {change} ({hint})"))
        if not breaking and not against and path.read_text(encoding="utf-8") != expected[name]:
            problems.append(
                Problem(name, f"out of date (compatible change): run `{_COMMAND} export`")
            )
    for path in sorted(directory.glob("*.json")):
        if path.name not in current:
            problems.append(
                Problem(
                    path.name,
                    "committed schema of an event no longer registered: consumers may still "
                    "need it; keep the event registered, or delete the file deliberately",
                )
            )
    readme_checked = not against and directory == DEFAULT_DIR and README.exists()
    if readme_checked and README.read_text(encoding="utf-8") != render_catalogue():
        problems.append(Problem(README.name, f"out of date: run `{_COMMAND} docs`"))
    return problems


# --- Catalogue (README) -------------------------------------------------------------------


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def _email_paths(schema: Mapping[str, Any]) -> list[str]:
    """JSON paths of the e-mail fields (personal data) of a payload schema."""
    defs: Mapping[str, Any] = schema.get("$defs", {})

    def walk(node: Mapping[str, Any], path: str, seen: frozenset[str]) -> Iterator[str]:
        ref = node.get("$ref")
        if isinstance(ref, str):
            name = ref.rsplit("/", 1)[-1]
            if name not in seen:
                yield from walk(defs[name], path, seen | {name})
            return
        if node.get("format") == "email":
            yield path
        for key in ("anyOf", "oneOf", "allOf"):
            for branch in node.get(key, ()):
                yield from walk(branch, path, seen)
        for name, prop in node.get("properties", {}).items():
            yield from walk(prop, f"{path}.{name}", seen)
        if isinstance(node.get("items"), Mapping):
            yield from walk(node["items"], f"{path}[]", seen)

    return sorted(set(walk(schema, "data", frozenset())))


_INTRO = """\
# cites-contracts — event catalogue

<!-- Generated by `python -m cites_contracts.schemas docs` from the registry: do not edit. -->

The events the four services of the Cités éducatives platform (labelling, partners,
funding, notifications) exchange over Kafka, as pydantic v2 models in the package
`cites_contracts`. Every service and every outside consumer installs this package (or
reads the JSON Schemas in [`schemas/`](schemas/)).

```python
import cites_contracts as cc

envelope = cc.Envelope.wrap(
    payload, sequence=7, correlation_id=cause.correlation_id, causation_id=cause.event_id
)
record = cc.encode(envelope)  # topic, key, value, headers
envelope = cc.decode(record.value)  # raises a cc.DecodeError subclass with a .reason
```

**Envelope** ([`envelope.json`](schemas/envelope.json)): `event_id`, `type`
(`<producer>.<EventName>`), `version`, `occurred_at` (UTC), `producer`, `aggregate_id` (the
key), `sequence` (per aggregate, gap-free), `correlation_id`, `causation_id`, `imported`
(present and true only on the events of an import of the programme's history, and on those
they cause: past facts, not news), `data`. Kafka
headers repeat `type`, `version`, `event_id`, `correlation_id` (and `traceparent`).
**Wire rules for headers** (`header_problem`): at most 32 headers per record, each value
UTF-8 text (never null) of at most 8 KiB; the platform's consumers dead-letter a record
that breaks them (`bad-header`), whatever its body says.

**Evolution**: adding an optional field keeps the version; anything else is a new
`version`, published alongside the old one during a migration. Consumers ignore unknown
fields. `check` fails on an incompatible change under the same version (rules in
`cites_contracts/compat.py`). Money is integer euro cents; timestamps are UTC.
"""

_COMMANDS = """\
## Commands

```sh
python -m cites_contracts.schemas export               # rewrite schemas/ from the models
python -m cites_contracts.schemas check                # committed schemas and README up to date?
python -m cites_contracts.schemas check --against DIR  # breaking changes against another set
python -m cites_contracts.schemas docs                 # rewrite this page
```

Another team installs the contracts as a wheel: `python -m build shared/contracts` makes
`cites_contracts-<version>-py3-none-any.whl`, which carries these schemas and the AsyncAPI
document (`cites_contracts.schemas.DEFAULT_DIR`, `cites_contracts.asyncapi.DOCUMENT`);
topics are provisioned with `python -m cites_contracts.topics apply` (the `kafka` extra).

Hypothesis strategies of valid payloads for any service's tests:
`cites_contracts.testing.payloads(TerritoryLabelled)` (needs the `testing` extra).
"""


def _kept(retention_ms: int, policy: str) -> str:
    if policy != "delete":
        return policy
    if retention_ms < 0:
        return "forever"
    return f"{retention_ms // (24 * 3600 * 1000)} days"


def render_catalogue() -> str:
    """The README: topics, events and personal data, all read from the registry."""
    specs = sorted(registry.catalogue(),
                   key=lambda s: (s.producer, s.topic.name, s.type, s.version))
    lines = [_INTRO, "## Topics", ""]
    lines += ["| Topic | Producer | Key | What flows | Kept | Partitions, replicas |",
              "|---|---|---|---|---|---|"]
    for topic in ALL_TOPICS:
        lines.append(
            f"| `{topic.name}` | {topic.producer} | `{topic.key}` | {_cell(topic.description)} "
            f"| {_kept(topic.retention_ms, topic.cleanup_policy)}: {_cell(topic.why)} "
            f"| {topic.partitions}, {topic.replication_factor} "
            f"(min in sync {topic.min_insync_replicas}) |"
        )
    dlq, skipped, _ = dead_letter_topics("any")
    lines += ["", "Dead letters of a consumer go to `<consumer>.dlq` (`dlq_topic(consumer)`), "
              f"{_kept(dlq.retention_ms, dlq.cleanup_policy)}; those an operator sets aside "
              "to `<consumer>.dlq.skipped` or `.parked`, "
              f"{_kept(skipped.retention_ms, 'delete')}. "
              "Topics are provisioned as declared by `python -m cites_contracts.topics "
              "apply` (the broker creates none by itself). The AsyncAPI document of the "
              "platform, one message per event, is [`asyncapi.yaml`](asyncapi.yaml).", ""]
    lines += ["## Events", ""]
    lines += [
        "| Event | Version | Producer | Topic | Key | Emitted when |",
        "|---|---|---|---|---|---|",
    ]
    for spec in specs:
        link = f"[`{spec.type}`](schemas/{schema_filename(spec)})"
        when = (f"**Retired, no longer produced**: {spec.retired}" if spec.retired
                else spec.emitted_when)
        lines.append(
            f"| {link} | {spec.version} | {spec.producer} | `{spec.topic.name}` "
            f"| `{spec.key_field}` | {_cell(when)} |"
        )
    lines += ["", "## Personal data", ""]
    erasable = ", ".join(f"`{t.name}`" for t in ALL_TOPICS if t.personal_data)
    lines.append(
        "Only these fields carry personal data (e-mail addresses, no names), and only on "
        f"the compacted topics keyed per person ({erasable}): erasure publishes a tombstone "
        "(null value) for the person's key, and every earlier value of it is gone from Kafka "
        f"within {ERASURE_PROMISE} (see `cites_contracts.topics.ERASURE_PROMISE` for how the "
        "topics' configuration keeps that). Consumers that keep an address forget it on the "
        "tombstone (and on `partners.ContactErased`). Retired versions that carried "
        "addresses on kept topics are listed apart: they are no longer produced."
    )
    lines.append("")
    for spec in specs:
        paths = _email_paths(event_schema(spec))
        if paths:
            shown = ", ".join(f"`{p}`" for p in paths)
            retired = " (retired)" if spec.retired else ""
            lines.append(f"- `{spec.type}` v{spec.version}{retired} on "
                         f"`{spec.topic.name}`: {shown}")
    lines += ["", _COMMANDS]
    return "\n".join(lines).rstrip("\n") + "\n"


# --- CLI ----------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=_COMMAND, description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    export_cmd = commands.add_parser("export", help="rewrite the schema files")
    export_cmd.add_argument("--dir", type=Path, default=DEFAULT_DIR)
    check_cmd = commands.add_parser("check", help="verify the committed schemas")
    check_cmd.add_argument("--dir", type=Path, default=DEFAULT_DIR)
    check_cmd.add_argument("--against", type=Path, help="compare with the schemas in this folder")
    docs_cmd = commands.add_parser("docs", help="rewrite the README catalogue")
    docs_cmd.add_argument("--output", type=Path, default=README)
    docs_cmd.add_argument("--check", action="store_true", help="fail if the file is stale")
    args = parser.parse_args(argv)

    if args.command == "export":
        written = export(args.dir)
        print(f"{len(written)} schema file(s) written in {args.dir}")
        return 0
    if args.command == "docs":
        content = render_catalogue()
        if args.check:
            stale = not args.output.exists() or args.output.read_text("utf-8") != content
            if stale:
                print(f"{args.output}: out of date: run `{_COMMAND} docs`", file=sys.stderr)
            return 1 if stale else 0
        args.output.write_text(content, encoding="utf-8")
        print(f"wrote {args.output}")
        return 0

    directory: Path = args.against or args.dir
    if not directory.is_dir():
        print(f"{directory}: no such directory", file=sys.stderr)
        return 2
    problems = check(directory, against=args.against is not None)
    for problem in problems:
        if not problem.fatal:
            print(f"note: {problem}")
    fatal = [p for p in problems if p.fatal]
    for problem in fatal:
        print(f"error: {problem}", file=sys.stderr)
    if fatal:
        print(f"{len(fatal)} problem(s) in {directory}", file=sys.stderr)
        return 1
    print(f"OK: {len(registry.catalogue())} event schemas in {directory} are compatible")
    return 0


if __name__ == "__main__":
    sys.exit(main())
