"""The command line every service gets: ``python -m <service> [serve|migrate|dlq ...]``."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import sys
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import asyncpg
import typer
import uvicorn
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from .app import ServiceDefinition, build_app, run_migrations
from .consumer import ConsumerRunner
from .db import create_pool
from .dlq import ReplayResult, list_dead_letters, replay_dead_letters, set_aside
from .kafka import AiokafkaPublisher
from .logs import configure_logging
from .parked import ParkedEvent, Unparked, list_parked, unpark
from .settings import ServiceSettings
from .uow import Cause, UnitOfWork, outbox_channel, unit_of_work

S = TypeVar("S", bound=ServiceSettings)

__all__ = ["service_cli", "settings_or_exit", "units_of_work"]

_NO_DATABASE = "postgresql://no-database.invalid/unused"
_LETTER_HELP = "PARTITION:OFFSET, as dlq list shows"
_WHY_HELP = "Why (kept for audit)"


def service_cli(definition: ServiceDefinition,
                settings_factory: Callable[..., ServiceSettings],
                own: Mapping[str, Callable[..., None]] | None = None) -> typer.Typer:
    """The service's command line: ``serve`` (the default), ``migrate``, ``asyncapi``,
    ``dlq list|skip|park|replay``, ``outbox parked|unpark``, and the service's ``own``
    commands (name → a Typer command function, which gets its settings from
    :func:`settings_or_exit` and its transactions from :func:`units_of_work`);
    ``settings_factory`` reads its settings (from the environment) when a command needs
    them."""
    commands = _Commands(definition, settings_factory, Console())
    cli = typer.Typer(add_completion=False, no_args_is_help=False,
                      help=f"The {definition.name} service.")
    cli.callback(invoke_without_command=True)(commands.main)
    for command in (commands.serve, commands.migrate, commands.asyncapi):
        cli.command()(command)
    for name, command in (own or {}).items():
        cli.command(name)(command)
    dlq = typer.Typer(help="Dead letters of this service's consumer.")
    cli.add_typer(dlq, name="dlq")
    dlq.command("list")(commands.dlq_list)
    dlq.command("skip")(commands.dlq_skip)
    dlq.command("park")(commands.dlq_park)
    dlq.command("replay")(commands.dlq_replay)
    outbox = typer.Typer(help="Events of this service that the broker refused (parked).")
    cli.add_typer(outbox, name="outbox")
    outbox.command("parked")(commands.outbox_parked)
    outbox.command("unpark")(commands.outbox_unpark)
    return cli


def shared_port(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``host:port`` with SO_REUSEPORT: every replica of a service
    binds its own on the one port, and the kernel spreads new connections among those
    listening, so the port answers while any replica lives (Linux; the processes must run
    as the same user)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        sys.exit(f"cannot bind {host}:{port} (shared with the other replicas): {exc}")
    sock.set_inheritable(True)
    return sock


@dataclass(frozen=True, slots=True)
class _Commands:
    """The commands of one service; each method is one command (its docstring is its
    help, its parameters its arguments and options)."""

    definition: ServiceDefinition
    settings_factory: Callable[..., ServiceSettings]
    console: Console

    def settings(self, *, database: bool = True) -> ServiceSettings:
        """The service's settings, or its exit with one line saying what is wrong.
        ``database=False``: a command that never connects runs without a DSN."""
        return settings_or_exit(self.definition.name, self.settings_factory,
                                database=database)

    # -- the service ----------------------------------------------------------------
    def main(self, ctx: typer.Context) -> None:
        if ctx.invoked_subcommand is None:
            self.serve()

    def serve(self) -> None:
        """Serve HTTP, consume events and relay the outbox (the default)."""
        s = self.settings()
        if (why := s.auth_refusal()) is not None:
            sys.exit(f"{self.definition.name}: cannot start: {why}")
        app = build_app(self.definition, s)
        options: dict[str, Any] = {"host": s.http_host, "port": s.http_port,
                                   "log_config": None, "access_log": False, "loop": "uvloop"}
        if not s.http_reuse_port:
            uvicorn.run(app, **options)
            return
        # Shared with the other replicas: bound here, listened on once the app has started
        # (a replica still starting is given no connection by the kernel).
        server = uvicorn.Server(uvicorn.Config(app, **options))
        with contextlib.suppress(KeyboardInterrupt):
            server.run(sockets=[shared_port(s.http_host, s.http_port)])
        if not server.started:
            sys.exit(3)  # uvicorn's start-up failure, as uvicorn.run ends

    def migrate(self) -> None:
        """Apply pending migrations to this service's schema."""
        s = self.settings()
        configure_logging(self.definition.name, level=s.log_level, json=s.log_json)
        applied = asyncio.run(run_migrations(self.definition, s))
        self.console.print(f"{self.definition.name}: {len(applied)} migration(s) applied"
                           + (": " + ", ".join(applied) if applied else ""))

    def asyncapi(self) -> None:
        """Print the AsyncAPI 3.0 document (JSON) of this service's events."""
        from .asyncapi import asyncapi_document

        print(json.dumps(asyncapi_document(self.definition, self.settings(database=False)),
                         indent=2))

    # -- dead letters ---------------------------------------------------------------
    def _dlq_topic(self, s: ServiceSettings) -> str:
        if self.definition.consumer is None:
            self.console.print(f"{self.definition.name} has no consumer, hence no dead letters")
            raise typer.Exit(1)
        return s.topic(self.definition.consumer.dlq_topic)

    def dlq_list(self, parked: bool = typer.Option(False, "--parked",
                                                   help="The parked letters instead")) -> None:
        """Show every dead letter with its reason and origin."""
        s = self.settings()
        topic = self._dlq_topic(s) + (".parked" if parked else "")
        letters = asyncio.run(list_dead_letters(s.kafka, topic))
        table = Table(title=f"{topic}: {len(letters)} dead letter(s)")
        for col in ("partition:offset", "reason", "type", "event_id", "origin", "failed at",
                    "error"):
            table.add_column(col)
        for d in letters:
            table.add_row(f"{d.partition}:{d.offset}", d.reason, d.event_type, d.event_id,
                          f"{d.original_topic}[{d.original_partition}]@{d.original_offset}",
                          d.failed_at, (d.decision_reason + ": " if d.decision_reason
                                        else "") + d.error[:120])
        self.console.print(table)

    def dlq_skip(self, letter: str = typer.Argument(help=_LETTER_HELP),
                 reason: str = typer.Option(..., help=_WHY_HELP)) -> None:
        """Abandon the next letter of a partition that will never apply: replay goes on
        with the letters after it. A copy with the reason is kept in <dlq>.skipped."""
        self._set_aside(letter, reason, "skipped")

    def dlq_park(self, letter: str = typer.Argument(help=_LETTER_HELP),
                 reason: str = typer.Option(..., help=_WHY_HELP)) -> None:
        """Set the next letter of a partition aside, to replay later (dlq replay --parked):
        replay goes on with the letters after it."""
        self._set_aside(letter, reason, "parked")

    def _set_aside(self, letter: str, reason: str, decision: str) -> None:
        s = self.settings()
        topic = self._dlq_topic(s)
        try:
            partition, offset = (int(x) for x in letter.split(":"))
        except ValueError:
            self.console.print("name the letter as PARTITION:OFFSET (see dlq list)")
            raise typer.Exit(2) from None

        async def run() -> None:
            publisher = AiokafkaPublisher.connect(s.kafka)
            producer = publisher.producer
            await producer.start()
            try:
                d = await set_aside(publisher, s.kafka, topic, group=f"{topic}-replay",
                                    partition=partition, offset=offset, decision=decision,
                                    reason=reason)
            finally:
                await producer.stop()
            self.console.print(f"{decision} {d.event_type} {d.event_id} ({partition}:"
                               f"{offset}): {reason}; kept in {topic}.{decision}")

        try:
            asyncio.run(run())
        except LookupError as exc:
            self.console.print(str(exc))
            raise typer.Exit(1) from None

    def dlq_replay(self, parked: bool = typer.Option(False, "--parked",
                                                     help="Replay the parked letters")) -> None:
        """Apply dead letters again, once each (after their cause was fixed)."""
        s = self.settings()
        configure_logging(self.definition.name, level=s.log_level, json=s.log_json)
        topic = self._dlq_topic(s) + (".parked" if parked else "")
        consumer = self.definition.consumer
        assert consumer is not None

        async def run() -> ReplayResult:
            pool = await create_pool(s.dsn, s.db_schema)
            publisher = AiokafkaPublisher.connect(s.kafka)
            producer = publisher.producer
            await producer.start()
            try:
                runner = ConsumerRunner(consumer, pool, s.db_schema, publisher,
                                        topic_prefix=s.topic_prefix)
                return await replay_dead_letters(runner, s.kafka, topic,
                                                 group=f"{topic}-replay")
            finally:
                await producer.stop()
                await pool.close()

        result = asyncio.run(run())
        self.console.print(
            f"applied {result.applied}, already applied {result.duplicates}, "
            f"stale (their aggregate moved on since: skipped) {result.stale}, "
            "superseded (a newer record of their key replaced them on their "
            f"topic) {result.superseded}")
        for letter, error in result.failed or []:
            self.console.print(f"[red]still failing[/red] {letter.partition}:{letter.offset} "
                               f"{letter.event_type} {letter.event_id}: {error}")
        raise typer.Exit(1 if result.failed else 0)

    # -- parked events --------------------------------------------------------------
    def outbox_parked(self) -> None:
        """Show every parked event: the broker refused it for good; the relay went on."""
        s = self.settings()

        async def fetch() -> list[ParkedEvent]:
            conn = await _outbox_conn(s)
            try:
                return await list_parked(conn)
            finally:
                await conn.close()

        rows = asyncio.run(fetch())
        table = Table(title=f"{s.db_schema}.outbox: {len(rows)} parked event(s)")
        for col in ("id", "type", "event_id", "key", "bytes", "parked at", "error"):
            table.add_column(col)
        for r in rows:
            table.add_row(str(r.id), r.event_type, str(r.event_id), r.key, str(r.size),
                          r.parked_at.isoformat(), r.park_error[:200])
        self.console.print(table)

    def outbox_unpark(
        self,
        ids: list[int] = typer.Option([], "--id", help="Outbox id to publish again"),
        every: bool = typer.Option(False, "--all", help="Every parked event"),
        resequence: bool = typer.Option(
            False, "--resequence",
            help="With --id: an event whose aggregate moved on is published as its "
                 "aggregate's next event, after the later ones (instead of refused)"),
    ) -> None:
        """Hand parked events back to the relay (once their cause is fixed, e.g. the
        broker's message.max.bytes raised): it publishes them again, in id order.

        An event whose aggregate has a later event published (or on its way) is refused:
        consumers would skip it as stale. --resequence publishes it anyway, renumbered as
        its aggregate's next event: consumers then apply it after the later ones."""
        if not ids and not every:
            self.console.print("name events with --id, or --all")
            raise typer.Exit(2)
        if resequence and every:
            self.console.print("--resequence is decided event by event: name them with --id")
            raise typer.Exit(2)
        s = self.settings()

        async def run() -> Unparked:
            conn = await _outbox_conn(s)
            try:
                return await unpark(conn, outbox_channel(s.db_schema), ids=ids, every=every,
                                    resequence=resequence)
            finally:
                await conn.close()

        done = asyncio.run(run())
        self._print_unparked(done)
        raise typer.Exit(1 if done.refused or done.not_parked else 0)

    def _print_unparked(self, done: Unparked) -> None:
        say = self.console.print
        say(f"{len(done.handed_back)} event(s) handed back to the relay"
            + (f": {', '.join(map(str, done.handed_back))}" if done.handed_back else ""))
        for r in done.resequenced:
            say(f"re-sequenced {r.was_id} ({r.event_type} of {r.aggregate_id} on {r.topic}): "
                f"sequence {r.old_sequence} → {r.new_sequence}, published after sequence "
                f"{r.new_sequence - 1}; outbox id now {r.id}")
        for f in done.refused:
            say(f"[red]refused[/red] {f.id} ({f.event_type} sequence {f.sequence} of "
                f"{f.aggregate_id} on {f.topic}): {f.why}", highlight=False)
        for i in done.not_parked:
            say(f"[red]not parked[/red] {i}: no parked event has this id")


