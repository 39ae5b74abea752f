"""Traces (OpenTelemetry): one trace per command, across services.

The runtime carries a W3C ``traceparent`` from the HTTP request through its unit of work,
the outbox row, the Kafka record's headers and the consumer that applies it. With tracing
on, each of those steps is a span of the OpenTelemetry SDK, and the ``traceparent`` carried
is that span's: the request (FastAPI's own telemetry), its unit of work, each row the relay
publishes (a child of the row's stored ``traceparent``), each consumer batch (linked to the
traces of its records) and each handler (a child of its record's ``traceparent``, so the
events it emits continue the trace), database queries (the asyncpg instrumentation).

Tracing is on when ``otlp_endpoint`` is set (spans exported by OTLP over HTTP) or a test
gives ``trace_exporter``; either way spans are exported in the background, in batches
(all of them by the time the runtime has stopped). Off, no
provider is installed: no span is made, the runtime mints ``traceparent`` values as
before, and each traced step costs one ``is None`` test.

Each service holds its own provider (``Runtime.tracer_provider``, with its service's
resource), never the process's global one: several services run in one test process.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import Link, Span, SpanKind, Tracer
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider

    from .settings import ServiceSettings

__all__ = ["Tracer", "call_span", "current_traceparent", "install", "links", "parent",
           "traceparent_of"]

_W3C = TraceContextTextMapPropagator()


def install(settings: ServiceSettings, *, name: str, version: str) -> TracerProvider | None:
    """The service's tracer provider, or None when tracing is off (no endpoint, no
    exporter). Resource: ``service.name`` (the service's name), ``service.version``,
    ``deployment.environment``; sampling: the parent's decision, else
    ``trace_sample_ratio`` of new traces (a database query with no request or event
    around it starts none)."""
    exporter = settings.trace_exporter
    if exporter is None and settings.otlp_endpoint is None:
        return None
    # Imported here: a service with tracing off never loads the SDK.
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    from opentelemetry.sdk.trace.sampling import ParentBased

    resource = Resource.create({"service.name": name, "service.version": version,
                                "deployment.environment": settings.environment})
    provider = TracerProvider(resource=resource, sampler=ParentBased(
        root=_roots(settings.trace_sample_ratio)))
    if exporter is None:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        assert settings.otlp_endpoint is not None
        exporter = OTLPSpanExporter(endpoint=_traces_url(settings.otlp_endpoint))
    provider.add_span_processor(BatchSpanProcessor(exporter))
    return provider


def _roots(ratio: float) -> Any:
    """The sampler of spans without a parent: ``ratio`` of them, but never a database
    query's (a poll of the relay or of a background job: no command's)."""
    from opentelemetry.sdk.trace.sampling import (
        Decision,
        Sampler,
        SamplingResult,
        TraceIdRatioBased,
    )
    from opentelemetry.trace import SpanKind

    class Roots(Sampler):
        def __init__(self) -> None:
            self._ratio = TraceIdRatioBased(ratio)

        def should_sample(self, parent_context: Context | None, trace_id: int, name: str,
                          kind: SpanKind | None = None, attributes: Any = None,
                          links: Sequence[Link] | None = None,
                          trace_state: Any = None) -> SamplingResult:
            if kind is SpanKind.CLIENT:
                return SamplingResult(Decision.DROP)
            return self._ratio.should_sample(parent_context, trace_id, name, kind,
                                             attributes, links, trace_state)

        def get_description(self) -> str:
            return f"Roots({self._ratio.get_description()}, no orphan queries)"

    return Roots()


def _traces_url(endpoint: str) -> str:
    """The OTLP/HTTP traces URL of ``endpoint``: as given when it names a path, else
    ``<endpoint>/v1/traces`` (``http://127.0.0.1:4318`` is the collector's base URL)."""
    endpoint = endpoint.rstrip("/")
    return endpoint if urlsplit(endpoint).path else f"{endpoint}/v1/traces"


def parent(traceparent: str | None) -> Context | None:
    """The context whose span is the one ``traceparent`` names (None: none given, so a
    span started in it is a new trace's root)."""
    if not traceparent:
        return None
    return _W3C.extract({"traceparent": traceparent})


MAX_LINKS = 128
"""Links kept on one span: the SDK's default limit (``OTEL_SPAN_LINK_COUNT_LIMIT``), beyond
which it drops them; none is made beyond it."""


def links(traceparents: Sequence[str | None]) -> list[Link]:
    """A link to each valid ``traceparent`` (a batch of records of many traces), the first
    :data:`MAX_LINKS` of them."""
    found: list[Link] = []
    for tp in traceparents:
        if len(found) == MAX_LINKS:
            break
        if tp:
            ctx = trace.get_current_span(_W3C.extract({"traceparent": tp})).get_span_context()
            if ctx.is_valid:
                found.append(Link(ctx))
    return found


def traceparent_of(span: Span) -> str:
    """``span``'s W3C ``traceparent``: what the events caused under it carry."""
    carrier: dict[str, str] = {}
    _W3C.inject(carrier, context=trace.set_span_in_context(span))
    return carrier["traceparent"]


@contextmanager
def call_span(tracer: Tracer, name: str, cause: str | None,
              attributes: Mapping[str, str | int]) -> Iterator[Span]:
    """A span of a call out of the platform (a mail to the SMTP server, a webhook's POST),
    current in the block: a child of ``cause``, the ``traceparent`` of what made the
    call due, so the call ends that command's trace."""
    with tracer.start_as_current_span(name, context=parent(cause), kind=SpanKind.CLIENT,
                                      attributes=dict(attributes)) as span:
        yield span


def current_traceparent() -> str | None:
    """The current span's ``traceparent``, or None when no span is current (tracing
    off)."""
    span = trace.get_current_span()
    return traceparent_of(span) if span.get_span_context().is_valid else None
