"""What ``/metrics`` tells of notifications' two queues (mail and webhooks).

Counters, per process, of what its senders did; gauges of the queues as the database holds
them, read every ``metrics_interval_s`` by every replica (each reports the same figures:
take ``max`` across replicas, not ``sum``).

- ``notifications_outcomes_total{channel, outcome}``: attempts that ended ``sent``
  (``delivered`` for webhooks), ``retry`` or ``failed``;
- ``notifications_round_seconds{channel, phase}``: where a sending round's time goes —
  ``claim`` (one transaction), ``send`` (the SMTP or HTTP exchanges, concurrent), ``record``
  (one transaction marking every outcome and writing its events);
- ``notifications_waiting{channel}``: notifications or deliveries not yet sent or failed;
- ``notifications_retrying{channel}``: those of them that failed at least once and wait
  their next attempt;
- ``notifications_queue_age_seconds{channel}``: age of the oldest waiting one (0 when none)
  — the figure to alert on: mail or a receiver that has been away too long;
- ``notifications_awaiting_causes``: events whose recipients wait for a fact from another
  topic (one that stays high: a candidature, cité or alliance that never came — look at
  the producer's dead letters).
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

from cites_runtime.app import Runtime, periodic

from . import store
from .settings import NotificationsSettings

__all__ = ["OUTCOMES", "ROUND", "queue_gauges"]

OUTCOMES = Counter("notifications_outcomes_total", "Sending attempts by their outcome",
                   ["channel", "outcome"])
ROUND = Histogram("notifications_round_seconds", "Time a sending round spends in each of "
                  "its phases: claim, send, record", ["channel", "phase"],
                  buckets=(.001, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30))
WAITING = Gauge("notifications_waiting", "Notifications not yet sent or failed", ["channel"])
RETRYING = Gauge("notifications_retrying", "Waiting notifications that failed at least once",
                 ["channel"])
AWAITING = Gauge("notifications_awaiting_causes", "Events whose recipients wait for a fact "
                 "from another topic (a candidature, a cité, an alliance)")
QUEUE_AGE = Gauge("notifications_queue_age_seconds",
                  "Age of the oldest notification not yet sent or failed", ["channel"])


async def read_queues(runtime: Runtime[NotificationsSettings]) -> None:
    AWAITING.set(await store.awaiting_count(runtime.pool))
    for channel, figures in (await store.queue_figures(runtime.pool,
                                                            runtime.settings.clock())).items():
        WAITING.labels(channel).set(figures["waiting"])
        RETRYING.labels(channel).set(figures["retrying"])
        QUEUE_AGE.labels(channel).set(figures["oldest"])


queue_gauges = periodic("queue gauges", read_queues, lambda s: float(s.metrics_interval_s))
"""Set the queue gauges at start, then every ``metrics_interval_s``."""
