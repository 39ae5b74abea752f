"""What the API answers: response models built from domain objects and ledger sums.

The statement and the consumption report are built from the ledger's movements summed
by year, programme and kind (``store.movements_by_year``), so they agree with the ledger
by construction; ``GET /ledger/check`` recomputes every balance from it.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from typing import Any
from uuid import UUID

from fastapi import Response
from pydantic import BaseModel, ConfigDict, Field

from cites_contracts.events.funding import LegalAct
from cites_contracts.types import BudgetProgramme

from ..domain.cite import (
    Allocation,
    AllocationFunds,
    Cite,
    CiteStatus,
    CoFinancing,
    Commitment,
    Recovery,
)
from ..domain.envelope import BudgetEnvelope, DotationRule
from ..domain.fonds import ChefDeFile
from ..domain.ledger import MovementKind

__all__ = ["AllocationView", "ChefDeFileView", "CiteFundsView", "CiteSummaryView",
           "CoFinancingLineView", "CoFinancingView", "CommitmentPaymentsView", "CommitmentView",
           "ConsumptionView", "EnvelopeConsumptionView", "EnvelopeView", "FondsUseView",
           "FondsView",
           "LedgerCheckView", "MoneyLineView", "PaymentView", "RecoveryReceiptsView",
           "RecoveryView", "ReportView", "RevisionView", "StatementView",
           "YearlyCheckView", "csv_response"]


class MoneyLineView(BaseModel):
    """Sums of the ledger for one cité or envelope, year and programme (cents)."""

    year: int | None
    programme: BudgetProgramme
    allocated: int = 0
    """Dotations and manual allocations, as revised."""
    fonds: int = 0
    """Contributions to the fonds de la cité."""
    committed: int = 0
    """Committed, net of cancelled commitments' unpaid parts."""
    paid: int = 0
    frozen: int = 0
    """Frozen now."""
    released: int = 0
    """Frozen, then given back to the envelope."""
    uncommitted: int = 0
    """Allocated, not committed, frozen nor released: what may still be committed."""
    unpaid: int = 0
    """Committed, not paid yet."""
    ordered_back: int = 0
    """Paid, then ordered back by a recovery order (no longer counted as kept)."""
    recovered: int = 0
    """Ordered back and received: returned to the programme's budget."""
    fonds_used: int = 0
    """What the collège chef de file used of the fonds de la cité."""

    @classmethod
    def of(cls, year: int | None, programme: BudgetProgramme, sums: dict[str, int]
           ) -> MoneyLineView:
        def s(kind: MovementKind) -> int:
            return sums.get(kind.value, 0)
        committed = s(MovementKind.COMMIT) - s(MovementKind.CANCEL)
        frozen = s(MovementKind.FREEZE) - s(MovementKind.UNFREEZE) - s(MovementKind.RELEASE)
        allocated = (s(MovementKind.ALLOCATE) + s(MovementKind.REVISE_UP)
                     - s(MovementKind.REVISE_DOWN))
        return cls(year=year, programme=programme, allocated=allocated,
                   fonds=s(MovementKind.GRANT), committed=committed, paid=s(MovementKind.PAY),
                   frozen=frozen, released=s(MovementKind.RELEASE),
                   uncommitted=allocated - committed - frozen - s(MovementKind.RELEASE),
                   unpaid=committed - s(MovementKind.PAY),
                   ordered_back=s(MovementKind.ORDER), recovered=s(MovementKind.RECOVER),
                   fonds_used=s(MovementKind.USE))


MONEY = ("allocated", "fonds", "committed", "paid", "frozen", "released", "uncommitted",
         "unpaid", "ordered_back", "recovered", "fonds_used")


def money_lines(rows: Iterable[Any]) -> list[MoneyLineView]:
    """Ledger sums (year, programme, movement, amount) → one line per year and programme."""
    grouped: dict[tuple[int | None, str], dict[str, int]] = defaultdict(dict)
    for r in rows:
        grouped[(r["year"], r["programme"])][r["movement"]] = r["amount"]
    return [MoneyLineView.of(year, BudgetProgramme(p), sums)
            for (year, p), sums in sorted(grouped.items(), key=lambda kv: (kv[0][0] or 0,
                                                                            kv[0][1]))]


def total(lines: Sequence[MoneyLineView]) -> dict[str, int]:
    return {k: sum(getattr(line, k) for line in lines) for k in MONEY}


