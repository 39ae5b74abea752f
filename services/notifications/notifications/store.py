"""SQL of notifications' schema: the recipients' projection and the notifications; decides
nothing."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from uuid import UUID

import asyncpg

from cites_contracts.events.notifications import Recipient as RecipientReference
from cites_contracts.types import TroikaRole
from cites_runtime.db import Conn, Reads

from .domain.cite import Cite, CiteStatus
from .domain.notification import Notification, NotificationStatus
from .domain.recipients import Fact, Recipient
from .domain.review import Review
from .domain.templates import KnownCommitment, KnownPartner
from .domain.webhooks import Delivery, DeliveryStatus

# --- the projection -----------------------------------------------------------------------


async def save_troika_contact(conn: Conn, contact_id: UUID, email: str, candidature_id: UUID,
                              role: str, at: datetime) -> None:
    """Keep a signatory's address (not that of one erased already)."""
    await conn.execute(
        """INSERT INTO contacts (contact_id, email, source, candidature_id, troika_role,
                                 updated_at)
           SELECT $1, $2, 'troika', $3, $4, $5
           WHERE NOT EXISTS (SELECT FROM erased_contacts WHERE contact_id = $1)
           ON CONFLICT (contact_id) DO UPDATE SET email = $2, updated_at = $5""",
        contact_id, email, candidature_id, role, at)


async def save_partner_contact(conn: Conn, contact_id: UUID, email: str, partner_id: UUID,
                               at: datetime) -> None:
    """Keep a partner contact's address (not that of one erased already)."""
    await conn.execute(
        """INSERT INTO contacts (contact_id, email, source, partner_id, updated_at)
           SELECT $1, $2, 'partner', $3, $4
           WHERE NOT EXISTS (SELECT FROM erased_contacts WHERE contact_id = $1)
           ON CONFLICT (contact_id) DO UPDATE SET email = $2, partner_id = $3,
                                                 updated_at = $4""",
        contact_id, email, partner_id, at)


async def forget_contact(conn: Conn, contact_id: UUID, at: datetime) -> None:
    """Delete the address and every link to it: a notification not yet sent to it is left
    with no address, so the sender fails it unsent (and says so in ``NotificationFailed``);
    the log keeps who was told of what by reference only."""
    await conn.execute("DELETE FROM contacts WHERE contact_id = $1", contact_id)
    await conn.execute("INSERT INTO erased_contacts VALUES ($1, $2) ON CONFLICT DO NOTHING",
                       contact_id, at)
    await conn.execute("DELETE FROM partner_contacts WHERE contact_id = $1", contact_id)
    await conn.execute("UPDATE notifications SET contact_id = NULL WHERE contact_id = $1",
                       contact_id)


async def set_partner_contacts(conn: Conn, partner_id: UUID, contact_ids: Sequence[UUID]
                               ) -> None:
    """The partner's consenting contacts are these (a contact missing is not written to)."""
    await conn.execute(
        "DELETE FROM partner_contacts WHERE partner_id = $1 AND NOT contact_id = ANY ($2)",
        partner_id, list(contact_ids))
    await conn.execute(
        """INSERT INTO partner_contacts (partner_id, contact_id)
           SELECT $1, c FROM unnest($2::uuid[]) AS c ON CONFLICT DO NOTHING""",
        partner_id, list(contact_ids))


async def save_candidature(conn: Conn, candidature_id: UUID, territory_name: str,
                           departement: str, troika: Sequence[Recipient],
                           submitted_at: datetime) -> None:
    """The candidature, when it was filed, and its troïka's seats (stored
    ``[{"role", "contact_id"}]``)."""
    seats = [{"role": r.troika_role.value if r.troika_role else None,
              "contact_id": str(r.contact_id)} for r in troika]
    await conn.execute(
        """INSERT INTO candidatures (candidature_id, territory_name, departement, troika,
                                     submitted_at)
           VALUES ($1, $2, $3, $4, $5)
           ON CONFLICT (candidature_id) DO UPDATE SET troika = $4, submitted_at = $5""",
        candidature_id, territory_name, departement, seats, submitted_at)


