"""One service under test, driven as its users drive it: HTTP in, events in, events out.

Two ways to run it, same handle (:class:`ServiceUnderTest`):

- :func:`in_memory` — the service's isolated tests: FastStream's ``TestKafkaBroker``
  instead of Kafka (what the relay publishes is captured in ``published``; what a test
  ``publish``-es — or ``publish_tombstone``-s — is delivered to the service's consumer at
  once), real PostgreSQL.
- :func:`on_kafka` — integration tests: the real Kafka broker and PostgreSQL, the real
  producer, relay and consumer group.

Both migrate the service's schema first and talk HTTP in-process (``ASGITransport``), or
over a real socket with ``serve=True`` (for tools that need a URL, e.g. schemathesis).
:func:`migrated_before` migrates it part of the way, for a test of what a migration does
to the rows written before it.
Settings come from the ``service_settings`` fixture of the pytest plugin (a fresh schema
and role, a fresh topic prefix, :data:`TOKENS`, a :class:`FakeClock`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import asyncpg
import httpx
from faststream.kafka import KafkaBroker, TestKafkaBroker
from faststream.kafka.annotations import KafkaMessage

from cites_contracts import Envelope, Event, Topic, decode, encode

from ..app import Runtime, ServiceDefinition, build_app, run_migrations
from ..db import quote_ident
from ..kafka import OutboundRecord, make_producer, provision
from ..migrations import migrate
from ..settings import ServiceSettings, TokenGrant
from .http import serve_app
from .infra import NO_KAFKA
from .kafka import wait_caught_up

__all__ = [
    "AS_COLLEGE",
    "AS_COMMUNE_LYON",
    "AS_COMMUNE_NAMELESS",
    "AS_COMMUNE_VAULX",
    "AS_NATIONAL",
    "AS_OPERATOR",
    "AS_OTHER_COLLEGE",
    "AS_PARTNER",
    "AS_PREFECTURE_69",
    "AS_PREFECTURE_93",
    "AS_PREFECTURE_978",
    "AS_RECTORAT_69",
    "AS_RECTORAT_93",
    "AS_VIEWER",
    "COLLEGE",
    "NOW",
    "OTHER_COLLEGE",
    "TOKENS",
    "BrokerPublisher",
    "FakeClock",
    "ServiceUnderTest",
    "all_published",
    "bearer",
    "envelopes_json",
    "eventually",
    "in_memory",
    "migrated_before",
    "on_kafka",
    "read_pages",
]

COLLEGE = UUID("00000000-0000-4000-8000-00000000c011")
"""The partner id of the collège whose principal ``AS_COLLEGE`` is."""
OTHER_COLLEGE = UUID("00000000-0000-4000-8000-00000000c022")
"""Another collège, whose principal ``AS_OTHER_COLLEGE`` is."""

TOKENS = {
    "tok-national": TokenGrant(role="national", subject="coordination-nationale"),
    "tok-prefecture-69": TokenGrant(role="prefecture", departement="69", subject="pref-69"),
    "tok-prefecture-93": TokenGrant(role="prefecture", departement="93", subject="pref-93"),
    "tok-prefecture-978": TokenGrant(role="prefecture", departement="978",
                                     subject="pref-978"),
    "tok-partner": TokenGrant(role="partner", subject="partner-demo"),
    "tok-college": TokenGrant(role="partner", partner_id=COLLEGE, subject="principal-college"),
    "tok-other-college": TokenGrant(role="partner", partner_id=OTHER_COLLEGE,
                                    subject="principal-other-college"),
    "tok-rectorat-69": TokenGrant(role="rectorat", departement="69", subject="rectorat-69"),
    "tok-rectorat-93": TokenGrant(role="rectorat", departement="93", subject="rectorat-93"),
    "tok-commune-vaulx": TokenGrant(role="commune", insee_code="69256",
                                    subject="mairie-vaulx-en-velin"),
    "tok-commune-lyon": TokenGrant(role="commune", insee_code="69123", subject="mairie-lyon"),
    "tok-commune-nameless": TokenGrant(role="commune", subject="mairie-sans-code"),
    "tok-viewer": TokenGrant(role="viewer", subject="viewer-demo"),
    "tok-operator": TokenGrant(role="operator", subject="ops-demo"),
}
"""The tokens every service's tests configure (``service_settings`` sets them)."""


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


