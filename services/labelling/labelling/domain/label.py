"""The label of a cité: granted for a period, renewed, extended, suspended, withdrawn, expired.

A label lasts a number of whole years (3 by default, a setting) from the decision date,
both ends included; a renewal adds a new period starting the day after the current one
ends. A cité lives while its label is ``labelled`` or ``suspended``; it ends when the
label is withdrawn by the national coordination or expires the day after its period
ends without renewal. Commands that find the label already in the state they ask for
change nothing (no second event); those that do not fit its state are refused.
"""

from __future__ import annotations

from dataclasses import dataclass
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

from .dossier import Dossier, PerimeterAdditionIn

__all__ = [
    "PROGRAMME_START",
    "HistoryEntry",
    "Label",
    "LabelEvent",
    "LabelStatus",
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
    period: LabelPeriod
    convention_signed_on: date | None
    status: LabelStatus
    labelled_at: datetime
    status_changed_at: datetime
    requested_annual_contribution: int

    @classmethod
    def grant(cls, *, candidature_id: UUID, cite_id: str, wave: WaveRef, departement: str,
              dossier: Dossier, period: LabelPeriod, convention_signed_on: date | None,
              actor: Actor, now: datetime) -> tuple[Label, TerritoryLabelled]:
        if dossier.lead_college_uai is None:  # submission's rules make this unreachable
            raise Conflict("a label needs a collège chef de file")
        label = cls(cite_id=cite_id, candidature_id=candidature_id,
                    name=dossier.territory_name, wave=wave, departement=departement,
                    perimeter=dossier.perimeter(), lead_college_uai=dossier.lead_college_uai,
                    period=period, convention_signed_on=convention_signed_on,
                    status=LabelStatus.LABELLED, labelled_at=now, status_changed_at=now,
                    requested_annual_contribution=dossier.requested_annual_contribution)
        return label, TerritoryLabelled(
            cite_id=cite_id, candidature_id=candidature_id, name=label.name, wave=wave,
            departement=departement, perimeter=label.perimeter,
            lead_college_uai=label.lead_college_uai, label_period=period,
            convention_signed_on=convention_signed_on, decided_by=actor.event_role, labelled_at=now,
            requested_annual_contribution=label.requested_annual_contribution,
        )

    # -- national coordination ------------------------------------------------------------
    def renew(self, *, years: int, convention_signed_on: date | None, actor: Actor,
              today: date, now: datetime) -> LabelRenewed:
        self._ensure_labelled("renewed")
        if self.period.start > today:
            raise Conflict(f"{self.cite_id} is already renewed for {self.period.start} – "
                           f"{self.period.end}")
        check_convention_date(convention_signed_on, today)
        previous, self.period = self.period, next_period(self.period, years)
        self.convention_signed_on = convention_signed_on
        return LabelRenewed(cite_id=self.cite_id, previous_period=previous,
                            label_period=self.period, convention_signed_on=convention_signed_on,
                            decided_by=actor.event_role, renewed_at=now)

    def extend(self, addition: PerimeterAdditionIn, *, actor: Actor, now: datetime
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
        """Record the signature of the current period's convention (a repeat is a no-op)."""
        if self.status not in LIVING:
            raise Conflict(f"{self.cite_id}'s label is {self.status.value}: no convention to sign")
        if self.convention_signed_on == signed_on:
            return None
        if self.convention_signed_on is not None:
            raise Conflict(f"{self.cite_id}'s convention is already recorded as signed on "
                           f"{self.convention_signed_on}")
        check_convention_date(signed_on, today)
        self.convention_signed_on = signed_on
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