async def troika_of(conn: Reads, candidature_id: UUID | None) -> list[Recipient]:
    """The candidature's troïka seats, but those of signatories erased."""
    if candidature_id is None:
        return []
    found = await conn.fetchval(
        """SELECT coalesce(jsonb_agg(seat), '[]'::jsonb)
           FROM candidatures, jsonb_array_elements(troika) AS seat
           WHERE candidature_id = $1 AND NOT EXISTS (
               SELECT FROM erased_contacts e
               WHERE e.contact_id = (seat->>'contact_id')::uuid)""", candidature_id)
    return [Recipient.troika(TroikaRole(seat["role"]), UUID(seat["contact_id"]))
            for seat in found or []]


async def has_candidature(conn: Reads, candidature_id: UUID) -> bool:
    return bool(await conn.fetchval(
        "SELECT true FROM candidatures WHERE candidature_id = $1", candidature_id))


async def has_alliance(conn: Reads, cite_id: str) -> bool:
    return bool(await conn.fetchval("SELECT true FROM alliances WHERE cite_id = $1", cite_id))


def _fact(fact: Fact) -> str:
    """A fact as ``awaiting.waits_for`` holds it: ``<kind>:<id>``."""
    return f"{fact.kind.value}:{fact.id}"


async def await_fact(conn: Conn, cause_id: UUID, cause_type: str, version: int,
                     facts: dict[str, Any], waits_for: Sequence[Fact], at: datetime) -> None:
    """The cause waits for each of ``waits_for``."""
    await conn.execute(
        """INSERT INTO awaiting (cause_id, cause_type, version, facts, waits_for, created_at)
           SELECT $1, $2, $3, $4, w, $6 FROM unnest($5::text[]) AS w
           ON CONFLICT DO NOTHING""",
        cause_id, cause_type, version, facts, [_fact(f) for f in waits_for], at)


async def keep_imported(conn: Conn, cause_id: UUID, cause_type: str, version: int,
                        facts: dict[str, Any], at: datetime) -> None:
    """An imported event, not mailed: kept until it is announced (once, whatever the
    redeliveries)."""
    await conn.execute(
        """INSERT INTO imported_causes (cause_id, cause_type, version, facts, received_at)
           VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING""",
        cause_id, cause_type, version, facts, at)


async def imported_count(conn: Reads) -> int:
    return int(await conn.fetchval("SELECT count(*) FROM imported_causes"))


async def take_imported(conn: Conn, limit: int) -> list[asyncpg.Record]:
    """Up to ``limit`` imported events kept, oldest first, no longer kept (another
    announcement running at once takes others)."""
    return await conn.fetch(
        """DELETE FROM imported_causes WHERE cause_id IN (
               SELECT cause_id FROM imported_causes ORDER BY received_at, cause_id
               LIMIT $1 FOR UPDATE SKIP LOCKED)
           RETURNING cause_id, cause_type, version, facts, received_at""", limit)


async def awaiting_count(conn: Reads) -> int:
    return int(await conn.fetchval("SELECT count(DISTINCT cause_id) FROM awaiting"))


async def take_awaiting(conn: Conn, fact: Fact) -> list[asyncpg.Record]:
    """The causes waiting for ``fact``, no longer waiting for it."""
    return await conn.fetch(
        """DELETE FROM awaiting WHERE waits_for = $1
           RETURNING cause_id, cause_type, version, facts""", _fact(fact))


@dataclass(frozen=True, slots=True)
class Filing:
    """A candidature as its mails name it: its territory, département and filing moment
    (none for one projected before it was kept)."""

    territory_name: str
    departement: str
    submitted_at: datetime | None


async def candidature(conn: Reads, candidature_id: UUID) -> Filing | None:
    r = await conn.fetchrow(
        """SELECT territory_name, departement, submitted_at FROM candidatures
           WHERE candidature_id = $1""", candidature_id)
    return Filing(**dict(r)) if r else None


async def save_partner(conn: Conn, partner_id: UUID, name: str, kind: str) -> None:
    await conn.execute(
        """INSERT INTO partners (partner_id, name, kind) VALUES ($1, $2, $3)
           ON CONFLICT (partner_id) DO UPDATE SET name = $2, kind = $3""",
        partner_id, name, kind)


