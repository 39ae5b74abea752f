"""The plumbing every Cités éducatives service shares; it knows nothing of the domain.

A service brings a :class:`~cites_runtime.app.ServiceDefinition` (name, migrations,
routers, consumer, produced topics, background jobs) and gets a process from it.

Where things are:

=====================  ===================================================================
module                 what it holds
=====================  ===================================================================
:mod:`.app`            ``ServiceDefinition``, ``Runtime`` (pool, producer, relay, consumer,
                       jobs, settings), ``build_app`` (FastAPI + FastStream + health +
                       metrics + AsyncAPI), ``run_migrations``
:mod:`.settings`       ``ServiceSettings`` (pydantic-settings, ``<SERVICE>_*``), the clock
                       and the programme's time zone
:mod:`.uow`            ``UnitOfWork``: one transaction, its events (``emit``), its time
                       (``now``, ``today``), its ``Cause`` (correlation id, trace)
:mod:`.idempotency`    the ``Idempotency-Key`` header and its check: a command sent again
                       with its key acts once and answers its first result
:mod:`.errors`         domain refusals: ``NotFound``, ``Forbidden``, ``Conflict``,
                       ``RuleBroken`` (pure; answered alike by every service)
:mod:`.actor`          who acts: ``Role``, ``Actor`` (the département rule), ``SYSTEM``
:mod:`.auth`           the identity provider's access tokens (JWT, verified against its
                       JWKS) or, in development and tests, static tokens → ``Actor``;
                       ``require(*roles)``; 401/403
:mod:`.http`           the HTTP edge (a package): the request edge (``caller``: ``Caller``
                       and role aliases ``National``, ``Prefecture``, ``Operator``,
                       ``Reader``, ``Anyone``, ``Input``; ``paging``: ``Paging``,
                       ``Page``), its guards (``guards``: body size, JSON depth,
                       unstorable text), ``observe`` (correlation id, request metrics),
                       ``answers`` (errors → answers, ``install``)
:mod:`.consumer`       consumers (a package): ``registration`` (``EventConsumer``:
                       handlers by event class, tombstone handlers by topic),
                       ``contexts`` (``HandlerContext``, ``BatchContext``,
                       ``TombstoneContext``), ``records`` (``classify(record) -> Apply |
                       Skip | Dead``, pure; ``Tombstone``), ``runner`` (``ConsumerRunner``:
                       batches, inbox, positions, retries), ``replay``, ``dead_letters``
:mod:`.relay`          ``OutboxRelay``: outbox → Kafka, in order, one active per service
:mod:`.metrics`        what ``/metrics`` reads when scraped: consumer lag per partition,
                       the pool's connections, readiness, ``build_info``
:mod:`.kafka`          the idempotent producer, publishers, topic creation, reading a
                       topic to its end
:mod:`.dlq`            listing and replaying dead letters
:mod:`.db`             asyncpg pools per role and schema; schema provisioning
:mod:`.migrations`     checksummed, ordered ``.sql`` migrations, one migrator at a time
:mod:`.retry`          backoff and what counts as transient
:mod:`.logs`           structlog JSON logs with service, correlation and event ids, and
                       the current span's ``trace_id`` and ``span_id``
:mod:`.tracing`        OpenTelemetry traces: the service's tracer provider (OTLP, its
                       resource and sampling; none when off), ``traceparent`` ⇄ spans
:mod:`.asyncapi`       the AsyncAPI 3.0 document of a service
:mod:`.cli`            ``python -m <service> [serve|migrate|asyncapi|dlq list|dlq replay]``
:mod:`.testing`        the pytest plugin and the harness (in memory or on real Kafka)
=====================  ===================================================================
"""
