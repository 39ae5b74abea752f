"""Who acts: a platform role (what events name) and a subject (what the audit trail keeps)."""

from __future__ import annotations

from dataclasses import dataclass

from cites_contracts.types import ActorRole

from .errors import Forbidden

__all__ = ["Actor"]


@dataclass(frozen=True, slots=True)
class Actor:
    role: ActorRole
    subject: str
    departement: str | None = None
    """For a préfecture: the only département it may act for."""

    def ensure_acts_for(self, departement: str) -> None:
        """A préfecture files and withdraws only in its own département."""
        if self.role is ActorRole.PREFECTURE and self.departement != departement:
            raise Forbidden(f"the préfecture of {self.departement} may not act for "
                            f"département {departement}")
