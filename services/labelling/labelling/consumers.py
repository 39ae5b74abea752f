"""Events labelling consumes: none. Labelling is where the programme starts; every other
service reacts to its events, and it needs nothing from theirs. A future handler goes here
(``consumer = EventConsumer("labelling")`` and ``@consumer.handles(...)``)."""

from __future__ import annotations

from cites_runtime.consumer import EventConsumer

__all__ = ["consumer"]

consumer: EventConsumer | None = None
