"""What the API answers: response models built from domain objects."""

from __future__ import annotations

import csv
import io
from datetime import date, datetime
from decimal import Decimal
from typing import Literal, cast
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from cites_contracts.events.labelling import (
    ConventionSignatory,
    Perimeter,
    PerimeterAddition,
    ReviewAction,
    ReviewIndicator,
    ReviewMoney,
    TroikaValidation,
)
from cites_contracts.events.labelling import Wave as WaveRef
from cites_contracts.types import ActorRole, LabelPeriod, QpvList
from cites_runtime.imports import ProblemView

from ..domain import (
    Candidature,
    CandidatureStatus,
    Dossier,
    Label,
    LabelStatus,
    Money,
    Outcome,
    Review,
    ReviewStatus,
    Wave,
)
from ..domain.review import Synthesis
from ..domain.waves import WaveStatus
from ..imports import Report
from ..store import CandidatureSummary, RecordedEntry, WaveStats

__all__ = [
    "AmendmentView",
    "CampaignView",
    "CandidatureSummaryView",
    "CandidatureView",
    "CiteSummaryView",
    "CiteView",
    "DecisionView",
    "HistoryEntryView",
    "ImportLineView",
    "ImportReportView",
    "IndicatorSummaryView",
    "PeriodView",
    "ReviewView",
    "ScoreView",
    "SynthesisView",
    "TallyView",
    "WaveView",
    "synthesis_csv",
]



class WaveView(BaseModel):
    id: str
    year: int
    title: str
    rule_set: str
    rolling: bool
    filing_opens_on: date | None
    filing_closes_on: date | None
    review_criteria: list[str]
    target_count: int
    status: WaveStatus
    label_in_calendar_years: bool
    test: bool = Field(description="A test wave: its cités are never published as open data")
    qpv_list: QpvList = Field(description="The QPV list its perimeters refer to")
    submitted_count: int | None = None
    labelled_count: int | None = None

    @classmethod
    def of(cls, w: Wave, stats: WaveStats | None = None) -> WaveView:
        return cls(id=w.id, year=w.year, title=w.title, rule_set=w.rule_set, rolling=w.rolling,
                   filing_opens_on=w.filing.opens_on if w.filing else None,
                   filing_closes_on=w.filing.closes_on if w.filing else None,
                   review_criteria=list(w.review_criteria), target_count=w.target_count,
                   status=w.status, label_in_calendar_years=w.term.calendar, test=w.test,
                   qpv_list=w.qpv_list,
                   submitted_count=stats.submitted if stats else None,
                   labelled_count=stats.labelled if stats else None)


Preparer = Literal["prefecture", "rectorat", "commune"]
Filer = Literal["rectorat", "commune"]
_PREPARED_BY = ("Who drafted it: the préfecture itself, or the rectorat or a commune "
                "preparing it, who file it with the préfecture")
_FILED_AT = ("When the rectorat or the commune filed the draft with the préfecture (null: "
             "not filed, returned since, or the préfecture's own draft)")


class CandidatureSummaryView(BaseModel):
    id: UUID
    wave_id: str
    departement: str
    territory_name: str
    status: CandidatureStatus
    created_at: datetime
    submitted_at: datetime | None
    decided_at: datetime | None
    cite_id: str | None
    prepared_by: Preparer = Field(description=_PREPARED_BY)
    filed_at: datetime | None = Field(description=_FILED_AT)

    @classmethod
    def of(cls, c: CandidatureSummary) -> CandidatureSummaryView:
        return cls(id=c.id, wave_id=c.wave_id, departement=c.departement,
                   territory_name=c.territory_name, status=c.status, created_at=c.created_at,
                   submitted_at=c.submitted_at, decided_at=c.decided_at, cite_id=c.cite_id,
                   prepared_by=cast(Preparer, c.prepared_by.value), filed_at=c.filed_at)


class ScoreView(BaseModel):
    criterion: str
    score: int
    comment: str
    scored_at: datetime
    scored_by: str


class DecisionView(BaseModel):
    outcome: Outcome
    motive: str
    decided_at: datetime
    decided_by: str


