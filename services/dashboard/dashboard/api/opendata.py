"""The open data: the labelled cités, served to anyone without a token, in French.

``GET /opendata/cites.json`` (one object per cité, its budget years in a list),
``GET /opendata/cites.csv`` (one row per cité and budget year — columns stay the same
whatever years come, so the schema holds and a reuser filters or pivots by ``annee``;
a cité with no money yet has one row with the year and amounts empty) and
``GET /opendata/schema.json``, the Table Schema (frictionless, as schema.data.gouv.fr
uses) describing each CSV column: the CSV's columns are that schema's fields, in its
order. No cité of a test wave, no draft nor candidature (the projection's cités are
labelled ones). The CSV is UTF-8, comma-separated, quoted as RFC 4180 says where needed,
and a cell a spreadsheet would take for a formula starts with ``'``.

Public and read-only: no query parameter, the whole dataset in one answer (a file to
download, the one exception to the paging every list follows; a few hundred cités). It is
built from one snapshot of the projection at most once per ``opendata_cache_s`` (however
many ask meanwhile), with a strong ``ETag`` (a digest of the body: ``If-None-Match``
answers 304), ``Last-Modified`` (when that body was first built) and ``Cache-Control``;
``Access-Control-Allow-Origin: *`` lets a reuser's page read it; the answers carry the
dashboard's security headers and a Content-Security-Policy that allows nothing.
"""

from __future__ import annotations

import asyncio
import csv
import hashlib
import io
import json
import time
from dataclasses import dataclass
from datetime import datetime
from email.utils import format_datetime
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request, Response
from pydantic import TypeAdapter

from .. import store
from ..domain.opendata import YearAmounts, cell, euros, published, years
from .views import OpenDataCiteView

__all__ = ["COLUMNS", "SCHEMA", "router"]

router = APIRouter(prefix="/opendata", tags=["open data"])

SCHEMA_FILE = Path(__file__).resolve().parent.parent / "schemas" / "opendata-cites.json"
SCHEMA: dict[str, Any] = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
"""The Table Schema of the CSV, as served."""
COLUMNS: tuple[str, ...] = tuple(f["name"] for f in SCHEMA["fields"])
"""The CSV's columns, in order: the schema's fields."""

_CITES = TypeAdapter(list[OpenDataCiteView])
_HEADERS = {"Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
            "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer",
            "Access-Control-Allow-Origin": "*"}


@dataclass(frozen=True, slots=True)
class Body:
    content: bytes
    etag: str
    last_modified: datetime


@dataclass(frozen=True, slots=True)
class Dataset:
    """The open data as last built: both files, and when (monotonic seconds)."""

    built: float
    json: Body
    csv: Body


class Published:
    """The dataset, rebuilt from the projection when older than ``max_age`` seconds; one
    build at a time (who asks meanwhile waits for it and shares it)."""

    def __init__(self, max_age: float) -> None:
        self.max_age = max_age
        self.last: Dataset | None = None
        self.lock = asyncio.Lock()

    async def get(self, request: Request) -> Dataset:
        async with self.lock:
            if self.last is None or time.monotonic() - self.last.built >= self.max_age:
                self.last = await self._build(request)
            return self.last

    async def _build(self, request: Request) -> Dataset:
        cites = await _read(request)
        now = request.app.state.runtime.settings.clock().replace(microsecond=0)
        last = self.last
        return Dataset(time.monotonic(),
                       _body(_CITES.dump_json([c for c, _ in cites]),
                             last.json if last else None, now),
                       _body(_csv(cites), last.csv if last else None, now))


def _body(content: bytes, before: Body | None, now: datetime) -> Body:
    """The body, its digest as ETag, and since when it is so (``before``'s time when the
    content is the same, else ``now``)."""
    etag = f'"{hashlib.sha256(content).hexdigest()[:32]}"'
    since = before.last_modified if before is not None and before.etag == etag else now
    return Body(content, etag, since)


Cite = tuple[OpenDataCiteView, list[YearAmounts]]


