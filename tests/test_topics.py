"""Topics as code, on the real broker: provisioning creates every declared topic as
declared, is idempotent, reports a live topic that drifted without touching it; and the
broker creates no topic by itself, so a producer's typo is an error."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import KafkaTimeoutError, UnknownTopicOrPartitionError

from cites_contracts.access import KafkaAccess
from cites_contracts.topics import ALL_TOPICS, apply, dead_letter_topics, declared_topics
from cites_runtime.testing import delete_topics
from cites_runtime.testing.infra import Infra

pytestmark = pytest.mark.integration


@pytest.fixture
async def prefix(infra: Infra) -> AsyncIterator[str]:
    tag = f"topics{uuid.uuid4().hex[:8]}."
    yield tag
    await delete_topics(infra.kafka, tag)


async def live(kafka: KafkaAccess, names: list[str]) -> dict[str, tuple[int, dict[str, str]]]:
    """name → (partitions, topic configs), read from the broker."""
    admin = AIOKafkaAdminClient(**kafka.client_kwargs())
    await admin.start()
    try:
        parts = {d["topic"]: len(d["partitions"]) for d in await admin.describe_topics(names)}
        found: dict[str, tuple[int, dict[str, str]]] = {}
        for response in await admin.describe_configs(
                [ConfigResource(ConfigResourceType.TOPIC, n) for n in names]):
            for r in response.to_object()["resources"]:
                found[r["resource_name"]] = (parts[r["resource_name"]], {
                    e["config_names"]: e["config_value"] for e in r["config_entries"]})
        return found
    finally:
        await admin.close()


async def test_every_declared_topic_is_created_as_declared_and_applying_again_changes_nothing(
    infra: Infra, prefix: str,
) -> None:
    topics = declared_topics(["partners", "funding", "notifications"])
    first = await apply(infra.kafka, topics, prefix=prefix)
    again = await apply(infra.kafka, topics, prefix=prefix)
    state = await live(infra.kafka, [prefix + t.name for t in topics])

    assert sorted(first.created) == sorted(prefix + t.name for t in topics)
    assert first.drift == [] and again.created == [] and again.drift == []
    # One broker here: every topic declared with more replicas is named as created below.
    assert sorted(first.below_declared) == sorted(
        prefix + t.name for t in topics if t.replication_factor > first.brokers)
    assert first.below_declared and again.below_declared == []
    for t in topics:
        partitions, configs = state[prefix + t.name]
        assert partitions == t.partitions, t.name
        for key, value in t.configs(first.brokers).items():
            assert configs[key] == value, (t.name, key)
    labels = next(t for t in ALL_TOPICS if t.name == "labelling.labels")
    assert state[prefix + labels.name][1]["retention.ms"] == "-1"  # kept for replay
    dlq, skipped, _ = dead_letter_topics("partners")
    assert state[prefix + dlq.name][1]["retention.ms"] == str(90 * 24 * 3600 * 1000)
    assert state[prefix + skipped.name][1]["retention.ms"] == str(365 * 24 * 3600 * 1000)


async def test_a_topic_that_drifted_is_reported_and_left_as_it_is(
    infra: Infra, prefix: str,
) -> None:
    labels = next(t for t in ALL_TOPICS if t.name == "labelling.labels")
    await apply(infra.kafka, [labels], prefix=prefix)
    admin = AIOKafkaAdminClient(**infra.kafka.client_kwargs())
    await admin.start()
    try:  # an operator shortened its retention by hand
        await admin.alter_configs([ConfigResource(
            ConfigResourceType.TOPIC, prefix + labels.name,
            {**labels.configs(brokers=1), "retention.ms": "86400000"})])
    finally:
        await admin.close()

    report = await apply(infra.kafka, [labels], prefix=prefix)
    state = await live(infra.kafka, [prefix + labels.name])

    assert report.created == []
    assert report.drift == [f"{prefix}labelling.labels: retention.ms=86400000, declared -1"]
    assert state[prefix + labels.name][1]["retention.ms"] == "86400000"  # not touched


async def test_producing_to_a_topic_nobody_declared_fails(infra: Infra, prefix: str) -> None:
    producer = AIOKafkaProducer(**infra.kafka.client_kwargs(),
                                request_timeout_ms=3000)
    await producer.start()
    try:
        with pytest.raises((KafkaTimeoutError, UnknownTopicOrPartitionError)):
            await producer.send_and_wait(f"{prefix}labelling.lables", b"{}", key=b"typo")
    finally:
        await producer.stop()
    admin = AIOKafkaAdminClient(**infra.kafka.client_kwargs())
    await admin.start()
    try:
        assert f"{prefix}labelling.lables" not in await admin.list_topics()
    finally:
        await admin.close()
