"""Where `make run`'s services listen, and how many processes (replicas) each one runs.

One place for both scripts of deploy/local: services.py starts the processes on these
ports, launcher.py has its Prometheus scrape every one of them.

* ``CITES_REPLICAS``: ``partners=2,funding=2`` (``make run REPLICAS=…``); a service not
  named runs one process. Replicas of a service share its consumer group (Kafka splits the
  partitions among them), its schema (one relay leads, the others stand by) and its API
  port (SO_REUSEPORT: the kernel spreads connections among the replicas listening).
* ``CITES_HTTP_PORT`` (8001) and ``CITES_OPS_PORT`` (9001): the first service's API and
  ops ports; the others follow in :data:`SERVICES` order (labelling 8001, partners 8002…).
  Replica ``i`` (from 1) of a service has its own ops port, ``(i - 1) * REPLICA_STRIDE``
  above the first one's (partners' second replica: 9012), so each is probed and scraped.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from cites_contracts.topics import HISTORY_PARTITIONS

SERVICES = ("labelling", "partners", "funding", "notifications", "dashboard")
OTHER = 9
"""Port offset of a service not in SERVICES (8010, 9010 by default)."""
REPLICA_STRIDE = 10
"""Between the ops ports of a service's successive replicas: above every service's own."""
MAX_REPLICAS = HISTORY_PARTITIONS
"""At most this many per service: the history topics' partitions, so that every replica of
a consumer is given a share of each topic it reads (a further one would stand idle)."""


class LayoutError(ValueError):
    """CITES_REPLICAS (or a port base) that cannot be laid out: the message says why."""


@dataclass(frozen=True, slots=True)
class Replica:
    """One process of a service: its number (from 1) and its ports."""

    service: str
    number: int
    http_port: int
    ops_port: int
    of: int
    """How many replicas the service runs (the API port is shared when more than one)."""

    @property
    def name(self) -> str:
        """Its pid and log files' stem: the service's name, then ``-2``, ``-3``…"""
        return self.service if self.number == 1 else f"{self.service}-{self.number}"


def _base(environ: Mapping[str, str], key: str, default: int) -> int:
    raw = environ.get(key, "") or str(default)
    if not raw.isdigit() or not 0 < int(raw) < 65536 - 100:
        raise LayoutError(f"{key}={raw!r}: a port number is expected")
    return int(raw)


def replica_counts(environ: Mapping[str, str] | None = None) -> dict[str, int]:
    """``CITES_REPLICAS`` read: service → how many processes (only those named)."""
    raw = (os.environ if environ is None else environ).get("CITES_REPLICAS", "")
    counts: dict[str, int] = {}
    for item in filter(None, (part.strip() for part in raw.split(","))):
        service, _, number = item.partition("=")
        if service.strip() not in SERVICES or not number.strip().isdigit():
            raise LayoutError(f"CITES_REPLICAS: {item!r} is not <service>=<count>, the "
                              f"service one of {', '.join(SERVICES)}")
        count = int(number)
        if not 1 <= count <= MAX_REPLICAS:
            raise LayoutError(f"CITES_REPLICAS: {item!r}: between 1 and {MAX_REPLICAS} "
                              "replicas (the history topics' partitions)")
        counts[service.strip()] = count
    return counts


def ports(service: str, environ: Mapping[str, str] | None = None) -> tuple[int, int]:
    """The API port of ``service`` and its first replica's ops port."""
    env = os.environ if environ is None else environ
    offset = SERVICES.index(service) if service in SERVICES else OTHER
    return (_base(env, "CITES_HTTP_PORT", 8001) + offset,
            _base(env, "CITES_OPS_PORT", 9001) + offset)


def replicas(service: str, environ: Mapping[str, str] | None = None) -> list[Replica]:
    """The processes ``service`` runs, the first one first."""
    http, ops = ports(service, environ)
    count = replica_counts(environ).get(service, 1)
    return [Replica(service, n, http, ops + (n - 1) * REPLICA_STRIDE, count)
            for n in range(1, count + 1)]


def every_replica(environ: Mapping[str, str] | None = None) -> list[Replica]:
    """Every process of every service, in SERVICES order."""
    return [r for service in SERVICES for r in replicas(service, environ)]