class CoFinancingLineView(BaseModel):
    year: int
    funder: str
    amount: int = Field(description="What the funder planned for the year")
    actual: int | None = Field(description="What it gave, once every co-financing of "
                               "the line recorded it (None until then)")


class CoFinancingView(BaseModel):
    cofinancing_id: UUID
    cite_id: str
    year: int
    funder: str
    funder_partner_id: UUID | None
    planned: int
    actual: int | None = Field(description="What it gave (None: not recorded yet)")
    declared_at: datetime

    @classmethod
    def of(cls, c: CoFinancing) -> CoFinancingView:
        return cls(cofinancing_id=c.cofinancing_id, cite_id=c.cite_id, year=c.year,
                   funder=c.funder, funder_partner_id=c.funder_partner_id, planned=c.planned,
                   actual=c.actual, declared_at=c.declared_at)


class StatementView(BaseModel):
    """A cité's money: the State's per year and programme, co-financing beside it."""

    cite_id: str
    name: str
    status: CiteStatus
    lines: list[MoneyLineView]
    cofinancing: list[CoFinancingLineView]
    totals: dict[str, int]
    cofinancing_total: int

    @classmethod
    def of(cls, cite: Cite, ledger_rows: Iterable[Any], cofinancing: Iterable[Any]
           ) -> StatementView:
        lines = money_lines(ledger_rows)
        co = [CoFinancingLineView(year=r["year"], funder=r["funder"], amount=r["amount"],
                                  actual=r["actual"] if r["realised"] == r["declared"] else None)
              for r in cofinancing]
        return cls(cite_id=cite.cite_id, name=cite.name, status=cite.status, lines=lines,
                   cofinancing=co, totals=total(lines),
                   cofinancing_total=sum(c.amount for c in co))

    def csv(self) -> Response:
        rows: list[list[object]] = [
            [line.year, line.programme.value, *(getattr(line, k) for k in MONEY), ""]
            for line in self.lines]
        rows += [[c.year, f"cofinancing: {c.funder}", *([""] * len(MONEY)), c.amount]
                 for c in self.cofinancing]
        return csv_response(["year", "source", *MONEY, "cofinancing"], rows,
                            f"statement-{self.cite_id}.csv")


class EnvelopeView(BaseModel):
    envelope_id: UUID
    name: str
    programme: BudgetProgramme
    budget_years: list[int]
    wave_ids: list[str]
    amount: int
    dotation_rule: DotationRule
    fonds_share: int
    opened_at: datetime
    remaining: int
    """What the envelope has not allocated nor granted (its ledger account)."""

    @classmethod
    def of(cls, e: BudgetEnvelope) -> EnvelopeView:
        return cls(envelope_id=e.id, name=e.name, programme=e.programme,
                   budget_years=list(e.budget_years), wave_ids=list(e.wave_ids),
                   amount=e.amount, dotation_rule=e.rule, fonds_share=e.fonds_share,
                   opened_at=e.opened_at, remaining=e.remaining)


class EnvelopeConsumptionView(BaseModel):
    envelope_id: UUID
    programme: BudgetProgramme
    amount: int
    remaining: int
    lines: list[MoneyLineView]
    totals: dict[str, int]


class ConsumptionView(BaseModel):
    """Each envelope's consumption per year, and every programme's per year."""

    envelopes: list[EnvelopeConsumptionView]
    programmes: list[MoneyLineView]

    @classmethod
    def of(cls, envelopes: Sequence[BudgetEnvelope], rows: Sequence[Any]) -> ConsumptionView:
        per_envelope: dict[UUID, list[Any]] = defaultdict(list)
        for r in rows:
            if r["year"] is not None:  # opening and amendments concern no year
                per_envelope[r["envelope_id"]].append(r)
        out = []
        for e in envelopes:
            lines = money_lines(per_envelope.get(e.id, []))
            out.append(EnvelopeConsumptionView(envelope_id=e.id, programme=e.programme,
                                               amount=e.amount, remaining=e.remaining,
                                               lines=lines, totals=total(lines)))
        summed: dict[tuple[int, str, str], int] = defaultdict(int)
        for r in rows:
            if r["year"] is not None:
                summed[(r["year"], r["programme"], r["movement"])] += r["amount"]
        return cls(envelopes=out, programmes=money_lines(
            {"year": y, "programme": p, "movement": m, "amount": a}
            for (y, p, m), a in summed.items()))

    def csv(self) -> Response:
        rows = [[line.year, line.programme.value, *(getattr(line, k) for k in MONEY)]
                for line in self.programmes]
        return csv_response(["year", "programme", *MONEY], rows, "consumption.csv")


