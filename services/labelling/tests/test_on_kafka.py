"""On real Kafka and PostgreSQL: what a labelling puts on its topic, and what a rolled-back
command puts there (nothing)."""

from __future__ import annotations

from typing import Any
from uuid import UUID, uuid4, uuid5

import pytest
from labelling import service, store
from labelling.domain import Outcome
from labelling.settings import LabellingSettings
from labelling_kit import NATIONAL, Labelling

from cites_contracts import decode
from cites_contracts.events.labelling import TerritoryLabelled
from cites_runtime.http import CORRELATION_NAMESPACE
from cites_runtime.testing import read_topic

pytestmark = pytest.mark.integration
LABEL = {"outcome": "label", "motive": "Alliance solide"}
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"


async def test_labelling_puts_exactly_one_territory_labelled_on_the_labels_topic(
        live: Labelling, settings: LabellingSettings) -> None:
    cid = await live.under_review()
    correlation = uuid4()
    headers = {"Authorization": "Bearer tok-national", "X-Correlation-ID": str(correlation)}
    first = await live.http.post(f"/candidatures/{cid}/decision", headers=headers, json=LABEL)
    repeat = await live.http.post(f"/candidatures/{cid}/decision", headers=headers, json=LABEL)
    await live.running.all_published()
    records = await read_topic(settings.kafka,
                               settings.topic("labelling.labels"), idle=0.5)

    assert (first.status_code, repeat.status_code) == (200, 200)
    assert len(records) == 1
    [record] = records
    envelope = decode(record.value, record.headers)
    sent = {k: v.decode() for k, v in record.headers}
    assert record.key == b"cite-001"
    assert sent["type"] == "labelling.TerritoryLabelled"
    assert sent["version"] == "2"  # the current version: producers publish no other
    assert sent["event_id"] == str(envelope.event_id)
    assert sent["correlation_id"] == str(correlation)
    assert sent["traceparent"].startswith("00-")
    assert isinstance(envelope.data, TerritoryLabelled)
    assert (envelope.data.cite_id, str(envelope.data.candidature_id)) == ("cite-001", cid)
    assert (envelope.aggregate_id, envelope.sequence) == ("cite-001", 1)


async def test_a_rolled_back_labelling_publishes_nothing(
        live: Labelling, settings: LabellingSettings, monkeypatch: pytest.MonkeyPatch) -> None:
    doomed = await live.under_review()
    sentinel = await live.under_review(territory_name="Vénissieux")

    open_cite = store.open_cite

    async def disk_full(*args: Any, **kwargs: Any) -> None:
        await open_cite(*args, **kwargs)
        raise RuntimeError("disk full")

    # The failure strikes after the cité row is written and its event emitted.
    with monkeypatch.context() as patch:
        patch.setattr(store, "open_cite", disk_full)
        with pytest.raises(RuntimeError, match="disk full"):
            async with live.runtime.unit_of_work() as uow:
                await service.decide(uow, UUID(doomed), Outcome.LABEL, "Retenu",
                                     label_years=3, actor=NATIONAL)
    after = await live.http.post(f"/candidatures/{sentinel}/decision",
                                 headers={"Authorization": "Bearer tok-national"}, json=LABEL)
    await live.running.all_published()
    records = await read_topic(settings.kafka,
                               settings.topic("labelling.labels"), idle=0.5)

    sentinel_cite = after.json()["cite_id"]
    assert [r.key.decode() for r in records] == [sentinel_cite]
    assert str(decode(records[0].value).data.candidature_id) == sentinel  # type: ignore[attr-defined]
    shown = (await live.http.get(f"/candidatures/{doomed}",
                                 headers={"Authorization": "Bearer tok-national"})).json()
    assert (shown["status"], shown["cite_id"], shown["decision"]) == ("under_review", None, None)
    pool = live.runtime.pool
    assert await pool.fetchval("SELECT count(*) FROM cites") == 1
    assert await pool.fetchval("SELECT count(*) FROM cite_history") == 1
    assert (await live.outbox()).count("labelling.TerritoryLabelled") == 1


async def test_a_commands_events_carry_the_callers_correlation_id_and_trace(
        live: Labelling, settings: LabellingSettings) -> None:
    cid = await live.under_review()
    headers = {"Authorization": "Bearer tok-national", "X-Correlation-ID": "abc",
               "traceparent": f"00-{TRACE_ID}-00f067aa0ba902b7-01"}
    decided = await live.http.post(f"/candidatures/{cid}/decision", headers=headers, json=LABEL)
    await live.running.all_published()
    [record] = await read_topic(settings.kafka,
                                settings.topic("labelling.labels"), idle=0.5)

    # Envelopes carry UUIDs: a correlation id that is not one maps to the same UUID always.
    expected = uuid5(CORRELATION_NAMESPACE, "abc")
    sent = {k: v.decode() for k, v in record.headers}
    assert decided.status_code == 200
    assert decided.headers["X-Correlation-ID"] == str(expected)
    assert decode(record.value).correlation_id == expected
    assert sent["correlation_id"] == str(expected)
    assert sent["traceparent"].split("-")[1] == TRACE_ID  # same trace, a new span
