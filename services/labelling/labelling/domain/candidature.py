"""The candidature: draft → submitted → under review → labelled | rejected, or withdrawn.

A préfecture drafts, revises and submits the dossier of a territory of its département,
and may withdraw it before the decision. A rectorat and a commune may prepare it instead
(draft and revise it, each for its own territory: ``Actor.ensure_prepares``) and file it
with the préfecture; filed, only the préfecture revises it, returns it to them with a
motive, or submits it. A préfecture submits its own drafts directly, others' only once
filed. No event names the rectorat or the commune: who prepared and filed is this
service's own state. Submission checks the wave's rule set and
refuses an ineligible dossier with every failed rule. The national coordination scores
the wave's review criteria (the first score opens the review) and decides, with a
motive: labelling creates the cité (:mod:`.label`). A repeated decision changes nothing;
a contradicting one is refused.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from uuid import UUID

from cites_contracts.events.labelling import (
    CandidatureRejected,
    CandidatureReviewStarted,
    CandidatureSubmitted,
    CandidatureWithdrawn,
    TerritoryLabelled,
)
from cites_contracts.types import LabelPeriod, TroikaRole
from cites_runtime.actor import PREPARERS, Actor, Role
from cites_runtime.errors import Conflict, Forbidden, RuleBroken, RuleFailure

from .dossier import Dossier
from .errors import Ineligible
from .holdings import Claim, claims
from .label import Label
from .rules import PERIMETER_RULES, Subject
from .waves import Wave

__all__ = [
    "PASS_MARK",
    "SCORE_MAX",
    "Candidature",
    "CandidatureStatus",
    "Decision",
    "Outcome",
    "Score",
]

SCORE_MAX = 5
PASS_MARK = 3
"""A criterion scored below the pass mark (out of 5) is reported as unmet on rejection."""


class CandidatureStatus(StrEnum):
    DRAFT = "draft"
    SUBMITTED = "submitted"
    UNDER_REVIEW = "under_review"
    LABELLED = "labelled"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"


class Outcome(StrEnum):
    LABEL = "label"
    REJECT = "reject"


@dataclass(frozen=True, slots=True)
class Score:
    criterion: str
    score: int
    comment: str
    scored_at: datetime
    scored_by: str


@dataclass(frozen=True, slots=True)
class Decision:
    outcome: Outcome
    motive: str
    decided_at: datetime
    decided_by: str


@dataclass
class Candidature:
    id: UUID
    wave_id: str
    departement: str
    dossier: Dossier
    status: CandidatureStatus
    created_at: datetime
    created_by: str
    updated_at: datetime
    submitted_at: datetime | None = None
    filed_on: date | None = None
    """The business date it was filed in the programme (its submission's civil date, or an
    imported record's)."""
    review_started_at: datetime | None = None
    scores: dict[str, Score] = field(default_factory=dict)
    decision: Decision | None = None
    cite_id: str | None = None
    withdrawn_at: datetime | None = None
    withdrawal_motive: str | None = None
    prepared_by: Role = Role.PREFECTURE
    """Who drafted it: the préfecture, or a rectorat or a commune preparing it."""
    filed_at: datetime | None = None
    """When a rectorat or a commune filed the draft with the préfecture (none: not filed,
    or returned since)."""
    filed_by: Role | None = None
    returned_at: datetime | None = None
    """When the préfecture last returned the filed draft to its preparers, and why."""
    return_motive: str | None = None

    # -- the préfecture, the rectorat and the commune ---------------------------------------
    @classmethod
    def draft(cls, *, id: UUID, wave: Wave, departement: str, dossier: Dossier, actor: Actor,
              now: datetime) -> Candidature:
        actor.ensure_prepares(departement, dossier.insee_codes())
        wave.ensure_accepts_drafts()
        return cls(id=id, wave_id=wave.id, departement=departement, dossier=dossier,
                   status=CandidatureStatus.DRAFT, created_at=now, created_by=actor.subject,
                   updated_at=now,
                   prepared_by=actor.role if actor.role in PREPARERS else Role.PREFECTURE)

    def ensure_preparable_by(self, actor: Actor) -> None:
        """Who may touch this candidature as its preparer: its own préfecture; a rectorat
        or a commune of its territory, for a draft they started (a préfecture's own draft
        is its own)."""
        actor.ensure_prepares(self.departement, self.dossier.insee_codes())
        if actor.role in PREPARERS and self.prepared_by not in PREPARERS:
            raise Forbidden(f"candidature {self.id} is the préfecture's own draft: the "
                            "rectorat and the commune prepare only the drafts they started")

    def revise(self, *, wave: Wave, departement: str, dossier: Dossier, actor: Actor,
               now: datetime) -> None:
        """Revise the draft: its préfecture, or its preparers until they file it. A commune
        may not revise itself out of the dossier."""
        self.ensure_preparable_by(actor)
        if departement != self.departement:
            raise RuleBroken.of("departement", "departement_fixed",
                                f"a candidature stays in its département ({self.departement}); "
                                "withdraw it and draft another one")
        actor.ensure_prepares(departement, dossier.insee_codes())
        self._ensure_draft("revised")
        if actor.role in PREPARERS and self.filed_at is not None:
            raise Conflict(f"candidature {self.id} was filed with the préfecture on "
                           f"{self.filed_at.date()}: only the préfecture may revise it now, "
                           "or return it to you")
        wave.ensure_accepts_drafts()
        self.wave_id, self.dossier, self.updated_at = wave.id, dossier, now

    def file(self, *, actor: Actor, now: datetime) -> bool:
        """A rectorat or a commune files the draft it prepared with the préfecture, which
        then submits or returns it; False when it is filed already (nothing changes)."""
        self.ensure_preparable_by(actor)
        self._ensure_draft("filed with the préfecture")
        if self.filed_at is not None:
            return False
        self.filed_at, self.filed_by, self.updated_at = now, actor.role, now
        return True

    def return_to_preparers(self, *, actor: Actor, motive: str, now: datetime) -> None:
        """The préfecture sends a filed draft back to the rectorat and the commune, with a
        motive: they may revise and file it again."""
        actor.ensure_acts_for(self.departement)
        self._ensure_draft("returned")
        if self.filed_at is None:
            raise Conflict(f"candidature {self.id} is not filed with the préfecture: nothing "
                           "to return")
        self.filed_at, self.filed_by = None, None
        self.returned_at, self.return_motive, self.updated_at = now, motive, now

    # -- the préfecture -------------------------------------------------------------------

    def submit(self, *, wave: Wave, actor: Actor, now: datetime, today: date
               ) -> CandidatureSubmitted | None:
        """File the dossier; None when it already is. Refused with every failed rule when
        the dossier does not meet the wave's rule set."""
        actor.ensure_acts_for(self.departement)
        if self.status is CandidatureStatus.SUBMITTED:
            return None
        self._ensure_draft("submitted")
        if self.prepared_by in PREPARERS and self.filed_at is None:
            raise Conflict(f"candidature {self.id} was prepared by the "
                           f"{self.prepared_by.value} and is not filed with the préfecture "
                           "yet: the rectorat or the commune files it first "
                           f"(POST /candidatures/{self.id}/filing)")
        wave.ensure_accepts_filing(today)
        failures = wave.rules.failures(Subject(self.dossier, self.departement, wave.qpv_list))
        if failures:
            raise Ineligible(wave.rule_set, failures)
        self.status, self.submitted_at, self.updated_at = CandidatureStatus.SUBMITTED, now, now
        self.filed_on = today
        return self._submitted(wave, actor, now)

    def _submitted(self, wave: Wave, actor: Actor, now: datetime) -> CandidatureSubmitted:
        d = self.dossier
        assert d.lead_college_uai is not None  # lead_college_in_perimeter holds
        return CandidatureSubmitted(
            candidature_id=self.id, territory_name=d.territory_name,
            departement=self.departement, wave=wave.ref(), perimeter=d.perimeter(wave.qpv_list),
            lead_college_uai=d.lead_college_uai, troika=d.troika_seats(self.id),
            submitted_by=actor.event_role, submitted_at=now,
            requested_annual_contribution=d.requested_annual_contribution,
            filed_on=self.filed_on,
        )

    @classmethod
    def imported(cls, *, id: UUID, wave: Wave, departement: str, dossier: Dossier,
                 filed_on: date, actor: Actor, now: datetime
                 ) -> tuple[Candidature, CandidatureSubmitted]:
        """A candidature of the programme's past, filed on ``filed_on`` and now submitted,
        for its recorded decision (:meth:`record_label`). Its perimeter must hold together
        (``PERIMETER_RULES``); its eligibility was judged then and is not judged again."""
        failures = wave.rules.failures(Subject(dossier, departement, wave.qpv_list),
                                       only=PERIMETER_RULES)
        if failures:
            raise Ineligible(wave.rule_set, failures)
        c = cls(id=id, wave_id=wave.id, departement=departement, dossier=dossier,
                status=CandidatureStatus.SUBMITTED, created_at=now, created_by=actor.subject,
                updated_at=now, submitted_at=now, filed_on=filed_on)
        return c, c._submitted(wave, actor, now)

    def erase_signatory(self, role: TroikaRole, *, actor: Actor, now: datetime
                        ) -> str | None:
        """Right to erasure of one troïka signatory: the address leaves the dossier for
        good (the seat stays in the candidature's events, by id). Returns the address
        erased, None when there was none (erased already). A draft then needs the
        signatory again before it can be submitted."""
        actor.ensure_acts_for(self.departement)
        self.dossier, email = self.dossier.without_signatory(role)
        if email is not None:
            self.updated_at = now
        return email

    def withdraw(self, *, actor: Actor, motive: str | None, now: datetime
                 ) -> CandidatureWithdrawn | None:
        """Withdraw before the decision. A draft was never announced, so its withdrawal
        emits nothing; a repeat changes nothing."""
        actor.ensure_acts_for(self.departement)
        if self.status is CandidatureStatus.WITHDRAWN:
            return None
        if self.decision is not None:
            raise Conflict(f"candidature {self.id} is already {self.status.value}: "
                           "only an undecided candidature can be withdrawn")
        announced = self.status is not CandidatureStatus.DRAFT
        self.status, self.withdrawn_at, self.withdrawal_motive = (
            CandidatureStatus.WITHDRAWN, now, motive)
        self.updated_at = now
        if not announced:
            return None
        return CandidatureWithdrawn(candidature_id=self.id, motive=motive,
                                    withdrawn_by=actor.event_role, withdrawn_at=now)

    def claims(self) -> list[Claim]:
        """What the candidature holds while pending: its QPVs and its lead collège
        (:mod:`.holdings`)."""
        return claims((q.code for q in self.dossier.qpvs), self.dossier.lead_college_uai)

    # -- the national coordination ----------------------------------------------------------
    def score(self, *, wave: Wave, scores: Mapping[str, tuple[int, str]], actor: Actor,
              now: datetime) -> CandidatureReviewStarted | None:
        """Score some of the wave's criteria (criterion → (score, comment)); the first
        scores open the review."""
        if self.status not in (CandidatureStatus.SUBMITTED, CandidatureStatus.UNDER_REVIEW):
            raise Conflict(f"candidature {self.id} is {self.status.value}: only a submitted "
                           "candidature can be scored")
        unknown = [c for c in scores if c not in wave.review_criteria]
        if unknown:
            raise RuleBroken([
                RuleFailure(field="scores", rule="wave_criterion",
                            message=f"{c!r} is not a review criterion of wave {wave.id} "
                            f"({', '.join(wave.review_criteria)})") for c in unknown])
        bad = [c for c, (value, _) in scores.items() if not 0 <= value <= SCORE_MAX]
        if bad:
            raise RuleBroken([RuleFailure(field="scores", rule="score_range",
                                          message=f"score of {c!r} must be 0–{SCORE_MAX}")
                              for c in bad])
        for criterion, (value, comment) in scores.items():
            self.scores[criterion] = Score(criterion, value, comment, now, actor.subject)
        self.updated_at = now
        if self.status is CandidatureStatus.UNDER_REVIEW:
            return None
        self.status, self.review_started_at = CandidatureStatus.UNDER_REVIEW, now
        return CandidatureReviewStarted(candidature_id=self.id, wave=wave.ref(),
                                        review_criteria=wave.review_criteria,
                                        started_by=actor.event_role, started_at=now)

    def already_decided(self, outcome: Outcome, wave: Wave) -> bool:
        """True when exactly this decision was taken already (a repeat is a no-op).
        Refuses a contradicting decision, an unreviewed or withdrawn candidature, and a
        label before every criterion is scored."""
        if self.decision is not None:
            if self.decision.outcome is outcome:
                return True
            taken = f"labelled as {self.cite_id}" if self.cite_id else "rejected"
            raise Conflict(f"candidature {self.id} was already {taken} on "
                           f"{self.decision.decided_at.date()}: a contradicting decision is "
                           "refused")
        if self.status is not CandidatureStatus.UNDER_REVIEW:
            raise Conflict(f"candidature {self.id} is {self.status.value}: a decision needs a "
                           "candidature under review (score the wave's criteria first)")
        missing = self.missing_criteria(wave)
        if outcome is Outcome.LABEL and missing:
            raise Conflict(f"score every criterion of wave {wave.id} before labelling; "
                           f"missing: {', '.join(missing)}")
        return False

    def missing_criteria(self, wave: Wave) -> list[str]:
        return [c for c in wave.review_criteria if c not in self.scores]

    def unmet_criteria(self, wave: Wave) -> tuple[str, ...]:
        return tuple(c for c in wave.review_criteria
                     if c in self.scores and self.scores[c].score < PASS_MARK)

    def label(self, *, wave: Wave, cite_id: str, period: LabelPeriod, decided_on: date,
              convention_signed_on: date | None, motive: str, actor: Actor, now: datetime
              ) -> tuple[Label, TerritoryLabelled]:
        """Grant the label: the territory becomes cité ``cite_id`` for ``period``."""
        if self.already_decided(Outcome.LABEL, wave):
            raise Conflict(f"candidature {self.id} is already labelled as {self.cite_id}")
        return self.record_label(wave=wave, cite_id=cite_id, period=period,
                                 decided_on=decided_on,
                                 convention_signed_on=convention_signed_on, motive=motive,
                                 actor=actor, now=now)

    def record_label(self, *, wave: Wave, cite_id: str, period: LabelPeriod, decided_on: date,
                     convention_signed_on: date | None, motive: str, actor: Actor,
                     now: datetime) -> tuple[Label, TerritoryLabelled]:
        """Grant the label as decided: :meth:`label` once the review allows it, or at once
        for an imported candidature (reviewed then, outside the platform)."""
        self._decide(Outcome.LABEL, motive, actor, now)
        self.cite_id = cite_id
        return Label.grant(candidature_id=self.id, cite_id=cite_id, wave=wave.ref(),
                           departement=self.departement, dossier=self.dossier, period=period,
                           qpv_list=wave.qpv_list,
                           decided_on=decided_on, convention_signed_on=convention_signed_on,
                           actor=actor, now=now)

    def reject(self, *, wave: Wave, motive: str, decided_on: date, actor: Actor,
               now: datetime) -> CandidatureRejected:
        if self.already_decided(Outcome.REJECT, wave):
            raise Conflict(f"candidature {self.id} is already rejected")
        self._decide(Outcome.REJECT, motive, actor, now)
        return CandidatureRejected(candidature_id=self.id, wave=wave.ref(), motive=motive,
                                   unmet_criteria=self.unmet_criteria(wave),
                                   decided_by=actor.event_role, decided_at=now,
                                   decided_on=decided_on)

    def _decide(self, outcome: Outcome, motive: str, actor: Actor, now: datetime) -> None:
        self.decision = Decision(outcome, motive, now, actor.subject)
        self.status = (CandidatureStatus.LABELLED if outcome is Outcome.LABEL
                       else CandidatureStatus.REJECTED)
        self.updated_at = now

    def _ensure_draft(self, action: str) -> None:
        if self.status is not CandidatureStatus.DRAFT:
            raise Conflict(f"candidature {self.id} is {self.status.value}: only a draft can be "
                           f"{action}")
