"""HTTP routes of the partner registry: organisations and their contacts.

Contacts are personal data: only the national coordination and the préfecture of the
partner's département see or change them.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Query, Response, status
from pydantic import Field, StringConstraints, field_validator

from cites_contracts.types import (
    Departement,
    Email,
    InseeCode,
    Name,
    PartnerKind,
    Siren,
    Siret,
    Uai,
)
from cites_runtime.errors import NotFound
from cites_runtime.http import Anyone, Input, Operator, Page, Paging

from .. import service, store
from ..domain import ContactDetails, PartnerDetails
from .deps import ContactId, PartnerId
from .views import ContactView, MembershipView, PartnerView

__all__ = ["router"]

router = APIRouter()

PersonName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1,
                                              max_length=200)]
Function = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1,
                                            max_length=200)]
Phone = Annotated[str, StringConstraints(strip_whitespace=True,
                                         pattern=r"^\+?[0-9][0-9 .\-]{5,22}[0-9]$")]


class PartnerIn(Input):
    """A partner organisation. Identifiers by kind: école/collège/lycée → uai (a collège
    or lycée may add its siret); commune → insee_code (and siren); EPCI, département,
    région, CAF, préfecture, rectorat/DASEN → siren or siret; association, entreprise →
    siret."""

    kind: PartnerKind
    name: Name
    departement: Departement | None = None
    uai: Uai | None = None
    siret: Siret | None = None
    siren: Siren | None = None
    insee_code: InseeCode | None = None
    commune_insee_code: InseeCode | None = Field(
        None, description="Commune the organisation is located in (a commune: itself)")

    def details(self) -> PartnerDetails:
        return PartnerDetails(**self.model_dump())


class PartnerPatchIn(Input):
    """Only the fields given change; ``null`` removes an optional identifier."""

    kind: PartnerKind | None = None
    name: Name | None = None
    departement: Departement | None = None
    uai: Uai | None = None
    siret: Siret | None = None
    siren: Siren | None = None
    insee_code: InseeCode | None = None
    commune_insee_code: InseeCode | None = None

    @field_validator("kind", "name")
    @classmethod
    def _kept(cls, value: object) -> object:
        if value is None:
            raise ValueError("cannot be removed, only changed")
        return value

    def apply(self, details: PartnerDetails) -> PartnerDetails:
        changes: dict[str, Any] = {f: getattr(self, f) for f in self.model_fields_set}
        if "commune_insee_code" in changes and "departement" not in changes:
            changes["departement"] = None  # follows the new commune
        return replace(details, **changes)


class ContactIn(Input):
    """A person at the partner. Personal data: kept by partners only; events carry the
    e-mail of consenting contacts only."""

    name: PersonName
    email: Email
    function: Function | None = None
    phone: Phone | None = None
    consent: bool = Field(description="The person agreed to receive the programme's e-mails "
                                      "(recorded with today's date)")

    def details(self) -> ContactDetails:
        return ContactDetails(name=self.name, email=str(self.email), function=self.function,
                              phone=self.phone, consent=self.consent)


class ContactPatchIn(Input):
    name: PersonName | None = None
    email: Email | None = None
    function: Function | None = None
    phone: Phone | None = None
    consent: bool | None = None

    @field_validator("name", "email", "consent")
    @classmethod
    def _kept(cls, value: object) -> object:
        if value is None:
            raise ValueError("cannot be removed, only changed")
        return value

    def apply(self, details: ContactDetails) -> ContactDetails:
        changes: dict[str, Any] = {f: getattr(self, f) for f in self.model_fields_set}
        if "email" in changes:
            changes["email"] = str(changes["email"])
        return replace(details, **changes)


# --- registry -------------------------------------------------------------------------------


@router.post("/partners", status_code=201, tags=["registry"], response_model=PartnerView,
             summary="Register an organisation (or find the one its identifiers designate)",
             responses={200: {"model": PartnerView,
                              "description": "Already registered: the existing partner"}})
async def register_partner(body: PartnerIn, response: Response, caller: Operator
                           ) -> PartnerView:
    """Register an organisation (201, ``PartnerRegistered``). If one of its identifiers
    is already registered, the existing partner is returned (200, no event)."""
    async with caller.unit_of_work() as uow:
        partner, created = await service.register_partner(uow, body.details(), caller.actor)
    response.status_code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
    response.headers["Location"] = f"/partners/{partner.partner_id}"
    return PartnerView.of(partner)


@router.get("/partners", tags=["registry"], response_model=Page[PartnerView],
            summary="Partners by kind and commune, by name")
async def list_partners(
    caller: Anyone, paging: Paging,
    kind: PartnerKind | None = None,
    commune: Annotated[InseeCode | None, Query(
        description="INSEE code of the commune partners are located in")] = None,
) -> Page[PartnerView]:
    """Partners by kind and commune, by name, a page at a time."""
    partners = await store.list_partners(caller.pool, kind=kind, commune=commune,
                                         after=paging.after(str, UUID), limit=paging.fetch)
    return paging.page([PartnerView.of(p) for p in partners],
                       key=lambda p: (p.name, p.partner_id))


@router.get("/partners/{partner_id}", tags=["registry"], response_model=PartnerView,
            summary="One partner")
async def get_partner(partner_id: PartnerId, caller: Anyone) -> PartnerView:
    partner = await store.get_partner(caller.pool, partner_id)
    if partner is None:
        raise NotFound.of("partner", partner_id)
    return PartnerView.of(partner)


@router.patch("/partners/{partner_id}", tags=["registry"], response_model=PartnerView,
              summary="Change a partner's details")
async def update_partner(partner_id: PartnerId, body: PartnerPatchIn, caller: Operator
                         ) -> PartnerView:
    """Change a partner's details (``PartnerUpdated`` when something changed)."""
    async with caller.unit_of_work() as uow:
        partner = await service.update_partner(uow, partner_id, body.apply, caller.actor)
    return PartnerView.of(partner)


