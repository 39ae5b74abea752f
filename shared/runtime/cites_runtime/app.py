"""Assemble a service: FastAPI + FastStream subscribers + outbox relay + health + metrics.

A service describes itself with a :class:`ServiceDefinition` and gets a FastAPI app from
:func:`build_app`; its use cases reach the database through ``Runtime.unit_of_work``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from pathlib import Path
from typing import Any, Generic, TypeVar
from uuid import uuid4

import asyncpg
import uvicorn
from aiokafka import TopicPartition
from aiokafka.structs import OffsetAndMetadata
from fastapi import APIRouter, Depends, FastAPI, Response
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import JSONResponse
from faststream import BaseMiddleware
from faststream.kafka import KafkaBroker, KafkaRouter
from faststream.kafka.annotations import KafkaMessage
from faststream.kafka.message import FAKE_CONSUMER, KafkaAckableMessage
from faststream.middlewares import AckPolicy
from opentelemetry import trace
from prometheus_client import CONTENT_TYPE_LATEST, Counter, generate_latest

from cites_contracts import Topic

from . import http, metrics, tracing
from .actor import Role
from .auth import require
from .consumer import ConsumerRunner, EventConsumer, GiveBack
from .db import create_pool
from .kafka import AiokafkaPublisher, Publisher, faststream_security, provision
from .liveness import Heartbeat, consumer_problem, loop_problem
from .logs import configure_logging, get_logger
from .migrations import Migration, load_migrations, migrate, runtime_migrations
from .polling import guard_polls
from .relay import OutboxRelay
from .settings import ServiceSettings
from .tuning import GC_THRESHOLDS, tune_gc
from .uow import Cause, UnitOfWork, civil_date, unit_of_work

__all__ = ["BackgroundJob", "Runtime", "ServiceDefinition", "build_app", "run_migrations"]

log = get_logger(__name__)

S = TypeVar("S", bound=ServiceSettings)

BackgroundJob = Callable[["Runtime[Any]"], Awaitable[None]]
"""Runs for the app's lifetime (a scheduler): ``async def job(runtime) -> None``."""

RETRY_AFTER_FAILURE_S = 30.0

BATCH_FAILURES = Counter("consumer_batch_failures_total", "Batches stopped before their end "
                         "by a defect, not a record: rewound, fetched again", ["consumer"])


def periodic(name: str, work: Callable[[Runtime[Any]], Awaitable[object]],
             interval_s: Callable[[Any], float], *, drain: bool = False) -> BackgroundJob:
    """A background job running ``work`` at start, then every ``interval_s(settings)``
    seconds, until cancelled. A round that fails (the database away) is logged and tried
    again sooner (``RETRY_AFTER_FAILURE_S`` at most): the job must not die. What a round
    returns, if anything, is logged. Every replica runs it: ``work`` must be safe to run
    concurrently (each service's does so by locking and unique keys).

    ``drain``: ``work`` takes a batch from a queue and returns how many it took; while it
    takes some, the next round starts at once (not logged), and the interval is only the
    wait of an empty queue."""
    async def job(runtime: Runtime[Any]) -> None:
        beat = runtime.heartbeat(name, every=interval_s(runtime.settings))
        while True:
            interval = interval_s(runtime.settings)
            beat.every = interval
            beat.beat()
            try:
                result = await work(runtime)
                if result and drain:
                    delay = 0.0
                else:
                    if result:
                        log.info(f"{name} done", result=result)
                    delay = interval
            except Exception as exc:
                log.warning(f"{name} failed", error=repr(exc))
                delay = min(interval, RETRY_AFTER_FAILURE_S)
            beat.rounds += 1
            await asyncio.sleep(delay)

    job.__name__ = name
    return job


