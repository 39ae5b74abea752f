"""Use cases: each runs in the caller's unit of work (one transaction: state + events).

HTTP routes open the unit of work; event handlers get the consumer's, so a use case
reacting to labelling commits together with the inbox row that makes it happen once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import TypeVar
from uuid import UUID

from cites_contracts.events.labelling import (
    LabelExpired,
    LabelReinstated,
    LabelRenewed,
    LabelSuspended,
    LabelWithdrawn,
    PerimeterExtended,
    PerimeterSchool,
    TerritoryLabelled,
)
from cites_contracts.events.partners import (
    AllianceClosed,
    AllianceOpened,
    ChefDeFileDesignated,
    ContactErased,
    PartnerJoinedAlliance,
    PartnerLeftAlliance,
    PartnerRegistered,
    PartnerState,
    PartnerUpdated,
)
from cites_contracts.topics import PARTNERS_REGISTRY
from cites_contracts.types import AllianceClosureReason, AllianceRole, PartnerKind
from cites_runtime.auth import Principal, Role
from cites_runtime.uow import UnitOfWork

from . import store
from .domain import (
    KIND_LABELS,
    Alliance,
    AllianceStatus,
    Conflict,
    Contact,
    ContactDetails,
    Member,
    NotAllowed,
    NotFound,
    Partner,
    PartnerDetails,
    consenting,
)

__all__ = [
    "add_contact",
    "check_access",
    "close_alliance",
    "designate_chef_de_file",
    "erase_contact",
    "extend_perimeter",
    "join_alliance",
    "leave_alliance",
    "open_alliance",
    "register_partner",
    "reinstate_alliance",
    "renew_label",
    "revise_contact",
    "suspend_alliance",
    "update_partner",
]

S = TypeVar("S", bound=PartnerState)


def _now() -> datetime:
    return datetime.now(UTC)


def check_access(actor: Principal | None, departement: str | None) -> None:
    """The national coordination (and the system) act everywhere, a préfecture in its
    own département only."""
    if actor is None or actor.role is Role.NATIONAL:
        return
    if departement is not None and actor.can_act_for(departement):
        return
    if departement is None:
        raise NotAllowed(f"préfecture {actor.departement} acts only in its own département, "
                         "and this partner has none: give its commune_insee_code or "
                         "departement, or ask the national coordination")
    raise NotAllowed(f"préfecture {actor.departement} acts only in its own département, and "
                     f"this concerns département {departement}: ask the national "
                     "coordination")


# --- registry -------------------------------------------------------------------------------


def _snapshot(event: type[S], partner: Partner, contacts: Iterable[Contact],
              at: datetime) -> S:
    d = partner.details
    fields = dict(
        partner_id=partner.partner_id, kind=d.kind, name=d.name, departement=d.departement,
        uai=d.uai, siret=d.siret, siren=d.siren, insee_code=d.insee_code,
        commune_insee_code=d.commune_insee_code, contacts=consenting(contacts),
    )
    when = "registered_at" if event is PartnerRegistered else "updated_at"
    return event.model_validate({**fields, when: at})


def _the_same_partner(found: list[Partner], details: PartnerDetails) -> Partner:
    """The partner an existing identifier designates, if it is the one being registered."""
    if len(found) > 1:
        raise Conflict("these identifiers designate different partners: "
                       + ", ".join(p.describe() for p in found))
    existing = found[0]
    if existing.kind is not details.kind:
        mine, theirs = details.identity(), existing.details.identity()
        shared = [name for name in ("uai", "siret", "insee_code", "siren_alone")
                  if getattr(mine, name) and getattr(mine, name) == getattr(theirs, name)]
        raise Conflict(f"{', '.join(s.removesuffix('_alone') for s in shared)} already "
                       f"designates {existing.describe()}")
    return existing


async def register_partner(uow: UnitOfWork, details: PartnerDetails,
                           actor: Principal | None) -> tuple[Partner, bool]:
    """Register an organisation, or return the one its identifiers already designate
    (then nothing is emitted). Returns (partner, created)."""
    details = details.checked()
    found = await store.find_by_identity(uow.conn, details.identity())
    if found:  # reading it is open to all: no département check for an existing partner
        return _the_same_partner(found, details), False
    check_access(actor, details.departement)
    now = _now()
    partner = Partner.register(details, now)
    if not await store.insert_partner(uow.conn, partner):
        # Registered by a concurrent request since we looked: that one wins.
        return _the_same_partner(await store.find_by_identity(uow.conn, details.identity()),
                                 details), False
    uow.emit(_snapshot(PartnerRegistered, partner, (), now))
    return partner, True


async def _locked_partner(uow: UnitOfWork, partner_id: UUID) -> Partner:
    partner = await store.get_partner(uow.conn, partner_id, for_update=True)
    if partner is None:
        raise NotFound(f"partner {partner_id} is not in the registry")
    return partner


async def update_partner(uow: UnitOfWork, partner_id: UUID,
                         revise: Callable[[PartnerDetails], PartnerDetails],
                         actor: Principal | None) -> Partner:
    """Change a partner's details; emits ``PartnerUpdated`` when something changed."""
    partner = await _locked_partner(uow, partner_id)
    check_access(actor, partner.departement)
    now = _now()
    revised = partner.revised(revise(partner.details), now)
    if revised is None:
        return partner
    check_access(actor, revised.departement)
    if revised.details.identity() != partner.details.identity():
        others = [p for p in await store.find_by_identity(uow.conn, revised.details.identity())
                  if p.partner_id != partner_id]
        if others:
            raise Conflict("these identifiers already designate "
                           + ", ".join(p.describe() for p in others))
    if partner.kind is PartnerKind.COLLEGE and revised.kind is not PartnerKind.COLLEGE:
        cite_id = await store.chef_de_file_of_open_alliance(uow.conn, partner_id)
        if cite_id is not None:
            raise Conflict(f"{partner.describe()} is chef de file of alliance {cite_id}, which "
                           "only a collège can be: designate another collège first")
    await store.update_partner(uow.conn, revised)
    uow.emit(_snapshot(PartnerUpdated, revised, await store.contacts_of(uow.conn, partner_id),
                       now))
    return revised


