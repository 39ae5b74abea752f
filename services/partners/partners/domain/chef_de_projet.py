"""The chef de projet opérationnel (CPO) of a cité: a post, held by a person employed by a
member of its alliance, and sometimes vacant.

The post's history is a run of tenures that never overlap: each from a first day to a last
day (business dates, both included), the latest possibly without an end (held now).
Appointing someone while the post is held ends the current tenure the day before;
declaring it vacant ends it on a given day. The person is a contact of their employer who
consents to be named by the programme, and the post names them by contact id only: their
personal data stays with the contact, erased there on request.

Only the latest tenure decides anything (the earlier ones ended before it began), so the
post is loaded with that one alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from uuid import UUID

from cites_contracts.events.partners import ChefDeProjetAppointed, ChefDeProjetPostVacated
from cites_runtime.errors import Conflict, RuleBroken

from .alliance import Alliance, AllianceStatus
from .registry import Contact

__all__ = ["ChefDeProjetPost", "Tenure"]


@dataclass(slots=True)
class Tenure:
    """A person's time in the post: ``starts_on`` to ``ends_on`` (None: holds it now)."""

    contact_id: UUID
    employer_partner_id: UUID
    starts_on: date
    ends_on: date | None = None
    motive: str | None = None
    """Why it ended, when declared vacant (no personal data)."""


@dataclass(slots=True)
class ChefDeProjetPost:
    cite_id: str
    opened_on: date
    """The day the alliance opened: no tenure begins before."""
    latest: Tenure | None = None
    """The tenure that began last (None: never held)."""

    @property
    def holder(self) -> Tenure | None:
        """The current tenure, if the post is held."""
        return self.latest if self.latest is not None and self.latest.ends_on is None else None

    def appoint(self, alliance: Alliance, employer_partner_id: UUID, contact_id: UUID,
                contact: Contact | None, *, erased: bool, starts_on: date, today: date,
                now: datetime) -> ChefDeProjetAppointed | None:
        """``contact_id`` holds the post from ``starts_on`` (``latest`` becomes the new
        tenure; the previous holder's ends the day before). ``contact``: the employer's
        live contact of that id (None: it has none; ``erased``: it had one, erased).
        None when that person already holds it for that employer from that day."""
        _require_not_closed(alliance)
        held = self.holder
        if held is not None and (held.contact_id, held.employer_partner_id,
                                 held.starts_on) == (contact_id, employer_partner_id, starts_on):
            return None
        self._check_start(starts_on, today)
        if employer_partner_id not in alliance.members:
            raise RuleBroken.of("employer_partner_id", "cpo_employer_is_a_member",
                                f"partner {employer_partner_id} is not a member of alliance "
                                f"{self.cite_id}: the chef de projet is employed by one "
                                f"(POST /alliances/{self.cite_id}/members first)")
        _ensure_consenting_employee(contact_id, employer_partner_id, contact, erased)
        if held is not None:
            held.ends_on = starts_on - timedelta(days=1)
        self.latest = Tenure(contact_id, employer_partner_id, starts_on)
        return ChefDeProjetAppointed(
            cite_id=self.cite_id, contact_id=contact_id, employer_partner_id=employer_partner_id,
            starts_on=starts_on, previous_contact_id=held.contact_id if held else None,
            appointed_at=now)

    def _check_start(self, starts_on: date, today: date) -> None:
        _ensure_come("starts_on", starts_on, today, "appoint the person on their first day")
        if starts_on < self.opened_on:
            raise RuleBroken.of("starts_on", "cpo_starts_on_after_opening",
                                f"alliance {self.cite_id} opened on {self.opened_on}: its chef "
                                f"de projet's tenures start then at the earliest, not on "
                                f"{starts_on}")
        latest = self.latest
        if latest is None:
            return
        last_day = latest.ends_on if latest.ends_on is not None else latest.starts_on
        if starts_on <= last_day:
            held = (f"held until {latest.ends_on}" if latest.ends_on is not None
                    else f"held since {latest.starts_on}")
            raise RuleBroken.of("starts_on", "cpo_tenures_do_not_overlap",
                                f"the post of chef de projet of {self.cite_id} was {held}: a "
                                f"new tenure starts after {last_day}, not on {starts_on}")

    def vacate(self, alliance: Alliance, ends_on: date, motive: str | None, *, today: date,
               now: datetime) -> ChefDeProjetPostVacated | None:
        """End the current tenure on ``ends_on``: the post is vacant from the day after.
        None when it is vacant already since that very day (the same declaration again)."""
        _require_not_closed(alliance)
        held = self.holder
        if held is None:
            if self.latest is not None and self.latest.ends_on == ends_on:
                return None
            since = (f"since {self.latest.ends_on + timedelta(days=1)}"
                     if self.latest is not None and self.latest.ends_on is not None
                     else "and has never been held")
            raise Conflict(f"the post of chef de projet of {self.cite_id} is vacant {since}: "
                           "there is no tenure to end")
        _ensure_come("ends_on", ends_on, today, "declare the vacancy on the last day")
        if ends_on < held.starts_on:
            raise RuleBroken.of("ends_on", "cpo_ends_on_after_start",
                                f"the current tenure started on {held.starts_on}: it cannot "
                                f"end before, on {ends_on}")
        held.ends_on, held.motive = ends_on, motive
        return ChefDeProjetPostVacated(cite_id=self.cite_id, contact_id=held.contact_id,
                                       ends_on=ends_on, motive=motive, vacated_at=now)


def _ensure_come(field: str, day: date, today: date, advice: str) -> None:
    """A tenure starts or ends (``field``) on a day that has come, not in the future."""
    if day > today:
        raise RuleBroken.of(field, f"cpo_{field}_not_future",
                            f"a tenure {field.replace('_', ' ')} a day that has come ({day} is "
                            f"after today, {today}): {advice}")


def _require_not_closed(alliance: Alliance) -> None:
    # A suspended alliance keeps its people: its chef de projet may come and go.
    if alliance.status is AllianceStatus.CLOSED:
        raise Conflict(f"alliance {alliance.cite_id} is closed (label withdrawn or expired): "
                       "its chef de projet's tenures are history and no longer change")


def _ensure_consenting_employee(contact_id: UUID, employer_partner_id: UUID,
                                contact: Contact | None, erased: bool) -> None:
    if erased:
        raise RuleBroken.of("contact_id", "cpo_contact_consents",
                            f"contact {contact_id} was erased: the programme no longer names "
                            "that person")
    if contact is None:
        raise RuleBroken.of("contact_id", "cpo_is_a_contact_of_its_employer",
                            f"partner {employer_partner_id} has no contact {contact_id}: the "
                            "chef de projet is a contact of their employer (POST /partners/"
                            f"{employer_partner_id}/contacts first)")
    if not contact.details.consent:
        raise RuleBroken.of("contact_id", "cpo_contact_consents",
                            f"contact {contact_id} has not consented to be named by the "
                            "programme: record their consent first")
