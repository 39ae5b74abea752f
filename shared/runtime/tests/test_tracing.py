"""Traces (OpenTelemetry): one command is one trace across services, from the HTTP request
through its unit of work, the relay's publish, another service's batch and handler, to
that service's own outbox; tracing off installs nothing."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
import runtime_testapp as testapp
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace import TracerProvider as SdkTracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from pydantic import ValidationError
from runtime_testapp import THINGS, ThingHappened

from cites_contracts import Envelope
from cites_runtime import tracing
from cites_runtime.app import Runtime, ServiceDefinition
from cites_runtime.consumer import BatchContext, EventConsumer, HandlerContext
from cites_runtime.logs import get_logger
from cites_runtime.settings import ServiceSettings
from cites_runtime.testing import AS_NATIONAL, in_memory
from cites_runtime.testing.plugin import Database, SettingsFactory, drop_db, new_service_db

log = get_logger("listener")
hears = EventConsumer("listener")


@hears.handles(ThingHappened)
async def heard(event: ThingHappened, ctx: HandlerContext) -> None:
    """Another service's handler: logs, and answers a thing with one of its own."""
    log.info("thing heard", thing_id=event.thing_id)
    if event.note != "heard":
        ctx.uow.emit(ThingHappened(thing_id=f"{event.thing_id}-heard", n=event.n,
                                   note="heard"))


listener = ServiceDefinition(name="listener", consumer=hears, produces=[THINGS],
                             version="2.3.4")

UPSTREAM = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
"""A caller's own trace: the command's spans continue it."""


def _one(spans: list[ReadableSpan], name: str, **where: Any) -> ReadableSpan:
    found = [s for s in spans if s.name == name
             and all(getattr(s, k) == v for k, v in where.items())]
    assert len(found) == 1, (name, [s.name for s in spans])
    return found[0]


def _tp(span: ReadableSpan) -> str:
    ctx = span.get_span_context()
    assert ctx is not None
    return f"00-{ctx.trace_id:032x}-{ctx.span_id:016x}-01"


async def test_one_command_is_one_trace_across_two_services(
    make_settings: Callable[..., ServiceSettings], service_settings: SettingsFactory,
    database: Database, capsys: pytest.CaptureFixture[str],
) -> None:
    exported_a, exported_b = InMemorySpanExporter(), InMemorySpanExporter()
    a = make_settings(trace_exporter=exported_a, log_json=True, log_level="INFO")
    other = await new_service_db(database, a.db_schema + "_l")
    b = service_settings(ServiceSettings, service_name="listener", database_url=other.dsn,
                         db_schema=other.schema, trace_exporter=exported_b, log_json=True,
                         log_level="INFO")
    try:
        async with in_memory(testapp.definition, a) as producer, \
                in_memory(listener, b) as consumer:
            answer = await producer.http.post(
                "/things", json={"thing_id": "t-1", "n": 1},
                headers={**AS_NATIONAL, "traceparent": UPSTREAM})
            assert answer.status_code == 201, answer.text
            await producer.all_published()
            await consumer.forward(producer)
            await consumer.all_published()
            rows = await consumer.runtime.pool.fetch(
                "SELECT event_type, traceparent FROM outbox_history ORDER BY id")
    finally:
        await drop_db(other)
    spans_a, spans_b = list(exported_a.get_finished_spans()), list(exported_b.get_finished_spans())
    trace_id = int(UPSTREAM.split("-")[1], 16)

    server = _one(spans_a, "POST /things", kind=SpanKind.SERVER)
    uow = _one(spans_a, "unit of work")
    publish = _one(spans_a, f"publish {THINGS.name}")
    assert {s.context.trace_id for s in (server, uow, publish)} == {trace_id}
    assert server.parent is not None and server.parent.span_id == int(UPSTREAM.split("-")[2], 16)
    assert uow.parent is not None and uow.parent.span_id == server.context.span_id
    assert publish.parent is not None and publish.parent.span_id == uow.context.span_id
    assert publish.kind is SpanKind.PRODUCER
    assert any(e.name == "outbox write" for e in uow.events)
    # The unit of work's queries are spans of it (asyncpg's instrumentation).
    assert any(s.kind is SpanKind.CLIENT and s.parent is not None
               and s.parent.span_id == uow.context.span_id for s in spans_a)

    # The other service: its batch links to the producer's publish, its handler is a child
    # of it, so the trace goes on there.
    batches = [s for s in spans_b if s.name == "listener batch"]
    assert any(link.context.span_id == publish.context.span_id
               and link.context.trace_id == trace_id for s in batches for link in s.links)
    handles = [s for s in spans_b if s.name == f"handle {ThingHappened.spec.type}"]
    first = next(s for s in handles if s.parent is not None
                 and s.parent.span_id == publish.context.span_id)
    assert first.context.trace_id == trace_id and first.kind is SpanKind.CONSUMER
    # Its own outbox row carries the handler span; its publish and the next handler follow.
    assert [r["traceparent"] for r in rows] == [_tp(first)]
    echo = _one(spans_b, f"publish {THINGS.name}")
    assert echo.parent is not None and echo.parent.span_id == first.context.span_id
    second = next(s for s in handles if s is not first)
    assert second.parent is not None and second.parent.span_id == echo.context.span_id
    assert {s.context.trace_id for s in (echo, second)} == {trace_id}

    assert server.resource.attributes["service.name"] == "testapp"
    assert dict(first.resource.attributes).items() >= {
        "service.name": "listener", "service.version": "2.3.4",
        "deployment.environment": "test"}.items()

    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()
             if line.startswith("{")]
    heard_lines = [line for line in lines if line["event"] == "thing heard"]
    assert heard_lines and all(line["trace_id"] == f"{trace_id:032x}" for line in heard_lines)
    assert heard_lines[0]["span_id"] == f"{first.context.span_id:016x}"


