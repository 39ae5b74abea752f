"""The catalogue as a whole: the floor of events, documentation, topics, keys, data rules."""

from __future__ import annotations

import subprocess
import sys
import typing
from datetime import date, datetime
from typing import Annotated, Any, get_args, get_origin
from uuid import UUID

import pytest
from pydantic import BaseModel

from cites_contracts import ALL_TOPICS, EventSpec, dlq_topic, registry
from cites_contracts.events import ContactErased
from cites_contracts.schemas import event_schema
from cites_contracts.types import BudgetProgramme, ValueType

FLOOR = {
    "labelling": [
        "CandidatureSubmitted",
        "CandidatureWithdrawn",
        "CandidatureRejected",
        "TerritoryLabelled",
        "LabelRenewed",
        "PerimeterExtended",
        "LabelSuspended",
        "LabelWithdrawn",
        "LabelExpired",
    ],
    "partners": [
        "PartnerRegistered",
        "PartnerUpdated",
        "AllianceOpened",
        "PartnerJoinedAlliance",
        "PartnerLeftAlliance",
        "ChefDeFileDesignated",
        "AllianceClosed",
        "ContactErased",
    ],
    "funding": [
        "EnvelopeOpened",
        "FundsAllocated",
        "AllocationRefused",
        "FondsDeLaCiteGranted",
        "FundsCommitted",
        "PaymentMade",
        "FundsFrozen",
    ],
    "notifications": ["NotificationSent", "NotificationFailed"],
}

SPECS = registry.catalogue()
ids = [f"{s.type}.v{s.version}" for s in SPECS]

# Fields allowed to carry an e-mail address (personal data), each justified in its docstring.
PERSONAL_DATA = {
    # Where an address may be: the cards on the compacted, per-person topics…
    ("labelling.TroikaContactPublished", 1): ["data.email"],
    ("partners.ContactCardPublished", 1): ["data.email"],
    # …and the retired versions that carried them on kept topics (no longer produced).
    ("labelling.CandidatureSubmitted", 1): ["data.troika[].email"],
    ("partners.PartnerRegistered", 1): ["data.contacts[].email"],
    ("partners.PartnerUpdated", 1): ["data.contacts[].email"],
}


def test_the_registry_holds_at_least_the_agreed_events() -> None:
    registered = {(s.type, s.version) for s in SPECS}
    missing = [
        f"{producer}.{name}"
        for producer, names in FLOOR.items()
        for name in names
        if (f"{producer}.{name}", 1) not in registered
    ]
    assert missing == []


def test_importing_the_package_fills_the_registry() -> None:
    code = "import cites_contracts as c; print(len(c.registry.catalogue()))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert int(out.stdout) == len(registry.catalogue()) >= sum(len(v) for v in FLOOR.values())


@pytest.mark.parametrize("spec", SPECS, ids=ids)
def test_every_event_documents_producer_topic_key_and_when(spec: EventSpec) -> None:
    doc = spec.model.__doc__ or ""
    assert doc.strip()
    assert spec.emitted_when.strip()
    assert f"Producer: {spec.producer}." in doc
    assert f"Topic: ``{spec.topic.name}``." in doc
    assert f"Key: ``{spec.key_field}``." in doc


@pytest.mark.parametrize("spec", SPECS, ids=ids)
def test_every_event_type_is_its_producer_and_class_name(spec: EventSpec) -> None:
    assert spec.type.startswith(f"{spec.topic.producer}.")
    # A retired version's class is named after its version (PartnerUpdatedV1).
    name = spec.model.__name__.removesuffix(f"V{spec.version}") if spec.retired \
        else spec.model.__name__
    assert spec.type == f"{spec.producer}.{name}"
    assert spec.topic.name.startswith(f"{spec.producer}.")


@pytest.mark.parametrize("spec", SPECS, ids=ids)
def test_every_event_goes_to_a_declared_topic_under_its_key(spec: EventSpec) -> None:
    assert spec.topic in ALL_TOPICS
    assert spec.key_field == spec.topic.key
    # Keys are identifiers: UUIDs, the stable cité id ("cite-001") for cité streams, or the
    # budget programme (P147, P230) for the streams of its credits.
    field = spec.model.model_fields[spec.key_field]
    if spec.key_field == "cite_id":
        assert any(getattr(m, "name", None) == "CiteId" for m in field.metadata)
    elif spec.key_field == "programme":
        assert field.annotation is BudgetProgramme
    else:
        assert field.annotation is UUID


def test_every_topic_carries_events() -> None:
    assert {t.name for t in ALL_TOPICS} == {s.topic.name for s in SPECS}


def test_dead_letter_topics_are_named_after_their_consumer() -> None:
    assert dlq_topic("notifications") == "notifications.dlq"
    assert dlq_topic("funding.labels-consumer") == "funding.labels-consumer.dlq"
    with pytest.raises(ValueError, match="lower-case"):
        dlq_topic("")