@dataclass
class ServiceDefinition:
    """What a service brings: its name, migrations, routes, consumer and produced topics."""

    name: str
    migrations_dir: Path | None = None
    routers: Sequence[APIRouter] = ()
    consumer: EventConsumer | None = None
    produces: Sequence[Topic] = ()
    title: str = ""
    version: str = "0.1.0"
    background: Sequence[BackgroundJob] = field(default_factory=list)
    """Jobs run for the app's lifetime, by every replica (schedulers)."""
    gc_thresholds: tuple[int, int, int] = GC_THRESHOLDS
    """The collector's thresholds once started (``cites_runtime.tuning``): batch thresholds
    by default; ``CPYTHON_GC_THRESHOLDS`` for a service whose work leaves cycles."""

    def topics(self) -> tuple[Topic, ...]:
        """Every topic it touches, as declared: what it produces, reads and dead-letters
        (created by the administrator's one-shot, ``cites_runtime.kafka_admin``)."""
        return (*self.produces, *(self.consumer.declared_topics if self.consumer else ()))

    def migrations(self) -> list[Migration]:
        own = load_migrations(self.name, self.migrations_dir) if self.migrations_dir else []
        return [*runtime_migrations(), *own]


class Runtime(Generic[S]):
    """Per-process resources a service's code uses: pool, schema, producer, relay; and
    its settings, typed as the service's own (``Runtime[LabellingSettings]``)."""

    def __init__(self, definition: ServiceDefinition, settings: S):
        self.definition = definition
        self.settings = settings
        self.schema = settings.db_schema
        self._pool: asyncpg.Pool | None = None
        self.publisher: Publisher | None = None
        self.broker: KafkaBroker | None = None
        self.relay: OutboxRelay | None = None
        self.runner: ConsumerRunner | None = None
        self.subscriber: Any = None
        self._tasks: list[asyncio.Task[None]] = []
        self.heartbeats: dict[str, Heartbeat] = {}
        """The loops' heartbeats by task name (``relay``, each job's), for liveness."""
        self._check_states: dict[str, str] = {}
        self._lag: metrics.ConsumerLagSeries | None = None
        self._lag_known = True
        self.tracer_provider = tracing.install(settings, name=definition.name,
                                               version=definition.version)
        """This service's tracer provider; None when tracing is off (``otlp_endpoint``
        unset and no ``trace_exporter``)."""
        self.tracer = (None if self.tracer_provider is None
                       else self.tracer_provider.get_tracer("cites_runtime"))
        self._queries_traced = False

    @property
    def pool(self) -> asyncpg.Pool:
        if self._pool is None:
            raise RuntimeError("runtime not started")
        return self._pool

    def unit_of_work(self, cause: Cause | None = None
                     ) -> contextlib.AbstractAsyncContextManager[UnitOfWork]:
        """One transaction on this service's schema, timed by its clock (``uow.now``);
        with tracing on, a span whose ``traceparent`` its events carry."""
        if self.tracer is not None:
            return self._traced_unit_of_work(self.tracer, cause)
        return unit_of_work(self.pool, self.schema, cause=cause, clock=self.settings.clock,
                            zone=self.settings.zone,
                            max_event_bytes=self.settings.event_max_bytes)

    @asynccontextmanager
    async def _traced_unit_of_work(self, tracer: Any, cause: Cause | None
                                   ) -> AsyncIterator[UnitOfWork]:
        """:meth:`unit_of_work` in a span of its own, child of the current one (the
        request's), which the cause's ``traceparent`` names. Outside any span and without
        a cause (a background job's round), none: such a round starts a trace only if it
        emits, at the relay's publish of its events (their rows carry no traceparent), so
        the rounds that find nothing to do leave no trace."""
        if cause is None and not trace.get_current_span().get_span_context().is_valid:
            async with unit_of_work(self.pool, self.schema, cause=Cause(uuid4()),
                                    clock=self.settings.clock, zone=self.settings.zone,
                                    max_event_bytes=self.settings.event_max_bytes,
                                    traced=True) as uow:
                yield uow
            return
        with tracer.start_as_current_span("unit of work") as span:
            cause = replace(cause or Cause.new(), traceparent=tracing.traceparent_of(span))
            async with unit_of_work(self.pool, self.schema, cause=cause,
                                    clock=self.settings.clock, zone=self.settings.zone,
                                    max_event_bytes=self.settings.event_max_bytes,
                                    traced=True) as uow:
                yield uow

    def today(self) -> date:
        """Today where the programme is run, by the service's clock and time zone: what
        ``uow.today`` says in a unit of work, for reads that open none."""
        return civil_date(self.settings.clock(), self.settings.zone)

    # -- lifecycle ------------------------------------------------------------------
    async def start(self, *, publisher: Publisher | None = None,
                    broker: KafkaBroker | None = None) -> None:
        s = self.settings
        metrics.set_build_info(self.definition.name, self.definition.version)
        self._trace_queries()
        self._pool = await create_pool(s.dsn, s.db_schema, min_size=s.db_pool_min,
                                       max_size=s.db_pool_max)
        if s.migrate_on_start:
            await run_migrations(self.definition, s)
        if publisher is None:
            if s.provision_topics_on_start:
                await provision(s.kafka, self.definition.topics(), prefix=s.topic_prefix)
            publisher = AiokafkaPublisher.connect(s.kafka)
            await publisher.producer.start()
        self.publisher = publisher
        if s.relay_enabled:
            self.relay = OutboxRelay(
                s.dsn, s.db_schema, publisher, topic_prefix=s.topic_prefix,
                batch_size=s.relay_batch_size, poll_interval=s.relay_poll_interval_s,
                retention=timedelta(hours=s.relay_retention_hours),
                nudge_topics=[t for t in self.definition.produces if t.personal_data],
                nudge_every=s.relay_roll_nudge_s, tracer=self.tracer,
            )
            self.heartbeats["relay"] = self.relay.heartbeat
            self._spawn(self.relay.run(), "relay")
        consumer = self.definition.consumer
        if consumer is not None and s.consumers_enabled:
            self.runner = ConsumerRunner(consumer, self.pool, s.db_schema, publisher,
                                         topic_prefix=s.topic_prefix,
                                         max_attempts=s.consumer_max_attempts,
                                         max_event_bytes=s.event_max_bytes,
                                         retry_budget_s=s.consumer_max_poll_interval_s / 2,
                                         clock=s.clock, zone=s.zone, tracer=self.tracer)
            self.broker = broker or KafkaBroker(s.kafka_bootstrap_servers,
                                                security=faststream_security(s.kafka),
                                                logger=_faststream_logger())
            self.subscriber = subscribe(self.broker, self.runner, s)
            self._lag = metrics.ConsumerLagSeries(consumer.name, s.topic(consumer.name))
            await self.broker.start()
            if self.subscriber.consumer is not None:  # None: the in-memory test broker
                guard_polls(self.subscriber.consumer, self.runner)
            self._spawn(_purge_inbox_forever(self.runner, s), "inbox-purge")
        for job in self.definition.background:
            self._spawn(job(self), getattr(job, "__name__", "job"))
        tune_gc(self.definition.gc_thresholds)  # started: the rest lives as long as the process

    def _trace_queries(self) -> None:
        """With tracing on, asyncpg's queries are spans too (children of the request's or
        handler's span they run under). The instrumentation patches asyncpg for the whole
        process: the first traced service of a process installs it, for its provider."""
        if self.tracer_provider is None:
            return
        from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor

        instrumentor = AsyncPGInstrumentor()  # type: ignore[no-untyped-call]
        if not instrumentor.is_instrumented_by_opentelemetry:
            instrumentor.instrument(tracer_provider=self.tracer_provider)
            self._queries_traced = True

    def _spawn(self, coro: Any, name: str) -> None:
        task = asyncio.create_task(coro, name=name)
        task.add_done_callback(_log_if_died)
        self._tasks.append(task)

    def heartbeat(self, name: str, *, every: float | None = None) -> Heartbeat:
        """The heartbeat of the loop running as task ``name`` (a background job calls it
        once, then beats each round): liveness fails when it stops beating."""
        beat = self.heartbeats[name] = Heartbeat(every=every)
        return beat

    async def liveness(self) -> tuple[bool, dict[str, str]]:
        """(live, problems): a loop of this process died or stopped making progress while
        work waits (``liveness_window_s``); see :mod:`cites_runtime.liveness`."""
        window = self.settings.liveness_window_s
        problems: dict[str, str] = {}
        for task in self._tasks:
            name = task.get_name()
            problem = loop_problem(name, task, self.heartbeats.get(name), window)
            if problem is not None:
                problems[name] = problem
        if self.runner is not None and self.subscriber is not None:
            problem = await consumer_problem(
                "consumer", getattr(self.subscriber, "tasks", ()), self.subscriber.consumer,
                self.runner.heartbeat, window)
            if problem is not None:
                problems["consumer"] = problem
        return not problems, problems

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        if self.broker is not None:
            await self.broker.stop()
        if isinstance(self.publisher, AiokafkaPublisher):
            await self.publisher.producer.stop()
        if self._pool is not None:
            await self._pool.close()
            self._pool = None
        metrics.set_pool(self.schema, None)
        metrics.set_readiness(self.definition.name, None, {})
        if self._lag is not None:
            self._lag.clear()
        if self._queries_traced:
            from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor

            AsyncPGInstrumentor().uninstrument()  # type: ignore[no-untyped-call]
            self._queries_traced = False
        if self.tracer_provider is not None:
            self.tracer_provider.shutdown()  # what waits to be exported is sent first

    # -- metrics read when scraped ----------------------------------------------------
    async def refresh_metrics(self) -> None:
        """Read the figures ``/metrics`` tells that no loop counts as it goes
        (:mod:`cites_runtime.metrics`): the pool's connections, readiness, and the
        consumer's lag per partition."""
        metrics.set_pool(self.schema, self._pool)
        (ready, checks), _ = await asyncio.gather(self.readiness(), self._refresh_lag())
        metrics.set_readiness(self.definition.name, ready, checks)

    async def _refresh_lag(self, timeout: float = 2.0) -> None:
        """The consumer's lag from the broker; its series removed when the broker does
        not answer in ``timeout`` (said once in the log until it answers again)."""
        client = getattr(self.subscriber, "consumer", None)
        if self._lag is None or client is None:  # no consumer, or the in-memory broker
            return
        try:
            async with asyncio.timeout(timeout):
                lags = await metrics.consumer_lag(client)
        except Exception as exc:
            self._lag.clear()
            if self._lag_known:
                log.warning("consumer lag unknown", consumer=self._lag.consumer,
                            error=repr(exc))
            self._lag_known = False
            return
        self._lag.show(lags)
        self._lag_known = True

    # -- health ---------------------------------------------------------------------
    def _check_state(self, check: str, error: BaseException | None) -> str:
        """"ok" or "unavailable": what the probe answers, to anyone who asks. Why it is
        unavailable (an error's text names hosts, users) goes to the log, once each time
        the check changes state, not at every probe."""
        state = "ok" if error is None else "unavailable"
        if self._check_states.get(check, "ok") != state:
            if error is None:
                log.info("readiness check ok again", check=check)
            else:
                log.warning("readiness check unavailable", check=check, error=repr(error))
        self._check_states[check] = state
        return state

    async def readiness(self) -> tuple[bool, dict[str, str]]:
        """(ready, checks). Not ready: the database is away (commands cannot be kept), or
        the relay stalls — events wait longer than ``relay_stall_s`` and nothing was
        published meanwhile — while the broker answers. A broker outage alone leaves the
        service ready (the outbox keeps commands' events until it is back): it shows in
        ``checks`` and in the relay's metrics. A loop that is not live (:meth:`liveness`)
        is named in ``checks`` as ``live:<loop>``. ``checks`` holds states, never an
        error's text (logged instead: see :meth:`_check_state`)."""
        checks: dict[str, str] = {}
        try:
            async with asyncio.timeout(2):
                outbox = await self.pool.fetchrow(
                    """SELECT (SELECT count(*) FROM outbox
                                WHERE published_at IS NULL AND parked_at IS NULL) AS pending,
                              (SELECT count(*) FROM outbox WHERE parked_at IS NOT NULL
                                  AND published_at IS NULL) AS parked,
                              extract(epoch FROM now() - (
                                  SELECT created_at FROM outbox
                                   WHERE published_at IS NULL AND parked_at IS NULL
                                   ORDER BY id LIMIT 1)) AS waiting,
                              extract(epoch FROM now() - (SELECT published_at
                                                            FROM outbox_relay)) AS idle""")
            checks["database"] = self._check_state("database", None)
        except Exception as exc:
            checks["database"] = self._check_state("database", exc)
            return False, checks
        broker_ok = True
        if isinstance(self.publisher, AiokafkaPublisher):
            try:
                async with asyncio.timeout(2):
                    await self.publisher.producer.client.fetch_all_metadata()
                checks["broker"] = self._check_state("broker", None)
            except Exception as exc:
                broker_ok = False
                checks["broker"] = self._check_state("broker", exc)
        assert outbox is not None
        stall = self.settings.relay_stall_s
        pending = outbox["pending"]
        waiting = float(outbox["waiting"] or 0)
        idle = None if outbox["idle"] is None else float(outbox["idle"])
        stalled = pending and waiting > stall and (idle is None or idle > stall)
        if not stalled:
            checks["relay"] = "ok"
        elif not broker_ok:
            checks["relay"] = f"waiting for the broker: {pending} event(s) pending"
        else:
            checks["relay"] = (f"stalled: {pending} event(s) pending, the oldest for "
                               f"{waiting:.0f} s, nothing published for "
                               + ("ever" if idle is None else f"{idle:.0f} s"))
        if outbox["parked"]:
            checks["parked"] = (f"{outbox['parked']} event(s) parked: python -m "
                                f"{self.definition.name} outbox parked")
        # A loop that died or stopped is the liveness probe's to act on; named here too.
        checks.update((f"live:{name}", problem)
                      for name, problem in (await self.liveness())[1].items())
        return not (stalled and broker_ok), checks


