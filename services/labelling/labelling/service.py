"""Use cases: each opens one unit of work, loads, asks the domain, saves state and events.

State and events commit together (the outbox is in the same transaction); a refusal
raises a DomainError and rolls everything back. Aggregates are locked (``FOR NO KEY UPDATE``)
while they change, so two concurrent commands on one candidature or cité serialise and
the second sees the first's result (a repeated decision is then a no-op).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date, datetime
from uuid import UUID, uuid4

from cites_runtime.app import Runtime
from cites_runtime.uow import Cause, UnitOfWork

from . import store
from .domain import (
    Actor,
    Candidature,
    CandidatureIn,
    Dossier,
    Label,
    LabelEvent,
    NotFound,
    Outcome,
    PerimeterAdditionIn,
    RuleBroken,
    Wave,
    first_period,
)
from .domain.dossier import STORED
from .domain.errors import Conflict
from .domain.label import HistoryEntry, check_convention_date
from .settings import LabellingSettings

__all__ = [
    "close_wave",
    "decide",
    "draft_candidature",
    "expire_due_labels",
    "extend_perimeter",
    "open_wave",
    "plan_wave",
    "record_convention",
    "reinstate_label",
    "renew_label",
    "revise_candidature",
    "score_candidature",
    "settings_of",
    "submit_candidature",
    "suspend_label",
    "withdraw_candidature",
    "withdraw_label",
]


def settings_of(runtime: Runtime) -> LabellingSettings:
    s = runtime.settings
    if not isinstance(s, LabellingSettings):
        raise TypeError("the labelling runtime needs LabellingSettings")
    return s


def _dossier(body: CandidatureIn) -> Dossier:
    # The body passed the door checks already (STORED skips running them twice).
    return Dossier.model_validate(body.model_dump(exclude={"wave_id", "departement"}),
                                  context=STORED)


async def _wave(uow: UnitOfWork, wave_id: str, *, for_update: bool = False) -> Wave:
    wave = await store.get_wave(uow.conn, wave_id, for_update=for_update)
    if wave is None:
        raise NotFound("wave", wave_id)
    return wave


async def _candidature(uow: UnitOfWork, candidature_id: UUID) -> tuple[Candidature, Wave]:
    """The candidature, locked until the end of the transaction, and its wave."""
    found = await store.lock_candidature(uow.conn, candidature_id)
    if found is None:
        raise NotFound("candidature", candidature_id)
    return found


async def _record(uow: UnitOfWork, cite_id: str, event: LabelEvent, actor: str | None) -> None:
    """Emit a label event and write it into the cité's history, in the same transaction."""
    uow.emit(event)
    await store.add_history(uow.conn, cite_id, HistoryEntry.of(event), actor)


# --- Waves -----------------------------------------------------------------------------------


async def plan_wave(runtime: Runtime, wave: Wave) -> Wave:
    async with runtime.unit_of_work() as uow:
        if not await store.insert_wave(uow.conn, wave):
            raise Conflict(f"wave {wave.id} exists already")
    return wave


async def _set_wave(runtime: Runtime, wave_id: str, change: Callable[[Wave], bool]) -> Wave:
    async with runtime.unit_of_work() as uow:
        wave = await _wave(uow, wave_id, for_update=True)
        if change(wave):
            await store.save_wave_status(uow.conn, wave)
    return wave


async def open_wave(runtime: Runtime, wave_id: str) -> Wave:
    return await _set_wave(runtime, wave_id, Wave.open)


async def close_wave(runtime: Runtime, wave_id: str) -> Wave:
    return await _set_wave(runtime, wave_id, Wave.close)


# --- Candidatures: the préfecture ------------------------------------------------------------


async def _known_wave(uow: UnitOfWork, wave_id: str) -> Wave:
    # A wave named in a body is input, not a resource in the URL: unknown is a 422.
    wave = await store.get_wave(uow.conn, wave_id)
    if wave is None:
        raise RuleBroken.of("wave_id", "known_wave", f"wave {wave_id!r} does not exist")
    return wave