# --- Data rules, by walking every model's type hints --------------------------------------


def leaves(
    model: type[BaseModel], path: str = "data"
) -> typing.Iterator[tuple[str, Any, tuple[Any, ...]]]:
    """(path, base type, Annotated metadata) of every scalar field, nested models included."""
    hints = typing.get_type_hints(model, include_extras=True)
    for name in model.model_fields:
        yield from _leaves(hints[name], f"{path}.{name}", ())


def _leaves(
    tp: Any, path: str, metadata: tuple[Any, ...]
) -> typing.Iterator[tuple[str, Any, tuple[Any, ...]]]:
    if get_origin(tp) is Annotated:
        base, *more = get_args(tp)
        yield from _leaves(base, path, (*metadata, *more))
    elif get_origin(tp) in (typing.Union, __import__("types").UnionType):
        for arg in get_args(tp):
            if arg is not type(None):
                yield from _leaves(arg, path, metadata)
    elif get_origin(tp) in (tuple, list):
        yield from _leaves(get_args(tp)[0], f"{path}[]", ())
    elif isinstance(tp, type) and issubclass(tp, BaseModel):
        yield from leaves(tp, path)
    else:
        yield path, tp, metadata


def value_type(metadata: tuple[Any, ...]) -> str | None:
    return next((m.name for m in metadata if isinstance(m, ValueType)), None)


@pytest.mark.parametrize("spec", SPECS, ids=ids)
def test_every_timestamp_is_aware_utc_and_every_amount_is_cents(spec: EventSpec) -> None:
    for path, tp, metadata in leaves(spec.model):
        if tp is datetime:
            assert value_type(metadata) == "UtcDateTime", path
        assert tp is not float, f"{path}: money and counts are never floats"
        if path.rsplit(".", 1)[-1] in {"amount", "requested", "available", "envelope_remaining"}:
            assert value_type(metadata) == "Cents", path
        if path.endswith(("_on", ".start", ".end")):
            assert tp is date, path


def nested_models(model: type[BaseModel]) -> set[type[BaseModel]]:
    found = {model}
    for hint in typing.get_type_hints(model).values():
        for arg in (hint, *get_args(hint), *(a for x in get_args(hint) for a in get_args(x))):
            if isinstance(arg, type) and issubclass(arg, BaseModel) and arg not in found:
                found |= nested_models(arg)
    return found


@pytest.mark.parametrize("spec", SPECS, ids=ids)
def test_payloads_and_their_parts_are_frozen_and_ignore_unknown_fields(spec: EventSpec) -> None:
    for model in nested_models(spec.model):
        assert model.model_config.get("frozen") is True, model
        assert model.model_config.get("extra") == "ignore", model


@pytest.mark.parametrize("spec", SPECS, ids=ids)
def test_personal_data_appears_only_where_justified(spec: EventSpec) -> None:
    from cites_contracts.schemas import _email_paths

    key = (spec.type, spec.version)
    assert _email_paths(event_schema(spec)) == PERSONAL_DATA.get(key, [])
    for path, _, metadata in leaves(spec.model):
        assert not path.endswith(("first_name", "last_name", "phone")), path
        assert value_type(metadata) != "Email" or key in PERSONAL_DATA, path
    # An address is produced only where erasure reaches it: a compacted topic keyed per
    # person, whose tombstone removes it.
    if key in PERSONAL_DATA and not spec.retired:
        assert spec.topic.personal_data and spec.topic.cleanup_policy == "compact", key
        assert spec.key_field == "contact_id", key


def test_every_personal_data_topic_keeps_the_erasure_promise() -> None:
    """Compacted per person, with timings that close and clean a segment well within the
    promise (see ERASURE_PROMISE): roll ≤ 10 min after its first record, nudged every 5."""
    from cites_contracts.topics import ROLL_NUDGE_S

    topics = [t for t in ALL_TOPICS if t.personal_data]
    assert {t.name for t in topics} == {"labelling.contacts", "partners.contacts"}
    for topic in topics:
        configs = topic.configs()
        assert configs["cleanup.policy"] == "compact"
        roll_ms = min(int(configs["segment.ms"]), int(configs["max.compaction.lag.ms"]))
        worst_s = roll_ms / 1000 + ROLL_NUDGE_S + 15
        assert worst_s <= 30 * 60, f"{topic.name}: {worst_s} s leaves no margin in 1 hour"
        assert int(configs["delete.retention.ms"]) >= 24 * 3600 * 1000  # late consumers


def test_contact_erased_carries_ids_only() -> None:
    assert set(ContactErased.model_fields) == {"partner_id", "contact_id", "erased_at"}
