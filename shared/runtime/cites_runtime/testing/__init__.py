"""Test support for the services (the pytest plugin is :mod:`.plugin`).

- :mod:`.harness` — one service under test, in memory or on real Kafka; tokens, a fake
  clock, ``eventually``, ``read_pages`` (a list endpoint, page after page).
- :mod:`.infra` — finding real Kafka, PostgreSQL and SMTP (env, testcontainers, launcher).
- :mod:`.kafka` — reading what reached a topic; waiting for a consumer group.
- :mod:`.http` — serving an app on a real port; :mod:`.fuzz` — schemathesis, no 5xx.
"""

from .harness import (
    AS_NATIONAL,
    AS_PARTNER,
    AS_PREFECTURE_69,
    AS_PREFECTURE_93,
    AS_VIEWER,
    NOW,
    TOKENS,
    BrokerPublisher,
    FakeClock,
    ServiceUnderTest,
    all_published,
    bearer,
    envelopes_json,
    eventually,
    in_memory,
    on_kafka,
    read_pages,
)
from .infra import Infra, resolve_infra
from .kafka import delete_topics, read_topic, wait_caught_up

__all__ = [
    "AS_NATIONAL",
    "AS_PARTNER",
    "AS_PREFECTURE_69",
    "AS_PREFECTURE_93",
    "AS_VIEWER",
    "NOW",
    "TOKENS",
    "BrokerPublisher",
    "FakeClock",
    "Infra",
    "ServiceUnderTest",
    "all_published",
    "bearer",
    "delete_topics",
    "envelopes_json",
    "eventually",
    "in_memory",
    "on_kafka",
    "read_pages",
    "read_topic",
    "resolve_infra",
    "wait_caught_up",
]
