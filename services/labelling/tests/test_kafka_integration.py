"""On real Kafka and PostgreSQL: what a labelling puts on its topic, and what a rolled-back
command puts there (nothing)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from uuid import UUID, uuid4

import httpx
import pytest
from labelling import service, store
from labelling.app import definition
from labelling.domain import Outcome
from labelling.settings import LabellingSettings
from labelling_kit import NATIONAL, Service, all_published

from cites_contracts import decode
from cites_contracts.events.labelling import TerritoryLabelled
from cites_runtime.app import build_app
from cites_runtime.testing import read_topic

pytestmark = pytest.mark.integration
LABEL = {"outcome": "label", "motive": "Alliance solide"}


@pytest.fixture
async def live(migrated: LabellingSettings) -> AsyncIterator[Service]:
    """The service with its real Kafka producer and relay, driven over HTTP in-process."""
    app = build_app(definition, migrated)
    async with app.router.lifespan_context(app), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://labelling") as http:
        yield Service(http, app.state.runtime)


async def test_labelling_puts_exactly_one_territory_labelled_on_the_labels_topic(
        live: Service, migrated: LabellingSettings) -> None:
    cid = await live.under_review()
    correlation = uuid4()
    headers = {"Authorization": "Bearer tok-national", "X-Correlation-ID": str(correlation)}
    first = await live.http.post(f"/candidatures/{cid}/decision", headers=headers, json=LABEL)
    repeat = await live.http.post(f"/candidatures/{cid}/decision", headers=headers, json=LABEL)
    await all_published(live.runtime)
    records = await read_topic(migrated.kafka_bootstrap_servers,
                               migrated.topic("labelling.labels"), idle=0.5)

    assert (first.status_code, repeat.status_code) == (200, 200)
    assert len(records) == 1
    [record] = records
    envelope = decode(record.value, record.headers)
    sent = {k: v.decode() for k, v in record.headers}
    assert record.key == b"cite-001"
    assert sent["type"] == "labelling.TerritoryLabelled"
    assert sent["version"] == "1"
    assert sent["event_id"] == str(envelope.event_id)
    assert sent["correlation_id"] == str(correlation)
    assert sent["traceparent"].startswith("00-")
    assert isinstance(envelope.data, TerritoryLabelled)
    assert (envelope.data.cite_id, str(envelope.data.candidature_id)) == ("cite-001", cid)
    assert (envelope.aggregate_id, envelope.sequence) == ("cite-001", 1)


async def test_a_rolled_back_labelling_publishes_nothing(
        live: Service, migrated: LabellingSettings, monkeypatch: pytest.MonkeyPatch) -> None:
    doomed = await live.under_review()
    sentinel = await live.under_review(territory_name="Vénissieux")

    async def disk_full(*args: object, **kwargs: object) -> None:
        raise RuntimeError("disk full")

    # The failure strikes after the cité row is written and its event emitted.
    with monkeypatch.context() as patch:
        patch.setattr(store, "add_history", disk_full)
        with pytest.raises(RuntimeError, match="disk full"):
            await service.decide(live.runtime, UUID(doomed), Outcome.LABEL, "Retenu",
                                 actor=NATIONAL)
    after = await live.http.post(f"/candidatures/{sentinel}/decision",
                                 headers={"Authorization": "Bearer tok-national"}, json=LABEL)
    await all_published(live.runtime)
    records = await read_topic(migrated.kafka_bootstrap_servers,
                               migrated.topic("labelling.labels"), idle=0.5)

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