async def _purge_inbox_forever(runner: ConsumerRunner, s: ServiceSettings,
                               every: float = 300.0) -> None:
    while True:
        try:
            purged = await runner.purge_inbox(timedelta(hours=s.inbox_retention_hours))
            if purged:
                log.info("inbox purged", consumer=runner.name, rows=purged)
        except Exception as exc:  # the database away: next time
            log.warning("inbox purge failed", consumer=runner.name, error=repr(exc))
        await asyncio.sleep(every)


def _faststream_logger() -> logging.Logger:
    """FastStream's own log (a handler's exception, a subscriber that cannot start): its
    warnings and errors, not its line per message."""
    logger = logging.getLogger("faststream")
    logger.setLevel(logging.WARNING)
    return logger


def subscribe(broker: KafkaBroker, runner: ConsumerRunner, s: ServiceSettings) -> Any:
    """Bind the runner to a FastStream batch subscriber that commits after effects.
    Returns the subscriber (its poll loop's tasks and client are what liveness watches).

    Nothing of a record is read before the runner: our parser hands FastStream the batch
    as it came (its own decodes every header and would fail on bytes that are not
    UTF-8), and the runner dead-letters whatever it cannot accept. A batch is committed
    record by record position (each partition's last offset + 1), only once the runner
    returned; whatever stops it before — the runner's :class:`GiveBack`, a defect, a
    cancellation, anywhere between the poll and the commit — rewinds it, so its records
    come again and none is passed over (the next batch's commit would pass it)."""
    consumer = runner.consumer
    beat = runner.heartbeat

    async def consume(msg: KafkaMessage) -> None:
        batch = _records(msg.raw_message)
        try:
            await runner.process_batch(batch)
        except GiveBack as exc:
            _rewind(msg.consumer, batch)  # polled again at once: the group keeps this replica
            log.warning("batch given back to be fetched again", reason=str(exc),
                        records=len(batch))
            return
        client = subscriber.consumer
        if client is not None:  # None: the in-memory test broker, which keeps no offsets
            await client.commit(_next_offsets(batch))
        beat.succeeded()

    def kafka_client() -> Any:
        return subscriber.consumer or FAKE_CONSUMER

    # A router carries the middleware: batch subscribers take none of their own.
    router = KafkaRouter(middlewares=[_rewind_on_failure(consumer.name, beat, kafka_client)])
    subscriber = router.subscriber(
        *[s.topic(t) for t in consumer.topics],
        group_id=s.topic(consumer.name),
        batch=True,
        max_records=s.consumer_batch_size,
        max_poll_interval_ms=int(s.consumer_max_poll_interval_s * 1000),
        ack_policy=AckPolicy.MANUAL,
        auto_offset_reset="earliest",
        parser=_parser(kafka_client),
        decoder=_raw_body,
        title=f"{consumer.name} consumer",
    )
    subscriber(consume)
    broker.include_router(router)
    return subscriber


