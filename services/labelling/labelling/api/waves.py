"""Waves: listed by every reader; planned, opened and closed by the national coordination."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request
from pydantic import Field

from cites_contracts.types import Name, ProgrammeYear, Slug, WaveId
from cites_runtime.auth import Principal, Role, require

from .. import service, store
from ..domain import NotFound, Wave
from ..domain.dossier import Input
from ..domain.waves import FilingWindow
from .deps import READERS, runtime
from .errors import DomainRoute
from .views import WaveView

__all__ = ["router"]

router = APIRouter(prefix="/waves", tags=["waves"], route_class=DomainRoute)
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


@router.get("", response_model=list[WaveView], summary="Every wave, with its counts")
async def list_waves(request: Request, _: Principal = Depends(require(*READERS))
                     ) -> list[WaveView]:
    return [WaveView.of(s.wave, s) for s in await store.list_waves(runtime(request).pool)]


@router.get("/{wave_id}", response_model=WaveView, summary="One wave")
async def get_wave(wave_id: WavePath, request: Request,
                   _: Principal = Depends(require(*READERS))) -> WaveView:
    for stats in await store.list_waves(runtime(request).pool):
        if stats.wave.id == wave_id:
            return WaveView.of(stats.wave, stats)
    raise NotFound("wave", wave_id)


@router.post("", status_code=201, response_model=WaveView,
             summary="Plan a new wave (not open yet)")
async def plan_wave(body: WaveIn, request: Request,
                    _: Principal = Depends(require(Role.NATIONAL))) -> WaveView:
    window = (FilingWindow(body.filing.opens_on, body.filing.closes_on) if body.filing
              else None)
    wave = Wave.plan(id=body.id, year=body.year, title=body.title, rule_set=body.rule_set,
                     filing=window, review_criteria=body.review_criteria,
                     target_count=body.target_count)
    return WaveView.of(await service.plan_wave(runtime(request), wave))


@router.post("/{wave_id}/open", response_model=WaveView, summary="Open filing")
async def open_wave(wave_id: WavePath, request: Request,
                    _: Principal = Depends(require(Role.NATIONAL))) -> WaveView:
    return WaveView.of(await service.open_wave(runtime(request), wave_id))


@router.post("/{wave_id}/close", response_model=WaveView,
             summary="Close filing (review and decisions go on)")
async def close_wave(wave_id: WavePath, request: Request,
                     _: Principal = Depends(require(Role.NATIONAL))) -> WaveView:
    return WaveView.of(await service.close_wave(runtime(request), wave_id))