async def _read(request: Request) -> list[Cite]:
    """The published cités and their years, read from one snapshot of the projection."""
    pool = request.app.state.runtime.pool
    async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read",
                                                        readonly=True):
        rows = await store.open_data_cites(conn)
        money = years((r["cite_id"], r["year"], r["programme"], r["movement"], r["amount"])
                      for r in await store.open_data_money(conn))
    return [(OpenDataCiteView.of(r, money.get(r["cite_id"], [])), money.get(r["cite_id"], []))
            for r in rows if published(r["wave_test"])]


def _rows(c: OpenDataCiteView, amounts: list[YearAmounts]) -> list[dict[str, str]]:
    """The cité's CSV rows: one per budget year (one with no year when it has none)."""
    college = c.college_chef_de_file
    common = {
        "code_cite": c.code_cite, "nom_cite": c.nom_cite, "departement": c.departement,
        "nom_departement": c.nom_departement, "region": c.region or "",
        "academie": c.academie or "",
        "codes_communes": ";".join(x.code_insee for x in c.communes),
        "noms_communes": ";".join(x.nom for x in c.communes),
        "codes_qpv": ";".join(q.code for q in c.qpv), "noms_qpv": ";".join(q.nom for q in c.qpv),
        "uai_college_chef_de_file": college.uai if college else "",
        "nom_college_chef_de_file": (college.nom or "") if college else "",
        "vague": c.vague, "annee_vague": str(c.annee_vague),
        "debut_label": c.debut_label.isoformat() if c.debut_label else "",
        "fin_label": c.fin_label.isoformat() if c.fin_label else "",
        "periodes_label": ";".join(f"{p.debut.isoformat()}/{p.fin.isoformat()}"
                                   for p in c.periodes_label),
        "statut": c.statut}
    if not amounts:
        return [common]
    return [{**common, "annee": str(y.year), "dotation_p147": str(euros(y.dotation_p147)),
             "dotation_p230": str(euros(y.dotation_p230)),
             "fonds_de_la_cite": str(euros(y.fonds_de_la_cite))} for y in amounts]


def _csv(cites: list[Cite]) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS, restval="", lineterminator="\r\n")
    writer.writeheader()
    for c, amounts in cites:
        writer.writerows({k: cell(v) for k, v in row.items()} for row in _rows(c, amounts))
    return out.getvalue().encode("utf-8")


def _answer(request: Request, body: Body, media_type: str, filename: str) -> Response:
    max_age = request.app.state.runtime.settings.opendata_cache_s
    headers = {**_HEADERS, "ETag": body.etag,
               "Last-Modified": format_datetime(body.last_modified, usegmt=True),
               "Cache-Control": f"public, max-age={int(max_age)}",
               "Content-Disposition": f'inline; filename="{filename}"'}
    if body.etag in (t.strip() for t in request.headers.get("if-none-match", "").split(",")):
        return Response(status_code=304, headers=headers)
    return Response(body.content, media_type=media_type, headers=headers)


def _published(request: Request) -> Published:
    state = request.app.state
    found: Published | None = getattr(state, "opendata", None)
    if found is None:
        found = state.opendata = Published(state.runtime.settings.opendata_cache_s)
    return found


@router.get("/cites.json", response_model=list[OpenDataCiteView],
            summary="Les cités éducatives labellisées (données ouvertes, JSON, sans jeton)")
async def cites_json(request: Request) -> Response:
    dataset = await _published(request).get(request)
    return _answer(request, dataset.json, "application/json", "cites-educatives.json")


@router.get("/cites.csv", response_class=Response,
            responses={200: {"content": {"text/csv": {}},
                             "description": "One row per cité and budget year: "
                                            + ", ".join(COLUMNS)}},
            summary="Les cités éducatives labellisées (données ouvertes, CSV, sans jeton)")
async def cites_csv(request: Request) -> Response:
    dataset = await _published(request).get(request)
    return _answer(request, dataset.csv, "text/csv; charset=utf-8", "cites-educatives.csv")


@router.get("/schema.json", response_class=Response,
            responses={200: {"content": {"application/json": {}},
                             "description": "Table Schema (frictionless) of the CSV"}},
            summary="Le schéma des données ouvertes (Table Schema)")
async def schema(request: Request) -> Response:
    return Response(SCHEMA_FILE.read_bytes(), media_type="application/json",
                    headers={**_HEADERS, "Cache-Control": "public, max-age=3600"})