def _parser(client: Callable[[], Any]) -> Callable[[Any], Awaitable[KafkaMessage]]:
    """A subscriber's parser: the batch as FastStream's message, nothing of it decoded."""

    async def parse(records: Any) -> KafkaMessage:
        """Cannot fail."""
        batch = _records(records)
        return KafkaAckableMessage(
            raw_message=tuple(batch), body=b"", consumer=client(),
            message_id=(f"{batch[0].topic}-{batch[0].partition}-{batch[0].offset}"
                        if batch else "empty"))

    return parse


def _rewind_on_failure(consumer: str, beat: Heartbeat, client: Callable[[], Any]
                       ) -> type[BaseMiddleware]:
    """The middleware of ``consumer``'s subscriber: whatever escapes the handling of a
    batch rewinds it (on ``client()``, the subscriber's Kafka client), and is said loudly
    (unless it is a cancellation)."""

    class RewindOnFailure(BaseMiddleware):  # type: ignore[misc]
        async def after_processed(self, exc_type: type[BaseException] | None = None,
                                  exc_val: BaseException | None = None,
                                  exc_tb: Any = None) -> bool | None:
            if exc_val is None:
                return False
            batch = _records(self.msg)
            _rewind(client(), batch)
            if not isinstance(exc_val, asyncio.CancelledError):
                beat.failed(exc_val)
                BATCH_FAILURES.labels(consumer).inc()
                log.error("batch not consumed, rewound to be fetched again",
                          consumer=consumer, records=len(batch), error=repr(exc_val),
                          exc_info=exc_val)
            return False

    return RewindOnFailure


