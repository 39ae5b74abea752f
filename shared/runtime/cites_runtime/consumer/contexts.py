"""What a handler gets besides its event(s): the consuming transaction, and the cause of
what it emits."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from cites_contracts import Envelope, Event, Topic

from ..db import Conn
from ..logs import CURRENT_EVENT
from ..uow import Cause, UnitOfWork
from .records import RawRecord, traceparent

__all__ = ["BatchContext", "HandlerContext", "TombstoneContext"]


@dataclass(slots=True)
class HandlerContext:
    """What a handler of one event (:meth:`EventConsumer.handles`) gets besides it: the
    consuming transaction, whose events are caused by ``envelope``."""

    uow: UnitOfWork
    envelope: Envelope[Event]

    @property
    def conn(self) -> Conn:
        return self.uow.conn


@dataclass(slots=True)
class BatchContext:
    """What a set-based handler (:meth:`EventConsumer.handles_many`) gets besides its
    events: the consuming transaction, and each event's cause for what it emits — given to
    ``uow.emit(event, cause=ctx.cause(e))``, or for everything emitted inside ``with
    ctx.caused_by(e):``."""

    uow: UnitOfWork
    records: Mapping[UUID, RawRecord]
    """Each event's record, by event id (its trace is read from there when asked)."""

    @property
    def conn(self) -> Conn:
        return self.uow.conn

    def cause(self, envelope: Envelope[Any]) -> Cause:
        """Why what is emitted for ``envelope`` happens: its correlation id, the event
        itself as cause, its trace."""
        rec = self.records.get(envelope.event_id)
        if rec is None:  # called one event at a time, outside a run: the uow's is its own
            current = self.uow.cause
            if current.causation_id == envelope.event_id:
                return current
            return Cause.of(envelope)
        return Cause.of(envelope, traceparent(rec))

    @contextmanager
    def caused_by(self, envelope: Envelope[Any]) -> Iterator[None]:
        """Inside the block, events emitted are caused by ``envelope`` and log lines name
        it: for use cases that emit themselves."""
        token = CURRENT_EVENT.set((envelope.event_id, envelope.correlation_id))
        try:
            with self.uow.caused_by(self.cause(envelope)):
                yield
        finally:
            CURRENT_EVENT.reset(token)


@dataclass(slots=True)
class TombstoneContext:
    """What a tombstone handler gets besides the key: the consuming transaction, and the
    topic (as declared) the key was erased from."""

    uow: UnitOfWork
    topic: Topic
    tombstone_id: UUID
    """The tombstone's identity in the inbox (see :attr:`Tombstone.id`)."""

    @property
    def conn(self) -> Conn:
        return self.uow.conn
