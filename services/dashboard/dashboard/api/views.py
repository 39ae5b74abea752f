"""What the API answers: the summary the page shows, built from the projection's sums
(``store``) and the domain's rules (``domain.programme``, ``domain.departements``)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Literal
from uuid import UUID

import asyncpg
from pydantic import BaseModel, Field

from cites_contracts.events.labelling import Perimeter

from ..domain.departements import academie_of, departement_name, region_of
from ..domain.opendata import STATUT, YearAmounts, college_name, euros, wave_title
from ..domain.programme import CiteStatus, MoneyLine, roll_up
from ..domain.reviews import ReviewYear
from ..platform_health import Health

__all__ = [
    "AlliancesView",
    "DepartementView",
    "EnvelopeView",
    "IndicatorMeanView",
    "LateReviewView",
    "NotificationsView",
    "OpenDataCiteView",
    "ReviewSynthesisView",
    "ReviewsView",
    "SignInView",
    "SummaryView",
    "WaveView",
]


class WaveView(BaseModel):
    wave_id: str
    year: int | None
    title: str | None = Field(None, description="The wave's title, as its events name it")
    test: bool = Field(False, description="A test wave (training, acceptance): its cités are "
                       "counted here, never published as open data")
    cites: dict[str, int] = Field(description="Cités by their label's status")
    candidatures: dict[str, int] = Field(description="Candidatures by status")

    @classmethod
    def of(cls, wave_id: str, year: int | None = None, title: str | None = None,
           test: bool = False) -> WaveView:
        """A wave, its figures to be counted in."""
        return cls(wave_id=wave_id, year=year, title=title, test=bool(test), cites={},
                   candidatures={})


class DepartementView(BaseModel):
    code: str
    name: str
    cites: int
    active: int
    alliance_members: int
    allocated: int
    committed: int
    paid: int

    @classmethod
    def of(cls, r: asyncpg.Record) -> DepartementView:
        """From a row of ``store.by_departement``."""
        return cls(code=r["departement"], name=departement_name(r["departement"]),
                   cites=r["cites"], active=r["active"], alliance_members=r["members"],
                   allocated=r["allocated"], committed=r["committed"], paid=r["paid"])


class AreaView(BaseModel):
    """A région's or an académie's figures: its départements' summed."""

    name: str
    cites: int
    active: int
    alliance_members: int
    allocated: int
    committed: int
    paid: int

    @classmethod
    def roll_up(cls, departements: list[DepartementView], area_of: Callable[[str], str | None]
                ) -> list[AreaView]:
        rows = [{"departement": d.code, **d.model_dump(exclude={"code", "name"})}
                for d in departements]
        return [cls.model_validate(r) for r in roll_up(rows, area_of)]


class YearView(BaseModel):
    """A year of the programme: the cités labelled in it (by their decision's date) and
    the State money of that budget year, both programmes together."""

    year: int
    cites_labelled: int
    allocated: int
    committed: int
    paid: int
    cofinancing_planned: int = Field(description="Local authorities' co-financing of the "
                                     "year, as planned")
    cofinancing_given: int = Field(description="What they gave, as recorded so far")

    @classmethod
    def of(cls, labelled: dict[int, int], money: list[MoneyLine],
           cofinancing: dict[int, tuple[int, int]]) -> list[YearView]:
        years = sorted(set(labelled) | {m.year for m in money} | set(cofinancing))
        return [cls(year=y, cites_labelled=labelled.get(y, 0),
                    allocated=sum(m.allocated for m in money if m.year == y),
                    committed=sum(m.committed for m in money if m.year == y),
                    paid=sum(m.paid for m in money if m.year == y),
                    cofinancing_planned=cofinancing.get(y, (0, 0))[0],
                    cofinancing_given=cofinancing.get(y, (0, 0))[1]) for y in years]


class EnvelopeView(BaseModel):
    envelope_id: str
    name: str
    programme: str
    budget_years: list[int]
    wave_ids: list[str]
    amount: int

    @classmethod
    def of(cls, r: asyncpg.Record) -> EnvelopeView:
        """From a row of ``store.envelopes``."""
        return cls(envelope_id=str(r["envelope_id"]), name=r["name"],
                   programme=r["programme"], budget_years=list(r["budget_years"]),
                   wave_ids=list(r["wave_ids"]), amount=r["amount"])