async def partner(conn: Reads, partner_id: UUID) -> KnownPartner | None:
    r = await conn.fetchrow("SELECT name, kind FROM partners WHERE partner_id = $1",
                            partner_id)
    return KnownPartner(r["name"], r["kind"]) if r else None


async def save_commitment(conn: Conn, commitment_id: UUID, cite_id: str,
                          c: KnownCommitment) -> None:
    await conn.execute(
        """INSERT INTO commitments (commitment_id, cite_id, action_title, amount,
                                    committed_at)
           VALUES ($1, $2, $3, $4, $5) ON CONFLICT (commitment_id) DO NOTHING""",
        commitment_id, cite_id, c.action_title, c.amount, c.committed_at)


async def commitment(conn: Reads, commitment_id: UUID) -> KnownCommitment | None:
    r = await conn.fetchrow(
        """SELECT action_title, amount, committed_at FROM commitments
           WHERE commitment_id = $1""", commitment_id)
    return KnownCommitment(**dict(r)) if r else None


async def save_cite(conn: Conn, c: Cite) -> None:
    await conn.execute(
        """INSERT INTO cites (cite_id, candidature_id, name, departement, lead_college_uai,
                              label_end, status, label_start)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
           ON CONFLICT (cite_id) DO UPDATE SET label_end = $6, status = $7""",
        c.cite_id, c.candidature_id, c.name, c.departement, c.lead_college_uai, c.label_end,
        c.status.value, c.label_start)


async def set_cite_status(conn: Conn, cite_id: str, status: CiteStatus,
                          label_end: date | None = None) -> None:
    await conn.execute(
        "UPDATE cites SET status = $2, label_end = coalesce($3, label_end) WHERE cite_id = $1",
        cite_id, status.value, label_end)


async def get_cite(conn: Reads, cite_id: str) -> Cite | None:
    r = await conn.fetchrow("SELECT * FROM cites WHERE cite_id = $1", cite_id)
    return Cite(**{**dict(r), "status": CiteStatus(r["status"])}) if r else None


async def set_chef_de_file(conn: Conn, cite_id: str, partner_id: UUID) -> None:
    await conn.execute(
        """INSERT INTO alliances (cite_id, chef_de_file_partner_id) VALUES ($1, $2)
           ON CONFLICT (cite_id) DO UPDATE SET chef_de_file_partner_id = $2""",
        cite_id, partner_id)


async def cite_ids(conn: Reads, status: CiteStatus) -> list[str]:
    return [r[0] for r in await conn.fetch(
        "SELECT cite_id FROM cites WHERE status = $1 ORDER BY cite_id", status.value)]


async def save_review(conn: Conn, r: Review) -> None:
    """Keep the review; an opening or a submission consumed again changes nothing it knew."""
    await conn.execute(
        """INSERT INTO reviews (review_id, cite_id, departement, year, due_on, opened_at,
                                submitted_on)
           VALUES ($1, $2, $3, $4, $5, $6, $7)
           ON CONFLICT (review_id) DO UPDATE SET
               opened_at = coalesce(reviews.opened_at, $6),
               submitted_on = coalesce(reviews.submitted_on, $7)""",
        r.review_id, r.cite_id, r.departement, r.year, r.due_on, r.opened_at, r.submitted_on)


async def get_review(conn: Reads, review_id: UUID) -> Review | None:
    r = await conn.fetchrow("SELECT * FROM reviews WHERE review_id = $1", review_id)
    return Review(**dict(r)) if r else None


async def reviews_to_remind(conn: Reads, due_from: date) -> list[UUID]:
    """The reviews opened, not submitted, due on ``due_from`` or later."""
    return [r[0] for r in await conn.fetch(
        """SELECT review_id FROM reviews
           WHERE submitted_on IS NULL AND opened_at IS NOT NULL AND due_on >= $1
           ORDER BY review_id""", due_from)]


async def chef_de_file(conn: Reads, cite_id: str) -> UUID | None:
    return await conn.fetchval(  # type: ignore[no-any-return]
        "SELECT chef_de_file_partner_id FROM alliances WHERE cite_id = $1", cite_id)


