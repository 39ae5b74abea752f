"""What funding's commands take: the request bodies (``*In``), money in integer cents."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from pydantic import Field

from cites_contracts.types import BudgetProgramme, Motive, Name, ProgrammeYear, WaveId
from cites_runtime.http import Input

from ..domain.envelope import FONDS_SHARE, DotationRule, EnvelopeTerms

__all__ = [
    "AllocationIn",
    "AmendmentIn",
    "Amount",
    "CancellationIn",
    "CoFinancingIn",
    "CommitmentIn",
    "EnvelopeIn",
    "PaymentIn",
    "ReleaseIn",
]

Amount = Annotated[int, Field(strict=True, gt=0, le=100_000_000_000_00,
                              description="Integer euro cents (a float or a string is refused)")]


class EnvelopeIn(Input):
    name: Name
    programme: BudgetProgramme
    budget_years: list[ProgrammeYear] = Field(min_length=1, max_length=20)
    wave_ids: list[WaveId] = Field(min_length=1, max_length=50)
    amount: Amount
    dotation_rule: DotationRule | None = Field(
        None, description="How each cité's yearly dotation is computed; default: P147 "
        "pays the requested contribution within 120 k€–650 k€ (250 k€ if none), P230 none")
    fonds_share: int = Field(FONDS_SHARE, strict=True, ge=FONDS_SHARE, le=10_000_000_00,
                             description="Cents this envelope puts in each cité's yearly "
                             "fonds de la cité (at least 15 000 €: with the other "
                             "programme's, the fonds is at least 30 000 €)")

    def terms(self) -> EnvelopeTerms:
        return EnvelopeTerms(name=self.name, programme=self.programme,
                             budget_years=self.budget_years, wave_ids=self.wave_ids,
                             amount=self.amount, rule=self.dotation_rule,
                             fonds_share=self.fonds_share)


class AmendmentIn(Input):
    amount: int = Field(strict=True, ge=0, le=100_000_000_000_00,
                        description="The envelope's new total, in cents")
    motive: Motive


class AllocationIn(Input):
    envelope_id: UUID
    year: ProgrammeYear
    amount: Amount
    motive: Motive


class ReleaseIn(Input):
    motive: Motive


class CommitmentIn(Input):
    allocation_id: UUID
    operator_partner_id: UUID = Field(description="A current member of the cité's alliance")
    action_title: Name
    amount: Amount


class CoFinancingIn(Input):
    year: ProgrammeYear
    funder: Name
    amount: Amount


class PaymentIn(Input):
    amount: Amount


class CancellationIn(Input):
    motive: Motive
