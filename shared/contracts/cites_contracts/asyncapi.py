"""The AsyncAPI 3.0 documents of the platform: one message per event (type and version).

``python -m cites_contracts.asyncapi export`` writes the platform document
(``shared/contracts/asyncapi.yaml``: every topic, every event, who sends and who receives
it); ``check`` fails when the committed document is not what the contracts generate, as
for the JSON Schemas. A service's own document (``/asyncapi.json``) is the part of it that
concerns the service (:func:`service_document`).

Each message is named after its event type and carries: the envelope as payload, with
``data`` the event's committed JSON Schema (its ``$defs`` lifted into
``components.schemas``, since references in an AsyncAPI document resolve from its root);
the Kafka headers schema; the Kafka key (the aggregate id) as a message binding; an
example (:mod:`cites_contracts.examples`). Each channel carries its topic's declaration
(partitions, replicas, retention) as a Kafka channel binding.

Written by hand rather than by FastStream's generator, which names one ``Message`` per
channel with a union payload and knows neither keys, headers nor topic configuration.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import yaml

from .envelope import EventSpec, Topic, registry
from .examples import EXAMPLES, example, example_envelope
from .schemas import PACKAGE_ROOT, envelope_schema, event_schema
from .topics import ALL_TOPICS, ROLL_KEY

__all__ = ["DOCUMENT", "Consumes", "check", "platform_document", "service_document"]

DOCUMENT = PACKAGE_ROOT / "asyncapi.yaml"
BINDING_VERSION = "0.5.0"
ASYNCAPI_VERSION = "3.0.0"
_SASL = [{"$ref": "#/components/securitySchemes/scram"}]
SERVERS = {
    "local": {
        "host": "127.0.0.1:19092",
        "protocol": "kafka",
        "description": "The native development broker (`make run`), or Docker's on the "
                       "same host port (`docker compose up`).",
        "security": _SASL,
    },
    "compose": {
        "host": "kafka:9092",
        "protocol": "kafka",
        "description": "The broker inside the `docker compose` network.",
        "security": _SASL,
    },
}
SECURITY_SCHEMES = {
    "scram": {
        "type": "scramSha512",
        "description": "Every listener authenticates (SASL_PLAINTEXT, SCRAM-SHA-512) and "
                       "the brokers' ACLs allow a principal only what it was granted. A "
                       "consuming team asks the platform's operators for a principal: they "
                       "run `python -m cites_runtime.kafka_admin reader <team> "
                       "--password-file <file>`, which lets it read the catalogue's topics "
                       "under consumer groups named `<team>.…` (see "
                       "examples/outside_consumer).",
    },
}
HEADERS_NOTE = ("Kafka headers (UTF-8 strings) repeat what a consumer needs before parsing "
                "the value: `type`, `version`, `event_id`, `correlation_id`, and "
                "`traceparent` (W3C Trace Context) when the event has a trace.")


@dataclass(frozen=True, slots=True)
class Consumes:
    """What one consuming service reads: event (type, version) pairs, as declared."""

    service: str
    events: tuple[tuple[str, int], ...]
    tombstones: tuple[str, ...] = ()
    """The compacted topics whose tombstones it applies (forgets the key), by name."""


def contracts_version() -> str:
    """This package's version: the AsyncAPI document describes exactly it."""
    try:
        return metadata.version("cites-contracts")
    except metadata.PackageNotFoundError:  # imported from a source tree, not installed
        return "0.0.0"


def platform_document(consumers: Sequence[Consumes] = (), *, version: str | None = None
                      ) -> dict[str, Any]:
    """The whole catalogue: every topic, event, producer and declared consumer."""
    return _Builder(version or contracts_version()).build(
        title="Cités éducatives platform events",
        description="Every event the services of the Cités éducatives platform exchange "
                    "over Kafka. Each record's value is the JSON envelope, its key the "
                    "aggregate id; events of one aggregate share a key, hence a partition, "
                    "and carry a gap-free `sequence`. " + HEADERS_NOTE,
        topics=ALL_TOPICS, consumers=consumers)


