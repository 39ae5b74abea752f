"""Open-data export of the labelled cités (CSV and JSON), for data.gouv.fr-style reuse.

Columns: ``id_cite``, ``lib_cite``, ``departement``, ``communes`` and ``qpvs`` (codes; ';'
between codes in CSV), ``wave``, the label period in force today, ``status``, and every
period granted (``periods``: the first and each renewal's, oldest first; in CSV ISO 8601
intervals ``start/end`` separated by ';'). Every cité ever labelled is listed, with its
current status (filters narrow it). A CSV cell that a spreadsheet would take for a formula
is prefixed with ``'``.

These are open-data files, whole datasets by design (a reuser downloads the file), so they
are the one exception to the paging contract every list endpoint follows.
"""

from __future__ import annotations

import csv
import io
from datetime import date

from fastapi import APIRouter, Response
from pydantic import BaseModel

from cites_contracts.types import Departement, WaveId
from cites_runtime.http import Anyone, Caller

from .. import store
from ..domain import Label, LabelStatus

__all__ = ["OpenDataCiteView", "router"]

router = APIRouter(prefix="/opendata", tags=["open data"])


class OpenDataPeriodView(BaseModel):
    start: date
    end: date


class OpenDataCiteView(BaseModel):
    id_cite: str
    lib_cite: str
    departement: str
    communes: list[str]
    qpvs: list[str]
    wave: str
    period: OpenDataPeriodView
    """The period in force today."""
    status: LabelStatus
    periods: list[OpenDataPeriodView]
    """Every period granted, oldest first (the first, then each renewal's)."""

    @classmethod
    def of(cls, x: Label, today: date) -> OpenDataCiteView:
        now = x.period_on(today)
        return cls(id_cite=x.cite_id, lib_cite=x.name, departement=x.departement,
                   communes=[c.insee_code for c in x.perimeter.communes],
                   qpvs=[q.code for q in x.perimeter.qpvs], wave=x.wave.id,
                   period=OpenDataPeriodView(start=now.start, end=now.end), status=x.status,
                   periods=[OpenDataPeriodView(start=t.start, end=t.end) for t in x.periods])


async def _cites(caller: Caller, wave: str | None, status: LabelStatus | None,
                 departement: str | None) -> list[OpenDataCiteView]:
    f = store.Filters(wave, status.value if status else None, departement)
    today = caller.runtime.today()
    return [OpenDataCiteView.of(x, today) for x in await store.list_labels(caller.pool, f)]


@router.get("/cites.json", response_model=list[OpenDataCiteView],
            summary="Labelled cités, open-data JSON")
async def cites_json(caller: Anyone, wave: WaveId | None = None,
                     status: LabelStatus | None = None, departement: Departement | None = None
                     ) -> list[OpenDataCiteView]:
    return await _cites(caller, wave, status, departement)


_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: str) -> str:
    """A cell a spreadsheet shows as text: one starting like a formula (= + - @, tab, CR)
    gets a leading ``'`` (OWASP, "CSV injection"); the JSON export keeps the value as is."""
    return f"'{value}" if value.startswith(_FORMULA_STARTS) else value


CSV_COLUMNS = ("id_cite", "lib_cite", "departement", "communes", "qpvs", "wave",
               "period_start", "period_end", "status", "periods")


@router.get("/cites.csv", response_class=Response,
            responses={200: {"content": {"text/csv": {}},
                             "description": "One line per cité: " + ", ".join(CSV_COLUMNS)}},
            summary="Labelled cités, open-data CSV (UTF-8, comma-separated)")
async def cites_csv(caller: Anyone, wave: WaveId | None = None,
                    status: LabelStatus | None = None, departement: Departement | None = None
                    ) -> Response:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for c in await _cites(caller, wave, status, departement):
        writer.writerow(_cell(v) for v in (
            c.id_cite, c.lib_cite, c.departement, ";".join(c.communes), ";".join(c.qpvs),
            c.wave, c.period.start.isoformat(), c.period.end.isoformat(), c.status.value,
            ";".join(f"{p.start.isoformat()}/{p.end.isoformat()}" for p in c.periods)))
    return Response(out.getvalue(), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": 'attachment; filename="cites.csv"'})