async def add_contact(uow: UnitOfWork, partner_id: UUID, details: ContactDetails,
                      actor: Principal | None) -> Contact:
    partner = await _locked_partner(uow, partner_id)
    check_access(actor, partner.departement)
    now = _now()
    contact = Contact.add(partner_id, details, now)
    await store.insert_contact(uow.conn, contact)
    if contact.published is not None:
        contacts = await store.contacts_of(uow.conn, partner_id)
        uow.emit(_snapshot(PartnerUpdated, partner, contacts, now))
    return contact


async def _live_contact(uow: UnitOfWork, partner_id: UUID, contact_id: UUID) -> Contact:
    contact, _ = await store.get_contact(uow.conn, partner_id, contact_id)
    if contact is None:
        raise NotFound(f"partner {partner_id} has no contact {contact_id}")
    return contact


async def revise_contact(uow: UnitOfWork, partner_id: UUID, contact_id: UUID,
                         revise: Callable[[ContactDetails], ContactDetails],
                         actor: Principal | None) -> Contact:
    """Change a contact (consent included); emits ``PartnerUpdated`` only when what events
    say of it changes (its consent, or the e-mail of a consenting contact)."""
    partner = await _locked_partner(uow, partner_id)
    check_access(actor, partner.departement)
    contact = await _live_contact(uow, partner_id, contact_id)
    now = _now()
    revised = contact.revised(revise(contact.details), now)
    await store.update_contact(uow.conn, revised)
    if revised.published != contact.published:
        contacts = await store.contacts_of(uow.conn, partner_id)
        uow.emit(_snapshot(PartnerUpdated, partner, contacts, now))
    return revised


