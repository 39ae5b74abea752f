"""Use cases: what notifications does with each event it consumes — keep its projection of
who may be written to (:mod:`.projection`), write the notifications the rules table asks
for (rules table → recipients → rendered mail) and queue the webhooks subscribed to it —,
and what its jobs and routes do (sending rounds, reminders, resending, subscriptions).

The caller (a consumer handler, a job, a route) owns the unit of work: the projection's
change, the notifications written, the events emitted and the inbox row commit together.

A notification's id is derived from its cause's ``event_id`` and its recipient, and the
notifications table holds it once: a redelivered event (found in the inbox anyway) or a
republished one (a new event id but… the same facts) never writes a second mail for the
same recipient of the same event.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import timedelta
from typing import Any
from uuid import UUID, uuid4, uuid5

from cites_contracts import Envelope, Event, registry
from cites_contracts.events.funding import FundsCommitted
from cites_contracts.events.labelling import (
    CandidatureSubmitted,
    LabelExpired,
    LabelReinstated,
    LabelRenewed,
    LabelSuspended,
    LabelWithdrawn,
    ProjectReviewOpened,
    ProjectReviewSubmitted,
    TerritoryLabelled,
    TroikaContactPublished,
)
from cites_contracts.events.partners import (
    AllianceOpened,
    ChefDeFileDesignated,
    ContactCardPublished,
    PartnerJoinedAlliance,
    PartnerLeftAlliance,
    PartnerRegistered,
    PartnerUpdated,
)
from cites_runtime.errors import Conflict, NotFound
from cites_runtime.logs import get_logger
from cites_runtime.uow import UnitOfWork

from . import projection, store
from .domain import webhooks
from .domain.cite import CiteStatus
from .domain.notification import Notification, NotificationStatus, SendOutcome
from .domain.recipients import Fact, Recipient, waits_whole
from .domain.retries import Retries
from .domain.review import Review
from .domain.rules import (
    EXPIRY_REMINDER,
    PARTNER_NAMED_BY,
    REVIEW_REMINDER,
    RecipientGroup,
    Reminder,
    ReminderRule,
    Rule,
    rules_for,
)
from .domain.templates import MailContext, render
from .domain.webhooks import Answer, Delivery, DeliveryStatus
from .secret_box import SecretBox

__all__ = [
    "LabelStatusChange",
    "MembershipChange",
    "PartnerState",
    "alliance_opened",
    "announce_imported",
    "candidature_submitted",
    "chef_de_file_designated",
    "cite_labelled",
    "claim_deliveries",
    "claim_mails",
    "delete_subscription",
    "forget_contact",
    "funds_committed",
    "keep_contact_card",
    "keep_partner",
    "keep_troika_card",
    "label_renewed",
    "label_status_changed",
    "membership_changed",
    "notification_id",
    "notify",
    "record_delivery",
    "record_mails",
    "remind_expiry",
    "remind_review",
    "reminder_id",
    "resend_delivery",
    "resend_notification",
    "resume",
    "review_opened",
    "review_submitted",
    "rotate_secret",
    "subscribe",
    "update_subscription",
]

log = get_logger(__name__)

LabelStatusChange = LabelSuspended | LabelReinstated | LabelWithdrawn | LabelExpired
MembershipChange = PartnerJoinedAlliance | PartnerLeftAlliance
PartnerState = PartnerRegistered | PartnerUpdated

_NOTIFICATIONS = UUID("2f5d0c1e-7b8a-4e3f-9a6d-5c4b3a291807")


def notification_id(cause_event_id: UUID, recipient_key: str) -> UUID:
    return uuid5(_NOTIFICATIONS, f"{cause_event_id}/{recipient_key}")


def _field(event: Any, name: str) -> Any:
    return getattr(event, name, None)


# --- the projection: who may be written to --------------------------------------------------


async def keep_troika_card(uow: UnitOfWork, card: TroikaContactPublished) -> None:
    await projection.troika_card(uow, card)


async def keep_contact_card(uow: UnitOfWork, card: ContactCardPublished) -> None:
    await projection.contact_card(uow, card)


async def forget_contact(uow: UnitOfWork, contact_id: UUID) -> None:
    """Erased (a tombstone, ``ContactErased``): the address is deleted at once, and mail not
    yet sent to it fails unsent."""
    await projection.forget(uow, contact_id)


async def keep_partner(uow: UnitOfWork, event: PartnerState) -> None:
    """The registry's partner: its name and kind, its list of consenting contacts."""
    await projection.partner(uow, event)


