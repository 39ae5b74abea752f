"""The annual revue de projet told to the cité's troïka (in-memory broker, real PostgreSQL):
its opening and deadline; reminders 30 and 7 days before the deadline — once across
replicas, on the territory's day, never for a review submitted (one already queued is
cancelled), never for a day before the review was opened —; and its being overdue."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime
from uuid import UUID, uuid4

from notifications.domain.rules import ExpiryReminder
from notifications.reminders import remind_due
from notifications.sender import send_due
from notifications.service import reminder_id
from notifications_kit import SmtpServer, labelled, mails_to, troika_cards

from cites_contracts.events.labelling import (
    ProjectReviewOpened,
    ProjectReviewOverdue,
    ProjectReviewSubmitted,
    TerritoryLabelled,
)
from cites_contracts.testing import event
from cites_contracts.types import LabelPeriod
from cites_runtime.testing import FakeClock, ServiceUnderTest

DUE_ON = date(2026, 3, 31)
OPENED_AT = datetime(2026, 1, 12, 9, 0, tzinfo=UTC)
TROIKA = ["maire", "prefet", "recteur"]


async def _cite(service: ServiceUnderTest, departement: str = "69",
                territory_name: str = "Vaulx-en-Velin") -> tuple[TerritoryLabelled, str]:
    """A cité labelled 2025–2027, its troïka's cards and candidature consumed first; the
    tag of the troïka's addresses."""
    tag = uuid4().hex[:12]
    cards, submitted = troika_cards(uuid4(), tag, departement=departement,
                                    territory_name=territory_name)
    label = labelled(submitted)
    await service.publish(*cards, submitted, label)
    return label, tag


def _opened(label: TerritoryLabelled, *, year: int = 2025, due_on: date = DUE_ON,
            opened_at: datetime = OPENED_AT) -> ProjectReviewOpened:
    return event(ProjectReviewOpened, review_id=str(uuid4()), cite_id=label.cite_id,
                 departement=label.departement, year=year, due_on=due_on.isoformat(),
                 opened_at=opened_at.isoformat())


def _submitted(opened: ProjectReviewOpened, on: date) -> ProjectReviewSubmitted:
    return event(ProjectReviewSubmitted, review_id=str(opened.review_id),
                 cite_id=opened.cite_id, departement=opened.departement, year=opened.year,
                 due_on=opened.due_on.isoformat(), submitted_on=on.isoformat(), late=False,
                 submitted_at=datetime(on.year, on.month, on.day, 10, tzinfo=UTC).isoformat())


async def _written(service: ServiceUnderTest, template: str) -> list[dict[str, object]]:
    rows = await service.runtime.pool.fetch(
        """SELECT recipient->>'troika_role' AS role, status, cause_type, subject, body_text
           FROM notifications WHERE template = $1 ORDER BY created_at, role""", template)
    return [dict(r) for r in rows]


async def test_the_troika_is_told_the_years_review_is_open_and_when_it_is_due_once(
    service: ServiceUnderTest, smtp: SmtpServer,
) -> None:
    label, tag = await _cite(service)
    opened = service._wrap(_opened(label))
    await service.publish(opened, opened)  # delivered twice

    written = await _written(service, "project-review-opened")
    assert sorted(str(w["role"]) for w in written) == TROIKA
    await send_due(service.runtime)
    [subject] = {m["Subject"] for m in mails_to(smtp, tag)
                 if "revue de projet" in m["Subject"]}
    assert subject == ("Vaulx-en-Velin : revue de projet 2025 à transmettre au plus tard le "
                       "31 mars 2026")
    text = str(written[0]["body_text"])
    assert "revue de projet 2025" in text and "31 mars 2026" in text
    assert label.cite_id not in text and str(opened.data.review_id) not in text


async def test_the_review_is_reminded_30_and_7_days_before_its_deadline_once_across_replicas(
    service: ServiceUnderTest, clock: FakeClock,
) -> None:
    label, _ = await _cite(service)
    await service.publish(_opened(label))
    runtime = service.runtime
    clock.set_date(date(2026, 2, 28))
    assert await remind_due(runtime) == 0
    clock.set_date(date(2026, 3, 1))  # 30 days before
    assert sum(await asyncio.gather(*(remind_due(runtime) for _ in range(3)))) == 3
    assert await remind_due(runtime) == 0
    clock.set_date(date(2026, 3, 24))  # 7 days before
    assert await remind_due(runtime) == 3
    clock.set_date(date(2026, 4, 1))  # past the deadline: overdue is labelling's to say
    assert await remind_due(runtime) == 0

    reminders = await _written(service, "project-review-reminder")
    assert sorted(str(r["role"]) for r in reminders) == sorted(TROIKA * 2)
    assert {r["cause_type"] for r in reminders} == {"notifications.ProjectReviewReminder"}
    assert {r["subject"] for r in reminders} == {
        "Rappel – Vaulx-en-Velin : revue de projet 2025 à transmettre au plus tard le "
        "31 mars 2026"}


