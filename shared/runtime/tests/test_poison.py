"""Whatever bytes and headers a record carries, ``process_batch`` applies it, ignores it or
dead-letters it with a precise reason, and returns: it never raises for one record (the
batch would be nacked and redelivered forever, stopping every partition in it).

The runner is driven directly with fake records and a fake dead-letter publisher, under a
timeout, so that a wedge fails the test instead of hanging it.
"""

from __future__ import annotations

import json
from typing import Any

import asyncpg
import pytest
import runtime_testapp as testapp
from runtime_kit import DeadLetters, Headers, Rec, process, quick_runner
from runtime_testapp import ThingHappened

from cites_contracts import Envelope, decode, encode, registry
from cites_runtime.consumer import ConsumerRunner
from cites_runtime.consumer import records as classification
from cites_runtime.settings import ServiceSettings

pytestmark = pytest.mark.integration


def good(thing_id: str, *, note: str = "") -> tuple[bytes, Headers, bytes]:
    rec = encode(Envelope.wrap(ThingHappened(thing_id=thing_id, n=1, note=note), sequence=1))
    return rec.value, list(rec.headers), rec.key


def body(thing_id: str = "hostile", **changes: Any) -> dict[str, Any]:
    """The JSON object of a good ``ThingHappened`` record, with top-level changes."""
    raw: dict[str, Any] = json.loads(good(thing_id)[0])
    raw.update(changes)
    return raw


def replace_headers(headers: Headers, **values: bytes | None) -> Headers:
    return [(k, values.get(k, v)) for k, v in headers]


def with_digits(raw: dict[str, Any], path: tuple[str, ...], digits: int) -> bytes:
    """``raw`` as JSON with the number at ``path`` replaced by a ``digits``-digit one."""
    marker = "__NUMBER__"
    node = raw
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = marker
    return json.dumps(raw).encode().replace(f'"{marker}"'.encode(), b"9" * digits)


THING_TYPE = ThingHappened.spec.type
UNHANDLED = next(s for s in registry.all() if s.model not in testapp.consumer.handlers)
NEW_VERSION = max(registry.versions(UNHANDLED.type)) + 1

HOSTILE_VALUE, HOSTILE_HEADERS, _ = good("hostile")
GOOD_HEADERS = HOSTILE_HEADERS


def unhandled_new_version() -> bytes:
    return json.dumps(body(type=UNHANDLED.type, version=NEW_VERSION,
                           producer=UNHANDLED.producer)).encode()


def surrogate_thing(note: str = "") -> bytes:
    raw = body()
    raw["aggregate_id"] = raw["data"]["thing_id"] = "\ud800"  # a lone surrogate: valid JSON
    raw["data"]["note"] = note
    return json.dumps(raw).encode()


APPLIED, IGNORED = "applied", "ignored"
K = b"hostile"  # the key of the hostile record's aggregate