async def label_renewed(uow: UnitOfWork, event: LabelRenewed) -> None:
    """Active again, until the new period's end (its reminders follow it)."""
    await projection.cite_status(uow, event.cite_id, CiteStatus.ACTIVE,
                                 event.label_period.end)


async def chef_de_file_designated(uow: UnitOfWork, event: ChefDeFileDesignated) -> None:
    await projection.designate_chef_de_file(uow, event.cite_id, event.partner_id)
    await projection.membership(uow, event.cite_id, event.partner_id, True)
    await resume(uow, Fact.alliance(event.cite_id))


# --- events that notify -----------------------------------------------------------------------


async def candidature_submitted(uow: UnitOfWork, event: CandidatureSubmitted,
                                envelope: Envelope[Any]) -> None:
    """Its troïka seated: the acknowledgement, and what waited for the troïka."""
    await projection.candidature_submitted(uow, event)
    await resume(uow, Fact.candidature(event.candidature_id))
    await notify(uow, event, envelope)


async def cite_labelled(uow: UnitOfWork, event: TerritoryLabelled, envelope: Envelope[Any]
                        ) -> None:
    await projection.cite_labelled(uow, event)
    await resume(uow, Fact.cite(event.cite_id))
    await notify(uow, event, envelope)


async def label_status_changed(uow: UnitOfWork, event: LabelStatusChange, status: CiteStatus,
                               envelope: Envelope[Any]) -> None:
    """The label suspended, reinstated, withdrawn or expired: the cité is now ``status``."""
    await projection.cite_status(uow, event.cite_id, status)
    await notify(uow, event, envelope)


async def review_opened(uow: UnitOfWork, event: ProjectReviewOpened, envelope: Envelope[Any]
                        ) -> None:
    """The troïka told the year's review is open and by when it is due; the review kept,
    for its deadline reminders."""
    await projection.review(uow, Review(event.review_id, event.cite_id, event.departement,
                                        event.year, event.due_on, event.opened_at))
    await notify(uow, event, envelope)


async def review_submitted(uow: UnitOfWork, event: ProjectReviewSubmitted) -> None:
    """Never reminded again: its reminders written and still waiting are cancelled."""
    review = Review(event.review_id, event.cite_id, event.departement, event.year,
                    event.due_on, None, event.submitted_on)
    await projection.review(uow, review)
    await store.cancel_waiting(uow.conn, [reminder_id(r) for r in review.reminders()],
                               "rappel sans objet : la revue de projet a été transmise")


async def alliance_opened(uow: UnitOfWork, event: AllianceOpened, envelope: Envelope[Any]
                          ) -> None:
    await projection.designate_chef_de_file(uow, event.cite_id, event.chef_de_file_partner_id)
    await resume(uow, Fact.alliance(event.cite_id))
    await notify(uow, event, envelope)


async def membership_changed(uow: UnitOfWork, event: MembershipChange, current: bool,
                             envelope: Envelope[Any]) -> None:
    """A partner joined (``current``) or left the cité's alliance."""
    await projection.membership(uow, event.cite_id, event.partner_id, current)
    await notify(uow, event, envelope)


async def funds_committed(uow: UnitOfWork, event: FundsCommitted, envelope: Envelope[Any]
                          ) -> None:
    """The operator told; the commitment kept, for its payments' mails to name it."""
    await projection.commitment(uow, event)
    await notify(uow, event, envelope)


async def notify(uow: UnitOfWork, event: Event, envelope: Envelope[Any]) -> None:
    """The mails the rules table asks for ``event`` (its ``envelope``'s id is their cause),
    and a delivery to each webhook subscribed to its type. None for an event of the
    programme's imported history (``Envelope.imported``): the past is not news — the
    projection learns from it (the troïka, the cité, its dates), nobody is told of it
    unless the national coordination asks (:func:`announce_imported`)."""
    if envelope.imported:
        if rules_for(event.spec.type, event.spec.version):
            await store.keep_imported(uow.conn, envelope.event_id, event.spec.type,
                                      event.spec.version, event.model_dump(mode="json"),
                                      uow.now)
        log.info("imported history: not notified", event_type=envelope.type,
                 event_id=str(envelope.event_id))
        return
    await _mail(uow, event, envelope.event_id)
    await _enqueue_webhooks(uow, event, envelope)


