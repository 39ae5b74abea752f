"""The tracing backend is real: a span exported over OTLP (OpenTelemetry's SDK and its
OTLP/HTTP exporter, as a service would) is read back from Jaeger's query API.

Jaeger comes from the plugin's ``jaeger`` fixture: ``OTEL_EXPORTER_OTLP_ENDPOINT`` and
``JAEGER_QUERY_URL`` when given, else the native launcher's (built from its Go module);
the ``infra`` fixture carries one too, beside Kafka (the launcher's, or a container's).
"""

from __future__ import annotations

import uuid

import httpx
import pytest
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import SpanKind, format_trace_id

from cites_runtime.testing.infra import Infra, Jaeger

pytestmark = pytest.mark.integration


def export(jaeger: Jaeger, service: str) -> tuple[str, str]:
    """A parent span and its child, exported at once over OTLP/HTTP as ``service``; the
    trace id (32 hex digits) and the parent's span id (16)."""
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    exporter = OTLPSpanExporter(endpoint=f"{jaeger.otlp_endpoint}/v1/traces", timeout=10)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("tests.test_jaeger")
    try:
        with tracer.start_as_current_span("handle LabelGranted", kind=SpanKind.CONSUMER) as parent:
            parent.set_attribute("messaging.destination.name", "labelling.events")
            with tracer.start_as_current_span("uow.commit"):
                pass
        context = parent.get_span_context()
    finally:
        provider.shutdown()
    return format_trace_id(context.trace_id), f"{context.span_id:016x}"


def test_a_span_sent_over_otlp_is_read_back_from_the_query_api(jaeger: Jaeger) -> None:
    service = f"test-jaeger-{uuid.uuid4().hex[:8]}"
    trace_id, parent_id = export(jaeger, service)

    trace = jaeger.trace(trace_id, spans=2)  # the child is exported first, then its parent

    spans = {span["operationName"]: span for span in trace["spans"]}  # type: ignore[attr-defined]
    assert set(spans) == {"handle LabelGranted", "uow.commit"}
    parent, child = spans["handle LabelGranted"], spans["uow.commit"]
    assert parent["traceID"] == trace_id and parent["spanID"] == parent_id
    assert child["references"] == [
        {"refType": "CHILD_OF", "traceID": trace_id, "spanID": parent_id}
    ]
    tags = {tag["key"]: tag["value"] for tag in parent["tags"]}
    assert tags["messaging.destination.name"] == "labelling.events"
    assert tags["span.kind"] == "consumer"
    processes = trace["processes"]
    assert isinstance(processes, dict)
    assert processes[parent["processID"]]["serviceName"] == service


def test_the_query_api_lists_the_exporting_service(jaeger: Jaeger) -> None:
    service = f"test-jaeger-{uuid.uuid4().hex[:8]}"
    trace_id, _ = export(jaeger, service)
    jaeger.trace(trace_id)

    services = httpx.get(f"{jaeger.query_url}/api/services", timeout=5).json()["data"]
    found = httpx.get(f"{jaeger.query_url}/api/traces", params={"service": service},
                      timeout=5).json()["data"]

    assert service in services
    assert [t["traceID"] for t in found] == [trace_id]


def test_an_unknown_trace_is_not_found(jaeger: Jaeger) -> None:
    answer = httpx.get(f"{jaeger.query_url}/api/traces/{uuid.uuid4().hex}", timeout=5)

    assert answer.status_code == 404
    with pytest.raises(LookupError, match="no trace"):
        jaeger.trace(uuid.uuid4().hex, timeout=0.5)


def test_the_infrastructure_beside_kafka_has_a_tracing_backend_too(infra: Infra) -> None:
    assert infra.otlp_endpoint and infra.jaeger_query_url, infra
    beside = Jaeger(infra.mode, infra.otlp_endpoint, infra.jaeger_query_url)
    trace_id, parent_id = export(beside, "test-jaeger-infra")

    spans = beside.trace(trace_id, spans=2)["spans"]

    assert parent_id in [span["spanID"] for span in spans]  # type: ignore[attr-defined]
