"""Use cases: each runs in the caller's unit of work (one transaction: state, ledger rows
and events together). The entrypoint owns it: an HTTP route, the consumer, or the
yearly check. A use case loads (and locks), asks the domain, saves, moves the money
(``store.move``, which refuses what the ledger's rule refuses) and emits.

Nothing is ever doubled: a dotation's and a fonds grant's ids are derived from the cité,
envelope and year, and unique indexes hold them once; a command retried with the same
``Idempotency-Key`` by the same caller gets the same id, so it finds its first result
instead of acting twice (once the caller is authorised for it); consumed events are
applied once by the runtime's inbox.
"""

from __future__ import annotations

from dataclasses import replace
from uuid import NAMESPACE_URL, UUID, uuid5

from cites_contracts.events.funding import (
    AllocationRefused,
    CoFinancingDeclared,
    FondsDeLaCiteGranted,
    FundsAllocated,
    ProgrammeAmount,
)
from cites_contracts.events.labelling import (
    LabelRenewed,
    PerimeterExtended,
    TerritoryLabelled,
)
from cites_contracts.types import (
    AllocationRefusalReason,
    BudgetProgramme,
    DotationRuleKind,
)
from cites_runtime.actor import Actor
from cites_runtime.errors import Conflict, NotFound, RuleBroken, RuleFailure
from cites_runtime.logs import get_logger
from cites_runtime.uow import UnitOfWork

from . import store
from .domain.cite import AllocationFunds, Cite, CiteStatus, Commitment
from .domain.envelope import Envelope
from .domain.ledger import Account, AccountKind, LimitExceeded, Movement, MovementKind
from .store import Allocation, Trace

__all__ = [
    "allocate_manually",
    "amend_envelope",
    "cancel_commitment",
    "close_alliance",
    "commit_funds",
    "declare_cofinancing",
    "designate_chef_de_file",
    "extend_perimeter",
    "freeze",
    "fund_due_years",
    "label_cite",
    "member_changed",
    "open_envelope",
    "pay",
    "reinstate",
    "release_frozen",
    "renew_label",
]

log = get_logger(__name__)

_IDS = uuid5(NAMESPACE_URL, "https://cites-educatives.example/funding")


def _log_acted(what: str, actor: Actor, **about: object) -> None:
    """Who made a national decision: its event names no one (a token's subject never goes
    in events), the log does."""
    log.info(what, actor_role=actor.role.value, actor=actor.subject, **about)


def derived_id(*parts: object) -> UUID:
    """A stable id for what must exist once (a cité's dotation of a year, a command
    retried with its idempotency key)."""
    return uuid5(_IDS, "/".join(str(p) for p in parts))


# --- envelopes ----------------------------------------------------------------------------


async def open_envelope(uow: UnitOfWork, envelope: Envelope, actor: Actor
                        ) -> tuple[Envelope, bool]:
    """Open an envelope (budget → envelope). The same id again returns the first one."""
    found = await store.get_envelope(uow.conn, envelope.id)
    if found is not None:
        _same_command(replace(found, opened_at=envelope.opened_at) == envelope, "envelope",
                      envelope.id)
        return found, False
    taken = await store.overlapping(uow.conn, envelope)
    if taken:
        raise Conflict(f"{envelope.programme.value} already has an envelope for " + ", ".join(
            f"wave {w} in {y} ({e})" for w, y, e in taken[:10])
            + ": one envelope per programme, wave and year (amend it instead)")
    envelope, movement, opened = Envelope.open(envelope)
    if not await store.insert_envelope(uow.conn, envelope):  # opened concurrently since
        found = await store.get_envelope(uow.conn, envelope.id)
        assert found is not None
        return found, False
    await store.move(uow.conn, [(movement, Trace(envelope.id, envelope.programme))], uow.now)
    uow.emit(opened)
    _log_acted("envelope opened", actor, envelope_id=envelope.id)
    return envelope, True


async def amend_envelope(uow: UnitOfWork, envelope_id: UUID, amount: int, motive: str,
                         actor: Actor) -> Envelope:
    envelope = await store.get_envelope(uow.conn, envelope_id, for_update=True)
    if envelope is None:
        raise NotFound.of("envelope", envelope_id)
    amended, movement, event = envelope.amend(amount, motive, uow.now)
    if movement is None or event is None:
        return envelope
    await store.move(uow.conn, [(movement, Trace(envelope.id, envelope.programme))], uow.now)
    await store.set_envelope_amount(uow.conn, envelope.id, amount)
    uow.emit(event)
    _log_acted("envelope amended", actor, envelope_id=envelope.id)
    return amended


