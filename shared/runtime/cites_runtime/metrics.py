"""The figures an operator alerts on that no loop counts as it goes: read when
``/metrics`` is scraped (:meth:`cites_runtime.app.Runtime.refresh_metrics`), as an
exporter does, so that they are as fresh as the scrape and cost nothing unscraped.

- ``consumer_lag_records{consumer, group, topic, partition}``: for each partition assigned
  to this process's consumer, the records its group has not committed yet (the partition's
  end offset minus the group's committed offset; nothing committed: minus the first record
  still kept). It is what ``kafka-consumer-groups --describe`` calls LAG, measured by the
  consumer itself, so it rises while the consumer is held (a batch that does not end) and
  falls once it runs. Series of partitions no longer assigned are removed; all of them
  when the broker does not answer (absent: unknown, not zero);
- ``db_pool_connections{schema, state}``: the connections of the service's pool
  ``in_use`` (taken by a transaction or a read) and ``idle``; ``db_pool_max_connections``
  its bound (the relay's own sessions are not the pool's);
- ``service_ready{service}``: 1 when ``/health/ready`` would answer 200, else 0;
  ``service_readiness_check{service, check}``: 1 when the check ``database``, ``broker``
  or ``relay`` is ok (absent when the service has no such check);
- ``build_info{service, version, commit}``: always 1; the version of the service's
  distribution and the commit it was built from (:func:`build_commit`).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import subprocess
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

from aiokafka import TopicPartition
from prometheus_client import Gauge

__all__ = ["BUILD_INFO", "CONSUMER_LAG", "POOL_CONNECTIONS", "POOL_MAX", "READY",
           "READY_CHECK", "ConsumerLagSeries", "build_commit", "consumer_lag",
           "set_build_info", "set_pool", "set_readiness"]

CONSUMER_LAG = Gauge("consumer_lag_records", "Records of a partition assigned to this "
                     "consumer that its group has not committed yet (end offset minus "
                     "committed offset)", ["consumer", "group", "topic", "partition"])
POOL_CONNECTIONS = Gauge("db_pool_connections", "Connections of the service's database "
                         "pool by state: in_use, idle", ["schema", "state"])
POOL_MAX = Gauge("db_pool_max_connections", "The most connections the service's database "
                 "pool opens", ["schema"])
READY = Gauge("service_ready", "1 when /health/ready answers 200, else 0", ["service"])
READY_CHECK = Gauge("service_readiness_check", "1 when a readiness check (database, broker, "
                    "relay) is ok, else 0", ["service", "check"])
BUILD_INFO = Gauge("build_info", "Always 1: the service's version and the commit it was "
                   "built from", ["service", "version", "commit"])

COMMIT_ENV = "CITES_BUILD_COMMIT"
"""Set by the image build (deploy/Dockerfile's ``COMMIT`` argument) or whoever starts the
service; without it, git is asked (a source checkout)."""

_CHECKS = ("database", "broker", "relay")


@functools.cache
def build_commit() -> str:
    """The commit this code was built from: ``$CITES_BUILD_COMMIT``, else what git says
    of the checkout this package lives in, else ``unknown``."""
    if commit := os.environ.get(COMMIT_ENV, "").strip():
        return commit
    try:
        found = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent,
                               capture_output=True, text=True, timeout=5, check=True)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return found.stdout.strip() or "unknown"


@functools.cache
def _installed_version(package: str) -> str | None:
    """The version of the distribution that installs ``package``, or None. Looked up once
    per process: finding the distribution reads every installed one's file list, and what
    is installed does not change under a running process."""
    for distribution in metadata.packages_distributions().get(package, [])[:1]:
        return metadata.version(distribution)
    return None


def set_build_info(service: str, fallback_version: str) -> None:
    """``build_info`` for ``service``: the version of the distribution that installs its
    package (named like the service), or ``fallback_version`` when none does."""
    version = _installed_version(service) or fallback_version
    BUILD_INFO.labels(service, version, build_commit()).set(1)


def set_pool(schema: str, pool: Any | None) -> None:
    """The pool's gauges (an asyncpg pool); none when it is closed or absent."""
    if pool is None or pool.is_closing():
        for state in ("in_use", "idle"):
            _remove(POOL_CONNECTIONS, schema, state)
        _remove(POOL_MAX, schema)
        return
    size, idle = pool.get_size(), pool.get_idle_size()
    POOL_CONNECTIONS.labels(schema, "in_use").set(size - idle)
    POOL_CONNECTIONS.labels(schema, "idle").set(idle)
    POOL_MAX.labels(schema).set(pool.get_max_size())


def set_readiness(service: str, ready: bool | None, checks: Mapping[str, str]) -> None:
    """The readiness gauges from :meth:`Runtime.readiness`'s answer (``ready`` None: the
    runtime stopped, its series removed)."""
    if ready is None:
        _remove(READY, service)
        for check in _CHECKS:
            _remove(READY_CHECK, service, check)
        return
    READY.labels(service).set(1 if ready else 0)
    for check in _CHECKS:
        if check in checks:
            READY_CHECK.labels(service, check).set(1 if checks[check] == "ok" else 0)
        else:
            _remove(READY_CHECK, service, check)


async def consumer_lag(client: Any) -> dict[TopicPartition, int]:
    """Each partition assigned to ``client`` (an AIOKafkaConsumer of a group) → the
    records its group has not committed yet. Asks the broker: the end offsets, the group's
    committed offsets (and the first offsets kept, where nothing is committed)."""
    assigned = sorted(client.assignment())
    if not assigned:
        return {}
    ends, committed = await asyncio.gather(
        client.end_offsets(assigned), asyncio.gather(*(client.committed(tp)
                                                       for tp in assigned)))
    done = dict(zip(assigned, committed, strict=True))
    never = [tp for tp, offset in done.items() if offset is None]
    starts = await client.beginning_offsets(never) if never else {}
    return {tp: max(0, ends[tp] - (done[tp] if done[tp] is not None else starts[tp]))
            for tp in assigned}


class ConsumerLagSeries:
    """The ``consumer_lag_records`` series of one consumer of this process: set from each
    reading, those of partitions it no longer holds removed."""

    def __init__(self, consumer: str, group: str):
        self.consumer, self.group = consumer, group
        self._shown: set[tuple[str, str]] = set()

    def show(self, lags: Mapping[TopicPartition, int]) -> None:
        now = {(tp.topic, str(tp.partition)): lag for tp, lag in lags.items()}
        for topic, partition in self._shown - now.keys():
            _remove(CONSUMER_LAG, self.consumer, self.group, topic, partition)
        for (topic, partition), lag in now.items():
            CONSUMER_LAG.labels(self.consumer, self.group, topic, partition).set(lag)
        self._shown = set(now)

    def clear(self) -> None:
        """Unknown (the broker did not answer, or the consumer stopped): no series."""
        self.show({})


def _remove(gauge: Gauge, *labels: str) -> None:
    with contextlib.suppress(KeyError):  # never set
        gauge.remove(*labels)