class CandidatureView(BaseModel):
    id: UUID
    wave_id: str
    departement: str
    status: CandidatureStatus
    dossier: Dossier
    troika_redacted: bool = False
    created_at: datetime
    updated_at: datetime
    submitted_at: datetime | None
    review_started_at: datetime | None
    scores: list[ScoreView]
    decision: DecisionView | None
    cite_id: str | None
    withdrawn_at: datetime | None
    withdrawal_motive: str | None
    prepared_by: Preparer = Field(description=_PREPARED_BY)
    filed_at: datetime | None = Field(description=_FILED_AT)
    filed_by: Filer | None = Field(
        description="Which of them filed it (null when not filed)")
    returned_at: datetime | None = Field(
        description="When the préfecture last returned the filed draft to its preparers")
    return_motive: str | None = Field(description="Why the préfecture returned it")

    @classmethod
    def of(cls, c: Candidature, *, redact_troika: bool = False) -> CandidatureView:
        # Viewers see the dossier but not the troïka's mailboxes (personal data).
        dossier = c.dossier.model_copy(update={"troika": ()}) if redact_troika else c.dossier
        d = c.decision
        return cls(
            id=c.id, wave_id=c.wave_id, departement=c.departement, status=c.status,
            dossier=dossier, troika_redacted=redact_troika, created_at=c.created_at,
            updated_at=c.updated_at, submitted_at=c.submitted_at,
            review_started_at=c.review_started_at,
            scores=[ScoreView(criterion=s.criterion, score=s.score, comment=s.comment,
                              scored_at=s.scored_at, scored_by=s.scored_by)
                    for s in sorted(c.scores.values(), key=lambda s: s.criterion)],
            decision=DecisionView(outcome=d.outcome, motive=d.motive, decided_at=d.decided_at,
                                  decided_by=d.decided_by) if d else None,
            cite_id=c.cite_id, withdrawn_at=c.withdrawn_at,
            withdrawal_motive=c.withdrawal_motive,
            prepared_by=cast(Preparer, c.prepared_by.value), filed_at=c.filed_at,
            filed_by=cast(Filer, c.filed_by.value) if c.filed_by else None,
            returned_at=c.returned_at, return_motive=c.return_motive,
        )


class AmendmentView(BaseModel):
    number: int
    signed_on: date
    object: str


class PeriodView(BaseModel):
    start: date
    end: date
    convention_signed_on: date | None
    signatories: list[ConventionSignatory] = Field(
        description="Who signed its convention, when recorded")
    amendments: list[AmendmentView] = Field(description="Its convention's amendments, in order")


class CiteSummaryView(BaseModel):
    cite_id: str
    name: str
    candidature_id: UUID
    wave: WaveRef
    departement: str
    status: LabelStatus
    label_period: LabelPeriod = Field(
        description="The period in force today (until a renewed one starts)")
    convention_signed_on: date | None = Field(
        description="Signature of the convention of the period in force")
    periods: list[PeriodView] = Field(
        description="Every period granted, oldest first: the first, then each renewal's")
    lead_college_uai: str
    perimeter: Perimeter
    requested_annual_contribution: int
    decided_on: date = Field(description="The decision's date in the programme")
    status_since: date = Field(description="When the current status took effect in the "
                               "programme")
    renewal_applied_on: date | None = Field(description="When the pending re-application "
                                            "was filed; null: none pending")
    labelled_at: datetime = Field(description="When the service recorded the decision")
    status_changed_at: datetime = Field(description="When the service recorded the current "
                                        "status")

    @classmethod
    def fields_of(cls, x: Label, today: date) -> dict[str, object]:
        now = x.period_on(today)
        return dict(cite_id=x.cite_id, name=x.name, candidature_id=x.candidature_id,
                    wave=x.wave, departement=x.departement, status=x.status,
                    label_period=now.period, convention_signed_on=now.convention_signed_on,
                    periods=[PeriodView(
                        start=t.start, end=t.end, convention_signed_on=t.convention_signed_on,
                        signatories=list(t.signatories),
                        amendments=[AmendmentView(number=a.number, signed_on=a.signed_on,
                                                  object=a.object) for a in t.amendments])
                             for t in x.periods],
                    lead_college_uai=x.lead_college_uai, perimeter=x.perimeter,
                    requested_annual_contribution=x.requested_annual_contribution,
                    decided_on=x.decided_on, status_since=x.status_since,
                    renewal_applied_on=x.renewal_applied_on,
                    labelled_at=x.labelled_at, status_changed_at=x.status_changed_at)

    @classmethod
    def of(cls, x: Label, today: date) -> CiteSummaryView:
        return cls.model_validate(cls.fields_of(x, today))


class HistoryEntryView(BaseModel):
    kind: str
    occurred_at: datetime
    actor_role: ActorRole | None
    actor: str | None
    motive: str | None
    label_period: LabelPeriod | None
    signed_on: date | None
    effective_on: date | None
    added: PerimeterAddition | None
    review_id: UUID | None = Field(None, description="The revue de projet the decision cites")

    @classmethod
    def of(cls, r: RecordedEntry) -> HistoryEntryView:
        e = r.entry
        return cls(kind=e.kind, occurred_at=e.occurred_at, actor_role=e.actor_role,
                   actor=r.actor, motive=e.motive, label_period=e.period, signed_on=e.signed_on,
                   effective_on=e.effective_on, added=e.added, review_id=e.review_id)


class CiteView(CiteSummaryView):
    history: list[HistoryEntryView]

    @classmethod
    def with_history(cls, x: Label, history: list[RecordedEntry], today: date) -> CiteView:
        return cls.model_validate({**cls.fields_of(x, today),
                                   "history": [HistoryEntryView.of(r) for r in history]})