async def set_member(conn: Conn, cite_id: str, partner_id: UUID, current: bool) -> None:
    await conn.execute(
        """INSERT INTO members (cite_id, partner_id, current) VALUES ($1, $2, $3)
           ON CONFLICT (cite_id, partner_id) DO UPDATE SET current = $3""",
        cite_id, partner_id, current)


async def current_members(conn: Reads, cite_id: str) -> list[UUID]:
    return [r[0] for r in await conn.fetch(
        "SELECT partner_id FROM members WHERE cite_id = $1 AND current ORDER BY partner_id",
        cite_id)]


async def consenting_contacts(conn: Reads, partner_ids: Sequence[UUID]) -> list[Recipient]:
    """Every consenting contact of these partners whose address is known."""
    return [Recipient.partner_contact(r[0], r[1]) for r in await conn.fetch(
        """SELECT pc.partner_id, pc.contact_id FROM partner_contacts pc
           JOIN contacts c USING (contact_id)
           WHERE pc.partner_id = ANY ($1) ORDER BY pc.partner_id, pc.contact_id""",
        list(partner_ids))]


# --- notifications -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NewNotification:
    notification_id: UUID
    cause_event_id: UUID
    cause_type: str
    template: str
    recipient: Recipient
    candidature_id: UUID | None
    cite_id: str | None
    subject: str
    body_text: str
    body_html: str


async def insert_notifications(conn: Conn, rows: Sequence[NewNotification], at: datetime,
                               traceparent: str | None = None) -> int:
    """Insert those not known yet (once per cause and recipient), in the trace of their
    cause (``traceparent``); return how many."""
    if not rows:
        return 0
    return int(await conn.fetchval(
        """WITH i AS (
               INSERT INTO notifications (notification_id, cause_event_id, cause_type,
                   template, recipient, contact_id, candidature_id, cite_id, subject,
                   body_text, body_html, next_attempt_at, created_at, traceparent)
               SELECT n, e, t, tp, r::jsonb, c, ca, ci, s, bt, bh, $12, $12, $13
               FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::text[],
                           $6::uuid[], $7::uuid[], $8::text[], $9::text[], $10::text[],
                           $11::text[]) AS x(n, e, t, tp, r, c, ca, ci, s, bt, bh)
               ON CONFLICT (notification_id) DO NOTHING RETURNING 1)
           SELECT count(*) FROM i""",
        [r.notification_id for r in rows], [r.cause_event_id for r in rows],
        [r.cause_type for r in rows], [r.template for r in rows],
        [json.dumps(r.recipient.reference.model_dump(mode="json")) for r in rows],
        [r.recipient.contact_id for r in rows],
        [r.candidature_id for r in rows], [r.cite_id for r in rows],
        [r.subject for r in rows], [r.body_text for r in rows], [r.body_html for r in rows],
        at, traceparent))


async def claim(conn: Conn, now: datetime, lease_s: float, limit: int) -> list[Notification]:
    """Claim due notifications for sending: pending ones whose time has come, and those a
    sender claimed and did not finish within the lease (it crashed). Skips rows another
    replica is claiming."""
    rows = await conn.fetch(
        """UPDATE notifications n SET status = 'sending', attempts = n.attempts + 1,
                                      claimed_at = $1
           FROM (SELECT notification_id FROM notifications
                 WHERE (status = 'pending' AND next_attempt_at <= $1)
                    OR (status = 'sending' AND claimed_at < $1 - make_interval(secs => $2))
                 ORDER BY next_attempt_at LIMIT $3 FOR UPDATE SKIP LOCKED) due
           WHERE n.notification_id = due.notification_id
           RETURNING n.*, (SELECT email FROM contacts c
                           WHERE c.contact_id = n.contact_id) AS email,
                     EXISTS (SELECT FROM erased_contacts e
                             WHERE e.contact_id = n.contact_id) AS erased""",
        now, lease_s, limit)
    return [Notification(r["notification_id"], r["cause_event_id"], r["cause_type"],
                         r["template"], RecipientReference.model_validate(r["recipient"]),
                         r["candidature_id"], r["cite_id"], r["subject"], r["body_text"],
                         r["body_html"], r["attempts"], r["email"],
                         None if r["erased"] else r["contact_id"],
                         traceparent=r["traceparent"]) for r in rows]