# --- cités, from labelling's events ---------------------------------------------------------


async def label_cite(uow: UnitOfWork, event: TerritoryLabelled) -> bool:
    """A cité is born: remember it and fund its years so far. False if known already."""
    cite = Cite(cite_id=event.cite_id, name=event.name, wave_id=event.wave.id,
                departement=event.departement, label_start=event.label_period.start,
                label_end=event.label_period.end, status=CiteStatus.ACTIVE,
                requested_contribution=event.requested_annual_contribution,
                population=sum(q.population for q in event.perimeter.qpvs),
                lead_college_uai=event.lead_college_uai)
    if not await store.insert_cite(uow.conn, cite, event.labelled_at):
        return False
    await fund_due_years(uow, cite.cite_id)
    return True


async def _cite(uow: UnitOfWork, cite_id: str, lock: store.Lock = "update") -> Cite:
    cite = await store.get_cite(uow.conn, cite_id, lock=lock)
    if cite is None:
        raise NotFound(f"cité {cite_id} is unknown to funding (its TerritoryLabelled has "
                       "not been applied: see funding's dead letters)")
    return cite


async def renew_label(uow: UnitOfWork, event: LabelRenewed) -> None:
    cite = await _cite(uow, event.cite_id)
    await store.save_cite(uow.conn, replace(cite, label_end=event.label_period.end))
    await fund_due_years(uow, cite.cite_id)


async def extend_perimeter(uow: UnitOfWork, event: PerimeterExtended) -> None:
    """A larger perimeter counts for the next dotations computed on population."""
    cite = await _cite(uow, event.cite_id)
    await store.save_cite(uow.conn, replace(cite, population=sum(
        q.population for q in event.perimeter.qpvs)))


async def freeze(uow: UnitOfWork, cite_id: str, status: CiteStatus) -> None:
    """Suspension, withdrawal or expiry: the uncommitted money freezes."""
    cite = await _cite(uow, cite_id)
    funds = await store.allocation_funds(uow.conn, cite_id)
    after, movements, frozen = cite.freeze(status, funds, uow.now)
    if after is cite:
        return
    await store.save_cite(uow.conn, after)
    await store.move(uow.conn, _traced(cite, funds, movements), uow.now)
    if frozen is not None:
        uow.emit(frozen)


async def reinstate(uow: UnitOfWork, cite_id: str) -> None:
    """Reinstatement: what the suspension froze is available again, and a year that
    started meanwhile is funded now."""
    cite = await _cite(uow, cite_id)
    funds = await store.allocation_funds(uow.conn, cite_id)
    after, movements, unfrozen = cite.unfreeze(funds, uow.now)
    if unfrozen is None:
        return
    await store.save_cite(uow.conn, after)
    await store.move(uow.conn, _traced(cite, funds, movements), uow.now)
    uow.emit(unfrozen)
    await fund_due_years(uow, cite_id)


async def release_frozen(uow: UnitOfWork, cite_id: str, motive: str, actor: Actor
                         ) -> list[AllocationFunds]:
    """The national coordination gives an ended cité's frozen money back to its
    envelopes. Returns what was released (nothing the second time)."""
    cite = await _cite(uow, cite_id)
    funds = await store.allocation_funds(uow.conn, cite_id)
    movements, released = cite.release(funds, motive, uow.now)
    if released is None:
        return []
    await store.move(uow.conn, _traced(cite, funds, movements), uow.now)
    uow.emit(released)
    _log_acted("frozen funds released", actor, cite_id=cite_id)
    return [a for a in funds if a.frozen > 0]


def _traced(cite: Cite, funds: list[AllocationFunds], movements: list[Movement]
            ) -> list[tuple[Movement, Trace]]:
    by_account = {}
    for a in funds:
        trace = Trace(a.envelope_id, a.programme, cite.cite_id, a.year)
        by_account[a.account] = by_account[a.frozen_account] = trace
    return [(m, by_account[m.debit]) for m in movements]


# --- the yearly dotation and fonds -----------------------------------------------------------


