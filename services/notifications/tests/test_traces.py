"""Traces: the trace of a command goes on into notifications — the handler of its event is
a child of the producer's span, and the mail sent and the webhook delivered for it are
children of that handler (the sender rounds run later, in a transaction of their own)."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import uuid4

from notifications.app import definition
from notifications.sender import send_due
from notifications.settings import NotificationsSettings
from notifications.webhook_sender import deliver_due
from notifications_kit import SmtpServer, mails_to, troika_cards
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from cites_runtime.testing import AS_NATIONAL, FakeClock, in_memory
from cites_runtime.testing.http import Receiver, free_port, serve_app
from cites_runtime.testing.plugin import SettingsFactory

UPSTREAM = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
"""The producer's publish span of the event (what its record's header names)."""


async def test_the_mail_and_the_webhook_of_an_event_end_its_trace(
    service_settings: SettingsFactory, smtp: SmtpServer, clock: FakeClock,
) -> None:
    clock.now = datetime.now(UTC)
    exported = InMemorySpanExporter()
    settings = service_settings(
        NotificationsSettings, smtp_host=smtp.host, smtp_port=smtp.port,
        send_interval_s=3600.0, webhook_allow_private_hosts_for_tests=True,
        webhook_timeout_s=2.0, trace_exporter=exported)
    tag = uuid4().hex[:12]
    cards, submitted = troika_cards(uuid4(), tag)
    receiver, port = Receiver(), free_port()
    async with in_memory(definition, settings) as service:
        answer = await service.http.post("/webhooks", headers=AS_NATIONAL, json={
            "url": f"http://127.0.0.1:{port}/hooks", "event_types": [submitted.spec.type]})
        assert answer.status_code == 201, answer.text
        await service.publish(*cards)
        await service.publish(submitted, traceparent=UPSTREAM)
        assert await send_due(service.runtime) == 3
        async with serve_app(receiver, port=port):
            assert await deliver_due(service.runtime) == 1
    assert len(mails_to(smtp, tag)) == 3 and len(receiver.received) == 1

    spans = list(exported.get_finished_spans())
    trace_id, publish_id = (int(part, 16) for part in UPSTREAM.split("-")[1:3])
    handles = [s for s in spans if s.name == f"handle {submitted.spec.type}"]
    assert len(handles) == 1
    handle = handles[0]
    assert handle.parent is not None and handle.parent.span_id == publish_id
    assert handle.context.trace_id == trace_id
    mails = [s for s in spans if s.name == "send mail"]
    hooks = [s for s in spans if s.name == "deliver webhook"]
    assert len(mails) == 3 and len(hooks) == 1
    for call in (*mails, *hooks):
        assert call.kind is SpanKind.CLIENT and call.context.trace_id == trace_id
        assert call.parent is not None and call.parent.span_id == handle.context.span_id
    assert {m.attributes["notification.outcome"] for m in mails} == {"sent"}
    assert hooks[0].attributes["webhook.answer"] == "delivered"
    assert all(s.resource.attributes["service.name"] == "notifications" for s in spans)
