"""Test kit of the dashboard: builders of the events it reads (every service's), and the
service under test with its summary. Tokens and the harness are the runtime's
(``cites_runtime.testing``).

(Named ``dashboard_kit`` so it never shadows another suite's helper on sys.path.)
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any
from uuid import UUID, uuid4

import httpx

from cites_contracts.events.funding import (
    AllocationRefused,
    AllocationRevised,
    CoFinancingDeclared,
    CoFinancingRealised,
    CommitmentCancelled,
    EnvelopeOpened,
    FondsDeLaCiteGranted,
    FrozenAllocation,
    FundsAllocated,
    FundsCommitted,
    FundsFrozen,
    FundsReleased,
    FundsUnfrozen,
    PastSpendingImported,
    PaymentMade,
    ProgrammeAmount,
    ReleasedAllocation,
)
from cites_contracts.events.labelling import (
    CandidatureRejected,
    CandidatureReviewStarted,
    LabelExpired,
    LabelReinstated,
    LabelRenewed,
    LabelSuspended,
    LabelWithdrawn,
    PerimeterExtended,
    ProjectReviewOpened,
    ProjectReviewOverdue,
    ProjectReviewSubmitted,
    ReviewAction,
    ReviewMoney,
    TerritoryLabelled,
    Wave,
)
from cites_contracts.events.notifications import NotificationFailed, NotificationSent, Recipient
from cites_contracts.events.partners import (
    AllianceClosed,
    AllianceOpened,
    ChefDeFileDesignated,
    PartnerJoinedAlliance,
    PartnerLeftAlliance,
)
from cites_contracts.testing import event, territory_labelled
from cites_contracts.types import (
    ActorRole,
    AgeGroup,
    AllianceClosureReason,
    AllianceRole,
    AllocationRefusalReason,
    BudgetProgramme,
    FreezeReason,
    LabelPeriod,
    NotificationChannel,
    PartnerKind,
    RecipientKind,
    ReviewObjective,
    ReviewTheme,
    TroikaRole,
)
from cites_runtime.testing import AS_VIEWER, ServiceUnderTest

AT = datetime(2025, 1, 15, 10, 0, tzinfo=UTC)
PERIOD = LabelPeriod.of_years(date(2025, 1, 1))
ENVELOPE = UUID("00000000-0000-4000-8000-0000000e0147")
LEAD = UUID("00000000-0000-4000-8000-00000000c011")
WAVES = {"2019": 2019, "2021": 2021, "2022": 2022, "2024-generalisation": 2024}


def labelled(cite_id: str, *, departement: str = "93", wave: str = "2019",
             candidature_id: UUID | None = None) -> TerritoryLabelled:
    """The contracts' label builder, in one of :data:`WAVES`, for :data:`PERIOD`."""
    return territory_labelled(cite_id, departement=departement, wave=wave,
                              wave_year=WAVES[wave], candidature_id=candidature_id or uuid4(),
                              label_period=PERIOD, labelled_at=AT)


def labelled_in(cite_id: str, wave: Wave, *, departement: str = "69",
                **fields: Any) -> TerritoryLabelled:
    """A label in ``wave`` (its title, its test flag), for :data:`PERIOD`, in the
    département ``departement``: its commune ``<dep>010`` Bondy, its QPV ``QN0<dep>01M``
    Blanqui, its lead collège ``0930001A`` Collège Blanqui (``fields`` replace them)."""
    label = territory_labelled(cite_id, departement=departement, wave=wave.id,
                               wave_year=wave.year, label_period=PERIOD, labelled_at=AT,
                               **fields)
    return label.model_copy(update={"wave": wave})


def renewed(cite_id: str, period: LabelPeriod, previous: LabelPeriod = PERIOD
            ) -> LabelRenewed:
    return LabelRenewed(cite_id=cite_id, previous_period=previous, label_period=period,
                        decided_by=ActorRole.NATIONAL_COORDINATION, renewed_at=AT)