async def fund_due_years(uow: UnitOfWork, cite_id: str) -> int:
    """Give the cité what it is due for each budget year so far (its label's years, up
    to today) and has not received: the dotation of each envelope covering its wave and
    the year, and the fonds de la cité. Locks the cité, so that two replicas running the
    yearly check at once, or a check and a label event, fund it once. Returns how many
    events it emitted."""
    cite = await _cite(uow, cite_id)
    years = cite.years_due(uow.today)
    # Each year moves money from its envelopes, and another cité's years may take some of
    # them in another order (envelopes shared across waves): all of them first, in one order.
    await store.lock_envelopes(uow.conn, cite.wave_id, years)
    emitted = 0
    for year in years:
        emitted += await _fund_year(uow, cite, year)
    return emitted


async def _fund_year(uow: UnitOfWork, cite: Cite, year: int) -> int:
    envelopes = await store.covering(uow.conn, cite.wave_id, year)
    emitted = 0
    for programme in BudgetProgramme:
        envelope = envelopes.get(programme)
        if envelope is None:
            emitted += await _refuse(uow, cite, year, programme,
                                     AllocationRefusalReason.NO_OPEN_ENVELOPE, None,
                                     cite.requested_contribution or 0, 0)
            continue
        if envelope.rule.pays_dotations and not await store.has_dotation(
                uow.conn, cite.cite_id, envelope.id, year):
            amount, basis = envelope.rule.dotation(
                requested=cite.requested_contribution, population=cite.population)
            emitted += await _allocate(uow, cite, envelope, year, amount,
                                       DotationRuleKind(envelope.rule.kind), basis,
                                       derived_id("dotation", cite.cite_id, envelope.id, year))
    if len(envelopes) == len(BudgetProgramme) and not await store.has_fonds(
            uow.conn, cite.cite_id, year):
        emitted += await _grant_fonds(uow, cite, year, list(envelopes.values()))
    return emitted


async def _allocate(uow: UnitOfWork, cite: Cite, envelope: Envelope, year: int, amount: int,
                    rule: DotationRuleKind, basis: str, allocation_id: UUID) -> int:
    allocation = Allocation(allocation_id, cite.cite_id, envelope.id, envelope.programme, year,
                            amount, rule.value, basis, uow.now)
    movement = Movement(MovementKind.ALLOCATE, envelope.account,
                        Account.of(AccountKind.ALLOCATION, allocation_id), amount)
    try:
        after = await store.move(uow.conn, [(movement, Trace(
            envelope.id, envelope.programme, cite.cite_id, year))], uow.now)
    except LimitExceeded as exhausted:
        if rule is DotationRuleKind.MANUAL:
            raise
        return await _refuse(uow, cite, year, envelope.programme,
                             AllocationRefusalReason.ENVELOPE_EXHAUSTED, envelope.id, amount,
                             exhausted.holds)
    await store.insert_allocation(uow.conn, allocation)
    uow.emit(FundsAllocated(cite_id=cite.cite_id, allocation_id=allocation_id,
                            envelope_id=envelope.id, programme=envelope.programme, year=year,
                            amount=amount, envelope_remaining=after[envelope.account],
                            allocated_at=uow.now, dotation_rule=rule, dotation_basis=basis))
    return 1


async def _grant_fonds(uow: UnitOfWork, cite: Cite, year: int, envelopes: list[Envelope]
                       ) -> int:
    """The fonds de la cité of the year, to the collège chef de file as partners last
    designated it (the label's lead collège until partners has said)."""
    grant_id = derived_id("fonds", cite.cite_id, year)
    fonds = Account.of(AccountKind.FONDS, grant_id)
    shares = [e for e in envelopes if e.fonds_share > 0]
    try:
        await store.move(uow.conn, [
            (Movement(MovementKind.GRANT, e.account, fonds, e.fonds_share),
             Trace(e.id, e.programme, cite.cite_id, year)) for e in shares], uow.now)
    except LimitExceeded as exhausted:
        short = next(e for e in shares if e.account == exhausted.account)
        return await _refuse(uow, cite, year, short.programme,
                             AllocationRefusalReason.ENVELOPE_EXHAUSTED, short.id,
                             short.fonds_share, exhausted.holds)
    lead = await store.chef_de_file(uow.conn, cite.cite_id)
    uai = lead[1] if lead else cite.lead_college_uai
    await store.insert_fonds(uow.conn, grant_id, cite.cite_id, year, uai,
                             lead[0] if lead else None, uow.now)
    uow.emit(FondsDeLaCiteGranted(
        cite_id=cite.cite_id, grant_id=grant_id, year=year, lead_college_uai=uai,
        contributions=tuple(ProgrammeAmount(programme=e.programme, amount=e.fonds_share)
                            for e in sorted(shares, key=lambda e: e.programme)),
        granted_at=uow.now, chef_de_file_partner_id=lead[0] if lead else None))
    return 1