async def draft_candidature(runtime: Runtime, body: CandidatureIn, actor: Actor,
                            cause: Cause | None = None) -> Candidature:
    now = settings_of(runtime).now()
    async with runtime.unit_of_work(cause) as uow:
        wave = await _known_wave(uow, body.wave_id)
        c = Candidature.draft(id=uuid4(), wave=wave, departement=body.departement,
                              dossier=_dossier(body), actor=actor, now=now)
        await store.insert_candidature(uow.conn, c)
    return c


async def revise_candidature(runtime: Runtime, candidature_id: UUID, body: CandidatureIn,
                             actor: Actor, cause: Cause | None = None) -> Candidature:
    now = settings_of(runtime).now()
    async with runtime.unit_of_work(cause) as uow:
        c, _ = await _candidature(uow, candidature_id)
        actor.ensure_acts_for(c.departement)  # before telling anything about the wave
        wave = await _known_wave(uow, body.wave_id)
        c.revise(wave=wave, departement=body.departement, dossier=_dossier(body), actor=actor,
                 now=now)
        await store.save_candidature(uow.conn, c, dossier=True)
    return c


async def submit_candidature(runtime: Runtime, candidature_id: UUID, actor: Actor,
                             cause: Cause | None = None) -> Candidature:
    s = settings_of(runtime)
    async with runtime.unit_of_work(cause) as uow:
        c, wave = await _candidature(uow, candidature_id)
        event = c.submit(wave=wave, actor=actor, now=s.now(), today=s.today())
        if event is not None:
            await store.save_candidature(uow.conn, c)
            uow.emit(event)
    return c


async def withdraw_candidature(runtime: Runtime, candidature_id: UUID, motive: str | None,
                               actor: Actor, cause: Cause | None = None) -> Candidature:
    now = settings_of(runtime).now()
    async with runtime.unit_of_work(cause) as uow:
        c, _ = await _candidature(uow, candidature_id)
        before = c.status
        event = c.withdraw(actor=actor, motive=motive, now=now)
        if c.status is not before:
            await store.save_candidature(uow.conn, c)
        if event is not None:
            uow.emit(event)
    return c


# --- Candidatures: the national coordination -------------------------------------------------


async def score_candidature(runtime: Runtime, candidature_id: UUID,
                            scores: Mapping[str, tuple[int, str]], actor: Actor,
                            cause: Cause | None = None) -> Candidature:
    now = settings_of(runtime).now()
    async with runtime.unit_of_work(cause) as uow:
        c, wave = await _candidature(uow, candidature_id)
        event = c.score(wave=wave, scores=scores, actor=actor, now=now)
        await store.save_candidature(uow.conn, c, scores=True)
        if event is not None:
            uow.emit(event)
    return c


async def decide(runtime: Runtime, candidature_id: UUID, outcome: Outcome, motive: str, *,
                 actor: Actor, convention_signed_on: date | None = None,
                 cause: Cause | None = None) -> Candidature:
    """Label or reject. The same decision again changes nothing and emits nothing."""
    s = settings_of(runtime)
    now, today = s.now(), s.today()
    if outcome is Outcome.REJECT and convention_signed_on is not None:
        raise RuleBroken.of("convention_signed_on", "convention_with_label",
                            "a convention is signed only when a territory is labelled")
    async with runtime.unit_of_work(cause) as uow:
        c, wave = await _candidature(uow, candidature_id)
        if c.already_decided(outcome, wave):
            return c
        if outcome is Outcome.LABEL:
            check_convention_date(convention_signed_on, today)
            # Drawn inside the transaction: the id exists only if the labelling commits.
            cite_id = await store.next_cite_id(uow.conn)
            label, labelled = c.label(wave=wave, cite_id=cite_id,
                                      period=first_period(today, s.label_years),
                                      convention_signed_on=convention_signed_on, motive=motive,
                                      actor=actor, now=now)
            await store.save_candidature(uow.conn, c)
            await store.insert_label(uow.conn, label)
            await _record(uow, cite_id, labelled, actor.subject)
        else:
            rejected = c.reject(wave=wave, motive=motive, actor=actor, now=now)
            await store.save_candidature(uow.conn, c)
            uow.emit(rejected)
    return c