async def announce_imported(uow: UnitOfWork, limit: int) -> tuple[int, int]:
    """Mail up to ``limit`` events of the imported history kept so far, oldest first, as
    they would have been mailed when they came (recipients known now; those depending on a
    fact not projected yet wait for it). Webhooks are not called: their receivers read
    the events' topics. Returns (events announced, notifications written)."""
    rows = await store.take_imported(uow.conn, limit)
    written = 0
    for row in rows:
        kept_as = registry.get(row["cause_type"], row["version"])
        if kept_as is None:  # an event no longer in the catalogue: nothing to say
            continue
        event = registry.current(kept_as.model.model_validate(row["facts"]))
        written += await _mail(uow, event, row["cause_id"])
    return len(rows), written


async def _mail(uow: UnitOfWork, event: Event, event_id: UUID) -> int:
    """Write the notifications ``event`` causes; return how many were new. Recipients that
    depend on a fact not projected yet (it comes on another topic) are written when it
    comes (:func:`resume`)."""
    rules = rules_for(event.spec.type, event.spec.version)
    if not rules:
        return 0
    missing = await _missing_facts(uow, event, rules)
    if missing:
        await store.await_fact(uow.conn, event_id, event.spec.type, event.spec.version,
                               event.model_dump(mode="json"), missing, uow.now)
    if waits_whole(missing):
        return 0
    return await _write(uow, event, event_id, event.spec.type, rules)


async def _missing_facts(uow: UnitOfWork, event: Event, rules: Sequence[Rule]) -> list[Fact]:
    """What the event's recipients depend on and the projection does not hold yet: its
    candidature's troïka, its cité, its alliance's chef de file."""
    groups = {g for rule in rules for g in rule.recipients}
    cite_id: str | None = _field(event, "cite_id")
    candidature_id: UUID | None = _field(event, "candidature_id")
    missing = []
    cite = await store.get_cite(uow.conn, cite_id) if cite_id else None
    if cite_id and cite is None:
        missing.append(Fact.cite(cite_id))
    candidature_id = candidature_id or (cite.candidature_id if cite else None)
    if (RecipientGroup.TROIKA in groups and candidature_id is not None
            and not await store.has_candidature(uow.conn, candidature_id)):
        missing.append(Fact.candidature(candidature_id))
    if (RecipientGroup.CHEF_DE_FILE in groups and cite_id
            and not _field(event, "chef_de_file_partner_id")
            and not await store.has_alliance(uow.conn, cite_id)):
        missing.append(Fact.alliance(cite_id))
    return missing


async def resume(uow: UnitOfWork, fact: Fact) -> int:
    """``fact`` is projected now: write the notifications of the causes that waited for it
    (those of their recipients known by now; a cause still missing another fact waits for
    that one). Returns how many were new."""
    written = 0
    for row in await store.take_awaiting(uow.conn, fact):
        written_as = registry.get(row["cause_type"], row["version"])
        if written_as is None:  # a cause of an event no longer in the catalogue: nothing to do
            continue
        # A cause kept under a version since retired is resumed as the version it is
        # upcast to, the one the rules name.
        event = registry.current(written_as.model.model_validate(row["facts"]))
        spec = event.spec
        rules = rules_for(spec.type, spec.version)
        missing = await _missing_facts(uow, event, rules)
        if missing:
            await store.await_fact(uow.conn, row["cause_id"], spec.type, spec.version,
                                   event.model_dump(mode="json"), missing, uow.now)
        if not waits_whole(missing):
            written += await _write(uow, event, row["cause_id"], spec.type, rules)
    return written


def reminder_id(facts: Reminder) -> UUID:
    """A reminder's identity, the cause of its notifications: one per what it reminds of
    and delay (``facts.key``), whoever computes it."""
    return uuid5(_NOTIFICATIONS, f"reminder/{facts.key}")