def extended(cite_id: str, perimeter: dict[str, Any]) -> PerimeterExtended:
    """The cité's perimeter is now ``perimeter`` (its JSON form)."""
    return event(PerimeterExtended, cite_id=cite_id, perimeter=perimeter,
                 added={"communes": perimeter["communes"][1:]}, extended_at=AT)


def chef_designated(cite_id: str, uai: str) -> ChefDeFileDesignated:
    return ChefDeFileDesignated(cite_id=cite_id, partner_id=uuid4(), uai=uai,
                                previous_partner_id=LEAD, designated_at=AT)


def expired(cite_id: str) -> LabelExpired:
    return LabelExpired(cite_id=cite_id, label_period=PERIOD, expired_at=AT)


def suspended(cite_id: str) -> LabelSuspended:
    return LabelSuspended(cite_id=cite_id, motive="Gouvernance à revoir",
                          decided_by=ActorRole.NATIONAL_COORDINATION, suspended_at=AT)


def reinstated(cite_id: str) -> LabelReinstated:
    return LabelReinstated(cite_id=cite_id, decided_by=ActorRole.NATIONAL_COORDINATION,
                           reinstated_at=AT)


def withdrawn(cite_id: str) -> LabelWithdrawn:
    return LabelWithdrawn(cite_id=cite_id, motive="Convention non respectée",
                          effective_on=date(2025, 6, 1),
                          decided_by=ActorRole.NATIONAL_COORDINATION, withdrawn_at=AT)


def review_started(candidature_id: UUID, wave: str = "2019") -> CandidatureReviewStarted:
    return CandidatureReviewStarted(candidature_id=candidature_id,
                                    wave=Wave(id=wave, year=WAVES[wave]),
                                    review_criteria=("gouvernance",),
                                    started_by=ActorRole.NATIONAL_COORDINATION, started_at=AT)


def rejected(candidature_id: UUID, wave: str = "2019") -> CandidatureRejected:
    return CandidatureRejected(candidature_id=candidature_id,
                               wave=Wave(id=wave, year=WAVES[wave]), motive="Dossier incomplet",
                               decided_by=ActorRole.NATIONAL_COORDINATION, decided_at=AT)


def alliance_opened(cite_id: str, chef: UUID = LEAD) -> AllianceOpened:
    return AllianceOpened(cite_id=cite_id, chef_de_file_partner_id=chef,
                          chef_de_file_uai="0930001A", opened_at=AT)


def joined(cite_id: str, partner_id: UUID,
           kind: PartnerKind = PartnerKind.ASSOCIATION) -> PartnerJoinedAlliance:
    return PartnerJoinedAlliance(cite_id=cite_id, partner_id=partner_id, partner_kind=kind,
                                 roles=(AllianceRole.ACTION_OPERATOR,), joined_at=AT)


def left(cite_id: str, partner_id: UUID) -> PartnerLeftAlliance:
    return PartnerLeftAlliance(cite_id=cite_id, partner_id=partner_id, left_at=AT)


def alliance_closed(cite_id: str) -> AllianceClosed:
    return AllianceClosed(cite_id=cite_id, reason=AllianceClosureReason.LABEL_WITHDRAWN,
                          closed_at=AT)


def envelope(programme: str = "P147", amount: int = 10_000_000_00,
             envelope_id: UUID = ENVELOPE) -> EnvelopeOpened:
    return EnvelopeOpened(envelope_id=envelope_id, name=f"Vague 2019 : programme {programme}",
                          programme=BudgetProgramme(programme), budget_years=(2025, 2026),
                          wave_ids=("2019",), amount=amount, opened_at=AT)


def allocated(cite_id: str, allocation_id: UUID, amount: int, *, programme: str = "P147",
              year: int = 2025) -> FundsAllocated:
    return FundsAllocated(cite_id=cite_id, allocation_id=allocation_id, envelope_id=ENVELOPE,
                          programme=BudgetProgramme(programme), year=year, amount=amount,
                          envelope_remaining=0, allocated_at=AT)


