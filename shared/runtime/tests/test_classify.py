"""``classify(record, intake)``: what a consumer does with a record — apply, skip or
dead-letter, and why — decided without a database or a broker.

One test per branch of the decision, in its order: headers, tombstones, size, the event's
type and version, decoding, the class handled, the topic, the aggregate id, the key.
(``test_poison`` drives the runner with the same kinds of records end to end.)
"""

from __future__ import annotations

import json
from typing import Any
from uuid import UUID, uuid4, uuid5

import pytest
from runtime_kit import Headers, Rec
from runtime_testapp import CARDS, THINGS, CardIssued, ThingHappened

from cites_contracts import Envelope, Event, decode, encode
from cites_contracts.events import (
    PartnerUpdated,
    PartnerUpdatedV1,
    PartnerUpdatedV2,
    TerritoryLabelled,
    TerritoryLabelledV1,
)
from cites_contracts.examples import example_envelope
from cites_contracts.topics import ROLL_KEY
from cites_runtime.consumer import (
    Apply,
    BatchContext,
    Dead,
    EventConsumer,
    HandlerContext,
    Intake,
    Skip,
    Tombstone,
    TombstoneContext,
    classify,
)
from cites_runtime.consumer import records as classification

things = EventConsumer("classify-things")
"""Handles ThingHappened, and the tombstones of the compacted CARDS (not CardIssued)."""


@things.handles(ThingHappened)
async def thing_happened(event: ThingHappened, ctx: HandlerContext) -> None: ...


@things.handles_tombstones(CARDS)
async def card_erased(key: str, ctx: TombstoneContext) -> None: ...


cards = EventConsumer("classify-cards")
"""Reads the compacted CARDS for CardIssued, with no tombstone handler."""


@cards.handles(CardIssued)
async def card_issued(event: CardIssued, ctx: HandlerContext) -> None: ...


current_partners = EventConsumer("classify-partners-current")
retired_partners = EventConsumer("classify-partners-v1")
"""Consumers of PartnerUpdated's current version, and of version 1, retired (it carried
e-mail addresses, so nothing upcasts it): its records stay on the kept topic."""


@current_partners.handles_many(PartnerUpdated)
async def partners_updated(events: list[Envelope[PartnerUpdated]], ctx: BatchContext
                           ) -> None: ...


@retired_partners.handles_many(PartnerUpdatedV1)
async def partners_updated_v1(events: list[Envelope[PartnerUpdatedV1]], ctx: BatchContext
                              ) -> None: ...

MAX = 64 * 1024


def intake(consumer: EventConsumer = things, *, prefix: str = "", max_bytes: int = MAX
           ) -> Intake:
    return consumer.intake(topic_prefix=prefix, max_event_bytes=max_bytes)


def thing(thing_id: str = "t1", **record: Any) -> Rec:
    """A good ThingHappened record, its record's fields changed by ``record``."""
    enc = encode(Envelope.wrap(ThingHappened(thing_id=thing_id, n=1), sequence=1))
    return Rec(**{"value": enc.value, "headers": list(enc.headers), "key": enc.key,
                  **record})


def body(**changes: Any) -> dict[str, Any]:
    """The JSON object of a good ThingHappened record, top-level fields changed."""
    raw: dict[str, Any] = json.loads(thing().value or b"")
    raw.update(changes)
    return raw


def example(event: type[Event]) -> Rec:
    """The contracts' example of ``event``, as a record."""
    spec = event.spec
    enc = encode(decode(json.dumps(example_envelope(spec), default=str)))
    return Rec(value=enc.value, headers=list(enc.headers), key=enc.key, topic=enc.topic)


def tombstone(key: bytes | None = b"card-1", headers: Headers | None = None, **record: Any
              ) -> Rec:
    return Rec(**{"value": None, "headers": headers or [], "key": key, "topic": CARDS.name,
                  **record})


def dead(outcome: Apply | Skip | Dead) -> Dead:
    assert isinstance(outcome, Dead), outcome
    return outcome


# -- headers ------------------------------------------------------------------------------

