"""Who is told of what: the notification rules, as data.

Each :class:`Rule` says that one event (type and version of the catalogue) is mailed, with
one template, to one or more groups of recipients. :data:`REMINDERS` are the rules no event
triggers, some time before a deadline: :data:`EXPIRY_REMINDER` before a label ends,
:data:`REVIEW_REMINDER` before a revue de projet is due. The table is listed as is (API,
docs) and tested: its templates exist, its events are in the catalogue, the fields naming
its recipients are in the events.

Who is *in* a group (the troïka's addresses, the chef de file's consenting contacts) is not
decided here: the service finds them in the projection it builds from events.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum
from typing import Final
from uuid import UUID

from cites_contracts.types import CiteId, ContractModel, LabelPeriod

__all__ = [
    "EXPIRY_REMINDER",
    "PARTNER_NAMED_BY",
    "REMINDERS",
    "REVIEW_REMINDER",
    "RULES",
    "ExpiryReminder",
    "RecipientGroup",
    "Reminder",
    "ReminderRule",
    "ReviewReminder",
    "Rule",
    "Unit",
    "months_before",
    "rules_for",
]


class RecipientGroup(StrEnum):
    """Whom a rule writes to."""

    TROIKA = "troika"
    """The préfet, recteur and maire (or EPCI president) who signed the candidature."""
    CHEF_DE_FILE = "chef_de_file"
    """The consenting contacts of the alliance's collège chef de file."""
    NEW_MEMBER = "new_member"
    """The consenting contacts of the partner who joined the alliance."""
    LEAVING_MEMBER = "leaving_member"
    """The consenting contacts of the partner who left the alliance."""
    ALLIANCE_MEMBERS = "alliance_members"
    """The consenting contacts of every member of the cité's alliance."""
    OPERATOR = "operator"
    """The consenting contacts of the partner running a funded action."""
    PAYEE = "payee"
    """The consenting contacts of the partner a payment went to."""


PARTNER_NAMED_BY: Final[dict[RecipientGroup, str]] = {
    RecipientGroup.NEW_MEMBER: "partner_id",
    RecipientGroup.LEAVING_MEMBER: "partner_id",
    RecipientGroup.OPERATOR: "operator_partner_id",
    RecipientGroup.PAYEE: "payee_partner_id",
}
"""The groups that are one partner named by the event, and the event field naming it."""


@dataclass(frozen=True, slots=True)
class Rule:
    """An event of the catalogue, mailed with ``template`` to each of ``recipients``."""

    event_type: str
    version: int
    template: str
    recipients: tuple[RecipientGroup, ...]
    why: str


class Unit(StrEnum):
    """What a reminder's delays count."""

    MONTHS = "months"
    DAYS = "days"

    def before(self, day: date, n: int) -> date:
        """The day ``n`` of these before ``day``."""
        return months_before(day, n) if self is Unit.MONTHS else day - timedelta(days=n)


@dataclass(frozen=True, slots=True)
class ReminderRule:
    """A mail no event triggers: each of ``before`` (``unit``) ahead of a deadline; its
    notifications' cause is ``cause_type``, the calendar."""

    template: str
    recipients: tuple[RecipientGroup, ...]
    before: tuple[int, ...]
    unit: Unit
    cause_type: str
    why: str

    def due_dates(self, deadline: date) -> list[tuple[int, date]]:
        """Each reminder of ``deadline`` as (its delay, the day it is due)."""
        return [(n, self.unit.before(deadline, n)) for n in self.before]

    def due(self, deadline: date, today: date, *, told_on: date | None = None) -> int | None:
        """The delay of the reminder due ``today``: the latest whose day has come, until
        the deadline (one missed while the service was down is not sent once a later one
        is due); none whose day is not after ``told_on`` (the day the recipients were told
        of the deadline: no reminder of a day past)."""
        due = [n for n, day in self.due_dates(deadline)
               if day <= today <= deadline and (told_on is None or day > told_on)]
        return min(due) if due else None


class ExpiryReminder(ContractModel):
    """The facts of a label-expiry reminder: what its template reads as ``event``."""

    cite_id: CiteId
    label_period: LabelPeriod
    months_before: int

    @property
    def key(self) -> str:
        """Its identity, the same whoever computes it: the cité, the period, the delay."""
        period = self.label_period
        return f"{self.cite_id}/{period.start}/{period.end}/{self.months_before}"


class ReviewReminder(ContractModel):
    """The facts of a revue de projet's deadline reminder: what its template reads as
    ``event`` (never its ids)."""

    review_id: UUID
    cite_id: CiteId
    year: int
    due_on: date
    days_before: int

    @property
    def key(self) -> str:
        """Its identity, the same whoever computes it: the review, the delay."""
        return f"review/{self.review_id}/{self.days_before}"


Reminder = ExpiryReminder | ReviewReminder
"""The facts of a reminder the calendar causes."""


_T, _C = RecipientGroup.TROIKA, RecipientGroup.CHEF_DE_FILE

