"""A forged event: a schema-valid TerritoryLabelled — money for a cité labelling never
labelled — written on a topic its producer does not own (partners' alliances topic, which
funding reads), written by the brokers' administrator, whom no ACL stops: funding
dead-letters it as wrong-topic and funds nothing; the same event on labelling's own topic
is funded, so the check is what refused it. And with the ACLs in force, the forgery on
labelling's topic — by partners' own principal or by anyone without credentials — is
refused by the broker before any consumer sees it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiokafka.errors import KafkaError, TopicAuthorizationFailedError
from e2e_platform import Platform, running_platform
from faults_kit import Figures, count, report
from labelling.examples import territory_labelled

from cites_contracts import Envelope, encode
from cites_contracts.access import KafkaAccess
from cites_runtime.dlq import list_dead_letters
from cites_runtime.kafka import make_producer
from cites_runtime.testing import eventually, read_topic, wait_caught_up
from cites_runtime.testing.infra import Infra

pytestmark = [pytest.mark.e2e, pytest.mark.integration]


@pytest.fixture
async def with_funding(infra: Infra, tmp_path: Path) -> AsyncIterator[Platform]:
    async with running_platform(infra, tmp_path, funding=True) as running:
        yield running


async def test_a_forged_label_on_another_producers_topic_mints_no_money(
        with_funding: Platform) -> None:
    platform = with_funding
    assert platform.funding is not None
    forged = encode(Envelope.wrap(territory_labelled(7_001), sequence=1))
    genuine = encode(Envelope.wrap(territory_labelled(7_002), sequence=1))
    producer = make_producer(platform.kafka)
    await producer.start()
    try:
        await producer.send_and_wait(platform.topic("partners.alliances"), forged.value,
                                     key=forged.key, headers=forged.headers)
        await producer.send_and_wait(platform.topic("labelling.labels"), genuine.value,
                                     key=genuine.key, headers=genuine.headers)
    finally:
        await producer.stop()
    dsn = platform.funding.db.dsn

    async def genuine_funded() -> bool:
        return await count(dsn, f"SELECT count(*) FROM cites WHERE cite_id = "
                                f"'{genuine.key.decode()}'") == 1

    await eventually(genuine_funded, timeout=60, what="the genuine label in funding")
    await wait_caught_up(platform.kafka, platform.topic("funding"),
                         platform.topic("partners.alliances"))
    letters = await list_dead_letters(platform.kafka, platform.topic("funding.dlq"))
    forged_cites = await count(dsn, f"SELECT count(*) FROM cites WHERE cite_id = "
                                    f"'{forged.key.decode()}'")
    report(Figures("forged event", "a schema-valid TerritoryLabelled written on partners' "
                   "alliances topic (funding reads it)", 2, 0, forged_cites, len(letters),
                   None, "dead-lettered wrong-topic; the same event on labelling's topic "
                   "funded"))
    assert forged_cites == 0
    assert [(d.reason, d.event_type) for d in letters] == [
        ("wrong-topic", "labelling.TerritoryLabelled")]


async def test_a_forged_label_on_labellings_topic_is_refused_by_the_broker(
        with_funding: Platform) -> None:
    platform = with_funding
    assert platform.funding is not None
    forged = encode(Envelope.wrap(territory_labelled(7_003), sequence=1))

    async def forge(access: KafkaAccess) -> None:
        producer = make_producer(access, request_timeout_ms=10_000)
        try:
            await producer.start()
            await producer.send_and_wait(platform.topic("labelling.labels"), forged.value,
                                         key=forged.key, headers=forged.headers)
        finally:
            await producer.stop()

    with pytest.raises(TopicAuthorizationFailedError):
        await forge(platform.partners.kafka)  # a service's own, leaked or misused
    with pytest.raises(KafkaError):
        await forge(KafkaAccess(platform.kafka.bootstrap))  # no credentials at all
    assert await read_topic(platform.kafka, platform.topic("labelling.labels")) == []
    forged_cites = await count(platform.funding.db.dsn, "SELECT count(*) FROM cites WHERE "
                               f"cite_id = '{forged.key.decode()}'")
    assert forged_cites == 0