def _log_if_died(task: asyncio.Task[Any]) -> None:
    """A loop that ended on an error says it once, with the error (liveness names only
    its type)."""
    if not task.cancelled() and (error := task.exception()) is not None:
        log.error("loop stopped", loop=task.get_name(), error=repr(error), exc_info=error)


def _records(raw: Any) -> list[Any]:
    return list(raw) if isinstance(raw, list | tuple) else [raw]


def _next_offsets(batch: list[Any]) -> dict[TopicPartition, OffsetAndMetadata]:
    """What to commit for a batch done: each partition's last offset + 1."""
    last: dict[TopicPartition, int] = {}
    for rec in batch:
        tp = TopicPartition(rec.topic, rec.partition)
        last[tp] = max(rec.offset, last.get(tp, rec.offset))
    return {tp: OffsetAndMetadata(offset + 1, "") for tp, offset in last.items()}


def _rewind(client: Any, batch: list[Any]) -> None:
    """Seek each partition of an unfinished batch back to its first record, so the next
    fetch delivers the batch again. Never raises: the batch's own failure is what
    matters."""
    earliest: dict[TopicPartition, int] = {}
    for rec in batch:
        tp = TopicPartition(rec.topic, rec.partition)
        earliest[tp] = min(rec.offset, earliest.get(tp, rec.offset))
    for tp, offset in earliest.items():
        try:
            client.seek(tp, offset)
        except Exception as exc:  # e.g. the partition was revoked meanwhile: fine
            log.warning("could not rewind", topic=tp.topic, partition=tp.partition,
                        error=repr(exc))


