"""What the dashboard's figures mean: pure rules over what the events told, no I/O.

- A candidature's status only moves forward (its events come on two topics, in either
  order): ``submitted`` < ``under_review`` < a decision (labelled, rejected, withdrawn).
- A cité's status is its label's, as labelling names it.
- Money is funding's ledger read back from its events: each event is a movement of an
  allocation's (programme, year); a line sums them as funding's consumption report does
  (committed net of cancellations, frozen net of unfreezes and releases).
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

from pydantic import BaseModel

__all__ = ["CANDIDATURE_RANK", "CandidatureStatus", "CiteStatus", "MoneyLine", "Movement"]


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
    COMMIT = "commit"
    CANCEL = "cancel"
    """The unpaid part of a cancelled commitment, back to its allocation."""
    PAY = "pay"
    FREEZE = "freeze"
    UNFREEZE = "unfreeze"
    RELEASE = "release"
    """Frozen money given back to its envelope."""
    REFUSED = "refused"
    """A dotation refused: what was asked (not money that moved; counted apart)."""


class MoneyLine(BaseModel):
    """One programme's money for one year, in cents, as funding's consumption report has
    it (``GET /reports/consumption``, its ``programmes``)."""

    programme: str
    year: int
    allocated: int = 0
    fonds: int = 0
    committed: int = 0
    paid: int = 0
    frozen: int = 0
    released: int = 0
    refused: int = 0
    """Dotations refused (envelope exhausted…): how many, not an amount."""

    @classmethod
    def of(cls, programme: str, year: int, sums: Mapping[str, int],
           refusals: int = 0) -> MoneyLine:
        def s(m: Movement) -> int:
            return sums.get(m.value, 0)
        return cls(programme=programme, year=year, allocated=s(Movement.ALLOCATE),
                   fonds=s(Movement.GRANT), committed=s(Movement.COMMIT) - s(Movement.CANCEL),
                   paid=s(Movement.PAY),
                   frozen=s(Movement.FREEZE) - s(Movement.UNFREEZE) - s(Movement.RELEASE),
                   released=s(Movement.RELEASE), refused=refusals)
