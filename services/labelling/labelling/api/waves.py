"""Waves: listed by every reader; planned, opened and closed by the national coordination."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Path
from pydantic import Field

from cites_contracts.types import Name, ProgrammeYear, QpvList, Slug, WaveId
from cites_runtime.errors import NotFound
from cites_runtime.http import Input, National, Page, Paging, Reader

from .. import service, store
from ..domain import Wave
from ..domain.waves import FilingWindow
from .views import WaveView

__all__ = ["router"]

router = APIRouter(prefix="/waves", tags=["waves"])
WavePath = Annotated[WaveId, Path(description="Wave id, e.g. 2024-generalisation")]


class FilingWindowIn(Input):
    opens_on: date
    closes_on: date


class WaveIn(Input):
    id: WaveId
    year: ProgrammeYear
    title: Name
    rule_set: Slug = Field(description="Eligibility rule-set version, e.g. 2024-v1")
    filing: FilingWindowIn | None = Field(None, description="Filing window; null: rolling")
    review_criteria: tuple[Slug, ...] = Field(min_length=1, max_length=30)
    target_count: int = Field(ge=1, le=10_000)
    label_in_calendar_years: bool = Field(
        False, description="Labels run in whole calendar years (from 1 January of the "
        "decision's year, or of the next from September), as in the 2019–2022 waves; "
        "false: whole years from the decision date")
    test: bool = Field(False, description="A test wave (training, acceptance): it runs like "
                       "any other, its events say so, and its cités are never published as "
                       "open data")
    qpv_list: QpvList = Field(
        QpvList.LIST_2024, description="The QPV list its perimeters refer to: 2015 (codes "
        "QP…, the 2019–2022 waves) or 2024 (codes QN…)")


@router.get("", response_model=Page[WaveView],
            summary="The waves, with their counts, by year, a page at a time")
async def list_waves(caller: Reader, paging: Paging) -> Page[WaveView]:
    waves = await store.list_waves(caller.pool, after=paging.after(int, str),
                                   limit=paging.fetch)
    return paging.page([WaveView.of(s.wave, s) for s in waves], key=lambda w: (w.year, w.id))


@router.get("/{wave_id}", response_model=WaveView, summary="One wave")
async def get_wave(wave_id: WavePath, caller: Reader) -> WaveView:
    stats = await store.wave_stats(caller.pool, wave_id)
    if stats is None:
        raise NotFound.of("wave", wave_id)
    return WaveView.of(stats.wave, stats)


@router.post("", status_code=201, response_model=WaveView,
             summary="Plan a new wave (not open yet)")
async def plan_wave(body: WaveIn, caller: National) -> WaveView:
    window = (FilingWindow(body.filing.opens_on, body.filing.closes_on) if body.filing
              else None)
    wave = Wave.plan(id=body.id, year=body.year, title=body.title, rule_set=body.rule_set,
                     filing=window, review_criteria=body.review_criteria,
                     target_count=body.target_count,
                     calendar_years=body.label_in_calendar_years, test=body.test,
                     qpv_list=body.qpv_list)
    async with caller.unit_of_work() as uow:
        return WaveView.of(await service.plan_wave(uow, wave, caller.actor))


@router.post("/{wave_id}/open", response_model=WaveView, summary="Open filing")
async def open_wave(wave_id: WavePath, caller: National) -> WaveView:
    async with caller.unit_of_work() as uow:
        return WaveView.of(await service.open_wave(uow, wave_id, caller.actor))


@router.post("/{wave_id}/close", response_model=WaveView,
             summary="Close filing (review and decisions go on)")
async def close_wave(wave_id: WavePath, caller: National) -> WaveView:
    async with caller.unit_of_work() as uow:
        return WaveView.of(await service.close_wave(uow, wave_id, caller.actor))
