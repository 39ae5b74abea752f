"""Who may do what on the platform's Kafka, and how a client proves who it is.

Every listener of the platform's brokers authenticates (SASL): each service has its own
principal (SCRAM-SHA-512), an outside team gets one from the operators, and the broker's
authoriser allows a principal only what :func:`grants` derives from the declarations —

- a producing service **writes** the topics the catalogue says it owns
  (:data:`cites_contracts.topics.ALL_TOPICS`, ``Topic.producer``);
- a consuming service **reads** the topics of the events its ``consumes.json`` declares
  (and of the tombstones it handles), under its own consumer group (its name, and
  ``<name>.…`` for its tools, e.g. the dead-letter replay's group);
- each consumer reads and writes its own dead-letter topics;
- a monitor (the dashboard) **describes** every topic and group, to measure lag.

Nothing else: a service cannot write another's topic, so a forged event on
``labelling.labels`` is refused by the broker unless labelling's own credentials leaked.
The grants are data (:class:`Grant`); ``cites_runtime.kafka_admin`` applies them.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from .envelope import registry
from .topics import ALL_TOPICS, dead_letter_topics

__all__ = ["MONITORS", "Grant", "KafkaAccess", "grants", "principal", "reader_grants"]

Mechanism = Literal["SCRAM-SHA-512", "PLAIN"]


@dataclass(frozen=True)
class KafkaAccess:
    """Where a Kafka cluster is and who connects to it: what every client of the platform
    is built from (:meth:`client_kwargs`), so no client connects another way."""

    bootstrap: str
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    mechanism: Mechanism = "SCRAM-SHA-512"
    """SCRAM-SHA-512 for every principal but the brokers' bootstrap administrator (PLAIN,
    declared in the brokers' own configuration: it exists before any SCRAM credential)."""
    tls: bool = False
    """SASL_SSL instead of SASL_PLAINTEXT (a cluster with TLS listeners)."""
    ca_file: str | None = None

    @property
    def authenticated(self) -> bool:
        return self.username is not None

    @property
    def security_protocol(self) -> str:
        if self.username is None:
            return "SSL" if self.tls else "PLAINTEXT"
        return "SASL_SSL" if self.tls else "SASL_PLAINTEXT"

    def client_kwargs(self) -> dict[str, Any]:
        """aiokafka's keyword arguments (producer, consumer, admin) for this access."""
        kwargs: dict[str, Any] = {"bootstrap_servers": self.bootstrap,
                                  "security_protocol": self.security_protocol}
        if self.username is not None:
            kwargs.update(sasl_mechanism=self.mechanism, sasl_plain_username=self.username,
                          sasl_plain_password=self.password or "")
            if self.mechanism == "PLAIN" and not self.tls:
                _say_plain_once()
        if self.tls:
            from aiokafka.helpers import create_ssl_context
            kwargs["ssl_context"] = create_ssl_context(cafile=self.ca_file)
        return kwargs

    def librdkafka_config(self) -> dict[str, str]:
        """The same access in librdkafka's terms (confluent-kafka's admin client)."""
        config = {"bootstrap.servers": self.bootstrap,
                  "security.protocol": self.security_protocol.lower()}
        if self.username is not None:
            config.update({"sasl.mechanism": self.mechanism, "sasl.username": self.username,
                           "sasl.password": self.password or ""})
        if self.tls and self.ca_file:
            config["ssl.ca.location"] = self.ca_file
        return config

    def as_user(self, username: str, password: str,
                mechanism: Mechanism = "SCRAM-SHA-512") -> KafkaAccess:
        """The same cluster, as another principal."""
        return KafkaAccess(self.bootstrap, username, password, mechanism, self.tls,
                           self.ca_file)

    @classmethod
    def from_env(cls, prefix: str = "KAFKA_",
                 environ: Mapping[str, str] | None = None) -> KafkaAccess:
        """From ``<prefix>BOOTSTRAP_SERVERS``, ``USERNAME``, ``PASSWORD`` (or
        ``PASSWORD_FILE``), ``SASL_MECHANISM``, ``TLS`` and ``CA_FILE``."""
        env = os.environ if environ is None else environ
        password = env.get(f"{prefix}PASSWORD")
        if password is None and (path := env.get(f"{prefix}PASSWORD_FILE")):
            with open(path, encoding="utf-8") as f:
                password = f.read().strip()
        mechanism = env.get(f"{prefix}SASL_MECHANISM", "SCRAM-SHA-512")
        if mechanism not in ("SCRAM-SHA-512", "PLAIN"):
            raise ValueError(f"{prefix}SASL_MECHANISM must be SCRAM-SHA-512 or PLAIN")
        return cls(env.get(f"{prefix}BOOTSTRAP_SERVERS", "127.0.0.1:19092"),
                   env.get(f"{prefix}USERNAME") or None, password,
                   mechanism,  # type: ignore[arg-type]
                   env.get(f"{prefix}TLS", "").lower() in ("1", "true", "yes"),
                   env.get(f"{prefix}CA_FILE") or None)


