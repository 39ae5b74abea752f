"""A poison storm: 1,000 records partners can never apply, of 11 kinds, interleaved with
1,000 good labels on the 3 partitions of the labels topic. Every good one opens its
alliance, every bad one is in partners' dead letters with its own reason, and the consumer
never stops: its lag comes back to 0."""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from e2e_platform import Platform
from faults_kit import Figures, alliances, report, wait_alliances
from labelling.examples import territory_labelled

from cites_contracts import Envelope, encode
from cites_runtime.dlq import list_dead_letters
from cites_runtime.kafka import make_producer
from cites_runtime.testing import wait_caught_up

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

GOOD = 1_000
PARTITIONS = 3
Record = tuple[bytes | None, list[tuple[str, bytes]], bytes | None]  # value, headers, key


def good(i: int) -> Record:
    rec = encode(Envelope.wrap(territory_labelled(i), sequence=1))
    return rec.value, list(rec.headers), rec.key


def changed(i: int, change: Callable[[dict[str, Any]], None]) -> bytes:
    raw: dict[str, Any] = json.loads(good(i)[0] or b"")
    change(raw)
    return json.dumps(raw).encode()


def with_number(i: int, digits: int) -> bytes:
    return changed(i, lambda r: r.update(version="__N__")).replace(b'"__N__"', b"9" * digits)


# kind → (how many, builder from a number no good record uses, the dlq.reason expected)
KINDS: dict[str, tuple[int, Callable[[int], Record], str]] = {
    "bad JSON": (98, lambda i: (b"{not json", [], b"k"), "malformed"),
    "binary garbage": (98, lambda i: (bytes(range(256)) * 4, [], None), "malformed"),
    "empty value": (98, lambda i: (b"", good(i)[1], good(i)[2]), "malformed"),
    "version ²": (98, lambda i: (changed(i, lambda r: r.update(version="²")),
                                 [("type", b"labelling.TerritoryLabelled"),
                                  ("version", "²".encode())], good(i)[2]),
                  "invalid-envelope"),
    "version of 5,000 digits": (98, lambda i: (with_number(i, 5000), [], good(i)[2]),
                                "malformed"),
    "1,000 nested [": (98, lambda i: (b"[" * 1000, good(i)[1], good(i)[2]), "malformed"),
    "wrong key": (98, lambda i: (good(i)[0], good(i)[1], b"another-cite"), "wrong-key"),
    "unknown type": (98, lambda i: (changed(i, lambda r: r.update(
        type="labelling.NobodyKnowsThis")), [], good(i)[2]), "unknown-event"),
    "unknown version": (98, lambda i: (changed(i, lambda r: r.update(version=99)), [],
                                       good(i)[2]), "unknown-event"),
    "payload against the schema": (98, lambda i: (changed(i, lambda r: r["data"].update(
        departement="XX")), [], good(i)[2]), "invalid-payload"),
    "oversize (600 KB)": (20, lambda i: (changed(i, lambda r: r.update(pad="x" * 600_000)),
                                         [], good(i)[2]), "too-large"),
}


async def test_1000_poison_records_among_1000_good_ones(platform: Platform) -> None:
    bad: list[tuple[Record, str]] = []
    for n, build, reason in KINDS.values():
        bad.extend((build(10_000 + len(bad)), reason) for _ in range(n))
    assert len(bad) == 1_000 and len(KINDS) >= 10
    topic = platform.topic("labelling.labels")
    producer = make_producer(platform.kafka, max_request_size=2 * 1024 * 1024)
    await producer.start()
    started = time.monotonic()
    try:
        for j in range(GOOD):  # good, bad, good, bad… over the 3 partitions
            for k, (value, headers, key) in enumerate((good(j), bad[j][0])):
                await producer.send(topic, value, key=key, headers=headers,
                                    partition=(2 * j + k) % PARTITIONS)
        await producer.flush()
    finally:
        await producer.stop()
    await wait_alliances(platform, GOOD, timeout=240)
    await wait_caught_up(platform.kafka, platform.topic("partners"), topic, timeout=120)
    drained = time.monotonic() - started
    letters = await list_dead_letters(platform.kafka, platform.topic("partners.dlq"))
    opened = await alliances(platform)
    report(Figures("poison storm", f"1,000 bad records of {len(KINDS)} kinds among 1,000 good "
                   "on 3 partitions", 2 * GOOD, GOOD - opened, max(0, opened - GOOD),
                   len(letters), None, f"all 2,000 consumed in {drained:.1f} s, lag 0; "
                   "every letter with its kind's reason"))

    assert opened == GOOD
    assert Counter(letter.reason for letter in letters) == Counter(r for _, r in bad)
    assert all(letter.error for letter in letters)