def service_document(service: str, *, title: str, version: str, produces: Sequence[Topic],
                     consumes: Sequence[EventSpec], prefix: str = "",
                     bootstrap: str | None = None, tombstones: Sequence[Topic] = ()
                     ) -> dict[str, Any]:
    """One service's view, with the same messages as the platform document: the topics it
    produces (all their events), the events it consumes and the compacted topics whose
    tombstones it applies (``tombstones``: read for them alone, a topic is still listed);
    channel addresses carry the service's topic ``prefix`` and the server is its broker
    when given."""
    consumed = {(s.type, s.version) for s in consumes}
    specs = [s for s in registry.all() if s.topic in set(produces)] + list(consumes) + [
        s for s in registry.all() if _upcast_versions(s) & consumed]
    topics = tuple(dict.fromkeys([*(s.topic for s in specs), *tombstones]))
    builder = _Builder(version, producers={t.name for t in produces}, specs=specs,
                       prefix=prefix)
    document = builder.build(
        title=title, description=f"The events {service} sends and receives. " + HEADERS_NOTE,
        topics=topics,
        consumers=[Consumes(service, tuple((s.type, s.version) for s in consumes),
                            tuple(t.name for t in tombstones))]
        if consumes or tombstones else [])
    if bootstrap:
        document["servers"] = {"broker": {"host": bootstrap.split(",")[0], "protocol": "kafka",
                                          "description": f"The broker {service} uses.",
                                          "security": copy.deepcopy(_SASL)}}
    return document


class _Builder:
    def __init__(self, version: str, producers: set[str] | None = None,
                 specs: Sequence[EventSpec] | None = None, prefix: str = ""):
        self.version = version
        self.producers = producers  # None: every topic's producer sends
        self.specs = list(registry.catalogue() if specs is None else dict.fromkeys(specs))
        self.prefix = prefix
        self.schemas: dict[str, Any] = {}

    def build(self, *, title: str, description: str, topics: Sequence[Topic],
              consumers: Sequence[Consumes]) -> dict[str, Any]:
        self.schemas["Envelope"] = _without_meta(envelope_schema())
        self.schemas["KafkaHeaders"] = _headers_schema()
        messages: dict[str, Any] = {}
        channels: dict[str, Any] = {}
        operations: dict[str, Any] = {}
        for topic in topics:
            specs = sorted((s for s in self.specs if s.topic == topic),
                           key=lambda s: (s.type, s.version))
            for spec in specs:
                messages[_message_id(spec)] = self._message(spec)
            ids = [_message_id(s) for s in specs]
            tombstone = _tombstone_id(topic) if _compacted(topic) else None
            if tombstone:
                messages[tombstone] = _tombstone_message(topic)
                ids.append(tombstone)
            channel = _channel_id(topic)
            channels[channel] = self._channel(topic, ids)
            if self.producers is None or topic.name in self.producers:
                operations[f"{topic.producer}_sends_{channel}"] = _send(topic, channel, ids,
                                                                       tombstone)
            for consumer in consumers:
                events = set(consumer.events)
                read = [_message_id(s) for s in specs
                        if (s.type, s.version) in events or _upcast_versions(s) & events]
                forgets = tombstone is not None and topic.name in consumer.tombstones
                if forgets:
                    read.append(str(tombstone))
                if read:
                    operations[f"{consumer.service}_receives_{channel}"] = _receive(
                        topic, channel, consumer.service, read, forgets=forgets)
        return {
            "asyncapi": ASYNCAPI_VERSION,
            "info": {
                "title": title,
                "version": self.version,
                "description": description,
                "contact": {"name": "Cités éducatives platform team",
                            "url": "https://www.education.gouv.fr/les-cites-educatives"},
                "license": {"name": "Licence Ouverte / Open Licence 2.0",
                            "url": "https://www.etalab.gouv.fr/licence-ouverte-open-licence/"},
            },
            "defaultContentType": "application/json",
            "servers": copy.deepcopy(SERVERS),
            "channels": channels,
            "operations": operations,
            "components": {"messages": messages, "schemas": dict(sorted(self.schemas.items())),
                           "securitySchemes": copy.deepcopy(SECURITY_SCHEMES)},
        }

    def _channel(self, topic: Topic, message_ids: list[str]) -> dict[str, Any]:
        return {
            "address": self.prefix + topic.name,
            "title": topic.name,
            "description": f"{topic.description} Key: `{topic.key}`. {topic.why}",
            "messages": {i: {"$ref": f"#/components/messages/{i}"} for i in message_ids},
            "bindings": {"kafka": _topic_binding(topic)},
        }

    def _message(self, spec: EventSpec) -> dict[str, Any]:
        payload_id = _message_id(spec)
        self.schemas[payload_id] = self._lift(event_schema(spec), payload_id)
        envelope = {
            "title": f"{spec.type} v{spec.version} envelope",
            "allOf": [{"$ref": "#/components/schemas/Envelope"}],
            "type": "object",
            "properties": {
                "type": {"type": "string", "const": spec.type},
                "version": {"type": "integer", "const": spec.version},
                "producer": {"type": "string", "const": spec.producer},
                "data": {"$ref": f"#/components/schemas/{payload_id}"},
            },
        }
        headers = {
            "allOf": [{"$ref": "#/components/schemas/KafkaHeaders"}],
            "type": "object",
            "properties": {"type": {"type": "string", "const": spec.type},
                           "version": {"type": "string", "const": str(spec.version)}},
        }
        message: dict[str, Any] = {
            "name": spec.type,
            "title": f"{spec.model.__name__} (version {spec.version})",
            "summary": spec.emitted_when,
            "description": (spec.model.__doc__ or "").strip(),
            "contentType": "application/json",
            "headers": headers,
            "payload": envelope,
            "bindings": {"kafka": {
                "key": {"type": "string",
                        "description": f"The aggregate id: the event's `{spec.key_field}`."},
                "bindingVersion": BINDING_VERSION}},
        }
        if (spec.type, spec.version) not in EXAMPLES:  # an event outside the catalogue
            return message
        env = example_envelope(spec)
        message["examples"] = [{
                "name": f"{spec.model.__name__}Example",
                "summary": f"A {spec.model.__name__} as it is on the wire",
                "headers": {"type": spec.type, "version": str(spec.version),
                            "event_id": env["event_id"],
                            "correlation_id": env["correlation_id"]},
                "payload": {**env, "data": example(spec)},
            }]
        return message

    def _lift(self, schema: dict[str, Any], owner: str) -> dict[str, Any]:
        """``schema`` without its ``$defs``, each moved to ``components.schemas`` (one
        copy per distinct definition) and every reference to it rewritten."""
        defs: dict[str, Any] = schema.pop("$defs", {})
        same = {name: name for name in defs}
        names = {name: name if self.schemas.get(name, body) == body else f"{owner}.{name}"
                 for name, body in ((n, _rewrite(_without_meta(d), same))
                                    for n, d in defs.items())}
        for name, definition in defs.items():
            self.schemas[names[name]] = _rewrite(_without_meta(definition), names)
        lifted: dict[str, Any] = _rewrite(_without_meta(schema), names)
        return lifted


