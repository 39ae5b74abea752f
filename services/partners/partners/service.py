"""Use cases: each runs in the caller's unit of work (one transaction: state + events).

The entrypoint owns the unit of work: an HTTP route opens it from its caller (so events
carry the request's correlation id and trace), an event handler gets the consumer's (so a
use case reacting to labelling commits together with the inbox row that makes it happen
once). A use case loads, asks the domain, saves, and emits the events the domain returned;
its time is the unit of work's (``uow.now``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from uuid import UUID

from cites_contracts.events.labelling import TerritoryLabelled
from cites_contracts.events.partners import (
    PartnerRegistered,
    PartnerRegisteredV1,
    PartnerUpdatedV1,
)
from cites_contracts.topics import PARTNERS_CONTACTS
from cites_contracts.types import AllianceRole
from cites_runtime.actor import Actor
from cites_runtime.errors import NotFound
from cites_runtime.logs import get_logger
from cites_runtime.uow import Cause, UnitOfWork, civil_date

from . import store
from .domain import (
    Alliance,
    ChefDeProjetPost,
    Contact,
    ContactChange,
    ContactDetails,
    LabelLife,
    Member,
    Partner,
    PartnerDetails,
    Tenure,
    lead_college,
    the_same_partner,
)

__all__ = [
    "add_contact",
    "appoint_chef_de_projet",
    "designate_chef_de_file",
    "designate_collectivite_cheffe_de_file",
    "erase_contact",
    "follow_labels",
    "join_alliance",
    "leave_alliance",
    "open_alliance",
    "open_alliances",
    "register_partner",
    "revise_contact",
    "update_partner",
    "vacate_chef_de_projet",
]

log = get_logger(__name__)


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
        raise NotFound.of("partner", partner_id)
    return partner


async def update_partner(uow: UnitOfWork, partner_id: UUID,
                         revise: Callable[[PartnerDetails], PartnerDetails],
                         actor: Actor) -> Partner:
    """Change a partner's details; emits ``PartnerUpdated`` when something changed."""
    partner = await _locked_partner(uow, partner_id)
    actor.ensure_acts_for(partner.departement)
    details = revise(partner.details).checked()
    actor.ensure_acts_for(details.departement)
    updated = partner.revise(
        details, uow.now, contacts=await store.contacts_of(uow.conn, partner_id),
        holders=await store.find_by_identity(uow.conn, details.identity()),
        leads=await store.chef_de_file_of_open_alliance(uow.conn, partner_id),
        hosts=await store.collectivite_cheffe_de_file_of_open_alliance(uow.conn, partner_id))
    if updated is not None:
        await store.update_partner(uow.conn, partner)
        uow.emit(updated)
    return partner


async def add_contact(uow: UnitOfWork, partner_id: UUID, details: ContactDetails,
                      actor: Actor) -> Contact:
    """Add a contact; if it consents, ``PartnerUpdated`` names it and its card (its
    address) is published on ``partners.contacts``."""
    partner = await _locked_partner(uow, partner_id)
    actor.ensure_acts_for(partner.departement)
    contacts = await store.contacts_of(uow.conn, partner_id)
    contact, change = Contact.add(partner, details, contacts, uow.now)
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
    contact = partner.contact(contact_id, contacts)
    change = contact.revise(partner, revise(contact.details), contacts, uow.now)
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
        raise NotFound(f"partner {partner_id} has no contact {contact_id}")
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


async def open_alliance(uow: UnitOfWork, event: TerritoryLabelled) -> bool:
    """Open the new cité's alliance with its lead collège as chef de file, registering the
    collège if unknown. A cité that has an alliance keeps it (False): the same label
    published twice, whatever its event id, opens one alliance."""
    [opened] = await open_alliances(uow, [event])
    return opened


@dataclass(slots=True)
class _Opening:
    """One label to open, followed through the statements that open its run."""

    label: TerritoryLabelled
    cause: Cause
    """What the events it causes carry as their cause."""
    lead: Partner
    """The lead collège: as the label names it until its alliance is inserted, then the
    partner holding its UAI (that one, registered now if the UAI was unknown)."""
    registered: PartnerRegistered | None
    """The lead's registration, unless the lead proves known."""
    opened: bool = False
    """The alliance is inserted: the cité had none."""
    leads: str | None = None
    """The cité of the alliance not closed that the lead is chef de file of already."""


