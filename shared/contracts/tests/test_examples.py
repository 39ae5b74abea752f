"""The AsyncAPI examples: one per catalogue event, valid, exactly what goes on the wire,
in envelopes that decode, and the same on every call."""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime
from typing import Any

import pytest

from cites_contracts import EventSpec, decode, encode, registry
from cites_contracts.envelope import envelope_model
from cites_contracts.examples import EXAMPLES, example, example_envelope

SPECS = registry.catalogue()
ids = [f"{s.type}.v{s.version}" for s in SPECS]


def test_every_catalogue_event_has_an_example_and_nothing_else_has() -> None:
    catalogue = {(s.type, s.version) for s in SPECS}
    assert len(catalogue) == len(SPECS)
    assert sorted(catalogue - set(EXAMPLES)) == []  # events without an example
    assert sorted(set(EXAMPLES) - catalogue) == []  # examples of no (public) event
    assert len(EXAMPLES) == len(SPECS)


def test_an_event_without_example_is_named_in_the_error() -> None:
    unknown = dataclasses.replace(SPECS[0], version=SPECS[0].version + 1000)
    with pytest.raises(KeyError, match=rf"{unknown.type} v{unknown.version}"):
        example(unknown)
    with pytest.raises(KeyError):
        example_envelope(unknown)


@pytest.mark.parametrize("spec", SPECS, ids=ids)
def test_the_example_validates_and_is_exactly_what_goes_on_the_wire(spec: EventSpec) -> None:
    payload = example(spec)
    assert json.loads(json.dumps(payload)) == payload  # plain JSON types only
    event = spec.model.model_validate(payload)
    assert event.model_dump(mode="json") == payload
    assert spec.model.model_validate_json(json.dumps(payload)) == event


@pytest.mark.parametrize("spec", SPECS, ids=ids)
def test_the_example_envelope_validates_and_decodes(spec: EventSpec) -> None:
    raw = example_envelope(spec)
    assert json.loads(json.dumps(raw)) == raw
    envelope = envelope_model(spec.model).model_validate(raw)
    assert json.loads(encode(envelope).value) == raw  # what goes on the wire
    assert (envelope.type, envelope.version, envelope.producer) == (
        spec.type, spec.version, spec.producer)
    assert envelope.aggregate_id == raw["data"][spec.key_field] == envelope.data.aggregate_id()
    assert envelope.data.model_dump(mode="json") == example(spec)

    decoded = decode(json.dumps(raw).encode())  # the consumers' path, with its checks
    assert decoded == envelope
    assert type(decoded.data) is spec.model


@pytest.mark.parametrize("spec", SPECS, ids=ids)
def test_examples_are_deterministic_and_copies(spec: EventSpec) -> None:
    first, again = example(spec), example(spec)
    assert first == again == EXAMPLES[(spec.type, spec.version)]
    assert example_envelope(spec) == example_envelope(spec)

    _scribble(first)
    assert example(spec) == again
    assert EXAMPLES[(spec.type, spec.version)] == again

    envelope = example_envelope(spec)
    envelope["sequence"] = 0
    _scribble(envelope["data"])
    assert example_envelope(spec) != envelope
    assert example(spec) == again


def _scribble(value: Any) -> None:
    """Change every dict and list inside ``value`` in place."""
    if isinstance(value, dict):
        for item in value.values():
            _scribble(item)
        value["scribbled"] = True
    elif isinstance(value, list):
        for item in value:
            _scribble(item)
        value.append("scribbled")


def test_the_envelopes_tell_a_consistent_story() -> None:
    envelopes = {s.type: example_envelope(s) for s in SPECS}
    by_id = {e["event_id"]: e for e in envelopes.values()}
    assert len(by_id) == len(envelopes)  # event ids are distinct
    for envelope in envelopes.values():
        cause_id = envelope["causation_id"]
        if cause_id is None:
            assert envelope["correlation_id"] == envelope["event_id"]
            continue
        cause = by_id[cause_id]  # a cause is itself one of the examples
        assert envelope["correlation_id"] == cause["correlation_id"]
        assert _at(cause) <= _at(envelope)
    for name in ("notifications.NotificationSent", "notifications.NotificationFailed"):
        delivery = envelopes[name]
        cause = by_id[delivery["data"]["cause_event_id"]]
        assert delivery["causation_id"] == cause["event_id"]
        assert delivery["data"]["cause_type"] == cause["type"]


def _at(envelope: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(envelope["occurred_at"])


def test_the_event_builder_is_the_example_with_what_the_test_is_about() -> None:
    from pydantic import ValidationError

    from cites_contracts.events.labelling import LabelSuspended
    from cites_contracts.testing import event

    built = event(LabelSuspended, cite_id="cite-042")
    assert built.cite_id == "cite-042"
    assert built.motive == LabelSuspended.model_validate(example(LabelSuspended.spec)).motive
    with pytest.raises(ValidationError):
        event(LabelSuspended, cite_id="not a cité id")


def test_a_built_label_has_a_perimeter_of_its_departement_led_by_its_college() -> None:
    from cites_contracts.testing import territory_labelled

    label = territory_labelled("cite-007", departement="69", lead_uai="0691234A")
    assert [q.code for q in label.perimeter.qpvs] == ["QN06901M"]
    assert [c.insee_code for c in label.perimeter.communes] == ["69010"]
    assert label.perimeter.schools[0].uai == label.lead_college_uai == "0691234A"
    assert territory_labelled().candidature_id != territory_labelled().candidature_id
