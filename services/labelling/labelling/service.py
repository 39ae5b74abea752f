"""Use cases: ``verb(uow, ..., actor)`` — load, ask the domain, save state and its events.

The caller (an HTTP route, a consumer handler, the expiry job) owns the unit of work: state
and events commit together, and a refusal (a ``DomainError``) rolls everything back. The
time is the unit of work's (``uow.now``, ``uow.today``). Aggregates are locked
(``FOR NO KEY UPDATE``) while they change, so two concurrent commands on one candidature
or cité serialise and the second sees the first's result (a repeated decision is then a
no-op).

What spans aggregates — a QPV or a lead collège held by one cité or pending candidature
(:mod:`.domain.holdings`) — is not guarded by row locks (two candidatures racing for a
QPV lock different rows, and a check of the others' perimeters could not see an
uncommitted claim): each claim is a row keyed by what is held, inserted in the command's
own transaction, so of two racing claims the second waits on the key and is refused.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from uuid import UUID, uuid4

from cites_contracts.events.labelling import (
    CandidatureSubmittedV1,
    ConventionSignatory,
    LabelRenewed,
    TroikaValidation,
)
from cites_contracts.topics import LABELLING_CONTACTS
from cites_contracts.types import LabelPeriod, TroikaRole
from cites_runtime.actor import Actor, Role
from cites_runtime.errors import Conflict, NotFound, RuleBroken
from cites_runtime.logs import get_logger
from cites_runtime.uow import UnitOfWork, civil_date

from . import store
from .domain import (
    Addition,
    Campaign,
    Candidature,
    Content,
    Dossier,
    Label,
    LabelEvent,
    LabelStatus,
    Outcome,
    Review,
    Wave,
    holdings,
)
from .domain.dossier import NewPerimeter, troika_contact_id
from .domain.holdings import Claim, Holder
from .domain.label import PROGRAMME_START, HistoryEntry, check_business_date, check_convention_date
from .domain.records import CiteRecord, RenewalRecord, imported_candidature_id
from .domain.review import FundingEvent, counted

__all__ = [
    "CampaignOpened",
    "amend_convention",
    "apply_for_renewal",
    "close_wave",
    "count_money",
    "decide",
    "draft_candidature",
    "expire_label",
    "extend_perimeter",
    "file_candidature",
    "fill_review",
    "import_cite",
    "note_overdue_review",
    "open_review_campaign",
    "open_wave",
    "plan_wave",
    "record_convention",
    "refuse_renewal",
    "reinstate_label",
    "renew_label",
    "return_candidature",
    "revise_candidature",
    "score_candidature",
    "submit_candidature",
    "submit_review",
    "suspend_label",
    "validate_review",
    "withdraw_candidature",
    "withdraw_label",
]

log = get_logger(__name__)


async def _wave(uow: UnitOfWork, wave_id: str, *, for_update: bool = False) -> Wave:
    wave = await store.get_wave(uow.conn, wave_id, for_update=for_update)
    if wave is None:
        raise NotFound.of("wave", wave_id)
    return wave


async def _known_wave(uow: UnitOfWork, wave_id: str) -> Wave:
    # A wave named in a body is input, not a resource in the URL: unknown is a 422.
    wave = await store.get_wave(uow.conn, wave_id)
    if wave is None:
        raise RuleBroken.of("wave_id", "known_wave", f"wave {wave_id!r} does not exist")
    return wave


async def _candidature(uow: UnitOfWork, candidature_id: UUID) -> tuple[Candidature, Wave]:
    """The candidature, locked until the end of the transaction, and its wave."""
    found = await store.lock_candidature(uow.conn, candidature_id)
    if found is None:
        raise NotFound.of("candidature", candidature_id)
    return found


async def _label(uow: UnitOfWork, cite_id: str) -> Label:
    """The cité's label, locked until the end of the transaction."""
    label = await store.get_label(uow.conn, cite_id, for_update=True)
    if label is None:
        raise NotFound.of("cité", cite_id)
    return label


