"""HTTP routes of the partner registry: organisations and their contacts.

Contacts are personal data: only the national coordination and the préfecture of the
partner's département see or change them.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated, Any

from fastapi import Query, Request, Response, status
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

from .. import service, store
from ..domain import Contact, ContactDetails, NotFound, Partner, PartnerDetails
from ..views import ContactOut, MembershipOut, PartnerOut, PartnerPage
from .common import (
    ContactId,
    Input,
    Operator,
    PartnerId,
    Reader,
    decode_partner_cursor,
    encode_partner_cursor,
    new_router,
    page_size,
    runtime,
)

__all__ = ["router"]

router = new_router()

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


class PartnerPatch(Input):
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


class ContactPatch(Input):
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


def _partner_out(p: Partner) -> PartnerOut:
    d = p.details
    return PartnerOut(partner_id=p.partner_id, kind=d.kind, name=d.name,
                      departement=d.departement, uai=d.uai, siret=d.siret, siren=d.siren,
                      insee_code=d.insee_code, commune_insee_code=d.commune_insee_code,
                      registered_at=p.registered_at, updated_at=p.updated_at)


@router.post("/partners", response_model=PartnerOut, status_code=201, tags=["registry"],
             responses={200: {"model": PartnerOut,
                              "description": "Already registered: the existing partner"}})
async def register_partner(body: PartnerIn, request: Request, response: Response,
                           actor: Operator) -> PartnerOut:
    """Register an organisation (201, ``PartnerRegistered``). If one of its identifiers
    is already registered, the existing partner is returned (200, no event)."""
    async with runtime(request).unit_of_work() as uow:
        partner, created = await service.register_partner(uow, body.details(), actor)
    response.status_code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
    response.headers["Location"] = f"/partners/{partner.partner_id}"
    return _partner_out(partner)


@router.get("/partners", response_model=PartnerPage, tags=["registry"])
async def list_partners(
    request: Request, _: Reader,
    kind: PartnerKind | None = None,
    commune: Annotated[InseeCode | None, Query(
        description="INSEE code of the commune partners are located in")] = None,
    cursor: Annotated[str | None, Query(description="next_cursor of the previous page")] = None,
    limit: Annotated[int | None, Query(ge=1, le=500)] = None,
) -> PartnerPage:
    """Partners by kind and commune, by name, a page at a time."""
    size = page_size(request, limit)
    after = decode_partner_cursor(cursor) if cursor else None
    items = await store.list_partners(runtime(request).pool, kind=kind, commune=commune,
                                      after=after, limit=size + 1)
    more = len(items) > size
    items = items[:size]
    next_cursor = (encode_partner_cursor(items[-1].name, items[-1].partner_id)
                   if more else None)
    return PartnerPage(items=items, next_cursor=next_cursor)


@router.get("/partners/{partner_id}", response_model=PartnerOut, tags=["registry"])
async def get_partner(partner_id: PartnerId, request: Request, _: Reader) -> PartnerOut:
    partner = await store.get_partner(runtime(request).pool, partner_id)
    if partner is None:
        raise NotFound(f"partner {partner_id} is not in the registry")
    return _partner_out(partner)


@router.patch("/partners/{partner_id}", response_model=PartnerOut, tags=["registry"])
async def update_partner(partner_id: PartnerId, body: PartnerPatch, request: Request,
                         actor: Operator) -> PartnerOut:
    """Change a partner's details (``PartnerUpdated`` when something changed)."""
    async with runtime(request).unit_of_work() as uow:
        partner = await service.update_partner(uow, partner_id, body.apply, actor)
    return _partner_out(partner)


@router.get("/partners/{partner_id}/memberships", response_model=list[MembershipOut],
            tags=["registry"])
async def partner_memberships(partner_id: PartnerId, request: Request, _: Reader
                              ) -> list[MembershipOut]:
    """Every alliance the partner belongs or belonged to, with its roles."""
    pool = runtime(request).pool
    if await store.get_partner(pool, partner_id) is None:
        raise NotFound(f"partner {partner_id} is not in the registry")
    return await store.memberships_view(pool, partner_id)


# --- contacts -------------------------------------------------------------------------------


@router.get("/partners/{partner_id}/contacts", response_model=list[ContactOut],
            tags=["contacts"])
async def list_contacts(partner_id: PartnerId, request: Request, actor: Operator
                        ) -> list[ContactOut]:
    pool = runtime(request).pool
    partner = await store.get_partner(pool, partner_id)
    if partner is None:
        raise NotFound(f"partner {partner_id} is not in the registry")
    service.check_access(actor, partner.departement)
    return await store.contacts_view(pool, partner_id)


def _contact_out(c: Contact) -> ContactOut:
    d = c.details
    return ContactOut(contact_id=c.contact_id, partner_id=c.partner_id, name=d.name,
                      function=d.function, email=d.email, phone=d.phone, consent=d.consent,
                      consent_recorded_at=c.consent_recorded_at, created_at=c.created_at)


@router.post("/partners/{partner_id}/contacts", response_model=ContactOut, status_code=201,
             tags=["contacts"])
async def add_contact(partner_id: PartnerId, body: ContactIn, request: Request,
                      actor: Operator) -> ContactOut:
    """Add a contact, with its consent (``PartnerUpdated`` if it consents)."""
    async with runtime(request).unit_of_work() as uow:
        contact = await service.add_contact(uow, partner_id, body.details(), actor)
    return _contact_out(contact)


@router.patch("/partners/{partner_id}/contacts/{contact_id}", response_model=ContactOut,
              tags=["contacts"])
async def update_contact(partner_id: PartnerId, contact_id: ContactId, body: ContactPatch,
                         request: Request, actor: Operator) -> ContactOut:
    """Change a contact; giving or withdrawing consent records its date."""
    async with runtime(request).unit_of_work() as uow:
        contact = await service.revise_contact(uow, partner_id, contact_id, body.apply, actor)
    return _contact_out(contact)


@router.delete("/partners/{partner_id}/contacts/{contact_id}", status_code=204,
               tags=["contacts"])
async def erase_contact(partner_id: PartnerId, contact_id: ContactId, request: Request,
                        actor: Operator) -> Response:
    """Right to erasure: the contact's personal data is deleted for good and
    ``ContactErased`` (ids only) tells every consumer to forget it. Repeating is harmless."""
    async with runtime(request).unit_of_work() as uow:
        await service.erase_contact(uow, partner_id, contact_id, actor)
    return Response(status_code=204)
