"""What the API answers: response models, each built from what the domain or the store
gives (domain objects, records) — only the API shapes HTTP answers."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any
from uuid import UUID

from pydantic import BaseModel, Field

from cites_contracts.types import (
    AllianceClosureReason,
    AllianceRole,
    EducationPriority,
    PartnerKind,
    SchoolKind,
)

from ..domain import AllianceStatus, Contact, Member, Partner
from ..store import AllianceRows, Row

__all__ = [
    "AllianceSummaryView",
    "AllianceView",
    "ChefDeProjetView",
    "ContactView",
    "LabelPeriodView",
    "MemberView",
    "MembershipView",
    "PartnerView",
    "SchoolView",
    "TenureView",
]


class PartnerView(BaseModel):
    partner_id: UUID
    kind: PartnerKind
    name: str
    departement: str | None
    uai: str | None
    siret: str | None
    siren: str | None
    insee_code: str | None
    commune_insee_code: str | None
    registered_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, p: Partner) -> PartnerView:
        d = p.details
        return cls(partner_id=p.partner_id, kind=d.kind, name=d.name,
                   departement=d.departement, uai=d.uai, siret=d.siret, siren=d.siren,
                   insee_code=d.insee_code, commune_insee_code=d.commune_insee_code,
                   registered_at=p.registered_at, updated_at=p.updated_at)


class ContactView(BaseModel):
    """A contact's personal data: shown only to the national coordination and préfectures."""

    contact_id: UUID
    partner_id: UUID
    name: str
    function: str | None
    email: str
    phone: str | None
    consent: bool
    consent_recorded_at: datetime = Field(
        description="When the consent now in force (given or withdrawn) was recorded")
    created_at: datetime

    @classmethod
    def of(cls, c: Contact) -> ContactView:
        d = c.details
        return cls(contact_id=c.contact_id, partner_id=c.partner_id, name=d.name,
                   function=d.function, email=d.email, phone=d.phone, consent=d.consent,
                   consent_recorded_at=c.consent_recorded_at, created_at=c.created_at)


class MemberView(BaseModel):
    partner_id: UUID
    kind: PartnerKind
    name: str
    roles: list[AllianceRole]
    joined_at: datetime
    left_at: datetime | None = None
    left_motive: str | None = None

    @classmethod
    def of(cls, m: Member) -> MemberView:
        """A current member, as the domain has it."""
        return cls(partner_id=m.partner_id, kind=m.kind, name=m.name, roles=sorted(m.roles),
                   joined_at=m.joined_at)

    @classmethod
    def of_row(cls, r: Row) -> MemberView:
        """A membership as stored, current or former (:func:`~partners.store.alliance_rows`)."""
        return cls(partner_id=r["partner_id"], kind=r["kind"], name=r["name"],
                   roles=sorted(r["roles"]), joined_at=r["joined_at"], left_at=r["left_at"],
                   left_motive=r["left_motive"])


class SchoolView(BaseModel):
    uai: str
    kind: SchoolKind
    name: str
    education_priority: EducationPriority


class LabelPeriodView(BaseModel):
    start: date
    end: date


class ChefDeProjetView(BaseModel):
    """Who holds the post of chef de projet opérationnel now, or since when it is vacant."""

    vacant: bool
    since: date | None = Field(description="The first day of the current holder's tenure, "
                               "or of the vacancy (null: the post was never held)")
    contact_id: UUID | None = Field(description="The holder, a contact of their employer "
                                    "(null: vacant)")
    employer_partner_id: UUID | None

    @classmethod
    def of(cls, latest: Row | None) -> ChefDeProjetView:
        """The post as its latest tenure (:attr:`~partners.store.AllianceRows.tenure`)
        leaves it."""
        if latest is None:
            return cls(vacant=True, since=None, contact_id=None, employer_partner_id=None)
        if latest["ends_on"] is not None:
            return cls(vacant=True, since=latest["ends_on"] + timedelta(days=1),
                       contact_id=None, employer_partner_id=None)
        return cls(vacant=False, since=latest["starts_on"], contact_id=latest["contact_id"],
                   employer_partner_id=latest["employer_partner_id"])


class TenureView(BaseModel):
    """A person's time as chef de projet: named by contact id only (no personal data)."""

    contact_id: UUID
    employer_partner_id: UUID
    starts_on: date
    ends_on: date | None = Field(description="The last day held (null: held now)")
    motive: str | None = Field(description="Why it ended, when the post was declared vacant")
    appointed_at: datetime
    ended_at: datetime | None

    @classmethod
    def of(cls, r: Row) -> TenureView:
        return cls.model_validate(dict(r))


class AllianceView(BaseModel):
    cite_id: str
    name: str
    departement: str
    wave_id: str
    candidature_id: UUID
    label_period: LabelPeriodView = Field(
        description="The days the cité is labelled: from its first period's start to the end "
        "of the last period granted (a renewal extends it)")
    status: AllianceStatus
    opened_at: datetime
    suspended_at: datetime | None
    closed_at: datetime | None
    closure_reason: AllianceClosureReason | None
    chef_de_file: MemberView
    collectivite_cheffe_de_file: MemberView | None = Field(
        description="The member commune or EPCI that receives and co-finances (null: none "
        "designated)")
    chef_de_projet: ChefDeProjetView
    members: list[MemberView] = Field(description="Current members, chef de file included")
    former_members: list[MemberView] = Field(description="Members who left (history)")
    schools: list[SchoolView] = Field(description="Schools of the cité's perimeter")

    @classmethod
    def of(cls, found: AllianceRows) -> AllianceView:
        row = found.alliance
        members = [MemberView.of_row(r) for r in found.memberships if r["left_at"] is None]
        return cls(
            cite_id=row["cite_id"], name=row["name"], departement=row["departement"],
            wave_id=row["wave_id"], candidature_id=row["candidature_id"],
            label_period=LabelPeriodView(start=row["label_start"], end=row["label_end"]),
            status=row["status"], opened_at=row["opened_at"],
            suspended_at=row["suspended_at"], closed_at=row["closed_at"],
            closure_reason=row["closure_reason"],
            chef_de_file=next(m for m in members if AllianceRole.CHEF_DE_FILE in m.roles),
            collectivite_cheffe_de_file=next(
                (m for m in members
                 if m.partner_id == row["collectivite_cheffe_de_file_partner_id"]), None),
            chef_de_projet=ChefDeProjetView.of(found.tenure),
            members=members,
            former_members=[MemberView.of_row(r) for r in found.memberships
                            if r["left_at"] is not None],
            schools=[SchoolView.model_validate(s) for s in row["schools"]],
        )


class AllianceSummaryView(BaseModel):
    cite_id: str
    name: str
    departement: str
    status: AllianceStatus
    chef_de_file_partner_id: UUID
    chef_de_file_uai: str | None
    members: int
    opened_at: datetime

    @classmethod
    def of(cls, r: Row) -> AllianceSummaryView:
        return cls.model_validate(dict(r))


class MembershipView(BaseModel):
    cite_id: str
    alliance_name: str
    alliance_status: AllianceStatus
    roles: list[AllianceRole]
    joined_at: datetime
    left_at: datetime | None
    left_motive: str | None

    @classmethod
    def of(cls, r: Row) -> MembershipView:
        values: dict[str, Any] = {**dict(r), "roles": sorted(r["roles"])}
        return cls.model_validate(values)