async def _raw_body(msg: Any) -> Any:
    """FastStream would JSON-decode every body for nothing: the runner decodes through
    the contracts registry (and validates) itself."""
    return None


async def run_migrations(definition: ServiceDefinition, s: ServiceSettings) -> list[str]:
    conn = await asyncpg.connect(s.dsn)
    try:
        return await migrate(conn, s.db_schema, definition.migrations())
    finally:
        await conn.close()


def build_app(definition: ServiceDefinition, settings: ServiceSettings, *,
              publisher: Publisher | None = None, broker: KafkaBroker | None = None) -> FastAPI:
    """The service's ASGI app; starting it starts the runtime (pool, relay, consumers).

    Every service gets the same edge (:func:`cites_runtime.http.install`): domain errors
    and validation errors answered alike, the body guard (size, depth, unstorable text),
    correlation ids in
    logs and responses, metrics; and ``/health/live``, ``/health/ready``,
    ``/asyncapi.json``, ``/metrics`` with the OpenAPI documents: when ``ops_port`` is set,
    on that port only (a second server started with the app); else on the API port, where
    all but health ask for a token of the role ``operator``.

    Refuses (``RuntimeError``) settings that can authenticate nobody
    (:meth:`ServiceSettings.auth_refusal`).
    """
    if (why := settings.auth_refusal()) is not None:
        raise RuntimeError(why)
    runtime: Runtime[ServiceSettings] = Runtime(definition, settings)
    separate = settings.ops_port is not None

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        configure_logging(definition.name, level=settings.log_level, json=settings.log_json)
        await runtime.start(publisher=publisher, broker=broker)
        log.info("service started", port=settings.http_port, ops_port=settings.ops_port)
        try:
            if separate:
                async with _serving(ops_app(app), settings):
                    yield
            else:
                yield
        finally:
            await runtime.stop()

    # The documents are served by our routes (documents()), not FastAPI's own, so that
    # they can be put behind the operator role.
    app = FastAPI(title=definition.title or definition.name, version=definition.version,
                  lifespan=lifespan, openapi_url=None, docs_url=None, redoc_url=None,
                  telemetry=_telemetry(runtime))
    app.state.settings = settings
    app.state.runtime = runtime
    http.install(app)
    if not separate:
        app.include_router(health(runtime))
        operator = [Depends(require(Role.OPERATOR))]
        app.include_router(operations(definition, runtime), dependencies=operator)
        app.include_router(documents(app), dependencies=operator)
    for router in definition.routers:
        app.include_router(router)
    return app


