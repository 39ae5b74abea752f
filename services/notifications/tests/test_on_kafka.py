"""Notifications on the real broker: a troïka's contact cards and its candidature consumed
from labelling's topics on Kafka (the candidature twice, as a broker may redeliver) write
one mail per signatory, and once they are sent, NotificationSent reaches
``notifications.deliveries`` through the outbox and the relay."""

from __future__ import annotations

from uuid import uuid4

import pytest
from notifications.sender import send_due
from notifications_kit import mails_to, troika_cards

from cites_contracts import Envelope, decode
from cites_contracts.events.notifications import NotificationSent
from cites_runtime.testing import ServiceUnderTest, read_topic
from cites_runtime.testing.infra import Infra

pytestmark = pytest.mark.integration


async def test_a_candidature_read_from_kafka_is_acknowledged_once_and_told_on_deliveries(
    live: ServiceUnderTest, infra: Infra,
) -> None:
    tag = uuid4().hex[:12]
    cards, submitted = troika_cards(uuid4(), tag)
    once = Envelope.wrap(submitted, sequence=1)
    await live.publish(*cards, once, once)
    await live.caught_up()
    written = await live.runtime.pool.fetch(
        "SELECT template, status FROM notifications WHERE cause_event_id = $1", once.event_id)
    assert [(r["template"], r["status"]) for r in written] == [
        ("candidature-received", "pending")] * 3

    assert await send_due(live.runtime) == 3
    s = live.settings
    records = await read_topic(s.kafka, s.topic("notifications.deliveries"),
                               until=lambda found: len(found) >= 3)
    told = [decode(r.value, r.headers) for r in records]

    assert len(told) == 3
    assert all(isinstance(e.data, NotificationSent) for e in told)
    assert {e.data.cause_event_id for e in told} == {once.event_id}
    assert {r.key for r in records} == {str(e.aggregate_id).encode() for e in told}
    assert sorted(m["To"] for m in mails_to(infra, tag)) == sorted(
        f"{role}.{tag}@example.gouv.fr" for role in ("prefet", "recteur", "maire"))
    for record in records:  # the audit names recipients by reference, never by address
        assert tag.encode() not in record.value
