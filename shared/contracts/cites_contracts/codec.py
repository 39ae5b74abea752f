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
    "DecodeError",
    "EncodedRecord",
    "InvalidEnvelope",
    "InvalidPayload",
    "MalformedRecord",
    "UnknownEvent",
    "decode",
    "encode",
    "headers_dict",
]

Headers = Sequence[tuple[str, bytes]]


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
    """No contract is registered for this (type, version)."""

    reason = "unknown-event"


class InvalidPayload(DecodeError):
    """The envelope is fine but ``data`` breaks the event's contract."""

    reason = "invalid-payload"


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
        value=envelope.model_dump_json().encode(),
        headers=headers,
    )


def headers_dict(headers: Headers | Mapping[str, bytes | str] | None) -> dict[str, str]:
    """Kafka headers as a ``str → str`` dict (last value wins; undecodable bytes replaced)."""
    if not headers:
        return {}
    items = headers.items() if isinstance(headers, Mapping) else headers
    out: dict[str, str] = {}
    for name, raw in items:
        if isinstance(raw, bytes | bytearray):
            out[name] = raw.decode("utf-8", "replace")
        else:
            out[name] = str(raw)
    return out


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
    up front and the JSON is validated in one pass (no intermediate dict): the consumer's
    hot path. The body stays the authority: should headers and body disagree, or the
    body be invalid, the general path below decides and names the problem.
    """
    if value is None:
        raise MalformedRecord("record has no value (tombstone)")
    if headers:
        hinted = headers_dict(headers)
        version_hint = hinted.get("version", "")
        spec = (registry.get(hinted.get("type", ""), int(version_hint))
                if version_hint.isdigit() else None)
        if spec is not None:
            try:
                fast = envelope_model(spec.model).model_validate_json(value)
            except ValidationError:
                pass
            else:
                if fast.type == spec.type and fast.version == spec.version:
                    return _checked(fast, spec)
    try:
        raw: Any = json.loads(value)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MalformedRecord(f"value is not JSON: {exc}") from exc
    if not isinstance(raw, dict):
        raise MalformedRecord(f"value is a JSON {type(raw).__name__}, not an object")
    type_, version = raw.get("type"), raw.get("version")
    if not isinstance(type_, str) or not isinstance(version, int) or isinstance(version, bool):
        raise InvalidEnvelope("envelope needs a string 'type' and an integer 'version'")
    spec = registry.get(type_, version)
    if spec is None:
        known = registry.versions(type_)
        hint = f" (known versions: {known})" if known else ""
        raise UnknownEvent(f"no contract for {type_} v{version}{hint}")
    try:
        envelope = envelope_model(spec.model).model_validate(raw)
    except ValidationError as exc:
        data_errors = [e for e in exc.errors() if e["loc"] and e["loc"][0] == "data"]
        kind = InvalidPayload if len(data_errors) == len(exc.errors()) else InvalidEnvelope
        raise kind(f"{type_} v{version}: {_describe(exc)}") from exc
    return _checked(envelope, spec)


def _checked(envelope: Envelope[Event], spec: EventSpec) -> Envelope[Event]:
    """The metadata must agree with the contract, or routing and ordering would lie."""
    type_, version = spec.type, spec.version
    if envelope.producer != spec.producer:
        raise InvalidEnvelope(
            f"{type_} v{version}: producer {envelope.producer!r} is not {spec.producer!r}"
        )
    if envelope.aggregate_id != envelope.data.aggregate_id():
        raise InvalidEnvelope(
            f"{type_} v{version}: aggregate_id {envelope.aggregate_id!r} differs from "
            f"data.{spec.key_field} {envelope.data.aggregate_id()!r}"
        )
    return envelope