@pytest.mark.parametrize(("headers", "says"), [
    ([("type", None)], "header 'type' has no value"),
    ([("type", b"\xff\xfe")], "header 'type' is not UTF-8 text"),
    ([("h", b"x")] * 33, "33 headers: more than the 32"),
    ([("baggage", b"x" * 8193)], "header 'baggage' is 8193 bytes"),
])
def test_headers_that_break_the_wire_rules_are_dead_whatever_the_value(
        headers: Headers, says: str) -> None:
    for rec in (thing(headers=headers), tombstone(headers=headers)):
        outcome = dead(classify(rec, intake()))
        assert outcome.reason == "bad-header"
        assert outcome.error.startswith(says)


# -- tombstones ---------------------------------------------------------------------------

def test_a_tombstone_of_a_topic_with_a_handler_is_applied_with_what_its_headers_say() -> None:
    event_id, correlation = uuid4(), uuid4()
    rec = tombstone(b"card-1", [("event_id", str(event_id).encode()),
                                ("correlation_id", str(correlation).encode()),
                                ("traceparent", b"00-abc-def-01")], partition=2, offset=7)
    outcome = classify(rec, intake())
    assert outcome == Apply(rec, Tombstone(CARDS.name, 2, 7, "card-1", event_id, correlation,
                                           "00-abc-def-01"))
    assert outcome.id == event_id  # the relay's id: the same tombstone sent twice is one


def test_a_tombstone_without_our_event_id_is_known_by_its_place() -> None:
    bare = classify(tombstone(offset=7), intake())
    foreign = classify(tombstone(headers=[("event_id", b"not-a-uuid")], offset=7), intake())
    elsewhere = classify(tombstone(offset=8), intake())
    assert isinstance(bare, Apply) and isinstance(foreign, Apply)
    assert isinstance(elsewhere, Apply)
    assert bare.id == foreign.id == uuid5(UUID("5b1f0c9e-2a52-4b8e-9d3e-7c1a4f0b6d21"),
                                          f"{CARDS.name}\0{0}\0{7}")
    assert elsewhere.id != bare.id
    assert isinstance(foreign.subject, Tombstone) and foreign.subject.event_id is None


def test_a_tombstone_correlation_header_that_is_no_uuid_is_not_taken() -> None:
    outcome = classify(tombstone(headers=[("correlation_id", b"abc")]), intake())
    assert isinstance(outcome, Apply) and isinstance(outcome.subject, Tombstone)
    assert outcome.subject.correlation_id is None


def test_a_tombstone_of_a_compacted_topic_without_a_handler_is_skipped() -> None:
    assert classify(tombstone(), intake(cards)) == Skip("no-tombstone-handler")


def test_a_tombstone_without_a_key_is_skipped() -> None:
    assert classify(tombstone(key=None), intake()) == Skip("no-key")


def test_a_roll_nudge_erases_no_one() -> None:
    assert classify(tombstone(key=ROLL_KEY), intake()) == Skip("roll-nudge")


@pytest.mark.parametrize("key", [b"\xff\xfe", b"card\x00-1", "\ud800".encode(
    "utf-8", "surrogatepass")])
def test_a_tombstone_whose_key_is_no_storable_text_is_dead(key: bytes) -> None:
    outcome = dead(classify(tombstone(key=key), intake()))
    assert outcome.reason == "wrong-key"
    assert "is no text a handler could be given" in outcome.error


def test_a_null_value_on_a_topic_that_is_not_compacted_is_a_broken_record() -> None:
    outcome = dead(classify(Rec(value=None, key=b"t1"), intake()))
    assert (outcome.reason, outcome.error) == ("malformed", "record has no value (tombstone)")


# -- size ---------------------------------------------------------------------------------

def test_a_record_larger_than_an_event_may_be_is_dead_unread() -> None:
    rec = thing()
    size = len(rec.value or b"") + len(rec.key or b"")
    assert isinstance(classify(rec, intake(max_bytes=size)), Apply)
    outcome = dead(classify(rec, intake(max_bytes=size - 1)))
    assert outcome == Dead("too-large", f"{size} bytes: more than the {size - 1} an event "
                                        "may have")


