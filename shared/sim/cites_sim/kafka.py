"""What Kafka says: every event of the catalogue's topics, each consumer group's lag, each
dead-letter topic's pending letters; and waiting until the platform has settled."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.coordinator.protocol import ConsumerProtocolMemberAssignment
from aiokafka.errors import KafkaError
from prometheus_client.parser import text_string_to_metric_families

from cites_contracts import Envelope, Event
from cites_contracts.access import KafkaAccess
from cites_contracts.codec import DecodeError, decode
from cites_contracts.topics import ALL_TOPICS, ROLL_KEY, dlq_topic

from .platform import SERVICES, Api, Endpoints, SimError

__all__ = ["Health", "SettleTimeout", "health", "read_events", "wait_settled"]


class SettleTimeout(SimError):
    """The platform did not settle in time."""


@dataclass
class Health:
    """The platform's queues at one moment."""

    lag: dict[str, int] = field(default_factory=dict)
    """Consumer group (without prefix) → records published and not yet consumed."""
    dead_letters: dict[str, int] = field(default_factory=dict)
    """Consumer → dead letters not replayed (``<consumer>.dlq`` past its replay group)."""
    outbox: dict[str, int] = field(default_factory=dict)
    """Service → outbox rows not yet published (its ``/metrics``, refreshed every 5 s)."""
    mails_waiting: int = 0
    """Notifications pending or being sent (the delivery log)."""
    ends: dict[str, int] = field(default_factory=dict)
    """Topic → sum of its end offsets: unchanged between two looks = nothing published."""
    unreachable: list[str] = field(default_factory=list)
    """What could not be read at this look (a service restarting, the broker away)."""

    @property
    def quiet(self) -> bool:
        return self.events_quiet and self.mails_waiting == 0

    @property
    def events_quiet(self) -> bool:
        """Every event published and consumed (mail may still wait to be sent)."""
        return (not self.unreachable and not any(self.lag.values())
                and not any(self.outbox.values()))

    def pending(self) -> str:
        parts = [f"{what} unreachable" for what in self.unreachable]
        parts += [f"{g} lags {n}" for g, n in self.lag.items() if n]
        parts += [f"{s} outbox holds {n}" for s, n in self.outbox.items() if n]
        if self.mails_waiting:
            parts.append(f"{self.mails_waiting} mail(s) waiting")
        return ", ".join(parts) or "events still being published"


async def _partitions(consumer: AIOKafkaConsumer, topics: list[str]) -> list[TopicPartition]:
    await consumer._client.force_metadata_update()
    found = []
    for topic in topics:
        for p in sorted(consumer.partitions_for_topic(topic) or ()):
            found.append(TopicPartition(topic, p))
    return found


async def _end_offsets(access: KafkaAccess, topics: list[str]
                       ) -> tuple[dict[TopicPartition, int], dict[TopicPartition, int]]:
    """(beginning, end) offsets of every partition of ``topics`` that exists."""
    consumer = AIOKafkaConsumer(**access.client_kwargs(), enable_auto_commit=False)
    await consumer.start()
    try:
        tps = await _partitions(consumer, topics)
        if not tps:
            return {}, {}
        return await consumer.beginning_offsets(tps), await consumer.end_offsets(tps)
    finally:
        await consumer.stop()


async def _group_partitions(admin: AIOKafkaAdminClient, group: str
                            ) -> tuple[dict[TopicPartition, int], set[TopicPartition]]:
    """The group's committed offsets, and the partitions its live members are assigned."""
    committed = {tp: meta.offset for tp, meta in
                 (await admin.list_consumer_group_offsets(group)).items()}
    assigned: set[TopicPartition] = set()
    for response in await admin.describe_consumer_groups([group]):
        for described in response.groups:
            # (error_code, group, state, protocol_type, protocol, members, ...)
            for member in described[5]:
                raw = member[4]  # (member_id, client_id, host, metadata, assignment)
                if not raw:
                    continue
                assignment = ConsumerProtocolMemberAssignment.decode(raw)
                for topic, partitions in assignment.assignment:
                    assigned.update(TopicPartition(topic, p) for p in partitions)
    return committed, assigned