AS_NATIONAL = bearer("tok-national")
AS_PREFECTURE_69 = bearer("tok-prefecture-69")
AS_PREFECTURE_93 = bearer("tok-prefecture-93")
AS_PREFECTURE_978 = bearer("tok-prefecture-978")
"""The préfecture of Saint-Martin (978), a collectivité with QPVs."""
AS_PARTNER = bearer("tok-partner")
"""A partner's person whose token names no partner: she reads, and acts for nobody."""
AS_COLLEGE = bearer("tok-college")
"""The principal of the collège :data:`COLLEGE` (role partner, its partner id)."""
AS_OTHER_COLLEGE = bearer("tok-other-college")
AS_RECTORAT_69 = bearer("tok-rectorat-69")
"""The rectorat (académie de Lyon) acting for the Rhône (69)."""
AS_RECTORAT_93 = bearer("tok-rectorat-93")
AS_COMMUNE_VAULX = bearer("tok-commune-vaulx")
"""The commune of Vaulx-en-Velin (69256), the example dossier's commune."""
AS_COMMUNE_LYON = bearer("tok-commune-lyon")
"""The commune of Lyon (69123): in the Rhône, not in the example dossier."""
AS_COMMUNE_NAMELESS = bearer("tok-commune-nameless")
"""A commune whose token names no commune: it acts for nobody."""
AS_VIEWER = bearer("tok-viewer")
AS_OPERATOR = bearer("tok-operator")

NOW = datetime(2025, 3, 10, 9, 30, tzinfo=UTC)


class FakeClock:
    """A service's clock in tests (``settings.clock``): fixed, moved by hand."""

    def __init__(self, now: datetime = NOW):
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)

    def set_date(self, day: date) -> None:
        self.now = datetime(day.year, day.month, day.day, 9, 30, tzinfo=UTC)


async def eventually(check: Callable[[], Awaitable[bool]], *, timeout: float = 30.0,
                     what: str | Callable[[], str] = "condition", every: float = 0.05
                     ) -> float:
    """Bounded polling: wait for ``check`` rather than for a fixed time; return how long
    it took. ``what`` names the condition in the failure, or is called then to say what
    was last seen."""
    started = time.monotonic()
    while not await check():
        if time.monotonic() - started > timeout:
            said = what() if callable(what) else what
            raise AssertionError(f"{said}: not within {timeout:.0f}s")
        await asyncio.sleep(every)
    return time.monotonic() - started