def _telemetry(runtime: Runtime[Any]) -> Any:
    """FastAPI's own OpenTelemetry: each request a server span (its parent the caller's
    ``traceparent``), on the service's provider; none at all when tracing is off. Its
    metrics and logs stay off (``/metrics`` and the JSON logs are the runtime's)."""
    off = {"tracing": False, "metrics": False, "logs": False, "auto_configure": False}
    if runtime.tracer_provider is None:
        return off
    return {**off, "tracing": True, "tracer_provider": runtime.tracer_provider,
            "operation_spans": False, "exclude": _probe}


def _probe(scope: Any) -> bool:
    """A probe or a scrape (on the API port when there is no ops port): no trace."""
    path = scope.get("path", "")
    return bool(path.startswith("/health/") or path == "/metrics")


def ops_app(api: FastAPI) -> FastAPI:
    """The operations port's app: probes, metrics, and the API's documents (its OpenAPI
    document, Swagger UI and ReDoc pages), nothing else; no token asked (the port is kept
    off the network users reach)."""
    ops = FastAPI(title=f"{api.title} (operations)", version=api.version, openapi_url=None,
                  docs_url=None, redoc_url=None,
                  telemetry={"tracing": False, "metrics": False, "logs": False})
    runtime = api.state.runtime
    ops.include_router(health(runtime))
    ops.include_router(operations(runtime.definition, runtime))
    ops.include_router(documents(api))
    return ops


