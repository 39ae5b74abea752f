"""``decode`` is total: whatever bytes and headers a record carries, it returns an envelope
or raises a :class:`DecodeError` subclass (never ``ValueError``, ``RecursionError``,
``UnicodeError``, ``TypeError``…), whose message can be put in a Kafka header."""

from __future__ import annotations

import functools
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cites_contracts import (
    DecodeError,
    EncodedRecord,
    Envelope,
    Event,
    InvalidEnvelope,
    MalformedRecord,
    UnknownEvent,
    decode,
    encode,
    registry,
)
from cites_contracts.testing import envelopes

SPECS = registry.catalogue()
SPEC = SPECS[0]
TYPES = sorted({s.type for s in SPECS})

Headers = list[tuple[str, Any]]

HINT: Headers = [("type", SPEC.type.encode()), ("version", str(SPEC.version).encode())]

HOSTILE_VERSIONS: list[Any] = [
    "²".encode(),  # str.isdigit() is true, int() raises
    "١".encode(),  # an Arabic-Indic one: int() says 1
    b"9" * 5000,  # more digits than int() converts
    b"9" * 20,
    b"-1",
    b" 1",
    b"1 ",
    b"",
    b"0",
    b"\xff\xfe",
    None,  # Kafka header values are nullable
]
HOSTILE_TYPES: list[Any] = [b"\xff\xfe\xc0", b"", None, "\ud800".encode("utf-8", "surrogatepass")]


def _id(value: bytes | None) -> str:
    shown = repr(value)
    return shown if value is None or len(shown) <= 24 else f"{len(value)}-bytes-{shown[:10]}"


def envelope_json(**changes: Any) -> dict[str, Any]:
    """A JSON object shaped like an envelope of ``SPEC`` (its data need not be valid)."""
    raw: dict[str, Any] = {
        "event_id": "6f1b3e2a-6a43-4c55-9d3e-5d8f1f7f3a11",
        "type": SPEC.type,
        "version": SPEC.version,
        "occurred_at": "2025-01-01T00:00:00Z",
        "producer": SPEC.producer,
        "aggregate_id": "a",
        "sequence": 1,
        "correlation_id": "6f1b3e2a-6a43-4c55-9d3e-5d8f1f7f3a11",
        "data": {"n": 1},
    }
    raw.update(changes)
    return raw


def with_number(raw: dict[str, Any], key: str, digits: int) -> bytes:
    raw[key] = "__NUMBER__"
    return json.dumps(raw).encode().replace(b'"__NUMBER__"', b"9" * digits)


HOSTILE_VALUES: list[tuple[str, Any, type[DecodeError]]] = [
    ("tombstone", None, MalformedRecord),
    ("empty", b"", MalformedRecord),
    ("whitespace", b" \n\t", MalformedRecord),
    ("binary-garbage", bytes(range(256)), MalformedRecord),
    ("utf32-looking-garbage", b"\x00\x00\x00{\xff\xfe\x80", MalformedRecord),
    ("nested-arrays", b"[" * 1000, MalformedRecord),
    ("nested-arrays-closed", b"[" * 1000 + b"]" * 1000, MalformedRecord),
    ("nested-objects", b'{"a":' * 1000, MalformedRecord),
    ("nested-objects-closed", b'{"a":' * 1000 + b"1" + b"}" * 1000, MalformedRecord),
    ("nested-in-data", json.dumps(envelope_json(data="__DEEP__")).encode().replace(
        b'"__DEEP__"', b"[" * 1000 + b"]" * 1000), MalformedRecord),
    ("number-5000-digits", b"9" * 5000, MalformedRecord),
    ("number-5000-digits-in-data", json.dumps(envelope_json(data="__N__")).encode().replace(
        b'"__N__"', b'{"n":' + b"9" * 5000 + b"}"), MalformedRecord),
    ("version-5000-digits", with_number(envelope_json(), "version", 5000), MalformedRecord),
    ("version-4000-digits", with_number(envelope_json(), "version", 4000), UnknownEvent),
    ("version-string", json.dumps(envelope_json(version="1")).encode(), InvalidEnvelope),
    ("version-float", json.dumps(envelope_json(version=1.0)).encode(), InvalidEnvelope),
    ("version-null", json.dumps(envelope_json(version=None)).encode(), InvalidEnvelope),
    ("version-negative", json.dumps(envelope_json(version=-1)).encode(), UnknownEvent),
    ("type-lone-surrogate", json.dumps(envelope_json(type="\ud800")).encode(), UnknownEvent),
    ("type-huge", json.dumps(envelope_json(type="x" * 1_000_000)).encode(), UnknownEvent),
    ("value-lone-surrogate-str", "\ud800", MalformedRecord),
    ("value-not-bytes", 42, MalformedRecord),
    ("value-list", [b"{}"], MalformedRecord),
]


@pytest.mark.parametrize("headers", [None, [], HINT, [("version", "²".encode())],
                                     [("type", HINT[0][1]), ("version", b"9" * 5000)],
                                     [("type", None), ("version", None)]],
                         ids=["none", "empty", "hint", "superscript", "5000-digits", "nulls"])
