"""The label of a cité: granted for a period, renewed, extended, suspended, withdrawn, expired.

Two times: each decision carries the date it takes effect in the programme (its business
date: ``decided_on``, ``effective_on``, a convention's ``signed_on`` — stated by the
national coordination, today by default, never in the future), while the service records
when it learnt it (``labelled_at``, ``status_changed_at``). Business dates are checked
against each other: nothing before the programme began, a decision not before the filing
it decides, a convention not before the decision, a suspension or reinstatement not
before the status it changes.

A label's period follows its wave's rule (:class:`LabelTerm`, rule-set data): whole
calendar years for the waves that used them (from 1 January of the decision's year, or
of the next year when decided from September: the 2019 cités, announced on 5 September
2019, were labelled for 2020–2022), or a number of whole years from the decision date. It
can be renewed only in a window before its latest period ends (the last 12 months, data of
the wave's rule set: :class:`RenewalWindow`), judged on the renewal's business date; a
renewal adds a new period starting the day after that one ends, and the current period
stays in force until then — the label keeps every period it was granted, each with its
convention. A cité lives while its label is ``labelled`` or ``suspended``; it ends when
the label is withdrawn by the national coordination or expires the day after its latest
period ends. Commands that find the label already in the state they ask for change
nothing (no second event); those that do not fit its state are refused.
"""
from __future__ import annotations

import calendar
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from enum import StrEnum
from uuid import UUID

from cites_contracts.events.labelling import (
    ConventionAmended,
    ConventionSignatory,
    ConventionSigned,
    LabelExpired,
    LabelReinstated,
    LabelRenewed,
    LabelSuspended,
    LabelWithdrawn,
    Perimeter,
    PerimeterAddition,
    PerimeterExtended,
    RenewalApplied,
    RenewalRefused,
    TerritoryLabelled,
)
from cites_contracts.events.labelling import Wave as WaveRef
from cites_contracts.types import ActorRole, ConventionParty, LabelPeriod, QpvList, qpv_list_of
from cites_runtime.actor import Actor
from cites_runtime.errors import Conflict, RuleBroken, RuleFailure

from .dossier import Addition, Dossier, NewPerimeter
from .errors import RenewalOutsideWindow

__all__ = [
    "PROGRAMME_START",
    "Amendment",
    "HistoryEntry",
    "Label",
    "LabelEvent",
    "LabelStatus",
    "LabelTerm",
    "RenewalWindow",
    "Term",
    "Window",
    "check_business_date",
    "check_convention_date",
    "first_period",
    "next_period",
]

PROGRAMME_START = date(2019, 1, 1)

LabelEvent = (TerritoryLabelled | LabelRenewed | PerimeterExtended | ConventionSigned
              | ConventionAmended | LabelSuspended | LabelReinstated | LabelWithdrawn | LabelExpired
              | RenewalApplied | RenewalRefused)


class LabelStatus(StrEnum):
    LABELLED = "labelled"
    SUSPENDED = "suspended"
    WITHDRAWN = "withdrawn"
    EXPIRED = "expired"


LIVING = (LabelStatus.LABELLED, LabelStatus.SUSPENDED)


@dataclass(frozen=True, slots=True)
class LabelTerm:
    """How long a label granted on a given day lasts (rule-set data, :mod:`.rules`):
    ``years`` whole calendar years when ``calendar``, starting on 1 January of the
    decision's year, or of the next year for a decision on or after ``next_year_from``
    (month, day); otherwise ``years`` whole years from the decision date, both ends
    included."""

    calendar: bool
    next_year_from: tuple[int, int] = (9, 1)

    def period(self, decided_on: date, years: int) -> LabelPeriod:
        if not self.calendar:
            return first_period(decided_on, years)
        first = decided_on.year + ((decided_on.month, decided_on.day) >= self.next_year_from)
        return LabelPeriod(start=date(first, 1, 1), end=date(first + years - 1, 12, 31))


