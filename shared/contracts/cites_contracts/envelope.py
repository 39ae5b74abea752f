"""The envelope every event travels in, the event base class and the registry.

An event *payload* is a pydantic model subclassing :class:`Event`, declared with
:func:`event`, which records its wire ``type``, ``version``, topic and the payload field
that is its aggregate id (the Kafka key). The :class:`Envelope` carries the payload with
the metadata of ARCHITECTURE.md.
"""

from __future__ import annotations

import builtins
import functools
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import ClassVar, Generic, TypeVar, cast
from uuid import UUID, uuid4

from pydantic import BaseModel, ConfigDict, Field

from .types import UtcDateTime

__all__ = [
    "DAY_MS",
    "FOREVER",
    "Envelope",
    "Event",
    "EventSpec",
    "Topic",
    "Upcaster",
    "event",
    "registry",
    "upcasts",
]


FOREVER = -1
"""``retention_ms`` of a topic whose records are never deleted for their age."""

DAY_MS = 24 * 3600 * 1000


@dataclass(frozen=True, slots=True)
class Topic:
    """A Kafka topic owned by one producing service; the key is the aggregate id.

    Its Kafka configuration is declared here, with it (topics as code): provisioning
    (:mod:`cites_contracts.topics`) creates it so, and reports any drift of a live topic.
    ``replication_factor`` and ``min_insync_replicas`` are the production figures: a
    cluster with fewer brokers (a developer's single broker) gets as many as it has.
    """

    name: str
    producer: str
    description: str
    key: str = ""
    """Payload field every event of the topic uses as its key (same aggregate, same order)."""
    partitions: int = 3
    """Fixed once data is in it: more partitions would move keys, and with them the order
    of an aggregate's events."""
    replication_factor: int = 3
    min_insync_replicas: int = 2
    """With ``acks=all``, a write is acknowledged once this many replicas have it."""
    cleanup_policy: str = "delete"
    retention_ms: int = FOREVER
    why: str = ""
    """Why this retention (or compaction): part of the contract, shown in the catalogue."""
    extra_configs: tuple[tuple[str, str], ...] = ()
    """Further topic configurations (e.g. compaction timings), as Kafka names them."""
    personal_data: bool = False
    """Its values hold personal data (e-mail addresses): it is compacted, keyed per person,
    and erasure publishes a tombstone for the key. No other topic may hold personal data;
    a dead letter of such a record keeps its key and headers, not its value."""

    def __str__(self) -> str:
        return self.name

    def configs(self, brokers: int = 3) -> dict[str, str]:
        """The topic-level configuration on a cluster of ``brokers`` brokers."""
        return {
            "cleanup.policy": self.cleanup_policy,
            "retention.ms": str(self.retention_ms),
            "retention.bytes": "-1",
            "min.insync.replicas": str(min(self.min_insync_replicas, self.replicas(brokers))),
            **dict(self.extra_configs),
        }

    def replicas(self, brokers: int) -> int:
        return max(1, min(self.replication_factor, brokers))


@dataclass(frozen=True, slots=True)
class EventSpec:
    """What the registry knows of one (type, version)."""

    type: str
    version: int
    model: builtins.type[Event]
    topic: Topic
    key_field: str
    emitted_when: str
    retired: str = ""
    """Why this version is no longer produced (and what replaces it); empty while it is.
    A retired version stays in the catalogue: records of it remain on kept topics and
    consumers still decode them."""

    @property
    def producer(self) -> str:
        return self.topic.producer


class Event(BaseModel):
    """Base class of every event payload (the envelope's ``data``).

    Consumers ignore unknown fields (``extra="ignore"``), so adding an optional field is
    a compatible change. Payloads are immutable.
    """

    model_config = ConfigDict(frozen=True, extra="ignore")

    spec: ClassVar[EventSpec]

    @classmethod
    def event_type(cls) -> str:
        return cls.spec.type

    @classmethod
    def event_version(cls) -> int:
        return cls.spec.version

    def aggregate_id(self) -> str:
        """The value of the key field: the Kafka key and the envelope's aggregate id."""
        return str(getattr(self, self.spec.key_field))