# --- Labels ----------------------------------------------------------------------------------

LabelChange = Callable[[Label, date, datetime], LabelEvent | None]


async def _change_label(runtime: Runtime, cite_id: str, change: LabelChange, actor: Actor,
                        cause: Cause | None) -> Label:
    s = settings_of(runtime)
    now, today = s.now(), s.today()
    async with runtime.unit_of_work(cause) as uow:
        label = await store.get_label(uow.conn, cite_id, for_update=True)
        if label is None:
            raise NotFound("cité", cite_id)
        event = change(label, today, now)
        if event is not None:
            await store.save_label(uow.conn, label)
            await _record(uow, cite_id, event, actor.subject)
    return label


async def renew_label(runtime: Runtime, cite_id: str, *, convention_signed_on: date | None,
                      actor: Actor, cause: Cause | None = None) -> Label:
    years = settings_of(runtime).label_years
    return await _change_label(runtime, cite_id, lambda x, today, now: x.renew(
        years=years, convention_signed_on=convention_signed_on, actor=actor, today=today,
        now=now), actor, cause)


async def extend_perimeter(runtime: Runtime, cite_id: str, addition: PerimeterAdditionIn, *,
                           actor: Actor, cause: Cause | None = None) -> Label:
    return await _change_label(runtime, cite_id, lambda x, today, now: x.extend(
        addition, actor=actor, now=now), actor, cause)


async def record_convention(runtime: Runtime, cite_id: str, signed_on: date, *, actor: Actor,
                            cause: Cause | None = None) -> Label:
    def change(x: Label, today: date, now: datetime) -> LabelEvent | None:
        actor.ensure_acts_for(x.departement)
        return x.record_convention(signed_on, actor=actor, today=today, now=now)

    return await _change_label(runtime, cite_id, change, actor, cause)


async def suspend_label(runtime: Runtime, cite_id: str, motive: str, *, actor: Actor,
                        cause: Cause | None = None) -> Label:
    return await _change_label(runtime, cite_id, lambda x, today, now: x.suspend(
        motive, actor=actor, now=now), actor, cause)


async def reinstate_label(runtime: Runtime, cite_id: str, motive: str | None, *, actor: Actor,
                          cause: Cause | None = None) -> Label:
    return await _change_label(runtime, cite_id, lambda x, today, now: x.reinstate(
        motive, actor=actor, now=now), actor, cause)


async def withdraw_label(runtime: Runtime, cite_id: str, motive: str, *, actor: Actor,
                         cause: Cause | None = None) -> Label:
    return await _change_label(runtime, cite_id, lambda x, today, now: x.withdraw(
        motive, actor=actor, today=today, now=now), actor, cause)


async def expire_due_labels(runtime: Runtime) -> list[str]:
    """Expire every living label whose period ended before today; return the cités this
    call expired. One transaction per label, the row locked with SKIP LOCKED and the
    condition re-checked under the lock: with several replicas running this at once, each
    label expires (and ``LabelExpired`` is emitted) exactly once."""
    s = settings_of(runtime)
    today = s.today()
    expired = []
    for cite_id in await store.due_cite_ids(runtime.pool, today):
        async with runtime.unit_of_work() as uow:
            label = await store.lock_label_if_due(uow.conn, cite_id, today)
            if label is None:
                continue
            event = label.expire(today=today, now=s.now())
            if event is not None:
                await store.save_label(uow.conn, label)
                await _record(uow, cite_id, event, None)
                expired.append(cite_id)
    return expired
