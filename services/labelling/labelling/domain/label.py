"""The label of a cité: granted for a period, renewed, extended, suspended, withdrawn, expired.

A label lasts a number of whole years (3 by default, a setting) from the decision date,
both ends included. It can be renewed only in a window before its latest period ends (the
last 12 months, data of the wave's rule set: :class:`RenewalWindow`); a renewal adds a new
period starting the day after that one ends, and the current period stays in force until
then — the label keeps every period it was granted, each with its convention. A cité lives
while its label is ``labelled`` or ``suspended``; it ends when the label is withdrawn by
the national coordination or expires the day after its latest period ends. Commands that
find the label already in the state they ask for change nothing (no second event); those
that do not fit its state are refused.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from enum import StrEnum
from uuid import UUID

from cites_contracts.events.labelling import (
    ConventionSigned,
    LabelExpired,
    LabelReinstated,
    LabelRenewed,
    LabelSuspended,
    LabelWithdrawn,
    Perimeter,
    PerimeterAddition,
    PerimeterExtended,
    TerritoryLabelled,
)
from cites_contracts.events.labelling import Wave as WaveRef
from cites_contracts.types import ActorRole, LabelPeriod
from cites_runtime.actor import Actor
from cites_runtime.errors import Conflict, RuleBroken, RuleFailure

from .dossier import Addition, Dossier
from .errors import RenewalOutsideWindow

__all__ = [
    "PROGRAMME_START",
    "HistoryEntry",
    "Label",
    "LabelEvent",
    "LabelStatus",
    "RenewalWindow",
    "Term",
    "Window",
    "check_convention_date",
    "first_period",
    "next_period",
]

PROGRAMME_START = date(2019, 1, 1)

LabelEvent = (TerritoryLabelled | LabelRenewed | PerimeterExtended | ConventionSigned
              | LabelSuspended | LabelReinstated | LabelWithdrawn | LabelExpired)


class LabelStatus(StrEnum):
    LABELLED = "labelled"
    SUSPENDED = "suspended"
    WITHDRAWN = "withdrawn"
    EXPIRED = "expired"


LIVING = (LabelStatus.LABELLED, LabelStatus.SUSPENDED)


def first_period(decided_on: date, years: int) -> LabelPeriod:
    """The period of a new label: ``years`` whole years from the decision date."""
    return LabelPeriod.of_years(decided_on, years)


def next_period(current: LabelPeriod, years: int) -> LabelPeriod:
    """The period of a renewal: from the day after ``current`` ends."""
    return LabelPeriod.of_years(current.end + timedelta(days=1), years)


@dataclass(frozen=True, slots=True)
class Window:
    """Dates between which something may be done, both included."""

    opens_on: date
    closes_on: date

    def contains(self, day: date) -> bool:
        return self.opens_on <= day <= self.closes_on


def _months_earlier(day: date, months: int) -> date:
    """The same day ``months`` months earlier (the month's last day if it has fewer)."""
    years, month0 = divmod(day.month - 1 - months, 12)
    year, month = day.year + years, month0 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


@dataclass(frozen=True, slots=True)
class RenewalWindow:
    """When a label may be renewed: the last ``months`` months of its latest period (rule-set
    data, :mod:`.rules`; e.g. the 2022 cités, labelled until the end of 2024, re-applied
    at the end of 2024 for 2025–2027)."""

    months: int

    def of(self, period: LabelPeriod) -> Window:
        return Window(_months_earlier(period.end + timedelta(days=1), self.months), period.end)


@dataclass(frozen=True, slots=True)
class Term:
    """One period of a label and the signature date of its triennial convention, if
    recorded."""

    period: LabelPeriod
    convention_signed_on: date | None = None

    @property
    def start(self) -> date:
        return self.period.start

    @property
    def end(self) -> date:
        return self.period.end


def check_convention_date(signed_on: date | None, today: date) -> None:
    if signed_on is None:
        return
    if signed_on > today:
        raise RuleBroken.of("convention_signed_on", "convention_not_future",
                            f"the convention cannot be signed on {signed_on}, after today "
                            f"({today})")
    if signed_on < PROGRAMME_START:
        raise RuleBroken.of("convention_signed_on", "convention_in_programme",
                            f"the convention cannot predate the programme ({PROGRAMME_START})")


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    """One line of a cité's history: what happened, when, decided by which role, why."""

    kind: str
    occurred_at: datetime
    actor_role: ActorRole | None = None
    motive: str | None = None
    period: LabelPeriod | None = None
    signed_on: date | None = None
    effective_on: date | None = None
    added: PerimeterAddition | None = None

    @classmethod
    def of(cls, event: LabelEvent) -> HistoryEntry:
        kind = type(event).__name__
        match event:
            case TerritoryLabelled():
                return cls(kind, event.labelled_at, event.decided_by, period=event.label_period,
                           signed_on=event.convention_signed_on)
            case LabelRenewed():
                return cls(kind, event.renewed_at, event.decided_by, period=event.label_period,
                           signed_on=event.convention_signed_on)
            case PerimeterExtended():
                return cls(kind, event.extended_at, event.decided_by, added=event.added)
            case ConventionSigned():
                return cls(kind, event.recorded_at, event.recorded_by, period=event.label_period,
                           signed_on=event.signed_on)
            case LabelSuspended():
                return cls(kind, event.suspended_at, event.decided_by, motive=event.motive)
            case LabelReinstated():
                return cls(kind, event.reinstated_at, event.decided_by, motive=event.motive)
            case LabelWithdrawn():
                return cls(kind, event.withdrawn_at, event.decided_by, motive=event.motive,
                           effective_on=event.effective_on)
            case LabelExpired():
                return cls(kind, event.expired_at, ActorRole.SYSTEM, period=event.label_period)


@dataclass
class Label:
    cite_id: str
    candidature_id: UUID
    name: str
    wave: WaveRef
    departement: str
    perimeter: Perimeter
    lead_college_uai: str
    periods: list[Term]
    """Every period granted, oldest first: the first, then one per renewal."""
    status: LabelStatus
    labelled_at: datetime
    status_changed_at: datetime
    requested_annual_contribution: int

    @property
    def period(self) -> LabelPeriod:
        """The latest period granted (after a renewal, the one to come)."""
        return self.periods[-1].period

    @property
    def convention_signed_on(self) -> date | None:
        """The signature of the latest period's convention."""
        return self.periods[-1].convention_signed_on

    def period_on(self, day: date) -> Term:
        """The period in force on ``day``: the latest one started by then (the first, for a
        day before the label began)."""
        started = [t for t in self.periods if t.start <= day]
        return started[-1] if started else self.periods[0]

    @classmethod
    def grant(cls, *, candidature_id: UUID, cite_id: str, wave: WaveRef, departement: str,
              dossier: Dossier, period: LabelPeriod, convention_signed_on: date | None,
              actor: Actor, now: datetime) -> tuple[Label, TerritoryLabelled]:
        if dossier.lead_college_uai is None:  # submission's rules make this unreachable
            raise Conflict("a label needs a collège chef de file")
        label = cls(cite_id=cite_id, candidature_id=candidature_id,
                    name=dossier.territory_name, wave=wave, departement=departement,
                    perimeter=dossier.perimeter(), lead_college_uai=dossier.lead_college_uai,
                    periods=[Term(period, convention_signed_on)], status=LabelStatus.LABELLED,
                    labelled_at=now, status_changed_at=now,
                    requested_annual_contribution=dossier.requested_annual_contribution)
        return label, TerritoryLabelled(
            cite_id=cite_id, candidature_id=candidature_id, name=label.name, wave=wave,
            departement=departement, perimeter=label.perimeter,
            lead_college_uai=label.lead_college_uai, label_period=period,
            convention_signed_on=convention_signed_on, decided_by=actor.event_role, labelled_at=now,
            requested_annual_contribution=label.requested_annual_contribution,
        )

    # -- national coordination ------------------------------------------------------------
    def renew(self, *, years: int, window: RenewalWindow, convention_signed_on: date | None,
              actor: Actor, today: date, now: datetime) -> LabelRenewed:
        """Grant the next period, from the day after the current one ends; only inside
        ``window`` of the current period (422 naming its dates otherwise), once."""
        self._ensure_labelled("renewed")
        current = self.period
        if current.start > today:
            raise Conflict(f"{self.cite_id} is already renewed for {current.start} – "
                           f"{current.end}")
        dates = window.of(current)
        if not dates.contains(today):
            raise RenewalOutsideWindow(
                f"{self.cite_id} can be renewed only in the last {window.months} "
                f"month{'s' if window.months > 1 else ''} of its period ({current.start} – "
                f"{current.end}): from {dates.opens_on} to {dates.closes_on}; today is {today}",
                dates.opens_on, dates.closes_on)
        check_convention_date(convention_signed_on, today)
        self.periods.append(Term(next_period(current, years), convention_signed_on))
        return LabelRenewed(cite_id=self.cite_id, previous_period=current,
                            label_period=self.period, convention_signed_on=convention_signed_on,
                            decided_by=actor.event_role, renewed_at=now)

    def extend(self, addition: Addition, *, actor: Actor, now: datetime
               ) -> PerimeterExtended | None:
        """Add communes, QPVs and schools; those already in the perimeter are ignored
        (None when nothing is new: a repeated extension changes nothing)."""
        self._ensure_labelled("extended")
        if not (addition.communes or addition.qpvs or addition.schools):
            raise RuleBroken.of("communes", "extension_not_empty",
                                "an extension adds at least one commune, QPV or school")
        failures = [RuleFailure(field="communes", rule="communes_in_departement",
                                message=f"commune {c.insee_code} lies outside département "
                                f"{self.departement}")
                    for c in addition.communes if c.departement != self.departement]
        failures += [RuleFailure(field="qpvs", rule="qpvs_in_departement",
                                 message=f"QPV {q.code} lies outside département "
                                 f"{self.departement}")
                     for q in addition.qpvs if q.departement != self.departement]
        if failures:
            raise RuleBroken(failures)
        p = self.perimeter
        have_communes = {c.insee_code for c in p.communes}
        have_qpvs = {q.code for q in p.qpvs}
        have_schools = {s.uai for s in p.schools}
        new = addition.contract()
        added = PerimeterAddition(
            communes=tuple(c for c in new.communes if c.insee_code not in have_communes),
            qpvs=tuple(q for q in new.qpvs if q.code not in have_qpvs),
            schools=tuple(s for s in new.schools if s.uai not in have_schools),
        )
        if not (added.communes or added.qpvs or added.schools):
            return None
        self.perimeter = Perimeter(communes=p.communes + added.communes,
                                   qpvs=p.qpvs + added.qpvs, schools=p.schools + added.schools)
        return PerimeterExtended(cite_id=self.cite_id, added=added, perimeter=self.perimeter,
                                 decided_by=actor.event_role, extended_at=now)

    def record_convention(self, signed_on: date, *, actor: Actor, today: date, now: datetime
                          ) -> ConventionSigned | None:
        """Record the signature of the latest period's convention (after a renewal, the new
        period's); a repeat is a no-op."""
        if self.status not in LIVING:
            raise Conflict(f"{self.cite_id}'s label is {self.status.value}: no convention to sign")
        if self.convention_signed_on == signed_on:
            return None
        if self.convention_signed_on is not None:
            raise Conflict(f"{self.cite_id}'s convention is already recorded as signed on "
                           f"{self.convention_signed_on}")
        check_convention_date(signed_on, today)
        self.periods[-1] = replace(self.periods[-1], convention_signed_on=signed_on)
        return ConventionSigned(cite_id=self.cite_id, label_period=self.period,
                                signed_on=signed_on, recorded_by=actor.event_role, recorded_at=now)

    def suspend(self, motive: str, *, actor: Actor, now: datetime) -> LabelSuspended | None:
        if self.status is LabelStatus.SUSPENDED:
            return None
        self._ensure_living("suspended")
        self._become(LabelStatus.SUSPENDED, now)
        return LabelSuspended(cite_id=self.cite_id, motive=motive, decided_by=actor.event_role,
                              suspended_at=now)

    def reinstate(self, motive: str | None, *, actor: Actor, now: datetime
                  ) -> LabelReinstated | None:
        if self.status is LabelStatus.LABELLED:
            return None
        self._ensure_living("reinstated")
        self._become(LabelStatus.LABELLED, now)
        return LabelReinstated(cite_id=self.cite_id, motive=motive, decided_by=actor.event_role,
                               reinstated_at=now)

    def withdraw(self, motive: str, *, actor: Actor, today: date, now: datetime
                 ) -> LabelWithdrawn | None:
        if self.status is LabelStatus.WITHDRAWN:
            return None
        self._ensure_living("withdrawn")
        self._become(LabelStatus.WITHDRAWN, now)
        return LabelWithdrawn(cite_id=self.cite_id, motive=motive, effective_on=today,
                              decided_by=actor.event_role, withdrawn_at=now)

    # -- time -------------------------------------------------------------------------------
    def is_due_to_expire(self, today: date) -> bool:
        return self.status in LIVING and self.period.end < today

    def expire(self, *, today: date, now: datetime) -> LabelExpired | None:
        """The day after its period ends, a living label expires (None when not due)."""
        if not self.is_due_to_expire(today):
            return None
        self._become(LabelStatus.EXPIRED, now)
        return LabelExpired(cite_id=self.cite_id, label_period=self.period, expired_at=now)

    # -- helpers ------------------------------------------------------------------------------
    def _become(self, status: LabelStatus, now: datetime) -> None:
        self.status, self.status_changed_at = status, now

    def _ensure_living(self, action: str) -> None:
        if self.status not in LIVING:
            raise Conflict(f"{self.cite_id}'s label is {self.status.value}: it cannot be "
                           f"{action}")

    def _ensure_labelled(self, action: str) -> None:
        self._ensure_living(action)
        if self.status is LabelStatus.SUSPENDED:
            raise Conflict(f"{self.cite_id}'s label is suspended: reinstate it before it is "
                           f"{action}")
