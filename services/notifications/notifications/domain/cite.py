"""A cité as notifications knows it from labelling's events: its name, candidature and
département, its label's status and period, and the expiry reminder due for it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from uuid import UUID

from cites_contracts.types import LabelPeriod

from .rules import EXPIRY_REMINDER, ExpiryReminder

__all__ = ["Cite", "CiteStatus"]


class CiteStatus(StrEnum):
    """Its label's status, from ``TerritoryLabelled``, ``LabelRenewed`` (active) and the
    label's suspension, reinstatement, withdrawal and expiry."""

    ACTIVE = "active"
    SUSPENDED = "suspended"
    WITHDRAWN = "withdrawn"
    EXPIRED = "expired"


@dataclass(frozen=True, slots=True)
class Cite:
    cite_id: str
    candidature_id: UUID
    name: str
    departement: str
    lead_college_uai: str
    label_end: date
    status: CiteStatus
    label_start: date | None = None
    """None for a cité projected before the label's start was kept: no reminder for it."""

    def reminder_due(self, today: date) -> ExpiryReminder | None:
        """The label-expiry reminder due ``today``: the latest of the rule's delays whose
        day has come, until the label's last day (a reminder missed while the service was
        down is not sent once a later one is due); none for a label not active."""
        if self.status is not CiteStatus.ACTIVE or self.label_start is None:
            return None
        period = LabelPeriod(start=self.label_start, end=self.label_end)
        months = EXPIRY_REMINDER.due(period.end, today)
        if months is None:
            return None
        return ExpiryReminder(cite_id=self.cite_id, label_period=period, months_before=months)
