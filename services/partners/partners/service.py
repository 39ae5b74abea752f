"""Use cases: each runs in the caller's unit of work (one transaction: state + events).

The entrypoint owns the unit of work: an HTTP route opens it from its caller (so events
carry the request's correlation id and trace), an event handler gets the consumer's (so a
use case reacting to labelling commits together with the inbox row that makes it happen
once). A use case loads, asks the domain, saves, and emits the events the domain returned;
its time is the unit of work's (``uow.now``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from uuid import UUID

from cites_contracts import Event
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
    PartnerRegistered,
    PartnerRegisteredV1,
    PartnerUpdatedV1,
)
from cites_contracts.topics import PARTNERS_CONTACTS
from cites_contracts.types import AllianceClosureReason, AllianceRole, PartnerKind
from cites_runtime.actor import Actor
from cites_runtime.uow import Cause, UnitOfWork

from . import store
from .domain import (
    Alliance,
    Contact,
    ContactChange,
    ContactDetails,
    Member,
    Partner,
    PartnerDetails,
    ensure_identifiers_free,
    ensure_leader_stays_a_college,
    no_alliance,
    the_same_partner,
    unknown_contact,
    unknown_partner,
)

__all__ = [
    "add_contact",
    "designate_chef_de_file",
    "erase_contact",
    "follow_labels",
    "join_alliance",
    "leave_alliance",
    "open_alliance",
    "open_alliances",
    "register_partner",
    "revise_contact",
    "update_partner",
]


# --- registry -------------------------------------------------------------------------------


async def register_partner(uow: UnitOfWork, details: PartnerDetails, actor: Actor
                           ) -> tuple[Partner, bool]:
    """Register an organisation, or return the one its identifiers already designate
    (then nothing is emitted). Returns (partner, created)."""
    details = details.checked()
    found = await store.find_by_identity(uow.conn, details.identity())
    if found:  # reading it is open to all: no département check for an existing partner
        return the_same_partner(found, details), False
    actor.ensure_acts_for(details.departement)
    partner, registered = Partner.register(details, uow.now)
    if not await store.insert_partner(uow.conn, partner):
        # Registered by a concurrent request since we looked: that one wins.
        return the_same_partner(await store.find_by_identity(uow.conn, details.identity()),
                                details), False
    uow.emit(registered)
    return partner, True


async def _locked_partner(uow: UnitOfWork, partner_id: UUID) -> Partner:
    partner = await store.get_partner(uow.conn, partner_id, for_update=True)
    if partner is None:
        raise unknown_partner(partner_id)
    return partner


async def update_partner(uow: UnitOfWork, partner_id: UUID,
                         revise: Callable[[PartnerDetails], PartnerDetails],
                         actor: Actor) -> Partner:
    """Change a partner's details; emits ``PartnerUpdated`` when something changed."""
    partner = await _locked_partner(uow, partner_id)
    actor.ensure_acts_for(partner.departement)
    revised = partner.revised(revise(partner.details), uow.now)
    if revised is None:
        return partner
    actor.ensure_acts_for(revised.departement)
    if revised.details.identity() != partner.details.identity():
        ensure_identifiers_free(
            p for p in await store.find_by_identity(uow.conn, revised.details.identity())
            if p.partner_id != partner_id)
    if revised.kind is not partner.kind:
        leads = await store.chef_de_file_of_open_alliance(uow.conn, partner_id)
        ensure_leader_stays_a_college(partner, revised, leads)
    await store.update_partner(uow.conn, revised)
    uow.emit(revised.snapshot(await store.contacts_of(uow.conn, partner_id), uow.now))
    return revised


async def add_contact(uow: UnitOfWork, partner_id: UUID, details: ContactDetails,
                      actor: Actor) -> Contact:
    """Add a contact; if it consents, ``PartnerUpdated`` names it and its card (its
    address) is published on ``partners.contacts``."""
    partner = await _locked_partner(uow, partner_id)
    actor.ensure_acts_for(partner.departement)
    contacts = await store.contacts_of(uow.conn, partner_id)
    contact, change = partner.add_contact(details, contacts, uow.now)
    await store.insert_contact(uow.conn, contact)
    await _publish(uow, change)
    return contact