async def read_pages(http: httpx.AsyncClient, path: str, *, headers: dict[str, str],
                     limit: int, **params: Any) -> list[list[Any]]:
    """Every page of a list endpoint (``cites_runtime.http.Page``), ``limit`` items each,
    following ``next_cursor`` until it is null: each page's items."""
    pages: list[list[Any]] = []
    cursor: str | None = None
    while True:
        query = {**params, "limit": limit, **({"cursor": cursor} if cursor else {})}
        answer = await http.get(path, headers=headers, params=query)
        assert answer.status_code == 200, f"GET {path}: {answer.status_code} {answer.text}"
        page = answer.json()
        pages.append(page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            return pages
        assert len(pages) < 10_000, f"GET {path}: the cursors never end"


async def all_published(runtime: Runtime[Any], *, timeout: float = 30.0) -> None:
    """Wait until ``runtime``'s relay has every committed event acknowledged by the broker."""
    async def done() -> bool:
        pending: int = await runtime.pool.fetchval(
            "SELECT count(*) FROM outbox WHERE published_at IS NULL")
        return pending == 0

    await eventually(done, timeout=timeout, what="outbox fully published")


class BrokerPublisher:
    """The relay's and dead letters' publisher on FastStream's ``TestKafkaBroker``: the
    same records and headers as :class:`~cites_runtime.kafka.AiokafkaPublisher`, delivered
    in memory."""

    def __init__(self, broker: Any):
        self.broker = broker
        self.sent: list[OutboundRecord] = []
        """Every record published, as sent (headers included)."""

    async def enqueue(self, records: Sequence[OutboundRecord]) -> Awaitable[None]:
        await self.publish_batch(records)
        return asyncio.sleep(0)

    async def reset(self) -> None:
        return None

    async def publish_batch(self, records: Sequence[OutboundRecord]) -> None:
        for r in records:
            self.sent.append(r)
            headers = {k: v.decode("utf-8", "replace") for k, v in r.headers}
            await self.broker.publish(r.value, r.topic, key=r.key, headers=headers,
                                      correlation_id=headers.get("correlation_id"))


Send = Callable[[str, bytes | None, bytes | None, list[tuple[str, bytes]]], Awaitable[None]]


@dataclass
class ServiceUnderTest:
    """The running service, as a test drives and observes it."""

    http: httpx.AsyncClient
    runtime: Runtime[Any]
    definition: ServiceDefinition
    _send: Send
    _caught_up: Callable[[], Awaitable[None]]
    published: list[Envelope[Event]] = field(default_factory=list)
    """In memory: every envelope the relay published, in order (on Kafka: read topics)."""
    tombstones: list[tuple[str, str]] = field(default_factory=list)
    """In memory: every (topic, key) the relay erased with a tombstone, in order."""
    url: str = ""
    records: list[OutboundRecord] = field(default_factory=list)
    """In memory: every record the relay (or a dead letter) published, headers included,
    in order (what :meth:`forward` hands another service)."""
    _sequences: dict[tuple[str, str], int] = field(default_factory=dict)

    @property
    def settings(self) -> Any:
        return self.runtime.settings

    async def outbox(self, *types: str) -> list[Envelope[Event]]:
        """The events the service committed, in commit order; only ``types`` if given
        (short names, e.g. ``"AllianceOpened"``). Tombstones are not events: see
        :meth:`outbox_tombstones`."""
        rows = await self.runtime.pool.fetch(
            "SELECT value FROM outbox_history WHERE value IS NOT NULL ORDER BY id")
        found = [decode(bytes(r["value"])) for r in rows]
        return [e for e in found if not types or e.type.split(".", 1)[1] in types]

    async def outbox_tombstones(self) -> list[tuple[str, str]]:
        """The (topic, key) of every tombstone the service committed, in commit order."""
        rows = await self.runtime.pool.fetch(
            "SELECT topic, key FROM outbox_history WHERE value IS NULL ORDER BY id")
        return [(r["topic"], bytes(r["key"]).decode()) for r in rows]

    async def all_published(self, timeout: float = 30.0) -> None:
        """Wait until the relay has every committed event acknowledged by the broker."""
        await all_published(self.runtime, timeout=timeout)

    async def publish(self, *items: Event | Envelope[Event] | bytes, topic: str | None = None,
                      traceparent: str | None = None) -> None:
        """Put events (wrapped in a fresh envelope numbered per aggregate, unless given
        one) or raw bytes on the topics the service consumes, in order. Raw bytes go to
        ``topic`` (default: the consumer's first topic), keyed ``poison``. Events carry
        ``traceparent`` when given (their producer's span)."""
        for item in items:
            if isinstance(item, bytes):
                name = topic or self._consumed()[0]
                await self._send(self.settings.topic(name), item, b"poison", [])
                continue
            env = item if isinstance(item, Envelope) else self._wrap(item)
            rec = encode(env, traceparent=traceparent)
            await self._send(self.settings.topic(topic or rec.topic), rec.value, rec.key,
                             rec.headers)

    async def forward(self, producer: ServiceUnderTest) -> None:
        """Deliver to this service's consumer, headers and all, what ``producer`` (in
        memory) published on the topics this one consumes: one command's way across two
        services."""
        consumed = set(self._consumed())
        for r in producer.records:
            name = r.topic.removeprefix(producer.settings.topic_prefix)
            if name in consumed:
                await self._send(self.settings.topic(name), r.value, r.key, list(r.headers))

    async def publish_tombstone(self, topic: Topic | str, key: str, *,
                                event_id: UUID | None = None) -> UUID:
        """Put a tombstone (a null value: the producer erased ``key``) on ``topic``, with
        the headers the relay gives one: ``event_id`` (fresh unless given: the same again
        is the relay sending it twice) and a ``correlation_id``. Returns the event id."""
        name = topic.name if isinstance(topic, Topic) else topic
        event_id = event_id or uuid4()
        await self._send(self.settings.topic(name), None, key.encode(), [
            ("event_id", str(event_id).encode()), ("correlation_id", str(uuid4()).encode())])
        return event_id

    async def caught_up(self) -> None:
        """Everything published so far on the consumed topics has been applied."""
        await self._caught_up()

    def _wrap(self, event: Event) -> Envelope[Event]:
        """A fresh envelope numbered as its producer would: 1, 2, … per aggregate."""
        key = (event.spec.topic.name, event.aggregate_id())
        self._sequences[key] = self._sequences.get(key, 0) + 1
        return Envelope.wrap(event, sequence=self._sequences[key])

    def _consumed(self) -> list[str]:
        if self.definition.consumer is None:
            raise LookupError(f"{self.definition.name} consumes no topic")
        return self.definition.consumer.topics


@contextlib.asynccontextmanager
async def _http(app: Any, name: str, serve: bool) -> AsyncIterator[tuple[httpx.AsyncClient,
                                                                        str]]:
    if serve:
        async with serve_app(app) as url, httpx.AsyncClient(base_url=url, timeout=30) as http:
            await _first_rounds(app.state.runtime)
            yield http, url
        return
    async with app.router.lifespan_context(app), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url=f"http://{name}",
            timeout=30) as http:
        await _first_rounds(app.state.runtime)
        yield http, ""