async def remind_expiry(uow: UnitOfWork, cite_id: str) -> int:
    """Write the label-expiry reminder now due for the cité (:meth:`Cite.reminder_due`), if
    any and not written yet. Returns how many notifications were new."""
    cite = await store.get_cite(uow.conn, cite_id)
    return await _remind(uow, cite.reminder_due(uow.today) if cite else None,
                         EXPIRY_REMINDER)


async def remind_review(uow: UnitOfWork, review_id: UUID) -> int:
    """Write the deadline reminder now due for the revue de projet
    (:meth:`Review.reminder_due`: on the territory's day, never once submitted), if any and
    not written yet. Returns how many notifications were new."""
    review = await store.get_review(uow.conn, review_id)
    return await _remind(uow, review.reminder_due(uow.now) if review else None,
                         REVIEW_REMINDER)


async def _remind(uow: UnitOfWork, due: Reminder | None, rule: ReminderRule) -> int:
    """Write ``due``'s notifications. Exactly once across replicas and rounds: their ids
    derive from :func:`reminder_id`, and the notifications table holds each once."""
    if due is None:
        return 0
    return await _write(uow, due, reminder_id(due), rule.cause_type, [rule])


async def _recipients(uow: UnitOfWork, group: RecipientGroup, facts: Any,
                      candidature_id: UUID | None, cite_id: str | None) -> list[Recipient]:
    """Who is in ``group`` for these facts, as the projection knows them now."""
    if group is RecipientGroup.TROIKA:
        return await store.troika_of(uow.conn, candidature_id)
    partners: list[UUID] = []
    if group is RecipientGroup.CHEF_DE_FILE:
        named = _field(facts, "chef_de_file_partner_id")
        found = named or (await store.chef_de_file(uow.conn, cite_id) if cite_id else None)
        partners = [found] if found else []
    elif group in PARTNER_NAMED_BY:
        partners = [p for p in [_field(facts, PARTNER_NAMED_BY[group])] if p]
    elif group is RecipientGroup.ALLIANCE_MEMBERS and cite_id:
        partners = await store.current_members(uow.conn, cite_id)
    return await store.consenting_contacts(uow.conn, partners)


async def _write(uow: UnitOfWork, facts: Any, cause_id: UUID, cause_type: str,
                 rules: Sequence[Rule | ReminderRule]) -> int:
    """Render and write each rule's mail to each of its recipients (once per recipient,
    whatever the groups); return how many were new."""
    if not rules:
        return 0
    cite_id: str | None = _field(facts, "cite_id")
    candidature_id, about = await _about(uow, facts, cite_id)
    rows: list[store.NewNotification] = []
    seen: set[str] = set()
    for rule in rules:
        for group in rule.recipients:
            for recipient in await _recipients(uow, group, facts, candidature_id, cite_id):
                if recipient.key in seen:
                    continue
                seen.add(recipient.key)
                mail = render(rule.template, replace(
                    about, recipient=group, troika_role=recipient.troika_role))
                rows.append(store.NewNotification(
                    notification_id(cause_id, recipient.key), cause_id, cause_type,
                    rule.template, recipient, candidature_id, cite_id, mail.subject,
                    mail.text, mail.html))
    return await store.insert_notifications(uow.conn, rows, uow.now, uow.cause.traceparent)


async def _about(uow: UnitOfWork, facts: Any, cite_id: str | None
                 ) -> tuple[UUID | None, MailContext]:
    """The candidature ``facts`` concern (its troïka is written to), and what the
    projection knows of what they are about, for the mails to name it rather than give
    an id: the cité (or candidature) and its département, when it was filed, the partner
    and the commitment the event names. (The context's recipient is set per mail.)"""
    cite = await store.get_cite(uow.conn, cite_id) if cite_id else None
    candidature_id: UUID | None = _field(facts, "candidature_id") or (
        cite.candidature_id if cite else None)
    filing = await store.candidature(uow.conn, candidature_id) if candidature_id else None
    partner_id = next((p for f in PARTNER_NAMED_BY.values() if (p := _field(facts, f))),
                      None)
    commitment_id: UUID | None = _field(facts, "commitment_id")
    return candidature_id, MailContext(
        facts, RecipientGroup.TROIKA,
        cite_name=cite.name if cite else filing.territory_name if filing else None,
        departement=cite.departement if cite else filing.departement if filing else None,
        filed_at=filing.submitted_at if filing else None,
        partner=await store.partner(uow.conn, partner_id) if partner_id else None,
        commitment=(await store.commitment(uow.conn, commitment_id) if commitment_id
                    else None))


