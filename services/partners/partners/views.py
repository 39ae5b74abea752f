"""What the queries answer: read models shaped for the HTTP API (never for the domain)."""

from __future__ import annotations

from datetime import date, datetime
from uuid import UUID

from pydantic import BaseModel, Field

from cites_contracts.types import (
    AllianceClosureReason,
    AllianceRole,
    EducationPriority,
    PartnerKind,
    SchoolKind,
)

from .domain import AllianceStatus

__all__ = [
    "AllianceOut",
    "AlliancePage",
    "AllianceSummary",
    "ContactOut",
    "LabelPeriodOut",
    "MemberOut",
    "MembershipOut",
    "PartnerOut",
    "PartnerPage",
    "SchoolOut",
]


class PartnerOut(BaseModel):
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


class PartnerPage(BaseModel):
    items: list[PartnerOut]
    next_cursor: str | None = Field(
        description="Pass as ?cursor= for the next page; null on the last page")


class ContactOut(BaseModel):
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


class MemberOut(BaseModel):
    partner_id: UUID
    kind: PartnerKind
    name: str
    roles: list[AllianceRole]
    joined_at: datetime
    left_at: datetime | None = None
    left_motive: str | None = None


class SchoolOut(BaseModel):
    uai: str
    kind: SchoolKind
    name: str
    education_priority: EducationPriority


class LabelPeriodOut(BaseModel):
    start: date
    end: date


class AllianceOut(BaseModel):
    cite_id: str
    name: str
    departement: str
    wave_id: str
    candidature_id: UUID
    label_period: LabelPeriodOut
    status: AllianceStatus
    opened_at: datetime
    suspended_at: datetime | None
    closed_at: datetime | None
    closure_reason: AllianceClosureReason | None
    chef_de_file: MemberOut
    members: list[MemberOut] = Field(description="Current members, chef de file included")
    former_members: list[MemberOut] = Field(description="Members who left (history)")
    schools: list[SchoolOut] = Field(description="Schools of the cité's perimeter")


class AllianceSummary(BaseModel):
    cite_id: str
    name: str
    departement: str
    status: AllianceStatus
    chef_de_file_partner_id: UUID
    chef_de_file_uai: str | None
    members: int
    opened_at: datetime


class AlliancePage(BaseModel):
    items: list[AllianceSummary]
    next_cursor: str | None


class MembershipOut(BaseModel):
    cite_id: str
    alliance_name: str
    alliance_status: AllianceStatus
    roles: list[AllianceRole]
    joined_at: datetime
    left_at: datetime | None
    left_motive: str | None
