"""Signed webhooks across processes: labelling, partners and notifications run as
``python -m …`` on the real Kafka and PostgreSQL; an outside system's receiver (a real
HTTP server on loopback, in this test) subscribes to labels, is away while cités are
labelled, then comes back: every label delivered once (by ``webhook-id``), each request's
signature verified by the Standard Webhooks specification's own library, not our code."""

from __future__ import annotations

import time

import pytest
from e2e_platform import NATIONAL, Platform
from standardwebhooks.webhooks import Webhook

from cites_runtime.testing import eventually
from cites_runtime.testing.http import Receiver, free_port, serve_app

pytestmark = [pytest.mark.e2e, pytest.mark.integration]


async def test_a_receiver_away_then_back_gets_each_label_once_signed(
    platform_with_notifications: Platform,
) -> None:
    platform = platform_with_notifications
    port = free_port()
    subscribed = await platform.notices.post("/webhooks", headers=NATIONAL, json={
        "url": f"http://127.0.0.1:{port}/cites", "event_types": [
            "labelling.TerritoryLabelled"], "description": "SI d'un partenaire"})
    assert subscribed.status_code == 201, subscribed.text
    secret, sub = subscribed.json()["secret"], subscribed.json()["subscription_id"]

    cites = [await platform.label(uai, territory=f"Territoire {n}")
             for n, uai in enumerate(["0691234A", "0692345B", "0693456C"])]

    async def tried_in_vain() -> bool:  # the receiver is away: each delivery waits, retried
        log = (await platform.notices.get(f"/webhooks/{sub}/deliveries", headers=NATIONAL,
                                          params={"limit": 50})).json()["items"]
        return len(log) == 3 and all(d["status"] == "pending" and d["attempts"] >= 2
                                     for d in log)

    await eventually(tried_in_vain, timeout=60, what="three deliveries retried in vain")
    receiver = Receiver()
    back = time.monotonic()
    async with serve_app(receiver, port=port):
        async def delivered() -> bool:
            log = (await platform.notices.get(f"/webhooks/{sub}/deliveries",
                                              headers=NATIONAL)).json()["items"]
            return len(log) == 3 and all(d["status"] == "delivered" for d in log)

        await eventually(delivered, timeout=60, what="the three labels delivered")
    print(f"\n[webhooks e2e] 3 labels; receiver away, then back: all delivered "
          f"{time.monotonic() - back:.1f} s after; {len(receiver.received)} requests")
    verifier = Webhook(secret)
    payloads = {}
    for headers, body in receiver.received:
        payload = verifier.verify(body, headers)  # raises unless signed with our secret
        payloads.setdefault(headers["webhook-id"], payload)
    assert len(receiver.received) == 3  # nothing delivered twice
    assert sorted(p["data"]["cite_id"] for p in payloads.values()) == sorted(cites)
    assert {p["type"] for p in payloads.values()} == {"labelling.TerritoryLabelled"}
