"""Assemble a service: FastAPI + FastStream subscribers + outbox relay + health + metrics.

A service describes itself with a :class:`ServiceDefinition` and gets a FastAPI app from
:func:`build_app`; its use cases reach the database through ``Runtime.unit_of_work``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import asyncpg
from aiokafka import AIOKafkaProducer
from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.responses import JSONResponse
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage
from faststream.middlewares import AckPolicy
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest

from cites_contracts import Topic

from .consumer import ConsumerRunner, EventConsumer
from .db import create_pool
from .kafka import AiokafkaPublisher, Publisher, ensure_topics, make_producer
from .logs import bind, configure_logging, get_logger
from .migrations import Migration, load_migrations, migrate, runtime_migrations
from .relay import OutboxRelay
from .settings import ServiceSettings
from .uow import Cause, UnitOfWork, unit_of_work

__all__ = ["Runtime", "ServiceDefinition", "build_app", "run_migrations"]

log = get_logger(__name__)

REQUESTS = Counter("http_requests_total", "HTTP requests", ["method", "route", "status"])
LATENCY = Histogram("http_request_seconds", "HTTP request latency", ["method", "route"])


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
    background: Sequence[Any] = field(default_factory=list)
    """Callables ``async (runtime) -> None`` run for the app's lifetime (schedulers)."""

    def migrations(self) -> list[Migration]:
        own = load_migrations(self.name, self.migrations_dir) if self.migrations_dir else []
        return [*runtime_migrations(), *own]


class Runtime:
    """Per-process resources a service's code uses: pool, schema, producer, relay."""

    def __init__(self, definition: ServiceDefinition, settings: ServiceSettings):
        self.definition = definition
        self.settings = settings
        self.schema = settings.db_schema
        self._pool: asyncpg.Pool | None = None
        self.producer: AIOKafkaProducer | None = None
        self.publisher: Publisher | None = None
        self.broker: KafkaBroker | None = None
        self.relay: OutboxRelay | None = None
        self.runner: ConsumerRunner | None = None
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def pool(self) -> asyncpg.Pool:
        if self._pool is None:
            raise RuntimeError("runtime not started")
        return self._pool

    def unit_of_work(self, cause: Cause | None = None
                     ) -> contextlib.AbstractAsyncContextManager[UnitOfWork]:
        return unit_of_work(self.pool, self.schema, cause=cause)

    # -- lifecycle ------------------------------------------------------------------
    async def start(self, *, publisher: Publisher | None = None,
                    broker: KafkaBroker | None = None) -> None:
        s = self.settings
        self._pool = await create_pool(s.dsn, s.db_schema, min_size=s.db_pool_min,
                                       max_size=s.db_pool_max)
        if s.migrate_on_start:
            await run_migrations(self.definition, s)
        if publisher is None:
            await ensure_topics(
                s.kafka_bootstrap_servers,
                [s.topic(t.name) for t in self.definition.produces]
                + ([s.topic(self.definition.consumer.dlq_topic)] if self.definition.consumer
                   else []),
                partitions=s.topic_partitions,
                replication_factor=s.topic_replication_factor,
            )
            self.producer = make_producer(s.kafka_bootstrap_servers)
            await self.producer.start()
            publisher = AiokafkaPublisher(self.producer)
        self.publisher = publisher
        if s.relay_enabled:
            self.relay = OutboxRelay(
                s.dsn, s.db_schema, publisher, topic_prefix=s.topic_prefix,
                batch_size=s.relay_batch_size, poll_interval=s.relay_poll_interval_s,
                retention=timedelta(hours=s.relay_retention_hours),
            )
            self._spawn(self.relay.run(), "relay")
        consumer = self.definition.consumer
        if consumer is not None and s.consumers_enabled:
            self.runner = ConsumerRunner(consumer, self.pool, s.db_schema, publisher,
                                         topic_prefix=s.topic_prefix,
                                         max_attempts=s.consumer_max_attempts)
            self.broker = broker or KafkaBroker(s.kafka_bootstrap_servers, logger=None)
            subscribe(self.broker, self.runner, s)
            await self.broker.start()
        for job in self.definition.background:
            self._spawn(job(self), getattr(job, "__name__", "job"))

    def _spawn(self, coro: Any, name: str) -> None:
        self._tasks.append(asyncio.create_task(coro, name=f"{self.definition.name}:{name}"))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        if self.broker is not None:
            await self.broker.stop()
        if self.producer is not None:
            await self.producer.stop()
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    # -- health ---------------------------------------------------------------------
    async def readiness(self) -> dict[str, str]:
        checks: dict[str, str] = {}
        try:
            await asyncio.wait_for(self.pool.fetchval("SELECT 1"), 2)
            checks["database"] = "ok"
        except Exception as exc:
            checks["database"] = f"unavailable: {exc!r}"
        if self.producer is not None:
            try:
                await asyncio.wait_for(self.producer.client.fetch_all_metadata(), 2)
                checks["broker"] = "ok"
            except Exception as exc:
                checks["broker"] = f"unavailable: {exc!r}"
        return checks


