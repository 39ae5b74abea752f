"""What the dashboard's figures mean: pure rules over what the events told, no I/O.

- A candidature's status only moves forward (its events come on two topics, in either
  order): ``submitted`` < ``under_review`` < a decision (labelled, rejected, withdrawn).
- A cité's status is its label's, as labelling names it.
- Money is funding's ledger read back from its events: each event is a movement of an
  allocation's (programme, year); a line sums them as funding's consumption report does
  (committed net of cancellations, frozen net of unfreezes and releases).
"""

from __future__ import annotations

import unicodedata
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from enum import StrEnum
from uuid import UUID

from pydantic import BaseModel

from cites_contracts.events.funding import (
    CommitmentCancelled,
    FundsCommitted,
    FundsFrozen,
    FundsReleased,
    FundsUnfrozen,
    PaymentMade,
)

__all__ = ["CANDIDATURE_RANK", "AllocationMove", "CandidatureStatus", "CiteStatus",
           "MoneyLine", "Movement", "amounts_moved", "money_lines", "per_programme",
           "roll_up"]


class CandidatureStatus(StrEnum):
    SUBMITTED = "submitted"
    UNDER_REVIEW = "under_review"
    LABELLED = "labelled"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"


CANDIDATURE_RANK = {CandidatureStatus.SUBMITTED: 1, CandidatureStatus.UNDER_REVIEW: 2,
                    CandidatureStatus.LABELLED: 3, CandidatureStatus.REJECTED: 3,
                    CandidatureStatus.WITHDRAWN: 3}
"""A status replaces another of lower rank only: a decision is final."""


class CiteStatus(StrEnum):
    LABELLED = "labelled"
    SUSPENDED = "suspended"
    WITHDRAWN = "withdrawn"
    EXPIRED = "expired"


class Movement(StrEnum):
    ALLOCATE = "allocate"
    GRANT = "grant"
    """A programme's contribution to a fonds de la cité."""
    USE = "use"
    """What a collège used of its fonds, by the programme it was drawn from."""
    COMMIT = "commit"
    CANCEL = "cancel"
    """The unpaid part of a cancelled commitment, back to its allocation."""
    PAY = "pay"
    FREEZE = "freeze"
    UNFREEZE = "unfreeze"
    RELEASE = "release"
    """Frozen money given back to its envelope."""
    ORDER = "order"
    """Paid money an operator is ordered to repay (a recovery order)."""
    RECOVER = "recover"
    """Money repaid on an order."""
    SPEND = "spend"
    """A payment's CP, at the year it was made (the credits' view; not a money line)."""
    REFUSED = "refused"
    """A dotation refused: what was asked (not money that moved; counted apart)."""


AllocationMove = (FundsCommitted | CommitmentCancelled | PaymentMade | FundsFrozen
                  | FundsUnfrozen | FundsReleased)
"""The events that move money of allocations already made (each one :class:`Movement`)."""


def amounts_moved(event: AllocationMove) -> list[tuple[UUID, int]]:
    """(allocation, amount) of each allocation the event moves money of."""
    match event:
        case FundsCommitted() | PaymentMade():
            return [(event.allocation_id, event.amount)]
        case CommitmentCancelled():
            return [(event.allocation_id, event.returned)]
        case FundsFrozen():
            return [(f.allocation_id, f.amount) for f in event.frozen]
        case FundsUnfrozen():
            return [(f.allocation_id, f.amount) for f in event.unfrozen]
        case FundsReleased():
            return [(r.allocation_id, r.amount) for r in event.released]


class MoneyLine(BaseModel):
    """One programme's money for one year, in cents, as funding's consumption report has
    it (``GET /reports/consumption``, its ``programmes``)."""

    programme: str
    year: int
    allocated: int = 0
    fonds: int = 0
    fonds_used: int = 0
    """What the collèges used of their fonds de la cité."""
    committed: int = 0
    paid: int = 0
    frozen: int = 0
    released: int = 0
    ordered_back: int = 0
    """Paid, then ordered back by a recovery order."""
    recovered: int = 0
    """Repaid on those orders."""
    refused: int = 0
    """Dotations refused (envelope exhausted…): how many, not an amount."""

    @classmethod
    def of(cls, programme: str, year: int, sums: Mapping[str, int],
           refusals: int = 0) -> MoneyLine:
        def s(m: Movement) -> int:
            return sums.get(m.value, 0)
        return cls(programme=programme, year=year, allocated=s(Movement.ALLOCATE),
                   fonds=s(Movement.GRANT), fonds_used=s(Movement.USE),
                   committed=s(Movement.COMMIT) - s(Movement.CANCEL),
                   paid=s(Movement.PAY),
                   frozen=s(Movement.FREEZE) - s(Movement.UNFREEZE) - s(Movement.RELEASE),
                   released=s(Movement.RELEASE), ordered_back=s(Movement.ORDER),
                   recovered=s(Movement.RECOVER), refused=refusals)


def money_lines(sums: Iterable[tuple[str, int, str, int, int]]) -> list[MoneyLine]:
    """One line per (programme, year), in that order, from each movement's sum there:
    (programme, year, movement, amount, how many); refusals are counted, not summed."""
    amounts: dict[tuple[str, int], dict[str, int]] = defaultdict(dict)
    refusals: dict[tuple[str, int], int] = defaultdict(int)
    for programme, year, movement, amount, n in sums:
        if movement == Movement.REFUSED:
            refusals[programme, year] += n
        else:
            amounts[programme, year][movement] = amount
    return [MoneyLine.of(p, y, amounts.get((p, y), {}), refusals.get((p, y), 0))
            for p, y in sorted(set(amounts) | set(refusals))]


def per_programme(lines: Iterable[MoneyLine]) -> list[MoneyLine]:
    """The lines of each programme added up, all years (year 0), by programme."""
    totals: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for line in lines:
        for figure, value in line.model_dump(exclude={"programme", "year"}).items():
            totals[line.programme][figure] += value
    return [MoneyLine(programme=p, year=0, **figures) for p, figures in sorted(totals.items())]


def roll_up(rows: Iterable[Mapping[str, int | str]], area_of: Callable[[str], str | None],
            key: str = "departement") -> list[dict[str, int | str]]:
    """The figures of ``rows`` (one per département, its code under ``key``) summed per
    area (``area_of`` a département's région or académie), by name; a département no
    area claims is counted under « Autre » rather than dropped, so the totals agree."""
    totals: dict[str, dict[str, int | str]] = {}
    for row in rows:
        name = area_of(str(row[key])) or "Autre"
        total = totals.setdefault(name, {"name": name})
        for figure, value in row.items():
            if figure != key and isinstance(value, int):
                total[figure] = int(total.get(figure, 0)) + value
    return [totals[name] for name in sorted(totals, key=_collation)]


def _collation(name: str) -> str:
    """French order for names: Île-de-France among the I, not after Z."""
    return unicodedata.normalize("NFD", name).encode("ascii", "ignore").decode().lower()