# -- the event's type and version ----------------------------------------------------------

def test_an_event_type_handled_in_no_version_is_skipped_on_its_headers_unparsed() -> None:
    rec = Rec(value=b"{not even json", headers=[("type", CardIssued.spec.type.encode()),
                                                ("version", b"99")])
    assert classify(rec, intake()) == Skip("not-handled")


def test_an_unknown_version_of_a_type_handled_in_none_is_skipped_on_its_body() -> None:
    raw = body(type=CardIssued.spec.type, version=99, producer=CardIssued.spec.producer)
    assert classify(Rec(value=json.dumps(raw).encode()), intake()) == Skip("not-handled")


def test_malformed_type_or_version_headers_say_nothing_the_body_decides() -> None:
    malformed: list[Headers] = [[("type", CardIssued.spec.type.encode()), ("version", b"x")],
                                [("version", b"1")]]
    for headers in malformed:
        assert isinstance(classify(thing(headers=headers), intake()), Apply), headers


def test_an_unknown_version_of_a_handled_type_is_dead() -> None:
    rec = Rec(value=json.dumps(body(version=2)).encode(),
              headers=[("type", ThingHappened.spec.type.encode()), ("version", b"2")])
    outcome = dead(classify(rec, intake()))
    assert outcome.reason == "unknown-event"
    assert "no contract for testapp.ThingHappened v2" in outcome.error


def test_a_type_no_contract_declares_is_dead() -> None:
    cases: list[Headers] = [[], [("type", b"nobody.Declared"), ("version", b"1")]]
    for headers in cases:
        rec = Rec(value=json.dumps(body(type="nobody.Declared")).encode(), headers=headers)
        assert dead(classify(rec, intake())).reason == "unknown-event", headers


def test_a_retired_version_of_a_handled_type_is_applied_by_who_handles_that_version() -> None:
    """A retired version still decodes (its records stay on kept topics): it is applied
    where its class is handled, and skipped by a consumer of the version replacing it."""
    assert PartnerUpdatedV1.spec.retired
    old = example(PartnerUpdatedV1)
    assert isinstance(classify(old, intake(retired_partners)), Apply)
    assert classify(old, intake(current_partners)) == Skip("other-class")
    assert isinstance(classify(example(PartnerUpdated), intake(current_partners)), Apply)


def test_a_retired_version_the_contracts_upcast_is_applied_as_the_handled_version() -> None:
    """A record of a retired version with an upcaster reaches a consumer of the newer
    version as that version: same metadata, the newer payload."""
    rec = example(PartnerUpdatedV2)
    applied = classify(rec, intake(current_partners))
    assert isinstance(applied, Apply) and isinstance(applied.subject, Envelope)
    env, original = applied.subject, decode(rec.value, rec.headers)
    assert type(env.data) is PartnerUpdated and env.version == PartnerUpdated.spec.version
    assert env.model_dump(exclude={"data", "version"}) == original.model_dump(
        exclude={"data", "version"})
    assert env.data.model_dump() == original.data.model_dump()
    assert applied.id == original.event_id


def test_a_consumer_of_the_retired_version_gets_it_as_it_was_written() -> None:
    labelled_v1 = EventConsumer("classify-labelled-v1")

    @labelled_v1.handles(TerritoryLabelledV1)
    async def apply(event: TerritoryLabelledV1, ctx: HandlerContext) -> None: ...

    applied = classify(example(TerritoryLabelledV1), intake(labelled_v1))
    assert isinstance(applied, Apply) and isinstance(applied.subject, Envelope)
    assert type(applied.subject.data) is TerritoryLabelledV1
    assert applied.subject.version == 1


