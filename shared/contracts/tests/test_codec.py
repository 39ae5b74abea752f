"""Every registered event survives encode → decode; each decode failure has its own error."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any
from uuid import UUID, uuid4

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cites_contracts import (
    DecodeError,
    Envelope,
    Event,
    EventSpec,
    InvalidEnvelope,
    InvalidPayload,
    LabelPeriod,
    MalformedRecord,
    UnknownEvent,
    decode,
    encode,
    headers_dict,
    registry,
)
from cites_contracts.events import (
    AllianceOpened,
    Perimeter,
    PerimeterCommune,
    PerimeterQpv,
    PerimeterSchool,
    TerritoryLabelled,
    Wave,
)
from cites_contracts.testing import register_type_strategies
from cites_contracts.types import ActorRole, EducationPriority, QpvList, SchoolKind

register_type_strategies()

SPECS = registry.catalogue()


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: f"{s.type}.v{s.version}")
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_every_event_round_trips_through_a_kafka_record(
    spec: EventSpec, data: st.DataObject
) -> None:
    payload = data.draw(st.from_type(spec.model), label="payload")
    correlation_id = data.draw(st.uuids(), label="correlation_id")
    causation_id = data.draw(st.none() | st.uuids(), label="causation_id")
    sequence = data.draw(st.integers(1, 10**9), label="sequence")
    envelope = Envelope.wrap(
        payload, sequence=sequence, correlation_id=correlation_id, causation_id=causation_id
    )

    record = encode(envelope, traceparent="00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
    decoded = decode(record.value)
    decoded_with_headers = decode(record.value, record.headers)  # the consumers' fast path

    assert decoded == envelope
    assert decoded_with_headers == envelope
    assert type(decoded.data) is spec.model
    assert record.topic == spec.topic.name
    assert record.key == payload.aggregate_id().encode()
    headers = headers_dict(record.headers)
    assert headers["type"] == spec.type
    assert headers["version"] == str(spec.version)
    assert headers["event_id"] == str(envelope.event_id)
    assert headers["correlation_id"] == str(correlation_id)
    assert headers["traceparent"].startswith("00-")


# --- A concrete event, for the error cases ------------------------------------------------


def labelled() -> TerritoryLabelled:
    return TerritoryLabelled(
        cite_id="cite-042",
        candidature_id=UUID("5b2f0a64-1c1e-4f0b-8d7e-3c9a7d2e4f11"),
        name="Cité éducative de Mamoudzou",
        wave=Wave(id="2024-rolling", year=2024),
        departement="976",
        perimeter=Perimeter(
            communes=(PerimeterCommune(insee_code="97611", name="Mamoudzou"),),
            qpv_list=QpvList.LIST_2024,
            qpvs=(PerimeterQpv(code="QN97601B", name="Kawéni", population=18_000),),
            schools=(
                PerimeterSchool(
                    uai="9760123A",
                    kind=SchoolKind.COLLEGE,
                    name="Collège de Kawéni",
                    education_priority=EducationPriority.REP_PLUS,
                ),
            ),
        ),
        lead_college_uai="9760123A",
        label_period=LabelPeriod.of_years(date(2025, 1, 1)),
        decided_by=ActorRole.NATIONAL_COORDINATION,
        labelled_at=datetime(2024, 12, 2, 10, 0, tzinfo=UTC),
    )


def record_json(**changes: Any) -> dict[str, Any]:
    raw: dict[str, Any] = json.loads(encode(Envelope.wrap(labelled(), sequence=1)).value)
    raw.update(changes)
    return raw


def as_bytes(raw: object) -> bytes:
    return json.dumps(raw).encode()


def test_a_wrapped_event_carries_its_contract_metadata() -> None:
    envelope = Envelope.wrap(labelled(), sequence=1)
    assert envelope.type == "labelling.TerritoryLabelled"
    assert envelope.version == 2
    assert envelope.producer == "labelling"
    assert envelope.aggregate_id == "cite-042"
    assert envelope.correlation_id == envelope.event_id  # a new story starts with its first event
    assert envelope.topic.name == "labelling.labels"


def test_occurred_at_is_normalised_to_utc() -> None:
    paris = datetime(2025, 3, 1, 9, 30, tzinfo=timezone(timedelta(hours=1)))
    envelope = Envelope.wrap(labelled(), sequence=1, occurred_at=paris)
    assert envelope.occurred_at.utcoffset() == timedelta(0)
    assert b'"occurred_at":"2025-03-01T08:30:00Z"' in encode(envelope).value


def test_consumers_ignore_unknown_fields_in_envelope_and_payload() -> None:
    raw = record_json(added_later="x")
    raw["data"]["added_later"] = {"nested": True}
    assert decode(as_bytes(raw)).data == labelled()


def test_wrapping_an_unregistered_model_is_refused() -> None:
    class Unregistered(Event):
        """Not declared with @event."""

        cite_id: UUID

    with pytest.raises(TypeError, match="not a registered event"):
        Envelope.wrap(Unregistered(cite_id=uuid4()), sequence=1)


# --- Decode errors ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [None, b"not json", b"\xff\xfe", b"[1, 2]", b'"a string"', b"42"],
    ids=["tombstone", "not-json", "not-utf8", "array", "string", "number"],
)
def test_a_value_that_is_not_a_json_object_is_malformed(value: bytes | None) -> None:
    with pytest.raises(MalformedRecord) as caught:
        decode(value)
    assert caught.value.reason == "malformed"


def without(key: str) -> dict[str, Any]:
    raw = record_json()
    del raw[key]
    return raw


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        (without("type"), "string 'type'"),
        (record_json(version="1"), "integer 'version'"),
        (record_json(version=True), "integer 'version'"),
        (without("sequence"), "sequence"),
        (record_json(sequence=0), "sequence"),
        (record_json(correlation_id="not-a-uuid"), "correlation_id"),
        (record_json(occurred_at="2025-01-01T00:00:00"), "occurred_at"),
        (record_json(producer="funding"), "producer 'funding'"),
        (record_json(aggregate_id=str(uuid4())), "aggregate_id"),
    ],
    ids=[
        "no-type",
        "version-string",
        "version-bool",
        "no-sequence",
        "sequence-zero",
        "bad-correlation",
        "naive-occurred-at",
        "wrong-producer",
        "wrong-aggregate",
    ],
)
def test_a_broken_envelope_is_an_invalid_envelope(raw: dict[str, Any], words: str) -> None:
    with pytest.raises(InvalidEnvelope, match=words) as caught:
        decode(as_bytes(raw))
    assert caught.value.reason == "invalid-envelope"


def test_an_unknown_type_is_an_unknown_event() -> None:
    with pytest.raises(UnknownEvent, match=r"labelling\.TerritoryRenamed v2") as caught:
        decode(as_bytes(record_json(type="labelling.TerritoryRenamed")))
    assert caught.value.reason == "unknown-event"


def test_an_unknown_version_names_the_known_ones() -> None:
    with pytest.raises(UnknownEvent, match=r"known versions: \[1, 2\]"):
        decode(as_bytes(record_json(version=99)))


def test_a_payload_breaking_its_contract_is_an_invalid_payload() -> None:
    raw = record_json()
    raw["data"]["perimeter"]["communes"][0]["insee_code"] = "20004"
    raw["data"]["label_period"]["end"] = "2020-01-01"
    with pytest.raises(InvalidPayload) as caught:
        decode(as_bytes(raw))
    assert caught.value.reason == "invalid-payload"
    message = str(caught.value)
    assert "data.perimeter.communes.0.insee_code" in message
    assert "2A or 2B" in message
    assert "label period must end after it starts" in message


def test_an_envelope_of_another_event_shape_is_an_invalid_payload() -> None:
    other = Envelope.wrap(
        AllianceOpened(
            cite_id="cite-007",
            chef_de_file_partner_id=uuid4(),
            chef_de_file_uai="0751234A",
            opened_at=datetime(2025, 1, 1, tzinfo=UTC),
        ),
        sequence=1,
    )
    raw = json.loads(encode(other).value)
    raw["type"], raw["producer"] = "labelling.TerritoryLabelled", "labelling"
    with pytest.raises(InvalidPayload, match=r"data\.perimeter"):
        decode(as_bytes(raw))


def test_every_decode_error_is_a_decode_error_with_a_distinct_reason() -> None:
    kinds = [MalformedRecord, InvalidEnvelope, UnknownEvent, InvalidPayload]
    assert all(issubclass(kind, DecodeError) for kind in kinds)
    assert len({kind.reason for kind in kinds}) == len(kinds)


def test_headers_that_lie_about_the_type_do_not_override_the_body() -> None:
    envelope = Envelope.wrap(labelled(), sequence=3)
    record = encode(envelope)
    lying = [(k, b"labelling.CandidatureWithdrawn" if k == "type" else v)
             for k, v in record.headers]
    assert decode(record.value, lying) == envelope


def test_an_invalid_body_is_named_precisely_even_with_good_headers() -> None:
    record = encode(Envelope.wrap(labelled(), sequence=1))
    raw = json.loads(record.value)
    raw["data"]["name"] = ""
    with pytest.raises(InvalidPayload, match=r"data\.name"):
        decode(as_bytes(raw), record.headers)
    with pytest.raises(MalformedRecord):
        decode(b"{", record.headers)
