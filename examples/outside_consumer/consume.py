"""A consumer another team could write from the platform's published contracts alone.

It imports nothing of the platform: it reads the AsyncAPI document
(``shared/contracts/asyncapi.yaml``), subscribes to every channel it describes, and checks
each record against the message it claims to be (by its ``type`` and ``version``
headers): headers against the message's headers schema, value against its payload schema
(the envelope, whose ``data`` is the event's JSON Schema), key against the aggregate id.
On a compacted channel (its Kafka binding's ``cleanup.policy``), a record with a null
value is a tombstone: the key's person is erased, forget what you hold for it.
It stops once every topic has been read to its end and nothing came for ``--idle`` seconds,
prints what it saw, and exits 1 if any record did not match its contract.

    KAFKA_PASSWORD=… python examples/outside_consumer/consume.py \\
        --bootstrap 127.0.0.1:19092 --username my-team \\
        --asyncapi shared/contracts/asyncapi.yaml [--prefix e2eabc.] [--idle 3]

The brokers authenticate every client (SASL/SCRAM-SHA-512) and let a principal read only
what it was granted: a consuming team asks the platform's operators for a principal, who
create it with ``python -m cites_runtime.kafka_admin reader my-team --password-file F``
(read access to the catalogue's topics, consumer groups named ``my-team.…``).

Needs: aiokafka, PyYAML, jsonschema_rs (``pip install aiokafka pyyaml jsonschema-rs``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import jsonschema_rs
import yaml
from aiokafka import AIOKafkaConsumer


class Contracts:
    """The messages of an AsyncAPI document, found by (type, version)."""

    def __init__(self, document: dict[str, Any]):
        self.document = document
        self.topics = sorted(c["address"] for c in document["channels"].values())
        self.compacted = {c["address"] for c in document["channels"].values()
                          if "compact" in c.get("bindings", {}).get("kafka", {})
                          .get("topicConfiguration", {}).get("cleanup.policy", [])}
        self.messages: dict[tuple[str, int], dict[str, Any]] = {}
        for key, message in document["components"]["messages"].items():
            if message["payload"].get("type") == "null":
                continue  # a compacted topic's tombstone: no event (see consume below)
            version = message["payload"]["properties"]["version"]["const"]
            self.messages[(message["name"], int(version))] = {
                "payload": self._validator(f"#/components/messages/{key}/payload"),
                "headers": self._validator(f"#/components/messages/{key}/headers"),
            }

    def _validator(self, pointer: str) -> Any:
        return jsonschema_rs.validator_for(
            {"$ref": pointer, "components": self.document["components"]})

    def problems(self, key: bytes | None, value: bytes | None,
                 headers: list[tuple[str, bytes]]) -> tuple[str, list[str]]:
        """(event type, what is wrong with the record) — no problems: it is as described."""
        named = {k: v.decode("utf-8", "replace") for k, v in headers}
        kind = named.get("type", "?")
        try:
            contract = self.messages[(kind, int(named.get("version", "0")))]
        except (KeyError, ValueError):
            return kind, [f"no message {kind} v{named.get('version')} in the document"]
        found = [f"header {e.instance_path}: {e.message}"
                 for e in contract["headers"].iter_errors(named)]
        try:
            payload = json.loads(value or b"")
        except ValueError as exc:
            return kind, [*found, f"value is not JSON: {exc}"]
        found += [f"value {'/'.join(map(str, e.instance_path))}: {e.message}"
                  for e in contract["payload"].iter_errors(payload)]
        if isinstance(payload, dict) and (key or b"").decode() != payload.get("aggregate_id"):
            found.append(f"key {key!r} is not the aggregate id {payload.get('aggregate_id')!r}")
        return kind, found


async def consume(bootstrap: str, username: str, password: str, contracts: Contracts,
                  prefix: str, idle: float, timeout: float) -> tuple[Counter[str], list[str]]:
    seen: Counter[str] = Counter()
    bad: list[str] = []
    consumer = AIOKafkaConsumer(
        *[prefix + t for t in contracts.topics], bootstrap_servers=bootstrap,
        security_protocol="SASL_PLAINTEXT", sasl_mechanism="SCRAM-SHA-512",
        sasl_plain_username=username, sasl_plain_password=password,
        group_id=f"{username}.outside-consumer-{uuid.uuid4().hex[:8]}",
        auto_offset_reset="earliest", enable_auto_commit=False)
    await consumer.start()
    try:
        deadline, last = time.monotonic() + timeout, time.monotonic()
        while time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=500)
            for records in batch.values():
                for r in records:
                    if r.value is None and r.topic.removeprefix(prefix) in contracts.compacted:
                        seen["(tombstone)"] += 1  # erased: forget r.key
                        last = time.monotonic()
                        continue
                    kind, problems = contracts.problems(r.key, r.value, list(r.headers))
                    seen[kind] += 1
                    bad += [f"{r.topic}[{r.partition}]@{r.offset} {kind}: {p}"
                            for p in problems]
                    last = time.monotonic()
            assigned = consumer.assignment()
            if assigned and time.monotonic() - last >= idle:
                ends = await consumer.end_offsets(list(assigned))
                if all([await consumer.position(tp) >= ends[tp] for tp in assigned]):
                    return seen, bad
        bad.append(f"still reading after {timeout:.0f} s")
        return seen, bad
    finally:
        await consumer.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--username", required=True, help="your team's Kafka principal "
                        "(its password in KAFKA_PASSWORD)")
    parser.add_argument("--asyncapi", type=Path, required=True)
    parser.add_argument("--prefix", default="", help="topic name prefix (test platforms)")
    parser.add_argument("--idle", type=float, default=3.0)
    parser.add_argument("--timeout", type=float, default=120.0)
    args = parser.parse_args()
    contracts = Contracts(yaml.safe_load(args.asyncapi.read_text(encoding="utf-8")))
    password = os.environ.get("KAFKA_PASSWORD")
    if not password:
        parser.error("set KAFKA_PASSWORD to your principal's password")
    seen, bad = asyncio.run(consume(args.bootstrap, args.username, password, contracts,
                                    args.prefix, args.idle, args.timeout))
    for kind, n in sorted(seen.items()):
        print(f"{n:6d}  {kind}")
    print(f"{sum(seen.values())} record(s) on {len(contracts.topics)} topic(s), "
          f"{len(bad)} not as described")
    for line in bad[:50]:
        print(f"  {line}", file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
