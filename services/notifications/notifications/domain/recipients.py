"""Who a notification is written to, and the facts finding them depends on.

A :class:`Recipient` is a troïka seat (its role; the candidature names which troïka) or a
partner's consenting contact; notifications hold them by reference only, the address
staying in the projection's contacts. A :class:`Fact` is what an event's recipients may
depend on and another topic brings (a candidature's troïka, a cité, an alliance's chef de
file): an event that comes before it waits for it (``service.resume``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from uuid import UUID

from cites_contracts.events.notifications import Recipient as RecipientReference
from cites_contracts.types import RecipientKind, TroikaRole

__all__ = ["Fact", "FactKind", "Recipient", "waits_whole"]


@dataclass(frozen=True, slots=True)
class Recipient:
    """Someone written to: ``contact_id`` is whose address the sender reads; a troïka
    member has a ``troika_role``, a partner's contact its ``partner_id``."""

    contact_id: UUID
    troika_role: TroikaRole | None = None
    partner_id: UUID | None = None

    @classmethod
    def troika(cls, role: TroikaRole, contact_id: UUID) -> Recipient:
        return cls(contact_id, troika_role=role)

    @classmethod
    def partner_contact(cls, partner_id: UUID, contact_id: UUID) -> Recipient:
        return cls(contact_id, partner_id=partner_id)

    @property
    def key(self) -> str:
        """Who, once per cause (a notification's id derives from it): a troïka seat by its
        role, a partner's contact by its id."""
        if self.troika_role is not None:
            return f"troika:{self.troika_role.value}"
        return f"contact:{self.contact_id}"

    @property
    def reference(self) -> RecipientReference:
        """As the log and the delivery events name it, never by address: a troïka member
        by role (the notification names the candidature), a partner's contact by partner
        and contact."""
        if self.troika_role is not None:
            return RecipientReference(kind=RecipientKind.TROIKA, troika_role=self.troika_role)
        return RecipientReference(kind=RecipientKind.PARTNER_CONTACT,
                                  partner_id=self.partner_id, contact_id=self.contact_id)


class FactKind(StrEnum):
    """What kind of fact an event's recipients may wait for."""

    CANDIDATURE = "candidature"
    """A candidature's troïka seats (``CandidatureSubmitted``): the TROIKA group."""
    CITE = "cite"
    """A cité (``TerritoryLabelled``): its name and candidature, for every mail about it."""
    ALLIANCE = "alliance"
    """A cité's alliance and its chef de file (``AllianceOpened``): the CHEF_DE_FILE group."""


@dataclass(frozen=True, slots=True)
class Fact:
    """A fact of the projection, by kind and id (a candidature's id, or a cité's)."""

    kind: FactKind
    id: str

    @classmethod
    def candidature(cls, candidature_id: UUID) -> Fact:
        return cls(FactKind.CANDIDATURE, str(candidature_id))

    @classmethod
    def cite(cls, cite_id: str) -> Fact:
        return cls(FactKind.CITE, cite_id)

    @classmethod
    def alliance(cls, cite_id: str) -> Fact:
        return cls(FactKind.ALLIANCE, cite_id)


def waits_whole(missing: Iterable[Fact]) -> bool:
    """Whether an event missing these facts writes nothing yet: without its cité, no mail
    can name it. (Missing anything else, the recipients already known are written now.)"""
    return any(fact.kind is FactKind.CITE for fact in missing)
