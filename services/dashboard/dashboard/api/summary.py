"""``GET /api/summary``: every figure the page shows, read from the projection (and the last
health probe), as one document — what the page polls and what tests compare."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

from fastapi import APIRouter
from pydantic import BaseModel, Field

from cites_runtime.http import Reader

from .. import store
from ..domain.departements import departement_name
from ..domain.programme import MoneyLine, Movement
from ..platform_health import Health

__all__ = ["SummaryView", "router"]

router = APIRouter(tags=["summary"])


class WaveFigures(BaseModel):
    wave_id: str
    year: int | None
    cites: dict[str, int] = Field(description="Cités by their label's status")
    candidatures: dict[str, int] = Field(description="Candidatures by status")


class DepartementFigures(BaseModel):
    code: str
    name: str
    cites: int
    active: int
    alliance_members: int
    allocated: int
    committed: int
    paid: int


class EnvelopeFigures(BaseModel):
    envelope_id: str
    name: str
    programme: str
    budget_years: list[int]
    wave_ids: list[str]
    amount: int


class AllianceFigures(BaseModel):
    open: int
    closed: int
    members: int = Field(description="Current members of open alliances")
    sizes: dict[int, int] = Field(description="Members → how many open alliances have so many")
    by_kind: dict[str, int] = Field(description="Members of open alliances by kind of partner")


class NotificationFigures(BaseModel):
    sent: int
    failed: int
    by_template: dict[str, dict[str, int]]


class SummaryView(BaseModel):
    """Cents for money; counts otherwise."""

    generated_at: datetime
    refresh_s: float
    cites: dict[str, int] = Field(description="Cités by their label's status")
    waves: list[WaveFigures]
    departements: list[DepartementFigures]
    money: list[MoneyLine] = Field(description="Per programme and year, as funding's "
                                   "consumption report (GET /reports/consumption)")
    money_by_programme: list[MoneyLine] = Field(description="Per programme, all years "
                                                "(year 0)")
    envelopes: list[EnvelopeFigures]
    alliances: AllianceFigures
    notifications: NotificationFigures
    health: Health | None = Field(description="The last probe of the platform's health; "
                                  "null before the first")


@router.get("/api/summary", response_model=SummaryView,
            summary="Every figure of the dashboard, from the events")
async def summary(caller: Reader) -> SummaryView:
    pool = caller.pool
    cites: dict[str, int] = defaultdict(int)
    waves: dict[str, WaveFigures] = {}
    for r in await store.cites_by_wave(pool):
        wave = waves.setdefault(r["wave_id"], WaveFigures(wave_id=r["wave_id"], year=r["year"],
                                                          cites={}, candidatures={}))
        wave.cites[r["status"]] = r["n"]
        cites[r["status"]] += r["n"]
    for r in await store.candidatures_by_wave(pool):
        wave = waves.setdefault(r["wave_id"], WaveFigures(wave_id=r["wave_id"], year=None,
                                                          cites={}, candidatures={}))
        wave.candidatures[r["status"]] = r["n"]

    sums: dict[tuple[str, int], dict[str, int]] = defaultdict(dict)
    refusals: dict[tuple[str, int], int] = defaultdict(int)
    for r in await store.money_sums(pool):
        key = (r["programme"], r["year"])
        if r["movement"] == Movement.REFUSED:
            refusals[key] += r["n"]
        else:
            sums[key][r["movement"]] = r["amount"]
    keys = sorted(set(sums) | set(refusals))
    money = [MoneyLine.of(p, y, sums.get((p, y), {}), refusals.get((p, y), 0))
             for p, y in keys]
    per_programme: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for line in money:
        for k, v in line.model_dump(exclude={"programme", "year"}).items():
            per_programme[line.programme][k] += v
    by_programme = [MoneyLine(programme=p, year=0, **figures)
                    for p, figures in sorted(per_programme.items())]

    counts = await store.alliance_counts(pool)
    sizes = {r["size"]: r["alliances"] for r in await store.alliance_sizes(pool)}
    templates = {r["template"]: {"sent": r["sent"], "failed": r["failed"]}
                 for r in await store.deliveries_by_template(pool)}
    health = await store.health(pool)
    return SummaryView(
        generated_at=caller.runtime.settings.clock(),
        refresh_s=caller.runtime.settings.refresh_s,
        cites=dict(cites),
        waves=sorted(waves.values(), key=lambda w: (w.year or 9999, w.wave_id)),
        departements=[DepartementFigures(code=r["departement"],
                                         name=departement_name(r["departement"]),
                                         cites=r["cites"], active=r["active"],
                                         alliance_members=r["members"],
                                         allocated=r["allocated"], committed=r["committed"],
                                         paid=r["paid"])
                      for r in await store.by_departement(pool)],
        money=money, money_by_programme=by_programme,
        envelopes=[EnvelopeFigures(envelope_id=str(r["envelope_id"]), name=r["name"],
                                   programme=r["programme"],
                                   budget_years=list(r["budget_years"]),
                                   wave_ids=list(r["wave_ids"]), amount=r["amount"])
                   for r in await store.envelopes(pool)],
        alliances=AllianceFigures(open=counts["open"], closed=counts["closed"],
                                  members=sum(k * v for k, v in sizes.items()), sizes=sizes,
                                  by_kind={r["kind"]: r["members"]
                                           for r in await store.members_by_kind(pool)}),
        notifications=NotificationFigures(
            sent=sum(t["sent"] for t in templates.values()),
            failed=sum(t["failed"] for t in templates.values()), by_template=templates),
        health=None if health is None else Health.model_validate(health))
