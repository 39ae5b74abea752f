"""A service's consumer: its name, and its handlers by event class and by compacted topic."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar, cast, overload

from cites_contracts import Envelope, Event, Topic, dlq_topic
from cites_contracts.topics import dead_letter_topics

from .contexts import BatchContext, HandlerContext, TombstoneContext
from .records import Intake, compacted

__all__ = ["EventConsumer", "Handler", "ManyHandler", "TombstoneHandler"]

E = TypeVar("E", bound=Event)
E2 = TypeVar("E2", bound=Event)
E3 = TypeVar("E3", bound=Event)
E4 = TypeVar("E4", bound=Event)

Handler = Callable[[Any, HandlerContext], Awaitable[None]]
TypedHandler = Callable[[E, HandlerContext], Awaitable[None]]
ManyHandler = Callable[[list[Envelope[Any]], BatchContext], Awaitable[None]]
TypedManyHandler = Callable[[list[Envelope[E]], BatchContext], Awaitable[None]]
"""``async def apply(events: list[Envelope[E]], ctx: BatchContext) -> None``."""
TombstoneHandler = Callable[[str, TombstoneContext], Awaitable[None]]
"""``async def forget(key: str, ctx: TombstoneContext) -> None``: must be idempotent by
nature (a delete): see :attr:`~.records.Tombstone.id` for what the inbox does and does not
absorb."""


class EventConsumer:
    """A named consumer (group id, inbox name, DLQ name), its handlers by event class and
    its tombstone handlers by compacted topic."""

    def __init__(self, name: str):
        self.name = name
        self.handlers: dict[type[Event], Handler] = {}
        """Every event class it handles, and how to apply one event of it."""
        self.many: dict[type[Event], ManyHandler] = {}
        """The classes whose handler takes many events at once (:meth:`handles_many`)."""
        self.tombstone_handlers: dict[Topic, TombstoneHandler] = {}

    def _claim(self, events: Sequence[type[Event]]) -> None:
        for ev in events:
            if ev in self.handlers:
                raise ValueError(f"{self.name}: {ev.__name__} already has a handler")

    # One handler for several classes takes their union: the overloads type the handler's
    # event as ``A | B | …`` (a single TypeVar would make it the classes' common base).
    @overload
    def handles(self, a: type[E], /) -> Callable[[TypedHandler[E]], TypedHandler[E]]: ...
    @overload
    def handles(self, a: type[E], b: type[E2], /
                ) -> Callable[[TypedHandler[E | E2]], TypedHandler[E | E2]]: ...
    @overload
    def handles(self, a: type[E], b: type[E2], c: type[E3], /
                ) -> Callable[[TypedHandler[E | E2 | E3]], TypedHandler[E | E2 | E3]]: ...
    @overload
    def handles(self, a: type[E], b: type[E2], c: type[E3], d: type[E4], /
                ) -> Callable[[TypedHandler[E | E2 | E3 | E4]],
                              TypedHandler[E | E2 | E3 | E4]]: ...
    @overload
    def handles(self, *events: type[E]) -> Callable[[TypedHandler[E]], TypedHandler[E]]: ...

    def handles(self, *events: type[Any]) -> Callable[[TypedHandler[Any]], TypedHandler[Any]]:
        """Run the decorated ``async def apply(event, ctx: HandlerContext)`` for each new
        event of these classes, in the consuming transaction (``ctx.uow``)."""
        def register(fn: TypedHandler[Any]) -> TypedHandler[Any]:
            self._claim(events)
            for ev in events:
                self.handlers[ev] = fn
            return fn

        return register

    @overload
    def handles_many(self, a: type[E], /
                     ) -> Callable[[TypedManyHandler[E]], TypedManyHandler[E]]: ...
    @overload
    def handles_many(self, a: type[E], b: type[E2], /
                     ) -> Callable[[TypedManyHandler[E | E2]], TypedManyHandler[E | E2]]: ...
    @overload
    def handles_many(self, a: type[E], b: type[E2], c: type[E3], /
                     ) -> Callable[[TypedManyHandler[E | E2 | E3]],
                                   TypedManyHandler[E | E2 | E3]]: ...
    @overload
    def handles_many(self, *events: type[E]
                     ) -> Callable[[TypedManyHandler[E]], TypedManyHandler[E]]: ...

    def handles_many(self, *events: type[Any]
                     ) -> Callable[[TypedManyHandler[Any]], TypedManyHandler[Any]]:
        """Run the decorated ``async def apply(events: list[Envelope[E]], ctx:
        BatchContext)`` for each run of consecutive new events of these classes in a batch
        (mixed, when several: one call for ``[A, B, A]``): in order, each aggregate at most
        once per call, in the consuming transaction (``ctx.uow``). See the package's
        documentation."""
        def register(fn: TypedManyHandler[Any]) -> TypedManyHandler[Any]:
            self._claim(events)

            async def one(event: Any, ctx: HandlerContext) -> None:
                await fn([cast(Envelope[Any], ctx.envelope)], BatchContext(ctx.uow, {}))

            for ev in events:
                self.handlers[ev] = one
                self.many[ev] = fn
            return fn

        return register

    def handles_tombstones(self, topic: Topic
                           ) -> Callable[[TombstoneHandler], TombstoneHandler]:
        """Run the decorated ``async def forget(key: str, ctx: TombstoneContext)`` for each
        tombstone of ``topic`` (a compacted topic, which this consumer then reads): the key
        erased, as text, in the consuming transaction (``ctx.uow``)."""
        if not compacted(topic):
            raise ValueError(f"{self.name}: {topic.name} is not compacted (cleanup_policy "
                             f"{topic.cleanup_policy!r}): a null value there is no tombstone")

        def register(fn: TombstoneHandler) -> TombstoneHandler:
            if topic in self.tombstone_handlers:
                raise ValueError(f"{self.name}: {topic.name} already has a tombstone handler")
            self.tombstone_handlers[topic] = fn
            return fn

        return register

    def _read(self) -> dict[str, Topic]:
        read = {ev.spec.topic.name: ev.spec.topic for ev in self.handlers}
        read.update((t.name, t) for t in self.tombstone_handlers)
        return read

    @property
    def topics(self) -> list[str]:
        """The topics it subscribes to: its events' and those it handles tombstones of."""
        return sorted(self._read())

    @property
    def declared_topics(self) -> tuple[Topic, ...]:
        """The topics it reads and its dead-letter topics, as the contracts declare them."""
        read = self._read()
        return (*(read[n] for n in sorted(read)), *dead_letter_topics(self.name))

    @property
    def dlq_topic(self) -> str:
        return dlq_topic(self.name)

    @property
    def event_types(self) -> frozenset[str]:
        """The wire types this consumer handles in at least one version."""
        return frozenset(ev.spec.type for ev in self.handlers)

    def intake(self, *, topic_prefix: str, max_event_bytes: int) -> Intake:
        """What :func:`~.records.classify` needs to know of this consumer, deployed with
        ``topic_prefix``."""
        read = self.declared_topics
        return Intake(
            handlers=frozenset(self.handlers), event_types=self.event_types,
            topic_prefix=topic_prefix,
            compacted=frozenset(topic_prefix + t.name for t in read if compacted(t)),
            tombstone_topics=frozenset(topic_prefix + t.name for t in self.tombstone_handlers),
            max_event_bytes=max_event_bytes)