# --- sending ------------------------------------------------------------------------------


async def claim_mails(uow: UnitOfWork, lease_s: float, limit: int) -> list[Notification]:
    """Up to ``limit`` notifications due, claimed for sending (``store.claim``)."""
    return await store.claim(uow.conn, uow.now, lease_s, limit)


async def record_mails(uow: UnitOfWork,
                       outcomes: Sequence[tuple[Notification, SendOutcome, str]],
                       retries: Retries) -> None:
    """A sending round's outcomes (each with its reason): marked in three statements
    whatever their number, and ``NotificationSent`` / ``NotificationFailed`` emitted for
    those this round still held (a resend by another round after the lease may have
    recorded one already)."""
    told = {n.notification_id: n.record(outcome, reason, uow.now, retries)
            for n, outcome, reason in outcomes}
    round_ = [n for n, _, _ in outcomes]
    sent = [n for n in round_ if n.status is NotificationStatus.SENT]
    failed = [n for n in round_ if n.status is NotificationStatus.FAILED]
    retried = [n for n in round_ if n.status is NotificationStatus.PENDING]
    held = await store.mark_sent(uow.conn, [n.notification_id for n in sent], uow.now)
    held |= await store.mark_failed(uow.conn, [(n.notification_id, n.last_error or "")
                                               for n in failed], uow.now)
    for n in sent + failed:
        event = told[n.notification_id]
        if event is not None and n.notification_id in held:
            uow.emit(event)
    await store.retry_later(uow.conn, [(n.notification_id, n.last_error or "",
                                        n.next_attempt_at or uow.now) for n in retried])


async def claim_deliveries(uow: UnitOfWork, lease_s: float, limit: int) -> list[Delivery]:
    """Up to ``limit`` webhook deliveries due, claimed (``store.claim_deliveries``)."""
    return await store.claim_deliveries(uow.conn, uow.now, lease_s, limit)


async def record_delivery(uow: UnitOfWork, delivery: Delivery, answer: Answer,
                          code: int | None, reason: str, retries: Retries,
                          asked_s: float | None) -> None:
    """One attempt's answer (``Delivery.record``): delivered, failed (a 410 pausing the
    subscription) or due again later."""
    delivery.record(answer, code, reason, uow.now, retries, asked_s)
    if delivery.status is DeliveryStatus.DELIVERED:
        await store.mark_delivered(uow.conn, delivery.delivery_id, code or 200, uow.now)
    elif delivery.status is DeliveryStatus.FAILED:
        await store.mark_delivery_failed(uow.conn, delivery.delivery_id, code,
                                         delivery.last_error or "", uow.now)
        if delivery.pauses_subscription:
            await store.deactivate_subscription(uow.conn, delivery.subscription_id, uow.now)
    else:
        await store.retry_delivery_later(uow.conn, delivery.delivery_id, code,
                                         delivery.last_error or "",
                                         delivery.next_attempt_at or uow.now)


# --- resending ----------------------------------------------------------------------------


async def resend_notification(uow: UnitOfWork, notification_id: UUID) -> None:
    """Send a failed notification again (same id, same Message-ID): due now, its attempts
    counted from zero. Only a failed one, and only while its recipient's address is known."""
    found = await store.get_notification(uow.conn, notification_id, lock=True)
    if found is None:
        raise NotFound.of("notification", notification_id)
    if found["status"] != NotificationStatus.FAILED:
        raise Conflict(f"notification {notification_id} is {found['status']}: only a failed "
                       "one is sent again")
    if found["address_erased"]:
        raise Conflict(f"notification {notification_id}'s recipient was erased: there is no "
                       "address to send it to")
    await store.resend_notification(uow.conn, notification_id, uow.now)