def first_period(decided_on: date, years: int) -> LabelPeriod:
    """``years`` whole years from the decision date (a :class:`LabelTerm` not in calendar
    years)."""
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
class Amendment:
    """An amendment (avenant) to a period's convention."""

    number: int
    signed_on: date
    object: str


@dataclass(frozen=True, slots=True)
class Term:
    """One period of a label, the signature date of its triennial convention and its
    signatories if recorded, and the convention's amendments."""

    period: LabelPeriod
    convention_signed_on: date | None = None
    signatories: tuple[ConventionSignatory, ...] = ()
    amendments: tuple[Amendment, ...] = ()

    @property
    def start(self) -> date:
        return self.period.start

    @property
    def end(self) -> date:
        return self.period.end


def check_business_date(day: date, field: str, rule: str, *, today: date, not_before: date,
                        what: str) -> None:
    """A business date is not in the future, not before the programme began, and not
    before ``not_before`` (what it follows: ``what`` names it in the 422). The rules are
    named ``<rule>_not_future``, ``<rule>_in_programme`` and ``<rule>_in_order``."""
    if day > today:
        raise RuleBroken.of(field, f"{rule}_not_future",
                            f"{field} cannot be {day}, after today ({today})")
    if day < PROGRAMME_START:
        raise RuleBroken.of(field, f"{rule}_in_programme",
                            f"{field} cannot be {day}, before the programme began "
                            f"({PROGRAMME_START})")
    if day < not_before:
        raise RuleBroken.of(field, f"{rule}_in_order",
                            f"{field} cannot be {day}, before {what} ({not_before})")


def check_convention_date(signed_on: date | None, today: date, decided_on: date) -> None:
    """A convention is signed once the label is decided, never before, nor in the future."""
    if signed_on is not None:
        check_business_date(signed_on, "convention_signed_on", "convention", today=today,
                            not_before=decided_on, what="the decision it follows")


_SIGN_ONCE = (ConventionParty.PREFET, ConventionParty.RECTEUR, ConventionParty.COLLECTIVITE)


def _check_signatories(signatories: tuple[ConventionSignatory, ...]) -> None:
    """A convention-cadre is signed by the préfet, the recteur and the collectivité, each
    once; other partners may sign it too."""
    parties = [s.party for s in signatories]
    if any(parties.count(p) != 1 for p in _SIGN_ONCE):
        raise RuleBroken.of("signatories", "convention_signatories",
                            "a convention-cadre is signed by the préfet, the recteur and the "
                            "collectivité, each once (others may sign too)")