async def mark_sent(conn: Conn, ids: Sequence[UUID], at: datetime) -> set[UUID]:
    """Mark these sent; return those that were still claimed (a resend by another round
    after the lease may have recorded one already)."""
    if not ids:
        return set()
    return {r[0] for r in await conn.fetch(
        """UPDATE notifications SET status = 'sent', sent_at = $2, last_error = NULL
           WHERE notification_id = ANY ($1) AND status = 'sending'
           RETURNING notification_id""", list(ids), at)}


async def mark_failed(conn: Conn, failed: Sequence[tuple[UUID, str]], at: datetime
                      ) -> set[UUID]:
    """Mark these failed, each with its reason; return those that were still claimed."""
    if not failed:
        return set()
    return {r[0] for r in await conn.fetch(
        """UPDATE notifications n SET status = 'failed', failed_at = $3, last_error = f.reason
           FROM unnest($1::uuid[], $2::text[]) AS f(id, reason)
           WHERE n.notification_id = f.id AND n.status = 'sending'
           RETURNING n.notification_id""",
        [i for i, _ in failed], [r for _, r in failed], at)}


async def retry_later(conn: Conn, retried: Sequence[tuple[UUID, str, datetime]]) -> None:
    """Each due again at its time, with the reason it was not sent."""
    if not retried:
        return
    await conn.execute(
        """UPDATE notifications n SET status = 'pending', next_attempt_at = r.at,
                  last_error = r.reason
           FROM unnest($1::uuid[], $2::text[], $3::timestamptz[]) AS r(id, reason, at)
           WHERE n.notification_id = r.id AND n.status = 'sending'""",
        [i for i, _, _ in retried], [r for _, r, _ in retried], [a for _, _, a in retried])


async def cancel_waiting(conn: Conn, cause_ids: Sequence[UUID], why: str) -> int:
    """Cancel the notifications of these causes not claimed yet (a claimed one is with the
    mail server already), with ``why``; return how many."""
    return int(await conn.fetchval(
        """WITH c AS (UPDATE notifications SET status = 'cancelled', last_error = $2
                      WHERE cause_event_id = ANY ($1) AND status = 'pending' RETURNING 1)
           SELECT count(*) FROM c""", list(cause_ids), why))


_NOTIFICATION = """notification_id, cause_event_id, cause_type, template, recipient,
                   candidature_id, cite_id, subject, status, attempts, last_error,
                   created_at, sent_at, failed_at, contact_id IS NULL AS address_erased"""


async def log(conn: Reads, *, cite_id: str | None = None, cause_event_id: UUID | None = None,
              contact_id: UUID | None = None, status: NotificationStatus | None = None,
              after: tuple[datetime, UUID] | None = None, limit: int = 200
              ) -> list[asyncpg.Record]:
    return await conn.fetch(
        f"""SELECT {_NOTIFICATION} FROM notifications
            WHERE ($1::text IS NULL OR cite_id = $1)
              AND ($2::uuid IS NULL OR cause_event_id = $2)
              AND ($3::uuid IS NULL OR contact_id = $3)
              AND ($4::text IS NULL OR status = $4)
              AND ($5::timestamptz IS NULL OR (created_at, notification_id) > ($5, $6))
            ORDER BY created_at, notification_id LIMIT $7""",
        cite_id, cause_event_id, contact_id, status.value if status else None,
        after[0] if after else None,
        after[1] if after else None, limit)


async def get_notification(conn: Reads, notification_id: UUID, *, lock: bool = False
                           ) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"SELECT {_NOTIFICATION} FROM notifications WHERE notification_id = $1"
        + (" FOR UPDATE" if lock else ""), notification_id)


async def resend_notification(conn: Conn, notification_id: UUID, at: datetime) -> None:
    """A failed notification, due again with its attempts from zero (same id, same
    Message-ID)."""
    await conn.execute(
        """UPDATE notifications SET status = 'pending', attempts = 0, next_attempt_at = $2,
                  failed_at = NULL
           WHERE notification_id = $1 AND status = 'failed'""", notification_id, at)