RULES: Final[tuple[Rule, ...]] = (
    # --- labelling: candidatures --------------------------------------------------------
    # Version 1 (retired) has no rule: replaying history must not acknowledge it again.
    # Version 2 (retired) is upcast to 3 by the contracts: its records are mailed as 3.
    Rule("labelling.CandidatureSubmitted", 3, "candidature-received", (_T,),
         "The troïka is told its candidature was received (an acknowledgement)."),
    Rule("labelling.CandidatureRejected", 1, "candidature-rejected", (_T,),
         "The troïka is told its candidature was not selected, and why."),
    # --- labelling: labels ----------------------------------------------------------------
    Rule("labelling.TerritoryLabelled", 2, "cite-labelled", (_T, _C),
         "The troïka and the lead collège are told the territory is a cité éducative."),
    Rule("labelling.LabelSuspended", 1, "label-suspended", (_T,),
         "The troïka is told the label is suspended, and why."),
    Rule("labelling.LabelReinstated", 1, "label-reinstated", (_T,),
         "The troïka is told a suspended label is active again."),
    Rule("labelling.LabelWithdrawn", 1, "label-withdrawn", (_T,),
         "The troïka is told the label is withdrawn, from when, and why."),
    Rule("labelling.LabelExpired", 1, "label-expired", (_T,),
         "The troïka is told the label period ended without renewal."),
    Rule("labelling.RenewalApplied", 1, "renewal-applied", (_T,),
         "The troïka is told its re-application was received and the label lasts until "
         "it is decided."),
    Rule("labelling.RenewalRefused", 1, "renewal-refused", (_T,),
         "The troïka is told the label is not renewed, why, and when it ends."),
    # --- labelling: revues de projet -------------------------------------------------------
    Rule("labelling.ProjectReviewOpened", 1, "project-review-opened", (_T,),
         "The troïka is told the year's revue de projet is open, and by when it is due."),
    Rule("labelling.ProjectReviewOverdue", 1, "project-review-overdue", (_T,),
         "The troïka is told its revue de projet was not submitted by the deadline."),
    # --- partners: alliances --------------------------------------------------------------
    Rule("partners.AllianceOpened", 1, "alliance-opened", (_C,),
         "The chef de file is told the alliance it leads is open."),
    Rule("partners.PartnerJoinedAlliance", 1, "partner-joined-alliance",
         (_C, RecipientGroup.NEW_MEMBER),
         "The chef de file and the new member are told the partner joined the alliance."),
    Rule("partners.PartnerLeftAlliance", 1, "partner-left-alliance",
         (_C, RecipientGroup.LEAVING_MEMBER),
         "The chef de file and the member who left are told the partner left the alliance."),
    Rule("partners.AllianceClosed", 1, "alliance-closed", (RecipientGroup.ALLIANCE_MEMBERS,),
         "Every member is told the alliance is closed (label withdrawn or expired)."),
    Rule("partners.ChefDeProjetAppointed", 1, "chef-de-projet-appointed", (_T,),
         "The troïka is told the chef de projet opérationnel post has a new holder, from "
         "when."),
    Rule("partners.ChefDeProjetPostVacated", 1, "chef-de-projet-post-vacated", (_T,),
         "The troïka is told the chef de projet opérationnel post is vacant, since when: a "
         "successor is to be appointed."),
    # --- funding: allocations -------------------------------------------------------------
    Rule("funding.FundsAllocated", 1, "funds-allocated", (_T, _C),
         "The troïka and the chef de file are told the cité's yearly dotation."),
    Rule("funding.FondsDeLaCiteGranted", 1, "fonds-de-la-cite-granted", (_T, _C),
         "The troïka and the chef de file are told the fonds de la cité placed with it."),
    Rule("funding.FundsCommitted", 1, "funds-committed", (RecipientGroup.OPERATOR,),
         "The operator is told money is committed to its action."),
    Rule("funding.PaymentMade", 1, "payment-made", (RecipientGroup.PAYEE,),
         "The payee is told a payment was made to it."),
    Rule("funding.RecoveryOrdered", 1, "recovery-ordered", (RecipientGroup.PAYEE,),
         "The operator is told it is ordered to repay part of a subsidy, how much and why."),
    Rule("funding.FundsFrozen", 1, "funds-frozen", (_T,),
         "The troïka is told what the cité had not committed is frozen."),
)
"""Every event that notifies, in the order a cité lives them."""

EXPIRY_REMINDER: Final = ReminderRule(
    "label-expiry-reminder", (_T,), (6, 1), Unit.MONTHS, "notifications.LabelExpiryReminder",
    "The troïka is reminded 6 months and 1 month before the label ends, to prepare its "
    "renewal.",
)

REVIEW_REMINDER: Final = ReminderRule(
    "project-review-reminder", (_T,), (30, 7), Unit.DAYS,
    "notifications.ProjectReviewReminder",
    "The troïka is reminded 30 days and 7 days before its revue de projet is due, unless "
    "it was submitted.",
)

REMINDERS: Final[tuple[ReminderRule, ...]] = (EXPIRY_REMINDER, REVIEW_REMINDER)
"""Every mail the calendar causes."""

_BY_EVENT: Final[dict[tuple[str, int], list[Rule]]] = {}
for _rule in RULES:
    _BY_EVENT.setdefault((_rule.event_type, _rule.version), []).append(_rule)


def rules_for(event_type: str, version: int) -> list[Rule]:
    """The rules an event triggers; none for an event nobody is told of."""
    return list(_BY_EVENT.get((event_type, version), ()))


def months_before(day: date, months: int) -> date:
    """The same day ``months`` earlier, or that month's last day (31 August → 28 February)."""
    year, month = divmod(day.year * 12 + day.month - 1 - months, 12)
    last = calendar.monthrange(year, month + 1)[1]
    return date(year, month + 1, min(day.day, last))
