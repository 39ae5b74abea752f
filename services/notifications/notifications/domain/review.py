"""A cité's revue de projet as notifications knows it from labelling's events: the year it
reviews, its deadline, when it was opened and whether it was submitted — and the deadline
reminder due for it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from uuid import UUID
from zoneinfo import ZoneInfo

from cites_contracts.types import time_zone_of

from .rules import REVIEW_REMINDER, ReviewReminder

__all__ = ["Review"]


@dataclass(frozen=True, slots=True)
class Review:
    review_id: UUID
    cite_id: str
    departement: str
    year: int
    due_on: date
    opened_at: datetime | None
    """None when only its submission was consumed: no reminder for it."""
    submitted_on: date | None = None

    def reminder_due(self, now: datetime) -> ReviewReminder | None:
        """The deadline reminder due at ``now``, the territory's day: the latest of the
        rule's delays whose day has come, until the deadline, and after the day the review
        was opened (its opening told the deadline: no reminder of a day past, none for a
        deadline already gone); none once it was submitted."""
        if self.submitted_on is not None or self.opened_at is None:
            return None
        days = REVIEW_REMINDER.due(self.due_on, self._day_of(now),
                                   told_on=self._day_of(self.opened_at))
        return None if days is None else self._reminder(days)

    def reminders(self) -> list[ReviewReminder]:
        """Every reminder the rule may write for it (those to cancel once submitted)."""
        return [self._reminder(days) for days in REVIEW_REMINDER.before]

    def _reminder(self, days: int) -> ReviewReminder:
        return ReviewReminder(review_id=self.review_id, cite_id=self.cite_id, year=self.year,
                              due_on=self.due_on, days_before=days)

    def _day_of(self, moment: datetime) -> date:
        return moment.astimezone(ZoneInfo(time_zone_of(self.departement))).date()