async def _record(uow: UnitOfWork, label: Label, event: LabelEvent | None,
                  actor: Actor, *, citing: UUID | None = None) -> Label:
    """Save a label the domain changed, emit its event and write it into the cité's
    history, in the same transaction; nothing when the command changed nothing.
    ``citing``: the revue de projet the decision cites (a submitted review of the cité,
    422 otherwise), carried by its event."""
    if event is not None and citing is not None:
        await _ensure_citable(uow, label.cite_id, citing)
        event = event.model_copy(update={"review_id": citing})
    if event is not None:
        await store.save_label(uow.conn, label)
        uow.emit(event)
        await store.add_history(uow.conn, label.cite_id, HistoryEntry.of(event),
                                _audited(actor))
    return label


async def _ensure_citable(uow: UnitOfWork, cite_id: str, review_id: UUID) -> None:
    review = await store.get_review(uow.conn, review_id)
    if review is None or review.cite_id != cite_id or review.submitted_on is None:
        raise RuleBroken.of("review_id", "review_cited",
                            f"a decision on {cite_id} cites one of its revues de projet "
                            f"submitted to the coordination; {review_id} is not one")


async def _claim(uow: UnitOfWork, claims: list[Claim], holder: Holder) -> None:
    """Hold ``claims`` for ``holder`` in this transaction, or refuse the command (409)
    naming what others hold."""
    holdings.refuse_taken(await store.claim(uow.conn, claims, holder, uow.now))


def _audited(actor: Actor) -> str | None:
    """Who the cité's history names: the token's subject; nobody for the platform."""
    return None if actor.role is Role.SYSTEM else actor.subject


# --- Waves -----------------------------------------------------------------------------------


async def plan_wave(uow: UnitOfWork, wave: Wave, actor: Actor) -> Wave:
    if not await store.insert_wave(uow.conn, wave):
        raise Conflict(f"wave {wave.id} exists already")
    _log_wave("wave planned", wave, actor)
    return wave


async def open_wave(uow: UnitOfWork, wave_id: str, actor: Actor) -> Wave:
    wave = await _wave(uow, wave_id, for_update=True)
    if wave.open():
        await store.save_wave_status(uow.conn, wave)
        _log_wave("wave opened", wave, actor)
    return wave


async def close_wave(uow: UnitOfWork, wave_id: str, actor: Actor) -> Wave:
    wave = await _wave(uow, wave_id, for_update=True)
    if wave.close():
        await store.save_wave_status(uow.conn, wave)
        _log_wave("wave closed", wave, actor)
    return wave


def _log_wave(what: str, wave: Wave, actor: Actor) -> None:
    """Waves emit no event and keep no history: the log says who changed one."""
    log.info(what, wave_id=wave.id, actor_role=actor.role.value, actor=_audited(actor))


# --- Candidatures: the préfecture ------------------------------------------------------------


async def draft_candidature(uow: UnitOfWork, wave_id: str, departement: str, dossier: Dossier,
                            actor: Actor) -> Candidature:
    wave = await _known_wave(uow, wave_id)
    c = Candidature.draft(id=uuid4(), wave=wave, departement=departement, dossier=dossier,
                          actor=actor, now=uow.now)
    await store.insert_candidature(uow.conn, c)
    return c


async def revise_candidature(uow: UnitOfWork, candidature_id: UUID, wave_id: str,
                             departement: str, dossier: Dossier, actor: Actor) -> Candidature:
    c, _ = await _candidature(uow, candidature_id)
    c.ensure_preparable_by(actor)  # before telling anything about the wave
    wave = await _known_wave(uow, wave_id)
    c.revise(wave=wave, departement=departement, dossier=dossier, actor=actor, now=uow.now)
    await store.save_candidature(uow.conn, c, dossier=True)
    return c


async def file_candidature(uow: UnitOfWork, candidature_id: UUID, actor: Actor
                           ) -> Candidature:
    """A rectorat or a commune files its draft with the préfecture (no event: the
    préfecture's submission is the programme's)."""
    c, _ = await _candidature(uow, candidature_id)
    if c.file(actor=actor, now=uow.now):
        await store.save_candidature(uow.conn, c)
        log.info("candidature filed with the préfecture", candidature_id=str(c.id),
                 actor_role=actor.role.value, actor=_audited(actor))
    return c


