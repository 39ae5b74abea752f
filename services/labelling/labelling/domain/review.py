"""The annual revue de projet: every cité labelled during a year reviews it for the national
coordination.

The coordination opens a year's campaign with its deadline (:class:`Campaign`); each cité
whose label covers part of that year gets a :class:`Review`. The cité's préfecture (the
referent's channel) fills it — the operational review, the updated action plan, the
commune's contribution, the convention's indicators —, records the troïka's validation
(préfet, recteur, and the maire or the EPCI's president), then submits it. The money of the
year is never typed: it is what funding's events said (:class:`Money`, kept by the
consumer), frozen in the review when it is submitted. A review not submitted by its
deadline is noted overdue once; it may still be submitted, late.

Business dates (validations, submission) are stated or today, never in the future and never
before the reviewed year began; a submission is not before the validations it follows.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from uuid import UUID, uuid4

from cites_contracts.events.funding import (
    AllocationRevised,
    CoFinancingDeclared,
    CommitmentCancelled,
    FondsDeLaCiteGranted,
    FundsAllocated,
    FundsCommitted,
    FundsReleased,
    PastSpendingImported,
    PaymentMade,
    RecoveryOrdered,
)
from cites_contracts.events.labelling import (
    ProjectReviewOpened,
    ProjectReviewOverdue,
    ProjectReviewSubmitted,
    ProjectReviewValidated,
    ReviewAction,
    ReviewIndicator,
    ReviewMoney,
    TroikaValidation,
)
from cites_contracts.types import TroikaRole
from cites_runtime.actor import Actor
from cites_runtime.errors import Conflict, RuleBroken

from .label import check_business_date

__all__ = ["FUNDING_EVENTS", "Campaign", "Content", "Counted", "FundingEvent", "IndicatorSummary",
           "Money", "Review", "ReviewStatus", "Synthesis", "Tally", "counted"]


class ReviewStatus(StrEnum):
    OPEN = "open"
    """Opened, being filled (again, after a change to validated content)."""
    VALIDATED = "validated"
    SUBMITTED = "submitted"


@dataclass(frozen=True, slots=True)
class Campaign:
    """A year's campaign: the reviews it opened are due by ``due_on``."""

    year: int
    due_on: date
    opened_at: datetime

    @classmethod
    def open(cls, year: int, due_on: date, now: datetime) -> Campaign:
        """A deadline within the reviewed year or the next (a review looks back on its
        year, and decides the next one's money)."""
        if not date(year, 1, 1) <= due_on <= date(year + 1, 12, 31):
            raise RuleBroken.of("due_on", "review_deadline_in_range",
                                f"the {year} reviews are due in {year} or {year + 1}, not "
                                f"on {due_on}")
        return cls(year, due_on, now)

    def ensure_same_deadline(self, due_on: date) -> None:
        if due_on != self.due_on:
            raise Conflict(f"the {self.year} campaign is due on {self.due_on}, not {due_on}: "
                           "a campaign keeps the deadline it was opened with")


@dataclass(frozen=True, slots=True)
class Money:
    """A cité's money of one budget year, summed from funding's events (cents)."""

    allocated: int = 0
    fonds: int = 0
    committed: int = 0
    paid: int = 0
    ordered_back: int = 0
    cofinancing: int = 0

    def contract(self) -> ReviewMoney:
        return ReviewMoney(allocated=self.allocated, fonds=self.fonds,
                           committed=self.committed, paid=self.paid,
                           ordered_back=self.ordered_back, cofinancing=self.cofinancing)


@dataclass(frozen=True, slots=True)
class Content:
    """What the cité writes in its review."""

    operational_review: str
    actions: tuple[ReviewAction, ...]
    commune_contribution: int
    indicators: tuple[ReviewIndicator, ...] = ()

    def __post_init__(self) -> None:
        if not self.actions:
            raise RuleBroken.of("actions", "review_action_plan",
                                "a review's updated action plan holds at least one action")
        codes = [i.code for i in self.indicators]
        if len(set(codes)) != len(codes):
            raise RuleBroken.of("indicators", "review_indicator_once",
                                "each indicator of the protocol is measured once in a review")


_MAYORS = {TroikaRole.MAIRE, TroikaRole.PRESIDENT_EPCI}