class AllocationView(BaseModel):
    allocation_id: UUID
    envelope_id: UUID
    programme: BudgetProgramme
    year: int
    amount: int
    rule: str
    basis: str
    allocated_at: datetime
    uncommitted: int
    frozen: int

    @classmethod
    def of(cls, a: Allocation, funds: AllocationFunds) -> AllocationView:
        """The allocation and what its accounts hold now (``funds``)."""
        return cls(allocation_id=a.allocation_id, envelope_id=a.envelope_id,
                   programme=a.programme, year=a.year, amount=a.amount, rule=a.rule,
                   basis=a.basis, allocated_at=a.allocated_at, uncommitted=funds.uncommitted,
                   frozen=funds.frozen)


class RevisionView(BaseModel):
    number: int
    """Its place among every revision (they are listed in that order)."""
    allocation_id: UUID
    previous_amount: int
    amount: int
    motive: str
    revised_at: datetime
    review_id: UUID | None = Field(None, description="The revue de projet it cites")

    @classmethod
    def of(cls, row: Any) -> RevisionView:
        """A revision as ``store.revisions_of`` reads it."""
        return cls(number=row["id"], allocation_id=row["allocation_id"],
                   previous_amount=row["previous_amount"],
                   amount=row["amount"], motive=row["motive"], revised_at=row["revised_at"],
                   review_id=row["review_id"])


class FondsView(BaseModel):
    grant_id: UUID
    year: int
    uai: str
    partner_id: UUID | None
    amount: int
    used: int
    """What the collège recorded it used of it."""
    left: int
    """What it has not used yet."""
    granted_at: datetime

    @classmethod
    def of(cls, row: Any) -> FondsView:
        """A grant as ``store.fonds_of`` reads it, with what the ledger put in it."""
        return cls(grant_id=row["grant_id"], year=row["year"], uai=row["uai"],
                   partner_id=row["partner_id"], amount=row["amount"],
                   used=row["amount"] - row["left"], left=row["left"],
                   granted_at=row["granted_at"])


class FondsUseView(BaseModel):
    use_id: UUID
    grant_id: UUID
    cite_id: str
    year: int
    amount: int
    purpose: str
    payee: str | None
    paid_on: date
    left: int
    """What the grant had left once this was used (the last one's: what is left)."""
    recorded_by: str
    recorded_at: datetime

    @classmethod
    def of(cls, row: Any) -> FondsUseView:
        """A use as ``store.fonds_uses`` reads it."""
        return cls(use_id=row["use_id"], grant_id=row["grant_id"], cite_id=row["cite_id"],
                   year=row["year"], amount=row["amount"], purpose=row["purpose"],
                   payee=row["payee"], paid_on=row["paid_on"], left=row["left_after"],
                   recorded_by=row["recorded_by"], recorded_at=row["recorded_at"])


class ReportView(BaseModel):
    spent: int
    submitted_on: date


class CommitmentView(BaseModel):
    commitment_id: UUID
    cite_id: str
    allocation_id: UUID
    operator_partner_id: UUID
    action_title: str
    amount: int
    unpaid: int
    paid: int
    cancelled: bool
    committed_at: datetime
    legal_act: LegalAct | None
    """``null`` for a commitment recorded before funding kept its paperwork."""
    subsidy_request: str | None
    justification_due: date | None
    report: ReportView | None
    recovery_ordered: int
    """What recovery orders asked back from it."""

    @classmethod
    def of(cls, c: Commitment) -> CommitmentView:
        p = c.paperwork
        return cls(commitment_id=c.commitment_id, cite_id=c.cite_id,
                   allocation_id=c.allocation_id, operator_partner_id=c.operator_partner_id,
                   action_title=c.action_title, amount=c.amount, unpaid=c.unpaid,
                   paid=c.paid, cancelled=c.cancelled, committed_at=c.committed_at,
                   legal_act=p and p.legal_act, subsidy_request=p and p.subsidy_request,
                   justification_due=p and p.justification_due,
                   report=c.report and ReportView(spent=c.report.spent,
                                                  submitted_on=c.report.submitted_on),
                   recovery_ordered=c.ordered)


