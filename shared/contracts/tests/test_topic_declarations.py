"""Every topic says how Kafka must keep it, and why."""

from __future__ import annotations

import pytest

from cites_contracts import registry
from cites_contracts.envelope import FOREVER
from cites_contracts.topics import ALL_TOPICS, dead_letter_topics, declared_topics, main

STREAMS = ["labelling.candidatures", "labelling.labels", "partners.registry",
           "partners.alliances", "funding.envelopes", "funding.allocations"]


@pytest.mark.parametrize("name", STREAMS)
def test_aggregate_streams_are_kept_forever_not_compacted(name: str) -> None:
    # Compaction by key would keep only an aggregate's last event: replay needs them all.
    t = next(t for t in ALL_TOPICS if t.name == name)
    assert (t.cleanup_policy, t.retention_ms) == ("delete", FOREVER)
    assert t.configs()["retention.bytes"] == "-1"


def test_every_topic_has_a_reason_and_durable_production_figures() -> None:
    for t in declared_topics(["partners"]):
        assert t.why, t.name
        assert (t.replication_factor, t.min_insync_replicas) == (3, 2), t.name


def test_a_smaller_cluster_gets_as_many_replicas_as_it_has_brokers() -> None:
    labels = next(t for t in ALL_TOPICS if t.name == "labelling.labels")
    assert (labels.replicas(1), labels.configs(1)["min.insync.replicas"]) == (1, "1")
    assert (labels.replicas(5), labels.configs(5)["min.insync.replicas"]) == (3, "2")


def test_dead_letters_are_kept_long_and_what_is_set_aside_longer() -> None:
    dlq, skipped, parked = dead_letter_topics("partners")
    assert [t.name for t in (dlq, skipped, parked)] == [
        "partners.dlq", "partners.dlq.skipped", "partners.dlq.parked"]
    day = 24 * 3600 * 1000
    assert (dlq.retention_ms, skipped.retention_ms, parked.retention_ms) == (
        90 * day, 365 * day, 365 * day)


def test_every_catalogue_event_goes_to_a_declared_topic() -> None:
    declared = set(ALL_TOPICS)
    assert {spec.topic for spec in registry.catalogue()} <= declared


def test_the_list_command_prints_each_topic_with_its_configuration(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for t in ALL_TOPICS:
        assert f"{t.name}  partitions={t.partitions}" in out


def test_an_unreachable_broker_is_one_clear_line_and_exit_status_2(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["apply", "--bootstrap", "127.0.0.1:1"]) == 2
    assert "cannot provision the topics on 127.0.0.1:1" in capsys.readouterr().err