def _without_meta(schema: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in schema.items() if k not in ("$schema", "$id", "$defs")}


def _rewrite(node: Any, names: Mapping[str, str]) -> Any:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            return {**node, "$ref": f"#/components/schemas/{names[ref.removeprefix('#/$defs/')]}"}
        return {k: _rewrite(v, names) for k, v in node.items()}
    if isinstance(node, list):
        return [_rewrite(v, names) for v in node]
    return node


def _headers_schema() -> dict[str, Any]:
    return {
        "type": "object",
        "description": HEADERS_NOTE,
        "properties": {
            "type": {"type": "string", "description": "The event type, as in the envelope."},
            "version": {"type": "string", "pattern": "^[1-9][0-9]*$",
                        "description": "The event version, in decimal digits."},
            "event_id": {"type": "string", "format": "uuid"},
            "correlation_id": {"type": "string", "format": "uuid"},
            "traceparent": {"type": "string",
                            "pattern": "^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$"},
        },
        "required": ["type", "version", "event_id", "correlation_id"],
    }


def _topic_binding(topic: Topic) -> dict[str, Any]:
    configs = topic.configs()
    return {
        "topic": topic.name,
        "partitions": topic.partitions,
        "replicas": topic.replication_factor,
        "topicConfiguration": {
            "cleanup.policy": configs["cleanup.policy"].split(","),
            "retention.ms": int(configs["retention.ms"]),
            "retention.bytes": int(configs["retention.bytes"]),
            **({"delete.retention.ms": int(configs["delete.retention.ms"])}
               if "delete.retention.ms" in configs else {}),
        },
        "bindingVersion": BINDING_VERSION,
    }


def _compacted(topic: Topic) -> bool:
    return "compact" in topic.cleanup_policy.split(",")


def _tombstone_id(topic: Topic) -> str:
    return f"{topic.name}.tombstone"


def _tombstone_message(topic: Topic) -> dict[str, Any]:
    """A compacted topic's null value: its key erased (right to erasure)."""
    return {
        "name": "tombstone",
        "title": f"Tombstone of a {topic.key}",
        "summary": f"The {topic.key} is erased: forget what its earlier records said.",
        "description": "A null value. Compaction then keeps nothing else of the key; the "
                       "tombstone itself stays `delete.retention.ms`. The key "
                       f"`{ROLL_KEY.decode()}` is the producer's roll nudge, no one's: "
                       "ignore it.",
        "headers": {"type": "object", "properties": {
            "event_id": {"type": "string", "format": "uuid"},
            "correlation_id": {"type": "string", "format": "uuid"}}},
        "payload": {"type": "null"},
        "bindings": {"kafka": {
            "key": {"type": "string", "description": f"The erased `{topic.key}`."},
            "bindingVersion": BINDING_VERSION}},
        "examples": [{
            "name": "TombstoneExample",
            "summary": f"A {topic.key} erased: the record's key is that id, its value null",
            "headers": {"event_id": "5a0e8f43-2c1b-4d6e-9f70-81a2b3c4d5e6",
                        "correlation_id": "0c9d8e7f-6a5b-4c3d-8e2f-1a0b9c8d7e6f"},
            "payload": None,
        }],
    }


