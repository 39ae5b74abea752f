"""What the open data publishes, and how it names it: pure rules, no I/O.

- Only labelled cités are published (the projection holds no draft nor candidature among
  its cités), and never a cité of a test wave.
- Values are in French: a status as the programme says it (« labellisée »…), a wave by its
  title (« Vague <année> » for a wave whose events carried none), a territory by its
  names (département, région, académie: :mod:`.departements`).
- Money is the State's, per budget year, in euros: the dotation of each programme (P147,
  P230) and the fonds de la cité (both programmes' contributions), as funding's ledger
  moved them (allocations and grants; what is committed or paid is not published).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Final

from cites_contracts.events.labelling import Perimeter
from cites_contracts.types import BudgetProgramme

from .programme import CiteStatus, Movement

__all__ = ["FORMULA_STARTS", "STATUT", "YearAmounts", "cell", "college_name", "euros",
           "published", "wave_title", "years"]

STATUT: Final[dict[CiteStatus, str]] = {
    CiteStatus.LABELLED: "labellisée", CiteStatus.SUSPENDED: "suspendue",
    CiteStatus.WITHDRAWN: "retirée", CiteStatus.EXPIRED: "expirée"}
"""A cité's status, as the open data says it."""


def published(wave_test: bool | None) -> bool:
    """Whether a labelled cité is published: never one of a test wave (``None``: a wave
    whose events never said, a real one)."""
    return not wave_test


def wave_title(title: str | None, year: int) -> str:
    """The wave as people read it: its title, else « Vague <year> » (events written
    before waves carried their title)."""
    return title or f"Vague {year}"


def college_name(perimeter: Perimeter | None, uai: str | None) -> str | None:
    """The name of the collège ``uai`` among the perimeter's schools; None when it is not
    one of them (or unknown)."""
    if perimeter is None or uai is None:
        return None
    return next((s.name for s in perimeter.schools if s.uai == uai), None)


@dataclass(frozen=True, slots=True)
class YearAmounts:
    """The State's money for one cité and budget year, in cents."""

    year: int
    dotation_p147: int = 0
    dotation_p230: int = 0
    fonds_de_la_cite: int = 0


_PROGRAMMES = frozenset(p.value for p in BudgetProgramme)


def years(sums: Iterable[tuple[str, int, str, str, int]]) -> dict[str, list[YearAmounts]]:
    """Each cité's years, in order, from the sums of its movements: (cité, year,
    programme, movement, amount); movements other than allocations and grants are not
    published."""
    found: dict[str, dict[int, dict[str, int]]] = defaultdict(lambda: defaultdict(dict))
    for cite_id, year, programme, movement, amount in sums:
        figures = found[cite_id][year]
        if movement == Movement.ALLOCATE and programme in _PROGRAMMES:
            key = f"dotation_{programme.lower()}"
        elif movement == Movement.GRANT:
            key = "fonds_de_la_cite"
        else:
            continue
        figures[key] = figures.get(key, 0) + amount
    return {cite_id: [YearAmounts(year, **figures) for year, figures in sorted(by_year.items())
                      if figures]
            for cite_id, by_year in found.items()}


def euros(cents: int) -> Decimal:
    """Cents as euros, exactly (two decimals)."""
    return Decimal(cents).scaleb(-2)


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def cell(value: str) -> str:
    """A CSV cell a spreadsheet shows as text: one starting like a formula (= + - @, tab,
    CR) gets a leading ``'`` (OWASP, "CSV injection"); JSON keeps the value as is."""
    return f"'{value}" if value.startswith(FORMULA_STARTS) else value