async def erase_contact(uow: UnitOfWork, partner_id: UUID, contact_id: UUID,
                        actor: Principal | None) -> bool:
    """Erase a contact's personal data for good and tell every consumer to forget it.
    Erasing an erased contact changes nothing (False)."""
    partner = await _locked_partner(uow, partner_id)
    check_access(actor, partner.departement)
    contact, exists = await store.get_contact(uow.conn, partner_id, contact_id)
    if not exists:
        raise NotFound(f"partner {partner_id} has no contact {contact_id}")
    if contact is None:
        return False
    now = _now()
    await store.erase_contact(uow.conn, contact_id, now)
    await uow.forget_published(PARTNERS_REGISTRY.name, str(partner_id), contact.details.email)
    uow.emit(ContactErased(partner_id=partner_id, contact_id=contact_id, erased_at=now))
    return True


# --- alliances: the label's life, from labelling's events ---------------------------------


def _schools(schools: Iterable[PerimeterSchool]) -> list[dict[str, str]]:
    return [{"uai": s.uai, "kind": s.kind.value, "name": s.name,
             "education_priority": s.education_priority.value} for s in schools]


async def open_alliance(uow: UnitOfWork, event: TerritoryLabelled) -> bool:
    """Open the new cité's alliance with its lead collège as chef de file, registering the
    collège if unknown. A cité that has an alliance keeps it (False): the same label
    published twice, whatever its event id, opens one alliance."""
    now, uai = _now(), event.lead_college_uai
    named = next((s.name for s in event.perimeter.schools if s.uai == uai), f"Collège {uai}")
    college = Partner.register(PartnerDetails(kind=PartnerKind.COLLEGE, name=named,
                                              departement=event.departement, uai=uai), now)
    opening = await store.open_alliance(
        uow.conn, cite_id=event.cite_id, name=event.name, departement=event.departement,
        wave_id=event.wave.id, candidature_id=event.candidature_id,
        label_start=event.label_period.start, label_end=event.label_period.end,
        schools=_schools(event.perimeter.schools), lead=college, at=now,
    )
    if not opening.opened:
        return False
    if opening.lead is None:
        # Registered by a concurrent transaction after the statement's snapshot: read it
        # now (rare, so the extra round trips do not matter).
        found, _ = await store.register_college_unless_known(uow.conn, college)
        lead = (found.partner_id, found.kind, found.name)
    else:
        lead = opening.lead
    lead_id, kind, name = lead
    if kind is not PartnerKind.COLLEGE:
        raise Conflict(f"the lead collège's UAI {uai} is registered as {KIND_LABELS[kind]} "
                       f"'{name}' (partner {lead_id}); if it is a collège, correct the "
                       f"partner's kind (PATCH /partners/{lead_id} with kind 'college'), "
                       "then replay the dead letter")
    if not opening.chef_de_file_joined:
        await store.insert_membership(uow.conn, event.cite_id, lead_id,
                                      [AllianceRole.CHEF_DE_FILE], now)
    if opening.lead_registered:
        uow.emit(_snapshot(PartnerRegistered, college, (), now))
    uow.emit(AllianceOpened(cite_id=event.cite_id, chef_de_file_partner_id=lead_id,
                            chef_de_file_uai=uai, opened_at=now))
    uow.emit(ChefDeFileDesignated(cite_id=event.cite_id, partner_id=lead_id, uai=uai,
                                  designated_at=now))
    return True


async def _alliance(uow: UnitOfWork, cite_id: str, *, with_members: bool = True) -> Alliance:
    alliance = await store.load_alliance(uow.conn, cite_id, with_members=with_members)
    if alliance is None:
        raise NotFound(f"cité {cite_id} has no alliance (is it labelled?)")
    return alliance


async def extend_perimeter(uow: UnitOfWork, event: PerimeterExtended) -> None:
    """The alliance's perimeter becomes the extended one (its new schools included)."""
    await _alliance(uow, event.cite_id, with_members=False)
    await store.replace_schools(uow.conn, event.cite_id, _schools(event.perimeter.schools))