async def return_candidature(uow: UnitOfWork, candidature_id: UUID, motive: str,
                             actor: Actor) -> Candidature:
    """The préfecture returns a filed draft to the rectorat and the commune, with a
    motive (no event: the draft was never announced)."""
    c, _ = await _candidature(uow, candidature_id)
    c.return_to_preparers(actor=actor, motive=motive, now=uow.now)
    await store.save_candidature(uow.conn, c)
    return c


async def submit_candidature(uow: UnitOfWork, candidature_id: UUID, actor: Actor
                             ) -> Candidature:
    c, wave = await _candidature(uow, candidature_id)
    event = c.submit(wave=wave, actor=actor, now=uow.now, today=uow.today)
    if event is not None:
        await _claim(uow, c.claims(), Holder(candidature_id=c.id))
        await store.save_candidature(uow.conn, c)
        for card in c.dossier.troika_cards(c.id, uow.now):  # the addresses, erasable
            uow.emit(card)
        uow.emit(event)
    return c


async def erase_signatory(uow: UnitOfWork, candidature_id: UUID, role: TroikaRole,
                          actor: Actor) -> bool:
    """Erase a troïka signatory's address for good, everywhere it went: the dossier, every
    outbox row that held it (its card, by contact id, published or pending), its card on
    Kafka (a tombstone, which compaction makes the only record of its key) and the
    retired events that carried it. False when there was nothing left to erase."""
    c, _ = await _candidature(uow, candidature_id)
    email = c.erase_signatory(role, actor=actor, now=uow.now)
    if email is None:
        return False
    await store.save_candidature(uow.conn, c, dossier=True)
    await uow.erase(LABELLING_CONTACTS, str(troika_contact_id(c.id, role)))
    await uow.redact_retired([CandidatureSubmittedV1], str(c.id), array="troika",
                             field="email", value=email)
    return True


async def withdraw_candidature(uow: UnitOfWork, candidature_id: UUID, motive: str | None,
                               actor: Actor) -> Candidature:
    c, _ = await _candidature(uow, candidature_id)
    before = c.status
    event = c.withdraw(actor=actor, motive=motive, now=uow.now)
    if c.status is not before:
        await store.save_candidature(uow.conn, c)
        await store.release(uow.conn, Holder(candidature_id=c.id))
    if event is not None:
        uow.emit(event)
    return c


# --- Candidatures: the national coordination -------------------------------------------------


async def score_candidature(uow: UnitOfWork, candidature_id: UUID,
                            scores: Mapping[str, tuple[int, str]], actor: Actor) -> Candidature:
    c, wave = await _candidature(uow, candidature_id)
    event = c.score(wave=wave, scores=scores, actor=actor, now=uow.now)
    await store.save_candidature(uow.conn, c, scores=True)
    if event is not None:
        uow.emit(event)
    return c


async def decide(uow: UnitOfWork, candidature_id: UUID, outcome: Outcome, motive: str, *,
                 label_years: int, decided_on: date | None = None,
                 convention_signed_on: date | None = None, actor: Actor) -> Candidature:
    """Label or reject, as decided on ``decided_on`` (today by default; not before the
    candidature was filed). The same decision again changes nothing and emits nothing."""
    if outcome is Outcome.REJECT and convention_signed_on is not None:
        raise RuleBroken.of("convention_signed_on", "convention_with_label",
                            "a convention is signed only when a territory is labelled")
    c, wave = await _candidature(uow, candidature_id)
    if c.already_decided(outcome, wave):
        return c
    decided_on = decided_on or uow.today
    filed_on = c.filed_on or (c.submitted_at and civil_date(c.submitted_at, uow.zone))
    if filed_on is not None:
        check_business_date(decided_on, "decided_on", "decision", today=uow.today,
                            not_before=filed_on, what="the candidature's filing")
    if outcome is Outcome.LABEL:
        check_convention_date(convention_signed_on, uow.today, decided_on)
        # Held since its submission; claimed again for a candidature pending from before
        # holdings existed (migration 0003 gave an overlapping one's QPVs to the earliest).
        await _claim(uow, c.claims(), Holder(candidature_id=c.id))
        # Drawn inside the transaction: the id exists only if the labelling commits.
        cite_id = await store.next_cite_id(uow.conn)
        label, labelled = c.label(wave=wave, cite_id=cite_id,
                                  period=wave.term.period(decided_on, label_years),
                                  decided_on=decided_on,
                                  convention_signed_on=convention_signed_on, motive=motive,
                                  actor=actor, now=uow.now)
        await store.save_candidature(uow.conn, c)
        uow.emit(labelled)
        await store.open_cite(uow.conn, label, HistoryEntry.of(labelled), _audited(actor))
    else:
        rejected = c.reject(wave=wave, motive=motive, decided_on=decided_on, actor=actor,
                            now=uow.now)
        await store.save_candidature(uow.conn, c)
        await store.release(uow.conn, Holder(candidature_id=c.id))
        uow.emit(rejected)
    return c