E = TypeVar("E", bound=Event)
E_co = TypeVar("E_co", bound=Event, covariant=True)
Old = TypeVar("Old", bound=Event)
New = TypeVar("New", bound=Event)


@dataclass(frozen=True, slots=True)
class Upcaster:
    """How an event of a retired version becomes one of a newer version of the same type.

    Total: every valid ``source`` payload becomes a valid ``target`` one (the contracts'
    tests prove it on generated payloads). A consumer that handles the newer version only
    gets the records of the retired one upcast before they are applied (the runtime's
    ``classify``), so a history written under the retired version is applied as if
    written under the newer one."""

    source: builtins.type[Event]
    target: builtins.type[Event]
    convert: Callable[[Event], Event]


class _Registry:
    """(type, version) → :class:`EventSpec`. Filled by :func:`event` at import time."""

    def __init__(self) -> None:
        self._specs: dict[tuple[str, int], EventSpec] = {}
        self._upcasters: dict[builtins.type[Event], Upcaster] = {}

    def register(self, spec: EventSpec) -> None:
        key = (spec.type, spec.version)
        existing = self._specs.get(key)
        if existing is not None and existing.model is not spec.model:
            raise ValueError(f"event {spec.type} v{spec.version} is registered twice")
        self._specs[key] = spec

    def add_upcaster(self, upcaster: Upcaster) -> None:
        source, target = upcaster.source.spec, upcaster.target.spec
        if source.type != target.type or target.version <= source.version:
            raise TypeError(f"an upcaster turns a version into a newer one of the same "
                            f"event, not {source.type} v{source.version} into "
                            f"{target.type} v{target.version}")
        if not source.retired:
            raise TypeError(f"{source.type} v{source.version} is upcast: declare it retired")
        existing = self._upcasters.get(upcaster.source)
        if existing is not None and existing != upcaster:
            raise ValueError(f"{source.type} v{source.version} has two upcasters")
        self._upcasters[upcaster.source] = upcaster

    def upcaster(self, model: builtins.type[Event]) -> Upcaster | None:
        """How events of ``model`` (a retired version) are upcast, if they are."""
        return self._upcasters.get(model)

    def upcast(self, data: Event, wanted: Collection[builtins.type[Event]]) -> Event | None:
        """``data`` upcast, version after version, to a class of ``wanted``; None when no
        chain of upcasters leads from its class to one of them."""
        while type(data) not in wanted:
            step = self._upcasters.get(type(data))
            if step is None:
                return None
            data = step.convert(data)
        return data

    def current(self, data: Event) -> Event:
        """``data`` upcast as far as upcasters go: to the version its producers publish,
        when its retired version is upcast to it (else ``data`` itself)."""
        while (step := self._upcasters.get(type(data))) is not None:
            data = step.convert(data)
        return data

    def get(self, type_: str, version: int) -> EventSpec | None:
        return self._specs.get((type_, version))

    def versions(self, type_: str) -> list[int]:
        return sorted(v for (t, v) in self._specs if t == type_)

    def all(self) -> list[EventSpec]:
        return [self._specs[k] for k in sorted(self._specs)]

    def catalogue(self) -> list[EventSpec]:
        """The public catalogue: events declared in ``cites_contracts`` itself (tests and
        tools may register events of their own, which are not part of it)."""
        return [s for s in self.all() if s.model.__module__.startswith("cites_contracts.")]

    def topics(self) -> list[Topic]:
        return sorted({s.topic for s in self._specs.values()}, key=lambda t: t.name)

    def __contains__(self, key: object) -> bool:
        return key in self._specs

    def __len__(self) -> int:
        return len(self._specs)


registry = _Registry()


