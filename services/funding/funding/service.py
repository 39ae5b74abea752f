"""Use cases: each runs in the caller's unit of work (one transaction: state, ledger rows
and events together). The entrypoint owns it: an HTTP route, the consumer, or the
yearly check. A use case loads (and locks), asks the domain, moves the money the
domain's events say and saves (:func:`_move`: one statement locks the accounts, checks
them, writes them with the use case's rows and reports what they held; the domain's ledger
refuses what would take one below zero, which rolls it all back) and emits. Commitments
and payments read what they stand on in one statement (``store.commitment_ground``,
``store.payment_ground``); labels are handled a run at a time (:func:`label_cites`).

Nothing is ever doubled: a dotation's and a fonds grant's ids are derived from the cité,
envelope and year, and unique indexes hold them once; a command sent again with its
``Idempotency-Key`` is answered by its route with the first result, without calling the
use case again (``cites_runtime.idempotency``); consumed events are applied once by the
runtime's inbox.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from uuid import NAMESPACE_URL, UUID, uuid5

from cites_contracts.events.funding import (
    AllocationRefused,
    BudgetYearClosed,
    CommitmentCancelled,
    FondsDeLaCiteGranted,
    FundsAllocated,
    LegalAct,
    PastSpendingImported,
)
from cites_contracts.events.labelling import (
    LabelRenewed,
    PerimeterExtended,
    ProjectReviewSubmitted,
    TerritoryLabelled,
)
from cites_contracts.types import BudgetProgramme
from cites_runtime.actor import Actor
from cites_runtime.errors import Conflict, NotFound, RuleBroken, RuleFailure
from cites_runtime.logs import get_logger
from cites_runtime.uow import Cause, UnitOfWork

from . import store
from .domain import fonds, ledger, past
from .domain.cite import (
    Allocation,
    AllocationFunds,
    Cite,
    CiteStatus,
    CoFinancing,
    Commitment,
    Recovery,
    Report,
)
from .domain.credits import Credits
from .domain.envelope import BudgetEnvelope, EnvelopeTerms
from .domain.fonds import ChefDeFile, Spending
from .domain.ledger import Account, Movement
from .store import Trace

__all__ = [
    "Subsidy",
    "allocate_manually",
    "amend_envelope",
    "cancel_commitment",
    "close_alliance",
    "close_year",
    "commit_funds",
    "declare_cofinancing",
    "delegate_credits",
    "designate_chef_de_file",
    "extend_perimeter",
    "freeze",
    "fund_due_years",
    "import_past_money",
    "justify_subsidy",
    "label_cite",
    "label_cites",
    "member_changed",
    "open_envelope",
    "order_recovery",
    "pay",
    "realise_cofinancing",
    "receive_recovery",
    "reinstate",
    "release_frozen",
    "renew_label",
    "review_submitted",
    "revise_allocation",
    "use_fonds",
    "vote_credits",
]

log = get_logger(__name__)

_IDS = uuid5(NAMESPACE_URL, "https://cites-educatives.example/funding")


def _log_acted(what: str, actor: Actor, **about: object) -> None:
    """Who made a national decision: its event names no one (a token's subject never goes
    in events), the log does."""
    log.info(what, actor_role=actor.role.value, actor=actor.subject, **about)


def _derived_id(*parts: object) -> UUID:
    """A stable id for what must exist once (a cité's dotation of a year, its fonds)."""
    return uuid5(_IDS, "/".join(str(p) for p in parts))


# --- loading -------------------------------------------------------------------------------


async def _cite(uow: UnitOfWork, cite_id: str, lock: store.Lock = "update") -> Cite:
    cite = await store.get_cite(uow.conn, cite_id, lock=lock)
    if cite is None:
        raise NotFound.of("cité", cite_id)
    return cite


async def _envelope(uow: UnitOfWork, envelope_id: UUID) -> BudgetEnvelope:
    """The envelope, locked with its account."""
    envelope = await store.get_envelope(uow.conn, envelope_id, for_update=True)
    if envelope is None:
        raise NotFound.of("envelope", envelope_id)
    return envelope


async def _commitment(uow: UnitOfWork, commitment_id: UUID) -> Commitment:
    """The commitment, locked with its account."""
    commitment = await store.get_commitment(uow.conn, commitment_id, for_update=True)
    if commitment is None:
        raise NotFound.of("commitment", commitment_id)
    return commitment


async def _allocation(uow: UnitOfWork, cite_id: str, allocation_id: UUID) -> Allocation:
    allocation = await store.get_allocation(uow.conn, allocation_id)
    if allocation is None or allocation.cite_id != cite_id:
        raise NotFound.of(f"cité {cite_id}'s allocation", allocation_id)
    return allocation


# --- moving money ----------------------------------------------------------------------------


async def _move(uow: UnitOfWork, movements: list[Movement],
                trace: Trace | Mapping[Account, Trace], rows: store.Rows | None = None
                ) -> store.Moved:
    """Move money as :func:`_move_each` does; ``trace``: what the movements concern, or by
    the account debited."""
    return await _move_each(uow, [(m, trace if isinstance(trace, Trace) else trace[m.debit])
                                  for m in movements], rows)


async def _move_each(uow: UnitOfWork, entries: list[tuple[Movement, Trace]],
                     rows: store.Rows | None = None) -> store.Moved:
    """Move money (each movement with what it concerns) and write ``rows`` with it, in one
    statement that locks the accounts and checks them; then the ledger decides on what
    they held. It refuses (``LimitExceeded``, naming the first limit broken) what would
    take an account but a budget below zero, and the refusal rolls the transaction back:
    nothing moves."""
    if not entries and rows is None:
        return store.Moved(True, {})
    movements = [m for m, _ in entries]
    moved = await store.move(uow.conn, entries, ledger.balances(movements), uow.now, rows)
    ledger.apply(moved.held, movements)
    if not moved.ok:  # the ledger refused it first: an account ending below zero went there
        raise Conflict("an account would go below zero: nothing was moved")
    return moved


def _credits_trace(programme: BudgetProgramme, year: int) -> Trace:
    return Trace(None, programme, None, year)


def _trace(a: Allocation) -> Trace:
    return Trace(a.envelope_id, a.programme, a.cite_id, a.year)


def _traces(cite: Cite, funds: list[AllocationFunds]) -> dict[Account, Trace]:
    """What each account of the cité's allocations concerns (for its freezes)."""
    by_account = {}
    for a in funds:
        by_account[a.account] = by_account[a.frozen_account] = Trace(
            a.envelope_id, a.programme, cite.cite_id, a.year)
    return by_account


# --- envelopes ----------------------------------------------------------------------------


async def open_envelope(uow: UnitOfWork, envelope_id: UUID, terms: EnvelopeTerms,
                        actor: Actor) -> BudgetEnvelope:
    """Open an envelope (budget → envelope)."""
    taken = await store.overlapping(uow.conn, terms.programme, terms.wave_ids,
                                    terms.budget_years)
    envelope, opened = BudgetEnvelope.open(envelope_id, terms, taken, uow.now)
    await store.insert_envelope(uow.conn, envelope)
    await _move(uow, ledger.movements(opened), Trace(envelope.id, envelope.programme))
    uow.emit(opened)
    _log_acted("envelope opened", actor, envelope_id=envelope.id)
    return envelope


async def amend_envelope(uow: UnitOfWork, envelope_id: UUID, amount: int, motive: str,
                         actor: Actor) -> BudgetEnvelope:
    envelope = await _envelope(uow, envelope_id)
    amended = envelope.amend(amount, motive, uow.now)
    if amended is not None:
        await _move(uow, ledger.movements(amended, programme=envelope.programme),
                    Trace(envelope.id, envelope.programme))
        await store.set_envelope_amount(uow.conn, envelope.id, amount)
        uow.emit(amended)
        _log_acted("envelope amended", actor, envelope_id=envelope.id)
    return envelope


# --- cités, from labelling's events ---------------------------------------------------------


async def label_cite(uow: UnitOfWork, event: TerritoryLabelled) -> bool:
    """A cité is born: remember it and fund its years so far. False if known already."""
    return not await label_cites(uow, [(event, uow.cause)])


async def label_cites(uow: UnitOfWork, labels: list[tuple[TerritoryLabelled, Cause]]
                      ) -> list[str]:
    """Cités are born: remember each one funding does not know and fund its years so far
    (its events carry its label's cause), in a few statements however many they are.
    Returns the ids of those known already: nothing is done for them."""
    cites = [Cite.labelled(event) for event, _ in labels]
    born = await store.insert_cites(uow.conn, [
        (cite, event.labelled_at, event.reference)
        for cite, (event, _) in zip(cites, labels, strict=True)])
    await _fund(uow, [_Due(cite, cite.years_due(uow.today), cause, born[cite.cite_id])
                      for cite, (_, cause) in zip(cites, labels, strict=True)
                      if cite.cite_id in born], set(), set())
    return [cite.cite_id for cite in cites if cite.cite_id not in born]


async def renew_label(uow: UnitOfWork, event: LabelRenewed) -> None:
    """The new period's years are funded; a new perimeter counts from them on."""
    cite = await _cite(uow, event.cite_id)
    cite.renew(event.label_period.end)
    if event.perimeter is not None:
        cite.extend(event.perimeter)
    await store.save_cite(uow.conn, cite)
    await fund_due_years(uow, cite.cite_id)


async def extend_perimeter(uow: UnitOfWork, event: PerimeterExtended) -> None:
    cite = await _cite(uow, event.cite_id)
    cite.extend(event.perimeter)
    await store.save_cite(uow.conn, cite)


async def freeze(uow: UnitOfWork, cite_id: str, status: CiteStatus) -> None:
    """Suspension, withdrawal or expiry: the uncommitted money freezes."""
    cite = await _cite(uow, cite_id)
    funds = await store.allocation_funds(uow.conn, cite_id)
    frozen = cite.freeze(status, funds, uow.now)
    if frozen is not None:
        await store.save_cite(uow.conn, cite)
        await _move(uow, ledger.movements(frozen), _traces(cite, funds))
        uow.emit(frozen)


async def reinstate(uow: UnitOfWork, cite_id: str) -> None:
    """Reinstatement: what the suspension froze is available again, and a year that
    started meanwhile is funded now."""
    cite = await _cite(uow, cite_id)
    funds = await store.allocation_funds(uow.conn, cite_id)
    unfrozen = cite.unfreeze(funds, uow.now)
    if unfrozen is not None:
        await store.save_cite(uow.conn, cite)
        await _move(uow, ledger.movements(unfrozen), _traces(cite, funds))
        uow.emit(unfrozen)
        await fund_due_years(uow, cite_id)


async def release_frozen(uow: UnitOfWork, cite_id: str, motive: str, actor: Actor
                         ) -> list[AllocationFunds]:
    """The national coordination gives an ended cité's frozen money back to its
    envelopes. Returns what was released (nothing the second time)."""
    cite = await _cite(uow, cite_id)
    funds = await store.allocation_funds(uow.conn, cite_id)
    released = cite.release(funds, motive, uow.now)
    if released is None:
        return []
    await _move(uow, ledger.movements(released), _traces(cite, funds))
    uow.emit(released)
    _log_acted("frozen funds released", actor, cite_id=cite_id)
    return [a for a in funds if a.frozen > 0]


# --- the yearly dotation and fonds -----------------------------------------------------------


async def fund_due_years(uow: UnitOfWork, cite_id: str) -> int:
    """Give the cité what it is due for each budget year so far (its label's years, up
    to today) and has not received: the dotation of each envelope covering its wave and
    the year, and the fonds de la cité. Locks the cité, so that two replicas running the
    yearly check at once, or a check and a label event, fund it once. Returns how many
    events it emitted."""
    cite = await _cite(uow, cite_id)
    years = cite.years_due(uow.today)
    if not years:
        return 0
    dotations, fonds_years = await store.funded(uow.conn, cite_id)
    return await _fund(uow, [_Due(cite, years, uow.cause, await store.chef_de_file(
        uow.conn, cite_id))], {(cite_id, e, y) for e, y in dotations},
                       {(cite_id, y) for y in fonds_years})


@dataclass(frozen=True, slots=True)
class _Due:
    """A cité to fund: its years due, why (its events' cause), its collège chef de file."""

    cite: Cite
    years: list[int]
    cause: Cause
    chef_de_file: ChefDeFile | None


@dataclass(slots=True)
class _Funding:
    """What funding cités decided, in the order it was decided."""

    entries: list[tuple[Movement, Trace]] = field(default_factory=list)
    allocations: list[Allocation] = field(default_factory=list)
    grants: list[FondsDeLaCiteGranted] = field(default_factory=list)
    refusals: list[AllocationRefused] = field(default_factory=list)
    events: list[tuple[FundsAllocated | FondsDeLaCiteGranted | AllocationRefused, Cause]] = (
        field(default_factory=list))


async def _fund(uow: UnitOfWork, due: list[_Due], dotations: set[tuple[str, UUID, int]],
                fonds_given: set[tuple[str, int]]) -> int:
    """Fund ``due`` cités' years but the dotations (cité, envelope, year) and fonds (cité,
    year) they have: every envelope they draw on locked first, at once and in one order
    (envelopes are shared across waves and years: another transaction funding other cités
    takes them in the same order), then the domain decides cité by cité, year by year,
    each envelope giving what it still holds; all of it written in one statement.
    Returns how many events it emitted (a refusal told before is not told again)."""
    if not any(d.years for d in due):
        return 0
    envelopes = await store.covering(uow.conn, {(d.cite.wave_id, y) for d in due
                                                for y in d.years})
    decided = _Funding()
    for d in due:
        for year in d.years:
            _fund_year(decided, d, year, envelopes.get((d.cite.wave_id, year), {}),
                       dotations, fonds_given, uow.now)
    if not decided.events:
        return 0
    moved = await _move_each(uow, decided.entries, store.funding_rows(
        decided.allocations, decided.grants, decided.refusals))
    recorded = set(moved.returned)
    told = [(e, cause) for e, cause in decided.events
            if not isinstance(e, AllocationRefused) or store.refusal_key(e) in recorded]
    for event, cause in told:
        uow.emit(event, cause=cause)
    return len(told)


def _fund_year(decided: _Funding, due: _Due, year: int,
               envelopes: Mapping[BudgetProgramme, BudgetEnvelope],
               dotations: set[tuple[str, UUID, int]], fonds_given: set[tuple[str, int]],
               now: datetime) -> None:
    """A cité's year: the dotation of each programme's envelope covering it (refused
    without one), then its fonds de la cité, from every programme's envelope."""
    cite = due.cite
    for programme in BudgetProgramme:
        envelope = envelopes.get(programme)
        if envelope is None:
            _refused(decided, cite.no_envelope(year, programme, now), due.cause)
        elif envelope.rule.pays_dotations and (cite.cite_id, envelope.id, year) not in dotations:
            allocated = envelope.dotation(
                cite, year, _derived_id("dotation", cite.cite_id, envelope.id, year), now)
            if isinstance(allocated, AllocationRefused):
                _refused(decided, allocated, due.cause)
            else:
                allocation = Allocation.of(allocated)
                decided.allocations.append(allocation)
                decided.entries += [(m, _trace(allocation)) for m in ledger.movements(allocated)]
                decided.events.append((allocated, due.cause))
    if len(envelopes) == len(BudgetProgramme) and (cite.cite_id, year) not in fonds_given:
        granted = fonds.grant(cite, year, list(envelopes.values()),
                              _derived_id("fonds", cite.cite_id, year), due.chef_de_file, now)
        if isinstance(granted, AllocationRefused):
            _refused(decided, granted, due.cause)
            return
        paid_from = {p: e.id for p, e in envelopes.items()}
        decided.grants.append(granted)
        decided.entries += [(m, Trace(paid_from[c.programme], c.programme, cite.cite_id, year))
                            for c, m in zip(granted.contributions, ledger.movements(
                                granted, paid_from=paid_from), strict=True)]
        decided.events.append((granted, due.cause))


def _refused(decided: _Funding, refused: AllocationRefused, cause: Cause) -> None:
    """A refusal, told once per cité, year, programme and reason (its row says if it was)."""
    decided.refusals.append(refused)
    decided.events.append((refused, cause))


async def use_fonds(uow: UnitOfWork, cite_id: str, year: int, spending: Spending,
                    actor: Actor, use_id: UUID) -> None:
    """Record what the collège chef de file paid from the cité's fonds de la cité of
    ``year`` (the collège itself, the préfecture of the cité's département or the national
    coordination): never more than the grant has left, whoever else is using it."""
    cite = await _cite(uow, cite_id, lock=None)
    grant = await store.get_fonds(uow.conn, cite_id, cite.departement, year)
    if grant is None:
        raise NotFound.of(f"cité {cite_id}'s fonds de la cité of", year)
    used = grant.use(use_id, spending, actor=actor, today=uow.today, at=uow.now)
    await store.insert_fonds_use(uow.conn, used)
    paid_from = {c.programme: c.envelope_id for c in grant.contributions}
    await _move_each(uow, [
        (m, Trace(paid_from[d.programme], d.programme, cite_id, year))
        for d, m in zip(used.drawn, ledger.movements(used), strict=True)])
    uow.emit(used)
    _log_acted("fonds de la cité used", actor, cite_id=cite_id, year=year, use_id=use_id,
               amount=spending.amount)


async def allocate_manually(uow: UnitOfWork, cite_id: str, envelope_id: UUID, year: int,
                            amount: int, basis: str, actor: Actor, allocation_id: UUID
                            ) -> Allocation:
    """An allocation decided by the national coordination, beside the dotations."""
    cite = await _cite(uow, cite_id)
    envelope = await _envelope(uow, envelope_id)
    allocated = envelope.allocate(cite, year, amount, basis, allocation_id, uow.now)
    allocation = Allocation.of(allocated)
    await _move(uow, ledger.movements(allocated), _trace(allocation),
                store.funding_rows([allocation], [], []))
    uow.emit(allocated)
    _log_acted("allocated by hand", actor, cite_id=cite_id, allocation_id=allocation_id)
    return allocation


async def revise_allocation(uow: UnitOfWork, cite_id: str, allocation_id: UUID, amount: int,
                            motive: str, actor: Actor, *, citing: UUID | None = None
                            ) -> Allocation:
    """The national coordination revises an allocation (a dotation proposed by the rule,
    or one made by hand): the difference comes from, or goes back to, its envelope.
    ``citing``: the cité's submitted revue de projet it rests on (422 for any other)."""
    if citing is not None and await store.review_cite(uow.conn, citing) != cite_id:
        raise RuleBroken.of("review_id", "review_cited",
                            f"a revision of {cite_id}'s dotation cites one of its revues de "
                            f"projet submitted to the coordination; {citing} is not one")
    cite = await _cite(uow, cite_id)
    allocation = await _allocation(uow, cite_id, allocation_id)
    envelope = await _envelope(uow, allocation.envelope_id)
    funds = await store.get_allocation_funds(uow.conn, allocation_id)
    assert funds is not None  # the allocation exists: _allocation found it
    revised = envelope.revise(cite, allocation, funds, amount, motive, uow.now)
    if revised is None:
        return allocation
    revised = revised.model_copy(update={"review_id": citing})
    await store.revise_allocation(uow.conn, revised)
    await _move(uow, ledger.movements(revised), _trace(allocation))
    uow.emit(revised)
    _log_acted("allocation revised", actor, cite_id=cite_id, allocation_id=allocation_id,
               previous=allocation.amount, amount=amount)
    return replace(allocation, amount=amount)


# --- the alliance, from partners' events --------------------------------------------------


async def review_submitted(uow: UnitOfWork, event: ProjectReviewSubmitted) -> None:
    """A revue de projet the coordination received: a revision may cite it."""
    await store.remember_review(uow.conn, event.review_id, event.cite_id, event.year)


async def designate_chef_de_file(uow: UnitOfWork, cite_id: str, partner_id: UUID, uai: str
                                 ) -> None:
    """Next year's fonds goes to this collège (a year's fonds already granted stays). A
    fonds granted to it before partners named it (by its UAI: the label comes first) is
    now known by its partner id too."""
    await store.set_chef_de_file(uow.conn, cite_id, partner_id, uai)
    await store.name_fonds_recipient(uow.conn, cite_id, partner_id, uai)


async def member_changed(uow: UnitOfWork, cite_id: str, partner_id: UUID, kind: str | None,
                         current: bool) -> None:
    await store.set_member(uow.conn, cite_id, partner_id, kind, current)


async def close_alliance(uow: UnitOfWork, cite_id: str) -> None:
    await store.close_alliance(uow.conn, cite_id)


# --- the State's credits --------------------------------------------------------------------


async def vote_credits(uow: UnitOfWork, programme: BudgetProgramme, year: int, ae: int,
                       cp: int, actor: Actor) -> Credits:
    """Record a programme's credits for a year, or amend them (new totals) — not for a year
    taken over as the past (its money was spent before the platform kept credits)."""
    await store.lock_budget_year(uow.conn, programme, year)
    if await store.has_past_spending(uow.conn, programme, year):
        raise Conflict(f"{programme.value}'s {year} was taken over as the past (its "
                       "dotations' spending imported): the platform keeps no credits for it")
    existing = await store.get_credits(uow.conn, programme, year, lock="update")
    credits, voted = Credits.vote(existing, programme, year, ae, cp, uow.now)
    if voted is None:
        return credits
    await store.save_credits(uow.conn, credits, uow.now)
    await _move(uow, ledger.movements(voted), _credits_trace(programme, year))
    uow.emit(voted)
    _log_acted("credits voted", actor, programme=programme.value, year=year, ae=ae, cp=cp)
    return credits


async def _credits(uow: UnitOfWork, programme: BudgetProgramme, year: int) -> Credits:
    credits = await store.get_credits(uow.conn, programme, year, lock="update")
    if credits is None:
        raise NotFound.of(f"{programme.value}'s credits of", year)
    return credits


async def delegate_credits(uow: UnitOfWork, programme: BudgetProgramme, year: int,
                           departement: str, ae: int, cp: int, actor: Actor) -> Credits:
    """Delegate AE and CP of a programme's year to a département's préfet."""
    credits = await _credits(uow, programme, year)
    so_far = await store.delegated_so_far(uow.conn, programme, year, departement)
    delegated = credits.delegate(departement, ae, cp, so_far, uow.now)
    await store.add_delegation(uow.conn, delegated)
    await _move(uow, ledger.movements(delegated), _credits_trace(programme, year))
    uow.emit(delegated)
    _log_acted("credits delegated", actor, programme=programme.value, year=year,
               departement=departement, ae=ae, cp=cp)
    return credits


async def close_year(uow: UnitOfWork, programme: BudgetProgramme, year: int, actor: Actor
                     ) -> BudgetYearClosed:
    """Close a programme's budget year: what was neither committed nor paid lapses; the
    unpaid part of its commitments carries over."""
    credits = await _credits(uow, programme, year)
    delegations = await store.delegation_funds(uow.conn, [(programme, year)])
    closed = credits.close(delegations.get((programme, year), []),
                           *await store.restes_a_payer(uow.conn, programme, year),
                           today=uow.today, at=uow.now)
    await store.save_credits(uow.conn, credits, credits.closed_at or uow.now)
    await _move(uow, ledger.movements(closed), _credits_trace(programme, year))
    uow.emit(closed)
    _log_acted("budget year closed", actor, programme=programme.value, year=year)
    return closed


# --- commitments, payments, co-financing ---------------------------------------------------


@dataclass(frozen=True, slots=True)
class Subsidy:
    """What a préfecture commits: an action, its operator, the amount and its paperwork."""

    allocation_id: UUID
    operator: UUID
    action_title: str
    amount: int
    legal_act: LegalAct
    subsidy_request: str | None = None
    justification_due: date | None = None


async def commit_funds(uow: UnitOfWork, cite_id: str, subsidy: Subsidy, actor: Actor,
                       commitment_id: UUID) -> Commitment:
    """Commit part of an allocation to an action of an alliance member, with its legal
    act (the préfecture of the cité's département). What it stands on is read in one
    statement and the commitment written with its money in another."""
    ground = await store.commitment_ground(uow.conn, cite_id, subsidy.allocation_id,
                                           subsidy.operator)
    if ground is None:
        raise NotFound.of("cité", cite_id)
    cite, allocation, kind = ground.cite, ground.allocation, ground.member_kind
    actor.ensure_acts_for(cite.departement)
    if allocation is None:
        raise NotFound.of(f"cité {cite_id}'s allocation", subsidy.allocation_id)
    paperwork = Commitment.paperwork_of(
        allocation, legal_act=subsidy.legal_act, subsidy_request=subsidy.subsidy_request,
        justification_due=subsidy.justification_due, operator_kind=kind,
        amount=subsidy.amount, today=uow.today)
    commitment, committed = Commitment.commit(
        cite, allocation, commitment_id=commitment_id, operator=subsidy.operator,
        operator_is_member=kind is not None, action_title=subsidy.action_title,
        amount=subsidy.amount, paperwork=paperwork, at=uow.now)
    if ground.credits is not None:  # not recorded: the ledger refuses (nothing delegated)
        ground.credits.ensure_open()
    await _move_each(uow, [(m, _trace(allocation)) for m in ledger.movements(committed)] + [
        (ledger.engagement(committed, allocation.programme, allocation.year,
                           cite.departement),
         _credits_trace(allocation.programme, allocation.year))],
        store.insert_commitment(commitment))
    uow.emit(committed)
    return commitment


async def pay(uow: UnitOfWork, commitment_id: UUID, amount: int, actor: Actor,
              payment_id: UUID) -> Commitment:
    """Pay the operator against a commitment (never more than it has not paid), on the
    CP of the year the payment is made. What it stands on is read in one statement and the
    payment written with its money in another."""
    year = uow.today.year
    ground = await store.payment_ground(uow.conn, commitment_id, year)
    if ground is None:
        raise NotFound.of("commitment", commitment_id)
    commitment, allocation = ground.commitment, ground.allocation
    actor.ensure_acts_for(ground.departement)
    paid = commitment.pay(payment_id, amount, uow.now)
    if allocation is None:
        raise NotFound.of(f"cité {commitment.cite_id}'s allocation", commitment.allocation_id)
    if ground.credits is not None:
        ground.credits.ensure_open()
    await _move_each(uow, [(m, _trace(allocation)) for m in ledger.movements(paid)] + [
        (ledger.spending(paid, allocation.programme, year, ground.departement),
         _credits_trace(allocation.programme, year))], store.insert_payment(paid))
    uow.emit(paid)
    return commitment


async def cancel_commitment(uow: UnitOfWork, commitment_id: UUID, motive: str, actor: Actor
                            ) -> Commitment:
    """What the commitment has not paid goes back to its allocation."""
    commitment = await _commitment(uow, commitment_id)
    cite = await _cite(uow, commitment.cite_id, lock="share")
    actor.ensure_acts_for(cite.departement)
    events = commitment.cancel(cite, motive, uow.now)
    if events:
        allocation = await _allocation(uow, cite.cite_id, commitment.allocation_id)
        await store.cancel_commitment(uow.conn, commitment_id, motive, uow.now)
        credits = await store.get_credits(uow.conn, allocation.programme, allocation.year,
                                          lock="share")
        closed = credits is not None and credits.closed_at is not None
        await _move_each(uow, [(m, _trace(allocation)) for e in events
                               for m in ledger.movements(e)] + [
            (m, _credits_trace(allocation.programme, allocation.year))
            for e in events if isinstance(e, CommitmentCancelled)
            for m in ledger.disengagement(e, allocation.programme, allocation.year,
                                          cite.departement, closed=closed)])
        for e in events:
            uow.emit(e)
    return commitment


async def justify_subsidy(uow: UnitOfWork, commitment_id: UUID, report: Report, actor: Actor
                          ) -> Commitment:
    """Record the operator's report on a subsidy (the préfecture of the cité's
    département): once; the same report again changes nothing."""
    commitment = await _commitment(uow, commitment_id)
    cite = await _cite(uow, commitment.cite_id, lock=None)
    actor.ensure_acts_for(cite.departement)
    justified = commitment.justify(report, uow.today, uow.now)
    if justified is not None:
        await store.record_report(uow.conn, justified)
        uow.emit(justified)
    return commitment


async def order_recovery(uow: UnitOfWork, commitment_id: UUID, amount: int,
                         order_reference: str, ordered_on: date, motive: str, actor: Actor,
                         recovery_id: UUID) -> Recovery:
    """Order the operator to repay what its report leaves unspent, or what it was paid
    once its report is overdue: what is ordered is no longer counted as paid to it."""
    commitment = await _commitment(uow, commitment_id)
    cite = await _cite(uow, commitment.cite_id, lock=None)
    actor.ensure_acts_for(cite.departement)
    allocation = await _allocation(uow, cite.cite_id, commitment.allocation_id)
    ordered = commitment.order_recovery(
        recovery_id, allocation.programme, amount=amount, order_reference=order_reference,
        ordered_on=ordered_on, motive=motive, today=uow.today, at=uow.now)
    await store.insert_recovery(uow.conn, ordered)
    await _move(uow, ledger.movements(ordered), _trace(allocation))
    uow.emit(ordered)
    return Recovery.of(ordered)


async def receive_recovery(uow: UnitOfWork, recovery_id: UUID, amount: int,
                           received_on: date, actor: Actor, receipt_id: UUID) -> Recovery:
    """The operator repaid (part of) an order: the money returns to its programme's budget."""
    recovery = await store.get_recovery(uow.conn, recovery_id, for_update=True)
    if recovery is None:
        raise NotFound.of("recovery order", recovery_id)
    cite = await _cite(uow, recovery.cite_id, lock=None)
    actor.ensure_acts_for(cite.departement)
    commitment = await _commitment(uow, recovery.commitment_id)
    allocation = await _allocation(uow, cite.cite_id, commitment.allocation_id)
    received = recovery.receive(receipt_id, amount, received_on, uow.today, uow.now)
    await store.insert_receipt(uow.conn, received)
    await _move(uow, ledger.movements(received), _trace(allocation))
    uow.emit(received)
    return recovery


async def declare_cofinancing(uow: UnitOfWork, cite_id: str, year: int, funder: str,
                              amount: int, actor: Actor, cofinancing_id: UUID,
                              funder_partner_id: UUID | None = None) -> None:
    """A local authority's planned money for a cité and a year, beside the State's:
    declared by the funder itself (a partner of the alliance acting for itself), or the
    préfecture of the cité's département or the national coordination (naming the funder
    among the alliance's partners, or not)."""
    cite = await _cite(uow, cite_id, lock=None)
    actor.ensure_acts_for(cite.departement)
    if actor.partner_id is not None and funder_partner_id is None:
        funder_partner_id = actor.partner_id  # a funder declares for itself
    actor.ensure_acts_for_partner(funder_partner_id, f"this co-financing of {cite_id}")
    if funder_partner_id is not None and await store.member_kind(
            uow.conn, cite_id, funder_partner_id) is None:
        raise Conflict(f"partner {funder_partner_id} is not a member of {cite_id}'s "
                       "alliance: a co-financing's funder is one of its partners")
    declared = cite.declare_cofinancing(cofinancing_id, year, funder, amount, uow.now,
                                        funder_partner_id)
    await store.insert_cofinancing(uow.conn, declared)
    uow.emit(declared)


async def realise_cofinancing(uow: UnitOfWork, cofinancing_id: UUID, actual: int,
                              actor: Actor) -> CoFinancing:
    """What a co-financing actually gave, recorded once by its funder, the préfecture of
    the cité's département or the national coordination."""
    co = await store.get_cofinancing(uow.conn, cofinancing_id, for_update=True)
    if co is None:
        raise NotFound.of("co-financing", cofinancing_id)
    cite = await _cite(uow, co.cite_id, lock=None)
    actor.ensure_acts_for(cite.departement)
    actor.ensure_acts_for_partner(co.funder_partner_id,
                                  f"{co.funder}'s co-financing of {co.cite_id}")
    realised = co.realise(actual, today=uow.today, at=uow.now)
    if realised is not None:
        await store.realise_cofinancing(uow.conn, realised)
        uow.emit(realised)
    return replace(co, actual=actual)


# --- the years before the platform -------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PastTaken:
    """What an import did with one cité's past money: ``imported`` (years taken over) or
    ``unchanged`` (every year was, as the record says)."""

    reference: str
    cite_id: str
    outcome: str
    years: int
    """The years this import took over."""


async def import_past_money(uow: UnitOfWork, record: past.PastMoneyRecord) -> PastTaken:
    """Take over what a cité's dotations of years before the platform committed and paid
    (:mod:`funding.domain.past`): every year of the record or none (a rule broken by one
    line refuses the record, naming each); the same record again changes nothing. The
    unit of work's cause marks the events imported."""
    cite = await store.cite_by_reference(uow.conn, record.reference)
    if cite is None:
        raise NotFound(f"no cité of reference {record.reference}: import its history into "
                       "labelling first (funding learns the reference from its label)")
    dotations = await store.dotations_by_year(uow.conn, cite.cite_id)
    funds = {f.allocation_id: f for f in await store.allocation_funds(uow.conn, cite.cite_id)}
    known = await store.past_spending_of(uow.conn, cite.cite_id)
    years = sorted({(y.programme, y.year) for y in record.years})
    for programme, year in years:
        await store.lock_budget_year(uow.conn, programme, year)  # no credits voted meanwhile
    kept = await store.credits_kept(uow.conn, years)
    taken: list[PastSpendingImported] = []
    broken: list[RuleFailure] = []
    for n, line in enumerate(record.years):
        allocation = dotations.get((line.programme, line.year))
        done = past.take_over(
            line, f"years.{n}", cite_id=cite.cite_id, reference=record.reference,
            allocation=allocation, credits_kept=(line.programme, line.year) in kept,
            funds=funds.get(allocation.allocation_id) if allocation else None,
            known=known.get(allocation.allocation_id) if allocation else None, now=uow.now)
        if isinstance(done, RuleFailure):
            broken.append(done)
        elif done is not None:
            taken.append(done)
    if broken:
        raise RuleBroken(broken, f"{record.reference}'s past money")
    for event in taken:
        await store.insert_past_spending(uow.conn, event)
        await _move(uow, ledger.movements(event), _trace(dotations[(event.programme,
                                                                    event.year)]))
        uow.emit(event)
    return PastTaken(record.reference, cite.cite_id, "imported" if taken else "unchanged",
                     len(taken))
