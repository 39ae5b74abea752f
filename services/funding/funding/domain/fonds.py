"""The fonds de la cité: each budget year, every envelope covering the cité's wave puts
its ``fonds_share`` in it (15 k€ from P147, 15 k€ from P230: 30 k€), granted to the
collège chef de file — the one partners last designated, the label's lead collège until
partners has said. A year's grant stays where it went; a new chef de file receives the
next one.

The collège's principal uses it freely, and reports each use (:meth:`FondsGrant.use`):
what was paid, for what, to whom — never more than the grant has left (its ledger
account), each use drawn from the programmes in proportion to what they put in.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from uuid import UUID

from cites_contracts.events.funding import (
    AllocationRefused,
    FondsDeLaCiteGranted,
    FondsUsed,
    ProgrammeAmount,
)
from cites_contracts.types import AllocationRefusalReason, BudgetProgramme
from cites_runtime.actor import Actor
from cites_runtime.errors import RuleBroken

from .cite import Cite
from .envelope import BudgetEnvelope
from .ledger import Account, AccountKind, take

__all__ = ["ChefDeFile", "Contribution", "FondsGrant", "Spending", "drawn", "grant"]

ChefDeFile = tuple[UUID, str]
"""The collège partners designated: its partner id and UAI."""


def grant(cite: Cite, year: int, envelopes: Sequence[BudgetEnvelope], grant_id: UUID,
          chef_de_file: ChefDeFile | None, at: datetime
          ) -> FondsDeLaCiteGranted | AllocationRefused:
    """The cité's fonds of ``year`` from ``envelopes`` (one per programme), each giving its
    share; refused, naming the first envelope (by programme) that no longer holds its
    share, when one does not (told once; granted after an amendment)."""
    shares = sorted((e for e in envelopes if e.fonds_share > 0), key=lambda e: e.programme)
    short = next((e for e in shares if e.fonds_share > e.remaining), None)
    if short is not None:
        return AllocationRefused(
            cite_id=cite.cite_id, envelope_id=short.id, year=year,
            requested=short.fonds_share, available=short.remaining,
            reason=AllocationRefusalReason.ENVELOPE_EXHAUSTED, refused_at=at,
            programme=short.programme)
    for e in shares:
        e.remaining -= e.fonds_share
    partner_id, uai = chef_de_file or (None, cite.lead_college_uai)
    return FondsDeLaCiteGranted(
        cite_id=cite.cite_id, grant_id=grant_id, year=year, lead_college_uai=uai,
        contributions=tuple(ProgrammeAmount(programme=e.programme, amount=e.fonds_share)
                            for e in shares),
        granted_at=at, chef_de_file_partner_id=partner_id)


@dataclass(frozen=True, slots=True)
class Contribution:
    """What one programme's envelope put in a grant."""

    programme: BudgetProgramme
    envelope_id: UUID
    amount: int


@dataclass(frozen=True, slots=True)
class Spending:
    """What the collège paid from its fonds: how much, for what, to whom, on which day."""

    amount: int
    purpose: str
    paid_on: date
    payee: str | None = None


@dataclass(frozen=True, slots=True)
class FondsGrant:
    """A year's fonds de la cité as it stands: the collège it was placed with, what each
    programme put in, what is left (its ledger account's balance)."""

    grant_id: UUID
    cite_id: str
    departement: str
    year: int
    partner_id: UUID | None
    """The collège chef de file's partner id (``None`` until partners named it)."""
    contributions: tuple[Contribution, ...]
    left: int

    @property
    def amount(self) -> int:
        return sum(c.amount for c in self.contributions)

    @property
    def account(self) -> Account:
        return Account.of(AccountKind.FONDS, self.grant_id)

    def use(self, use_id: UUID, spending: Spending, *, actor: Actor, today: date,
            at: datetime) -> FondsUsed:
        """Record what the collège paid. By the collège chef de file itself, the préfecture
        of the cité's département or the national coordination (else ``Forbidden``); paid
        between the 1st of January of the grant's year and today (else ``RuleBroken``,
        ``paid_on``); never more than the grant has left (else ``LimitExceeded``, 409,
        saying what is left)."""
        actor.ensure_acts_for(self.departement)
        actor.ensure_acts_for_partner(
            self.partner_id, f"cité {self.cite_id}'s fonds de la cité of {self.year}")
        if spending.paid_on < date(self.year, 1, 1):
            raise RuleBroken.of("paid_on", "in_grant_year",
                                f"paid on {spending.paid_on}: the fonds of {self.year} pays "
                                f"from 1 January {self.year} on")
        if spending.paid_on > today:
            raise RuleBroken.of("paid_on", "not_in_future",
                                f"paid on {spending.paid_on}, after today ({today})")
        left = take(self.account, self.left, spending.amount)
        return FondsUsed(
            cite_id=self.cite_id, use_id=use_id, grant_id=self.grant_id, year=self.year,
            chef_de_file_partner_id=self.partner_id, amount=spending.amount,
            drawn=drawn(self.contributions, self.amount - self.left, spending.amount),
            left=left, purpose=spending.purpose, payee=spending.payee,
            paid_on=spending.paid_on, recorded_by=actor.event_role, recorded_at=at)


def drawn(contributions: Sequence[Contribution], used: int, amount: int
          ) -> tuple[ProgrammeAmount, ...]:
    """``amount`` split between the programmes as they contributed, given what was
    ``used`` before: each programme's share of all uses so far is its contribution's
    proportion, rounded down, the last one taking the cents left — so no programme ever
    gives more than it put in, and the parts always sum to ``amount``. Programmes giving
    nothing this time are left out."""
    total = sum(c.amount for c in contributions)
    ordered = sorted(contributions, key=lambda c: c.programme)

    def shares(of: int) -> list[int]:
        first = [of * c.amount // total for c in ordered[:-1]]
        return [*first, of - sum(first)]

    before, after = shares(used), shares(used + amount)
    return tuple(ProgrammeAmount(programme=c.programme, amount=a - b)
                 for c, b, a in zip(ordered, before, after, strict=True) if a > b)
