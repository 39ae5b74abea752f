"""The money of the years before the platform, taken over from the programme's records.

The programme knows those years per cité, budget year and programme — the dotation
decided, what it committed, what was paid of it —, not per subsidy: the legal acts and
operators of 2020 are in the State's accounting system, not here. So a past year is taken
over whole, once, as one :class:`PastSpendingImported` per dotation: its ``committed``
leaves the allocation (from its frozen part when the label has ended since: it froze what
was still uncommitted then) for a commitment of the past, ``paid`` of it goes to what the
past's operators received. What was committed and not paid stays committed.

Only a year whose credits the platform does not keep: once the coordination records a
programme's AE and CP for a year (``POST /credits``), its commitments and payments are
recorded live, each consuming them. And the dotation is funding's own (the wave's envelope
and its rule made it, as the live path does): a record stating another amount is refused
naming both — the coordination revises a dotation, an import does not rewrite it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Self

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

from cites_contracts.events.funding import PastSpendingImported
from cites_contracts.types import BudgetProgramme, Cents, CiteReference, ProgrammeYear
from cites_runtime.errors import RuleFailure

from .cite import Allocation, AllocationFunds
from .ledger import euros

__all__ = ["PastMoneyRecord", "PastYear", "take_over"]


class PastYear(BaseModel):
    """One dotation of a past budget year: what the programme's records say of it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    year: ProgrammeYear
    programme: BudgetProgramme = BudgetProgramme.P147
    dotation: Cents | None = Field(
        default=None, description="The dotation decided that year, if the file states it: "
        "checked against funding's (refused if it differs)")
    committed: Cents = Field(description="What the dotation committed (cents)")
    paid: Cents = Field(description="What was paid of it (cents), never more than committed")

    @model_validator(mode="after")
    def _paid_within_committed(self) -> Self:
        if self.paid > self.committed:
            raise PydanticCustomError(
                "paid_over_committed", "paid ({paid}) is more than committed ({committed})",
                {"paid": euros(self.paid), "committed": euros(self.committed)})
        return self


class PastMoneyRecord(BaseModel):
    """A cité's money of the years before the platform (``docs/import.md``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    reference: CiteReference = Field(description="The programme's reference of the cité, "
                                     "as its history was imported into labelling")
    years: list[PastYear] = Field(min_length=1, max_length=40)

    @model_validator(mode="after")
    def _one_line_per_dotation(self) -> Self:
        seen = [(y.year, y.programme) for y in self.years]
        twice = sorted({f"{p.value} {y}" for y, p in seen if seen.count((y, p)) > 1})
        if twice:
            raise PydanticCustomError("repeated_year", "{years} stated more than once",
                                      {"years": ", ".join(twice)})
        return self


def _broken(rule: str, field: str, message: str) -> RuleFailure:
    return RuleFailure(rule=rule, field=field, message=message)


def take_over(line: PastYear, where: str, *, cite_id: str, reference: str,
              allocation: Allocation | None, funds: AllocationFunds | None,
              credits_kept: bool, known: tuple[int, int] | None, now: datetime
              ) -> PastSpendingImported | RuleFailure | None:
    """What one line of the record does: the event taking the year over, ``None`` when it
    was taken over as it says already (``known``: what was, committed and paid), or the
    rule it breaks (``where`` names the line)."""
    what = f"{line.programme.value} {line.year}"
    if credits_kept:
        return _broken("credits_kept", f"{where}.year", f"the platform keeps {what}'s "
                           "credits: that year's commitments and payments are recorded live")
    if allocation is None or funds is None:
        return _broken("no_dotation", f"{where}.year", f"{cite_id} has no {what} "
                           "dotation: its label did not cover the year, or no envelope did")
    if line.dotation is not None and line.dotation != allocation.amount:
        return _broken("dotation_differs", f"{where}.dotation", f"the {what} dotation "
                           f"is {euros(allocation.amount)}, not {euros(line.dotation)}: the "
                           "coordination revises it, an import does not")
    if known is not None:
        if known == (line.committed, line.paid):
            return None
        return _broken("differs", where, f"{what} was taken over already with "
                           f"{euros(known[0])} committed and {euros(known[1])} "
                           "paid: an import adds to the past, it does not rewrite it")
    if line.committed > funds.uncommitted + funds.frozen:
        return _broken("over_dotation", f"{where}.committed", f"{euros(line.committed)} "
                           f"committed, but the {what} dotation has "
                           f"{euros(funds.uncommitted + funds.frozen)} left to commit")
    return PastSpendingImported(
        cite_id=cite_id, allocation_id=allocation.allocation_id, programme=line.programme,
        year=line.year, committed=line.committed, paid=line.paid,
        from_frozen=max(0, line.committed - funds.uncommitted), reference=reference,
        recorded_at=now)
