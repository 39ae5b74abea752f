"""The national coordination takes over the money of the years before the platform
(docs/import.md), as the command line does."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from cites_runtime.http import Input, National
from cites_runtime.imports import ProblemView

from .. import imports

__all__ = ["router"]

router = APIRouter(prefix="/imports", tags=["import"])


class PastMoneyIn(Input):
    cites: list[dict[str, Any]] = Field(
        min_length=1, max_length=500,
        description="Records of cités' past money (docs/import.md; a record's schema is "
        "PastMoneyRecord's): each judged alone, a malformed one reported, not the whole "
        "body refused. A larger file: several requests, or the command line")


class PastMoneyLineView(BaseModel):
    line: int = Field(description="The record's number in the body, from 1")
    reference: str
    outcome: str = Field(description="imported, unchanged, refused")
    cite_id: str | None
    years: int = Field(description="The years this import took over")
    problems: list[ProblemView] = Field(description="Why it was refused")


class PastMoneyReportView(BaseModel):
    dry_run: bool = Field(description="Checked only: nothing kept, nothing published")
    imported: int
    unchanged: int
    refused: int
    lines: list[PastMoneyLineView]

    @classmethod
    def of(cls, r: imports.Report) -> PastMoneyReportView:
        return cls(dry_run=r.dry_run, imported=r.count("imported"),
                   unchanged=r.count("unchanged"), refused=r.count("refused"),
                   lines=[PastMoneyLineView(line=d.number, reference=d.reference,
                                            outcome=d.outcome, cite_id=d.cite_id,
                                            years=d.years,
                                            problems=[ProblemView.of(p) for p in d.problems])
                          for d in r.lines])


@router.post("", response_model=PastMoneyReportView,
             summary="Take over what the cités' dotations of years before the platform "
                     "committed and paid: all or nothing per cité, idempotent; the report "
                     "says what became of every record")
async def import_past_money(body: PastMoneyIn, caller: National,
                            dry_run: bool = Query(False, description="Check only: nothing "
                                                  "kept"),
                            ) -> PastMoneyReportView:
    cause = replace(caller.cause, imported=True)
    lines = [imports.line(n, raw) for n, raw in enumerate(body.cites, start=1)]
    report = await imports.run(lines, lambda: caller.runtime.unit_of_work(cause),
                               dry_run=dry_run)
    return PastMoneyReportView.of(report)
