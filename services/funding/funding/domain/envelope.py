"""Envelopes and their policy: how much each cité of a wave receives a year.

An envelope holds one budget programme's money for some waves and budget years. Its
**dotation rule** is data, chosen when it is opened (and kept with every allocation it
produced, with the rule's inputs in words), and its **fonds share** is what it puts in each
cité's yearly fonds de la cité. The programme's facts give the defaults: a P147 envelope
pays dotations of the requested contribution within 120 k€–650 k€ (250 k€ when none was
requested); a P230 envelope pays no dotation; each puts 15 k€ in the fonds, so that the
fonds reaches its 30 k€ a year with one envelope of each programme.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Self
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, model_validator

from cites_contracts.events.funding import EnvelopeAmended, EnvelopeOpened
from cites_contracts.types import BudgetProgramme, DotationRuleKind

from .ledger import Account, AccountKind, Movement, MovementKind, euros

__all__ = ["FONDS_SHARE", "NO_DOTATION", "DotationRule", "Envelope", "default_rule"]

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
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: DotationRuleKind | str = Field(
        description="fixed, requested_capped, population or none")
    amount: int = Field(0, ge=0, le=10_000_000_00,
                        description="fixed: the dotation; requested_capped: when none asked")
    floor: int = Field(0, ge=0, le=10_000_000_00)
    cap: int = Field(0, ge=0, le=10_000_000_00)
    per_inhabitant: int = Field(0, ge=0, le=1_000_000, description="population: cents")

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


def default_rule(programme: BudgetProgramme) -> DotationRule:
    """P147 (Politique de la ville) pays the dotations; P230 (Vie de l'élève) only its
    fonds share."""
    if programme is BudgetProgramme.P147:
        return DotationRule(kind=DotationRuleKind.REQUESTED_CAPPED, amount=250_000_00,
                            floor=120_000_00, cap=650_000_00)
    return DotationRule(kind=NO_DOTATION)


@dataclass(frozen=True, slots=True)
class Envelope:
    id: UUID
    name: str
    programme: BudgetProgramme
    budget_years: tuple[int, ...]
    wave_ids: tuple[str, ...]
    amount: int
    rule: DotationRule
    fonds_share: int
    opened_at: datetime

    @property
    def account(self) -> Account:
        return Account.of(AccountKind.ENVELOPE, self.id)

    @classmethod
    def open(cls, envelope: Envelope) -> tuple[Envelope, Movement, EnvelopeOpened]:
        """Opening moves the amount from the programme's budget into the envelope."""
        return envelope, Movement(MovementKind.OPEN, Account.budget(envelope.programme),
                                  envelope.account, envelope.amount), EnvelopeOpened(
            envelope_id=envelope.id, name=envelope.name, programme=envelope.programme,
            budget_years=envelope.budget_years, wave_ids=envelope.wave_ids,
            amount=envelope.amount, opened_at=envelope.opened_at)

    def amend(self, amount: int, motive: str, at: datetime
              ) -> tuple[Envelope, Movement | None, EnvelopeAmended | None]:
        """A new total: raising takes more from the budget; lowering gives back what the
        envelope has not allocated (the ledger refuses going below, saying by how much).
        The same amount again changes nothing."""
        if amount == self.amount:
            return self, None, None
        budget = Account.budget(self.programme)
        movement = (Movement(MovementKind.OPEN, budget, self.account, amount - self.amount)
                    if amount > self.amount else
                    Movement(MovementKind.REDUCE, self.account, budget, self.amount - amount))
        amended = EnvelopeAmended(envelope_id=self.id, previous_amount=self.amount,
                                  amount=amount, motive=motive, amended_at=at)
        return replace(self, amount=amount), movement, amended