def event(
    type_: str,
    *,
    version: int = 1,
    topic: Topic,
    key: str,
    emitted_when: str,
    retired: str = "",
) -> Callable[[type[E]], type[E]]:
    """Declare an event payload class and register it.

    ``key`` names the payload field holding the aggregate id (used as Kafka key).
    ``emitted_when`` documents, for outside consumers, when the producer emits it.
    ``retired`` says why a version is no longer produced and what replaces it.
    """

    def decorate(cls: type[E]) -> type[E]:
        if key not in cls.model_fields:
            raise TypeError(f"{cls.__name__}: key field {key!r} is not a field")
        if not type_.startswith(f"{topic.producer}."):
            raise TypeError(f"{cls.__name__}: type {type_!r} must start with {topic.producer!r}.")
        if topic.key and key != topic.key:
            # One key per topic, or one aggregate's events could land on two partitions.
            raise TypeError(f"{cls.__name__}: topic {topic.name} is keyed by {topic.key!r}")
        if version < 1:
            raise TypeError(f"{cls.__name__}: version must be >= 1, not {version}")
        spec = EventSpec(type_, version, cls, topic, key, emitted_when, retired)
        cls.spec = spec
        registry.register(spec)
        return cls

    return decorate


def upcasts(source: type[Old], target: type[New]
            ) -> Callable[[Callable[[Old], New]], Callable[[Old], New]]:
    """Declare the decorated function as the :class:`Upcaster` of ``source`` (a retired
    version) to ``target`` (a newer version of the same event): it must be total."""

    def decorate(convert: Callable[[Old], New]) -> Callable[[Old], New]:
        registry.add_upcaster(Upcaster(source, target, cast(Callable[[Event], Event], convert)))
        return convert

    return decorate


def _now() -> datetime:
    return datetime.now(UTC)


class Envelope(BaseModel, Generic[E_co]):
    """Metadata + typed payload. Serialised as the Kafka record value (JSON)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    event_id: UUID = Field(default_factory=uuid4)
    type: str
    version: int = Field(ge=1)
    occurred_at: UtcDateTime = Field(default_factory=_now)
    producer: str
    aggregate_id: str
    sequence: int = Field(ge=1, description="Per aggregate, gap-free, starting at 1")
    correlation_id: UUID
    causation_id: UUID | None = None
    imported: bool = Field(
        False, description="Recorded by an import of the programme's history (or caused by "
        "such an event): a past fact, dated by its payload's business dates, not news. "
        "Absent when false.")
    data: E_co

    @classmethod
    def wrap(
        cls,
        data: E,
        *,
        sequence: int,
        correlation_id: UUID | None = None,
        causation_id: UUID | None = None,
        event_id: UUID | None = None,
        occurred_at: datetime | None = None,
        imported: bool = False,
    ) -> Envelope[E]:
        """Build the envelope of ``data`` from its registered spec."""
        spec = getattr(type(data), "spec", None)
        if spec is None or spec.model is not type(data):
            raise TypeError(f"{type(data).__name__} is not a registered event (use @event)")
        event_id = event_id or uuid4()
        # Parametrise with the payload's own class so validation and schema are exact.
        concrete = cast("builtins.type[Envelope[E]]", envelope_model(type(data)))
        return concrete(
            event_id=event_id,
            type=spec.type,
            version=spec.version,
            occurred_at=occurred_at or _now(),
            producer=spec.producer,
            aggregate_id=data.aggregate_id(),
            sequence=sequence,
            correlation_id=correlation_id or event_id,
            causation_id=causation_id,
            imported=imported,
            data=data,
        )

    @property
    def spec(self) -> EventSpec:
        return type(self.data).spec

    def upcast(self, data: Event) -> Envelope[Event]:
        """This envelope carrying ``data``, its payload upcast to a newer version (see
        :class:`Upcaster`): the same metadata (id, sequence, correlation, dates), the
        ``version`` of ``data``."""
        fields = {name: getattr(self, name) for name in type(self).model_fields
                  if name not in ("data", "version")}
        return envelope_model(type(data))(**fields, version=data.spec.version, data=data)

    def current(self) -> Envelope[Event]:
        """This envelope with its payload upcast as far as the contracts' upcasters go (to
        the version its producer publishes), or itself when there is nothing to upcast."""
        data = registry.current(self.data)
        return self if data is self.data else self.upcast(data)

    @property
    def topic(self) -> Topic:
        return self.spec.topic


@functools.cache
def envelope_model(model: type[Event]) -> type[Envelope[Event]]:
    """``Envelope[model]``, built once per event class (parametrising a generic model is
    costly, and every decode and wrap asks for it)."""
    return cast("builtins.type[Envelope[Event]]", Envelope.__class_getitem__(model))