class CreditsLineView(BaseModel):
    """A programme's credits of a year (cents), as funding's ``GET /credits`` has them."""

    programme: str
    year: int
    ae: int
    cp: int
    delegated_ae: int
    delegated_cp: int
    engaged: int
    """AE consumed: the commitments of the year's allocations, net of cancellations."""
    spent: int
    """CP consumed: the payments made that year."""
    lapsed_ae: int
    lapsed_cp: int
    restes_a_payer: int
    """At the close: what its commitments had not paid, carried over."""
    closed: bool

    @classmethod
    def of(cls, r: asyncpg.Record) -> CreditsLineView:
        """From a row of ``store.credits``."""
        return cls(**{k: r[k] for k in cls.model_fields})


class AlliancesView(BaseModel):
    open: int
    closed: int
    members: int = Field(description="Current members of open alliances")
    sizes: dict[int, int] = Field(description="Members → how many open alliances have so many")
    by_kind: dict[str, int] = Field(description="Members of open alliances by kind of partner")

    @classmethod
    def of(cls, counts: Mapping[str, int], sizes: dict[int, int], by_kind: dict[str, int]
           ) -> AlliancesView:
        """From the open and closed ``counts``, the open ones' ``sizes`` (members → how
        many alliances) and their members ``by_kind``."""
        return cls(open=counts["open"], closed=counts["closed"],
                   members=sum(k * v for k, v in sizes.items()), sizes=sizes, by_kind=by_kind)


class NotificationsView(BaseModel):
    sent: int
    failed: int
    by_template: dict[str, dict[str, int]]

    @classmethod
    def of(cls, by_template: dict[str, dict[str, int]]) -> NotificationsView:
        """From the outcomes counted per template (``{"sent": n, "failed": m}`` each)."""
        return cls(sent=sum(t["sent"] for t in by_template.values()),
                   failed=sum(t["failed"] for t in by_template.values()),
                   by_template=by_template)


class LateReviewView(BaseModel):
    """A revue de projet submitted late, or overdue (not submitted, its deadline passed)."""

    review_id: UUID
    cite_id: str
    cite_name: str | None = Field(description="Null when the cité's label never reached "
                                  "the dashboard")
    departement: str
    departement_name: str
    year: int
    due_on: date
    submitted_on: date | None = Field(description="Null: not submitted (overdue)")

    @classmethod
    def of(cls, r: asyncpg.Record) -> LateReviewView:
        """From a row of ``store.late_or_missing_reviews``."""
        return cls(review_id=r["review_id"], cite_id=r["cite_id"], cite_name=r["cite_name"],
                   departement=r["departement"],
                   departement_name=departement_name(r["departement"]), year=r["year"],
                   due_on=r["due_on"], submitted_on=r["submitted_on"])


class ReviewSynthesisView(BaseModel):
    """A year's national synthesis over its submitted reviews (cents for money), as
    labelling's ``GET /reviews/synthesis/{year}`` adds them up."""

    year: int
    submitted: int
    allocated: int
    fonds: int
    committed: int
    paid: int
    ordered_back: int
    cofinancing: int
    commune_contribution: int
    actions: int
    actions_cost: int

    @classmethod
    def of(cls, r: asyncpg.Record) -> ReviewSynthesisView:
        """From a row of ``store.review_syntheses``."""
        return cls.model_validate(dict(r))


class IndicatorMeanView(BaseModel):
    """An indicator of the conventions' protocols, over a year's submitted reviews."""

    year: int
    code: str
    label: str
    unit: str | None
    cites: int = Field(description="Submitted reviews that measured it")
    mean: Decimal

    @classmethod
    def of(cls, r: asyncpg.Record) -> IndicatorMeanView:
        """From a row of ``store.review_indicators``."""
        return cls.model_validate(dict(r))


class ReviewsView(BaseModel):
    """The revues de projet, by the dashboard's today."""

    years: list[ReviewYear] = Field(description="Per year, oldest first: the reviews due, "
                                    "submitted on time, submitted late, overdue (not "
                                    "submitted, deadline passed), pending (deadline to come)")
    late_or_missing: list[LateReviewView] = Field(
        description="Reviews submitted late or overdue: the latest year first, those not "
        "submitted first, then by département and cité; at most the first "
        "``late_or_missing_listed``")
    late_or_missing_total: int = Field(description="How many reviews are late or overdue, "
                                       "all years (the list may hold fewer)")
    late_or_missing_listed: int = Field(description="The most the list holds")
    syntheses: list[ReviewSynthesisView] = Field(
        description="Per year, oldest first, the national synthesis of the submitted reviews")
    indicators: list[IndicatorMeanView] = Field(
        description="Per year and indicator, the mean the submitted reviews measured")