def _channel_id(topic: Topic) -> str:
    return topic.name.replace(".", "_")



def _send(topic: Topic, channel: str, message_ids: list[str], tombstone: str | None
          ) -> dict[str, Any]:
    """The producer's operation: every message of the topic."""
    return {
        "action": "send",
        "channel": {"$ref": f"#/channels/{channel}"},
        "title": f"{topic.producer} publishes {topic.name}",
        "summary": f"{topic.producer} publishes every event of {topic.name}, "
                   "from its transactional outbox, in order per key"
                   + (", and a tombstone for each key it erases." if tombstone else "."),
        "messages": [{"$ref": f"#/channels/{channel}/messages/{i}"} for i in message_ids],
    }


def _receive(topic: Topic, channel: str, service: str, message_ids: list[str], *,
             forgets: bool) -> dict[str, Any]:
    """A consuming service's operation: the messages it declares it reads."""
    return {
        "action": "receive",
        "channel": {"$ref": f"#/channels/{channel}"},
        "title": f"{service} consumes {topic.name}",
        "summary": f"Consumer group `{service}` applies these events once each (inbox); "
                   + ("it forgets a key on its tombstone; " if forgets else "")
                   + "a retired version's records are applied as the version they are upcast "
                   "to (`x-upcast-to` in their payload schema); "
                   + "other events of the topic are skipped; "
                   f"a record it cannot apply goes to `{service}.dlq`.",
        "messages": [{"$ref": f"#/channels/{channel}/messages/{i}"} for i in message_ids],
        "bindings": {"kafka": {"groupId": {"type": "string", "const": service},
                               "bindingVersion": BINDING_VERSION}},
    }


def _upcast_versions(spec: EventSpec) -> set[tuple[str, int]]:
    """The (type, version)s a record of ``spec`` is upcast to, step after step: a consumer
    of one of them receives it too (its records are applied as that version)."""
    out: set[tuple[str, int]] = set()
    upcaster = registry.upcaster(spec.model)
    while upcaster is not None:
        out.add((upcaster.target.spec.type, upcaster.target.spec.version))
        upcaster = registry.upcaster(upcaster.target)
    return out


def _message_id(spec: EventSpec) -> str:
    return f"{spec.type}.v{spec.version}"


# -- the committed document ------------------------------------------------------------
def render(document: Mapping[str, Any]) -> str:
    return ("# Generated by `python -m cites_contracts.asyncapi export`: do not edit.\n"
            + yaml.safe_dump(json.loads(json.dumps(document)), sort_keys=False,
                             allow_unicode=True, width=100))


def load_consumers(paths: Sequence[Path]) -> list[Consumes]:
    """Consumer declarations (``services/<name>/consumes.json``), by service name."""
    found = []
    for path in sorted(paths):
        declared = json.loads(path.read_text(encoding="utf-8"))
        found.append(Consumes(declared["service"], tuple(
            (e["type"], int(e["version"])) for e in declared["events"]),
            tuple(declared.get("tombstones", ()))))
    return found


def check(path: Path, consumers: Sequence[Consumes]) -> list[str]:
    """Differences between the committed document and the generated one."""
    expected = render(platform_document(consumers))
    if not path.exists():
        return [f"{path} is missing: run python -m cites_contracts.asyncapi export"]
    if path.read_text(encoding="utf-8") != expected:
        return [f"{path} is not what the contracts generate: run "
                "python -m cites_contracts.asyncapi export"]
    return []


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cites_contracts.asyncapi",
                                     description="The platform's AsyncAPI document.")
    parser.add_argument("command", choices=["export", "check", "print"])
    parser.add_argument("--consumers", nargs="*", default=[], type=Path,
                        help="consumer declarations (services/*/consumes.json)")
    parser.add_argument("--out", type=Path, default=DOCUMENT)
    args = parser.parse_args(argv)
    consumers = load_consumers(args.consumers)
    if args.command == "print":
        sys.stdout.write(render(platform_document(consumers)))
        return 0
    if args.command == "export":
        args.out.write_text(render(platform_document(consumers)), encoding="utf-8")
        print(f"wrote {args.out}")
        return 0
    problems = check(args.out, consumers)
    for problem in problems:
        print(problem, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
