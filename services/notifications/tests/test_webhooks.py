"""Signed webhooks, on a real HTTP receiver (uvicorn on loopback) and real PostgreSQL:
subscriptions managed by the national role, each event of a subscribed type delivered
once, signed as Standard Webhooks says — verified here by the specification's own
library (``standardwebhooks``), not by our code —, retried while the receiver is away,
failed with the reason after the last attempt, resent on request."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

import pytest
from notifications import metrics
from notifications.app import definition
from notifications.domain import webhooks
from notifications.settings import NotificationsSettings
from notifications.webhook_sender import deliver_due
from notifications_kit import LABELLED, a_cite_labelled, subscribe, verified
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from cites_contracts.events.labelling import TerritoryLabelled
from cites_runtime.testing import (
    AS_NATIONAL,
    AS_OPERATOR,
    AS_PREFECTURE_69,
    FakeClock,
    ServiceUnderTest,
    in_memory,
)
from cites_runtime.testing.http import Receiver, free_port, serve_app
from cites_runtime.testing.plugin import SettingsFactory


@pytest.fixture
async def service(service_settings: SettingsFactory, clock: FakeClock
                  ) -> AsyncIterator[ServiceUnderTest]:
    clock.now = datetime.now(UTC)  # the specification's library checks timestamps: ±5 min
    s = service_settings(NotificationsSettings, send_interval_s=3600.0,
                         webhook_allow_private_hosts_for_tests=True, webhook_retry_base_s=10.0,
                         webhook_max_attempts=3, webhook_timeout_s=2.0, claim_lease_s=60.0)
    async with in_memory(definition, s) as running:
        yield running


# --- signing, by the specification's library ----------------------------------------------


def test_a_signature_verifies_with_the_specifications_library_and_only_untampered() -> None:
    secret, now = webhooks.new_secret(), datetime.now(UTC)
    body = webhooks.body_of(LABELLED, 1, uuid4(), now, {"cite_id": "cite-001"})
    headers = webhooks.signature_headers("d-1", now, body, [secret])
    assert headers["webhook-timestamp"] == str(int(now.timestamp()))
    assert verified(secret, headers, body.encode())["data"] == {"cite_id": "cite-001"}
    with pytest.raises(WebhookVerificationError):
        verified(secret, headers, body.replace("001", "002").encode())
    with pytest.raises(WebhookVerificationError):
        verified(webhooks.new_secret(), headers, body.encode())
    stale = webhooks.signature_headers("d-1", now - timedelta(hours=1), body, [secret])
    with pytest.raises(WebhookVerificationError, match="too old"):  # a replay
        verified(secret, stale, body.encode())
    both = webhooks.signature_headers("d-1", now, body, [secret, old := webhooks.new_secret()])
    assert verified(old, both, body.encode()) == verified(secret, both, body.encode())


@pytest.mark.parametrize(("secret", "why"), [
    ("s3cr3t", "starts with"), ("whsec_***", "base64"), ("whsec_AAAA", "24 to 64 bytes")])
def test_a_secret_not_in_the_specifications_form_is_refused(secret: str, why: str) -> None:
    with pytest.raises(Exception, match=why):
        webhooks.key_of(secret)


# --- subscriptions ---------------------------------------------------------------------------


async def test_subscriptions_are_the_national_roles_and_refuse_what_cannot_work(
    service: ServiceUnderTest,
) -> None:
    http = service.http
    url = f"http://127.0.0.1:{free_port()}/hooks"
    as_prefecture = await http.post("/webhooks", headers=AS_PREFECTURE_69,
                                    json={"url": url, "event_types": [LABELLED]})
    assert as_prefecture.status_code == 403
    for body, why in [
        ({"url": "ftp://example.org/x", "event_types": [LABELLED]}, "http"),
        ({"url": "https://u:p@example.org/x", "event_types": [LABELLED]}, "credentials"),
        ({"url": url, "event_types": ["partners.ContactCardPublished"]}, "those one may"),
        ({"url": url, "event_types": [LABELLED], "secret": "hunter2"}, "whsec_"),
        ({"url": url, "event_types": [LABELLED], "colour": "blue"}, "extra"),
    ]:
        refused = await http.post("/webhooks", headers=AS_NATIONAL, json=body)
        assert refused.status_code == 422 and why in refused.text, refused.text
    created = await subscribe(service, url)
    assert created["secret"].startswith("whsec_") and created["active"]
    again = await http.post("/webhooks", headers=AS_NATIONAL,
                            json={"url": url, "event_types": ["labelling.LabelSuspended"]})
    assert again.status_code == 409 and created["subscription_id"] in again.text
    listed = (await http.get("/webhooks", headers=AS_NATIONAL)).json()
    one = await http.get(f"/webhooks/{created['subscription_id']}", headers=AS_NATIONAL)
    assert [s["url"] for s in listed["items"]] == [url]
    assert "secret" not in one.json() and "whsec_" not in json.dumps(listed)
    assert (await service.runtime.pool.fetchval("SELECT count(*) FROM webhook_subscriptions")
            ) == 1  # the refusals changed nothing


# --- deliveries ------------------------------------------------------------------------------


async def test_a_subscribed_event_is_delivered_once_signed_and_other_types_not(
    service: ServiceUnderTest,
) -> None:
    receiver = Receiver()
    port = free_port()
    sub = await subscribe(service, f"http://127.0.0.1:{port}/hooks")
    async with serve_app(receiver, port=port):
        label = await a_cite_labelled(service, times=2)  # redelivered: still one delivery
        assert await deliver_due(service.runtime) == 1
        assert await deliver_due(service.runtime) == 0
    (headers, body), = receiver.received  # CandidatureSubmitted: not subscribed
    payload = verified(sub["secret"], headers, body)
    assert payload["type"] == LABELLED and payload["version"] == TerritoryLabelled.spec.version
    assert TerritoryLabelled.model_validate(payload["data"]) == label
    assert headers["content-type"] == "application/json"
    log = (await service.http.get(f"/webhooks/{sub['subscription_id']}/deliveries",
                                  headers=AS_NATIONAL)).json()["items"]
    assert [(d["delivery_id"], d["status"], d["attempts"], d["last_status"]) for d in log] == [
        (headers["webhook-id"], "delivered", 1, 204)]
    assert log[0]["event_id"] == payload["event_id"]


async def test_a_receiver_away_is_retried_with_backoff_and_gets_it_once_when_back(
    service: ServiceUnderTest, clock: FakeClock,
) -> None:
    port = free_port()
    sub = await subscribe(service, f"http://127.0.0.1:{port}/hooks")
    await a_cite_labelled(service)
    runtime = service.runtime
    assert await deliver_due(runtime) == 1  # nobody listens: retried in 10 s
    assert await deliver_due(runtime) == 0
    await metrics.read_queues(runtime)
    scraped = (await service.http.get("/metrics", headers=AS_OPERATOR)).text
    assert 'notifications_retrying{channel="webhook"} 1.0' in scraped
    assert 'notifications_outcomes_total{channel="webhook",outcome="retry"}' in scraped
    receiver = Receiver(statuses=[503], headers={"retry-after": "120"})
    async with serve_app(receiver, port=port):
        clock.advance(seconds=11)
        assert await deliver_due(runtime) == 1  # 503, asks for 2 minutes
        clock.advance(seconds=60)
        assert await deliver_due(runtime) == 0  # honoured: not yet
        clock.advance(seconds=61)
        assert await deliver_due(runtime) == 1  # 204
    assert len(receiver.received) == 2
    ids = {h["webhook-id"] for h, _ in receiver.received}
    bodies = {b for _, b in receiver.received}
    assert len(ids) == 1 and len(bodies) == 1  # one delivery, the same bytes each attempt
    for headers, body in receiver.received[1:]:
        verified(sub["secret"], headers, body)
    row = await runtime.pool.fetchrow("SELECT status, attempts, last_status FROM "
                                      "webhook_deliveries")
    assert tuple(row) == ("delivered", 3, 204)
    await metrics.read_queues(runtime)
    scraped = (await service.http.get("/metrics", headers=AS_OPERATOR)).text
    assert 'notifications_waiting{channel="webhook"} 0.0' in scraped


async def test_the_last_attempt_fails_with_why_and_a_resend_delivers_it(
    service: ServiceUnderTest, clock: FakeClock,
) -> None:
    receiver = Receiver(status=500)
    port = free_port()
    sub = await subscribe(service, f"http://127.0.0.1:{port}/hooks")
    await a_cite_labelled(service)
    async with serve_app(receiver, port=port):
        for _ in range(3):
            assert await deliver_due(service.runtime) == 1
            clock.advance(seconds=3600)
        assert await deliver_due(service.runtime) == 0
        log = f"/webhooks/{sub['subscription_id']}/deliveries"
        failed, = (await service.http.get(log, headers=AS_NATIONAL,
                                          params={"status": "failed"})).json()["items"]
        assert failed["attempts"] == 3 and failed["last_status"] == 500
        assert "HTTP 500" in failed["last_error"] and "3 tentatives" in failed["last_error"]
        receiver.status = 200
        resent = await service.http.post(f"/webhooks/deliveries/{failed['delivery_id']}"
                                         "/resend", headers=AS_NATIONAL)
        assert resent.status_code == 202 and resent.json()["status"] == "pending"
        assert await deliver_due(service.runtime) == 1
        again = await service.http.post(f"/webhooks/deliveries/{failed['delivery_id']}"
                                        "/resend", headers=AS_NATIONAL)
        assert again.status_code == 409 and "delivered" in again.text
    assert len(receiver.received) == 4
    assert len({h["webhook-id"] for h, _ in receiver.received}) == 1


async def test_a_410_fails_the_delivery_and_pauses_the_subscription_until_resumed(
    service: ServiceUnderTest,
) -> None:
    receiver = Receiver(statuses=[410])
    port = free_port()
    sub = await subscribe(service, f"http://127.0.0.1:{port}/hooks")
    path = f"/webhooks/{sub['subscription_id']}"
    async with serve_app(receiver, port=port):
        await a_cite_labelled(service)
        assert await deliver_due(service.runtime) == 1
        assert (await service.http.get(path, headers=AS_NATIONAL)).json()["active"] is False
        await a_cite_labelled(service)  # paused: delivered nothing, the new delivery waits
        assert await deliver_due(service.runtime) == 0
        resumed = await service.http.patch(path, headers=AS_NATIONAL, json={"active": True})
        assert resumed.status_code == 200 and resumed.json()["active"]
        assert await deliver_due(service.runtime) == 1
    statuses = sorted(d["status"] for d in (await service.http.get(
        f"{path}/deliveries", headers=AS_NATIONAL)).json()["items"])
    assert statuses == ["delivered", "failed"] and len(receiver.received) == 2


async def test_a_rotated_secret_signs_beside_the_old_one_for_the_overlap(
    service: ServiceUnderTest, clock: FakeClock,
) -> None:
    receiver = Receiver()
    port = free_port()
    sub = await subscribe(service, f"http://127.0.0.1:{port}/hooks")
    rotated = await service.http.post(f"/webhooks/{sub['subscription_id']}/rotate-secret",
                                      headers=AS_NATIONAL)
    assert rotated.status_code == 200, rotated.text
    new = rotated.json()["secret"]
    async with serve_app(receiver, port=port):
        await a_cite_labelled(service)
        await deliver_due(service.runtime)
        clock.advance(days=2)  # the overlap (a day) is over
        await a_cite_labelled(service)
        await deliver_due(service.runtime)
    (during, body1), (after, body2) = receiver.received
    assert len(during["webhook-signature"].split()) == 2
    assert len(after["webhook-signature"].split()) == 1
    # Both secrets sign during the overlap, only the new one after (the library's own
    # signing; its verify() would also refuse the moved clock's timestamp as too new).
    for secret, headers, body, ok in [(sub["secret"], during, body1, True),
                                      (new, during, body1, True),
                                      (sub["secret"], after, body2, False),
                                      (new, after, body2, True)]:
        verifier = Webhook(secret)
        expected = verifier.sign(headers["webhook-id"],
                                 _at(headers["webhook-timestamp"]), body.decode())
        assert (expected in headers["webhook-signature"].split()) is ok, (secret, ok)


def _at(timestamp: str) -> datetime:
    return datetime.fromtimestamp(int(timestamp), tz=UTC)


async def test_a_deleted_subscription_fails_what_waited_and_is_gone(
    service: ServiceUnderTest,
) -> None:
    sub = await subscribe(service, f"http://127.0.0.1:{free_port()}/hooks")
    await a_cite_labelled(service)
    path = f"/webhooks/{sub['subscription_id']}"
    assert (await service.http.delete(path, headers=AS_NATIONAL)).status_code == 204
    assert (await service.http.get(path, headers=AS_NATIONAL)).status_code == 404
    assert (await service.http.delete(path, headers=AS_NATIONAL)).status_code == 404
    failed, = (await service.http.get(f"{path}/deliveries", headers=AS_NATIONAL)
               ).json()["items"]
    assert failed["status"] == "failed" and "supprimé" in failed["last_error"]
    await a_cite_labelled(service)
    assert await deliver_due(service.runtime) == 0
    # Its URL may be subscribed again.
    await subscribe(service, sub["url"])


async def test_two_replicas_deliver_each_once(service: ServiceUnderTest) -> None:
    receiver = Receiver()
    port = free_port()
    await subscribe(service, f"http://127.0.0.1:{port}/hooks")
    for _ in range(20):
        await a_cite_labelled(service)
    async with serve_app(receiver, port=port):
        while sum(await asyncio.gather(*(deliver_due(service.runtime) for _ in range(3)))):
            pass
    ids = [h["webhook-id"] for h, _ in receiver.received]
    assert len(ids) == 20 and len(set(ids)) == 20
    assert all(UUID(i) for i in ids)