async def open_alliances(uow: UnitOfWork, labels: Sequence[TerritoryLabelled],
                         causes: Sequence[Cause] | None = None) -> list[bool]:
    """:func:`open_alliance` for each label, in order, as if one after another, in a few
    statements for a run of them (a consumer's batch, a replayed history). ``causes``:
    each label's, for the events it causes (default: the unit of work's). Returns, per
    label, whether its alliance opened. A rule refusing one label raises, for them all:
    the consumer then applies them one at a time and dead-letters that one."""
    if causes is None:
        causes = [uow.cause] * len(labels)
    openings = []
    for label, cause in zip(labels, causes, strict=True):
        college, registered = Partner.register(lead_college(label), uow.now)
        openings.append(_Opening(label, cause, college, registered))
    for run in _runs(openings):
        await _open_run(uow, run)
    for o in openings:
        if not o.opened:
            log.info("alliance already open, label ignored", cite_id=o.label.cite_id,
                     event_id=str(o.cause.causation_id),
                     correlation_id=str(o.cause.correlation_id))
    return [o.opened for o in openings]


def _runs(openings: Sequence[_Opening]) -> Iterator[list[_Opening]]:
    """The openings in consecutive runs that name no cité and no lead collège twice: one
    statement inserts a run, and a label must see what an earlier one of its cité or of
    its lead did."""
    run: list[_Opening] = []
    cites: set[str] = set()
    uais: set[str] = set()
    for o in openings:
        if o.label.cite_id in cites or o.label.lead_college_uai in uais:
            yield run
            run, cites, uais = [], set(), set()
        run.append(o)
        cites.add(o.label.cite_id)
        uais.add(o.label.lead_college_uai)
    if run:
        yield run


async def _open_run(uow: UnitOfWork, run: list[_Opening]) -> None:
    """Open a run of labels naming distinct cités and leads: the alliances inserted (a
    cité that has one keeps it) and their unknown leads registered in one statement, the
    leads known before locked and read again, then the domain opens each alliance, and
    the chefs de file join in one statement."""
    found = await store.open_alliances(
        uow.conn, [store.NewAlliance(o.label, o.lead) for o in run], uow.now)
    for o, f in zip(run, found, strict=True):
        o.opened = f.opened
        if not f.opened:
            continue
        if f.lead is not None:
            o.lead, registered_now = f.lead, f.lead_registered
        else:
            # Registered by a concurrent transaction after the statement's snapshot: read
            # it now (rare, so the extra round trip does not matter).
            o.lead, registered_now = await store.register_college_unless_known(uow.conn,
                                                                               o.lead)
        if not registered_now:
            o.registered = None
    opening = [o for o in run if o.opened]
    await _lock_known_leads(uow, [o for o in opening if o.registered is None])
    alliances = [Alliance.open(o.label.cite_id, o.label.departement, o.lead, uow.now,
                               leads=o.leads) for o in opening]
    if alliances:
        await store.insert_memberships(uow.conn, [(a.cite_id, a.chef_de_file)
                                                  for a, _ in alliances])
    for o, (_, events) in zip(opening, alliances, strict=True):
        if o.registered is not None:
            uow.emit(o.registered, cause=o.cause)
        for event in events:
            uow.emit(event, cause=o.cause)


async def _lock_known_leads(uow: UnitOfWork, known: list[_Opening]) -> None:
    """The leads known before their labels: locked (after their alliances, inserted
    first: the lock order) and read again, so their kind and the alliance they may lead
    are those that commit. A lead registered just now is seen by no one else and leads
    nothing."""
    if not known:
        return
    locked = await store.lock_partners(uow.conn, [o.lead.partner_id for o in known])
    leading = await store.chefs_de_file_of_open_alliances(
        uow.conn, [(o.lead.partner_id, o.label.cite_id) for o in known])
    for o in known:
        o.lead = locked[o.lead.partner_id]  # partners are never deleted
        o.leads = leading.get(o.lead.partner_id)


async def _alliance(uow: UnitOfWork, cite_id: str, *, lock_partner: UUID | None = None
                    ) -> Alliance:
    alliance = await store.load_alliance(uow.conn, cite_id, lock_partner=lock_partner)
    if alliance is None:
        raise NotFound(f"cité {cite_id} has no alliance (is it labelled?)")
    return alliance


async def follow_labels(uow: UnitOfWork, events: Sequence[LabelLife],
                        causes: Sequence[Cause] | None = None) -> None:
    """What each event does to its cité's alliance (:meth:`Alliance.follow`), in order, as
    if one after another, in two statements for them all (a consumer's run, a replayed
    history): the alliances locked and read, the domain follows each event, the
    alliances written. ``causes``: each event's, for what it emits (default: the unit
    of work's). An event of a cité without an alliance raises, for them all: the
    consumer then applies them one at a time and dead-letters that one."""
    # Locked (commands on one alliance serialise): its status is the one that commits.
    if causes is None:
        causes = [uow.cause] * len(events)
    alliances = await store.lock_alliances(uow.conn, [e.cite_id for e in events])
    for event, cause in zip(events, causes, strict=True):
        alliance = alliances.get(event.cite_id)
        if alliance is None:
            raise NotFound(f"cité {event.cite_id} has no alliance (is it labelled?)")
        closed = alliance.follow(event, uow.now)
        if closed is not None:
            uow.emit(closed, cause=cause)
    if alliances:
        await store.save_alliances(uow.conn, list(alliances.values()))