def documents(api: FastAPI) -> APIRouter:
    """``/openapi.json``, ``/docs`` (Swagger UI) and ``/redoc``: the API's documents."""
    router = APIRouter(include_in_schema=False)

    @router.get("/openapi.json")
    async def openapi() -> JSONResponse:
        return JSONResponse(api.openapi())

    @router.get("/docs")
    async def swagger() -> Response:
        return get_swagger_ui_html(openapi_url="/openapi.json", title=api.title)

    @router.get("/redoc")
    async def redoc() -> Response:
        return get_redoc_html(openapi_url="/openapi.json", title=api.title)

    return router


class _OpsServer(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield  # the API server's: a signal stops it, and its lifespan stops this one


@asynccontextmanager
async def _serving(app: FastAPI, settings: ServiceSettings) -> AsyncIterator[None]:
    """``app`` served on the ops port while the block runs."""
    host, port = settings.ops_host or settings.http_host, settings.ops_port
    server = _OpsServer(uvicorn.Config(app, host=host, port=port or 0, log_config=None,
                                       access_log=False, lifespan="off"))
    task = asyncio.create_task(server.serve(), name="ops-server")
    try:
        while not server.started:
            if task.done():
                raise RuntimeError(f"the ops port {host}:{port} could not be served "
                                   "(taken?)")
            await asyncio.sleep(0.02)
        yield
    finally:
        server.should_exit = True
        with contextlib.suppress(BaseException):
            await task


def health(runtime: Runtime[Any]) -> APIRouter:
    """``/health/live`` and ``/health/ready``: what an orchestrator probes, open to anyone
    (they say states, never an error's text); on the API port, or on the ops port
    (``<SERVICE>_OPS_PORT``)."""
    router = APIRouter()

    @router.get("/health/live", tags=["health"])
    async def live() -> JSONResponse:
        """200 while every loop of the process turns; 503 naming the ones that died or
        stopped making progress while work waits (restart the process)."""
        ok, problems = await runtime.liveness()
        return JSONResponse({"status": "ok" if ok else "unavailable", "checks": problems},
                            status_code=200 if ok else 503)

    @router.get("/health/ready", tags=["health"])
    async def ready() -> JSONResponse:
        ok, checks = await runtime.readiness()
        return JSONResponse({"status": "ok" if ok else "unavailable", "checks": checks},
                            status_code=200 if ok else 503)

    return router


def operations(definition: ServiceDefinition, runtime: Runtime[Any]) -> APIRouter:
    """``/asyncapi.json`` and ``/metrics``: on the ops port (``<SERVICE>_OPS_PORT``), or,
    without one, on the API port for the role ``operator`` only."""
    settings = runtime.settings
    router = APIRouter()

    @router.get("/asyncapi.json", tags=["events"])
    async def asyncapi() -> JSONResponse:
        """The AsyncAPI 3.0 description of the events this service publishes and consumes."""
        from .asyncapi import asyncapi_document  # imports this module: import when asked

        return JSONResponse(asyncapi_document(definition, settings))

    @router.get("/metrics", tags=["health"], include_in_schema=False)
    async def metrics_text() -> Response:
        await runtime.refresh_metrics()
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return router
