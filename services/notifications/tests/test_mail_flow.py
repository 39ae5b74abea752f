"""From an event to a mail on a real SMTP server: the troïka acknowledged in French, once
per (event, recipient), with a deterministic Message-ID; an erased contact forgotten at
once, its pending mail failed unsent and the log without its address."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import date
from uuid import uuid4

from notifications.reminders import remind_due
from notifications.sender import send_due
from notifications_kit import AT, SmtpServer, labelled, mails_to, subscribe, troika_cards

from cites_contracts import Envelope, Event
from cites_contracts.events.labelling import LabelSuspended, TroikaContactPublished
from cites_contracts.events.partners import ContactErased
from cites_contracts.testing import event
from cites_contracts.types import ActorRole, TroikaRole
from cites_runtime.testing import (
    AS_NATIONAL,
    AS_PREFECTURE_69,
    AS_PREFECTURE_93,
    AS_VIEWER,
    FakeClock,
    ServiceUnderTest,
)


async def test_a_submitted_candidature_is_acknowledged_to_its_troika_once_in_french(
    service: ServiceUnderTest, smtp: SmtpServer,
) -> None:
    tag = uuid4().hex[:12]
    candidature = uuid4()
    cards, submitted = troika_cards(candidature, tag)
    once = Envelope.wrap(submitted, sequence=1)
    await service.publish(*cards, once, once)  # the event delivered twice
    assert await send_due(service.runtime) == 3
    assert await send_due(service.runtime) == 0
    mails = mails_to(smtp, tag)
    assert sorted(m["To"] for m in mails) == sorted(
        f"{r}.{tag}@example.gouv.fr" for r in ("prefet", "recteur", "maire"))
    sent = await service.outbox("NotificationSent")
    assert len(sent) == 3 and {e.data.cause_event_id for e in sent} == {once.event_id}
    ids = {f"<{e.data.notification_id}@notifications.cites-educatives.gouv.fr>"
           for e in sent}
    assert {m["Message-ID"] for m in mails} == ids
    body = mails[0].get_body(preferencelist=("plain",))  # type: ignore[attr-defined]
    assert body is not None
    text = body.get_content()
    assert "Vaulx-en-Velin" in text and "Madame, Monsieur" in text
    assert mails[0]["Subject"]
    for e in sent:  # the audit names recipients by reference, never by address
        assert tag not in e.data.model_dump_json()


async def one_forgotten(service: ServiceUnderTest, role: TroikaRole,
                        forget: Callable[[TroikaContactPublished], Awaitable[object]]) -> str:
    """A submitted candidature's troïka known, then ``role``'s card forgotten by ``forget``:
    the address is gone at once (before any mail is sent); then the due mails are sent.
    The tag of the troïka's addresses."""
    tag = uuid4().hex[:12]
    cards, submitted = troika_cards(uuid4(), tag)
    await service.publish(*cards, submitted)
    card = next(c for c in cards if c.role is role)
    await forget(card)
    assert await service.runtime.pool.fetchval(
        "SELECT count(*) FROM contacts WHERE contact_id = $1", card.contact_id) == 0
    await send_due(service.runtime)
    return tag


def written_to(smtp: SmtpServer, tag: str) -> list[str]:
    """The roles (``prefet``…) that were sent a mail at the troïka ``tag``'s addresses."""
    return sorted(m["To"].split(".")[0] for m in mails_to(smtp, tag))


async def test_an_erased_contact_is_forgotten_at_once_and_not_written_to(
    service: ServiceUnderTest, smtp: SmtpServer,
) -> None:
    tag = await one_forgotten(service, TroikaRole.MAIRE, lambda maire: service.publish(
        ContactErased(partner_id=uuid4(), contact_id=maire.contact_id, erased_at=AT)))
    assert written_to(smtp, tag) == ["prefet", "recteur"]
    failed = await service.outbox("NotificationFailed")
    assert [e.data.recipient.troika_role for e in failed] == [TroikaRole.MAIRE]
    assert "effac" in failed[0].data.reason and tag not in failed[0].data.reason
    dump = " ".join(str(v) for r in await service.runtime.pool.fetch(
        "SELECT * FROM notifications") for v in dict(r).values())
    assert tag not in dump  # no address anywhere in the log


async def test_a_tombstone_on_a_contacts_topic_forgets_the_address_at_once(
    service: ServiceUnderTest, smtp: SmtpServer,
) -> None:
    tag = await one_forgotten(service, TroikaRole.RECTEUR, lambda recteur: (
        service.publish_tombstone("labelling.contacts", str(recteur.contact_id))))
    assert written_to(smtp, tag) == ["maire", "prefet"]
    failed, = await service.outbox("NotificationFailed")
    assert failed.data.recipient.troika_role is TroikaRole.RECTEUR