def settings_or_exit(name: str, factory: Callable[..., S], *, database: bool = True) -> S:
    """The service's settings (``factory()``, from the environment), or the command's exit
    with one line saying what is wrong. ``database=False``: a command that never connects
    runs without a DSN."""
    try:
        return factory()
    except ValidationError as exc:
        errors = exc.errors(include_input=False)
        if not database and all("DATABASE_URL is not set" in e["msg"] for e in errors):
            return factory(database_url=_NO_DATABASE)
        sys.exit(f"{name}: cannot start: " + "; ".join(
            ".".join(map(str, e["loc"])) + ": " * bool(e["loc"])
            + e["msg"].removeprefix("Value error, ") for e in errors))


@asynccontextmanager
async def units_of_work(s: ServiceSettings, cause: Callable[[], Cause]
                        ) -> AsyncIterator[Callable[[], AbstractAsyncContextManager[UnitOfWork]]]:
    """For a command run beside the service: transactions on its schema, by its clock and
    zone, each caused by ``cause()``; the service's relay publishes what they emit."""
    pool = await create_pool(s.dsn, s.db_schema)
    try:
        yield lambda: unit_of_work(pool, s.db_schema, cause=cause(), clock=s.clock,
                                   zone=s.zone, max_event_bytes=s.event_max_bytes)
    finally:
        await pool.close()


async def _outbox_conn(s: ServiceSettings) -> asyncpg.Connection:
    conn: asyncpg.Connection = await asyncpg.connect(
        s.dsn, server_settings={"search_path": s.db_schema})
    return conn
