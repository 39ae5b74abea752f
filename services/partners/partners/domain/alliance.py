"""A cité's alliance éducative: its members, their roles, its one collège chef de file,
and how the label's life (suspension, withdrawal, expiry) opens and closes it.

Invariant: an alliance that exists has exactly one chef de file among its current
members, a collège. It is born with one (the lead collège named by the label), the chef
de file cannot leave, and changing it is one step that moves the role from one member to
another. The database backs the "at most one" half with a partial unique index.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from uuid import UUID

from cites_contracts.types import AllianceRole, PartnerKind

from .errors import Conflict, NotFound, RuleBroken
from .registry import KIND_LABELS

__all__ = [
    "Alliance",
    "AllianceStatus",
    "Member",
    "ensure_can_lead",
]

CHEF_DE_FILE = AllianceRole.CHEF_DE_FILE


class AllianceStatus(StrEnum):
    OPEN = "open"
    SUSPENDED = "suspended"
    """The label is suspended: no one joins and the chef de file stays until reinstated."""
    CLOSED = "closed"
    """The label was withdrawn or expired: nothing changes any more; members are history."""


def ensure_can_lead(kind: PartnerKind, who: str) -> None:
    """Only a collège can be chef de file (it receives the fonds de la cité)."""
    if kind is not PartnerKind.COLLEGE:
        raise RuleBroken("partner_id", "chef_de_file_is_a_college",
                         f"the chef de file must be a collège, and {who} is a "
                         f"{KIND_LABELS[kind]}")


@dataclass(slots=True)
class Member:
    partner_id: UUID
    kind: PartnerKind
    name: str
    roles: frozenset[AllianceRole]
    joined_at: datetime

    @property
    def is_chef_de_file(self) -> bool:
        return CHEF_DE_FILE in self.roles


@dataclass(slots=True)
class Alliance:
    cite_id: str
    departement: str
    status: AllianceStatus
    members: dict[UUID, Member] = field(default_factory=dict)
    """Current members by partner id (those who left are history, kept by the store)."""

    @classmethod
    def of(cls, cite_id: str, departement: str, status: AllianceStatus,
           members: Iterable[Member]) -> Alliance:
        alliance = cls(cite_id, departement, status, {m.partner_id: m for m in members})
        alliance.chef_de_file  # noqa: B018 - an alliance loaded without one is corrupt
        return alliance

    @property
    def chef_de_file(self) -> Member:
        chefs = [m for m in self.members.values() if m.is_chef_de_file]
        if len(chefs) != 1:
            raise AssertionError(f"alliance {self.cite_id} has {len(chefs)} chefs de file")
        return chefs[0]

    # -- membership -----------------------------------------------------------------
    def join(self, partner_id: UUID, kind: PartnerKind, name: str,
             roles: Iterable[AllianceRole], at: datetime) -> Member:
        self._require_open("a partner to join")
        wanted = frozenset(roles)
        if not wanted:
            raise RuleBroken("roles", "role_required",
                             "a partner joins with at least one role")
        if CHEF_DE_FILE in wanted:
            raise RuleBroken("roles", "chef_de_file_is_designated",
                             f"alliance {self.cite_id} already has its chef de file; join "
                             "with another role, then designate the new chef de file "
                             f"(PUT /alliances/{self.cite_id}/chef-de-file)")
        if partner_id in self.members:
            raise Conflict(f"partner {partner_id} is already a member of alliance "
                           f"{self.cite_id}")
        member = Member(partner_id, kind, name, wanted, at)
        self.members[partner_id] = member
        return member

    def leave(self, partner_id: UUID) -> Member:
        if self.status is AllianceStatus.CLOSED:
            raise Conflict(f"alliance {self.cite_id} is closed: its members are its history "
                           "and no longer change")
        member = self._member(partner_id)
        if member.is_chef_de_file:
            raise Conflict(f"partner {partner_id} is the chef de file of alliance "
                           f"{self.cite_id}: designate another collège first")
        del self.members[partner_id]
        return member

    def designate_chef_de_file(self, partner_id: UUID) -> Member | None:
        """Move the role to ``partner_id``; return the previous chef de file, or None when
        it already holds the role (nothing changes, no event)."""
        self._require_open("its chef de file to change")
        member = self.members.get(partner_id)
        if member is None:
            raise Conflict(f"partner {partner_id} is not a member of alliance {self.cite_id}: "
                           f"it joins first (POST /alliances/{self.cite_id}/members)")
        ensure_can_lead(member.kind, f"'{member.name}'")
        previous = self.chef_de_file
        if previous is member:
            return None
        # The previous one stays a member with its other roles (possibly none).
        previous.roles = previous.roles - {CHEF_DE_FILE}
        member.roles = member.roles | {CHEF_DE_FILE}
        return previous

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
    def suspend(self) -> bool:
        """True when this changes the status (a repeated suspension changes nothing)."""
        if self.status is not AllianceStatus.OPEN:
            return False
        self.status = AllianceStatus.SUSPENDED
        return True

    def reinstate(self) -> bool:
        if self.status is not AllianceStatus.SUSPENDED:
            return False
        self.status = AllianceStatus.OPEN
        return True

    def close(self) -> bool:
        """The label ended (withdrawn or expired): for good; members stay as history."""
        if self.status is AllianceStatus.CLOSED:
            return False
        self.status = AllianceStatus.CLOSED
        return True