# --- webhooks ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Subscription:
    subscription_id: UUID
    url: str
    event_types: list[str]
    description: str
    active: bool
    created_at: datetime
    updated_at: datetime
    deleted_at: datetime | None
    previous_expires_at: datetime | None


_SUBSCRIPTION = """subscription_id, url, event_types, description, active, created_at,
                   updated_at, deleted_at, previous_expires_at"""


def _subscription(r: asyncpg.Record) -> Subscription:
    return Subscription(r["subscription_id"], r["url"], list(r["event_types"]),
                        r["description"], r["active"], r["created_at"], r["updated_at"],
                        r["deleted_at"], r["previous_expires_at"])


async def insert_subscription(conn: Conn, subscription_id: UUID, url: str,
                              event_types: Sequence[str], description: str, secret: str,
                              at: datetime) -> Subscription | None:
    """The new subscription; None when a live one already has this URL."""
    r = await conn.fetchrow(
        f"""INSERT INTO webhook_subscriptions (subscription_id, url, event_types,
                description, secret, created_at, updated_at)
            VALUES ($1, $2, $3, $4, $5, $6, $6)
            ON CONFLICT (url) WHERE deleted_at IS NULL DO NOTHING
            RETURNING {_SUBSCRIPTION}""",
        subscription_id, url, list(event_types), description, secret, at)
    return _subscription(r) if r else None


async def live_subscription_by_url(conn: Reads, url: str) -> UUID | None:
    return await conn.fetchval(  # type: ignore[no-any-return]
        "SELECT subscription_id FROM webhook_subscriptions WHERE url = $1 "
        "AND deleted_at IS NULL", url)


async def get_subscription(conn: Reads, subscription_id: UUID, *, lock: bool = False
                           ) -> Subscription | None:
    r = await conn.fetchrow(
        f"SELECT {_SUBSCRIPTION} FROM webhook_subscriptions WHERE subscription_id = $1"
        + (" FOR UPDATE" if lock else ""), subscription_id)
    return _subscription(r) if r else None


async def update_subscription(conn: Conn, subscription_id: UUID, *, url: str,
                              event_types: Sequence[str], description: str, active: bool,
                              at: datetime) -> Subscription:
    r = await conn.fetchrow(
        f"""UPDATE webhook_subscriptions SET url = $2, event_types = $3, description = $4,
                   active = $5, updated_at = $6
            WHERE subscription_id = $1 RETURNING {_SUBSCRIPTION}""",
        subscription_id, url, list(event_types), description, active, at)
    assert r is not None, "updated under the caller's lock"
    return _subscription(r)


async def rotate_secret(conn: Conn, subscription_id: UUID, secret: str, at: datetime,
                        previous_until: datetime) -> None:
    await conn.execute(
        """UPDATE webhook_subscriptions SET previous_secret = secret, secret = $2,
                  previous_expires_at = $4, updated_at = $3
           WHERE subscription_id = $1""",
        subscription_id, secret, at, previous_until)


async def stored_secrets(conn: Reads) -> list[tuple[UUID, str, str]]:
    """(subscription, column, value) of every stored signing secret, sealed or not."""
    rows = await conn.fetch(
        """SELECT subscription_id, 'secret' AS col, secret AS value FROM webhook_subscriptions
           UNION ALL
           SELECT subscription_id, 'previous_secret', previous_secret
           FROM webhook_subscriptions WHERE previous_secret IS NOT NULL""")
    return [(r["subscription_id"], r["col"], r["value"]) for r in rows]


async def replace_secret(conn: Conn, subscription_id: UUID, column: str, was: str,
                         new: str) -> int:
    """Store ``new`` in ``column`` if it still holds ``was``; 1 if it did, else 0."""
    assert column in ("secret", "previous_secret")
    done = await conn.execute(
        f"UPDATE webhook_subscriptions SET {column} = $3 "
        f"WHERE subscription_id = $1 AND {column} = $2", subscription_id, was, new)
    return int(done.split()[-1])


