"""Bad headers beside good events: records whose headers or key no client of ours would
write — a header value that is not UTF-8, a header with no value, 1,000 headers, a 64 KB
header, a key that is not UTF-8 — produced between good labels on the 3 partitions of the
labels topic, first while partners is stopped (so they come to it in the same batches as
the good ones), then while it runs. Every good label opens its alliance, every bad record
is in partners' dead letters with its reason, and partners' lag comes back to 0."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable

import pytest
from e2e_platform import Platform
from faults_kit import Figures, alliances, report, wait_alliances
from labelling.examples import territory_labelled

from cites_contracts import Envelope, encode
from cites_runtime.dlq import list_dead_letters
from cites_runtime.kafka import make_producer
from cites_runtime.testing import wait_caught_up

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

GOOD = 300  # per round: one round while partners is stopped, one while it runs
PARTITIONS = 3
Headers = list[tuple[str, bytes | None]]
Record = tuple[bytes, Headers, bytes]  # value, headers, key


def good(i: int) -> Record:
    rec = encode(Envelope.wrap(territory_labelled(i), sequence=1))
    return rec.value, list(rec.headers), rec.key


def _headers(*extra: tuple[str, bytes | None]) -> Callable[[int], Record]:
    def build(i: int) -> Record:
        value, headers, key = good(i)
        return value, [*headers, *extra], key
    return build


# kind → (builder from a number no good record uses, the dlq.reason expected)
KINDS: dict[str, tuple[Callable[[int], Record], str]] = {
    "header value not UTF-8": (_headers(("x-origin", b"\xff\xfe\xfd")), "bad-header"),
    "header with no value": (_headers(("x-origin", None)), "bad-header"),
    "1,000 headers": (_headers(*[(f"x-{n}", b"1") for n in range(995)]), "bad-header"),
    "64 KB header": (_headers(("x-blob", b"b" * 65_536)), "bad-header"),
    "key not UTF-8": (lambda i: (good(i)[0], good(i)[1], b"\xc3\x28" + good(i)[2]),
                      "wrong-key"),
}


async def _produce(platform: Platform, first: int) -> list[str]:
    """GOOD good labels from number ``first``, a bad record after each (the kinds in turn),
    over the partitions; returns the reason each bad record should get."""
    topic = platform.topic("labelling.labels")
    producer = make_producer(platform.kafka, max_request_size=2 * 1024 * 1024)
    await producer.start()
    reasons: list[str] = []
    kinds = list(KINDS.values())
    try:
        for j in range(GOOD):
            build, reason = kinds[j % len(kinds)]
            for k, (value, headers, key) in enumerate((good(first + j),
                                                       build(50_000 + first + j))):
                await producer.send(topic, value, key=key, headers=headers,
                                    partition=(2 * j + k) % PARTITIONS)
            reasons.append(reason)
        await producer.flush()
    finally:
        await producer.stop()
    return reasons


async def test_bad_headers_beside_good_events_lose_none_of_them(platform: Platform) -> None:
    started = time.monotonic()
    platform.partners.stop()
    expected = await _produce(platform, 0)
    await platform.partners.start()
    expected += await _produce(platform, GOOD)
    await wait_alliances(platform, 2 * GOOD, timeout=240)
    topic = platform.topic("labelling.labels")
    await wait_caught_up(platform.kafka, platform.topic("partners"), topic, timeout=120)
    drained = time.monotonic() - started
    letters = await list_dead_letters(platform.kafka, platform.topic("partners.dlq"))
    opened = await alliances(platform)
    report(Figures("bad headers", f"{2 * GOOD:,} records with bad headers or keys ({len(KINDS)} "
                   f"kinds) among {2 * GOOD:,} good labels on 3 partitions, half while partners "
                   "was stopped", 4 * GOOD, 2 * GOOD - opened, max(0, opened - 2 * GOOD),
                   len(letters), None, f"all consumed in {drained:.1f} s with partners' restart, "
                   "lag 0; every letter with its kind's reason"))

    assert opened == 2 * GOOD
    assert Counter(letter.reason for letter in letters) == Counter(expected)
    assert all(letter.error for letter in letters)