class _OnceOnly(logging.Filter):
    """aiokafka warns "Sending username and password in the clear" at every connection
    with PLAIN over a plaintext listener: the administrator's, a limit stated once in
    the documentation (docs/security.md) — said once per process here, not thousands of
    times."""

    said = False

    def filter(self, record: logging.LogRecord) -> bool:
        if "in the clear" not in record.getMessage():
            return True
        first, _OnceOnly.said = not _OnceOnly.said, True
        return first


_FILTER = _OnceOnly()


def _say_plain_once() -> None:
    logger = logging.getLogger("aiokafka.conn")
    if _FILTER not in logger.filters:
        logger.addFilter(_FILTER)


# -- grants -------------------------------------------------------------------------------
Resource = Literal["topic", "group"]
Pattern = Literal["literal", "prefixed"]
Operation = Literal["read", "write", "describe"]


@dataclass(frozen=True, order=True)
class Grant:
    """One ACL: ``principal`` may ``operation`` on the ``resource`` named ``name``
    (exactly, or every name starting with it when ``pattern`` is prefixed)."""

    principal: str
    resource: Resource
    name: str
    operation: Operation
    pattern: Pattern = "literal"

    def __str__(self) -> str:
        star = "*" if self.pattern == "prefixed" else ""
        return f"User:{self.principal} {self.operation} {self.resource} {self.name}{star}"


MONITORS = frozenset({"dashboard"})
"""Services that measure every consumer's lag (its groups' offsets against the topics'
ends): they may describe every topic and group, and read none they do not consume."""


def _event_topics(declaration: Mapping[str, Any]) -> set[str]:
    by_type = {(s.type, s.version): s.topic.name for s in registry.catalogue()}
    topics = {by_type[(e["type"], int(e["version"]))] for e in declaration.get("events", ())
              if (e["type"], int(e["version"])) in by_type}
    return topics | set(declaration.get("tombstones", ()))


def principal(service: str, prefix: str = "") -> str:
    """A service's principal in an environment: its name, behind the environment's prefix
    (``labelling``; ``e2e1a2b.labelling`` for a test platform sharing the brokers)."""
    return prefix + service


def grants(service: str, declaration: Mapping[str, Any] | None = None, *,
           prefix: str = "", consumers: Iterable[str] = ()) -> list[Grant]:
    """What ``service``'s principal (:func:`principal`) may do: write the topics it owns;
    with its ``consumes.json`` (``declaration``), read their topics under its group and
    use its dead-letter topics; a monitor also describes the topics and groups of
    ``consumers`` (every consuming service's name). Topic, group and principal names carry
    ``prefix`` (an environment's)."""
    who = principal(service, prefix)
    found = {Grant(who, "topic", prefix + t.name, "write")
             for t in ALL_TOPICS if t.producer == service}
    if declaration is not None:
        if declaration.get("service") != service:
            raise ValueError(f"consumes.json of {declaration.get('service')!r} given for "
                             f"{service!r}")
        found |= {Grant(who, "topic", prefix + t, "read")
                  for t in _event_topics(declaration)}
        for dead in dead_letter_topics(service):
            found |= {Grant(who, "topic", prefix + dead.name, op)
                      for op in ("read", "write")}
        found |= {Grant(who, "group", prefix + service, "read"),
                  Grant(who, "group", f"{prefix}{service}.", "read", "prefixed")}
    if service in MONITORS:
        for consumer in consumers:
            found |= {Grant(who, "topic", prefix + t.name, "describe")
                      for t in (*ALL_TOPICS, *dead_letter_topics(consumer))}
            found |= {Grant(who, "group", prefix + consumer, "describe"),
                      Grant(who, "group", f"{prefix}{consumer}.", "describe", "prefixed")}
    return sorted(found)


def reader_grants(principal: str, *, prefix: str = "",
                  topics: Iterable[str] | None = None) -> list[Grant]:
    """An outside team's: read the catalogue's topics (or ``topics``) behind ``prefix``,
    under groups named ``<principal>.…`` (its own, so it cannot move a service's
    offsets)."""
    names = [t.name for t in ALL_TOPICS] if topics is None else list(topics)
    unknown = sorted(set(names) - {t.name for t in ALL_TOPICS})
    if unknown:
        raise ValueError(f"not topics of the catalogue: {', '.join(unknown)}")
    return sorted({*(Grant(principal, "topic", prefix + n, "read") for n in names),
                   Grant(principal, "group", f"{principal}.", "read", "prefixed")})
