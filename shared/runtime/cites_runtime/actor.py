"""Who acts: the role a bearer token grants, who holds it, and the rules of place — a
préfecture in its own département, a partner's person for her own partner.

Pure, so a service's domain takes an :class:`Actor` as it is: the HTTP edge builds one
from the request's token (:mod:`cites_runtime.auth`), and code the platform runs by itself
(consumers, scheduled jobs) acts as :data:`SYSTEM`.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from uuid import UUID

from cites_contracts.types import ActorRole

from .errors import Forbidden

__all__ = ["SYSTEM", "Actor", "Role"]


class Role(StrEnum):
    NATIONAL = "national"
    """The national coordination: acts everywhere."""
    PREFECTURE = "prefecture"
    """A préfecture: acts in its own département only."""
    RECTORAT = "rectorat"
    """A rectorat: reads the programme, as a viewer does."""
    PARTNER = "partner"
    """A partner's person: reads the programme, acts only for the partner her token names
    (``partner_id``: a collège's principal, her collège); naming none, for nobody."""
    VIEWER = "viewer"
    OPERATOR = "operator"
    """Runs the platform: reads its metrics and API documents, acts on nothing of the
    programme."""
    SYSTEM = "system"
    """The platform itself (consumers, schedulers); no token grants it."""


_EVENT_ROLES = {Role.NATIONAL: ActorRole.NATIONAL_COORDINATION,
                Role.PREFECTURE: ActorRole.PREFECTURE, Role.PARTNER: ActorRole.PARTNER,
                Role.RECTORAT: ActorRole.SYSTEM, Role.VIEWER: ActorRole.SYSTEM,
                Role.OPERATOR: ActorRole.SYSTEM, Role.SYSTEM: ActorRole.SYSTEM}


@dataclass(frozen=True, slots=True)
class Actor:
    role: Role
    subject: str
    """Who holds the token — a person's username at the identity provider, or a static
    token's subject — kept in audit trails, never put in events."""
    departement: str | None = None
    """For a préfecture: the only département it may act for."""
    partner_id: UUID | None = None
    """For a partner: the only partner it may act for (none: it acts for nobody)."""

    @property
    def event_role(self) -> ActorRole:
        """The role events name (``decided_by``, ``submitted_by``…)."""
        return _EVENT_ROLES[self.role]

    def ensure_acts_for(self, departement: str | None) -> None:
        """A préfecture acts only in its own département (and not on what has none); every
        other role is limited by the roles its route allows, not by place."""
        if self.role is not Role.PREFECTURE or (
                departement is not None and departement == self.departement):
            return
        if departement is None:
            raise Forbidden(f"the préfecture of {self.departement} acts only in its own "
                            "département, and this has none: ask the national coordination")
        raise Forbidden(f"the préfecture of {self.departement} acts only in its own "
                        f"département, and this concerns département {departement}: ask the "
                        "national coordination")

    def ensure_acts_for_partner(self, partner_id: UUID | None, what: str) -> None:
        """A partner acts only for the partner its token names (``what`` is that partner's,
        e.g. "cité-001's fonds de la cité of 2025"); every other role is limited by the
        roles its route allows and by place (:meth:`ensure_acts_for`), not by partner."""
        if self.role is not Role.PARTNER:
            return
        if self.partner_id is None:
            raise Forbidden("this partner's token names no partner (its partner_id claim): "
                            "it acts for nobody; ask for the partner_id of your structure")
        if partner_id != self.partner_id:
            raise Forbidden(f"partner {self.partner_id} acts only for itself, and {what} is "
                            + (f"partner {partner_id}'s" if partner_id else "no partner's yet")
                            + ": ask the préfecture")


SYSTEM = Actor(Role.SYSTEM, "system")