async def delete_subscription(conn: Conn, subscription_id: UUID, at: datetime) -> int:
    """Mark it deleted (kept for the log) and fail its deliveries not yet made; return how
    many were failed."""
    await conn.execute(
        """UPDATE webhook_subscriptions SET deleted_at = $2, active = false, updated_at = $2
           WHERE subscription_id = $1""", subscription_id, at)
    return int(await conn.fetchval(
        """WITH f AS (UPDATE webhook_deliveries SET status = 'failed', failed_at = $2,
                             last_error = 'abonnement supprimé'
                      WHERE subscription_id = $1 AND status IN ('pending', 'sending')
                      RETURNING 1)
           SELECT count(*) FROM f""", subscription_id, at))


async def subscriptions(conn: Reads, after: tuple[datetime, UUID] | None, limit: int
                        ) -> list[Subscription]:
    rows = await conn.fetch(
        f"""SELECT {_SUBSCRIPTION} FROM webhook_subscriptions
            WHERE deleted_at IS NULL
              AND ($1::timestamptz IS NULL OR (created_at, subscription_id) > ($1, $2))
            ORDER BY created_at, subscription_id LIMIT $3""",
        after[0] if after else None, after[1] if after else None, limit)
    return [_subscription(r) for r in rows]


async def enqueue_deliveries(conn: Conn, event_id: UUID, event_type: str,
                             cite_id: str | None, body: str, at: datetime,
                             delivery_id_of: Any, traceparent: str | None = None) -> int:
    """A delivery of this event to every live subscription asking for its type, paused
    ones included (theirs wait until resumed); once each: the id derives from both; in the
    trace of its cause (``traceparent``). Return how many were new."""
    subs = [r[0] for r in await conn.fetch(
        """SELECT subscription_id FROM webhook_subscriptions
           WHERE deleted_at IS NULL AND event_types @> ARRAY[$1::text]""",
        event_type)]
    if not subs:
        return 0
    return int(await conn.fetchval(
        """WITH i AS (
               INSERT INTO webhook_deliveries (delivery_id, subscription_id, event_id,
                   event_type, cite_id, body, next_attempt_at, created_at, traceparent)
               SELECT d, s, $3, $4, $5, $6, $7, $7, $8
               FROM unnest($1::uuid[], $2::uuid[]) AS x(d, s)
               ON CONFLICT (delivery_id) DO NOTHING RETURNING 1)
           SELECT count(*) FROM i""",
        [delivery_id_of(s, event_id) for s in subs], subs, event_id, event_type, cite_id,
        body, at, traceparent))


async def claim_deliveries(conn: Conn, now: datetime, lease_s: float, limit: int
                           ) -> list[Delivery]:
    """Claim due deliveries of active subscriptions (those of a paused one wait), and those
    a sender claimed and did not finish within the lease. Skips rows another replica is
    claiming."""
    rows = await conn.fetch(
        """UPDATE webhook_deliveries d SET status = 'sending', attempts = d.attempts + 1,
                                           claimed_at = $1
           FROM (SELECT d.delivery_id FROM webhook_deliveries d
                 JOIN webhook_subscriptions s USING (subscription_id)
                 WHERE s.active AND s.deleted_at IS NULL
                   AND ((d.status = 'pending' AND d.next_attempt_at <= $1)
                        OR (d.status = 'sending'
                            AND d.claimed_at < $1 - make_interval(secs => $2)))
                 ORDER BY d.next_attempt_at LIMIT $3 FOR UPDATE OF d SKIP LOCKED) due,
                webhook_subscriptions s
           WHERE d.delivery_id = due.delivery_id AND s.subscription_id = d.subscription_id
           RETURNING d.delivery_id, d.subscription_id, s.url, d.body, d.attempts, s.secret,
                     d.traceparent,
                     CASE WHEN s.previous_expires_at > $1 THEN s.previous_secret END
                         AS previous_secret""",
        now, lease_s, limit)
    return [Delivery(r["delivery_id"], r["subscription_id"], r["url"], r["body"],
                     r["attempts"],
                     [r["secret"]] + ([r["previous_secret"]] if r["previous_secret"] else []),
                     traceparent=r["traceparent"])
            for r in rows]