class PaymentView(BaseModel):
    payment_id: UUID
    amount: int
    paid_at: datetime

    @classmethod
    def of(cls, row: Any) -> PaymentView:
        """A payment as ``store.payments_of`` reads it."""
        return cls(payment_id=row["payment_id"], amount=row["amount"], paid_at=row["paid_at"])


class RecoveryView(BaseModel):
    model_config = ConfigDict(from_attributes=True)  # model_validate(a domain Recovery)

    recovery_id: UUID
    commitment_id: UUID
    cite_id: str
    payee_partner_id: UUID
    programme: BudgetProgramme
    amount: int
    outstanding: int
    """Ordered, not received yet."""
    order_reference: str
    ordered_on: date
    motive: str
    ordered_at: datetime


class ReceiptView(BaseModel):
    receipt_id: UUID
    amount: int
    received_on: date
    received_at: datetime


class RecoveryReceiptsView(RecoveryView):
    receipts: list[ReceiptView]

    @classmethod
    def with_receipts(cls, r: Recovery, receipts: Iterable[Any]) -> RecoveryReceiptsView:
        """The order and its receipts as ``store.receipts_of`` reads them."""
        return cls(**RecoveryView.model_validate(r).model_dump(), receipts=[
            ReceiptView(receipt_id=x["receipt_id"], amount=x["amount"],
                        received_on=x["received_on"], received_at=x["received_at"])
            for x in receipts])


class CommitmentPaymentsView(CommitmentView):
    payments: list[PaymentView]
    recoveries: list[RecoveryView]

    @classmethod
    def of(cls, c: Commitment, payments: Iterable[Any] = (),
           recoveries: Iterable[Recovery] = ()) -> CommitmentPaymentsView:
        """The commitment, its payments as ``store.payments_of`` reads them, and its
        recovery orders."""
        return cls(**CommitmentView.of(c).model_dump(),
                   payments=[PaymentView.of(p) for p in payments],
                   recoveries=[RecoveryView.model_validate(r) for r in recoveries])


class ChefDeFileView(BaseModel):
    partner_id: UUID
    uai: str


class CiteFundsView(BaseModel):
    cite_id: str
    name: str
    wave_id: str
    departement: str
    status: CiteStatus
    label_start: str
    label_end: str
    chef_de_file: ChefDeFileView | None
    allocations: list[AllocationView]
    fonds: list[FondsView]
    commitments: list[CommitmentView]

    @classmethod
    def of(cls, cite: Cite, lead: ChefDeFile | None, allocations: Iterable[Allocation],
           funds: Iterable[AllocationFunds], fonds: Iterable[Any],
           commitments: Iterable[Commitment]) -> CiteFundsView:
        """The cité, the chef de file partners designated, its allocations with what their
        accounts hold (``funds``), its fonds grants and its commitments."""
        held = {f.allocation_id: f for f in funds}
        return cls(cite_id=cite.cite_id, name=cite.name, wave_id=cite.wave_id,
                   departement=cite.departement, status=cite.status,
                   label_start=cite.label_start.isoformat(),
                   label_end=cite.label_end.isoformat(),
                   chef_de_file=ChefDeFileView(partner_id=lead[0], uai=lead[1]) if lead else None,
                   allocations=[AllocationView.of(a, held[a.allocation_id]) for a in allocations],
                   fonds=[FondsView.of(r) for r in fonds],
                   commitments=[CommitmentView.of(c) for c in commitments])


class CiteSummaryView(BaseModel):
    model_config = ConfigDict(from_attributes=True)  # model_validate(a domain Cite)

    cite_id: str
    name: str
    wave_id: str
    departement: str
    status: CiteStatus


class YearlyCheckView(BaseModel):
    events: int
    """How many events the check emitted (0: every active cité has what it is due)."""


class LedgerCheckView(BaseModel):
    model_config = ConfigDict(from_attributes=True)  # model_validate(store.LedgerCheck)

    balanced: bool
    movements: int
    accounts: int
    total: int
    differences: list[dict[str, Any]]


_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_response(header: Sequence[str], rows: Iterable[Sequence[object]], filename: str
                 ) -> Response:
    """UTF-8 CSV; a text cell a spreadsheet would take for a formula gets a leading ``'``
    (OWASP, "CSV injection"). Amounts are integer cents."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow(f"'{v}" if isinstance(v, str) and v.startswith(_FORMULA_STARTS)
                        else ("" if v is None else v) for v in row)
    return Response(out.getvalue(), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})