# (id, value, headers, key, outcome): outcome is "applied", "ignored" or a dlq.reason.
CASES: list[tuple[str, bytes | None, Headers, bytes | None, str]] = [
    # -- headers that keep the wire rules are hints: whatever they say, a good body is
    # applied; headers that break them (not UTF-8, no value, too many, too large) make the
    # record a dead letter ("bad-header"), its body unread ----------------------------
    ("version-superscript-two", HOSTILE_VALUE,
     replace_headers(GOOD_HEADERS, version="²".encode()), K, APPLIED),
    ("version-5000-digits", HOSTILE_VALUE,
     replace_headers(GOOD_HEADERS, version=b"9" * 5000), K, APPLIED),
    ("version-negative", HOSTILE_VALUE,
     replace_headers(GOOD_HEADERS, version=b"-1"), K, APPLIED),
    ("version-leading-space", HOSTILE_VALUE,
     replace_headers(GOOD_HEADERS, version=b" 1"), K, APPLIED),
    ("version-empty", HOSTILE_VALUE,
     replace_headers(GOOD_HEADERS, version=b""), K, APPLIED),
    ("version-arabic-indic-digit", HOSTILE_VALUE,
     replace_headers(GOOD_HEADERS, version="١".encode()), K, APPLIED),
    ("version-not-utf8", HOSTILE_VALUE,
     replace_headers(GOOD_HEADERS, version=b"\xff\xfe"), K, "bad-header"),
    ("type-not-utf8", HOSTILE_VALUE,
     replace_headers(GOOD_HEADERS, type=b"\xff\xfe\xc0testapp"), K, "bad-header"),
    ("header-values-null", HOSTILE_VALUE,
     [*replace_headers(GOOD_HEADERS, type=None, version=None), ("traceparent", None)],
     K, "bad-header"),
    ("headers-repeated", HOSTILE_VALUE,
     [("version", b"\xc2\xb2"), ("type", "²".encode()), *GOOD_HEADERS,
      ("version", b"9" * 5000)], K, APPLIED),
    ("headers-too-many", HOSTILE_VALUE, [*GOOD_HEADERS, *[("x", b"")] * 40], K, "bad-header"),
    ("header-too-large", HOSTILE_VALUE, [*GOOD_HEADERS, ("baggage", b"k=" + b"v" * 9000)], K,
     "bad-header"),
    ("headers-missing", HOSTILE_VALUE, [], K, APPLIED),
    # -- the key must be the aggregate's id: else its order with its aggregate is lost --
    ("key-none", HOSTILE_VALUE, GOOD_HEADERS, None, "wrong-key"),
    ("key-of-another-aggregate", HOSTILE_VALUE, GOOD_HEADERS, b"someone-else", "wrong-key"),
    ("key-not-utf8", HOSTILE_VALUE, GOOD_HEADERS, b"\xff\xfe", "wrong-key"),
    # -- larger than any event may be (a producer of ours refuses it): not even parsed --
    ("too-large", HOSTILE_VALUE[:-1] + b',"pad":"' + b"x" * 600_000 + b'"}', GOOD_HEADERS, K,
     "too-large"),
    # -- bodies that cannot be parsed: dead letters, "malformed" ----------------------
    ("nested-arrays", b"[" * 1000, GOOD_HEADERS, b"k", "malformed"),
    ("nested-arrays-closed", b"[" * 1000 + b"]" * 1000, GOOD_HEADERS, b"k", "malformed"),
    ("nested-objects", b'{"a":' * 1000, GOOD_HEADERS, b"k", "malformed"),
    ("nested-objects-closed", b'{"a":' * 1000 + b"1" + b"}" * 1000, [], b"k", "malformed"),
    ("nested-inside-envelope", HOSTILE_VALUE[:-1] + b',"deep":' + b"[" * 1000 + b"]" * 1000
     + b"}", GOOD_HEADERS, b"k", "malformed"),
    ("number-5000-digits-in-data", with_digits(body(), ("data", "n"), 5000), GOOD_HEADERS,
     b"k", "malformed"),
    ("number-5000-digits-as-version", with_digits(body(), ("version",), 5000), [], b"k",
     "malformed"),
    ("tombstone", None, GOOD_HEADERS, b"k", "malformed"),
    ("tombstone-no-key-no-headers", None, [], None, "malformed"),
    ("tombstone-null-headers", None, [("type", None), ("version", None), ("traceparent", None)],
     b"k", "bad-header"),
    ("empty", b"", GOOD_HEADERS, b"k", "malformed"),
    ("binary-garbage", bytes(range(256)) * 4, GOOD_HEADERS, None, "malformed"),
    ("binary-garbage-no-headers", b"\x00\x00\x00{\xff\xfe\x80", [], b"k", "malformed"),
    # -- parsed, but not a valid event -------------------------------------------------
    ("body-version-huge", with_digits(body(), ("version",), 4000), GOOD_HEADERS, b"k",
     "unknown-event"),
    ("body-version-string", json.dumps(body(version="1")).encode(), [], b"k",
     "invalid-envelope"),
    ("body-version-float", json.dumps(body(version=1.5)).encode(), [], b"k",
     "invalid-envelope"),
    ("new-version-of-a-handled-type", json.dumps(body(version=2)).encode(),
     replace_headers(GOOD_HEADERS, version=b"2"), b"k", "unknown-event"),
    # -- a valid event a rule or the database refuses: the reason must still be sent ----
    # No position could record its aggregate: refused before its handler runs.
    ("lone-surrogate-rejected", surrogate_thing("reject"), GOOD_HEADERS, b"k",
     "invalid-payload"),
    ("lone-surrogate-unstorable", surrogate_thing(), GOOD_HEADERS, b"k", "invalid-payload"),
    ("number-too-big-for-the-table", with_digits(body(), ("data", "n"), 30), GOOD_HEADERS,
     K, "handler-failed"),
    # -- types this consumer handles in no version: ignored -----------------------------
    ("unhandled-type-new-version-by-headers", b"{not even json",
     [("type", UNHANDLED.type.encode()), ("version", str(NEW_VERSION).encode())], b"k",
     IGNORED),
    ("unhandled-type-new-version-by-body", unhandled_new_version(), [], b"k", IGNORED),
    ("unhandled-type-huge-version-by-body",
     with_digits(body(type=UNHANDLED.type, producer=UNHANDLED.producer), ("version",), 4000),
     [], b"k", IGNORED),
    # A type no contract declares is poison, not news: dead-lettered (issue #8).
    ("unregistered-type", json.dumps(body(type="testapp.NobodyKnowsThis")).encode(),
     [("type", b"testapp.NobodyKnowsThis"), ("version", b"1")], b"k", "unknown-event"),
    ("known-unhandled-type", b"{not even json",
     [("type", UNHANDLED.type.encode()), ("version", str(UNHANDLED.version).encode())],
     b"k", IGNORED),
]


@pytest.fixture
def runner(pool: asyncpg.Pool, migrated: ServiceSettings,
           dead_letters: DeadLetters) -> ConsumerRunner:
    # No prefix: the records here name their topics as the contracts do.
    return quick_runner(testapp.consumer, pool, migrated.db_schema, dead_letters)


