"""The platform's health, probed from outside as an operator would, every
``health_interval_s`` (a background job) and kept in ``platform_health`` for the page:

- **consumer lag** per consumer group: records of the topics it reads not yet committed
  (end offset − committed offset, per partition). Which groups read which topics is the
  platform's AsyncAPI document's (its receive operations and their ``groupId``), the
  catalogue an outside team reads too;
- **dead letters** per ``<group>.dlq`` topic: letters not yet replayed, skipped or parked
  (end offset − what its ``<group>.dlq-replay`` group committed);
- **each service's** readiness (``/health/ready``) and outbox backlog (``/metrics``:
  ``outbox_backlog``, ``outbox_lag_seconds``, ``outbox_parked_rows``), over HTTP, at the
  URLs of ``DASHBOARD_SERVICES``; and the dashboard's own.

A part that does not answer in ``health_timeout_s`` is shown with its error, not guessed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from datetime import datetime
from functools import cache
from pathlib import Path

import httpx
import yaml
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from prometheus_client.parser import text_string_to_metric_families
from pydantic import BaseModel

from cites_contracts.asyncapi import DOCUMENT
from cites_runtime.app import Runtime, periodic
from cites_runtime.kafka import kafka_client_kwargs

from . import store
from .settings import DashboardSettings

__all__ = ["ConsumerLag", "DeadLetters", "Health", "ServiceHealth", "consumer_groups",
           "health_probe", "outbox_figures", "probe"]


class ServiceHealth(BaseModel):
    name: str
    url: str
    ready: bool | None = None
    """None: it did not answer."""
    checks: dict[str, str] = {}
    outbox_backlog: int | None = None
    outbox_lag_s: float | None = None
    outbox_parked: int | None = None
    error: str | None = None


class ConsumerLag(BaseModel):
    group: str
    topics: list[str]
    lag: int | None = None
    error: str | None = None


class DeadLetters(BaseModel):
    topic: str
    depth: int | None = None
    error: str | None = None


class Health(BaseModel):
    taken_at: datetime
    services: list[ServiceHealth]
    consumers: list[ConsumerLag]
    dead_letters: list[DeadLetters]


@cache
def consumer_groups(document: str = str(DOCUMENT)) -> dict[str, list[str]]:
    """Each consumer group → the topics it reads, from the AsyncAPI document's receive
    operations."""
    doc = yaml.safe_load(Path(document).read_text(encoding="utf-8"))
    channels = doc.get("channels", {})
    groups: dict[str, set[str]] = {}
    for op in doc.get("operations", {}).values():
        if op.get("action") != "receive":
            continue
        group = op.get("bindings", {}).get("kafka", {}).get("groupId", {}).get("const")
        channel = channels[op["channel"]["$ref"].rsplit("/", 1)[-1]]
        if group:
            groups.setdefault(group, set()).add(channel["address"])
    return {g: sorted(t) for g, t in sorted(groups.items())}


def outbox_figures(metrics_text: str) -> tuple[int | None, float | None, int | None]:
    """(backlog, lag in seconds, parked rows) from a service's ``/metrics`` (the relay's
    gauges, summed over its schemas; None when its relay has not reported yet)."""
    found: dict[str, list[float]] = {}
    for family in text_string_to_metric_families(metrics_text):
        for sample in family.samples:
            if sample.name in ("outbox_backlog", "outbox_lag_seconds", "outbox_parked_rows"):
                found.setdefault(sample.name, []).append(sample.value)
    backlog, lag, parked = (found.get(n) for n in ("outbox_backlog", "outbox_lag_seconds",
                                                   "outbox_parked_rows"))
    return (None if backlog is None else int(sum(backlog)),
            None if lag is None else max(lag),
            None if parked is None else int(sum(parked)))


def behind(ends: Mapping[TopicPartition, int], done: Mapping[TopicPartition, int],
           starts: Mapping[TopicPartition, int]) -> int:
    """Records between what was done (a committed offset; nothing committed: the first
    record still kept) and each partition's end."""
    return sum(max(0, end - max(done.get(tp, -1), starts.get(tp, 0)))
               for tp, end in ends.items())


async def _service(http: httpx.AsyncClient, name: str, url: str) -> ServiceHealth:
    found = ServiceHealth(name=name, url=url)
    try:
        ready = await http.get(f"{url}/health/ready")
        body = ready.json()
        found.ready, found.checks = ready.status_code == 200, dict(body.get("checks", {}))
        metrics = await http.get(f"{url}/metrics")
        metrics.raise_for_status()
        found.outbox_backlog, found.outbox_lag_s, found.outbox_parked = \
            outbox_figures(metrics.text)
    except (httpx.HTTPError, ValueError) as exc:
        found.error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return found


