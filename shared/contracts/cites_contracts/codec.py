"""Envelope ↔ Kafka record (key, value bytes, headers).

Headers repeat ``type``, ``version``, ``event_id``, ``correlation_id`` (and the W3C
``traceparent`` when known) so that a consumer can route or skip a record without
parsing its body. Decoding failures raise a precise :class:`DecodeError` subclass, which
consumers turn into a dead letter carrying the message.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from .envelope import Envelope, Event, EventSpec, envelope_model, registry

__all__ = [
    "MAX_HEADERS",
    "MAX_HEADER_BYTES",
    "BadHeaders",
    "DecodeError",
    "EncodedRecord",
    "InvalidEnvelope",
    "InvalidPayload",
    "MalformedRecord",
    "UnknownEvent",
    "decode",
    "encode",
    "header_problem",
    "headers_dict",
    "version_header",
]

Headers = Sequence[tuple[str, bytes | None]]  # Kafka header values are nullable


@dataclass(frozen=True, slots=True)
class EncodedRecord:
    topic: str
    key: bytes
    value: bytes
    headers: list[tuple[str, bytes]]


class DecodeError(ValueError):
    """A record that cannot be turned into a known, valid event."""

    reason: str = "undecodable"


class MalformedRecord(DecodeError):
    """The value is not a JSON object."""

    reason = "malformed"


class InvalidEnvelope(DecodeError):
    """The JSON object lacks or breaks an envelope field."""

    reason = "invalid-envelope"


class UnknownEvent(DecodeError):
    """No contract is registered for this (type, version).

    ``event_type`` and ``version`` say which, so that a consumer can tell a new version of
    an event it handles (a dead letter) from an event it does not handle at all (ignored).
    """

    reason = "unknown-event"

    def __init__(self, message: str, *, event_type: str | None = None,
                 version: int | None = None):
        super().__init__(message)
        self.event_type = event_type
        self.version = version


class InvalidPayload(DecodeError):
    """The envelope is fine but ``data`` breaks the event's contract."""

    reason = "invalid-payload"


class BadHeaders(DecodeError):
    """The record's headers break the wire rules (:func:`header_problem`)."""

    reason = "bad-header"


MAX_HEADERS = 32
"""Headers a record may carry: ours carry five; room for a producer's tracing and tags."""
MAX_HEADER_BYTES = 8192
"""Bytes a header's value may have: W3C ``baggage``, the largest header of ours or of
tracing, is at most 8,192."""


def header_problem(headers: Headers) -> str | None:
    """What breaks the wire rules in a record's headers, or None: at most
    :data:`MAX_HEADERS` headers, each with a value of UTF-8 text of at most
    :data:`MAX_HEADER_BYTES` bytes. (A header name is always text: the client library
    decodes it.) Our producers keep these rules; a record that breaks them was written by
    something else, and its headers cannot be trusted or carried along."""
    if len(headers) > MAX_HEADERS:
        return f"{len(headers)} headers: more than the {MAX_HEADERS} a record may carry"
    for name, raw in headers:  # the name quoted only for a problem: this runs per record
        if raw is None:
            return f"header {_quote(name)} has no value"
        if len(raw) > MAX_HEADER_BYTES:
            return (f"header {_quote(name)} is {len(raw)} bytes: more than the "
                    f"{MAX_HEADER_BYTES} a header may have")
        try:
            bytes(raw).decode("utf-8")
        except UnicodeDecodeError as exc:
            return (f"header {_quote(name)} is not UTF-8 text ({exc.reason} at byte "
                    f"{exc.start})")
    return None


def encode(envelope: Envelope[Event], *, traceparent: str | None = None) -> EncodedRecord:
    """Serialise an envelope as the record the relay publishes."""
    headers = [
        ("type", envelope.type.encode()),
        ("version", str(envelope.version).encode()),
        ("event_id", str(envelope.event_id).encode()),
        ("correlation_id", str(envelope.correlation_id).encode()),
    ]
    if traceparent:
        headers.append(("traceparent", traceparent.encode()))
    return EncodedRecord(
        topic=envelope.topic.name,
        key=envelope.aggregate_id.encode(),
        # ``imported`` only when true: a live event's bytes are what they always were.
        value=envelope.model_dump_json(exclude=None if envelope.imported else {"imported"}
                                       ).encode(),
        headers=headers,
    )