def revised(cite_id: str, allocation_id: UUID, previous: int, amount: int, *,
            programme: str = "P147", year: int = 2025) -> AllocationRevised:
    return AllocationRevised(cite_id=cite_id, allocation_id=allocation_id,
                             envelope_id=ENVELOPE, programme=BudgetProgramme(programme),
                             year=year, previous_amount=previous, amount=amount,
                             envelope_remaining=0, motive="Revue de projet", revised_at=AT)


def refused(cite_id: str, year: int = 2025) -> AllocationRefused:
    return AllocationRefused(cite_id=cite_id, envelope_id=ENVELOPE, year=year,
                             requested=250_000_00, available=0,
                             reason=AllocationRefusalReason.ENVELOPE_EXHAUSTED, refused_at=AT,
                             programme=BudgetProgramme.P147)


def fonds(cite_id: str, year: int, p147: int, p230: int) -> FondsDeLaCiteGranted:
    return FondsDeLaCiteGranted(
        cite_id=cite_id, grant_id=uuid4(), year=year, lead_college_uai="0930001A",
        contributions=(ProgrammeAmount(programme=BudgetProgramme.P147, amount=p147),
                       ProgrammeAmount(programme=BudgetProgramme.P230, amount=p230)),
        granted_at=AT)


def committed(cite_id: str, allocation_id: UUID, amount: int,
              commitment_id: UUID | None = None) -> FundsCommitted:
    return FundsCommitted(cite_id=cite_id, commitment_id=commitment_id or uuid4(),
                          allocation_id=allocation_id, operator_partner_id=uuid4(),
                          action_title="Ateliers parents-enfants", amount=amount,
                          committed_at=AT)


def cancelled(cite_id: str, allocation_id: UUID, returned: int) -> CommitmentCancelled:
    return CommitmentCancelled(cite_id=cite_id, commitment_id=uuid4(),
                               allocation_id=allocation_id, returned=returned,
                               motive="Action annulée", cancelled_at=AT)


def paid(cite_id: str, allocation_id: UUID, amount: int) -> PaymentMade:
    return PaymentMade(cite_id=cite_id, payment_id=uuid4(), commitment_id=uuid4(),
                       allocation_id=allocation_id, payee_partner_id=uuid4(), amount=amount,
                       paid_at=AT)


def frozen(cite_id: str, *parts: tuple[UUID, int]) -> FundsFrozen:
    return FundsFrozen(cite_id=cite_id, reason=FreezeReason.LABEL_SUSPENDED,
                       frozen=tuple(FrozenAllocation(allocation_id=a, amount=n) for a, n in parts),
                       frozen_at=AT)


def unfrozen(cite_id: str, *parts: tuple[UUID, int]) -> FundsUnfrozen:
    return FundsUnfrozen(cite_id=cite_id, unfrozen=tuple(
        FrozenAllocation(allocation_id=a, amount=n) for a, n in parts), unfrozen_at=AT)


def released(cite_id: str, *parts: tuple[UUID, int]) -> FundsReleased:
    return FundsReleased(cite_id=cite_id, released=tuple(
        ReleasedAllocation(allocation_id=a, envelope_id=ENVELOPE, amount=n) for a, n in parts),
        motive="Fin du label", released_at=AT)


def past_spending(cite_id: str, allocation_id: UUID, year: int, committed: int, paid: int,
                  from_frozen: int = 0) -> PastSpendingImported:
    """What a dotation of a year before the platform committed and paid, taken over."""
    return PastSpendingImported(cite_id=cite_id, allocation_id=allocation_id,
                                programme=BudgetProgramme.P147, year=year,
                                committed=committed, paid=paid, from_frozen=from_frozen,
                                reference="CE-2019-093-01", recorded_at=AT)


def cofinancing(cite_id: str, cofinancing_id: UUID, year: int, planned: int
                ) -> CoFinancingDeclared:
    return CoFinancingDeclared(cite_id=cite_id, cofinancing_id=cofinancing_id, year=year,
                               funder="Commune de Bondy", amount=planned, declared_at=AT)


