"""What funding's commands take: the request bodies (``*In``), money in integer cents."""

from __future__ import annotations

from datetime import date
from typing import Annotated
from uuid import UUID

from pydantic import Field, model_validator

from cites_contracts.events.funding import LegalAct
from cites_contracts.types import (
    ActReference,
    BudgetProgramme,
    Departement,
    DossierNumber,
    LegalActKind,
    Motive,
    Name,
    ProgrammeYear,
    WaveId,
)
from cites_runtime.http import Input

from ..domain.cite import Report
from ..domain.envelope import FONDS_SHARE, DotationRule, EnvelopeTerms
from ..domain.fonds import Spending
from ..service import Subsidy

__all__ = [
    "AllocationIn",
    "AmendmentIn",
    "Amount",
    "CancellationIn",
    "CoFinancingIn",
    "CommitmentIn",
    "CreditsIn",
    "DelegationIn",
    "EnvelopeIn",
    "FondsUseIn",
    "LegalActIn",
    "PaymentIn",
    "RealisedIn",
    "ReceiptIn",
    "RecoveryIn",
    "ReleaseIn",
    "ReportIn",
    "RevisionIn",
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


class RevisionIn(Input):
    amount: Amount = Field(description="The allocation's new amount, in cents")
    motive: Motive
    review_id: UUID | None = Field(
        None, description="The cité's revue de projet the revision rests on (one it submitted "
        "to the coordination)")


class ReleaseIn(Input):
    motive: Motive


class LegalActIn(Input):
    kind: LegalActKind = Field(description="convention (required above 23 000 € to an "
                               "association or a company) or arrete")
    reference: ActReference
    signed_on: date = Field(description="In the budget year of the allocation, not after "
                            "today")


class CommitmentIn(Input):
    allocation_id: UUID
    operator_partner_id: UUID = Field(description="A current member of the cité's alliance")
    action_title: Name
    amount: Amount
    legal_act: LegalActIn
    subsidy_request: DossierNumber | None = Field(
        None, description="The operator's subsidy request in Dauphin, if it filed one")
    justification_due: date | None = Field(
        None, description="The day the operator's report is due; default: 30 June of the "
        "year after the allocation's")

    def subsidy(self) -> Subsidy:
        act = self.legal_act
        return Subsidy(allocation_id=self.allocation_id, operator=self.operator_partner_id,
                       action_title=self.action_title, amount=self.amount,
                       legal_act=LegalAct(kind=act.kind, reference=act.reference,
                                          signed_on=act.signed_on),
                       subsidy_request=self.subsidy_request,
                       justification_due=self.justification_due)


class CoFinancingIn(Input):
    year: ProgrammeYear
    funder: Name
    amount: Amount = Field(description="What the funder plans to give that year (cents)")
    funder_partner_id: UUID | None = Field(
        default=None, description="The funder among the alliance's partners (a partner "
        "declaring for itself: itself, the default)")


class RealisedIn(Input):
    amount: int = Field(strict=True, ge=0, le=100_000_000_000_00,
                        description="What the co-financing actually gave (cents; 0: nothing)")


class PaymentIn(Input):
    amount: Amount


class CancellationIn(Input):
    motive: Motive


class CreditsIn(Input):
    programme: BudgetProgramme
    year: ProgrammeYear
    ae: int = Field(strict=True, ge=0, le=100_000_000_000_00,
                    description="Autorisations d'engagement of the year, in cents (the total)")
    cp: int = Field(strict=True, ge=0, le=100_000_000_000_00,
                    description="Crédits de paiement of the year, in cents (the total)")


class DelegationIn(Input):
    departement: Departement
    ae: int = Field(strict=True, ge=0, le=100_000_000_000_00, description="AE delegated")
    cp: int = Field(strict=True, ge=0, le=100_000_000_000_00, description="CP delegated")

    @model_validator(mode="after")
    def _something(self) -> DelegationIn:
        if not (self.ae or self.cp):
            raise ValueError("a delegation delegates some AE or CP")
        return self


class ReportIn(Input):
    spent: int = Field(strict=True, ge=0, le=100_000_000_000_00,
                       description="Cents the operator spent on the action of what it was paid")
    submitted_on: date = Field(description="The day the operator filed its report")

    def report(self) -> Report:
        return Report(self.spent, self.submitted_on)


class RecoveryIn(Input):
    amount: Amount
    order_reference: ActReference = Field(description="The order to repay (titre de "
                                          "perception) as the accounting office numbers it")
    ordered_on: date
    motive: Motive


class ReceiptIn(Input):
    amount: Amount
    received_on: date


class FondsUseIn(Input):
    amount: Amount
    purpose: Motive = Field(description="What the money paid for")
    paid_on: date = Field(description="The day it was paid: from 1 January of the fonds' "
                          "year, not after today")
    payee: Name | None = Field(None, description="Who was paid: an organisation or a "
                               "supplier (never a person's name)")

    def spending(self) -> Spending:
        return Spending(self.amount, self.purpose, self.paid_on, self.payee)