class ImportLineView(BaseModel):
    line: int = Field(description="The record's number in the body, from 1")
    reference: str
    outcome: str = Field(description="imported, completed (renewals added), unchanged, refused")
    cite_id: str | None
    candidature_id: UUID | None = Field(description="The cité's candidature, as imported")
    status: LabelStatus | None = Field(description="The label's status after the import")
    problems: list[ProblemView] = Field(description="Why it was refused")


class ImportReportView(BaseModel):
    dry_run: bool = Field(description="Checked only: nothing kept, nothing published")
    imported: int
    completed: int
    unchanged: int
    refused: int
    lines: list[ImportLineView]

    @classmethod
    def of(cls, r: Report) -> ImportReportView:
        return cls(dry_run=r.dry_run, imported=r.count("imported"),
                   completed=r.count("completed"), unchanged=r.count("unchanged"),
                   refused=r.count("refused"),
                   lines=[ImportLineView(line=d.number, reference=d.reference,
                                         outcome=d.outcome, cite_id=d.cite_id,
                                         candidature_id=d.candidature_id,
                                         status=LabelStatus(d.status) if d.status else None,
                                         problems=[ProblemView.of(p) for p in d.problems])
                          for d in r.lines])


# --- Revues de projet ---------------------------------------------------------------------


class CampaignView(BaseModel):
    year: int
    due_on: date
    reviews: int = Field(description="Reviews of the year, opened by the campaign")
    opened: int = Field(description="Reviews this request opened (0: every cité of the year "
                        "already had one, or a read)")


class ReviewView(BaseModel):
    review_id: UUID
    cite_id: str
    departement: str
    year: int
    due_on: date
    status: ReviewStatus
    overdue: bool = Field(description="Past its deadline and not submitted")
    late: bool = Field(description="Submitted after its deadline")
    submitted_on: date | None
    operational_review: str | None
    actions: list[ReviewAction]
    commune_contribution: int | None
    indicators: list[ReviewIndicator]
    validations: list[TroikaValidation]
    money: ReviewMoney = Field(description="The State's money of the cité's year as "
                               "funding's events told it: as submitted once it is, the "
                               "running figures before")
    opened_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, r: Review, money: Money, today: date) -> ReviewView:
        c = r.content
        return cls(review_id=r.review_id, cite_id=r.cite_id, departement=r.departement,
                   year=r.year, due_on=r.due_on, status=r.status,
                   overdue=r.overdue_on(today),
                   late=r.late, submitted_on=r.submitted_on,
                   operational_review=c.operational_review if c else None,
                   actions=list(c.actions) if c else [],
                   commune_contribution=c.commune_contribution if c else None,
                   indicators=list(c.indicators) if c else [],
                   validations=list(r.validations), money=(r.money or money).contract(),
                   opened_at=r.opened_at, updated_at=r.updated_at)


class TallyView(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    count: int
    cost: int


class IndicatorSummaryView(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    code: str
    label: str
    unit: str | None
    cites: int = Field(description="Submitted reviews that measured it")
    total: Decimal
    mean: Decimal
    minimum: Decimal
    maximum: Decimal


class SynthesisView(BaseModel):
    """A year's national synthesis; money, actions and indicators over the submitted
    reviews."""

    model_config = ConfigDict(from_attributes=True)

    year: int
    due_on: date
    reviews: int
    submitted: int
    submitted_late: int
    overdue: int = Field(description="Past the deadline and still not submitted")
    money: ReviewMoney
    commune_contribution: int
    actions: TallyView
    by_objective: dict[str, TallyView]
    by_theme: dict[str, TallyView]
    by_age_group: dict[str, TallyView]
    indicators: list[IndicatorSummaryView]

    @classmethod
    def of(cls, s: Synthesis) -> SynthesisView:
        return cls.model_validate(s, from_attributes=True)


_CSV_COLUMNS = ("cite_id", "nom", "departement", "annee", "echeance", "statut", "en_retard",
                "deposee_le", "dotation", "fonds_de_la_cite", "engage", "paye",
                "a_reverser", "cofinancement", "contribution_commune", "actions",
                "cout_des_actions")


def synthesis_csv(views: list[ReviewView], names: dict[str, str]) -> str:
    """One line per review, amounts in euros with cents (``1234.50``), French headers."""
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\r\n")
    w.writerow(_CSV_COLUMNS)
    for v in views:
        m = v.money
        w.writerow([v.cite_id, names.get(v.cite_id, ""), v.departement, v.year, v.due_on,
                    v.status.value, "oui" if v.late or v.overdue else "non",
                    v.submitted_on or "",
                    *(_euros(x) for x in (m.allocated, m.fonds, m.committed, m.paid,
                                          m.ordered_back, m.cofinancing)),
                    _euros(v.commune_contribution) if v.commune_contribution is not None
                    else "", len(v.actions), _euros(sum(a.cost for a in v.actions))])
    return out.getvalue()


def _euros(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}"