# --- Labels ----------------------------------------------------------------------------------


async def apply_for_renewal(uow: UnitOfWork, cite_id: str, actor: Actor,
                            filed_on: date | None = None) -> Label:
    """The cité's préfecture re-applies for its label (inside the renewal window)."""
    label = await _label(uow, cite_id)
    actor.ensure_acts_for(label.departement)
    wave = await _wave(uow, label.wave.id)  # its rule set says when renewal opens
    event = label.apply_for_renewal(window=wave.rules.renewal, filed_on=filed_on or uow.today,
                                    actor=actor, today=uow.today, now=uow.now)
    return await _record(uow, label, event, actor)


async def renew_label(uow: UnitOfWork, cite_id: str, *, label_years: int,
                      convention_signed_on: date | None, actor: Actor,
                      decided_on: date | None = None, period: LabelPeriod | None = None,
                      perimeter: NewPerimeter | None = None, review_id: UUID | None = None
                      ) -> Label:
    label = await _label(uow, cite_id)
    wave = await _wave(uow, label.wave.id)  # its rule set says when renewal opens
    event = label.renew(years=label_years, window=wave.rules.renewal,
                        decided_on=decided_on or uow.today,
                        convention_signed_on=convention_signed_on, actor=actor,
                        today=uow.today, now=uow.now, period=period, perimeter=perimeter)
    await _hold_renewed(uow, label, event)
    return await _record(uow, label, event, actor, citing=review_id)


async def _hold_renewed(uow: UnitOfWork, label: Label, event: LabelEvent) -> None:
    """A renewal that changes the perimeter: the cité holds its new QPVs (and its lead
    collège) instead of the old ones, unless another holds one (409, nothing changed)."""
    if isinstance(event, LabelRenewed) and event.perimeter is not None:
        holder = Holder(cite_id=label.cite_id)
        await store.release(uow.conn, holder)
        await _claim(uow, holdings.claims((q.code for q in event.perimeter.qpvs),
                                          label.lead_college_uai), holder)


async def refuse_renewal(uow: UnitOfWork, cite_id: str, motive: str, actor: Actor,
                         decided_on: date | None = None, review_id: UUID | None = None) -> Label:
    label = await _label(uow, cite_id)
    event = label.refuse_renewal(motive, decided_on=decided_on or uow.today, actor=actor,
                                 today=uow.today, now=uow.now)
    return await _record(uow, label, event, actor, citing=review_id)


async def extend_perimeter(uow: UnitOfWork, cite_id: str, addition: Addition,
                           actor: Actor, decided_on: date | None = None) -> Label:
    label = await _label(uow, cite_id)
    event = label.extend(addition, decided_on=decided_on or uow.today, actor=actor,
                         today=uow.today, now=uow.now)
    if event is not None:  # the QPVs it adds become the cité's, unless another holds one
        await _claim(uow, holdings.claims(q.code for q in event.added.qpvs),
                     Holder(cite_id=cite_id))
    return await _record(uow, label, event, actor)


