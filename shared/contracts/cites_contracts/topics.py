"""The Kafka topics: one per producing service's aggregate stream, keyed by the aggregate id.

Every event of one aggregate (one candidature, one cité…) goes to the same topic with the
same key, hence the same partition: consumers see it in ``sequence`` order.
"""

from __future__ import annotations

import re

from .envelope import Topic

__all__ = [
    "ALL_TOPICS",
    "FUNDING_ALLOCATIONS",
    "FUNDING_ENVELOPES",
    "LABELLING_CANDIDATURES",
    "LABELLING_LABELS",
    "NOTIFICATIONS_DELIVERIES",
    "PARTNERS_ALLIANCES",
    "PARTNERS_REGISTRY",
    "dlq_topic",
]

LABELLING_CANDIDATURES = Topic(
    "labelling.candidatures",
    "labelling",
    "Life of a candidature from filing to rejection or withdrawal.",
    key="candidature_id",
)

LABELLING_LABELS = Topic(
    "labelling.labels",
    "labelling",
    "Life of a cité's label: labelled, renewed, extended, suspended, withdrawn, expired.",
    key="cite_id",
)

PARTNERS_REGISTRY = Topic(
    "partners.registry",
    "partners",
    "Partner organisations (schools, communes, State services, associations…) and the "
    "e-mail of their consenting contacts.",
    key="partner_id",
)

PARTNERS_ALLIANCES = Topic(
    "partners.alliances",
    "partners",
    "Each cité's alliance éducative: opening, members and their roles, chef de file, closing.",
    key="cite_id",
)

FUNDING_ENVELOPES = Topic(
    "funding.envelopes",
    "funding",
    "Budget envelopes (programmes 147 and 230) the cités' dotations are drawn from.",
    key="envelope_id",
)

FUNDING_ALLOCATIONS = Topic(
    "funding.allocations",
    "funding",
    "A cité's money, in order: allocations and refusals, fonds de la cité, commitments, "
    "payments, freezes. Keyed by cité so a consumer sees them in the order they happened.",
    key="cite_id",
)

NOTIFICATIONS_DELIVERIES = Topic(
    "notifications.deliveries",
    "notifications",
    "Outcome of each notification (one message to one recipient): sent or failed.",
    key="notification_id",
)

ALL_TOPICS: tuple[Topic, ...] = (
    LABELLING_CANDIDATURES,
    LABELLING_LABELS,
    PARTNERS_REGISTRY,
    PARTNERS_ALLIANCES,
    FUNDING_ENVELOPES,
    FUNDING_ALLOCATIONS,
    NOTIFICATIONS_DELIVERIES,
)

_CONSUMER = re.compile(r"[a-z][a-z0-9_-]*(\.[a-z][a-z0-9_-]*)*")


def dlq_topic(consumer: str) -> str:
    """The dead-letter topic of a consumer (group), e.g. ``notifications.dlq``."""
    if not _CONSUMER.fullmatch(consumer):
        raise ValueError(f"consumer name {consumer!r} must be a lower-case dotted identifier")
    return f"{consumer}.dlq"