async def resend_delivery(uow: UnitOfWork, delivery_id: UUID) -> None:
    """Deliver a failed webhook delivery again (same webhook-id, same body)."""
    found = await store.get_delivery(uow.conn, delivery_id, lock=True)
    if found is None:
        raise NotFound.of("webhook delivery", delivery_id)
    if found["status"] != DeliveryStatus.FAILED:
        raise Conflict(f"webhook delivery {delivery_id} is {found['status']}: only a failed "
                       "one is delivered again")
    sub = await store.get_subscription(uow.conn, found["subscription_id"])
    if sub is None or sub.deleted_at is not None:
        raise Conflict(f"webhook delivery {delivery_id}'s subscription was deleted")
    await store.resend_delivery(uow.conn, delivery_id, uow.now)


# --- webhooks -----------------------------------------------------------------------------


async def _enqueue_webhooks(uow: UnitOfWork, event: Event, envelope: Envelope[Any]) -> int:
    """A delivery of ``event`` to each subscription asking for its type (a paused one's
    waits until it is resumed), written in the consuming transaction; return how many were
    new."""
    spec = event.spec
    if spec.type not in webhooks.SUBSCRIBABLE:
        return 0
    body = webhooks.body_of(spec.type, spec.version, envelope.event_id, envelope.occurred_at,
                            event.model_dump(mode="json"))
    return await store.enqueue_deliveries(uow.conn, envelope.event_id, spec.type,
                                          _field(event, "cite_id"), body, uow.now,
                                          webhooks.delivery_id, uow.cause.traceparent)


async def subscribe(uow: UnitOfWork, url: str, event_types: list[str], description: str,
                    secret: str | None, allow_private_for_tests: bool, box: SecretBox
                    ) -> tuple[store.Subscription, str]:
    """A new subscription and its secret (generated unless given; stored sealed by
    ``box``); 409 when a live one already has this URL. Events before it are not delivered
    to it."""
    url = webhooks.check_url(url, allow_private_for_tests)
    types = webhooks.check_event_types(event_types)
    if secret is not None:
        webhooks.key_of(secret)
    secret = secret or webhooks.new_secret()
    created = await store.insert_subscription(uow.conn, uuid4(), url, types, description,
                                              box.seal(secret), uow.now)
    if created is None:
        existing = await store.live_subscription_by_url(uow.conn, url)
        raise Conflict(f"subscription {existing} already delivers to {url}: change its "
                       "event types rather than subscribing again")
    return created, secret


async def _live(uow: UnitOfWork, subscription_id: UUID) -> store.Subscription:
    sub = await store.get_subscription(uow.conn, subscription_id, lock=True)
    if sub is None or sub.deleted_at is not None:
        raise NotFound.of("webhook subscription", subscription_id)
    return sub


async def update_subscription(uow: UnitOfWork, subscription_id: UUID, *, url: str | None,
                              event_types: list[str] | None, description: str | None,
                              active: bool | None, allow_private_for_tests: bool
                              ) -> store.Subscription:
    """Change what is given. A paused subscription (``active`` false) is delivered nothing:
    its deliveries, those of events meanwhile included, wait; resumed, they are sent."""
    sub = await _live(uow, subscription_id)
    new_url = (webhooks.check_url(url, allow_private_for_tests) if url is not None
               else sub.url)
    if new_url != sub.url and (other := await store.live_subscription_by_url(
            uow.conn, new_url)) is not None:
        raise Conflict(f"subscription {other} already delivers to {new_url}")
    return await store.update_subscription(
        uow.conn, subscription_id, url=new_url,
        event_types=(webhooks.check_event_types(event_types) if event_types is not None
                     else sub.event_types),
        description=description if description is not None else sub.description,
        active=active if active is not None else sub.active, at=uow.now)


async def rotate_secret(uow: UnitOfWork, subscription_id: UUID, overlap_s: float,
                        box: SecretBox) -> str:
    """A new secret (stored sealed); deliveries are signed with the previous one too for
    ``overlap_s``."""
    await _live(uow, subscription_id)
    secret = webhooks.new_secret()
    await store.rotate_secret(uow.conn, subscription_id, box.seal(secret), uow.now,
                              uow.now + timedelta(seconds=overlap_s))
    return secret


async def delete_subscription(uow: UnitOfWork, subscription_id: UUID) -> int:
    """Deliver nothing more to it (its log is kept); return how many deliveries that were
    still waiting are failed."""
    await _live(uow, subscription_id)
    return await store.delete_subscription(uow.conn, subscription_id, uow.now)