async def record_convention(uow: UnitOfWork, cite_id: str, signed_on: date, actor: Actor,
                            signatories: tuple[ConventionSignatory, ...] = ()) -> Label:
    label = await _label(uow, cite_id)
    actor.ensure_acts_for(label.departement)
    event = label.record_convention(signed_on, actor=actor, today=uow.today, now=uow.now,
                                    signatories=signatories)
    if event is not None:
        await store.save_convention(uow.conn, cite_id, label.periods[-1])
    return await _record(uow, label, event, actor)


async def amend_convention(uow: UnitOfWork, cite_id: str, object: str, signed_on: date | None,
                           actor: Actor) -> Label:
    label = await _label(uow, cite_id)
    actor.ensure_acts_for(label.departement)
    event = label.amend_convention(object, signed_on=signed_on or uow.today, actor=actor,
                                   today=uow.today, now=uow.now)
    if event is not None:
        await store.save_convention(uow.conn, cite_id, label.periods[-1])
    return await _record(uow, label, event, actor)


async def suspend_label(uow: UnitOfWork, cite_id: str, motive: str, actor: Actor,
                        effective_on: date | None = None, review_id: UUID | None = None) -> Label:
    label = await _label(uow, cite_id)
    event = label.suspend(motive, effective_on=effective_on or uow.today, actor=actor,
                          today=uow.today, now=uow.now)
    return await _record(uow, label, event, actor, citing=review_id)


async def reinstate_label(uow: UnitOfWork, cite_id: str, motive: str | None, actor: Actor,
                          effective_on: date | None = None) -> Label:
    label = await _label(uow, cite_id)
    event = label.reinstate(motive, effective_on=effective_on or uow.today, actor=actor,
                            today=uow.today, now=uow.now)
    return await _record(uow, label, event, actor)


async def withdraw_label(uow: UnitOfWork, cite_id: str, motive: str, actor: Actor,
                         effective_on: date | None = None, review_id: UUID | None = None) -> Label:
    label = await _label(uow, cite_id)
    event = label.withdraw(motive, effective_on=effective_on or uow.today, actor=actor,
                           today=uow.today, now=uow.now)
    if event is not None:
        await store.release(uow.conn, Holder(cite_id=cite_id))
    return await _record(uow, label, event, actor, citing=review_id)


async def expire_label(uow: UnitOfWork, cite_id: str, actor: Actor) -> bool:
    """Expire the cité's label if it is still due today; False when it is not (any more),
    or another replica is expiring it right now. The row is locked with SKIP LOCKED and
    the condition re-checked under the lock: with several replicas running the expiry job
    at once, each label expires (and ``LabelExpired`` is emitted) exactly once."""
    label = await store.lock_label_if_due(uow.conn, cite_id, uow.today)
    if label is None:
        return False
    event = label.expire(today=uow.today, now=uow.now)
    if event is not None:
        await store.release(uow.conn, Holder(cite_id=cite_id))
    await _record(uow, label, event, actor)
    return event is not None


# --- The programme's past, imported ----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Imported:
    """What an import did with one record: ``imported`` (the cité is new), ``completed``
    (renewals added to a cité imported before), ``unchanged`` (imported as it is)."""

    reference: str
    cite_id: str
    candidature_id: UUID
    outcome: str
    status: LabelStatus