async def tally(pool: asyncpg.Pool) -> list[str]:
    rows = await pool.fetch("SELECT thing_id FROM tally ORDER BY thing_id")
    return [r["thing_id"] for r in rows]


def record(value: bytes | None, headers: Headers, key: bytes | None, *, partition: int,
           offset: int) -> Rec:
    return Rec(value=value, headers=headers, key=key, partition=partition, offset=offset)


def good_record(thing_id: str, *, partition: int, offset: int) -> Rec:
    value, headers, key = good(thing_id)
    return record(value, headers, key, partition=partition, offset=offset)


@pytest.mark.parametrize(("value", "headers", "key", "outcome"),
                         [c[1:] for c in CASES], ids=[c[0] for c in CASES])
async def test_a_hostile_record_is_applied_ignored_or_dead_lettered_and_the_batch_goes_on(
    runner: ConsumerRunner, dead_letters: DeadLetters, pool: asyncpg.Pool,
    value: bytes | None, headers: Headers, key: bytes | None, outcome: str,
) -> None:
    batch = [
        good_record("before", partition=0, offset=10),
        record(value, headers, key, partition=1, offset=7),
        good_record("after", partition=2, offset=20),
    ]

    await process(runner, batch)

    applied = await tally(pool)
    if outcome == APPLIED:
        assert applied == ["after", "before", "hostile"]
        assert dead_letters.records == []
    elif outcome == IGNORED:
        assert applied == ["after", "before"]
        assert dead_letters.records == []
    else:
        assert applied == ["after", "before"]
        assert dead_letters.reasons() == {7: outcome}
        letter = dead_letters.records[0]
        h = dict(letter.headers)
        assert letter.key == (key or b"")
        if outcome == "too-large":  # the letter keeps what fits, and says so
            assert value is not None and letter.value == value[:runner.max_event_bytes]
            assert h["dlq.truncated_from"] == str(len(value)).encode()
        else:
            assert letter.value == (value or b"")
        assert h["dlq.error"] and h["dlq.consumer"] == b"tally"
        assert all(isinstance(v, bytes) for _, v in letter.headers)


async def test_a_batch_of_every_hostile_record_returns_and_applies_every_good_one(
    runner: ConsumerRunner, dead_letters: DeadLetters, pool: asyncpg.Pool,
) -> None:
    batch: list[Rec] = []
    expected_dead: dict[int, str] = {}
    expected_applied = []
    for i, (_, value, headers, key, outcome) in enumerate(CASES):
        if outcome == APPLIED:
            raw = json.loads(value or b"")
            raw["aggregate_id"] = raw["data"]["thing_id"] = f"hostile-{i}"
            raw["event_id"] = f"00000000-0000-4000-8000-{i:012d}"
            value, key = json.dumps(raw).encode(), f"hostile-{i}".encode()
            expected_applied.append(f"hostile-{i}")
        elif outcome != IGNORED:
            expected_dead[1000 + i] = outcome
        batch.append(good_record(f"good-{i}", partition=i % 3, offset=i))
        batch.append(record(value, headers, key, partition=i % 3, offset=1000 + i))

    await process(runner, batch)

    assert sorted(await tally(pool)) == sorted(
        [f"good-{i}" for i in range(len(CASES))] + expected_applied)
    assert dead_letters.reasons() == expected_dead


async def test_an_unexpected_decoding_failure_dead_letters_that_record_only(
    runner: ConsumerRunner, dead_letters: DeadLetters, pool: asyncpg.Pool,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real_decode = decode

    def buggy(value: bytes | None, headers: Any = None) -> Any:
        if value == b'{"trigger": "bug"}':
            raise RuntimeError("a decoder bug")
        return real_decode(value, headers)

    monkeypatch.setattr(classification, "decode", buggy)
    batch = [good_record("before", partition=0, offset=1),
             record(b'{"trigger": "bug"}', [], b"k", partition=0, offset=2),
             good_record("after", partition=0, offset=3)]

    await process(runner, batch)

    assert await tally(pool) == ["after", "before"]
    assert dead_letters.reasons() == {2: "undecodable"}
    error = dict(dead_letters.records[0].headers)["dlq.error"].decode()
    assert error == "RuntimeError('a decoder bug')"


async def test_an_event_that_came_on_a_topic_not_its_own_is_dead_lettered(
    runner: ConsumerRunner, dead_letters: DeadLetters, pool: asyncpg.Pool,
) -> None:
    """A valid event on a topic its producer does not own was written by someone else in
    its name (a misconfigured ACL, a forged record): dead-lettered, never applied."""
    value, headers, key = good("forged")
    forged = Rec(value=value, headers=headers, key=key, topic="testapp.cards", offset=3)
    await process(runner, [good_record("before", partition=0, offset=1), forged])
    assert await tally(pool) == ["before"]
    assert dead_letters.reasons() == {3: "wrong-topic"}
    error = dict(dead_letters.records[0].headers)["dlq.error"].decode()
    assert "published on testapp.things: it came on 'testapp.cards'" in error
