"""A cité's alliance éducative: its members, their roles, its one collège chef de file,
and how the label's life (suspension, withdrawal, expiry) opens and closes it.

Invariant: an alliance that exists has exactly one chef de file among its current
members, a collège. It is born with one (the lead collège named by the label), the chef
de file cannot leave, and changing it is one step that moves the role from one member to
another. The database backs the "at most one" half with a partial unique index.

Besides, at most one member commune or EPCI is its *collectivité cheffe de file*
(receives and co-finances, often employs the chef de projet): designated, replaced in one
step, and it cannot leave while it is.

And a collège is chef de file of one alliance not closed at most (open, or suspended: it
resumes with its chef de file): commands take ``leads``, the cité of the alliance the
collège already leads, as the service found it. The database backs this with a partial
unique index too (migration 0003).

A command changes the alliance in place and returns the event it causes (None when it
causes none: nothing changed, or labelling's own event tells everyone); the service saves
the new state and emits the event. :meth:`Alliance.follow` is what each of labelling's
later events (:data:`LabelLife`) does to the cité's alliance.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
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
    CollectiviteCheffeDeFileDesignated,
    PartnerJoinedAlliance,
    PartnerLeftAlliance,
)
from cites_contracts.types import AllianceClosureReason, AllianceRole, PartnerKind
from cites_runtime.errors import Conflict, NotFound, RuleBroken

from .registry import COLLECTIVITES, Partner, PartnerDetails, can_lead

__all__ = [
    "Alliance",
    "AllianceStatus",
    "LabelLife",
    "Member",
    "ensure_can_lead",
    "lead_college",
]

CHEF_DE_FILE = AllianceRole.CHEF_DE_FILE
_ONE_ALLIANCE = ("a collège is chef de file of one open alliance at most (a suspended one "
                 "counts: it resumes with its chef de file)")


class AllianceStatus(StrEnum):
    OPEN = "open"
    SUSPENDED = "suspended"
    """The label is suspended: no one joins and the chef de file stays until reinstated."""
    CLOSED = "closed"
    """The label was withdrawn or expired: nothing changes any more; members are history."""


def ensure_can_lead(kind: PartnerKind, who: str) -> None:
    if not can_lead(kind):
        raise RuleBroken.of("partner_id", "chef_de_file_is_a_college",
                            f"the chef de file must be a collège, and {who} is a "
                            f"{kind.label}")


def lead_college(label: TerritoryLabelled) -> PartnerDetails:
    """The lead collège a label names, as partners registers it when its UAI is unknown:
    named as the label's perimeter names it."""
    uai = label.lead_college_uai
    name = next((s.name for s in label.perimeter.schools if s.uai == uai), f"Collège {uai}")
    return PartnerDetails(kind=PartnerKind.COLLEGE, name=name, departement=label.departement,
                          uai=uai)


LabelLife = (PerimeterExtended | LabelRenewed | LabelSuspended | LabelReinstated
             | LabelWithdrawn | LabelExpired)
"""What labelling says of a label after it is granted: what :meth:`Alliance.follow` applies."""


@dataclass(slots=True)
class Member:
    partner_id: UUID
    kind: PartnerKind
    name: str
    roles: frozenset[AllianceRole]
    joined_at: datetime
    uai: str | None = None
    """A school's UAI (every collège has one)."""

    @property
    def is_chef_de_file(self) -> bool:
        return CHEF_DE_FILE in self.roles

    @classmethod
    def of(cls, partner: Partner, roles: Iterable[AllianceRole], now: datetime) -> Member:
        return cls(partner.partner_id, partner.kind, partner.name, frozenset(roles), now,
                   partner.details.uai)


