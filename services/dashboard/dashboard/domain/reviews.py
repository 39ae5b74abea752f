"""The revues de projet as the dashboard counts them: pure rules over what labelling's
events told, no I/O.

A review is due by its deadline (``due_on``). Submitted, it is on time or late as
labelling said (``late``: after the deadline). Not submitted, it is overdue from the day
after its deadline by the dashboard's today — exact before labelling's daily check notes
it (``ProjectReviewOverdue`` only records that) — and pending until then.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from enum import StrEnum

from pydantic import BaseModel

__all__ = ["ReviewStanding", "ReviewYear", "review_years", "standing"]


class ReviewStanding(StrEnum):
    PENDING = "pending"
    ON_TIME = "on_time"
    LATE = "late"
    OVERDUE = "overdue"


def standing(due_on: date, late: bool | None, today: date) -> ReviewStanding:
    """Where a review stands ``today``; ``late`` is None while it is not submitted."""
    if late is not None:
        return ReviewStanding.LATE if late else ReviewStanding.ON_TIME
    return ReviewStanding.OVERDUE if today > due_on else ReviewStanding.PENDING


class ReviewYear(BaseModel):
    """A year's reviews: every one due (opened), and how each stands — submitted on time,
    submitted late, overdue, pending (the four add up to ``due``)."""

    year: int
    due: int = 0
    submitted_on_time: int = 0
    submitted_late: int = 0
    overdue: int = 0
    pending: int = 0

    def count(self, s: ReviewStanding, n: int) -> None:
        self.due += n
        match s:
            case ReviewStanding.ON_TIME:
                self.submitted_on_time += n
            case ReviewStanding.LATE:
                self.submitted_late += n
            case ReviewStanding.OVERDUE:
                self.overdue += n
            case ReviewStanding.PENDING:
                self.pending += n


def review_years(counts: Iterable[tuple[int, date, bool | None, int]], today: date
                 ) -> list[ReviewYear]:
    """One line per year, oldest first, from how many reviews share a (year, deadline,
    ``late`` — None when not submitted)."""
    years: dict[int, ReviewYear] = {}
    for year, due_on, late, n in counts:
        years.setdefault(year, ReviewYear(year=year)).count(standing(due_on, late, today), n)
    return [years[y] for y in sorted(years)]