async def _self(runtime: Runtime[DashboardSettings]) -> ServiceHealth:
    s = runtime.settings
    found = ServiceHealth(name=s.service_name, url=f"http://{s.http_host}:{s.http_port}")
    found.ready, found.checks = await runtime.readiness()
    if "database" in found.checks and found.checks["database"] == "ok":
        row = await runtime.pool.fetchrow(
            """SELECT count(*) FILTER (WHERE parked_at IS NULL)::int AS backlog,
                      count(*) FILTER (WHERE parked_at IS NOT NULL)::int AS parked,
                      coalesce(extract(epoch FROM now() - min(created_at)), 0)::float AS lag
               FROM outbox WHERE published_at IS NULL""")
        assert row is not None
        found.outbox_backlog, found.outbox_parked, found.outbox_lag_s = \
            row["backlog"], row["parked"], row["lag"]
    return found


async def _kafka(s: DashboardSettings, groups: Mapping[str, Iterable[str]]
                 ) -> tuple[list[ConsumerLag], list[DeadLetters]]:
    admin = AIOKafkaAdminClient(**kafka_client_kwargs(s),
                                request_timeout_ms=int(s.health_timeout_s * 1000))
    reader = AIOKafkaConsumer(**kafka_client_kwargs(s),
                              request_timeout_ms=int(s.health_timeout_s * 1000) + 1000)
    lags: list[ConsumerLag] = []
    letters: list[DeadLetters] = []
    try:
        await admin.start()
        await reader.start()
        await reader._client.force_metadata_update()

        async def offsets(topics: Iterable[str]) -> tuple[dict[TopicPartition, int],
                                                          dict[TopicPartition, int]]:
            tps = [TopicPartition(t, p) for t in topics
                   for p in sorted(reader.partitions_for_topic(t) or ())]
            if not tps:
                return {}, {}
            return await reader.end_offsets(tps), await reader.beginning_offsets(tps)

        async def committed(group: str) -> dict[TopicPartition, int]:
            found = await admin.list_consumer_group_offsets(group)
            return {tp: o.offset for tp, o in found.items()}

        for group, topics in groups.items():
            names = [s.topic(t) for t in topics]
            try:
                ends, starts = await offsets(names)
                lags.append(ConsumerLag(group=group, topics=list(topics), lag=behind(
                    ends, await committed(s.topic(group)), starts)))
            except Exception as exc:
                lags.append(ConsumerLag(group=group, topics=list(topics), error=repr(exc)))
            dlq = f"{group}.dlq"
            try:
                ends, starts = await offsets([s.topic(dlq)])
                depth = behind(ends, await committed(f"{s.topic(dlq)}-replay"), starts)
                letters.append(DeadLetters(topic=dlq, depth=depth))
            except Exception as exc:
                letters.append(DeadLetters(topic=dlq, error=repr(exc)))
    except Exception as exc:  # the broker away: every figure says so
        said = f"broker unavailable: {exc!r}"
        lags = [ConsumerLag(group=g, topics=list(t), error=said) for g, t in groups.items()]
        letters = [DeadLetters(topic=f"{g}.dlq", error=said) for g in groups]
    finally:
        await reader.stop()
        await admin.close()
    return lags, letters


async def probe(runtime: Runtime[DashboardSettings]) -> Health:
    """One probe of the whole platform (services over HTTP, the broker, itself)."""
    s = runtime.settings
    groups = consumer_groups()

    async def kafka() -> tuple[list[ConsumerLag], list[DeadLetters]]:
        try:
            return await asyncio.wait_for(_kafka(s, groups), s.health_timeout_s * 4)
        except TimeoutError:
            said = "the broker did not answer in time"
            return ([ConsumerLag(group=g, topics=t, error=said) for g, t in groups.items()],
                    [DeadLetters(topic=f"{g}.dlq", error=said) for g in groups])

    async with httpx.AsyncClient(timeout=s.health_timeout_s) as http:
        services, (lags, letters), own = await asyncio.gather(
            asyncio.gather(*(_service(http, name, str(url).rstrip("/"))
                             for name, url in s.services.items())),
            kafka(), _self(runtime))
    return Health(taken_at=s.clock(), services=[*services, own], consumers=lags,
                  dead_letters=letters)


async def probe_and_keep(runtime: Runtime[DashboardSettings]) -> None:
    health = await probe(runtime)
    await store.save_health(runtime.pool, health.taken_at, health.model_dump(mode="json"))


health_probe = periodic("health probe", probe_and_keep, lambda s: float(s.health_interval_s))
"""Probe the platform at start, then every ``health_interval_s``; kept for the page."""