async def renew_label(uow: UnitOfWork, event: LabelRenewed) -> None:
    await _alliance(uow, event.cite_id, with_members=False)
    await store.set_label_period(uow.conn, event.cite_id, event.label_period.start,
                                 event.label_period.end)


async def suspend_alliance(uow: UnitOfWork, event: LabelSuspended) -> None:
    alliance = await _alliance(uow, event.cite_id, with_members=False)
    if alliance.suspend():
        await store.set_status(uow.conn, event.cite_id, alliance.status, _now())


async def reinstate_alliance(uow: UnitOfWork, event: LabelReinstated) -> None:
    alliance = await _alliance(uow, event.cite_id, with_members=False)
    if alliance.reinstate():
        await store.set_status(uow.conn, event.cite_id, alliance.status, _now())


async def close_alliance(uow: UnitOfWork, event: LabelWithdrawn | LabelExpired) -> None:
    """Close the alliance for good; its members stay as its history."""
    reason = (AllianceClosureReason.LABEL_WITHDRAWN if isinstance(event, LabelWithdrawn)
              else AllianceClosureReason.LABEL_EXPIRED)
    alliance = await _alliance(uow, event.cite_id, with_members=False)
    if alliance.close():
        now = _now()
        await store.set_status(uow.conn, event.cite_id, AllianceStatus.CLOSED, now, reason)
        uow.emit(AllianceClosed(cite_id=event.cite_id, reason=reason, closed_at=now))


# --- alliances: members, by operators -----------------------------------------------------


async def join_alliance(uow: UnitOfWork, cite_id: str, partner_id: UUID,
                        roles: Iterable[AllianceRole], actor: Principal | None) -> Member:
    alliance = await _alliance(uow, cite_id)
    check_access(actor, alliance.departement)
    partner = await store.get_partner(uow.conn, partner_id)
    if partner is None:
        raise NotFound(f"partner {partner_id} is not in the registry: register it first")
    now = _now()
    member = alliance.join(partner_id, partner.kind, partner.name, roles, now)
    await store.insert_membership(uow.conn, cite_id, partner_id, sorted(member.roles), now)
    uow.emit(PartnerJoinedAlliance(cite_id=cite_id, partner_id=partner_id,
                                   partner_kind=partner.kind, roles=tuple(sorted(member.roles)),
                                   joined_at=now))
    return member


async def leave_alliance(uow: UnitOfWork, cite_id: str, partner_id: UUID, motive: str | None,
                         actor: Principal | None) -> None:
    alliance = await _alliance(uow, cite_id)
    check_access(actor, alliance.departement)
    alliance.leave(partner_id)
    now = _now()
    await store.end_membership(uow.conn, cite_id, partner_id, now, motive)
    uow.emit(PartnerLeftAlliance(cite_id=cite_id, partner_id=partner_id, motive=motive,
                                 left_at=now))


async def designate_chef_de_file(uow: UnitOfWork, cite_id: str, partner_id: UUID,
                                 actor: Principal | None) -> bool:
    """Hand the chef de file role to another member collège: one command, one event.
    False when it already holds it."""
    alliance = await _alliance(uow, cite_id)
    check_access(actor, alliance.departement)
    previous = alliance.designate_chef_de_file(partner_id)
    if previous is None:
        return False
    # The old chef de file loses the role before the new one gets it: the partial unique
    # index never sees two.
    await store.set_roles(uow.conn, cite_id, previous)
    await store.set_roles(uow.conn, cite_id, alliance.members[partner_id])
    college = await store.get_partner(uow.conn, partner_id)
    assert college is not None and college.details.uai is not None
    uow.emit(ChefDeFileDesignated(cite_id=cite_id, partner_id=partner_id, uai=college.details.uai,
                                  previous_partner_id=previous.partner_id,
                                  designated_at=_now()))
    return True
