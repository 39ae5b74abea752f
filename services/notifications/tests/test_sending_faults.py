"""The sender under faults, on real SMTP servers: a server that does not answer is retried
with backoff then given up with the reason; a 5xx fails at once; a sender that dies after
the server accepted a message sends it again after the lease, with the same Message-ID."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from uuid import uuid4

import pytest
from notifications.app import definition
from notifications.sender import send_due
from notifications.settings import NotificationsSettings
from notifications_kit import Recording, free_port, smtp_on, troika_cards

from cites_contracts import Envelope
from cites_contracts.events.notifications import NotificationFailed
from cites_runtime.testing import AS_NATIONAL, AS_VIEWER, FakeClock, ServiceUnderTest, in_memory
from cites_runtime.testing.plugin import SettingsFactory


@pytest.fixture
def smtp_port() -> int:
    return free_port()


@asynccontextmanager
async def _service(service_settings: SettingsFactory, port: int, **extra: Any
                   ) -> AsyncIterator[ServiceUnderTest]:
    s = service_settings(NotificationsSettings, smtp_host="127.0.0.1", smtp_port=port,
                         send_interval_s=3600.0, retry_base_s=0.05, smtp_timeout_s=2.0,
                         **extra)
    async with in_memory(definition, s) as running:
        yield running


async def _submitted(service: ServiceUnderTest) -> None:
    """A candidature whose troïka is one signatory: one mail due."""
    cards, submitted = troika_cards(uuid4(), uuid4().hex[:8])
    await service.publish(*cards[:1], submitted.model_copy(update={
        "troika": submitted.troika[:1]}))


async def _refused(service: ServiceUnderTest) -> Envelope[NotificationFailed]:
    """:func:`_submitted`, sent once, failed: its ``NotificationFailed``."""
    await _submitted(service)
    await send_due(service.runtime)
    failed, = await service.outbox("NotificationFailed")
    return failed


async def test_an_unanswering_server_is_retried_with_backoff_then_given_up_with_why(
    service_settings: SettingsFactory, smtp_port: int, clock: FakeClock,
) -> None:
    async with _service(service_settings, smtp_port, max_attempts=3) as service:
        await _submitted(service)
        assert await send_due(service.runtime) == 1
        assert await send_due(service.runtime) == 0  # backing off (0.05 s, then 0.1 s)
        for _ in range(2):
            clock.advance(seconds=1)
            assert await send_due(service.runtime) == 1
        row = await service.runtime.pool.fetchrow(
            "SELECT status, attempts, last_error FROM notifications")
        failed = await service.outbox("NotificationFailed")
        assert (row["status"], row["attempts"]) == ("failed", 3)
        assert "injoignable" in failed[0].data.reason and "3 tentatives" in failed[0].data.reason
        assert not await service.outbox("NotificationSent")


async def test_a_server_that_comes_back_gets_the_mail_once(
    service_settings: SettingsFactory, smtp_port: int, clock: FakeClock,
) -> None:
    async with _service(service_settings, smtp_port) as service:
        await _submitted(service)
        await send_due(service.runtime)  # down: retried later
        with smtp_on(smtp_port, Recording()) as handler:
            await asyncio.sleep(0.2)
            clock.advance(seconds=1)
            await send_due(service.runtime)
            await send_due(service.runtime)
        assert len(handler.messages) == 1
        sent, = await service.outbox("NotificationSent")
        assert sent.data.attempts == 2


async def test_a_5xx_fails_at_once_without_quoting_the_address(
    service_settings: SettingsFactory, smtp_port: int,
) -> None:
    refusing = Recording(refuse="550 5.1.1 <x@y.fr>: mailbox unavailable")
    with smtp_on(smtp_port, refusing):
        async with _service(service_settings, smtp_port) as service:
            failed = await _refused(service)
            assert failed.data.attempts == 1 and "550" in failed.data.reason
            assert "@" not in failed.data.reason


async def test_a_sender_dead_after_the_servers_acceptance_resends_once_same_message_id(
    service_settings: SettingsFactory, smtp_port: int, clock: FakeClock,
) -> None:
    with smtp_on(smtp_port, Recording()) as handler:
        async with _service(service_settings, smtp_port, claim_lease_s=60.0) as service:
            await _submitted(service)
            # A sender claims and is killed after the server's acceptance, before recording.
            from notifications import sender, store
            async with service.runtime.unit_of_work() as uow:
                claimed = await store.claim(uow.conn, uow.now, 60.0, 10)
            await sender._Lane(service.runtime.settings).send_all(claimed)
            assert await send_due(service.runtime) == 0  # within the lease: nobody resends
            clock.advance(seconds=61)
            assert await send_due(service.runtime) == 1  # the claim expired: sent again
            assert await send_due(service.runtime) == 0
            ids = {m["Message-ID"] for m in handler.messages}
            assert len(handler.messages) == 2 and len(ids) == 1  # the same message twice
            sent, = await service.outbox("NotificationSent")
            assert sent.data.attempts == 2


async def test_a_failed_mail_is_sent_again_on_request_with_the_same_message_id(
    service_settings: SettingsFactory, smtp_port: int,
) -> None:
    with smtp_on(smtp_port, Recording(refuse="550 5.1.1 mailbox unavailable")) as handler:
        async with _service(service_settings, smtp_port) as service:
            failed = await _refused(service)
            nid = failed.data.notification_id
            handler.refuse = None  # the mailbox is back
            resent = await service.http.post(f"/notifications/{nid}/resend",
                                             headers=AS_NATIONAL)
            assert resent.status_code == 202, resent.text
            assert (resent.json()["status"], resent.json()["attempts"]) == ("pending", 0)
            assert await send_due(service.runtime) == 1
            sent, = await service.outbox("NotificationSent")
            assert sent.data.notification_id == nid and sent.data.attempts == 1
            msg, = handler.messages
            assert msg["Message-ID"].startswith(f"<{nid}@")
            again = await service.http.post(f"/notifications/{nid}/resend",
                                            headers=AS_NATIONAL)
            assert again.status_code == 409 and "sent" in again.json()["detail"]
            unknown = await service.http.post(f"/notifications/{uuid4()}/resend",
                                              headers=AS_NATIONAL)
            viewer = await service.http.post(f"/notifications/{nid}/resend",
                                             headers=AS_VIEWER)
            assert (unknown.status_code, viewer.status_code) == (404, 403)


async def test_a_round_sends_over_its_few_connections_each_reused(
    service_settings: SettingsFactory, smtp_port: int,
) -> None:
    with smtp_on(smtp_port, Recording()) as handler:
        async with _service(service_settings, smtp_port, smtp_connections=2) as service:
            cards, submitted = troika_cards(uuid4(), uuid4().hex[:8])
            await service.publish(*cards, submitted)
            for _ in range(2):
                more, other = troika_cards(uuid4(), uuid4().hex[:8])
                await service.publish(*more, other)
            assert await send_due(service.runtime) == 9
            sent = await service.outbox("NotificationSent")
            assert len(sent) == 9 and len(handler.messages) == 9
            assert handler.greetings == 2  # two connections for nine mails
            assert len({m["Message-ID"] for m in handler.messages}) == 9
