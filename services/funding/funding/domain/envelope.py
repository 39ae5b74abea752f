"""Envelopes and their policy: how much each cité of a wave receives a year.

An envelope holds one budget programme's money for some waves and budget years. Its
**dotation rule** is data, chosen when it is opened (and kept with every allocation it
produced, with the rule's inputs in words), and its **fonds share** is what it puts in each
cité's yearly fonds de la cité. The programme's facts give the defaults: a P147 envelope
pays dotations of the requested contribution within 120 k€–650 k€ (250 k€ when none was
requested); a P230 envelope pays no dotation; each puts 15 k€ in the fonds, so that the
fonds reaches its 30 k€ a year with one envelope of each programme.

An envelope gives only what it still holds (``remaining``, its ledger account's balance):
a dotation beyond it is refused (``AllocationRefused``, told once), a manual allocation or
an amendment below it is a 409 saying by how much.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Self
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, model_validator

from cites_contracts.events.funding import (
    AllocationRefused,
    AllocationRevised,
    EnvelopeAmended,
    EnvelopeOpened,
    FundsAllocated,
)
from cites_contracts.types import AllocationRefusalReason, BudgetProgramme, DotationRuleKind
from cites_runtime.errors import Conflict

from .cite import Allocation, AllocationFunds, Cite
from .ledger import Account, AccountKind, euros, take

__all__ = [
    "FONDS_SHARE",
    "NO_DOTATION",
    "BudgetEnvelope",
    "DotationRule",
    "EnvelopeTerms",
    "default_rule",
]

FONDS_SHARE = 15_000_00
"""Each programme's yearly share of a cité's fonds de la cité (P147 + P230 = 30 k€)."""

NO_DOTATION = "none"


class DotationRule(BaseModel):
    """How an envelope computes a cité's yearly dotation.

    - ``fixed``: ``amount`` for every cité;
    - ``requested_capped``: the contribution the candidature requested, within
      [``floor``, ``cap``]; ``amount`` when it requested none (labelling sends 0 then);
    - ``population``: ``per_inhabitant`` × the population of the cité's QPVs, within
      [``floor``, ``cap``];
    - ``none``: the envelope pays no dotation (only its fonds share).

    **Degressive** (``degression_percent``, as the Cour des comptes recommends, so that
    the State's share decreases and the territory takes over): the year a label starts
    pays the rule's amount, each later year ``degression_percent`` points of it less —
    counted from the label's first year, across renewals —, never below
    ``degression_floor_percent`` of it. 0 (the default): every year the same.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: DotationRuleKind | str = Field(
        description="fixed, requested_capped, population or none")
    amount: int = Field(0, ge=0, le=10_000_000_00,
                        description="fixed: the dotation; requested_capped: when none asked")
    floor: int = Field(0, ge=0, le=10_000_000_00)
    cap: int = Field(0, ge=0, le=10_000_000_00)
    per_inhabitant: int = Field(0, ge=0, le=1_000_000, description="population: cents")
    degression_percent: int = Field(
        0, ge=0, le=50, description="Points of the amount less each year of a label after "
        "its first (0: the same every year)")
    degression_floor_percent: int = Field(
        50, ge=1, le=100, description="The degression never goes below this share of the "
        "amount")

    @model_validator(mode="after")
    def _coherent(self) -> Self:
        kinds = {DotationRuleKind.FIXED, DotationRuleKind.REQUESTED_CAPPED,
                 DotationRuleKind.POPULATION, NO_DOTATION}
        if self.kind not in kinds or self.kind == DotationRuleKind.MANUAL:
            raise ValueError(f"a dotation rule is one of fixed, requested_capped, population, "
                             f"none; not {self.kind!r}")
        if self.kind == DotationRuleKind.FIXED and self.amount <= 0:
            raise ValueError("a fixed rule needs a positive amount")
        if self.kind in (DotationRuleKind.REQUESTED_CAPPED, DotationRuleKind.POPULATION
                         ) and not 0 < self.floor <= self.cap:
            raise ValueError(f"the bounds need 0 < floor ≤ cap (floor {self.floor}, "
                             f"cap {self.cap})")
        if self.kind == DotationRuleKind.REQUESTED_CAPPED and not (
                self.floor <= self.amount <= self.cap):
            raise ValueError("the amount given when nothing was requested lies within the "
                             "bounds")
        if self.kind == DotationRuleKind.POPULATION and self.per_inhabitant <= 0:
            raise ValueError("a population rule needs a positive per_inhabitant")
        return self

    @property
    def pays_dotations(self) -> bool:
        return self.kind != NO_DOTATION

    def dotation(self, *, requested: int | None, population: int) -> tuple[int, str]:
        """The yearly dotation of a cité, and the rule applied in words."""
        if self.kind == DotationRuleKind.FIXED:
            return self.amount, f"fixed {euros(self.amount)}"
        bounds = f"within [{euros(self.floor)}, {euros(self.cap)}]"
        if self.kind == DotationRuleKind.REQUESTED_CAPPED:
            if not requested:  # None, or 0: a candidature that asked for nothing
                return self.amount, f"none requested: {euros(self.amount)}"
            return (min(max(requested, self.floor), self.cap),
                    f"requested {euros(requested)} {bounds}")
        if self.kind == DotationRuleKind.POPULATION:
            raw = self.per_inhabitant * population
            return (min(max(raw, self.floor), self.cap),
                    f"{euros(self.per_inhabitant)} × {population} inhabitants of its QPVs "
                    f"= {euros(raw)} {bounds}")
        raise ValueError("this envelope pays no dotation")

    def degressive(self, amount: int, label_year: int) -> tuple[int, str]:
        """``amount`` in the ``label_year``-th year of a label (0: its first), in whole
        euros, and what the degression did in words ('' when it did nothing)."""
        if not self.degression_percent or label_year <= 0:
            return amount, ""
        percent = max(100 - self.degression_percent * label_year,
                      self.degression_floor_percent)
        lowered = amount * percent // 100 // 100 * 100
        return lowered, (f"; degressive: year {label_year + 1} of its label at {percent} % "
                         f"= {euros(lowered)}")


def default_rule(programme: BudgetProgramme) -> DotationRule:
    """P147 (Politique de la ville) pays the dotations; P230 (Vie de l'élève) only its
    fonds share."""
    if programme is BudgetProgramme.P147:
        return DotationRule(kind=DotationRuleKind.REQUESTED_CAPPED, amount=250_000_00,
                            floor=120_000_00, cap=650_000_00)
    return DotationRule(kind=NO_DOTATION)


@dataclass(frozen=True, slots=True)
class EnvelopeTerms:
    """What the national coordination decides when it opens an envelope."""

    name: str
    programme: BudgetProgramme
    budget_years: Sequence[int]
    wave_ids: Sequence[str]
    amount: int
    rule: DotationRule | None = None
    """``None``: the programme's :func:`default_rule`."""
    fonds_share: int = FONDS_SHARE


@dataclass(slots=True)
class BudgetEnvelope:
    id: UUID
    name: str
    programme: BudgetProgramme
    budget_years: tuple[int, ...]
    wave_ids: tuple[str, ...]
    amount: int
    rule: DotationRule
    fonds_share: int
    opened_at: datetime
    remaining: int
    """What it has neither allocated nor granted: its ledger account's balance."""

    @property
    def account(self) -> Account:
        return Account.of(AccountKind.ENVELOPE, self.id)

    @classmethod
    def open(cls, envelope_id: UUID, terms: EnvelopeTerms,
             taken: Sequence[tuple[str, int, UUID]], at: datetime
             ) -> tuple[BudgetEnvelope, EnvelopeOpened]:
        """Open an envelope: its amount comes from the programme's budget. ``taken``: the
        (wave, year, envelope) of its programme already covered among its waves and
        years — which envelope pays is never a choice, so any is a refusal."""
        if taken:
            raise Conflict(f"{terms.programme.value} already has an envelope for " + ", ".join(
                f"wave {w} in {y} ({e})" for w, y, e in taken[:10])
                + ": one envelope per programme, wave and year (amend it instead)")
        envelope = cls(id=envelope_id, name=terms.name, programme=terms.programme,
                       budget_years=tuple(sorted(set(terms.budget_years))),
                       wave_ids=tuple(sorted(set(terms.wave_ids))), amount=terms.amount,
                       rule=terms.rule or default_rule(terms.programme),
                       fonds_share=terms.fonds_share, opened_at=at, remaining=terms.amount)
        return envelope, EnvelopeOpened(
            envelope_id=envelope.id, name=envelope.name, programme=envelope.programme,
            budget_years=envelope.budget_years, wave_ids=envelope.wave_ids,
            amount=envelope.amount, opened_at=at)

    def amend(self, amount: int, motive: str, at: datetime) -> EnvelopeAmended | None:
        """A new total: raising takes more from the budget; lowering gives back what the
        envelope has not allocated (never more: refused, saying by how much). The same
        amount again changes nothing."""
        if amount == self.amount:
            return None
        if amount < self.amount:
            self.remaining = take(self.account, self.remaining, self.amount - amount)
        else:
            self.remaining += amount - self.amount
        amended = EnvelopeAmended(envelope_id=self.id, previous_amount=self.amount,
                                  amount=amount, motive=motive, amended_at=at)
        self.amount = amount
        return amended

    # --- allocations -----------------------------------------------------------------------

    def dotation(self, cite: Cite, year: int, allocation_id: UUID, at: datetime
                 ) -> FundsAllocated | AllocationRefused:
        """The cité's dotation of ``year`` by this envelope's rule, or its refusal when the
        envelope no longer holds it (told once; funded after an amendment)."""
        amount, basis = self.rule.dotation(requested=cite.requested_contribution,
                                           population=cite.population)
        amount, lowered = self.rule.degressive(amount, year - cite.label_start.year)
        basis += lowered
        days, in_year = cite.days_labelled(year)
        if days < in_year:  # the year its label starts, from that day: whole euros
            amount = amount * days // in_year // 100 * 100
            basis += f"; prorated to {days}/{in_year} days of {year}: {euros(amount)}"
        if amount > self.remaining:
            return AllocationRefused(
                cite_id=cite.cite_id, envelope_id=self.id, year=year, requested=amount,
                available=self.remaining, reason=AllocationRefusalReason.ENVELOPE_EXHAUSTED,
                refused_at=at, programme=self.programme)
        return self._allocate(cite, year, amount, DotationRuleKind(self.rule.kind), basis,
                              allocation_id, at)

    def allocate(self, cite: Cite, year: int, amount: int, basis: str, allocation_id: UUID,
                 at: datetime) -> FundsAllocated:
        """An allocation the national coordination decides, beside the dotations: to an
        active cité of a wave and year this envelope covers, in its label's years, never
        more than the envelope holds."""
        cite.ensure_unfrozen()
        if cite.wave_id not in self.wave_ids or year not in self.budget_years:
            raise Conflict(f"envelope {self.id} funds waves {', '.join(self.wave_ids)} "
                           f"in {', '.join(map(str, self.budget_years))}; cité "
                           f"{cite.cite_id} is of wave {cite.wave_id} and this is {year}")
        if year not in cite.label_years:
            raise Conflict(f"cité {cite.cite_id}'s label runs {cite.label_start}–"
                           f"{cite.label_end}: nothing is allocated to it for {year}")
        return self._allocate(cite, year, amount, DotationRuleKind.MANUAL, basis,
                              allocation_id, at)

    def _allocate(self, cite: Cite, year: int, amount: int, rule: DotationRuleKind,
                  basis: str, allocation_id: UUID, at: datetime) -> FundsAllocated:
        self.remaining = take(self.account, self.remaining, amount)
        return FundsAllocated(cite_id=cite.cite_id, allocation_id=allocation_id,
                              envelope_id=self.id, programme=self.programme, year=year,
                              amount=amount, envelope_remaining=self.remaining,
                              allocated_at=at, dotation_rule=rule, dotation_basis=basis)

    def revise(self, cite: Cite, allocation: Allocation, funds: AllocationFunds, amount: int,
               motive: str, at: datetime) -> AllocationRevised | None:
        """The national coordination revises an allocation of an active cité: raising it
        takes the difference from this envelope (never more than it holds), lowering it
        gives back the difference (never more than the allocation has not committed). The
        same amount again changes nothing."""
        cite.ensure_unfrozen()
        if amount == allocation.amount:
            return None
        if amount > allocation.amount:
            self.remaining = take(self.account, self.remaining, amount - allocation.amount)
        else:
            take(funds.account, funds.uncommitted, allocation.amount - amount)
            self.remaining += allocation.amount - amount
        return AllocationRevised(cite_id=cite.cite_id, allocation_id=allocation.allocation_id,
                                 envelope_id=self.id, programme=self.programme,
                                 year=allocation.year, previous_amount=allocation.amount,
                                 amount=amount, envelope_remaining=self.remaining,
                                 motive=motive, revised_at=at)
