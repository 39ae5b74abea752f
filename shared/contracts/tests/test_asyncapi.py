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
from cites_contracts.asyncapi import DOCUMENT, check, load_consumers, platform_document
from cites_contracts.topics import ALL_TOPICS

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
    assert sorted(messages) == sorted(f"{s.type}.v{s.version}" for s in registry.catalogue())
    for spec in registry.catalogue():
        m = messages[f"{spec.type}.v{spec.version}"]
        assert m["name"] == spec.type
        assert m["payload"]["properties"]["type"]["const"] == spec.type
        assert m["payload"]["properties"]["version"]["const"] == spec.version
        assert m["headers"]["properties"]["type"]["const"] == spec.type
        assert spec.key_field in m["bindings"]["kafka"]["key"]["description"]
        assert len(m["examples"]) == 1


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