async def _first_rounds(runtime: Runtime[Any]) -> None:
    """Wait until each background job finished its round at start: a test then calling a
    job's work by hand does not race that round for the same rows."""
    names = [getattr(job, "__name__", "job") for job in runtime.definition.background]

    async def done() -> bool:
        return all((beat := runtime.heartbeats.get(n)) is not None and beat.rounds > 0
                   for n in names)

    await eventually(done, what="the background jobs' first rounds")


@contextlib.asynccontextmanager
async def in_memory(definition: ServiceDefinition, settings: ServiceSettings, *,
                    serve: bool = False) -> AsyncIterator[ServiceUnderTest]:
    """The service on FastStream's in-memory broker and the real PostgreSQL."""
    await run_migrations(definition, settings)
    broker = KafkaBroker(settings.kafka_bootstrap_servers)
    published: list[Envelope[Event]] = []
    tombstones: list[tuple[str, str]] = []

    async def capture(body: Any, msg: KafkaMessage) -> None:
        if not msg.body:  # a tombstone: no event
            key = msg.raw_message.key  # type: ignore[union-attr]
            tombstones.append((msg.raw_message.topic,  # type: ignore[union-attr]
                               key.decode() if isinstance(key, bytes) else str(key)))
            return
        published.append(decode(msg.body, dict(msg.headers)))

    for topic in definition.produces:
        broker.subscriber(settings.topic(topic.name))(capture)
    async with TestKafkaBroker(broker) as test_broker:
        async def send(topic: str, value: bytes | None, key: bytes | None,
                       headers: list[tuple[str, bytes]]) -> None:
            # Delivered to the consumer before this returns: nothing to wait for after.
            # (A keyed None is delivered as a tombstone: a null value.)
            await test_broker.publish(value, topic, key=key,
                                      headers={k: v.decode() for k, v in headers})

        async def nothing_to_wait_for() -> None:
            return None

        publisher = BrokerPublisher(test_broker)
        app = build_app(definition, settings, publisher=publisher, broker=test_broker)
        async with _http(app, definition.name, serve) as (http, url):
            yield ServiceUnderTest(http, app.state.runtime, definition, send,
                                   nothing_to_wait_for, published, tombstones, url,
                                   publisher.sent)


@contextlib.asynccontextmanager
async def on_kafka(definition: ServiceDefinition, settings: ServiceSettings, *,
                   serve: bool = False) -> AsyncIterator[ServiceUnderTest]:
    """The service on the real Kafka broker and PostgreSQL (producer, relay, consumer).
    Refuses settings made for a test that did not ask for Kafka (the fixture calling this
    takes ``infra``, or the test is marked ``integration``)."""
    if settings.kafka_bootstrap_servers == NO_KAFKA:
        raise RuntimeError("on_kafka: this test never asked for Kafka; have the fixture "
                           "that calls on_kafka take `infra`, or mark the test integration")
    await run_migrations(definition, settings)
    consumed = [settings.topic(t) for t in definition.consumer.topics] \
        if definition.consumer else []
    # What it reads: the upstream producer would provision it; here the test is upstream.
    await provision(settings.kafka, definition.topics(), prefix=settings.topic_prefix)
    producer = make_producer(settings.kafka)
    await producer.start()

    async def send(topic: str, value: bytes | None, key: bytes | None,
                   headers: list[tuple[str, bytes]]) -> None:
        await producer.send_and_wait(topic, value, key=key, headers=headers)

    async def caught_up() -> None:
        assert definition.consumer is not None
        for topic in consumed:
            await wait_caught_up(settings.kafka,
                                 settings.topic(definition.consumer.name), topic, timeout=60)

    try:
        app = build_app(definition, settings)
        async with _http(app, definition.name, serve) as (http, url):
            yield ServiceUnderTest(http, app.state.runtime, definition, send, caught_up,
                                   url=url)
    finally:
        await producer.stop()


@contextlib.asynccontextmanager
async def migrated_before(definition: ServiceDefinition, settings: ServiceSettings,
                          number: str) -> AsyncIterator[asyncpg.Connection]:
    """A connection on the test's schema (its ``search_path``) with the runtime's
    migrations and the service's before ``number`` (``"0005"``) applied: the test writes
    rows as the service wrote them then, applies the rest (``migrate(conn,
    settings.db_schema, definition.migrations())``) and reads what they became."""
    conn = await asyncpg.connect(settings.dsn)
    try:
        await migrate(conn, settings.db_schema, [
            m for m in definition.migrations()
            if m.source != definition.name or m.name < number])
        await conn.execute(f"SET search_path = {quote_ident(settings.db_schema)}")
        yield conn
    finally:
        await conn.close()


def envelopes_json(envelopes: Sequence[Envelope[Event]]) -> list[dict[str, Any]]:
    """Envelopes as a consumer sees them on the wire (JSON objects)."""
    return [json.loads(encode(e).value) for e in envelopes]