async def test_a_label_expiry_reminder_is_written_once_across_replicas_when_due(
    service: ServiceUnderTest, clock: FakeClock,
) -> None:
    tag = uuid4().hex[:12]
    candidature = uuid4()
    cards, submitted = troika_cards(candidature, tag)
    label = labelled(submitted, start=date(2022, 10, 1), end=date(2025, 9, 30))
    await service.publish(*cards, submitted, label)
    runtime = service.runtime
    assert await remind_due(runtime) == 0  # 10 March: the 6-month reminder is for 30 March
    clock.set_date(date(2025, 4, 2))
    assert sum(await asyncio.gather(*(remind_due(runtime) for _ in range(3)))) == 3
    assert await remind_due(runtime) == 0
    clock.set_date(date(2025, 8, 30))
    assert await remind_due(runtime) == 3  # the 1-month reminder
    reminders = await runtime.pool.fetch(
        "SELECT cause_type, subject FROM notifications WHERE template = "
        "'label-expiry-reminder'")
    assert len(reminders) == 6
    assert {r["cause_type"] for r in reminders} == {"notifications.LabelExpiryReminder"}
    assert all("Vaulx-en-Velin" in r["subject"] or "30 septembre 2025" in r["subject"]
               for r in reminders), [r["subject"] for r in reminders]


async def test_the_delivery_log_names_recipients_by_reference_and_a_prefecture_sees_its_own(
    service: ServiceUnderTest,
) -> None:
    tag = uuid4().hex[:12]
    candidature = uuid4()
    cards, submitted = troika_cards(candidature, tag)
    label = labelled(submitted)
    cite_id = label.cite_id
    await service.publish(*cards, submitted, label)
    log = await service.http.get("/notifications", params={"cite_id": cite_id},
                                       headers=AS_NATIONAL)
    assert log.status_code == 200, log.text
    assert sorted(n["recipient"]["troika_role"] for n in log.json()["items"]) == [
        "maire", "prefet", "recteur"]
    assert tag not in log.text
    own = await service.http.get("/notifications", params={"cite_id": cite_id},
                                       headers=AS_PREFECTURE_69)
    other = await service.http.get("/notifications", params={"cite_id": cite_id},
                                         headers=AS_PREFECTURE_93)
    everything = await service.http.get("/notifications", headers=AS_PREFECTURE_69)
    assert (own.status_code, other.status_code, everything.status_code) == (200, 403, 403)


async def test_imported_history_is_not_news_unless_asked_and_what_follows_it_live_is(
    service: ServiceUnderTest, smtp: SmtpServer,
) -> None:
    """The programme's past, imported (``Envelope.imported``): the troïka's cards, the 2019
    candidature and its label mail nobody, and call no webhook; the projection still learns
    the troïka and the cité, so a live suspension after it reaches the troïka; the past is
    mailed only when the national coordination asks."""
    tag = uuid4().hex[:12]
    cards, submitted = troika_cards(uuid4(), tag)
    label = labelled(submitted, start=date(2020, 1, 1), end=date(2022, 12, 31))
    sub = await subscribe(service, "https://receiver.example.org/hook")

    def imported(event: Event) -> Envelope[Event]:
        return service._wrap(event).model_copy(update={"imported": True})

    await service.publish(*[imported(c) for c in cards], imported(submitted), imported(label))
    assert await send_due(service.runtime) == 0
    deliveries = await service.http.get(f"/webhooks/{sub['subscription_id']}/deliveries",
                                        headers=AS_NATIONAL)
    assert deliveries.status_code == 200 and deliveries.json()["items"] == []

    await service.publish(event(LabelSuspended, cite_id=label.cite_id, motive="Revue absente",
                                decided_by=ActorRole.NATIONAL_COORDINATION, suspended_at=AT))
    assert await send_due(service.runtime) == 3
    assert {m["To"] for m in mails_to(smtp, tag)} == {
        f"{r}.{tag}@example.gouv.fr" for r in ("prefet", "recteur", "maire")}

    # Unless the national coordination asks: then the past is mailed as it would have been
    # (the troïka's acknowledgement and label mails; the chef de file's waits for its
    # alliance), once.
    kept = await service.http.get("/notifications/imported", headers=AS_NATIONAL)
    assert kept.json() == {"kept": 2, "announced": 0, "notifications": 0}
    for headers in (AS_PREFECTURE_69, AS_VIEWER):
        refused = await service.http.post("/notifications/imported/announce", headers=headers)
        assert refused.status_code == 403
    first = await service.http.post("/notifications/imported/announce", headers=AS_NATIONAL)
    again = await service.http.post("/notifications/imported/announce", headers=AS_NATIONAL)
    assert first.json() == {"kept": 0, "announced": 2, "notifications": 6}
    assert again.json() == {"kept": 0, "announced": 0, "notifications": 0}
    assert await send_due(service.runtime) == 6
    assert len(mails_to(smtp, tag)) == 3 + 6