def _check_stated(period: LabelPeriod, following: LabelPeriod) -> None:
    """A period the coordination states for a renewal follows the current one without a
    gap and lasts no longer than a label (``following``: the default one)."""
    if period.start != following.start:
        raise RuleBroken.of("period", "period_follows",
                            f"a renewed period starts on {following.start}, the day after "
                            f"the current one ends, not on {period.start}")
    if period.end > following.end:
        raise RuleBroken.of("period", "period_length",
                            f"a renewed period ends on {following.end} at the latest, not "
                            f"on {period.end}")


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    """One line of a cité's history: what happened, when it was recorded
    (``occurred_at``) and when it took effect in the programme (``effective_on``), decided
    by which role, why."""

    kind: str
    occurred_at: datetime
    actor_role: ActorRole | None = None
    motive: str | None = None
    period: LabelPeriod | None = None
    signed_on: date | None = None
    effective_on: date | None = None
    added: PerimeterAddition | None = None
    review_id: UUID | None = None
    """The revue de projet the decision cites, if any."""

    @classmethod
    def of(cls, event: LabelEvent) -> HistoryEntry:
        kind = type(event).__name__
        match event:
            case TerritoryLabelled():
                return cls(kind, event.labelled_at, event.decided_by, period=event.label_period,
                           signed_on=event.convention_signed_on, effective_on=event.decided_on)
            case LabelRenewed():
                return cls(kind, event.renewed_at, event.decided_by, period=event.label_period,
                           signed_on=event.convention_signed_on, effective_on=event.decided_on,
                           review_id=event.review_id)
            case PerimeterExtended():
                return cls(kind, event.extended_at, event.decided_by, added=event.added,
                           effective_on=event.decided_on)
            case ConventionSigned():
                return cls(kind, event.recorded_at, event.recorded_by, period=event.label_period,
                           signed_on=event.signed_on)
            case ConventionAmended():
                return cls(kind, event.recorded_at, event.recorded_by, period=event.label_period,
                           signed_on=event.signed_on,
                           motive=f"Avenant n° {event.number} : {event.object}")
            case LabelSuspended():
                return cls(kind, event.suspended_at, event.decided_by, motive=event.motive,
                           effective_on=event.effective_on, review_id=event.review_id)
            case LabelReinstated():
                return cls(kind, event.reinstated_at, event.decided_by, motive=event.motive,
                           effective_on=event.effective_on)
            case LabelWithdrawn():
                return cls(kind, event.withdrawn_at, event.decided_by, motive=event.motive,
                           effective_on=event.effective_on, review_id=event.review_id)
            case LabelExpired():
                return cls(kind, event.expired_at, ActorRole.SYSTEM, period=event.label_period)
            case RenewalApplied():
                return cls(kind, event.applied_at, event.filed_by, period=event.label_period,
                           effective_on=event.filed_on)
            case RenewalRefused():
                return cls(kind, event.refused_at, event.decided_by, motive=event.motive,
                           period=event.label_period, effective_on=event.decided_on,
                           review_id=event.review_id)


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
    decided_on: date
    """The business date of the decision that labelled it."""
    status_since: date
    """The business date its current status took effect (the decision's, a suspension's…)."""
    labelled_at: datetime
    status_changed_at: datetime
    """When the service recorded the current status."""
    requested_annual_contribution: int
    renewal_applied_on: date | None = None
    """The business date of a re-application not decided yet (None: none pending)."""

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
              dossier: Dossier, period: LabelPeriod, qpv_list: QpvList, decided_on: date,
              convention_signed_on: date | None, actor: Actor, now: datetime
              ) -> tuple[Label, TerritoryLabelled]:
        if dossier.lead_college_uai is None:  # submission's rules make this unreachable
            raise Conflict("a label needs a collège chef de file")
        label = cls(cite_id=cite_id, candidature_id=candidature_id,
                    name=dossier.territory_name, wave=wave, departement=departement,
                    perimeter=dossier.perimeter(qpv_list),
                    lead_college_uai=dossier.lead_college_uai,
                    periods=[Term(period, convention_signed_on)], status=LabelStatus.LABELLED,
                    decided_on=decided_on, status_since=decided_on,
                    labelled_at=now, status_changed_at=now,
                    requested_annual_contribution=dossier.requested_annual_contribution)
        return label, TerritoryLabelled(
            cite_id=cite_id, candidature_id=candidature_id, name=label.name, wave=wave,
            departement=departement, perimeter=label.perimeter,
            lead_college_uai=label.lead_college_uai, label_period=period,
            convention_signed_on=convention_signed_on, decided_by=actor.event_role, labelled_at=now,
            decided_on=decided_on,
            requested_annual_contribution=label.requested_annual_contribution,
        )

    # -- national coordination ------------------------------------------------------------
    def apply_for_renewal(self, *, window: RenewalWindow, filed_on: date, actor: Actor,
                          today: date, now: datetime) -> RenewalApplied | None:
        """The préfecture re-applies, inside ``window`` of the current period (422 naming
        its dates otherwise); the same re-application again changes nothing. Pending, it
        keeps the label from expiring and lets the renewal be decided after the period."""
        self._ensure_labelled("renewed")
        if self.renewal_applied_on is not None:
            return None
        current = self.period
        if current.start > today:
            raise Conflict(f"{self.cite_id} is already renewed for {current.start} – "
                           f"{current.end}")
        check_business_date(filed_on, "filed_on", "filing", today=today,
                            not_before=self.status_since, what="the label's current status")
        self._ensure_in_window(window, filed_on, "re-applied for", "the re-application")
        self.renewal_applied_on = filed_on
        return RenewalApplied(cite_id=self.cite_id, label_period=current, filed_on=filed_on,
                              filed_by=actor.event_role, applied_at=now)

    def renew(self, *, years: int, window: RenewalWindow, decided_on: date,
              convention_signed_on: date | None, actor: Actor, today: date, now: datetime,
              period: LabelPeriod | None = None, perimeter: NewPerimeter | None = None
              ) -> LabelRenewed:
        """Grant the next period: ``period`` when the coordination states it (from the day
        after the current one ends, at most ``years`` long), else ``years`` from that day.
        Decided inside ``window`` of the current period (422 naming its dates otherwise),
        or at any later date when the cité re-applied in it; once. With ``perimeter``, the
        cité's whole perimeter from then on (e.g. moved to the 2024 QPV list): in its
        département, its collège chef de file among its schools."""
        self._ensure_labelled("renewed")
        current = self.period
        if current.start > decided_on:
            raise Conflict(f"{self.cite_id} is already renewed for {current.start} – "
                           f"{current.end}")
        check_business_date(decided_on, "decided_on", "decision", today=today,
                            not_before=max(self.status_since,
                                           self.renewal_applied_on or self.status_since),
                            what="what it follows")
        if self.renewal_applied_on is None:
            self._ensure_in_window(window, decided_on, "renewed", "the renewal")
        check_convention_date(convention_signed_on, today, decided_on)
        following = next_period(current, years)
        if period is not None:
            _check_stated(period, following)
        new = None if perimeter is None else self._check_perimeter(perimeter)
        self.periods.append(Term(period or following, convention_signed_on))
        self.renewal_applied_on = None
        if new is not None:
            self.perimeter = new
        return LabelRenewed(cite_id=self.cite_id, previous_period=current,
                            label_period=self.period, convention_signed_on=convention_signed_on,
                            decided_by=actor.event_role, renewed_at=now, decided_on=decided_on,
                            perimeter=new)

    def _misplaced(self, parts: Addition | NewPerimeter, qpv_list: QpvList, where: str = ""
                   ) -> list[RuleFailure]:
        """What ``parts`` holds outside the cité's département or off ``qpv_list`` (its
        fields named under ``where``)."""
        failures = [RuleFailure(field=f"{where}communes", rule="communes_in_departement",
                                message=f"commune {c.insee_code} lies outside département "
                                f"{self.departement}")
                    for c in parts.communes if c.departement != self.departement]
        failures += [RuleFailure(field=f"{where}qpvs", rule="qpvs_in_departement",
                                 message=f"QPV {q.code} lies outside département "
                                 f"{self.departement}")
                     for q in parts.qpvs if q.departement != self.departement]
        failures += [RuleFailure(field=f"{where}qpvs", rule="qpvs_of_the_perimeter_list",
                                 message=f"QPV {q.code} is not of the {qpv_list.value} list "
                                 f"the perimeter of {self.cite_id} refers to")
                     for q in parts.qpvs if qpv_list_of(q.code) is not qpv_list]
        return failures

    def _check_perimeter(self, perimeter: NewPerimeter) -> Perimeter | None:
        """The contract's perimeter of ``perimeter`` (None: the same as now), or the 422 of
        every rule it breaks."""
        failures = [RuleFailure(field=f"perimeter.{part}", rule=f"{part}_listed",
                                message=f"a perimeter lists at least one {what}")
                    for part, what in (("communes", "commune"), ("qpvs", "QPV"),
                                       ("schools", "school"))
                    if not getattr(perimeter, part)]
        failures += self._misplaced(perimeter, perimeter.qpv_list, "perimeter.")
        lead = next((x for x in perimeter.schools if x.uai == self.lead_college_uai), None)
        if lead is None:
            failures.append(RuleFailure(
                field="perimeter.schools", rule="lead_college_in_perimeter",
                message=f"the collège chef de file {self.lead_college_uai} is not among the "
                "perimeter's schools"))
        if failures:
            raise RuleBroken(failures)
        new = perimeter.contract()
        return None if new == self.perimeter else new

    def refuse_renewal(self, motive: str, *, decided_on: date, actor: Actor, today: date,
                       now: datetime) -> RenewalRefused:
        """Refuse the pending re-application: the label ends with its period (the expiry
        check ends it the day after, or at once when that day is past)."""
        if self.renewal_applied_on is None:
            raise Conflict(f"{self.cite_id} has no re-application to refuse")
        check_business_date(decided_on, "decided_on", "decision", today=today,
                            not_before=self.renewal_applied_on, what="the re-application")
        self.renewal_applied_on = None
        return RenewalRefused(cite_id=self.cite_id, label_period=self.period, motive=motive,
                              decided_on=decided_on, decided_by=actor.event_role,
                              refused_at=now)

    def _ensure_in_window(self, window: RenewalWindow, day: date, done: str, what: str
                          ) -> None:
        current = self.period
        dates = window.of(current)
        if not dates.contains(day):
            raise RenewalOutsideWindow(
                f"{self.cite_id} can be {done} only in the last {window.months} "
                f"month{'s' if window.months > 1 else ''} of its period ({current.start} – "
                f"{current.end}): from {dates.opens_on} to {dates.closes_on}; {what} is "
                f"dated {day}", dates.opens_on, dates.closes_on)

    def extend(self, addition: Addition, *, decided_on: date, actor: Actor, today: date,
               now: datetime) -> PerimeterExtended | None:
        """Add communes, QPVs and schools; those already in the perimeter are ignored
        (None when nothing is new: a repeated extension changes nothing). A perimeter keeps
        the QPV list it refers to: the QPVs added are of that list."""
        self._ensure_labelled("extended")
        check_business_date(decided_on, "decided_on", "decision", today=today,
                            not_before=self.decided_on, what="the label's decision")
        if not (addition.communes or addition.qpvs or addition.schools):
            raise RuleBroken.of("communes", "extension_not_empty",
                                "an extension adds at least one commune, QPV or school")
        failures = self._misplaced(addition, self.perimeter.qpv_list)
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
                                   qpv_list=p.qpv_list, qpvs=p.qpvs + added.qpvs,
                                   schools=p.schools + added.schools)
        return PerimeterExtended(cite_id=self.cite_id, added=added, perimeter=self.perimeter,
                                 decided_by=actor.event_role, extended_at=now,
                                 decided_on=decided_on)

    def record_convention(self, signed_on: date, *, actor: Actor, today: date, now: datetime,
                          signatories: tuple[ConventionSignatory, ...] = ()
                          ) -> ConventionSigned | None:
        """Record the signature of the latest period's convention (after a renewal, the new
        period's), with its signatories if given — or the signatories of a signature
        recorded without them; a repeat is a no-op."""
        if self.status not in LIVING:
            raise Conflict(f"{self.cite_id}'s label is {self.status.value}: no convention to sign")
        if signatories:
            _check_signatories(signatories)
        term = self.periods[-1]
        if term.convention_signed_on == signed_on:
            if not signatories or set(signatories) == set(term.signatories):
                return None
            if term.signatories:
                raise Conflict(f"{self.cite_id}'s convention is already recorded with its "
                               "signatories")
        elif term.convention_signed_on is not None:
            raise Conflict(f"{self.cite_id}'s convention is already recorded as signed on "
                           f"{term.convention_signed_on}")
        check_convention_date(signed_on, today, self.decided_on)
        self.periods[-1] = replace(term, convention_signed_on=signed_on,
                                   signatories=signatories or term.signatories)
        return ConventionSigned(cite_id=self.cite_id, label_period=self.period,
                                signed_on=signed_on, recorded_by=actor.event_role, recorded_at=now,
                                signatories=self.periods[-1].signatories)

    def amend_convention(self, object: str, *, signed_on: date, actor: Actor, today: date,
                         now: datetime) -> ConventionAmended | None:
        """Record an amendment to the latest period's convention, numbered in order, not
        before the convention; the same amendment again is a no-op."""
        self._ensure_living("amended")
        term = self.periods[-1]
        if term.convention_signed_on is None:
            raise Conflict(f"{self.cite_id}'s convention for {term.start} – {term.end} is not "
                           "recorded as signed: there is nothing to amend")
        check_business_date(signed_on, "signed_on", "amendment", today=today,
                            not_before=term.convention_signed_on, what="the convention it amends")
        if any(a.signed_on == signed_on and a.object == object for a in term.amendments):
            return None
        amendment = Amendment(len(term.amendments) + 1, signed_on, object)
        self.periods[-1] = replace(term, amendments=(*term.amendments, amendment))
        return ConventionAmended(cite_id=self.cite_id, label_period=self.period,
                                 number=amendment.number, signed_on=signed_on, object=object,
                                 recorded_by=actor.event_role, recorded_at=now)

    def suspend(self, motive: str, *, effective_on: date, actor: Actor, today: date,
                now: datetime) -> LabelSuspended | None:
        if self.status is LabelStatus.SUSPENDED:
            return None
        self._ensure_living("suspended")
        self._become(LabelStatus.SUSPENDED, effective_on, today, now)
        return LabelSuspended(cite_id=self.cite_id, motive=motive, decided_by=actor.event_role,
                              suspended_at=now, effective_on=effective_on)

    def reinstate(self, motive: str | None, *, effective_on: date, actor: Actor, today: date,
                  now: datetime) -> LabelReinstated | None:
        if self.status is LabelStatus.LABELLED:
            return None
        self._ensure_living("reinstated")
        self._become(LabelStatus.LABELLED, effective_on, today, now)
        return LabelReinstated(cite_id=self.cite_id, motive=motive, decided_by=actor.event_role,
                               reinstated_at=now, effective_on=effective_on)

    def withdraw(self, motive: str, *, effective_on: date, actor: Actor, today: date,
                 now: datetime) -> LabelWithdrawn | None:
        if self.status is LabelStatus.WITHDRAWN:
            return None
        self._ensure_living("withdrawn")
        self._become(LabelStatus.WITHDRAWN, effective_on, today, now)
        return LabelWithdrawn(cite_id=self.cite_id, motive=motive, effective_on=effective_on,
                              decided_by=actor.event_role, withdrawn_at=now)

    # -- time -------------------------------------------------------------------------------
    def is_due_to_expire(self, today: date) -> bool:
        """Living, its latest period over, and no re-application waiting for a decision."""
        return (self.status in LIVING and self.period.end < today
                and self.renewal_applied_on is None)

    def expire(self, *, today: date, now: datetime) -> LabelExpired | None:
        """The day after its period ends, a living label expires (None when not due)."""
        if not self.is_due_to_expire(today):
            return None
        self.status, self.status_changed_at = LabelStatus.EXPIRED, now
        self.status_since = self.period.end + timedelta(days=1)
        return LabelExpired(cite_id=self.cite_id, label_period=self.period, expired_at=now)

    # -- helpers ------------------------------------------------------------------------------
    def _become(self, status: LabelStatus, effective_on: date, today: date, now: datetime
                ) -> None:
        """Take ``status`` from ``effective_on`` (a business date: not in the future, not
        before the current status took effect)."""
        check_business_date(effective_on, "effective_on", "status", today=today,
                            not_before=self.status_since, what="the label's current status")
        self.status, self.status_since, self.status_changed_at = status, effective_on, now

    def _ensure_living(self, action: str) -> None:
        if self.status not in LIVING:
            raise Conflict(f"{self.cite_id}'s label is {self.status.value}: it cannot be "
                           f"{action}")

    def _ensure_labelled(self, action: str) -> None:
        self._ensure_living(action)
        if self.status is LabelStatus.SUSPENDED:
            raise Conflict(f"{self.cite_id}'s label is suspended: reinstate it before it is "
                           f"{action}")
