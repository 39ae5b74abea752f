"""Reports read from the ledger: envelope consumption per programme and year (JSON, CSV),
the ledger's own check, and the yearly check run now (national coordination)."""

from __future__ import annotations

from fastapi import APIRouter, Response

from cites_runtime.http import Anyone, Caller, National, Reader

from .. import store
from ..yearly import fund_active_cites
from .views import ConsumptionView, LedgerCheckView, YearlyCheckView

__all__ = ["router"]

router = APIRouter(tags=["reports"])


async def _consumption(caller: Caller) -> ConsumptionView:
    return ConsumptionView.of(await store.list_envelopes(caller.pool),
                              await store.movements_by_year(caller.pool))


@router.get("/reports/consumption", response_model=ConsumptionView,
            summary="Envelope consumption per programme and year, from the ledger")
async def consumption(caller: Anyone) -> ConsumptionView:
    return await _consumption(caller)


@router.get("/reports/consumption.csv", response_class=Response,
            responses={200: {"content": {"text/csv": {}}}},
            summary="Consumption per programme and year as CSV (integer cents)")
async def consumption_csv(caller: Anyone) -> Response:
    return (await _consumption(caller)).csv()


@router.get("/ledger/check", response_model=LedgerCheckView,
            summary="Recompute every balance from the ledger and compare")
async def ledger_check(caller: Reader) -> LedgerCheckView:
    return LedgerCheckView.model_validate(await store.ledger_check(caller.pool))


@router.post("/yearly-check", response_model=YearlyCheckView,
             summary="Run the yearly check now (it also runs by itself every hour)")
async def yearly_check(caller: National) -> YearlyCheckView:
    return YearlyCheckView(events=await fund_active_cites(caller.runtime))
