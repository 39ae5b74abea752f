"""JSON logs (structlog) carrying service, correlation_id and event_id, and ``trace_id``
and ``span_id`` when a span is current (tracing on: ``cites_runtime.tracing``).

Context travels in contextvars: :func:`bind` inside a request adds fields to every line
logged below it, including lines from libraries going through stdlib logging. A consumer
names the event being handled with :data:`CURRENT_EVENT` instead, one ``ContextVar.set``
per event: the ids become text only on a line actually logged (a ``bind`` per event
costs more than applying some events does).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator, MutableMapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import structlog
from opentelemetry import trace

__all__ = ["CURRENT_EVENT", "bind", "configure_logging", "get_logger"]

CURRENT_EVENT: ContextVar[tuple[object, object] | None] = ContextVar("cites_current_event",
                                                                    default=None)
"""``(event_id, correlation_id)`` of the event being handled: every line logged meanwhile
carries them (unless it names its own)."""


def _current_event(logger: Any, method: str,
                   event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    current = CURRENT_EVENT.get()
    if current is not None:
        event_dict.setdefault("event_id", str(current[0]))
        event_dict.setdefault("correlation_id", str(current[1]))
    return event_dict


def _current_span(logger: Any, method: str,
                  event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """The current span's trace and span ids (hex, as tracing backends show them)."""
    ctx = trace.get_current_span().get_span_context()
    if ctx.is_valid:
        event_dict.setdefault("trace_id", format(ctx.trace_id, "032x"))
        event_dict.setdefault("span_id", format(ctx.span_id, "016x"))
    return event_dict


_shared: list[Any] = [
    structlog.contextvars.merge_contextvars,
    _current_event,
    _current_span,
    structlog.stdlib.add_log_level,
    structlog.stdlib.add_logger_name,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
    structlog.processors.StackInfoRenderer(),
    structlog.processors.format_exc_info,
]


def configure_logging(service: str, *, level: str = "INFO", json: bool = True) -> None:
    renderer: Any = (
        structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer()
    )
    structlog.configure(
        processors=[*_shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(foreign_pre_chain=_shared, processor=renderer)
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    logging.getLogger("aiokafka").setLevel(max(logging.WARNING, root.level))
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(service=service)


def get_logger(name: str) -> Any:
    return structlog.stdlib.get_logger(name)


@contextmanager
def bind(**fields: Any) -> Iterator[None]:
    """Add fields to every log line emitted inside the block."""
    tokens = structlog.contextvars.bind_contextvars(**{k: str(v) for k, v in fields.items()})
    try:
        yield
    finally:
        structlog.contextvars.reset_contextvars(**tokens)