def subscribe(broker: KafkaBroker, runner: ConsumerRunner, s: ServiceSettings) -> None:
    """Bind the runner to a FastStream batch subscriber that commits after effects."""
    consumer = runner.consumer

    async def consume(msg: KafkaMessage) -> None:
        records = msg.raw_message
        batch = list(records) if isinstance(records, list | tuple) else [records]
        try:
            await runner.process_batch(batch)
        except BaseException:
            await msg.nack()  # rewind: none of this batch counts as consumed
            raise
        await msg.ack()  # commits offsets: only now are the records done

    broker.subscriber(
        *[s.topic(t) for t in consumer.topics],
        group_id=s.topic(consumer.name),
        batch=True,
        max_records=s.consumer_batch_size,
        ack_policy=AckPolicy.MANUAL,
        auto_offset_reset="earliest",
        decoder=_raw_body,
        title=f"{consumer.name} consumer",
    )(consume)


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


# JSON escapes that decode to text PostgreSQL cannot store: NUL, or a lone surrogate.
_UNSTORABLE_ESCAPE = re.compile(rb"\\u(?:0000|[dD][89a-fA-F][0-9a-fA-F]{2})")


def _unstorable(value: str) -> tuple[str, str] | None:
    """(error type, message) when PostgreSQL could not store ``value``."""
    if "\x00" in value:
        return "text_nul", "Text may not contain the NUL character (\\u0000)"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "string_unicode", "Input should be valid Unicode: lone surrogate (\\udXXX)"
    return None


def _find_unstorable(value: Any, path: tuple[str | int, ...] = ()
                     ) -> tuple[tuple[str | int, ...], tuple[str, str]] | None:
    """Where, in decoded JSON, a key or string holds text PostgreSQL cannot store."""
    if isinstance(value, str):
        why = _unstorable(value)
        return (path, why) if why else None
    items = value.items() if isinstance(value, dict) else enumerate(value) \
        if isinstance(value, list) else ()
    for key, item in items:
        if isinstance(key, str) and (why := _unstorable(key)):
            return (*path, key), why
        found = _find_unstorable(item, (*path, key))
        if found is not None:
            return found
    return None


class RejectUnstorableText:
    """ASGI middleware: ``\\u0000`` and lone ``\\udXXX`` escapes are valid JSON but
    decode to text PostgreSQL cannot store; pydantic lets such strings through and the
    write then fails (a 500 for bad input). Refuse them up front with a 422 naming the
    field. A body is parsed here only when such an escape appears in it (cheap check)."""

    def __init__(self, app: Any):
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        body = b"".join(chunks)
        found = None
        if _UNSTORABLE_ESCAPE.search(body):
            try:
                found = _find_unstorable(json.loads(body))
            except ValueError:
                found = None  # not JSON: FastAPI reports it
        if found is not None:
            path, (kind, why) = found
            response = JSONResponse({"detail": [
                {"type": kind, "loc": ["body", *path], "msg": why}]}, status_code=422)
            await response(scope, receive, send)
            return
        sent = False

        async def replay() -> Any:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


def build_app(definition: ServiceDefinition, settings: ServiceSettings, *,
              publisher: Publisher | None = None, broker: KafkaBroker | None = None) -> FastAPI:
    """The service's ASGI app; starting it starts the runtime (pool, relay, consumers)."""
    runtime = Runtime(definition, settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        configure_logging(definition.name, level=settings.log_level, json=settings.log_json)
        await runtime.start(publisher=publisher, broker=broker)
        log.info("service started", port=settings.http_port)
        try:
            yield
        finally:
            await runtime.stop()

    app = FastAPI(title=definition.title or definition.name, version=definition.version,
                  lifespan=lifespan)
    app.state.settings = settings
    app.state.runtime = runtime
    app.add_middleware(RejectUnstorableText)

    @app.middleware("http")
    async def observe(request: Request, call_next: Any) -> Response:
        started = time.perf_counter()
        correlation = request.headers.get("x-correlation-id", "")
        with bind(correlation_id=correlation) if correlation else contextlib.nullcontext():
            response: Response = await call_next(request)
        route = request.scope.get("route")
        path = getattr(route, "path", "unmatched")
        REQUESTS.labels(request.method, path, str(response.status_code)).inc()
        LATENCY.labels(request.method, path).observe(time.perf_counter() - started)
        return response

    @app.get("/health/live", tags=["health"])
    async def live() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/health/ready", tags=["health"])
    async def ready() -> JSONResponse:
        checks = await runtime.readiness()
        ok = all(v == "ok" for v in checks.values())
        return JSONResponse({"status": "ok" if ok else "unavailable", "checks": checks},
                            status_code=200 if ok else 503)

    @app.get("/asyncapi.json", tags=["events"])
    async def asyncapi() -> JSONResponse:
        """The AsyncAPI 3.0 description of the events this service publishes and consumes."""
        from .asyncapi import asyncapi_document  # imports this module: import when asked

        return JSONResponse(asyncapi_document(definition, settings))

    @app.get("/metrics", tags=["health"], include_in_schema=False)
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    for router in definition.routers:
        app.include_router(router)
    return app