def cofinancing_given(declared: CoFinancingDeclared, actual: int) -> CoFinancingRealised:
    return CoFinancingRealised(cite_id=declared.cite_id, cofinancing_id=declared.cofinancing_id,
                               year=declared.year, funder=declared.funder,
                               planned=declared.amount, actual=actual, realised_at=AT)


def review_opened(cite_id: str, year: int, due_on: date, *, departement: str = "93",
                  review_id: UUID | None = None) -> ProjectReviewOpened:
    """The cité's revue de projet of ``year``, opened, due by ``due_on``."""
    return ProjectReviewOpened(review_id=review_id or uuid4(), cite_id=cite_id,
                               departement=departement, year=year, due_on=due_on,
                               opened_by=ActorRole.NATIONAL_COORDINATION, opened_at=AT)


def review_submitted(opened: ProjectReviewOpened, submitted_on: date
                     ) -> ProjectReviewSubmitted:
    """The review ``opened``, submitted on ``submitted_on`` (late after its deadline)."""
    action = ReviewAction(title="Accompagnement à la scolarité",
                          objective=ReviewObjective.SCHOOL_ROLE, age_group=AgeGroup.COLLEGE,
                          theme=ReviewTheme.SCHOOL_SUCCESS, cost=45_000_00)
    money = ReviewMoney(allocated=0, fonds=0, committed=0, paid=0, ordered_back=0,
                        cofinancing=0)
    return ProjectReviewSubmitted(
        review_id=opened.review_id, cite_id=opened.cite_id, departement=opened.departement,
        year=opened.year, due_on=opened.due_on, submitted_on=submitted_on,
        late=submitted_on > opened.due_on, actions=(action,), money=money,
        commune_contribution=0, submitted_by=ActorRole.PREFECTURE, submitted_at=AT)


def review_overdue(opened: ProjectReviewOpened) -> ProjectReviewOverdue:
    """Labelling's daily check noting the review ``opened`` overdue."""
    return ProjectReviewOverdue(review_id=opened.review_id, cite_id=opened.cite_id,
                                departement=opened.departement, year=opened.year,
                                due_on=opened.due_on, noted_at=AT)


def _delivery(template: str) -> dict[str, Any]:
    return dict(notification_id=uuid4(), cause_event_id=uuid4(),
                cause_type="labelling.TerritoryLabelled", template=template,
                channel=NotificationChannel.EMAIL,
                recipient=Recipient(kind=RecipientKind.TROIKA, troika_role=TroikaRole.PREFET),
                cite_id="cite-001", attempts=1)


def sent(template: str = "cite-labelled") -> NotificationSent:
    return NotificationSent(**_delivery(template), sent_at=AT)


def failed(template: str = "cite-labelled") -> NotificationFailed:
    return NotificationFailed(**_delivery(template), reason="550 mailbox unavailable",
                              failed_at=AT)


@dataclass
class Dashboard:
    """The dashboard under test and what its tests read from it."""

    s: ServiceUnderTest

    async def summary(self, headers: dict[str, str] = AS_VIEWER) -> dict[str, Any]:
        r = await self.s.http.get("/api/summary", headers=headers)
        assert r.status_code == 200, r.text
        body: dict[str, Any] = r.json()
        return body

    async def open_data(self, kind: str = "json", **headers: str) -> httpx.Response:
        """``/opendata/cites.<kind>`` asked by anyone: no Authorization header."""
        r = await self.s.http.get(f"/opendata/cites.{kind}", headers=headers)
        assert "authorization" not in {k.lower() for k in r.request.headers}
        return r

    async def money(self) -> dict[tuple[str, int], dict[str, int]]:
        """The summary's money lines by (programme, year), without those two keys."""
        return {(m["programme"], m["year"]): {k: v for k, v in m.items()
                                              if k not in ("programme", "year")}
                for m in (await self.summary())["money"]}


def chromium() -> str:
    """Debian's Chromium, which the browser tests drive (``make chromium`` installs it)."""
    import shutil

    found = shutil.which("chromium")
    assert found, "Debian's Chromium is missing: `make chromium` installs it (make test does)"
    return found
