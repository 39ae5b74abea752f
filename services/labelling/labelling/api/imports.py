"""The national coordination takes over the programme's past: records of cités labelled
before the platform (docs/import.md), imported as the command line does."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from fastapi import APIRouter, Query
from pydantic import Field

from cites_runtime.http import Input, National

from .. import imports
from .views import ImportReportView

__all__ = ["router"]

router = APIRouter(prefix="/imports", tags=["import"])


class ImportIn(Input):
    cites: list[dict[str, Any]] = Field(
        min_length=1, max_length=500,
        description="Cité records (docs/import.md; the schema of a record is CiteRecord's): "
        "each is judged alone, a malformed one is reported, not the whole body refused. "
        "A larger file: several requests, or the command line")


@router.post("", response_model=ImportReportView,
             summary="Import records of the programme's past (cités, decisions, conventions, "
                     "renewals, with their dates): all or nothing per cité, idempotent; the "
                     "report says what became of every record")
async def import_records(body: ImportIn, caller: National,
                         dry_run: bool = Query(False, description="Check only: nothing kept"),
                         ) -> ImportReportView:
    cause = replace(caller.cause, imported=True)
    lines = [imports.line(n, raw) for n, raw in enumerate(body.cites, start=1)]
    report = await imports.run(lines, lambda: caller.runtime.unit_of_work(cause), caller.actor,
                               dry_run=dry_run)
    return ImportReportView.of(report)