async def _publish(uow: UnitOfWork, change: ContactChange) -> None:
    """Emit what a contact's change tells other services (the address only on the
    compacted ``partners.contacts``; a withdrawn consent erases it there)."""
    if change.snapshot is not None:
        uow.emit(change.snapshot)
    if change.card is not None:
        uow.emit(change.card)
    if change.forget is not None:
        await uow.erase(PARTNERS_CONTACTS, str(change.forget))


async def revise_contact(uow: UnitOfWork, partner_id: UUID, contact_id: UUID,
                         revise: Callable[[ContactDetails], ContactDetails],
                         actor: Actor) -> Contact:
    """Change a contact (consent included). Its consent changes the ``PartnerUpdated``
    list of contact ids; a consenting contact's new address is a new card; a withdrawn
    consent erases its card (tombstone)."""
    partner = await _locked_partner(uow, partner_id)
    actor.ensure_acts_for(partner.departement)
    contacts = await store.contacts_of(uow.conn, partner_id)
    current = partner.contact(contact_id, contacts)
    contact, change = partner.revise_contact(current, revise(current.details), contacts,
                                             uow.now)
    await store.update_contact(uow.conn, contact)
    await _publish(uow, change)
    return contact


async def erase_contact(uow: UnitOfWork, partner_id: UUID, contact_id: UUID,
                        actor: Actor) -> bool:
    """Erase a contact's personal data for good, everywhere it went: its row here (personal
    columns set to NULL), every outbox row that held any address it ever had (published
    or pending: its cards, by contact id), its card on Kafka (a tombstone, which
    compaction makes the only record of its key: ``cites_contracts.topics``), and every
    consumer's copy (``ContactErased``). Erasing an erased contact changes nothing
    (False)."""
    partner = await _locked_partner(uow, partner_id)
    actor.ensure_acts_for(partner.departement)
    contact, exists = await store.get_contact(uow.conn, partner_id, contact_id)
    if not exists:
        raise unknown_contact(partner_id, contact_id)
    if contact is None:
        return False
    erased = contact.erase(uow.now)
    await store.erase_contact(uow.conn, contact_id, erased.erased_at)
    await uow.erase(PARTNERS_CONTACTS, str(contact_id))
    await uow.redact_retired([PartnerRegisteredV1, PartnerUpdatedV1], str(partner_id),
                             array="contacts", field="contact_id", value=str(contact_id))
    uow.emit(erased)
    return True


# --- alliances: the label's life, from labelling's events ---------------------------------

# Locks. Who may be chef de file depends on the partner's row (its kind) and on the other
# alliances (a collège leads one not closed at most), which a plain read sees only as last
# committed: two commands each checking what the other is changing would both pass (a
# lycée made chef de file, a collège leading two). So every command that makes a partner
# chef de file locks its row (FOR UPDATE, as update_partner and the contact commands do)
# and reads its kind and what it leads only then (in READ COMMITTED a statement started
# after the lock sees what the lock holder committed). The order is always the alliance
# first, then the partner: designate_chef_de_file locks the alliance row then the
# candidate's, open_alliance inserts its alliance then locks a lead it did not register,
# join_alliance locks the alliance then references the partner; update_partner locks the
# partner and never an alliance. So no two commands wait for each other in a cycle. (A
# consumer batch applies several events in one transaction: having locked a lead, it may
# then want an alliance a designation of that lead holds. PostgreSQL breaks that deadlock:
# the batch is retried, or the request answers 503 to be sent again; never a wrong state.)


def _schools(schools: Iterable[PerimeterSchool]) -> list[dict[str, str]]:
    return [{"uai": s.uai, "kind": s.kind.value, "name": s.name,
             "education_priority": s.education_priority.value} for s in schools]


async def open_alliance(uow: UnitOfWork, event: TerritoryLabelled) -> bool:
    """Open the new cité's alliance with its lead collège as chef de file, registering the
    collège if unknown. A cité that has an alliance keeps it (False): the same label
    published twice, whatever its event id, opens one alliance."""
    [opened] = await open_alliances(uow, [event])
    return opened


