"""The State's credits of a programme's budget year, as they really move.

Each year the Parliament votes, per programme (P147, P230), **AE** (autorisations
d'engagement: what may be committed that year) and **CP** (crédits de paiement: what may
be paid). The national coordination records them (amended as the year goes: never below
what it has delegated), then **delegates** part of them to each département's préfet.
A préfecture's commitment consumes AE of its allocation's year delegated to its
département; its payment, CP of the year it is made (a commitment of 2025 paid in 2026
is paid from 2026's CP). At the year's **close**, what was neither committed (AE) nor paid
(CP) lapses, delegated or not; commitments not fully paid carry their unpaid part over as
*restes à payer*, paid from the next years' CP. A closed year commits and pays nothing
more.

Every limit is the ledger's (:mod:`.ledger`: no account but a source goes below zero):
these objects decide what moves and refuse what the year's state forbids.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from cites_contracts.events.funding import (
    BudgetYearClosed,
    CreditsDelegated,
    CreditsVoted,
    DelegationClosed,
)
from cites_contracts.types import BudgetProgramme
from cites_runtime.errors import Conflict

from .ledger import Account, AccountKind, take

__all__ = ["Credits", "DelegationFunds", "YearClosed"]


class YearClosed(Conflict):
    """The budget year is closed: nothing more is committed on its AE nor paid from its CP."""


@dataclass(frozen=True, slots=True)
class DelegationFunds:
    """What a département holds of a programme's year: AE not committed, CP not paid; and
    what it was delegated of them in all."""

    departement: str
    ae: int
    cp: int
    total_ae: int
    total_cp: int


@dataclass(slots=True)
class Credits:
    programme: BudgetProgramme
    year: int
    ae: int
    cp: int
    ae_open: int
    """Voted, not delegated: its ``ae_open`` account's balance."""
    cp_open: int
    closed_at: datetime | None = None

    def account(self, kind: AccountKind) -> Account:
        return Account.credits(kind, self.programme, self.year)

    @classmethod
    def vote(cls, existing: Credits | None, programme: BudgetProgramme, year: int, ae: int,
             cp: int, at: datetime) -> tuple[Credits, CreditsVoted | None]:
        """The year's credits as voted, or amended: new totals. Lowering gives back what
        was not delegated, never more (refused, saying by how much); the same totals
        again change nothing (a first record, even of zeros, is told)."""
        credits = existing or cls(programme, year, 0, 0, 0, 0)
        credits.ensure_open()
        if existing is not None and (ae, cp) == (credits.ae, credits.cp):
            return credits, None
        if ae < credits.ae:
            credits.ae_open = take(credits.account(AccountKind.AE_OPEN), credits.ae_open,
                                   credits.ae - ae)
        else:
            credits.ae_open += ae - credits.ae
        if cp < credits.cp:
            credits.cp_open = take(credits.account(AccountKind.CP_OPEN), credits.cp_open,
                                   credits.cp - cp)
        else:
            credits.cp_open += cp - credits.cp
        voted = CreditsVoted(programme=programme, year=year, ae=ae, cp=cp,
                             previous_ae=credits.ae, previous_cp=credits.cp, voted_at=at)
        credits.ae, credits.cp = ae, cp
        return credits, voted

    def delegate(self, departement: str, ae: int, cp: int, totals: tuple[int, int],
                 at: datetime) -> CreditsDelegated:
        """Delegate ``ae`` and ``cp`` more to the département's préfet, never more than is
        left undelegated. ``totals``: what it was delegated so far that year."""
        self.ensure_open()
        self.ae_open = take(self.account(AccountKind.AE_OPEN), self.ae_open, ae)
        self.cp_open = take(self.account(AccountKind.CP_OPEN), self.cp_open, cp)
        return CreditsDelegated(programme=self.programme, year=self.year,
                                departement=departement, ae=ae, cp=cp,
                                total_ae=totals[0] + ae, total_cp=totals[1] + cp,
                                delegated_at=at)

    def close(self, delegations: Sequence[DelegationFunds], restes_a_payer: int,
              open_commitments: int, today: date, at: datetime) -> BudgetYearClosed:
        """Close the year once it is over: what was neither committed nor paid lapses."""
        self.ensure_open()
        if self.year >= today.year:
            raise Conflict(f"{self.programme.value} {self.year} is not over (today is "
                           f"{today}): a budget year is closed after 31 December")
        lapsed = [d for d in delegations if d.ae or d.cp]
        closed = BudgetYearClosed(
            programme=self.programme, year=self.year,
            lapsed_ae=self.ae_open + sum(d.ae for d in lapsed),
            lapsed_cp=self.cp_open + sum(d.cp for d in lapsed),
            delegations=tuple(DelegationClosed(departement=d.departement, lapsed_ae=d.ae,
                                               lapsed_cp=d.cp) for d in lapsed),
            restes_a_payer=restes_a_payer, open_commitments=open_commitments, closed_at=at)
        self.closed_at, self.ae_open, self.cp_open = at, 0, 0
        return closed

    def ensure_open(self) -> None:
        if self.closed_at is not None:
            raise YearClosed(f"the credits of {self.programme.value} {self.year} were closed "
                             f"on {self.closed_at:%Y-%m-%d}: nothing more is committed on "
                             "their AE nor paid from their CP")
