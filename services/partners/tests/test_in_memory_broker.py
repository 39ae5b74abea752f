"""The service in isolation: FastStream's in-memory broker instead of Kafka, the real
PostgreSQL. Same code path as on Kafka: subscriber → inbox → handler → outbox → relay."""

from __future__ import annotations

from partners_kit import envelope, labelled

from cites_runtime.testing import ServiceUnderTest


async def test_a_label_opens_an_alliance_on_the_in_memory_broker(
    service: ServiceUnderTest,
) -> None:
    label = envelope(labelled())
    await service.publish(label, label)  # the second delivery is absorbed by the inbox
    await service.all_published()  # the relay has published what the label caused
    chef = await service.runtime.pool.fetchrow(
        """SELECT p.uai, m.roles FROM memberships m JOIN partners p USING (partner_id)
           WHERE m.cite_id = 'cite-001'""")
    assert chef is not None and (chef["uai"], chef["roles"]) == ("0930001A", ["chef_de_file"])
    assert [e.type for e in service.published] == ["partners.PartnerRegistered",
                                                   "partners.AllianceOpened",
                                                   "partners.ChefDeFileDesignated"]
    assert {e.causation_id for e in service.published} == {label.event_id}