async def open_alliances(uow: UnitOfWork, labels: Sequence[TerritoryLabelled],
                         causes: Sequence[Cause] | None = None) -> list[bool]:
    """:func:`open_alliance` for each label, in order, as if one after another, in a few
    statements for them all (a consumer's batch, a replayed history). ``causes``: each
    label's, for the events it causes (default: the unit of work's). Returns, per label,
    whether its alliance opened. A rule refusing one label raises, for them all: the
    consumer then applies them one at a time and dead-letters that one."""
    if causes is None:
        causes = [uow.cause] * len(labels)
    if len({e.lead_college_uai for e in labels}) < len(labels) or len(
            {e.cite_id for e in labels}) < len(labels):
        # A lead (or a cité) named twice: the second must see what the first did.
        return [opened for label, cause in zip(labels, causes, strict=True)
                for opened in await open_alliances(uow, [label], [cause])]
    registering: list[tuple[Partner, PartnerRegistered]] = []
    new: list[store.NewAlliance] = []
    for event in labels:
        uai = event.lead_college_uai
        named = next((s.name for s in event.perimeter.schools if s.uai == uai),
                     f"Collège {uai}")
        college, registered = Partner.register(
            PartnerDetails(kind=PartnerKind.COLLEGE, name=named,
                           departement=event.departement, uai=uai), uow.now)
        registering.append((college, registered))
        new.append(store.NewAlliance(
            cite_id=event.cite_id, name=event.name, departement=event.departement,
            wave_id=event.wave.id, candidature_id=event.candidature_id,
            label_start=event.label_period.start, label_end=event.label_period.end,
            schools=_schools(event.perimeter.schools), lead=college))
    openings = await store.open_alliances(uow.conn, new, uow.now)
    leads: list[tuple[Partner, bool] | None] = []
    for opening, (college, _) in zip(openings, registering, strict=True):
        if not opening.opened:
            leads.append(None)
        elif opening.lead is None:
            # Registered by a concurrent transaction after the statement's snapshot: read
            # it now (rare, so the extra round trip does not matter).
            leads.append(await store.register_college_unless_known(uow.conn, college))
        else:
            leads.append((opening.lead, opening.lead_registered))
    # Leads known before these labels: locked (after their alliances, inserted above: the
    # lock order) and read again, so their kind and the alliance they may lead are those
    # that commit. A lead registered just now is seen by no one else and leads nothing.
    known = {lead.partner_id: label.cite_id for label, found in zip(labels, leads, strict=True)
             if found is not None for lead, registered_now in [found] if not registered_now}
    locked = await store.lock_partners(uow.conn, list(known)) if known else {}
    leading = (await store.chefs_de_file_of_open_alliances(uow.conn, list(known.items()))
               if known else {})
    members: list[tuple[str, Member]] = []
    caused: list[tuple[Cause, Sequence[Event]]] = []
    for label, found, (_, registered), cause in zip(labels, leads, registering, causes,
                                                    strict=True):
        if found is None:
            continue
        lead, registered_now = found
        if not registered_now:
            lead = locked[lead.partner_id]  # partners are never deleted
        alliance, opened = Alliance.open(label.cite_id, label.departement, lead, uow.now,
                                         leads=leading.get(lead.partner_id))
        members.append((alliance.cite_id, alliance.chef_de_file))
        caused.append((cause, (registered, *opened) if registered_now else opened))
    if members:
        await store.insert_memberships(uow.conn, members)
    for cause, events in caused:
        for e in events:
            uow.emit(e, cause=cause)
    return [found is not None for found in leads]


async def _alliance(uow: UnitOfWork, cite_id: str, *, with_members: bool = True,
                    lock_partner: UUID | None = None) -> Alliance:
    alliance = await store.load_alliance(uow.conn, cite_id, with_members=with_members,
                                         lock_partner=lock_partner)
    if alliance is None:
        raise no_alliance(cite_id)
    return alliance


LabelLife = (PerimeterExtended | LabelRenewed | LabelSuspended | LabelReinstated
             | LabelWithdrawn | LabelExpired)
"""What labelling says of a label after it is granted: what :func:`follow_labels` applies."""