@dataclass
class Review:
    review_id: UUID
    cite_id: str
    departement: str
    year: int
    due_on: date
    status: ReviewStatus
    opened_at: datetime
    updated_at: datetime
    content: Content | None = None
    validations: tuple[TroikaValidation, ...] = ()
    submitted_on: date | None = None
    money: Money | None = None
    """Frozen at submission; before, the consumer's running figures are shown."""
    overdue_noted_at: datetime | None = None

    @property
    def late(self) -> bool:
        return self.submitted_on is not None and self.submitted_on > self.due_on

    def overdue_on(self, today: date) -> bool:
        """Past its deadline and not submitted."""
        return self.status is not ReviewStatus.SUBMITTED and today > self.due_on

    @classmethod
    def open(cls, *, cite_id: str, departement: str, campaign: Campaign, actor: Actor,
             now: datetime) -> tuple[Review, ProjectReviewOpened]:
        review = cls(review_id=uuid4(), cite_id=cite_id, departement=departement,
                     year=campaign.year, due_on=campaign.due_on, status=ReviewStatus.OPEN,
                     opened_at=now, updated_at=now)
        return review, ProjectReviewOpened(
            review_id=review.review_id, cite_id=cite_id, departement=departement,
            year=campaign.year, due_on=campaign.due_on, opened_by=actor.event_role,
            opened_at=now)

    def fill(self, content: Content, *, now: datetime) -> None:
        """Write (again) the review's content; a change after the troïka validated it needs
        their validation again. A submitted review is the coordination's: 409."""
        self._ensure_not_submitted("changed")
        if content == self.content:
            return
        self.content, self.validations = content, ()
        self.status, self.updated_at = ReviewStatus.OPEN, now

    def validate(self, validations: tuple[TroikaValidation, ...], *, actor: Actor,
                 today: date, now: datetime) -> ProjectReviewValidated | None:
        """Record the troïka's validation of the content as it is: the préfet, the recteur,
        and the maire or the EPCI's president, each once, each on a business date."""
        self._ensure_not_submitted("validated")
        if self.content is None:
            raise Conflict(f"the {self.year} review of {self.cite_id} has no content yet: "
                           "fill it before the troïka validates it")
        roles = [v.role for v in validations]
        if (len(set(roles)) != len(roles) or len(_MAYORS & set(roles)) != 1
                or not {TroikaRole.PREFET, TroikaRole.RECTEUR} <= set(roles)):
            raise RuleBroken.of("validations", "review_troika",
                                "a review is validated by the préfet, the recteur, and the "
                                "maire or the EPCI's president, each once")
        for v in validations:
            check_business_date(v.validated_on, "validated_on", "review_validation",
                                today=today, not_before=date(self.year, 1, 1),
                                what=f"the year {self.year} began")
        if self.status is ReviewStatus.VALIDATED and set(validations) == set(self.validations):
            return None
        self.validations, self.status, self.updated_at = validations, ReviewStatus.VALIDATED, now
        return ProjectReviewValidated(review_id=self.review_id, cite_id=self.cite_id,
                                      year=self.year, validations=validations,
                                      recorded_by=actor.event_role, validated_at=now)

    def submit(self, money: Money, *, submitted_on: date, actor: Actor, today: date,
               now: datetime) -> ProjectReviewSubmitted:
        """Send the validated review to the coordination with the year's money as funding
        told it; late when after the deadline."""
        self._ensure_not_submitted("submitted again")
        if self.status is not ReviewStatus.VALIDATED or self.content is None:
            raise Conflict(f"the {self.year} review of {self.cite_id} is not validated by the "
                           "troïka: record their validation before submitting it")
        check_business_date(submitted_on, "submitted_on", "review_submission", today=today,
                            not_before=max(v.validated_on for v in self.validations),
                            what="the troïka's validation")
        self.status, self.submitted_on, self.money = ReviewStatus.SUBMITTED, submitted_on, money
        self.updated_at = now
        c = self.content
        return ProjectReviewSubmitted(
            review_id=self.review_id, cite_id=self.cite_id, departement=self.departement,
            year=self.year, due_on=self.due_on, submitted_on=submitted_on, late=self.late,
            actions=c.actions, money=money.contract(),
            commune_contribution=c.commune_contribution, indicators=c.indicators,
            submitted_by=actor.event_role, submitted_at=now)

    def note_overdue(self, *, today: date, now: datetime) -> ProjectReviewOverdue | None:
        """Once, the day after the deadline, if not submitted by then."""
        if not self.overdue_on(today) or self.overdue_noted_at is not None:
            return None
        self.overdue_noted_at = now
        return ProjectReviewOverdue(review_id=self.review_id, cite_id=self.cite_id,
                                    departement=self.departement, year=self.year,
                                    due_on=self.due_on, noted_at=now)

    def _ensure_not_submitted(self, what: str) -> None:
        if self.status is ReviewStatus.SUBMITTED:
            raise Conflict(f"the {self.year} review of {self.cite_id} was submitted on "
                           f"{self.submitted_on}: it cannot be {what}")


FundingEvent = (FundsAllocated | AllocationRevised | FundsReleased | FondsDeLaCiteGranted
                | FundsCommitted | CommitmentCancelled | PaymentMade | PastSpendingImported
                | RecoveryOrdered | CoFinancingDeclared)
"""Funding's events that move a cité's money of a year (``funding.allocations``)."""

FUNDING_EVENTS: tuple[type[FundingEvent], ...] = (
    FundsAllocated, AllocationRevised, FundsReleased, FondsDeLaCiteGranted, FundsCommitted,
    CommitmentCancelled, PaymentMade, PastSpendingImported, RecoveryOrdered,
    CoFinancingDeclared)


@dataclass(frozen=True, slots=True)
class Counted:
    """What one of funding's events adds to a cité's money of a year: ``deltas`` (a
    :class:`Money` field → signed cents) in ``year``, or in the year of the allocation or
    commitment ``year_of`` names; ``remember``: an allocation or commitment whose year is
    that one from now on."""

    cite_id: str
    deltas: dict[str, int]
    year: int | None = None
    year_of: UUID | None = None
    remember: UUID | None = None