def headers_dict(headers: Headers | Mapping[str, bytes | str] | None) -> dict[str, str]:
    """Kafka headers as a ``str → str`` dict (last value wins; undecodable bytes replaced;
    a null value, which Kafka allows, is left out)."""
    if not headers:
        return {}
    items = headers.items() if isinstance(headers, Mapping) else headers
    out: dict[str, str] = {}
    for name, raw in items:
        if raw is None:
            continue
        if isinstance(raw, bytes | bytearray):
            out[name] = raw.decode("utf-8", "replace")
        else:
            out[name] = str(raw)
    return out


def version_header(raw: bytes | str | None) -> int | None:
    """The event version a ``version`` header names: 1 to 9 ASCII digits, else ``None``.

    Strict on purpose: ``str.isdigit`` accepts ``'²'`` (``int`` refuses it) and ``int``
    refuses more than 4,300 digits; a header is only a hint, so anything else is no hint.
    """
    if isinstance(raw, bytes | bytearray):
        ok = 0 < len(raw) <= 9 and raw.isdigit()  # bytes.isdigit(): ASCII digits only
    elif isinstance(raw, str):
        ok = 0 < len(raw) <= 9 and raw.isascii() and raw.isdigit()
    else:
        return None
    return int(raw) if ok else None


def _hint(headers: Headers | Mapping[str, bytes | str]) -> tuple[str, int] | None:
    """The (type, version) the headers name, if well-formed (last value wins); else None."""
    items = headers.items() if isinstance(headers, Mapping) else headers
    type_: bytes | str | None = None
    version: bytes | str | None = None
    for name, raw in items:
        if name == "type":
            type_ = raw
        elif name == "version":
            version = raw
    number = version_header(version)
    if number is None:
        return None
    if isinstance(type_, bytes | bytearray):
        try:
            return type_.decode("utf-8"), number
        except UnicodeDecodeError:
            return None
    return (type_, number) if isinstance(type_, str) else None


_SHOWN = 200  # characters of a record's own string quoted in an error message
_MESSAGE = 4000  # characters of an error message at most (as a dead letter keeps)


def _clip(text: str, limit: int = _MESSAGE) -> str:
    """``text`` fit for an error message, hence a Kafka header: bounded, valid UTF-8
    (a lone surrogate, which JSON can carry, is escaped)."""
    if len(text) > limit:
        text = f"{text[:limit]}… ({len(text)} characters)"
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _show(value: str | int) -> str:
    """A value read from the record, quoted in an error message."""
    if isinstance(value, int) and value.bit_length() > 3 * _SHOWN:
        return f"<an integer of {value.bit_length()} bits>"
    return _clip(str(value), _SHOWN)


def _quote(value: str) -> str:
    """A string read from the record, quoted in an error message."""
    return _clip(repr(value), _SHOWN)


def _describe(error: ValidationError) -> str:
    parts = []
    for err in error.errors(include_url=False):
        loc = ".".join(str(p) for p in err["loc"]) or "<root>"
        parts.append(f"{loc}: {err['msg']}")
    return "; ".join(parts)


def decode(value: bytes | str | None,
           headers: Headers | Mapping[str, bytes | str] | None = None) -> Envelope[Event]:
    """Parse and validate a record value into an envelope with its typed payload.

    With the record's headers, the ``type``/``version`` they carry select the contract
    up front and the JSON is validated in one pass (no intermediate dict), strictly first:
    the consumer's hot path. The body stays the authority: should headers and body
    disagree, or the body be invalid, the general path below decides and names the problem.

    Total: whatever the value and headers, this returns an envelope or raises a
    :class:`DecodeError` subclass, never another exception (a consumer dead-letters a
    ``DecodeError``; anything else would stop its partitions).
    """
    try:
        return _decode(value, headers)
    except DecodeError:
        raise
    except RecursionError as exc:  # nesting the parsers refuse before any other error
        raise MalformedRecord("value is nested too deeply to parse") from exc
    except Exception as exc:  # a defect here must still name the record, not escape
        raise DecodeError(f"cannot decode the record: {_clip(repr(exc))}") from exc