@dataclass(slots=True)
class Alliance:
    cite_id: str
    departement: str
    status: AllianceStatus
    members: dict[UUID, Member] = field(default_factory=dict)
    """Current members by partner id (those who left are history, kept by the store)."""
    suspended_at: datetime | None = None
    """Since when it is suspended with its label (None unless suspended)."""
    closed_at: datetime | None = None
    closure_reason: AllianceClosureReason | None = None
    # The label's end and the perimeter's schools are labelling's, kept as it last told
    # them: replacing them needs none of what they were, so they are not read.
    label_end: date | None = None
    """The last day of the label's latest period, when a renewal told it here (None: as
    stored)."""
    schools: tuple[PerimeterSchool, ...] | None = None
    """The schools of the cité's perimeter, when an extension told them here (None: as
    stored)."""
    collectivite_cheffe_de_file: UUID | None = None
    """The member commune or EPCI designated collectivité cheffe de file, if any."""
    opened_at: datetime | None = None
    """When it opened (None: not read)."""

    @classmethod
    def of(cls, cite_id: str, departement: str, status: AllianceStatus,
           members: Iterable[Member], *, suspended_at: datetime | None = None,
           closed_at: datetime | None = None,
           closure_reason: AllianceClosureReason | None = None,
           collectivite_cheffe_de_file: UUID | None = None,
           opened_at: datetime | None = None) -> Alliance:
        """An alliance as stored, with its current members."""
        alliance = cls(cite_id, departement, status, {m.partner_id: m for m in members},
                       suspended_at, closed_at, closure_reason,
                       collectivite_cheffe_de_file=collectivite_cheffe_de_file,
                       opened_at=opened_at)
        alliance.chef_de_file  # noqa: B018 - an alliance loaded without one is corrupt
        return alliance

    @classmethod
    def open(cls, cite_id: str, departement: str, lead: Partner, now: datetime, *,
             leads: str | None = None
             ) -> tuple[Alliance, list[AllianceOpened | ChefDeFileDesignated]]:
        """A labelled cité's alliance, with ``lead`` — the partner holding the UAI the
        label names as lead collège — as chef de file. ``leads``: the cité of the alliance
        not closed it is chef de file of already, if any (then nothing opens)."""
        uai = lead.details.uai
        assert uai is not None, "the lead is found by its UAI"
        if not can_lead(lead.kind):
            raise Conflict(f"the lead collège's UAI {uai} is registered as "
                           f"{lead.kind.label} '{lead.name}' (partner "
                           f"{lead.partner_id}); if it is a collège, correct the partner's "
                           f"kind (PATCH /partners/{lead.partner_id} with kind 'college'), "
                           "then replay the dead letter")
        if leads is not None:
            raise Conflict(f"the lead collège '{lead.name}' (UAI {uai}) is already chef de "
                           f"file of alliance {leads}, and {_ONE_ALLIANCE}: designate another "
                           f"collège there (PUT /alliances/{leads}/chef-de-file) or have its "
                           "label withdrawn, then replay the dead letter")
        chef = Member.of(lead, [CHEF_DE_FILE], now)
        alliance = cls(cite_id, departement, AllianceStatus.OPEN, {chef.partner_id: chef})
        return alliance, [
            AllianceOpened(cite_id=cite_id, chef_de_file_partner_id=lead.partner_id,
                           chef_de_file_uai=uai, opened_at=now),
            ChefDeFileDesignated(cite_id=cite_id, partner_id=lead.partner_id, uai=uai,
                                 designated_at=now),
        ]

    @property
    def chef_de_file(self) -> Member:
        chefs = [m for m in self.members.values() if m.is_chef_de_file]
        if len(chefs) != 1:
            raise AssertionError(f"alliance {self.cite_id} has {len(chefs)} chefs de file")
        return chefs[0]

    # -- membership -----------------------------------------------------------------
    def join(self, partner: Partner, roles: Iterable[AllianceRole], now: datetime
             ) -> PartnerJoinedAlliance:
        """``partner`` becomes a member with ``roles`` (``members[partner.partner_id]``)."""
        self._require_open("a partner to join")
        wanted = frozenset(roles)
        if not wanted:
            raise RuleBroken.of("roles", "role_required",
                                "a partner joins with at least one role")
        if CHEF_DE_FILE in wanted:
            raise RuleBroken.of("roles", "chef_de_file_is_designated",
                                f"alliance {self.cite_id} already has its chef de file; join "
                                "with another role, then designate the new chef de file "
                                f"(PUT /alliances/{self.cite_id}/chef-de-file)")
        if partner.partner_id in self.members:
            raise Conflict(f"partner {partner.partner_id} is already a member of alliance "
                           f"{self.cite_id}")
        member = Member.of(partner, wanted, now)
        self.members[member.partner_id] = member
        return PartnerJoinedAlliance(
            cite_id=self.cite_id, partner_id=member.partner_id, partner_kind=member.kind,
            roles=tuple(sorted(member.roles)), joined_at=now)

    def leave(self, partner_id: UUID, motive: str | None, now: datetime
              ) -> PartnerLeftAlliance:
        if self.status is AllianceStatus.CLOSED:
            raise Conflict(f"alliance {self.cite_id} is closed: its members are its history "
                           "and no longer change")
        member = self._member(partner_id)
        if member.is_chef_de_file:
            raise Conflict(f"partner {partner_id} is the chef de file of alliance "
                           f"{self.cite_id}: designate another collège first")
        if partner_id == self.collectivite_cheffe_de_file:
            raise Conflict(f"partner {partner_id} is the collectivité cheffe de file of "
                           f"alliance {self.cite_id}: designate another commune or EPCI "
                           f"first (PUT /alliances/{self.cite_id}/collectivite-cheffe-de-file)")
        del self.members[partner_id]
        return PartnerLeftAlliance(cite_id=self.cite_id, partner_id=partner_id,
                                   motive=motive, left_at=now)

    def designate_chef_de_file(self, partner_id: UUID, now: datetime, *,
                               leads: str | None = None) -> ChefDeFileDesignated | None:
        """Move the role to ``partner_id``; None when it already holds the role (nothing
        changes, no event). The previous chef de file stays a member with its other roles
        (possibly none). ``leads``: the cité of an alliance not closed the partner is chef
        de file of, if any (this one changes nothing; another refuses the designation)."""
        self._require_open("its chef de file to change")
        member = self.members.get(partner_id)
        if member is None:
            raise Conflict(f"partner {partner_id} is not a member of alliance {self.cite_id}: "
                           f"it joins first (POST /alliances/{self.cite_id}/members)")
        ensure_can_lead(member.kind, f"'{member.name}'")
        previous = self.chef_de_file
        if previous is member:
            return None
        assert member.uai is not None, "a collège has a UAI"
        if leads is not None and leads != self.cite_id:
            raise Conflict(f"collège '{member.name}' (UAI {member.uai}) is already chef de "
                           f"file of alliance {leads}, and {_ONE_ALLIANCE}: designate another "
                           f"collège there first (PUT /alliances/{leads}/chef-de-file)")
        previous.roles = previous.roles - {CHEF_DE_FILE}
        member.roles = member.roles | {CHEF_DE_FILE}
        return ChefDeFileDesignated(cite_id=self.cite_id, partner_id=partner_id,
                                    uai=member.uai, previous_partner_id=previous.partner_id,
                                    designated_at=now)

    def designate_collectivite_cheffe_de_file(
            self, partner_id: UUID, now: datetime) -> CollectiviteCheffeDeFileDesignated | None:
        """Make the member commune or EPCI ``partner_id`` the collectivité cheffe de file,
        replacing the previous one (which stays a member with its roles); None when it
        already is (nothing changes, no event)."""
        self._require_open("its collectivité cheffe de file to change")
        member = self.members.get(partner_id)
        if member is None:
            raise RuleBroken.of("partner_id", "collectivite_cheffe_de_file_is_a_member",
                                f"partner {partner_id} is not a member of alliance "
                                f"{self.cite_id}: it joins first (POST /alliances/"
                                f"{self.cite_id}/members)")
        if member.kind not in COLLECTIVITES:
            raise RuleBroken.of("partner_id", "collectivite_cheffe_de_file_is_a_commune_or_epci",
                                "the collectivité cheffe de file is a commune or an EPCI, and "
                                f"'{member.name}' is a {member.kind.label}")
        previous = self.collectivite_cheffe_de_file
        if previous == partner_id:
            return None
        self.collectivite_cheffe_de_file = partner_id
        return CollectiviteCheffeDeFileDesignated(
            cite_id=self.cite_id, partner_id=partner_id, partner_kind=member.kind,
            previous_partner_id=previous, designated_at=now)

    def _member(self, partner_id: UUID) -> Member:
        member = self.members.get(partner_id)
        if member is None:
            raise NotFound(f"partner {partner_id} is not a member of alliance {self.cite_id}")
        return member

    def _require_open(self, what: str) -> None:
        if self.status is AllianceStatus.SUSPENDED:
            raise Conflict(f"alliance {self.cite_id} is suspended with its label: it allows "
                           f"{what} again once the label is reinstated")
        if self.status is AllianceStatus.CLOSED:
            raise Conflict(f"alliance {self.cite_id} is closed (label withdrawn or expired): "
                           f"it no longer allows {what}")

    # -- the label's life -----------------------------------------------------------
    def follow(self, event: LabelLife, now: datetime) -> AllianceClosed | None:
        """What labelling's ``event`` does to the alliance: an extension replaces its
        perimeter's schools, a renewal moves its label's end (and replaces the schools when
        it comes with a new perimeter), a suspension or a
        reinstatement its status, a withdrawal or an expiry closes it for good. Only a
        closure is partners' own news (``AllianceClosed``); labelling's event tells the
        rest."""
        match event:
            case PerimeterExtended():
                self.schools = event.perimeter.schools
            case LabelRenewed():
                self.label_end = event.label_period.end
                if event.perimeter is not None:  # a renewal with a new perimeter
                    self.schools = event.perimeter.schools
            case LabelSuspended():
                self.suspend(now)
            case LabelReinstated():
                self.reinstate()
            case LabelWithdrawn():
                return self.close(AllianceClosureReason.LABEL_WITHDRAWN, now)
            case LabelExpired():
                return self.close(AllianceClosureReason.LABEL_EXPIRED, now)
        return None

    def suspend(self, now: datetime) -> None:
        """No one joins and the chef de file stays until reinstated. A repeated suspension,
        or one of a closed alliance, changes nothing."""
        if self.status is AllianceStatus.OPEN:
            self.status, self.suspended_at = AllianceStatus.SUSPENDED, now

    def reinstate(self) -> None:
        if self.status is AllianceStatus.SUSPENDED:
            self.status, self.suspended_at = AllianceStatus.OPEN, None

    def close(self, reason: AllianceClosureReason, now: datetime) -> AllianceClosed | None:
        """The label ended (withdrawn or expired): for good; members stay as history.
        None when it is closed already."""
        if self.status is AllianceStatus.CLOSED:
            return None
        self.status, self.closed_at, self.closure_reason = AllianceStatus.CLOSED, now, reason
        return AllianceClosed(cite_id=self.cite_id, reason=reason, closed_at=now)