async def import_cite(uow: UnitOfWork, record: CiteRecord, actor: Actor) -> Imported:
    """Bring one cité of the programme's past in as the live path would have recorded it —
    candidature (its troïka's cards), label, renewals, and its expiry if its last period
    is over — every event dated in business time; the unit of work's cause marks them
    imported. The same record again changes nothing; one adding renewals applies them;
    one saying otherwise about the past is refused (409), as is anything the live rules
    refuse (holdings, dates in order, renewal windows), and nothing of the cité is kept."""
    known = await store.lock_import(uow.conn, record.reference)
    if known is not None:
        return await _import_again(uow, known, record, actor)
    wave = await _known_wave(uow, record.wave_id)
    check_business_date(record.filed_on, "filed_on", "filing", today=uow.today,
                        not_before=wave.filing.opens_on if wave.filing else PROGRAMME_START,
                        what=f"the call of wave {wave.id}")
    check_business_date(record.decided_on, "decided_on", "decision", today=uow.today,
                        not_before=record.filed_on, what="the candidature's filing")
    check_convention_date(record.convention_signed_on, uow.today, record.decided_on)
    c, submitted = Candidature.imported(
        id=imported_candidature_id(record.reference), wave=wave,
        departement=record.departement, dossier=record.dossier, filed_on=record.filed_on,
        actor=actor, now=uow.now)
    await store.insert_candidature(uow.conn, c)
    await _claim(uow, c.claims(), Holder(candidature_id=c.id))
    for card in c.dossier.troika_cards(c.id, uow.now):
        uow.emit(card)
    uow.emit(submitted)
    cite_id = await store.next_cite_id(uow.conn)
    label, labelled = c.record_label(
        wave=wave, cite_id=cite_id, period=wave.term.period(record.decided_on,
                                                            record.label_years),
        decided_on=record.decided_on, convention_signed_on=record.convention_signed_on,
        motive=record.motive, actor=actor, now=uow.now)
    await store.save_candidature(uow.conn, c)
    await store.open_cite(uow.conn, label, HistoryEntry.of(labelled), _audited(actor))
    uow.emit(labelled.model_copy(update={"reference": record.reference}))
    await _renew_as_recorded(uow, label, wave, record.renewals, actor)
    await store.save_import(uow.conn, record, cite_id, uow.now, _audited(actor))
    return Imported(record.reference, cite_id, c.id, "imported", label.status)


async def _import_again(uow: UnitOfWork, known: store.ImportedRecord, record: CiteRecord,
                        actor: Actor) -> Imported:
    before = known.record
    if record == before:
        label = await _label(uow, known.cite_id)
        return Imported(record.reference, known.cite_id, label.candidature_id, "unchanged",
                        label.status)
    done = len(before.settled)  # a re-application imported pending may be decided since
    waiting = before.renewals[done:]
    if (record.without_renewals() != before.without_renewals()
            or record.renewals[:done] != before.settled
            or any(r.filed_on != w.filed_on for r, w in zip(record.renewals[done:], waiting,
                                                             strict=False))
            or len(record.renewals) < len(before.renewals)):
        differ = before.differences(record)
        raise Conflict(
            f"{record.reference} was imported on {known.imported_at.date()} as "
            f"{known.cite_id} with other facts ({', '.join(differ)}): an import adds "
            "renewals to a cité's history but does not rewrite it (the live commands "
            "change a cité from now on)")
    label = await _label(uow, known.cite_id)
    wave = await _wave(uow, label.wave.id)
    await _renew_as_recorded(uow, label, wave, record.renewals[done:], actor)
    await store.save_import(uow.conn, record, known.cite_id, uow.now, _audited(actor))
    return Imported(record.reference, known.cite_id, label.candidature_id, "completed",
                    label.status)


async def _renew_as_recorded(uow: UnitOfWork, label: Label, wave: Wave,
                             renewals: Sequence[RenewalRecord], actor: Actor) -> None:
    """Apply recorded renewals (each re-application, then its decision) under the live
    rules, then expire the label if its last period is over by today and no
    re-application waits."""
    for r in renewals:
        if r.filed_on is not None:  # once: a re-application already pending is a no-op
            await _record(uow, label, label.apply_for_renewal(
                window=wave.rules.renewal, filed_on=r.filed_on, actor=actor,
                today=uow.today, now=uow.now), actor)
        if r.decided_on is None:
            continue  # waiting for its decision: the label does not expire meanwhile
        renewed = label.renew(
            years=r.years, window=wave.rules.renewal, decided_on=r.decided_on,
            convention_signed_on=r.convention_signed_on, actor=actor, today=uow.today,
            now=uow.now, period=r.period, perimeter=r.perimeter)
        await _hold_renewed(uow, label, renewed)
        await _record(uow, label, renewed, actor)
    expired = label.expire(today=uow.today, now=uow.now)
    if expired is not None:
        await store.release(uow.conn, Holder(cite_id=label.cite_id))
        await _record(uow, label, expired, actor)


