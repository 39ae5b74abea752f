"""The fonds de la cité: each budget year, every envelope covering the cité's wave puts
its ``fonds_share`` in it (15 k€ from P147, 15 k€ from P230: 30 k€), granted to the
collège chef de file — the one partners last designated, the label's lead collège until
partners has said. A year's grant stays where it went; a new chef de file receives the
next one.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from uuid import UUID

from cites_contracts.events.funding import (
    AllocationRefused,
    FondsDeLaCiteGranted,
    ProgrammeAmount,
)
from cites_contracts.types import AllocationRefusalReason

from .cite import Cite
from .envelope import BudgetEnvelope

__all__ = ["ChefDeFile", "grant"]

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
