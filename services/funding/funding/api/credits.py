"""The State's credits: the national coordination records each programme's AE and CP of a
budget year, delegates them to the départements' préfets and closes the year; anyone
reads them with what was committed, paid and lapsed."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

from fastapi import APIRouter
from pydantic import BaseModel

from cites_contracts.types import BudgetProgramme, ProgrammeYear
from cites_runtime import idempotency
from cites_runtime.http import Anyone, Caller, National, Page, Paging
from cites_runtime.idempotency import IdempotencyKey

from .. import service, store
from ..domain.credits import Credits
from .bodies import CreditsIn, DelegationIn

__all__ = ["router"]

router = APIRouter(prefix="/credits", tags=["credits"])


class DelegationView(BaseModel):
    departement: str
    ae: int
    """AE delegated to it that year."""
    cp: int
    ae_left: int
    """Delegated AE not committed (0 once the year is closed: lapsed)."""
    cp_left: int
    engaged: int
    """AE its commitments consumed (net of cancellations)."""
    spent: int
    """CP its payments consumed."""


class CreditsView(BaseModel):
    programme: BudgetProgramme
    year: int
    ae: int
    cp: int
    ae_undelegated: int
    cp_undelegated: int
    engaged: int
    spent: int
    lapsed_ae: int
    lapsed_cp: int
    closed_at: datetime | None
    delegations: list[DelegationView]


async def _views(caller: Caller, years: list[Credits]) -> list[CreditsView]:
    """The programme's ``years`` (``store.list_credits``'), with the delegations' totals and
    balances and the ledger's sums: three queries, however many years."""
    engaged: dict[tuple[str, int, str], int] = defaultdict(int)
    spent: dict[tuple[str, int, str], int] = defaultdict(int)
    lapsed: dict[tuple[str, int, str], int] = defaultdict(int)
    for r in await store.credits_report(caller.pool):
        key = (r["programme"], r["year"])
        match r["movement"]:
            case "engage":
                engaged[(*key, r["debit_ref"].rsplit("/", 1)[1])] += r["amount"]
            case "disengage":
                engaged[(*key, r["credit_ref"].rsplit("/", 1)[1])] -= r["amount"]
            case "spend":
                spent[(*key, r["credit_ref"].rsplit("/", 1)[1])] += r["amount"]
            case "lapse":
                lapsed[(*key, r["credit_kind"])] += r["amount"]
    funds = await store.delegation_funds(caller.pool, [(c.programme, c.year) for c in years])
    views = []
    for credits in years:
        p, y = credits.programme.value, credits.year
        delegations = [DelegationView(
            departement=d.departement, ae=d.total_ae, cp=d.total_cp, ae_left=d.ae,
            cp_left=d.cp, engaged=engaged[(p, y, d.departement)],
            spent=spent[(p, y, d.departement)])
            for d in funds.get((credits.programme, y), [])]
        views.append(CreditsView(
            programme=credits.programme, year=y, ae=credits.ae, cp=credits.cp,
            ae_undelegated=credits.ae_open, cp_undelegated=credits.cp_open,
            engaged=sum(d.engaged for d in delegations),
            spent=sum(d.spent for d in delegations),
            lapsed_ae=lapsed[(p, y, "ae_lapsed")], lapsed_cp=lapsed[(p, y, "cp_lapsed")],
            closed_at=credits.closed_at, delegations=delegations))
    return views


async def _view(caller: Caller, programme: BudgetProgramme, year: int) -> CreditsView:
    years = await store.list_credits(caller.pool, after=(programme.value, year - 1), limit=1)
    return (await _views(caller, years))[0]


@router.get("", response_model=Page[CreditsView],
            summary="Every programme's credits by year: voted, delegated, committed, paid, "
            "lapsed — a page at a time")
async def list_credits(caller: Anyone, paging: Paging) -> Page[CreditsView]:
    years = await store.list_credits(caller.pool, after=paging.after(str, int),
                                     limit=paging.fetch)
    return paging.page(await _views(caller, years), key=lambda c: (c.programme.value, c.year))


@router.post("", response_model=CreditsView,
             summary="Record a programme's AE and CP of a year, or amend them (national)")
async def vote(body: CreditsIn, caller: National) -> CreditsView:
    async with caller.unit_of_work() as uow:
        await service.vote_credits(uow, body.programme, body.year, body.ae, body.cp,
                                   caller.actor)
    return await _view(caller, body.programme, body.year)


@router.post("/{programme}/{year}/delegations", response_model=CreditsView,
             summary="Delegate AE and CP of a programme's year to a département (national)")
async def delegate(programme: BudgetProgramme, year: ProgrammeYear, body: DelegationIn,
                   caller: National, key: IdempotencyKey = None) -> CreditsView:
    async with caller.unit_of_work() as uow:
        command = await idempotency.check(uow, key, caller.actor, "delegation", body,
                                          within=f"{programme.value}/{year}")
        if command.is_new:
            await service.delegate_credits(uow, programme, year, body.departement, body.ae,
                                           body.cp, caller.actor)
    return await _view(caller, programme, year)


class ClosingView(BaseModel):
    programme: BudgetProgramme
    year: int
    lapsed_ae: int
    lapsed_cp: int
    restes_a_payer: int
    open_commitments: int


@router.post("/{programme}/{year}/closing", response_model=ClosingView,
             summary="Close a programme's budget year once it is over: unused AE and CP "
             "lapse, unpaid commitments carry over (national)")
async def close(programme: BudgetProgramme, year: ProgrammeYear, caller: National
                ) -> ClosingView:
    async with caller.unit_of_work() as uow:
        closed = await service.close_year(uow, programme, year, caller.actor)
    return ClosingView(programme=closed.programme, year=closed.year,
                       lapsed_ae=closed.lapsed_ae, lapsed_cp=closed.lapsed_cp,
                       restes_a_payer=closed.restes_a_payer,
                       open_commitments=closed.open_commitments)