async def follow_labels(uow: UnitOfWork, events: Sequence[LabelLife],
                        causes: Sequence[Cause] | None = None) -> None:
    """What each event does to its cité's alliance, in order, as if one after another, in
    two statements for them all (a consumer's run, a replayed history): an extension
    replaces its perimeter, a renewal moves its label's end, a suspension or reinstatement
    its status (a repeated one changes nothing), a withdrawal or expiry closes it for good
    (``AllianceClosed``, once; members stay as its history). ``causes``: each event's, for
    what it emits (default: the unit of work's). An event of a cité without an alliance
    raises, for them all: the consumer then applies them one at a time and dead-letters
    that one."""
    if causes is None:
        causes = [uow.cause] * len(events)
    if len({e.cite_id for e in events}) < len(events):
        # A cité named twice: the second must see what the first did.
        for event, cause in zip(events, causes, strict=True):
            await follow_labels(uow, [event], [cause])
        return
    # Locked (commands on one alliance serialise): its status is the one that commits.
    alliances = await store.lock_alliances(uow.conn, [e.cite_id for e in events])
    for event in events:
        if event.cite_id not in alliances:
            raise no_alliance(event.cite_id)
    changes: list[store.AllianceChange] = []
    for event, cause in zip(events, causes, strict=True):
        alliance = alliances[event.cite_id]
        change = store.AllianceChange(event.cite_id)
        if isinstance(event, PerimeterExtended):
            change.schools = _schools(event.perimeter.schools)
        elif isinstance(event, LabelRenewed):
            change.label_end = event.label_period.end
        elif isinstance(event, LabelSuspended):
            if alliance.suspend():
                change.status, change.at = alliance.status, uow.now
        elif isinstance(event, LabelReinstated):
            if alliance.reinstate():
                change.status, change.at = alliance.status, uow.now
        else:
            closed = alliance.close(AllianceClosureReason.LABEL_WITHDRAWN
                                    if isinstance(event, LabelWithdrawn)
                                    else AllianceClosureReason.LABEL_EXPIRED, uow.now)
            if closed is not None:
                change.status, change.at, change.reason = (alliance.status, closed.closed_at,
                                                           closed.reason)
                uow.emit(closed, cause=cause)
        if change.changes:
            changes.append(change)
    if changes:
        await store.change_alliances(uow.conn, changes)


# --- alliances: members, by operators -----------------------------------------------------


async def join_alliance(uow: UnitOfWork, cite_id: str, partner_id: UUID,
                        roles: Iterable[AllianceRole], actor: Actor) -> Member:
    alliance = await _alliance(uow, cite_id)
    actor.ensure_acts_for(alliance.departement)
    partner = await store.get_partner(uow.conn, partner_id)
    if partner is None:
        raise unknown_partner(partner_id, then="register it first")
    member, joined = alliance.join(partner, roles, uow.now)
    await store.insert_membership(uow.conn, cite_id, member)
    uow.emit(joined)
    return member


async def leave_alliance(uow: UnitOfWork, cite_id: str, partner_id: UUID, motive: str | None,
                         actor: Actor) -> None:
    alliance = await _alliance(uow, cite_id)
    actor.ensure_acts_for(alliance.departement)
    left = alliance.leave(partner_id, motive, uow.now)
    await store.end_membership(uow.conn, cite_id, partner_id, left.left_at, motive)
    uow.emit(left)


async def designate_chef_de_file(uow: UnitOfWork, cite_id: str, partner_id: UUID,
                                 actor: Actor) -> bool:
    """Hand the chef de file role to another member collège: one command, one event.
    False when it already holds it."""
    # The candidate's row is locked before its kind and the alliance it may lead are read
    # (see "Locks" above): a kind change or another designation of it waits for this one
    # and then sees it, or commits first and is seen here.
    alliance = await _alliance(uow, cite_id, lock_partner=partner_id)
    actor.ensure_acts_for(alliance.departement)
    leads = await store.chef_de_file_of_open_alliance(uow.conn, partner_id, other_than=cite_id)
    designated = alliance.designate_chef_de_file(partner_id, uow.now, leads=leads)
    if designated is None:
        return False
    # The old chef de file loses the role before the new one gets it: the partial unique
    # index never sees two.
    assert designated.previous_partner_id is not None
    await store.set_roles(uow.conn, cite_id, alliance.members[designated.previous_partner_id])
    await store.set_roles(uow.conn, cite_id, alliance.members[partner_id])
    uow.emit(designated)
    return True
