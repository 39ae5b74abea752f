"""Who acts: the role a bearer token grants, who holds it, and the rules of place — a
préfecture in its own département, a partner's person for her own partner, a rectorat or a
commune preparing the candidatures of its own territory (:meth:`Actor.ensure_prepares`).

Pure, so a service's domain takes an :class:`Actor` as it is: the HTTP edge builds one
from the request's token (:mod:`cites_runtime.auth`), and code the platform runs by itself
(consumers, scheduled jobs) acts as :data:`SYSTEM`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from uuid import UUID

from pydantic import TypeAdapter, ValidationError

from cites_contracts.types import ActorRole, InseeCode, departement_of

from .errors import Forbidden

__all__ = ["PREPARERS", "SYSTEM", "Actor", "Role", "commune_actor", "commune_code"]


class Role(StrEnum):
    NATIONAL = "national"
    """The national coordination: acts everywhere."""
    PREFECTURE = "prefecture"
    """A préfecture: acts in its own département only."""
    RECTORAT = "rectorat"
    """A rectorat: reads the programme, as a viewer does, and prepares with the communes
    the candidatures of the département its token names (``departement``, one per token);
    naming none, it prepares for nobody."""
    PARTNER = "partner"
    """A partner's person: reads the programme, acts only for the partner her token names
    (``partner_id``: a collège's principal, her collège); naming none, for nobody."""
    COMMUNE = "commune"
    """A commune: prepares the candidatures whose communes include its own (``insee_code``),
    in the département of its code; naming none (or not a valid code), for nobody."""
    VIEWER = "viewer"
    OPERATOR = "operator"
    """Runs the platform: reads its metrics and API documents, acts on nothing of the
    programme."""
    SYSTEM = "system"
    """The platform itself (consumers, schedulers); no token grants it."""


_INSEE: TypeAdapter[str] = TypeAdapter(InseeCode)


def commune_code(claim: object) -> str | None:
    """A commune's ``insee_code`` claim as the perimeter's commune codes are (5 characters,
    a known département, e.g. 69256, 2A004, 97611), else None: the commune acts for
    nobody."""
    if not isinstance(claim, str):
        return None
    try:
        return _INSEE.validate_python(claim.strip())
    except ValidationError:
        return None


PREPARERS = frozenset({Role.RECTORAT, Role.COMMUNE})
"""Who prepares a candidature with the other and files it with the préfecture, which
submits it. No event names them: the contracts' ``ActorRole`` stays as published (events
name the préfecture who submits), and what they did is labelling's own state."""

_EVENT_ROLES = {Role.NATIONAL: ActorRole.NATIONAL_COORDINATION,
                Role.PREFECTURE: ActorRole.PREFECTURE, Role.PARTNER: ActorRole.PARTNER,
                Role.RECTORAT: ActorRole.SYSTEM, Role.COMMUNE: ActorRole.SYSTEM,
                Role.VIEWER: ActorRole.SYSTEM,
                Role.OPERATOR: ActorRole.SYSTEM, Role.SYSTEM: ActorRole.SYSTEM}


@dataclass(frozen=True, slots=True)
class Actor:
    role: Role
    subject: str
    """Who holds the token — a person's username at the identity provider, or a static
    token's subject — kept in audit trails, never put in events."""
    departement: str | None = None
    """For a préfecture: the only département it may act for; for a rectorat, the one it
    prepares candidatures in; for a commune, its code's."""
    partner_id: UUID | None = None
    """For a partner: the only partner it may act for (none: it acts for nobody)."""
    insee_code: str | None = None
    """For a commune: its INSEE code, the only commune it prepares for (none: nobody)."""

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


    def ensure_prepares(self, departement: str, communes: Iterable[str]) -> None:
        """Who prepares a candidature of ``departement`` over ``communes`` (INSEE codes): a
        préfecture in its own département (:meth:`ensure_acts_for`), a rectorat in the one
        its token names, a commune in its own département and only a dossier naming it;
        every other role is limited by the roles its route allows."""
        if self.role is Role.PREFECTURE:
            self.ensure_acts_for(departement)
        elif self.role is Role.RECTORAT:
            if self.departement is None:
                raise Forbidden("this rectorat's token names no département (its departement "
                                "claim): it prepares for nobody; ask for the département "
                                "of your académie you act for")
            if departement != self.departement:
                raise Forbidden(f"the rectorat acting for {self.departement} prepares only "
                                "its own département's candidatures, and this concerns "
                                f"département {departement}: ask that département's rectorat")
        elif self.role is Role.COMMUNE:
            self._ensure_commune_prepares(departement, communes)

    def _ensure_commune_prepares(self, departement: str, communes: Iterable[str]) -> None:
        if self.insee_code is None:
            raise Forbidden("this commune's token names no commune (its insee_code claim, "
                            "5 characters): it prepares for nobody; ask for your "
                            "commune's INSEE code")
        if departement != self.departement:
            raise Forbidden(f"commune {self.insee_code} prepares only candidatures of its "
                            f"département ({self.departement}), and this concerns "
                            f"département {departement}: ask its préfecture")
        named = sorted(set(communes))
        if self.insee_code not in named:
            raise Forbidden(f"commune {self.insee_code} prepares only candidatures whose "
                            f"communes include it, and this one's are {', '.join(named)}: "
                            "ask the rectorat or the préfecture")


def commune_actor(subject: str, insee_code: str | None) -> Actor:
    """A commune acting for ``insee_code`` (already :func:`commune_code`'s), in its
    département."""
    return Actor(Role.COMMUNE, subject, departement_of(insee_code) if insee_code else None,
                 insee_code=insee_code)


SYSTEM = Actor(Role.SYSTEM, "system")
