"""Right to erasure, end to end on real Kafka and PostgreSQL: a contact with successive
addresses is erased while the relay is stopped; once the relay is back and Kafka's
compaction has run (timings shortened for the test), none of her addresses is in any
record of any topic, nor in any row of any table of any schema."""

from __future__ import annotations

import uuid

import pytest
from partners.app import definition
from partners.settings import PartnersSettings
from partners_kit import association, contact

from cites_contracts.topics import PARTNERS_CONTACTS, apply
from cites_runtime.kafka import make_producer
from cites_runtime.testing import AS_NATIONAL, ServiceUnderTest, all_published, on_kafka
from cites_runtime.testing.erasure import (
    StoppableRelay,
    records_mentioning,
    rows_mentioning,
    shortened,
    wait_erased_from_kafka,
)
from cites_runtime.testing.infra import Infra
from cites_runtime.testing.plugin import SettingsFactory

pytestmark = pytest.mark.integration


async def test_an_erased_contact_s_every_address_is_gone_from_every_topic_and_table(
    service_settings: SettingsFactory, infra: Infra,
) -> None:
    tag = uuid.uuid4().hex[:12]
    first, second, third = (f"anne.{n}.{tag}@asso.example.org" for n in ("a", "b", "c"))
    settings = service_settings(PartnersSettings, relay_enabled=False)
    kafka, prefix = settings.kafka, settings.topic_prefix
    contacts_topic = shortened(PARTNERS_CONTACTS)
    await apply(kafka, [contacts_topic], prefix=prefix)
    producer = make_producer(kafka)
    await producer.start()

    relay = StoppableRelay(settings, producer, [contacts_topic])

    try:
        async with on_kafka(definition, settings) as partners:
            relay.start()
            asso = (await partners.http.post("/partners", json=association(),
                                             headers=AS_NATIONAL)).json()["partner_id"]
            added = await partners.http.post(f"/partners/{asso}/contacts",
                                             json=contact(first), headers=AS_NATIONAL)
            cid = added.json()["contact_id"]
            moved = await partners.http.patch(f"/partners/{asso}/contacts/{cid}",
                                              json={"email": second}, headers=AS_NATIONAL)
            assert (added.status_code, moved.status_code) == (201, 200)
            await all_published(partners.runtime)
            on_kafka_before = await records_mentioning(kafka, prefix, first, second)
            assert len(on_kafka_before) == 2, on_kafka_before  # both cards reached Kafka

            await relay.stop()  # the relay is down: what follows waits in the outbox
            moved_again = await partners.http.patch(f"/partners/{asso}/contacts/{cid}",
                                                    json={"email": third},
                                                    headers=AS_NATIONAL)
            erased = await partners.http.delete(f"/partners/{asso}/contacts/{cid}",
                                                headers=AS_NATIONAL)
            assert (moved_again.status_code, erased.status_code) == (200, 204)
            # In the erasure's transaction: gone from every table, pending rows included.
            assert await rows_mentioning(infra.database_url, first, second, third) == []

            relay.start()
            await all_published(partners.runtime)
            took = await wait_erased_from_kafka(kafka, prefix, first, second, third)
            await relay.stop()
            await _her_tombstone_and_erasure_are_there(partners, cid)
        assert await rows_mentioning(infra.database_url, first, second, third) == []
        print(f"\nerased from Kafka {took:.1f} s after the relay came back "
              "(compaction timings of 1 s)")
    finally:
        await producer.stop()


async def _her_tombstone_and_erasure_are_there(partners: ServiceUnderTest, cid: str) -> None:
    from cites_runtime.testing import read_topic

    s = partners.settings
    cards = await read_topic(s.kafka, s.topic(PARTNERS_CONTACTS.name))
    mine = [r for r in cards if r.key == cid.encode()]
    assert mine and all(r.value is None for r in mine)  # compaction left her tombstone
    registry = await read_topic(s.kafka, s.topic("partners.registry"))
    assert any(b"ContactErased" in (r.value or b"") and cid.encode() in r.value
               for r in registry)