async def test_a_submitted_review_is_not_reminded_and_its_queued_reminder_is_cancelled(
    service: ServiceUnderTest, smtp: SmtpServer, clock: FakeClock,
) -> None:
    label, tag = await _cite(service)
    opened = _opened(label)
    await service.publish(opened)
    clock.set_date(date(2026, 3, 1))
    assert await remind_due(service.runtime) == 3  # queued, not sent yet
    await service.publish(_submitted(opened, date(2026, 3, 1)))
    await send_due(service.runtime)
    clock.set_date(date(2026, 3, 24))

    assert await remind_due(service.runtime) == 0
    assert {r["status"] for r in await _written(service, "project-review-reminder")} == {
        "cancelled"}
    assert not [m for m in mails_to(smtp, tag) if m["Subject"].startswith("Rappel")]


async def test_a_review_submitted_before_any_reminder_is_never_reminded(
    service: ServiceUnderTest, clock: FakeClock,
) -> None:
    label, _ = await _cite(service)
    opened = _opened(label)
    await service.publish(opened, _submitted(opened, date(2026, 2, 10)))
    for day in (date(2026, 3, 1), date(2026, 3, 24)):
        clock.set_date(day)
        assert await remind_due(service.runtime) == 0


async def test_no_reminder_is_sent_for_a_day_before_the_review_was_opened(
    service: ServiceUnderTest, clock: FakeClock,
) -> None:
    label, _ = await _cite(service)
    # A campaign opened for a past year: its deadline already gone.
    await service.publish(_opened(label, year=2024, due_on=date(2025, 3, 31),
                                  opened_at=datetime(2025, 6, 2, 9, tzinfo=UTC)))
    # Opened 20 days before its deadline: the 30-day reminder's day is past.
    await service.publish(_opened(label, opened_at=datetime(2026, 3, 11, 9, tzinfo=UTC)))
    counts = []
    for day in (date(2025, 3, 1), date(2025, 6, 2), date(2026, 3, 11), date(2026, 3, 24)):
        clock.set_date(day)
        counts.append(await remind_due(service.runtime))

    assert counts == [0, 0, 0, 3]  # only the 7-day reminder of the second
    assert await service.runtime.pool.fetchval(
        "SELECT count(*) FROM notifications WHERE template = 'project-review-reminder'") == 3


async def test_a_reminder_is_due_on_the_territorys_day(
    service: ServiceUnderTest, clock: FakeClock,
) -> None:
    label, _ = await _cite(service, departement="974", territory_name="Le Port")
    await service.publish(_opened(label))
    clock.now = datetime(2026, 2, 28, 19, 30, tzinfo=UTC)  # 23 h 30 in La Réunion
    before = await remind_due(service.runtime)
    clock.now = datetime(2026, 2, 28, 20, 30, tzinfo=UTC)  # 1 March, 0 h 30 there

    assert (before, await remind_due(service.runtime)) == (0, 3)


async def test_the_troika_is_told_its_review_is_overdue(service: ServiceUnderTest) -> None:
    label, _ = await _cite(service)
    opened = _opened(label)
    await service.publish(opened, event(
        ProjectReviewOverdue, review_id=str(opened.review_id), cite_id=label.cite_id,
        departement=label.departement, year=2025, due_on=DUE_ON.isoformat(),
        noted_at="2026-04-01T02:00:00Z"))

    overdue = await _written(service, "project-review-overdue")
    assert sorted(str(o["role"]) for o in overdue) == TROIKA
    assert overdue[0]["subject"] == (
        "Vaulx-en-Velin : revue de projet 2025 non transmise à l’échéance du 31 mars 2026")


def test_a_label_expiry_reminder_keeps_its_identity_so_none_is_sent_again() -> None:
    """The reminders share one identity scheme; a label-expiry reminder written before it
    was shared has the same id, so a replica upgraded meanwhile does not write it again."""
    facts = ExpiryReminder(cite_id="cite-042", months_before=6, label_period=LabelPeriod(
        start=date(2022, 10, 1), end=date(2025, 9, 30)))
    assert reminder_id(facts) == UUID("bc722479-cdd0-51e7-8cea-025deab77956")
