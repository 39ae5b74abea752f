"""Who acts: the role a bearer token grants, who holds it, and the département rule.

Pure, so a service's domain takes an :class:`Actor` as it is: the HTTP edge builds one
from the request's token (:mod:`cites_runtime.auth`), and code the platform runs by itself
(consumers, scheduled jobs) acts as :data:`SYSTEM`.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

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


SYSTEM = Actor(Role.SYSTEM, "system")