class SummaryView(BaseModel):
    """Cents for money; counts otherwise."""

    generated_at: datetime
    refresh_s: float
    cites: dict[str, int] = Field(description="Cités by their label's status")
    waves: list[WaveView]
    years: list[YearView] = Field(description="Per year: cités labelled (by decision date) "
                                  "and that budget year's money")
    departements: list[DepartementView]
    regions: list[AreaView]
    academies: list[AreaView]
    money: list[MoneyLine] = Field(description="Per programme and year, as funding's "
                                   "consumption report (GET /reports/consumption)")
    money_by_programme: list[MoneyLine] = Field(description="Per programme, all years "
                                                "(year 0)")
    envelopes: list[EnvelopeView]
    credits: list[CreditsLineView] = Field(description="Per programme and year, the "
                                           "State's credits: AE and CP voted, delegated, "
                                           "consumed, lapsed")
    alliances: AlliancesView
    notifications: NotificationsView
    reviews: ReviewsView = Field(description="The revues de projet per year, and those late "
                                 "or overdue")
    health: Health | None = Field(description="The last probe of the platform's health; "
                                  "null before the first")


class SignInView(BaseModel):
    """How the page signs in: at the identity provider (``oidc``: its issuer, and the
    page's client id), or with a token typed in (``static``: development and tests)."""

    mode: str
    issuer: str | None = None
    client_id: str | None = None


# --- open data (French names and values: a public dataset) ------------------------------

Statut = Literal["labellisée", "suspendue", "retirée", "expirée"]


class CommuneView(BaseModel):
    code_insee: str
    nom: str


class QpvView(BaseModel):
    code: str
    nom: str


class CollegeView(BaseModel):
    uai: str
    nom: str | None = Field(description="Null when the collège is not among the perimeter's "
                            "schools")


class PeriodeView(BaseModel):
    debut: date
    fin: date


class AnneeView(BaseModel):
    """The State's money for one budget year, in euros."""

    annee: int
    dotation_p147: float
    dotation_p230: float
    fonds_de_la_cite: float

    @classmethod
    def of(cls, y: YearAmounts) -> AnneeView:
        return cls(annee=y.year, dotation_p147=float(euros(y.dotation_p147)),
                   dotation_p230=float(euros(y.dotation_p230)),
                   fonds_de_la_cite=float(euros(y.fonds_de_la_cite)))


class OpenDataCiteView(BaseModel):
    """A labelled cité as the open data publishes it (``/opendata/schema.json`` describes
    each field, as the columns of the CSV)."""

    code_cite: str
    nom_cite: str
    departement: str
    nom_departement: str
    region: str | None
    academie: str | None
    communes: list[CommuneView]
    qpv: list[QpvView]
    college_chef_de_file: CollegeView | None
    vague: str
    annee_vague: int
    debut_label: date | None = Field(description="The period in force (the latest granted)")
    fin_label: date | None
    periodes_label: list[PeriodeView] = Field(description="Every period granted, oldest "
                                              "first (the first, then each renewal's)")
    statut: Statut
    annees: list[AnneeView] = Field(description="The State's money per budget year, in euros")

    @classmethod
    def of(cls, r: asyncpg.Record, years: Sequence[YearAmounts]) -> OpenDataCiteView:
        """From a row of ``store.open_data_cites`` and the cité's years."""
        perimeter = (None if r["perimeter"] is None
                     else Perimeter.model_validate(r["perimeter"]))
        periods = [PeriodeView(debut=p["start"], fin=p["end"]) for p in r["periods"]]
        uai = r["college_uai"]
        return cls(
            code_cite=r["cite_id"], nom_cite=r["name"], departement=r["departement"],
            nom_departement=departement_name(r["departement"]),
            region=region_of(r["departement"]), academie=academie_of(r["departement"]),
            communes=[CommuneView(code_insee=c.insee_code, nom=c.name)
                      for c in (perimeter.communes if perimeter else ())],
            qpv=[QpvView(code=q.code, nom=q.name) for q in (perimeter.qpvs if perimeter else ())],
            college_chef_de_file=(None if uai is None else
                                  CollegeView(uai=uai, nom=college_name(perimeter, uai))),
            vague=wave_title(r["wave_title"], r["wave_year"]), annee_vague=r["wave_year"],
            debut_label=periods[-1].debut if periods else None,
            fin_label=periods[-1].fin if periods else None, periodes_label=periods,
            statut=STATUT[CiteStatus(r["status"])],
            annees=[AnneeView.of(y) for y in years])