async def health(endpoints: Endpoints, api: Api | None = None, *, mails: bool = True
                 ) -> Health:
    """Lag of each consumer group, pending dead letters, outbox backlogs and waiting mail."""
    h = Health()
    topics = [endpoints.topic(t.name) for t in ALL_TOPICS]
    dlqs = {c: endpoints.topic(dlq_topic(c)) for c in endpoints.consumers}
    begins, ends = await _end_offsets(endpoints.kafka, [*topics, *dlqs.values()])
    for tp, end in ends.items():
        h.ends[tp.topic] = h.ends.get(tp.topic, 0) + end
    admin = AIOKafkaAdminClient(**endpoints.kafka.client_kwargs())
    await admin.start()
    try:
        for consumer in endpoints.consumers:
            committed, assigned = await _group_partitions(admin, endpoints.topic(consumer))
            read = {tp for tp in committed if tp.topic in topics} | assigned
            # A partition the group reads but never committed is read from its beginning.
            h.lag[consumer] = sum(max(0, ends.get(tp, 0) - max(committed.get(tp, -1),
                                                               begins.get(tp, 0)))
                                  for tp in read)
            replayed = {tp: meta.offset for tp, meta in (await admin.list_consumer_group_offsets(
                endpoints.topic(f"{consumer}.dlq-replay"))).items()}
            h.dead_letters[consumer] = sum(
                max(0, end - max(replayed.get(tp, -1), begins.get(tp, 0)))
                for tp, end in ends.items() if tp.topic == dlqs[consumer])
    finally:
        await admin.close()
    if api is not None:
        h.outbox, h.unreachable = await _outbox_backlogs(api)
        if not mails:
            return h
        waiting = 0
        for status in ("pending", "sending"):
            page = await api.call("notifications", "GET", "/notifications",
                                  token=api.tokens.national,
                                  params={"status": status, "limit": 200}, ok=(200,))
            waiting += len(page["items"])
        h.mails_waiting = waiting
    return h


async def _outbox_backlogs(api: Api) -> tuple[dict[str, int], list[str]]:
    """Each service's outbox backlog, and the services that did not answer."""
    backlogs: dict[str, int] = {}
    unreachable: list[str] = []
    for service in SERVICES:
        try:
            response = await api.clients[service].get(
                f"{api.endpoints.ops_url(service)}/metrics")
        except httpx.TransportError:  # restarting: its backlog is unknown, not zero
            unreachable.append(service)
            continue
        if response.status_code != 200:
            unreachable.append(service)
            continue
        for family in text_string_to_metric_families(response.text):
            if family.name == "outbox_backlog":
                backlogs[service] = int(sum(s.value for s in family.samples))
    return backlogs, unreachable


async def wait_settled(endpoints: Endpoints, api: Api, *, timeout: float = 120.0,
                       quiet_s: float = 1.5, mails: bool = True,
                       consumers: tuple[str, ...] | None = None,
                       on_look: Callable[[Health], Awaitable[None] | None] | None = None
                       ) -> Health:
    """Wait until nothing moves: every consumer group has consumed everything, no outbox
    holds an unpublished row, no mail waits (unless ``mails`` is false: then mail may still
    be on its way), and no topic grew for ``quiet_s`` seconds (looked at twice). With
    ``consumers``, only those groups' lag and those services' outboxes (with labelling's)
    count. Raises :class:`SettleTimeout` saying what still moves."""
    deadline = time.monotonic() + timeout
    previous: Health | None = None
    while True:
        try:
            now = await health(endpoints, api, mails=mails)
        except (KafkaError, OSError, httpx.TransportError, SimError) as exc:
            # The broker or a service restarting: nothing is known to be settled yet.
            now = Health(unreachable=[repr(exc)[:200]])
        if consumers is not None:
            now.lag = {g: n for g, n in now.lag.items() if g in consumers}
            now.outbox = {s: n for s, n in now.outbox.items()
                          if s in consumers or s == "labelling"}
            now.ends = {t: n for t, n in now.ends.items()
                        if not t.startswith(endpoints.topic("notifications."))}
        if on_look is not None:
            result = on_look(now)
            if result is not None:
                await result
        if now.quiet and previous is not None and previous.quiet and previous.ends == now.ends:
            return now
        if time.monotonic() > deadline:
            raise SettleTimeout(f"the platform did not settle within {timeout:.0f} s: "
                                f"{now.pending()}")
        previous = now if now.quiet else None
        await asyncio.sleep(quiet_s if now.quiet else 0.3)


async def read_events(endpoints: Endpoints) -> tuple[list[Envelope[Event]], int]:
    """Every event on the catalogue's topics from the beginning to their current end, and
    how many records could not be decoded (tombstones and roll nudges aside)."""
    consumer = AIOKafkaConsumer(**endpoints.kafka.client_kwargs(), enable_auto_commit=False,
                                auto_offset_reset="earliest", max_partition_fetch_bytes=4 << 20)
    await consumer.start()
    events: list[Envelope[Event]] = []
    undecodable = 0
    try:
        tps = await _partitions(consumer, [endpoints.topic(t.name) for t in ALL_TOPICS])
        if not tps:
            return [], 0
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        remaining = {tp for tp in tps if ends[tp] > 0}
        positions = {tp: await consumer.position(tp) for tp in remaining}
        remaining = {tp for tp in remaining if positions[tp] < ends[tp]}
        while remaining:
            batch = await consumer.getmany(*remaining, timeout_ms=1000, max_records=5000)
            for tp, records in batch.items():
                for rec in records:
                    if rec.offset >= ends[tp]:
                        continue
                    if rec.value is None or rec.key == ROLL_KEY:
                        continue
                    try:
                        # As our consumers apply it: a retired version upcast.
                        events.append(decode(rec.value, rec.headers).current())
                    except DecodeError:
                        undecodable += 1
            remaining = {tp for tp in remaining if await consumer.position(tp) < ends[tp]}
    finally:
        await consumer.stop()
    return events, undecodable


def data(envelope: Envelope[Any]) -> Any:
    return envelope.data