@pytest.mark.parametrize(("value", "kind"), [v[1:] for v in HOSTILE_VALUES],
                         ids=[v[0] for v in HOSTILE_VALUES])
def test_a_hostile_value_is_a_precise_decode_error(
    value: Any, kind: type[DecodeError], headers: Headers | None
) -> None:
    with pytest.raises(DecodeError) as caught:
        decode(value, headers)
    assert type(caught.value) is kind, repr(caught.value)
    message = str(caught.value)
    assert message and len(message) <= 2000  # it becomes a Kafka header, kept short
    message.encode()  # and is valid UTF-8 (no lone surrogate)


def _hinted(name: str, value: Any) -> tuple[Envelope[Any], EncodedRecord, list[Any]]:
    """The example's envelope, its record, and the record's headers with ``name``'s value
    replaced by ``value``."""
    envelope = Envelope.wrap(_example(), sequence=1)
    record = encode(envelope)
    return envelope, record, [(k, value if k == name else v) for k, v in record.headers]


@pytest.mark.parametrize("version", HOSTILE_VERSIONS, ids=_id)
def test_a_hostile_version_header_is_only_a_hint(version: Any) -> None:
    envelope, record, headers = _hinted("version", version)
    assert decode(record.value, headers) == envelope
    with pytest.raises(MalformedRecord):
        decode(b"[" * 1000, headers)


@pytest.mark.parametrize("type_", HOSTILE_TYPES, ids=_id)
def test_a_hostile_type_header_is_only_a_hint(type_: Any) -> None:
    envelope, record, headers = _hinted("type", type_)
    assert decode(record.value, headers) == envelope
    assert decode(record.value, [*headers, *headers]) == envelope  # repeated
    assert decode(record.value, dict(headers)) == envelope  # as a mapping


def test_a_value_given_as_any_bytes_like_decodes() -> None:
    envelope = Envelope.wrap(_example(), sequence=1)
    record = encode(envelope)
    for value in (bytearray(record.value), memoryview(record.value), record.value.decode()):
        assert decode(value, record.headers) == envelope  # type: ignore[arg-type]


def test_an_unknown_event_names_its_type_and_version() -> None:
    with pytest.raises(UnknownEvent) as caught:
        decode(json.dumps(envelope_json(version=SPEC.version + 100)).encode())
    assert (caught.value.event_type, caught.value.version) == (SPEC.type, SPEC.version + 100)
    with pytest.raises(UnknownEvent) as caught:
        decode(json.dumps(envelope_json(type="nobody.Knows")).encode())
    assert (caught.value.event_type, caught.value.version) == ("nobody.Knows", SPEC.version)
    assert caught.value.reason == "unknown-event"


# --- Properties ----------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                 max_size=4),
    max_leaves=12,
)
envelope_like = st.fixed_dictionaries(
    {
        "type": st.sampled_from(TYPES) | st.text(max_size=12),
        "version": (st.integers(-3, 4) | st.integers() | st.text(max_size=4) | st.none()
                    | st.floats() | st.booleans()),
    },
    optional={k: json_values for k in ("event_id", "producer", "aggregate_id", "sequence",
                                       "correlation_id", "occurred_at", "data")},
)
values = (
    st.none()
    | st.binary(max_size=64)
    | st.text(max_size=32).map(lambda s: s.encode("utf-8", "surrogatepass"))
    | json_values.map(lambda v: json.dumps(v).encode())
    | envelope_like.map(lambda v: json.dumps(v).encode())
    | st.sampled_from([b"[" * 1000, b'{"a":' * 1000, b"9" * 5000, b"-" + b"1" * 5000])
)
header_values = (
    st.none()
    | st.binary(max_size=8)
    | st.sampled_from([*HOSTILE_VERSIONS, *(t.encode() for t in TYPES), b"1", b"2"])
)
header_lists = st.lists(
    st.tuples(st.sampled_from(["type", "version", "event_id", "traceparent"])
              | st.text(max_size=6), header_values),
    max_size=6,
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(value=values, headers=st.none() | header_lists)
def test_decode_returns_or_raises_a_decode_error_whatever_the_record(
    value: bytes | None, headers: Headers | None
) -> None:
    try:
        decode(value, headers)
    except DecodeError as exc:
        str(exc).encode()  # fit for a Kafka header


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), headers=header_lists)
def test_whatever_the_headers_a_valid_record_decodes_to_its_envelope(
    data: st.DataObject, headers: Headers
) -> None:
    spec = data.draw(st.sampled_from(SPECS), label="spec")
    envelope = data.draw(envelopes(spec), label="envelope")
    record = encode(envelope)
    assert decode(record.value, headers) == envelope
    assert decode(record.value, [*record.headers, *headers]) == envelope


@functools.cache
def _example() -> Event:
    """One valid payload of ``SPEC`` (hypothesis builds it; it is the same every time)."""
    from hypothesis import find

    from cites_contracts.testing import payloads

    return find(payloads(SPEC.model), lambda _: True)