@router.get("/partners/{partner_id}/memberships", tags=["registry"],
            response_model=Page[MembershipView],
            summary="Every alliance the partner belongs or belonged to")
async def partner_memberships(partner_id: PartnerId, caller: Anyone, paging: Paging
                              ) -> Page[MembershipView]:
    """Every alliance the partner belongs or belonged to, with its roles, in the order it
    joined them, a page at a time."""
    if await store.get_partner(caller.pool, partner_id) is None:
        raise NotFound.of("partner", partner_id)
    rows = await store.memberships_of(caller.pool, partner_id,
                                      after=paging.after(datetime.fromisoformat, int),
                                      limit=paging.fetch)
    return paging.page(rows, key=lambda r: (r["joined_at"], r["id"])).map(MembershipView.of)


# --- contacts -------------------------------------------------------------------------------


@router.get("/partners/{partner_id}/contacts", tags=["contacts"],
            response_model=Page[ContactView],
            summary="The partner's contacts (personal data)")
async def list_contacts(partner_id: PartnerId, caller: Operator, paging: Paging
                        ) -> Page[ContactView]:
    """The partner's contacts, in the order they were added, a page at a time: personal
    data, for the national coordination and the préfecture of the partner's département."""
    partner = await store.get_partner(caller.pool, partner_id)
    if partner is None:
        raise NotFound.of("partner", partner_id)
    caller.actor.ensure_acts_for(partner.departement)
    contacts = await store.contacts_of(caller.pool, partner_id,
                                       after=paging.after(datetime.fromisoformat, UUID),
                                       limit=paging.fetch)
    return paging.page([ContactView.of(c) for c in contacts],
                       key=lambda c: (c.created_at, c.contact_id))


@router.post("/partners/{partner_id}/contacts", status_code=201, tags=["contacts"],
             response_model=ContactView, summary="Add a contact, with its consent")
async def add_contact(partner_id: PartnerId, body: ContactIn, caller: Operator) -> ContactView:
    """Add a contact, with its consent (``PartnerUpdated`` if it consents)."""
    async with caller.unit_of_work() as uow:
        contact = await service.add_contact(uow, partner_id, body.details(), caller.actor)
    return ContactView.of(contact)


@router.patch("/partners/{partner_id}/contacts/{contact_id}", tags=["contacts"],
              response_model=ContactView,
              summary="Change a contact; giving or withdrawing consent records its date")
async def update_contact(partner_id: PartnerId, contact_id: ContactId, body: ContactPatchIn,
                         caller: Operator) -> ContactView:
    """Change a contact; giving or withdrawing consent records its date."""
    async with caller.unit_of_work() as uow:
        contact = await service.revise_contact(uow, partner_id, contact_id, body.apply,
                                               caller.actor)
    return ContactView.of(contact)


@router.delete("/partners/{partner_id}/contacts/{contact_id}", status_code=204,
               tags=["contacts"], response_model=None,
               summary="Right to erasure: a contact's personal data, everywhere it went")
async def erase_contact(partner_id: PartnerId, contact_id: ContactId, caller: Operator
                        ) -> Response:
    """Right to erasure: the contact's personal data is deleted for good and
    ``ContactErased`` (ids only) tells every consumer to forget it. Repeating is harmless."""
    async with caller.unit_of_work() as uow:
        await service.erase_contact(uow, partner_id, contact_id, caller.actor)
    return Response(status_code=204)