async def test_tracing_off_installs_no_provider_and_keeps_the_trace_carried(
    make_settings: Callable[..., ServiceSettings],
) -> None:
    settings = make_settings()
    assert Runtime(testapp.definition, settings).tracer_provider is None
    async with in_memory(testapp.definition, settings) as service:
        assert service.runtime.tracer is None and service.runtime.relay is not None
        assert service.runtime.relay.tracer is None
        answer = await service.http.post("/things", json={"thing_id": "t-1", "n": 1},
                                         headers={**AS_NATIONAL, "traceparent": UPSTREAM})
        assert answer.status_code == 201
        row = await service.runtime.pool.fetchrow("SELECT traceparent FROM outbox_history")
    assert not isinstance(trace.get_tracer_provider(), SdkTracerProvider)
    assert row is not None and row["traceparent"].split("-")[1] == UPSTREAM.split("-")[1]
    assert row["traceparent"] != UPSTREAM


def test_an_endpoint_turns_tracing_on_with_its_sampling_and_resource(
    make_settings: Callable[..., ServiceSettings],
) -> None:
    settings = make_settings(otlp_endpoint="http://127.0.0.1:4318",
                             trace_sample_ratio=0.25, environment="development")
    provider = tracing.install(settings, name="labelling", version="1.2.0")
    assert provider is not None
    try:
        processors = provider._active_span_processor._span_processors
        assert [type(p) for p in processors] == [BatchSpanProcessor]
        exporter = processors[0].span_exporter  # type: ignore[attr-defined]
        assert exporter._endpoint == "http://127.0.0.1:4318/v1/traces"
        assert "0.25" in provider.sampler.get_description()
        assert dict(provider.resource.attributes).items() >= {
            "service.name": "labelling", "service.version": "1.2.0",
            "deployment.environment": "development"}.items()
        # A query with no request or event around it starts no trace; a batch does.
        tracer = provider.get_tracer("t")
        with tracer.start_as_current_span("poll", kind=SpanKind.CLIENT) as orphan:
            assert not orphan.is_recording()
    finally:
        provider.shutdown()
    with pytest.raises(ValidationError, match="not an http"):
        make_settings(otlp_endpoint="127.0.0.1:4318")
    with pytest.raises(ValidationError):
        make_settings(trace_sample_ratio=1.5)
    assert tracing.install(make_settings(), name="x", version="0") is None


in_sets = EventConsumer("set-listener")


@in_sets.handles_many(ThingHappened)
async def heard_many(events: list[Envelope[ThingHappened]], ctx: BatchContext) -> None:
    """A set-based handler: answers each thing, in that thing's cause."""
    for e in events:
        if e.data.note != "heard":
            ctx.uow.emit(ThingHappened(thing_id=f"{e.data.thing_id}-heard", n=e.data.n,
                                       note="heard"), cause=ctx.cause(e))


set_listener = ServiceDefinition(name="set-listener", consumer=in_sets, produces=[THINGS])


