"""The partner registry's rules: which identifiers each kind of partner carries, how
they agree with each other, and what a contact's consent allows.

Values arrive already valid one by one (UAI format, SIRET Luhn check… are checked by the
value types of ``cites_contracts.types`` at the boundary); the rules here are those that
tie fields together.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

from cites_contracts.events.partners import (
    ContactCardPublished,
    ContactErased,
    PartnerRegistered,
    PartnerUpdated,
)
from cites_contracts.types import PartnerKind, departement_of
from cites_runtime.errors import Conflict, NotFound, RuleBroken

__all__ = [
    "COLLECTIVITES",
    "SCHOOLS",
    "Contact",
    "ContactChange",
    "ContactDetails",
    "Identity",
    "Partner",
    "PartnerDetails",
    "can_lead",
    "consenting",
    "ensure_identifiers_free",
    "the_same_partner",
]

SCHOOLS = frozenset({PartnerKind.ECOLE, PartnerKind.COLLEGE, PartnerKind.LYCEE})
# Public bodies and CAF: a legal unit (SIREN), sometimes one establishment of it (SIRET).
_PUBLIC_BODIES = frozenset({PartnerKind.EPCI, PartnerKind.PREFECTURE, PartnerKind.RECTORAT_DASEN,
                            PartnerKind.CAF, PartnerKind.DEPARTEMENT, PartnerKind.REGION})
_ESTABLISHMENTS = frozenset({PartnerKind.ASSOCIATION, PartnerKind.ENTREPRISE})
COLLECTIVITES = frozenset({PartnerKind.COMMUNE, PartnerKind.EPCI})
"""The kinds a collectivité cheffe de file may be."""

@dataclass(frozen=True, slots=True)
class Identity:
    """The identifiers that designate one partner and no other (see :meth:`identity`)."""

    uai: str | None = None
    siret: str | None = None
    insee_code: str | None = None
    siren_alone: str | None = None


@dataclass(frozen=True, slots=True)
class PartnerDetails:
    """Everything an operator says about an organisation (each value already valid)."""

    kind: PartnerKind
    name: str
    departement: str | None = None
    uai: str | None = None
    siret: str | None = None
    siren: str | None = None
    insee_code: str | None = None
    commune_insee_code: str | None = None

    def checked(self) -> PartnerDetails:
        """These details once the cross-field rules hold, with what follows from them
        filled in (a commune is located in itself; a commune gives the département)."""
        kind, label = self.kind, self.kind.label
        if kind in SCHOOLS:
            _require(self.uai, "uai", "uai_required", f"a {label} is identified by its UAI")
        else:
            _forbid(self.uai, "uai", f"UAI identifies schools, not a {label}")
        if kind is PartnerKind.COMMUNE:
            _require(self.insee_code, "insee_code", "insee_code_required",
                     "a commune is identified by its INSEE code")
        else:
            _forbid(self.insee_code, "insee_code",
                    f"insee_code identifies a commune, not a {label}; give the commune a "
                    "partner is located in as commune_insee_code")
        if kind in _PUBLIC_BODIES and not (self.siren or self.siret):
            raise RuleBroken.of("siren", "siren_or_siret_required",
                                f"a {label} is identified by its SIREN (or the SIRET of the "
                                "establishment that takes part)")
        if kind in _ESTABLISHMENTS:
            _require(self.siret, "siret", "siret_required",
                     f"an {label} is identified by its SIRET")
        if self.siren and self.siret and self.siret[:9] != self.siren:
            raise RuleBroken.of("siren", "siren_of_siret",
                                f"SIREN {self.siren} is not the SIREN of SIRET {self.siret} "
                                f"({self.siret[:9]})")
        details = self
        if kind is PartnerKind.COMMUNE and self.insee_code:
            if self.commune_insee_code not in (None, self.insee_code):
                raise RuleBroken.of("commune_insee_code", "commune_is_itself",
                                    f"a commune is located in itself ({self.insee_code}), "
                                    f"not in {self.commune_insee_code}")
            details = replace(details, commune_insee_code=self.insee_code)
        if details.commune_insee_code:
            expected = departement_of(details.commune_insee_code)
            if details.departement is None:
                details = replace(details, departement=expected)
            elif details.departement != expected:
                raise RuleBroken.of("departement", "departement_of_commune",
                                    f"département {details.departement} does not hold commune "
                                    f"{details.commune_insee_code} (département {expected})")
        return details

    def identity(self) -> Identity:
        """UAI, SIRET and INSEE code each name one partner; a SIREN does only for a partner
        without SIRET, since every establishment of a legal unit shares it."""
        return Identity(uai=self.uai, siret=self.siret, insee_code=self.insee_code,
                        siren_alone=self.siren if self.siret is None else None)


def _require(value: str | None, field: str, rule: str, message: str) -> None:
    if not value:
        raise RuleBroken.of(field, rule, message)


def _forbid(value: str | None, field: str, message: str) -> None:
    if value:
        raise RuleBroken.of(field, f"{field}_not_applicable", message)


def can_lead(kind: PartnerKind) -> bool:
    """Only a collège can be chef de file of an alliance (it receives the fonds de la cité)."""
    return kind is PartnerKind.COLLEGE


@dataclass(slots=True)
class Partner:
    partner_id: UUID
    details: PartnerDetails
    registered_at: datetime
    updated_at: datetime

    @classmethod
    def register(cls, details: PartnerDetails, now: datetime
                 ) -> tuple[Partner, PartnerRegistered]:
        """A new partner of the registry, and the event announcing it (no contact yet)."""
        partner = cls(uuid4(), details.checked(), now, now)
        return partner, PartnerRegistered.model_validate(
            {**partner._state(()), "registered_at": now})

    @property
    def kind(self) -> PartnerKind:
        return self.details.kind

    @property
    def name(self) -> str:
        return self.details.name

    @property
    def departement(self) -> str | None:
        return self.details.departement

    def describe(self) -> str:
        """How messages name it: ``lycée 'Lycée Jean Jaurès' (partner 3f2a…)``."""
        return f"{self.kind.label} '{self.name}' (partner {self.partner_id})"

    def revise(self, details: PartnerDetails, now: datetime, *, contacts: Iterable[Contact],
               holders: Iterable[Partner], leads: str | None,
               hosts: str | None = None) -> PartnerUpdated | None:
        """Take new details; None when nothing changes (no event then). ``contacts``: its
        live contacts (the event names the consenting ones); ``holders``: the partners
        holding one of the identifiers of ``details`` (itself included, if so), which
        must designate it alone; ``leads``: the cité of the alliance not closed it is chef
        de file of, if any — only a collège can be, so it cannot then become another
        kind; ``hosts``: the cité of the alliance not closed whose collectivité cheffe de
        file it is, if any — then it stays a commune or an EPCI."""
        checked = details.checked()
        if checked == self.details:
            return None
        if checked.identity() != self.details.identity():
            ensure_identifiers_free(p for p in holders if p.partner_id != self.partner_id)
        if checked.kind is not self.kind and leads is not None and not can_lead(checked.kind):
            raise Conflict(f"{self.describe()} is chef de file of alliance {leads}, which only "
                           "a collège can be: designate another collège first")
        if hosts is not None and checked.kind not in COLLECTIVITES:
            raise Conflict(f"{self.describe()} is the collectivité cheffe de file of alliance "
                           f"{hosts}, which only a commune or an EPCI can be: designate another "
                           f"commune or EPCI first (PUT /alliances/{hosts}/"
                           "collectivite-cheffe-de-file)")
        self.details, self.updated_at = checked, now
        return self.snapshot(contacts, now)

    def snapshot(self, contacts: Iterable[Contact], now: datetime) -> PartnerUpdated:
        """The registry's event for any change of this partner: its whole state, with the
        ids of the contacts events may name (``contacts`` are all its live contacts)."""
        return PartnerUpdated.model_validate({**self._state(contacts), "updated_at": now})

    def _state(self, contacts: Iterable[Contact]) -> dict[str, Any]:
        d = self.details
        return dict(partner_id=self.partner_id, kind=d.kind, name=d.name,
                    departement=d.departement, uai=d.uai, siret=d.siret, siren=d.siren,
                    insee_code=d.insee_code, commune_insee_code=d.commune_insee_code,
                    contact_ids=consenting(contacts))

    def contact(self, contact_id: UUID, contacts: Iterable[Contact]) -> Contact:
        """Its live contact ``contact_id`` among ``contacts``."""
        for contact in contacts:
            if contact.contact_id == contact_id:
                return contact
        raise NotFound(f"partner {self.partner_id} has no contact {contact_id}")


@dataclass(frozen=True, slots=True)
class ContactChange:
    """What a contact's change tells other services.

    ``snapshot``: the registry event, when the partner's list of consenting contacts
    changes. ``card``: the contact's card on the compacted ``partners.contacts``, when the
    address to write to is new or changed. ``forget``: the contact whose card is to be
    erased (a tombstone) — its consent was withdrawn.
    """

    snapshot: PartnerUpdated | None = None
    card: ContactCardPublished | None = None
    forget: UUID | None = None


def the_same_partner(found: Sequence[Partner], details: PartnerDetails) -> Partner:
    """The partner that ``details``' identifiers already designate (``found``), when it is
    the one being registered: registering it again returns it."""
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


def ensure_identifiers_free(holders: Iterable[Partner]) -> None:
    """A partner's identifiers designate it alone: ``holders`` are the other partners
    holding one of those it would take."""
    others = list(holders)
    if others:
        raise Conflict("these identifiers already designate "
                       + ", ".join(p.describe() for p in others))


@dataclass(frozen=True, slots=True)
class ContactDetails:
    """A person at a partner. Personal data: kept only here, erased on request."""

    name: str
    email: str
    function: str | None = None
    phone: str | None = None
    consent: bool = False
    """The person agreed to receive the programme's e-mails (only then is the address
    published, on the compacted ``partners.contacts``)."""


@dataclass(slots=True)
class Contact:
    contact_id: UUID
    partner_id: UUID
    details: ContactDetails
    consent_recorded_at: datetime
    created_at: datetime

    @classmethod
    def add(cls, partner: Partner, details: ContactDetails, contacts: Sequence[Contact],
            now: datetime) -> tuple[Contact, ContactChange]:
        """A new contact of ``partner``, whose live contacts are ``contacts``; it tells
        other services something only if it consents (then the snapshot names it and its
        card is published)."""
        contact = cls(uuid4(), partner.partner_id, details, now, now)
        return contact, contact._told(None, partner, contacts, now)

    def revise(self, partner: Partner, details: ContactDetails, contacts: Sequence[Contact],
               now: datetime) -> ContactChange:
        """Take new details (consent included) among its partner's live ``contacts``; it
        tells other services only what changes of what they say of it (its consent, or a
        consenting contact's e-mail)."""
        was = self.published_email
        # The consent date is the date of the consent now in force: given or withdrawn.
        if details.consent != self.details.consent:
            self.consent_recorded_at = now
        self.details = details
        return self._told(was, partner, contacts, now)

    def erase(self, now: datetime) -> ContactErased:
        """Right to erasure: every consumer forgets this contact (the event holds ids only;
        the store overwrites the personal data)."""
        return ContactErased(partner_id=self.partner_id, contact_id=self.contact_id,
                             erased_at=now)

    @property
    def published_email(self) -> str | None:
        """The address its card may carry: its e-mail, and only with consent."""
        return self.details.email if self.details.consent else None

    def _told(self, was: str | None, partner: Partner, contacts: Sequence[Contact],
              now: datetime) -> ContactChange:
        """What other services learn of this contact, whose card carried ``was``."""
        now_is = self.published_email
        if was == now_is:
            return ContactChange()
        snapshot = None
        if (was is None) != (now_is is None):  # the list of consenting contacts changed
            others = [c for c in contacts if c.contact_id != self.contact_id]
            snapshot = partner.snapshot([*others, self], now)
        if now_is is None:  # consent withdrawn: no longer to be written to, anywhere
            return ContactChange(snapshot, forget=self.contact_id)
        card = ContactCardPublished(contact_id=self.contact_id, partner_id=partner.partner_id,
                                    email=now_is, published_at=now)
        return ContactChange(snapshot, card)


def consenting(contacts: Iterable[Contact]) -> tuple[UUID, ...]:
    """The ids of the contacts events name (those who consent), in a stable order."""
    return tuple(sorted(c.contact_id for c in contacts if c.details.consent))