def _decode(value: object,
            headers: Headers | Mapping[str, bytes | str] | None) -> Envelope[Event]:
    if value is None:
        raise MalformedRecord("record has no value (tombstone)")
    if isinstance(value, memoryview):
        value = value.tobytes()
    if not isinstance(value, bytes | bytearray | str):
        raise MalformedRecord(f"value is a {type(value).__name__}, not bytes")
    if headers:
        try:
            hint = _hint(headers)
        except Exception:  # headers are only a hint: unreadable ones give none
            hint = None
        spec = registry.get(*hint) if hint is not None else None
        if spec is not None:
            fast = _validated_json(envelope_model(spec.model), value)
            if fast is not None and fast.type == spec.type and fast.version == spec.version:
                return _checked(fast, spec)
    try:
        raw: Any = json.loads(value)
    except RecursionError as exc:
        raise MalformedRecord("value is nested too deeply to parse") from exc
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError, over 4,300 digits
        raise MalformedRecord(f"value is not JSON: {_clip(str(exc))}") from exc
    if not isinstance(raw, dict):
        raise MalformedRecord(f"value is a JSON {type(raw).__name__}, not an object")
    type_, version = raw.get("type"), raw.get("version")
    if not isinstance(type_, str) or not isinstance(version, int) or isinstance(version, bool):
        raise InvalidEnvelope("envelope needs a string 'type' and an integer 'version'")
    spec = registry.get(type_, version)
    if spec is None:
        known = registry.versions(type_)
        hint_ = f" (known versions: {known})" if known else ""
        raise UnknownEvent(f"no contract for {_show(type_)} v{_show(version)}{hint_}",
                           event_type=type_, version=version)
    try:
        envelope = envelope_model(spec.model).model_validate(raw)
    except ValidationError as exc:
        data_errors = [e for e in exc.errors() if e["loc"] and e["loc"][0] == "data"]
        kind = InvalidPayload if len(data_errors) == len(exc.errors()) else InvalidEnvelope
        raise kind(_clip(f"{type_} v{version}: {_describe(exc)}")) from exc
    return _checked(envelope, spec)


def _validated_json(model: type[Envelope[Event]], value: bytes | bytearray | str
                    ) -> Envelope[Event] | None:
    """``value`` validated in one pass, or None (the general path then names the problem).

    Strictly first: our producers write canonical codes, which strict validation checks by
    their patterns in pydantic-core, calling no Python validator (cheaper: the benchmarks log,
    ``bench.decode_bench``). Strict accepts a subset of what lax accepts, with the same
    result (``test_decode_equivalence``), so a record it refuses is then validated lax.
    """
    for strict in (True, False):
        try:
            return model.model_validate_json(value, strict=strict)
        except Exception:  # ValidationError mostly
            continue
    return None


def _checked(envelope: Envelope[Event], spec: EventSpec) -> Envelope[Event]:
    """The metadata must agree with the contract, or routing and ordering would lie."""
    type_, version = spec.type, spec.version
    if envelope.producer != spec.producer:
        raise InvalidEnvelope(
            f"{type_} v{version}: producer {_quote(envelope.producer)} is not {spec.producer!r}"
        )
    if envelope.aggregate_id != envelope.data.aggregate_id():
        raise InvalidEnvelope(
            f"{type_} v{version}: aggregate_id {_quote(envelope.aggregate_id)} differs from "
            f"data.{spec.key_field} {_quote(envelope.data.aggregate_id())}"
        )
    return envelope
