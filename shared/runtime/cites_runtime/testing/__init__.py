"""Test support for the services (the pytest plugin is :mod:`.plugin`).

- :mod:`.harness` — one service under test, in memory or on real Kafka; tokens, a fake
  clock, ``eventually``, ``read_pages`` (a list endpoint, page after page),
  ``migrated_before`` (a schema migrated part of the way).
- :mod:`.infra` — finding real PostgreSQL (alone, for isolated tests), Kafka and SMTP (env,
  testcontainers — :mod:`.containers` —, launcher); :mod:`.mail` — reading what the SMTP
  server kept (maildir or Mailpit).
- :mod:`.kafka` — reading what reached a topic; waiting for a consumer group.
- :mod:`.http` — serving an app on a real port; :mod:`.fuzz` — schemathesis, no 5xx.
"""

from .harness import (
    AS_COLLEGE,
    AS_COMMUNE_LYON,
    AS_COMMUNE_NAMELESS,
    AS_COMMUNE_VAULX,
    AS_NATIONAL,
    AS_OPERATOR,
    AS_OTHER_COLLEGE,
    AS_PARTNER,
    AS_PREFECTURE_69,
    AS_PREFECTURE_93,
    AS_PREFECTURE_978,
    AS_RECTORAT_69,
    AS_RECTORAT_93,
    AS_VIEWER,
    COLLEGE,
    NOW,
    OTHER_COLLEGE,
    TOKENS,
    BrokerPublisher,
    FakeClock,
    ServiceUnderTest,
    all_published,
    bearer,
    envelopes_json,
    eventually,
    in_memory,
    migrated_before,
    on_kafka,
    read_pages,
)
from .infra import Database, Infra, resolve_database, resolve_infra
from .kafka import delete_topics, group_members, read_topic, wait_caught_up

__all__ = [
    "AS_COLLEGE",
    "AS_COMMUNE_LYON",
    "AS_COMMUNE_NAMELESS",
    "AS_COMMUNE_VAULX",
    "AS_NATIONAL",
    "AS_OPERATOR",
    "AS_OTHER_COLLEGE",
    "AS_PARTNER",
    "AS_PREFECTURE_69",
    "AS_PREFECTURE_93",
    "AS_PREFECTURE_978",
    "AS_RECTORAT_69",
    "AS_RECTORAT_93",
    "AS_VIEWER",
    "COLLEGE",
    "NOW",
    "OTHER_COLLEGE",
    "TOKENS",
    "BrokerPublisher",
    "Database",
    "FakeClock",
    "Infra",
    "ServiceUnderTest",
    "all_published",
    "bearer",
    "delete_topics",
    "envelopes_json",
    "eventually",
    "group_members",
    "in_memory",
    "migrated_before",
    "on_kafka",
    "read_pages",
    "read_topic",
    "resolve_database",
    "resolve_infra",
    "wait_caught_up",
]