async def mark_delivered(conn: Conn, delivery_id: UUID, status: int, at: datetime) -> bool:
    return bool(await conn.fetchval(
        """UPDATE webhook_deliveries SET status = 'delivered', delivered_at = $3,
                  last_status = $2, last_error = NULL
           WHERE delivery_id = $1 AND status = 'sending' RETURNING true""",
        delivery_id, status, at))


async def mark_delivery_failed(conn: Conn, delivery_id: UUID, status: int | None,
                               reason: str, at: datetime) -> bool:
    return bool(await conn.fetchval(
        """UPDATE webhook_deliveries SET status = 'failed', failed_at = $4, last_status = $2,
                  last_error = $3
           WHERE delivery_id = $1 AND status = 'sending' RETURNING true""",
        delivery_id, status, reason, at))


async def retry_delivery_later(conn: Conn, delivery_id: UUID, status: int | None,
                               reason: str, when: datetime) -> None:
    await conn.execute(
        """UPDATE webhook_deliveries SET status = 'pending', next_attempt_at = $4,
                  last_status = $2, last_error = $3
           WHERE delivery_id = $1 AND status = 'sending'""",
        delivery_id, status, reason, when)


async def deactivate_subscription(conn: Conn, subscription_id: UUID, at: datetime) -> None:
    await conn.execute(
        """UPDATE webhook_subscriptions SET active = false, updated_at = $2
           WHERE subscription_id = $1""", subscription_id, at)


_DELIVERY = """delivery_id, subscription_id, event_id, event_type, cite_id, status, attempts,
               next_attempt_at, last_status, last_error, created_at, delivered_at, failed_at"""


async def deliveries(conn: Reads, subscription_id: UUID,
                     after: tuple[datetime, UUID] | None, limit: int,
                     status: DeliveryStatus | None = None) -> list[asyncpg.Record]:
    return await conn.fetch(
        f"""SELECT {_DELIVERY} FROM webhook_deliveries
            WHERE subscription_id = $1 AND ($4::text IS NULL OR status = $4)
              AND ($2::timestamptz IS NULL OR (created_at, delivery_id) > ($2, $5))
            ORDER BY created_at, delivery_id LIMIT $3""",
        subscription_id, after[0] if after else None, limit,
        status.value if status else None, after[1] if after else None)


async def get_delivery(conn: Reads, delivery_id: UUID, *, lock: bool = False
                       ) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"SELECT {_DELIVERY} FROM webhook_deliveries WHERE delivery_id = $1"
        + (" FOR UPDATE" if lock else ""), delivery_id)


async def resend_delivery(conn: Conn, delivery_id: UUID, at: datetime) -> None:
    """A failed delivery, due again with its attempts from zero."""
    await conn.execute(
        """UPDATE webhook_deliveries SET status = 'pending', attempts = 0,
                  next_attempt_at = $2, failed_at = NULL
           WHERE delivery_id = $1 AND status = 'failed'""", delivery_id, at)


# --- the queues, for /metrics ------------------------------------------------------------


async def queue_figures(conn: Reads, now: datetime) -> dict[str, dict[str, float]]:
    """Per channel: how many wait (pending or sending), how many of them are being retried,
    and the age in seconds of the oldest waiting one (0 when none)."""
    rows = await conn.fetch(
        """SELECT 'email' AS channel, count(*) AS waiting,
                  count(*) FILTER (WHERE attempts > 0) AS retrying,
                  coalesce(extract(epoch FROM $1 - min(created_at)), 0) AS oldest
           FROM notifications WHERE status IN ('pending', 'sending')
           UNION ALL
           SELECT 'webhook', count(*), count(*) FILTER (WHERE attempts > 0),
                  coalesce(extract(epoch FROM $1 - min(created_at)), 0)
           FROM webhook_deliveries WHERE status IN ('pending', 'sending')""", now)
    return {r["channel"]: {"waiting": float(r["waiting"]), "retrying": float(r["retrying"]),
                           "oldest": float(r["oldest"])} for r in rows}
