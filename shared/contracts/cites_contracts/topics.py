"""The Kafka topics: one per producing service's aggregate stream, keyed by the aggregate id.

Every event of one aggregate (one candidature, one cité…) goes to the same topic with the
same key, hence the same partition: consumers see it in ``sequence`` order.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .envelope import DAY_MS, Topic

if TYPE_CHECKING:
    from .access import KafkaAccess

_KEPT = ("The events are the history other services replay to build their "
         "state from the first one. Compaction by key would keep only an aggregate's last "
         "event (a cité's expiry without its labelling).")

HISTORY_PARTITIONS = 6
"""Partitions of each history topic (those kept forever, which consumers replay): a
consumer group splits a topic's partitions among its members, so a service runs at most
this many useful replicas, and 1, 2, 3 or 6 of them get even shares (deploy/local/
layout.py's MAX_REPLICAS; docs/running.md). Fixed once data is in a topic: more would
move keys between partitions, and with them the order of an aggregate's events."""

__all__ = [
    "ALL_TOPICS",
    "ERASURE_PROMISE",
    "FUNDING_ALLOCATIONS",
    "FUNDING_CREDITS",
    "FUNDING_ENVELOPES",
    "HISTORY_PARTITIONS",
    "LABELLING_CANDIDATURES",
    "LABELLING_CONTACTS",
    "LABELLING_LABELS",
    "LABELLING_REVIEWS",
    "NOTIFICATIONS_DELIVERIES",
    "PARTNERS_ALLIANCES",
    "PARTNERS_CONTACTS",
    "PARTNERS_REGISTRY",
    "ROLL_KEY",
    "ROLL_NUDGE_S",
    "Provisioned",
    "apply",
    "dead_letter_topics",
    "declared_topics",
    "dlq_topic",
]

LABELLING_CANDIDATURES = Topic(
    "labelling.candidatures",
    "labelling",
    "Life of a candidature from filing to rejection or withdrawal.",
    key="candidature_id",
    partitions=HISTORY_PARTITIONS,
    why=_KEPT,
)

LABELLING_LABELS = Topic(
    "labelling.labels",
    "labelling",
    "Life of a cité's label: labelled, renewed, extended, suspended, withdrawn, expired.",
    key="cite_id",
    partitions=HISTORY_PARTITIONS,
    why=_KEPT,
)

LABELLING_REVIEWS = Topic(
    "labelling.reviews",
    "labelling",
    "Each cité's annual revue de projet: opened for the year, validated by the troïka, "
    "submitted to the national coordination (with the money used and the indicators), or "
    "overdue. Keyed by cité so a consumer sees a cité's reviews in order.",
    key="cite_id",
    partitions=HISTORY_PARTITIONS,
    why=_KEPT,
)

PARTNERS_REGISTRY = Topic(
    "partners.registry",
    "partners",
    "Partner organisations (schools, communes, State services, associations…) and the "
    "ids of their consenting contacts (their cards are on partners.contacts).",
    key="partner_id",
    partitions=HISTORY_PARTITIONS,
    why=_KEPT + " No personal data since version 2 of its events: contacts are named by "
    "id; their addresses are on partners.contacts, which erasure reaches."
)

PARTNERS_ALLIANCES = Topic(
    "partners.alliances",
    "partners",
    "Each cité's alliance éducative: opening, members and their roles, chef de file, closing.",
    key="cite_id",
    partitions=HISTORY_PARTITIONS,
    why=_KEPT,
)

FUNDING_ENVELOPES = Topic(
    "funding.envelopes",
    "funding",
    "Budget envelopes (programmes 147 and 230) the cités' dotations are drawn from.",
    key="envelope_id",
    partitions=HISTORY_PARTITIONS,
    why=_KEPT,
)

FUNDING_CREDITS = Topic(
    "funding.credits",
    "funding",
    "The State's credits of each programme by budget year: voted in AE (what may be "
    "committed) and CP (what may be paid), delegated to each département's préfet, closed "
    "at year end. Keyed by programme so a consumer sees its years in order.",
    key="programme",
    partitions=HISTORY_PARTITIONS,
    why=_KEPT,
)

FUNDING_ALLOCATIONS = Topic(
    "funding.allocations",
    "funding",
    "A cité's money, in order: allocations and refusals, fonds de la cité, commitments, "
    "payments, freezes. Keyed by cité so a consumer sees them in the order they happened.",
    key="cite_id",
    partitions=HISTORY_PARTITIONS,
    why=_KEPT,
)

NOTIFICATIONS_DELIVERIES = Topic(
    "notifications.deliveries",
    "notifications",
    "Outcome of each notification (one message to one recipient): sent or failed.",
    key="notification_id",
    retention_ms=365 * DAY_MS,
    why="A year of outcomes: what an audit of who was told what needs; nothing replays "
    "them to rebuild state."
)

# -- personal data: compacted, keyed per person, erased by a tombstone ------------------
ERASURE_PROMISE = "1 hour"
"""An erased person's address is gone from the producing service's database in the
erasure's own transaction (state and outbox), and from every Kafka topic within this.

How the topic configuration below keeps it: the active segment is never compacted, and
Kafka decides to roll it only when a record is appended to it, once its first record is
older than ``min(segment.ms, max.compaction.lag.ms)`` (10 min). The producer appends a
roll nudge (a tombstone of :data:`ROLL_KEY`) to each partition every :data:`ROLL_NUDGE_S`
(5 min), so a segment holding an address or its tombstone closes within 15 min; a closed
segment older than ``max.compaction.lag.ms`` is compacted at the log cleaner's next pass
(``log.cleaner.backoff.ms``, 15 s). Compaction keeps, per key, only the last record: the
tombstone. Worst case ≈ 16 min plus the cleaner's queue: 1 hour leaves a margin.
Tombstones (no personal data) are kept ``delete.retention.ms`` (7 days), so a consumer
down for up to a week still sees them; one down longer must rebuild from the topic."""

ROLL_NUDGE_S = 300.0
"""How often a producer of personal data appends a roll nudge to each partition."""

ROLL_KEY = b"~roll"
"""Key of the roll nudges: a tombstone of a key no person has (consumers ignore it)."""

_ERASABLE = (
    ("segment.ms", str(10 * 60 * 1000)),
    ("max.compaction.lag.ms", str(10 * 60 * 1000)),
    ("min.compaction.lag.ms", "0"),
    ("min.cleanable.dirty.ratio", "0.01"),
    ("delete.retention.ms", str(7 * DAY_MS)),
)
_ERASABLE_WHY = (
    "Personal data, erasable: compacted by person, so a person's earlier values disappear "
    "and erasure's tombstone (a null value) removes the last one; the compaction timings "
    f"keep the erasure promise (gone from Kafka within {ERASURE_PROMISE}, see "
    "cites_contracts.topics.ERASURE_PROMISE). Tombstones stay 7 days for late consumers.")

PARTNERS_CONTACTS = Topic(
    "partners.contacts",
    "partners",
    "The current card (partner, e-mail) of each partner contact who consents to the "
    "programme's e-mails. A null value (tombstone) means: forget this contact (erased, or "
    "consent withdrawn).",
    key="contact_id",
    cleanup_policy="compact",
    extra_configs=_ERASABLE,
    personal_data=True,
    why=_ERASABLE_WHY,
)

LABELLING_CONTACTS = Topic(
    "labelling.contacts",
    "labelling",
    "The current card (candidature, role, e-mail) of each troïka signatory of a submitted "
    "candidature. A null value (tombstone) means: forget this signatory (erased).",
    key="contact_id",
    cleanup_policy="compact",
    extra_configs=_ERASABLE,
    personal_data=True,
    why=_ERASABLE_WHY,
)

ALL_TOPICS: tuple[Topic, ...] = (
    LABELLING_CANDIDATURES,
    LABELLING_CONTACTS,
    LABELLING_LABELS,
    LABELLING_REVIEWS,
    PARTNERS_CONTACTS,
    PARTNERS_REGISTRY,
    PARTNERS_ALLIANCES,
    FUNDING_ENVELOPES,
    FUNDING_CREDITS,
    FUNDING_ALLOCATIONS,
    NOTIFICATIONS_DELIVERIES,
)

_CONSUMER = re.compile(r"[a-z][a-z0-9_-]*(\.[a-z][a-z0-9_-]*)*")


def dlq_topic(consumer: str) -> str:
    """The dead-letter topic of a consumer (group), e.g. ``notifications.dlq``."""
    if not _CONSUMER.fullmatch(consumer):
        raise ValueError(f"consumer name {consumer!r} must be a lower-case dotted identifier")
    return f"{consumer}.dlq"


def dead_letter_topics(consumer: str) -> tuple[Topic, Topic, Topic]:
    """The topics of a consumer's dead letters: ``<consumer>.dlq`` and the letters an
    operator set aside from it, ``.skipped`` and ``.parked`` (``dlq skip`` / ``dlq park``)."""
    dlq = dlq_topic(consumer)
    letters = Topic(dlq, consumer, f"Records {consumer} could not apply, each with its reason "
                    "(dlq.* headers), to replay once the cause is fixed.",
                    retention_ms=90 * DAY_MS,
                    why="90 days: long enough to notice, fix the cause and replay; the "
                    "originals stay on their topics meanwhile.")
    return (letters,
            *(Topic(f"{dlq}.{aside}", consumer, f"Dead letters of {consumer} an operator "
                    f"{aside} with a reason, kept for audit.", retention_ms=365 * DAY_MS,
                    why="A year: the audit trail of what was set aside, and why.")
              for aside in ("skipped", "parked")))  # type: ignore[return-value]


# -- provisioning ---------------------------------------------------------------------
_ALREADY_EXISTS = 36  # Kafka's TOPIC_ALREADY_EXISTS


@dataclass
class Provisioned:
    """What :func:`apply` did: topics created, and differences it found but left alone."""

    brokers: int
    created: list[str] = field(default_factory=list)
    drift: list[str] = field(default_factory=list)
    """One line per difference between a live topic and its declaration."""
    below_declared: list[str] = field(default_factory=list)
    """Topics created with fewer replicas than declared: the cluster has fewer brokers
    (a development cluster says so; production runs as many as declared)."""


async def apply(access: KafkaAccess, topics: Sequence[Topic], *,
                prefix: str = "") -> Provisioned:
    """Create every declared topic that is missing, as declared; compare the others with
    their declaration. Idempotent, safe to run from several processes at once, and it never
    deletes or changes data: a live topic that differs (partitions, replicas, retention…)
    is reported, not altered — shortening a retention or adding partitions is an
    operator's decision. Needs aiokafka (``cites-contracts[kafka]``)."""
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic
    from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

    admin = AIOKafkaAdminClient(**access.client_kwargs())
    await admin.start()
    try:
        brokers = len((await admin.describe_cluster())["brokers"])
        done = Provisioned(brokers)
        declared = {prefix + t.name: t for t in topics}
        existing = set(await admin.list_topics())
        missing = [NewTopic(name, t.partitions, t.replicas(brokers),
                            topic_configs=t.configs(brokers))
                   for name, t in declared.items() if name not in existing]
        if missing:  # one request: the controller creates them together
            response = await admin.create_topics(missing)
            for topic, code, *message in response.topic_errors:
                if code == _ALREADY_EXISTS:  # another process created it meanwhile
                    continue
                if code:
                    raise RuntimeError(f"cannot create topic {topic}: error {code} {message}")
                done.created.append(topic)
                if declared[topic].replicas(brokers) < declared[topic].replication_factor:
                    done.below_declared.append(topic)
        live = await _described(admin, list(declared), wait_for=set(done.created))
        resources = [ConfigResource(ConfigResourceType.TOPIC, n) for n in declared]
        configs: dict[str, dict[str, str | None]] = {}
        for response in await admin.describe_configs(resources):
            for resource in response.to_object()["resources"]:
                configs[resource["resource_name"]] = {
                    e["config_names"]: e["config_value"] for e in resource["config_entries"]}
        for name, t in declared.items():
            partitions = live.get(name, {}).get("partitions", [])
            replicas = {len(p["replicas"]) for p in partitions}
            if len(partitions) != t.partitions:
                done.drift.append(f"{name}: {len(partitions)} partitions, "
                                  f"declared {t.partitions}")
            if replicas and replicas != {t.replicas(brokers)}:
                done.drift.append(f"{name}: replication factor {sorted(replicas)}, declared "
                                  f"{t.replicas(brokers)} on {brokers} broker(s)")
            for key, want in t.configs(brokers).items():
                got = configs.get(name, {}).get(key)
                if got != want:
                    done.drift.append(f"{name}: {key}={got}, declared {want}")
        return done
    finally:
        await admin.close()


async def _described(admin: Any, names: list[str], *, wait_for: set[str],
                     timeout: float = 30.0) -> dict[str, Any]:
    """Topic metadata by name, once the topics just created show all their partitions
    (creation completes asynchronously: a producer right after would not find them)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        live = {d["topic"]: d for d in await admin.describe_topics(names)}
        pending = [n for n in wait_for if not live.get(n, {}).get("partitions")]
        if not pending or asyncio.get_running_loop().time() > deadline:
            return live
        await asyncio.sleep(0.1)


def declared_topics(consumers: Sequence[str] = ()) -> tuple[Topic, ...]:
    """The catalogue's topics, and the dead-letter topics of ``consumers``."""
    return (*ALL_TOPICS, *(t for c in consumers for t in dead_letter_topics(c)))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m cites_contracts.topics",
        description="The platform's Kafka topics, as declared in the contracts.")
    commands = parser.add_subparsers(dest="command", required=True)
    up = commands.add_parser("apply", help="create missing topics as declared; report drift")
    up.add_argument("--bootstrap", help="Kafka bootstrap servers (default: "
                    "KAFKA_BOOTSTRAP_SERVERS; credentials: KAFKA_USERNAME, KAFKA_PASSWORD)")
    up.add_argument("--prefix", default="", help="prefix of every topic name (tests)")
    up.add_argument("--consumer", action="append", default=[],
                    help="also its dead-letter topics (repeatable)")
    up.add_argument("--strict", action="store_true", help="exit 1 when a topic drifts")
    commands.add_parser("list", help="print each declared topic and its configuration")
    args = parser.parse_args(argv)
    if args.command == "list":
        for t in declared_topics():
            print(f"{t.name}  partitions={t.partitions} replicas={t.replication_factor} "
                  f"{' '.join(f'{k}={v}' for k, v in t.configs().items())}\n  {t.why}")
        return 0
    from .access import KafkaAccess  # it imports this module's catalogue
    access = KafkaAccess.from_env()
    if args.bootstrap:
        access = dataclasses.replace(access, bootstrap=args.bootstrap)
    try:
        done = asyncio.run(apply(access, declared_topics(args.consumer),
                                 prefix=args.prefix))
    except Exception as exc:  # unreachable broker, refused request: say it, no traceback
        print(f"cannot provision the topics on {access.bootstrap}: {exc}", file=sys.stderr)
        return 2
    for name in done.created:
        print(f"created {name}")
    for line in done.drift:
        print(f"DRIFT {line}", file=sys.stderr)
    if done.below_declared:
        print(f"BELOW DECLARED REPLICATION: {len(done.below_declared)} topic(s) created with "
              f"{done.brokers} replica(s) (declared up to "
              f"{max(t.replication_factor for t in declared_topics(args.consumer))}): this "
              f"cluster has {done.brokers} broker(s) — a development cluster; production "
              "runs at least as many brokers as declared", file=sys.stderr)
    print(f"{len(done.created)} topic(s) created, {len(done.drift)} difference(s) "
          f"on {done.brokers} broker(s)")
    return 1 if args.strict and done.drift else 0


if __name__ == "__main__":
    sys.exit(main())