async def _refuse(uow: UnitOfWork, cite: Cite, year: int, programme: BudgetProgramme,
                  reason: AllocationRefusalReason, envelope_id: UUID | None, requested: int,
                  available: int) -> int:
    """Tell a refusal once per cité, year, programme and reason."""
    if not await store.record_refusal(uow.conn, cite.cite_id, year, programme, reason.value,
                                      uow.now):
        return 0
    uow.emit(AllocationRefused(cite_id=cite.cite_id, envelope_id=envelope_id, year=year,
                               requested=requested, available=available, reason=reason,
                               refused_at=uow.now, programme=programme))
    return 1


async def allocate_manually(uow: UnitOfWork, cite_id: str, envelope_id: UUID, year: int,
                            amount: int, basis: str, actor: Actor, allocation_id: UUID
                            ) -> tuple[Allocation, bool]:
    """An allocation decided by the national coordination, beside the dotations."""
    # The cité first: the same key sent twice at once waits here, then finds the first.
    cite = await _cite(uow, cite_id)
    found = await store.get_allocation(uow.conn, allocation_id)
    if found is not None:
        _same_command(found.cite_id == cite_id and found.envelope_id == envelope_id
                      and found.year == year and found.amount == amount, "allocation",
                      allocation_id)
        return found, False
    cite.ensure_unfrozen()
    envelope = await store.get_envelope(uow.conn, envelope_id)
    if envelope is None:
        raise NotFound.of("envelope", envelope_id)
    if cite.wave_id not in envelope.wave_ids or year not in envelope.budget_years:
        raise Conflict(f"envelope {envelope_id} funds waves {', '.join(envelope.wave_ids)} "
                       f"in {', '.join(map(str, envelope.budget_years))}; cité {cite_id} is "
                       f"of wave {cite.wave_id} and this is {year}")
    if year not in range(cite.label_start.year, cite.label_end.year + 1):
        raise Conflict(f"cité {cite_id}'s label runs {cite.label_start}–{cite.label_end}: "
                       f"nothing is allocated to it for {year}")
    await _allocate(uow, cite, envelope, year, amount, DotationRuleKind.MANUAL, basis,
                    allocation_id)
    allocation = await store.get_allocation(uow.conn, allocation_id)
    assert allocation is not None
    _log_acted("allocated by hand", actor, cite_id=cite_id, allocation_id=allocation_id)
    return allocation, True


def _same_command(same: bool, what: str, key: UUID) -> None:
    if not same:
        raise Conflict(f"this Idempotency-Key already made {what} {key} with other values: "
                       "a new command needs a new key")


# --- the alliance, from partners' events --------------------------------------------------


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


# --- commitments, payments, co-financing ---------------------------------------------------


async def commit_funds(uow: UnitOfWork, cite_id: str, allocation_id: UUID, operator: UUID,
                       action_title: str, amount: int, actor: Actor, commitment_id: UUID
                       ) -> tuple[Commitment, bool]:
    """Commit part of an allocation to an action of an alliance member (the préfecture of
    the cité's département)."""
    cite = await _cite(uow, cite_id, lock="share")  # a freeze waits for us, or we for it
    actor.ensure_acts_for(cite.departement)  # before a retry's answer: it is theirs only
    found = await store.get_commitment(uow.conn, commitment_id)
    if found is not None:
        _same_command(found.cite_id == cite_id and found.allocation_id == allocation_id
                      and found.operator_partner_id == operator and found.amount == amount,
                      "commitment", commitment_id)
        return found, False
    allocation = await store.get_allocation(uow.conn, allocation_id)
    if allocation is None or allocation.cite_id != cite_id:
        raise NotFound(f"allocation {allocation_id} is not one of cité {cite_id}'s")
    movement, committed = cite.commit(
        AllocationFunds(allocation_id, allocation.envelope_id, allocation.programme,
                        allocation.year, 0, 0),
        commitment_id=commitment_id, operator=operator,
        operator_is_member=await store.is_current_member(uow.conn, cite_id, operator),
        action_title=action_title, amount=amount, at=uow.now)
    commitment = Commitment(commitment_id, cite_id, allocation_id, operator, action_title,
                            amount, amount, False, uow.now)
    if not await store.insert_commitment(uow.conn, commitment):
        return await commit_funds(uow, cite_id, allocation_id, operator, action_title, amount,
                                  actor, commitment_id)  # the same key, committed meanwhile
    await store.move(uow.conn, [(movement, Trace(allocation.envelope_id, allocation.programme,
                                                 cite_id, allocation.year))], uow.now)
    uow.emit(committed)
    return commitment, True


