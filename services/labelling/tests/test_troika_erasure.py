"""The troïka's addresses: published only as cards on the compacted labelling.contacts
(the candidature's events name seats by id), and erased for good on request — from the
dossier, the outbox, and (by compaction of the card's tombstone) from every topic."""

from __future__ import annotations

import json
import uuid

import pytest
from labelling.app import definition
from labelling.settings import LabellingSettings
from labelling_kit import Labelling

from cites_contracts.topics import LABELLING_CONTACTS
from cites_runtime.testing import (
    AS_NATIONAL,
    AS_PREFECTURE_69,
    AS_PREFECTURE_93,
    AS_VIEWER,
    all_published,
    envelopes_json,
    read_topic,
)
from cites_runtime.testing.erasure import (
    on_kafka_with_stoppable_relay,
    records_mentioning,
    relayed_until_erased,
    rows_mentioning,
)
from cites_runtime.testing.infra import Infra
from cites_runtime.testing.plugin import SettingsFactory


def _troika(tag: str) -> list[dict[str, str]]:
    return [{"role": "prefet", "email": f"prefet.{tag}@rhone.gouv.fr"},
            {"role": "recteur", "email": f"recteur.{tag}@ac-lyon.fr"},
            {"role": "maire", "email": f"maire.{tag}@mairie-vaulxenvelin.fr"}]


async def test_the_candidature_names_its_troika_by_id_and_the_cards_carry_the_addresses(
    service: Labelling,
) -> None:
    cid = await service.submitted(troika=_troika("t1"))
    [submitted] = await service.running.outbox("CandidatureSubmitted")
    cards = await service.running.outbox("TroikaContactPublished")
    assert "@" not in json.dumps(envelopes_json([submitted]))  # no address on a kept topic
    seats = {s.role.value: s.contact_id for s in submitted.data.troika}
    assert {c.data.role.value: (c.data.contact_id, c.data.email) for c in cards} == {
        "prefet": (seats["prefet"], "prefet.t1@rhone.gouv.fr"),
        "recteur": (seats["recteur"], "recteur.t1@ac-lyon.fr"),
        "maire": (seats["maire"], "maire.t1@mairie-vaulxenvelin.fr")}
    assert {(c.topic.name, c.aggregate_id) for c in cards} == {
        ("labelling.contacts", str(i)) for i in seats.values()}
    assert all(str(c.data.candidature_id) == cid for c in cards)


async def test_erasing_a_signatory_removes_the_address_and_tombstones_its_card(
    service: Labelling,
) -> None:
    cid = await service.submitted(troika=_troika("t2"))
    [submitted] = await service.running.outbox("CandidatureSubmitted")
    maire = next(s.contact_id for s in submitted.data.troika if s.role.value == "maire")
    elsewhere = await service.http.delete(f"/candidatures/{cid}/troika/maire",
                                          headers=AS_PREFECTURE_93)
    viewer = await service.http.delete(f"/candidatures/{cid}/troika/maire", headers=AS_VIEWER)
    bad_role = await service.http.delete(f"/candidatures/{cid}/troika/pape",
                                         headers=AS_NATIONAL)
    assert (elsewhere.status_code, viewer.status_code, bad_role.status_code) == (403, 403, 422)
    assert await service.running.outbox_tombstones() == []  # refused: nothing changed

    erased = await service.http.delete(f"/candidatures/{cid}/troika/maire",
                                       headers=AS_PREFECTURE_69)
    again = await service.http.delete(f"/candidatures/{cid}/troika/maire", headers=AS_NATIONAL)
    shown = (await service.http.get(f"/candidatures/{cid}", headers=AS_NATIONAL)).json()
    assert (erased.status_code, again.status_code) == (204, 204)
    assert [m["role"] for m in shown["dossier"]["troika"]] == ["prefet", "recteur"]
    assert await service.running.outbox_tombstones() == [("labelling.contacts", str(maire))]
    mentions = await service.runtime.pool.fetchval(
        """SELECT (SELECT count(*) FROM candidatures WHERE dossier::text LIKE '%maire.t2@%')
                + (SELECT count(*) FROM outbox_history
                    WHERE position(convert_to('maire.t2@', 'UTF8') IN value) > 0)""")
    assert mentions == 0
    # The candidature's other signatories and its events are untouched.
    assert len(await service.running.outbox("TroikaContactPublished")) == 2
    assert await service.outbox() == ["labelling.CandidatureSubmitted"]


@pytest.mark.integration
async def test_an_erased_signatory_s_address_is_gone_from_every_topic_and_table(
    service_settings: SettingsFactory, infra: Infra,
) -> None:
    tag = uuid.uuid4().hex[:12]
    troika = _troika(tag)
    maire = troika[2]["email"]
    settings = service_settings(LabellingSettings)
    kafka, prefix = settings.kafka, settings.topic_prefix

    async with on_kafka_with_stoppable_relay(definition, settings,
                                             LABELLING_CONTACTS) as (running, relay):
        live = Labelling(running)
        relay.start()
        cid = await live.submitted(troika=troika)
        await all_published(running.runtime)
        assert len(await records_mentioning(kafka, prefix, maire)) == 1  # her card
        await relay.stop()

        erased = await live.http.delete(f"/candidatures/{cid}/troika/maire",
                                        headers=AS_NATIONAL)
        assert erased.status_code == 204
        assert await rows_mentioning(infra.database_url, maire) == []

        took = await relayed_until_erased(running, relay, maire)
        cards = await read_topic(kafka, settings.topic(LABELLING_CONTACTS.name))
        others = [r for r in cards if r.value is not None and tag.encode() in r.value]
        assert len(others) == 2  # the préfet's and the recteur's cards remain
    assert await rows_mentioning(infra.database_url, maire) == []
    print(f"\nerased from Kafka {took:.1f} s after the relay came back")