async def test_a_set_based_run_links_its_events_and_what_it_emits_goes_on_in_theirs(
    make_settings: Callable[..., ServiceSettings], service_settings: SettingsFactory,
    database: Database,
) -> None:
    exported_a, exported_b = InMemorySpanExporter(), InMemorySpanExporter()
    a = make_settings(trace_exporter=exported_a)
    other = await new_service_db(database, a.db_schema + "_s")
    b = service_settings(ServiceSettings, service_name="set-listener",
                         database_url=other.dsn, db_schema=other.schema,
                         trace_exporter=exported_b)
    try:
        async with in_memory(testapp.definition, a) as producer, \
                in_memory(set_listener, b) as consumer:
            for n in (1, 2):
                answer = await producer.http.post(
                    "/things", json={"thing_id": f"t-{n}", "n": n}, headers=AS_NATIONAL)
                assert answer.status_code == 201, answer.text
            await producer.all_published()
            await consumer.forward(producer)
            await consumer.all_published()
    finally:
        await drop_db(other)
    publishes = [s for s in exported_a.get_finished_spans()
                 if s.name == f"publish {THINGS.name}"]
    assert len(publishes) == 2 and len({s.context.trace_id for s in publishes}) == 2
    spans_b = list(exported_b.get_finished_spans())
    batches = {s.context.span_id: s for s in spans_b if s.name == "set-listener batch"}
    for publish in publishes:  # (in memory, each record is a batch of its own)
        run = next(s for s in spans_b if s.name == f"handle {ThingHappened.spec.type}"
                   and (publish.context.trace_id, publish.context.span_id)
                   in [(link.context.trace_id, link.context.span_id) for link in s.links])
        assert run.parent is not None and run.parent.span_id in batches
        assert run.context.trace_id == batches[run.parent.span_id].context.trace_id
    # What the run emitted for each thing is published in that thing's trace.
    answers = [s for s in spans_b if s.name == f"publish {THINGS.name}"]
    assert {(s.context.trace_id, s.parent.span_id) for s in answers if s.parent} == {
        (p.context.trace_id, p.context.span_id) for p in publishes}


def test_a_batch_links_as_many_traces_as_a_span_keeps() -> None:
    many = [f"00-{n:032x}-{n:016x}-01" for n in range(1, 201)]
    found = tracing.links([None, "garbage", *many])
    assert len(found) == tracing.MAX_LINKS
    assert [link.context.trace_id for link in found] == list(range(1, tracing.MAX_LINKS + 1))


async def test_a_background_round_leaves_a_trace_only_when_it_emits(
    make_settings: Callable[..., ServiceSettings],
) -> None:
    exported = InMemorySpanExporter()
    async with in_memory(testapp.definition, make_settings(trace_exporter=exported)) as service:
        for _ in range(3):  # rounds finding nothing to do
            async with service.runtime.unit_of_work() as uow:
                await uow.conn.fetchval("SELECT count(*) FROM things")
        async with service.runtime.unit_of_work() as uow:  # a round that emits
            uow.emit(ThingHappened(thing_id="t-job", n=1))
        await service.all_published()
        row = await service.runtime.pool.fetchrow("SELECT traceparent FROM outbox_history")
    spans = list(exported.get_finished_spans())
    assert row is not None and row["traceparent"] is None
    # No trace for the rounds, nor for their queries: only the publish and the batch start
    # one.
    assert {s.name for s in spans if s.parent is None} == {f"publish {THINGS.name}",
                                                          "tally batch"}
    assert not [s for s in spans if s.name == "unit of work"]
    publish = _one(spans, f"publish {THINGS.name}")
    assert publish.parent is None  # its trace starts here, and goes on in the consumer
    handle = _one(spans, f"handle {ThingHappened.spec.type}")
    assert handle.parent is not None and handle.parent.span_id == publish.context.span_id


def test_opentelemetrys_standard_endpoint_variable_turns_tracing_on_when_the_service_names_none(
    make_settings: Callable[..., ServiceSettings], monkeypatch: pytest.MonkeyPatch,
) -> None:
    # make run and compose set OTEL_EXPORTER_OTLP_ENDPOINT for every service; a service's
    # own <SERVICE>_OTLP_ENDPOINT (here: given explicitly) wins over it.
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://jaeger:4318")
    assert make_settings().otlp_endpoint == "http://jaeger:4318"
    assert make_settings(otlp_endpoint="http://other:4318").otlp_endpoint == "http://other:4318"
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT")
    assert make_settings().otlp_endpoint is None