async def pay(uow: UnitOfWork, commitment_id: UUID, amount: int, actor: Actor,
              payment_id: UUID) -> tuple[Commitment, bool]:
    """Pay the operator against a commitment (never more than it has not paid)."""
    commitment = await store.get_commitment(uow.conn, commitment_id, for_update=True)
    if commitment is None:
        raise NotFound.of("commitment", commitment_id)
    cite = await _cite(uow, commitment.cite_id, lock=None)
    actor.ensure_acts_for(cite.departement)  # before a retry's answer: it is theirs only
    found = await store.get_payment(uow.conn, payment_id)
    if found is not None:
        _same_command(found["commitment_id"] == commitment_id and found["amount"] == amount,
                      "payment", payment_id)
        return commitment, False
    movement, paid = commitment.pay(payment_id, amount, uow.now)
    allocation = await store.get_allocation(uow.conn, commitment.allocation_id)
    assert allocation is not None
    if not await store.insert_payment(uow.conn, payment_id, commitment_id, amount, uow.now):
        return await pay(uow, commitment_id, amount, actor, payment_id)
    after = await store.move(uow.conn, [(movement, Trace(
        allocation.envelope_id, allocation.programme, cite.cite_id, allocation.year))],
        uow.now)
    uow.emit(paid)
    return _with_unpaid(commitment, after[commitment.account]), True


async def cancel_commitment(uow: UnitOfWork, commitment_id: UUID, motive: str, actor: Actor
                            ) -> Commitment:
    """What the commitment has not paid goes back to its allocation."""
    commitment = await store.get_commitment(uow.conn, commitment_id, for_update=True)
    if commitment is None:
        raise NotFound.of("commitment", commitment_id)
    cite = await _cite(uow, commitment.cite_id, lock="share")
    actor.ensure_acts_for(cite.departement)
    # Read after the lock: a payment that committed meanwhile counts.
    commitment = _with_unpaid(commitment, await store.balance(uow.conn, commitment.account))
    movements, events = cite.cancel(commitment, motive, uow.now)
    if not events:
        return commitment
    allocation = await store.get_allocation(uow.conn, commitment.allocation_id)
    assert allocation is not None
    trace = Trace(allocation.envelope_id, allocation.programme, cite.cite_id, allocation.year)
    await store.cancel_commitment(uow.conn, commitment_id, motive, uow.now)
    await store.move(uow.conn, [(m, trace) for m in movements], uow.now)
    for e in events:
        uow.emit(e)
    return replace(commitment, unpaid=0, cancelled=True)


def _with_unpaid(c: Commitment, unpaid: int) -> Commitment:
    return replace(c, unpaid=unpaid)


async def declare_cofinancing(uow: UnitOfWork, cite_id: str, year: int, funder: str,
                              amount: int, actor: Actor, cofinancing_id: UUID) -> bool:
    """A local authority's money for a cité and a year, beside the State's."""
    cite = await _cite(uow, cite_id, lock=None)
    actor.ensure_acts_for(cite.departement)  # before a retry's answer: it is theirs only
    found = await store.get_cofinancing(uow.conn, cofinancing_id)
    if found is not None:
        _same_command(found["cite_id"] == cite_id and found["year"] == year
                      and found["amount"] == amount, "co-financing", cofinancing_id)
        return False
    if year not in range(cite.label_start.year, cite.label_end.year + 1):
        raise RuleBroken([RuleFailure(
            rule="year_in_label", field="year",
            message=f"cité {cite_id}'s label runs {cite.label_start}–{cite.label_end}: "
                    f"{year} is outside it")])
    if not await store.insert_cofinancing(uow.conn, cofinancing_id, cite_id, year, funder,
                                          amount, uow.now):
        return False
    uow.emit(CoFinancingDeclared(cite_id=cite_id, cofinancing_id=cofinancing_id, year=year,
                                 funder=funder, amount=amount, declared_at=uow.now))
    return True