# --- alliances: members, by operators -----------------------------------------------------


async def join_alliance(uow: UnitOfWork, cite_id: str, partner_id: UUID,
                        roles: Iterable[AllianceRole], actor: Actor) -> Member:
    alliance = await _alliance(uow, cite_id)
    actor.ensure_acts_for(alliance.departement)
    partner = await store.get_partner(uow.conn, partner_id)
    if partner is None:
        raise NotFound(f"partner {partner_id} does not exist: register it first")
    joined = alliance.join(partner, roles, uow.now)
    member = alliance.members[partner_id]
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


# --- the people who run a cité: its collectivité cheffe de file, its chef de projet -------


async def designate_collectivite_cheffe_de_file(uow: UnitOfWork, cite_id: str,
                                                partner_id: UUID, actor: Actor) -> bool:
    """Make a member commune or EPCI the alliance's collectivité cheffe de file, replacing
    the previous one (``CollectiviteCheffeDeFileDesignated``). False when it already is."""
    # The candidate's row is locked after the alliance (the lock order): its kind is the
    # one that commits.
    alliance = await _alliance(uow, cite_id, lock_partner=partner_id)
    actor.ensure_acts_for(alliance.departement)
    designated = alliance.designate_collectivite_cheffe_de_file(partner_id, uow.now)
    if designated is None:
        return False
    await store.set_collectivite_cheffe_de_file(uow.conn, cite_id, partner_id)
    uow.emit(designated)
    return True


async def _post(uow: UnitOfWork, cite_id: str, actor: Actor, *,
                lock_partner: UUID | None = None) -> tuple[Alliance, ChefDeProjetPost]:
    """The alliance (locked: commands on its post serialise) and its chef de projet's
    post, for ``actor`` acting in its département."""
    alliance = await _alliance(uow, cite_id, lock_partner=lock_partner)
    actor.ensure_acts_for(alliance.departement)
    assert alliance.opened_at is not None, "load_alliance reads it"
    post = await store.load_post(uow.conn, cite_id, civil_date(alliance.opened_at, uow.zone))
    return alliance, post


async def appoint_chef_de_projet(uow: UnitOfWork, cite_id: str, contact_id: UUID,
                                 employer_partner_id: UUID, starts_on: date, actor: Actor
                                 ) -> Tenure:
    """``contact_id``, a consenting contact of ``employer_partner_id`` (a member of the
    alliance), holds the post from ``starts_on``; the previous holder's tenure ends the day
    before (``ChefDeProjetAppointed``). Returns the new tenure (the current one, unchanged,
    when that person already holds it so)."""
    # The employer's row is locked (after the alliance): its contact, read next, is not
    # erased meanwhile, since an erasure locks it too.
    alliance, post = await _post(uow, cite_id, actor, lock_partner=employer_partner_id)
    previous = post.holder
    contact, exists = await store.get_contact(uow.conn, employer_partner_id, contact_id)
    appointed = post.appoint(alliance, employer_partner_id, contact_id, contact,
                             erased=exists and contact is None, starts_on=starts_on,
                             today=uow.today, now=uow.now)
    assert post.latest is not None
    if appointed is not None:
        if previous is not None:  # ended first: the index never sees two current tenures
            await store.end_tenure(uow.conn, cite_id, previous, uow.now)
        await store.insert_tenure(uow.conn, cite_id, post.latest, uow.now)
        uow.emit(appointed)
    return post.latest


async def vacate_chef_de_projet(uow: UnitOfWork, cite_id: str, ends_on: date,
                                motive: str | None, actor: Actor) -> Tenure:
    """End the current tenure on ``ends_on``: the post is vacant from the day after
    (``ChefDeProjetPostVacated``). Returns the tenure ended (unchanged when the same
    vacancy is declared again)."""
    alliance, post = await _post(uow, cite_id, actor)
    vacated = post.vacate(alliance, ends_on, motive, today=uow.today, now=uow.now)
    assert post.latest is not None
    if vacated is not None:
        await store.end_tenure(uow.conn, cite_id, post.latest, uow.now)
        uow.emit(vacated)
    return post.latest
