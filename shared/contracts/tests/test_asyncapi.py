"""The platform's AsyncAPI document: committed as generated, one message per event named
after its type, envelope + headers + key + example for each, topics as declared; and
every example valid against its message's schemas. (The official parser's verdict, 0
errors and 0 warnings, is asserted by tests/test_asyncapi_parser.py and make
contracts-check.)"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest
import yaml

from cites_contracts import registry
from cites_contracts.asyncapi import (
    DOCUMENT,
    check,
    load_consumers,
    platform_document,
    service_document,
)
from cites_contracts.topics import ALL_TOPICS, LABELLING_CONTACTS, PARTNERS_CONTACTS

REPO = Path(__file__).resolve().parents[3]
CONSUMERS = load_consumers(sorted(REPO.glob("services/*/consumes.json")))


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(DOCUMENT.read_text(encoding="utf-8"))
    return loaded


def test_the_committed_document_is_what_the_contracts_generate() -> None:
    assert check(DOCUMENT, CONSUMERS) == []


def test_an_edited_document_is_caught(tmp_path: Path) -> None:
    edited = tmp_path / "asyncapi.yaml"
    edited.write_text(DOCUMENT.read_text(encoding="utf-8").replace("cite_id", "site_id", 1))
    assert len(check(edited, CONSUMERS)) == 1


def test_one_message_per_event_named_after_its_type(document: dict[str, Any]) -> None:
    messages = document["components"]["messages"]
    assert sorted(messages) == sorted(
        [f"{s.type}.v{s.version}" for s in registry.catalogue()]
        + [f"{t.name}.tombstone" for t in (PARTNERS_CONTACTS, LABELLING_CONTACTS)])
    for spec in registry.catalogue():
        m = messages[f"{spec.type}.v{spec.version}"]
        assert m["name"] == spec.type
        assert m["payload"]["properties"]["type"]["const"] == spec.type
        assert m["payload"]["properties"]["version"]["const"] == spec.version
        assert m["headers"]["properties"]["type"]["const"] == spec.type
        assert spec.key_field in m["bindings"]["kafka"]["key"]["description"]
        assert len(m["examples"]) == 1
    for topic in (PARTNERS_CONTACTS, LABELLING_CONTACTS):
        example, = messages[f"{topic.name}.tombstone"]["examples"]
        assert example["payload"] is None and set(example["headers"]) == {
            "event_id", "correlation_id"}


def test_each_channel_is_its_topic_as_declared(document: dict[str, Any]) -> None:
    channels = {c["address"]: c for c in document["channels"].values()}
    assert set(channels) == {t.name for t in ALL_TOPICS}
    for t in ALL_TOPICS:
        binding = channels[t.name]["bindings"]["kafka"]
        assert (binding["partitions"], binding["replicas"]) == (t.partitions,
                                                                t.replication_factor)
        assert binding["topicConfiguration"]["retention.ms"] == t.retention_ms
        assert t.why in channels[t.name]["description"]


def test_producers_send_and_declared_consumers_receive(document: dict[str, Any]) -> None:
    ops = document["operations"]
    assert {(o["action"], o["channel"]["$ref"]) for o in ops.values()} >= {
        ("send", "#/channels/labelling_labels"), ("receive", "#/channels/labelling_labels")}
    received = ops["partners_receives_labelling_labels"]["messages"]
    assert {"#/channels/labelling_labels/messages/labelling.TerritoryLabelled.v1"} <= {
        m["$ref"] for m in received}


def test_a_compacted_topic_carries_its_tombstone_which_its_producer_sends(
    document: dict[str, Any],
) -> None:
    tombstone = document["components"]["messages"]["partners.contacts.tombstone"]
    assert tombstone["payload"] == {"type": "null"}
    assert "contact_id" in tombstone["bindings"]["kafka"]["key"]["description"]
    sent = document["operations"]["partners_sends_partners_contacts"]["messages"]
    assert {"$ref": "#/channels/partners_contacts/messages/partners.contacts.tombstone"
            } in sent
    assert "labelling.labels.tombstone" not in document["components"]["messages"]


def test_a_consumer_of_tombstones_alone_still_receives_their_topic() -> None:
    """A service that reads nothing of partners.contacts but its tombstones (it forgets
    the contacts it learnt elsewhere) lists the topic and receives the tombstone only."""
    doc = service_document("forgetful", title="t", version="1", produces=[], consumes=[],
                           tombstones=[PARTNERS_CONTACTS])
    assert [c["address"] for c in doc["channels"].values()] == ["partners.contacts"]
    received = doc["operations"]["forgetful_receives_partners_contacts"]
    assert received["action"] == "receive"
    assert received["messages"] == [
        {"$ref": "#/channels/partners_contacts/messages/partners.contacts.tombstone"}]
    assert "forgets a key on its tombstone" in received["summary"]


def test_a_declared_consumer_of_tombstones_receives_them_in_the_platform_document(
    tmp_path: Path,
) -> None:
    declared = tmp_path / "consumes.json"
    declared.write_text('{"service": "forgetful", "events": [], '
                        '"tombstones": ["labelling.contacts"]}', encoding="utf-8")
    ops = platform_document(load_consumers([declared]))["operations"]
    assert [m["$ref"] for m in ops["forgetful_receives_labelling_contacts"]["messages"]] == [
        "#/channels/labelling_contacts/messages/labelling.contacts.tombstone"]


def _validator(document: dict[str, Any], pointer: str) -> Any:
    return jsonschema_rs.validator_for({"$ref": pointer, "components": document["components"]})


@pytest.mark.parametrize("spec", registry.catalogue(), ids=lambda s: s.type)
def test_every_example_is_valid_for_its_message(document: dict[str, Any], spec: Any) -> None:
    key = f"{spec.type}.v{spec.version}"
    example = document["components"]["messages"][key]["examples"][0]
    payload = _validator(document, f"#/components/messages/{key}/payload")
    headers = _validator(document, f"#/components/messages/{key}/headers")
    payload.validate(example["payload"])
    headers.validate(example["headers"])
    wrong = copy.deepcopy(example["payload"])
    wrong["version"] = spec.version + 1  # the validator can say no
    assert not payload.is_valid(wrong)


def test_documents_are_deterministic() -> None:
    assert platform_document(CONSUMERS) == platform_document(CONSUMERS)