def counted(event: FundingEvent) -> list[Counted]:
    """The money an event of funding moves, by budget year: an allocation and its
    revisions and releases count as allocated in its year, a commitment and what follows
    it (cancellation, payments, orders to repay) in its allocation's year; what a
    dotation of a year before the platform committed and paid, taken over from the
    programme's records, as committed and paid in that year (part of it from the frozen
    remainder or not: committed all the same, as funding's ledger has it)."""
    c = event.cite_id
    match event:
        case FundsAllocated():
            return [Counted(c, {"allocated": event.amount}, year=event.year,
                            remember=event.allocation_id)]
        case AllocationRevised():
            return [Counted(c, {"allocated": event.amount - event.previous_amount},
                            year=event.year)]
        case FundsReleased():
            return [Counted(c, {"allocated": -r.amount}, year_of=r.allocation_id)
                    for r in event.released]
        case FondsDeLaCiteGranted():
            return [Counted(c, {"fonds": event.amount}, year=event.year)]
        case FundsCommitted():
            return [Counted(c, {"committed": event.amount}, year_of=event.allocation_id,
                            remember=event.commitment_id)]
        case CommitmentCancelled():
            return [Counted(c, {"committed": -event.returned}, year_of=event.allocation_id)]
        case PaymentMade():
            return [Counted(c, {"paid": event.amount}, year_of=event.allocation_id)]
        case PastSpendingImported():
            return [Counted(c, {"committed": event.committed, "paid": event.paid},
                            year=event.year)]
        case RecoveryOrdered():
            return [Counted(c, {"ordered_back": event.amount}, year_of=event.commitment_id)]
        case CoFinancingDeclared():
            return [Counted(c, {"cofinancing": event.amount}, year=event.year)]


@dataclass(frozen=True, slots=True)
class Tally:
    """Actions counted and their cost (cents)."""

    count: int = 0
    cost: int = 0

    def plus(self, cost: int) -> Tally:
        return Tally(self.count + 1, self.cost + cost)


@dataclass(frozen=True, slots=True)
class IndicatorSummary:
    """One indicator of the protocol across the cités that measured it."""

    code: str
    label: str
    unit: str | None
    cites: int
    total: Decimal
    minimum: Decimal
    maximum: Decimal

    @property
    def mean(self) -> Decimal:
        """To 4 decimals, a half away from zero (as PostgreSQL's ``round`` does)."""
        return (self.total / self.cites).quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP)


@dataclass(frozen=True, slots=True)
class Synthesis:
    """A year's national synthesis: how many reviews were due, submitted (late or not),
    overdue; and, over the submitted ones, the money they report, the commune's
    contribution, the actions by objective, theme and age group, the indicators by code."""

    year: int
    due_on: date
    reviews: int
    submitted: int
    submitted_late: int
    overdue: int
    """Past the deadline and still not submitted."""
    money: Money
    commune_contribution: int
    actions: Tally
    by_objective: dict[str, Tally]
    by_theme: dict[str, Tally]
    by_age_group: dict[str, Tally]
    indicators: list[IndicatorSummary]

    @classmethod
    def of(cls, campaign: Campaign, reviews: list[Review], today: date) -> Synthesis:
        done = [r for r in reviews if r.status is ReviewStatus.SUBMITTED]
        money = Money(**{f: sum(getattr(r.money, f) for r in done if r.money)
                         for f in Money.__dataclass_fields__})
        actions = [a for r in done if r.content for a in r.content.actions]
        return cls(
            year=campaign.year, due_on=campaign.due_on, reviews=len(reviews),
            submitted=len(done), submitted_late=sum(r.late for r in done),
            overdue=sum(r.overdue_on(today) for r in reviews),
            money=money,
            commune_contribution=sum(r.content.commune_contribution for r in done
                                     if r.content),
            actions=Tally(len(actions), sum(a.cost for a in actions)),
            by_objective=_tally(actions, lambda a: a.objective.value),
            by_theme=_tally(actions, lambda a: a.theme.value),
            by_age_group=_tally(actions, lambda a: a.age_group.value),
            indicators=_indicators([i for r in done if r.content for i in r.content.indicators]))


def _tally(actions: list[ReviewAction], key: Callable[[ReviewAction], str]
           ) -> dict[str, Tally]:
    tallies: dict[str, Tally] = {}
    for a in actions:
        tallies[key(a)] = tallies.get(key(a), Tally()).plus(a.cost)
    return dict(sorted(tallies.items()))


def _indicators(measures: list[ReviewIndicator]) -> list[IndicatorSummary]:
    by_code: dict[str, list[ReviewIndicator]] = {}
    for m in measures:
        by_code.setdefault(m.code, []).append(m)
    return [IndicatorSummary(code=code, label=ms[0].label, unit=ms[0].unit, cites=len(ms),
                             total=sum((m.value for m in ms), Decimal(0)),
                             minimum=min(m.value for m in ms),
                             maximum=max(m.value for m in ms))
            for code, ms in sorted(by_code.items())]