def test_upcast_leaves_alone_what_the_consumer_handles_or_cannot_become() -> None:
    env = decode(example(TerritoryLabelled).value)
    assert classification.upcast(env, frozenset({TerritoryLabelled})) is None
    assert classification.upcast(env, frozenset({PartnerUpdated})) is None
    old = decode(example(TerritoryLabelledV1).value)
    up = classification.upcast(old, frozenset({TerritoryLabelled}))
    assert up is not None and up.data.perimeter.qpv_list.value == "2024"  # type: ignore[attr-defined]


# -- decoding -----------------------------------------------------------------------------

@pytest.mark.parametrize(("value", "reason"), [
    (b"{not json", "malformed"),
    (b"[]", "malformed"),
    (json.dumps(body(version="1")).encode(), "invalid-envelope"),
    (json.dumps(body(producer="someone-else")).encode(), "invalid-envelope"),
    (json.dumps(body(data={"thing_id": "t1", "n": "many"})).encode(), "invalid-payload"),
])
def test_what_does_not_decode_is_dead_with_the_codecs_reason(value: bytes, reason: str
                                                             ) -> None:
    assert dead(classify(Rec(value=value), intake())).reason == reason


def test_a_decoder_defect_is_dead_and_said_to_be_ours(monkeypatch: pytest.MonkeyPatch) -> None:
    def buggy(value: bytes | None, headers: Any = None) -> Envelope[Event]:
        raise RuntimeError("a decoder bug")

    monkeypatch.setattr(classification, "decode", buggy)
    assert classify(thing(), intake()) == Dead("undecodable", "RuntimeError('a decoder bug')",
                                               defect=True)


# -- the class, the topic, the aggregate, the key ------------------------------------------

def test_an_event_of_a_class_the_consumer_does_not_handle_is_skipped() -> None:
    enc = encode(Envelope.wrap(CardIssued(card_id="c1", email="anne@example.org"),
                               sequence=1))
    rec = Rec(value=enc.value, key=enc.key, topic=CARDS.name)  # no headers: decoded
    assert classify(rec, intake()) == Skip("other-class")
    assert isinstance(classify(rec, intake(cards)), Apply)


def test_an_event_that_came_on_a_topic_not_its_own_is_dead() -> None:
    outcome = dead(classify(thing(topic=CARDS.name), intake()))
    assert outcome.reason == "wrong-topic"
    assert outcome.error == ("testapp.ThingHappened is testapp's, published on "
                             "testapp.things: it came on 'testapp.cards'")


def test_topics_are_read_with_the_deployments_prefix() -> None:
    assert isinstance(classify(thing(topic="t42." + THINGS.name), intake(prefix="t42.")),
                      Apply)
    assert dead(classify(thing(), intake(prefix="t42."))).reason == "wrong-topic"
    assert classify(tombstone(topic="t42." + CARDS.name), intake(prefix="t42.")) == Apply(
        tombstone(topic="t42." + CARDS.name),
        Tombstone("t42." + CARDS.name, 0, 0, "card-1"))


def test_an_aggregate_id_postgresql_cannot_store_is_dead() -> None:
    raw = body(aggregate_id="\ud800")
    raw["data"]["thing_id"] = "\ud800"  # a lone surrogate: valid JSON
    outcome = dead(classify(Rec(value=json.dumps(raw).encode()), intake()))
    assert outcome.reason == "invalid-payload"
    assert "holds text PostgreSQL cannot store" in outcome.error


@pytest.mark.parametrize("key", [b"t2", None, b""])
def test_an_event_under_another_key_than_its_aggregate_id_is_dead(key: bytes | None) -> None:
    outcome = dead(classify(thing(key=key), intake()))
    assert outcome.reason == "wrong-key"
    assert "is not the aggregate id 't1' of testapp.ThingHappened" in outcome.error


def test_a_good_event_is_applied_with_its_envelope() -> None:
    rec = thing("t9")
    outcome = classify(rec, intake())
    assert isinstance(outcome, Apply) and outcome.record is rec
    assert not isinstance(outcome.subject, Tombstone)
    assert outcome.subject.data == ThingHappened(thing_id="t9", n=1)
    assert outcome.id == outcome.subject.event_id == UUID(json.loads(rec.value or b"")["event_id"])