# --- Revues de projet (domain/review.py) ------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CampaignOpened:
    """A year's campaign, and the reviews this command opened (0 when every cité of the
    year already had one)."""

    campaign: Campaign
    opened: int


async def open_review_campaign(uow: UnitOfWork, year: int, due_on: date, actor: Actor
                               ) -> CampaignOpened:
    """Open the year's campaign — or open it again, with the same deadline, for the cités
    labelled since: a review for every cité whose label covers part of ``year``."""
    if year > uow.today.year:
        raise RuleBroken.of("year", "review_year_begun",
                            f"the {year} reviews cannot open before {year} has begun")
    campaign = await store.get_campaign(uow.conn, year, for_update=True)
    if campaign is None:
        campaign = Campaign.open(year, due_on, uow.now)
        await store.insert_campaign(uow.conn, campaign)  # a racing twin waits, then 409s
    else:
        campaign.ensure_same_deadline(due_on)
    reviews = []
    for cite_id, departement in await store.cites_to_review(uow.conn, year):
        review, event = Review.open(cite_id=cite_id, departement=departement,
                                    campaign=campaign, actor=actor, now=uow.now)
        reviews.append(review)
        uow.emit(event)
    await store.insert_reviews(uow.conn, reviews)
    log.info("review campaign opened", year=year, due_on=str(campaign.due_on),
             opened=len(reviews))
    return CampaignOpened(campaign, len(reviews))


async def _review(uow: UnitOfWork, review_id: UUID, actor: Actor) -> Review:
    """The review, locked until the end of the transaction, if the actor acts for its
    cité's département."""
    review = await store.get_review(uow.conn, review_id, for_update=True)
    if review is None:
        raise NotFound.of("review", review_id)
    actor.ensure_acts_for(review.departement)
    return review


async def fill_review(uow: UnitOfWork, review_id: UUID, content: Content, actor: Actor
                      ) -> Review:
    review = await _review(uow, review_id, actor)
    review.fill(content, now=uow.now)
    await store.save_review(uow.conn, review)
    return review


async def validate_review(uow: UnitOfWork, review_id: UUID,
                          validations: tuple[TroikaValidation, ...], actor: Actor) -> Review:
    review = await _review(uow, review_id, actor)
    event = review.validate(validations, actor=actor, today=uow.today, now=uow.now)
    if event is not None:
        await store.save_review(uow.conn, review)
        uow.emit(event)
    return review


async def submit_review(uow: UnitOfWork, review_id: UUID, submitted_on: date | None,
                        actor: Actor) -> Review:
    """Submit the validated review with its year's money as funding's events told it."""
    review = await _review(uow, review_id, actor)
    key = (review.cite_id, review.year)
    money = (await store.money_of(uow.conn, [key]))[key]
    uow.emit(review.submit(money, submitted_on=submitted_on or uow.today, actor=actor,
                           today=uow.today, now=uow.now))
    await store.save_review(uow.conn, review)
    return review


async def note_overdue_review(uow: UnitOfWork, review_id: UUID) -> bool:
    """Note the review overdue if it still is (locked, so two replicas note it once)."""
    review = await store.get_review(uow.conn, review_id, for_update=True)
    if review is None:
        return False
    event = review.note_overdue(today=uow.today, now=uow.now)
    if event is None:
        return False
    await store.save_review(uow.conn, review)
    uow.emit(event)
    return True


async def count_money(uow: UnitOfWork, event: FundingEvent) -> None:
    """Add what one of funding's events moved to its cité's money of the year; an
    allocation or commitment it names that funding never announced is a 409 (its record
    is dead-lettered: its stream is out of order or not funding's)."""
    for c in counted(event):
        year = c.year
        if year is None:
            assert c.year_of is not None
            year = await store.year_of(uow.conn, c.year_of)
            if year is None:
                raise Conflict(f"{type(event).__name__} of {c.cite_id} names {c.year_of}, "
                               "which no allocation or commitment of funding announced")
        if c.remember is not None:
            await store.remember_year(uow.conn, c.remember, c.cite_id, year)
        await store.add_money(uow.conn, c.cite_id, year, **c.deltas)
