"""Set-based handlers (``EventConsumer.handles_many``): a handler that takes the run of
consecutive events of its type in a batch, to write them with one statement. Exactly-once
is the runner's, as for ``handles``: the inbox, positions (stale events skipped), order
per aggregate, a refused event dead-lettered alone, transient failures retried.

The runner is driven directly with fake records (``runtime_kit``'s), on the test app's
schema."""

from __future__ import annotations

import json
from typing import Any
from uuid import UUID, uuid4

import asyncpg
import pytest
from runtime_kit import DeadLetters, Rec, process, quick_runner
from runtime_testapp import CARDS, THINGS, CardIssued, ThingHappened

from cites_contracts import Envelope, encode
from cites_runtime.consumer import (
    BatchContext,
    ConsumerRunner,
    EventConsumer,
    HandlerContext,
)
from cites_runtime.errors import Conflict
from cites_runtime.logs import configure_logging, get_logger
from cites_runtime.settings import ServiceSettings

pytestmark = pytest.mark.integration

calls: list[list[str] | str] = []
"""What the handlers were given, call by call: a set handler's run, or a card's id."""
transient_failures = 0
"""How many calls of the set handler are still to fail transiently."""

counter = EventConsumer("tally-many")


@counter.handles_many(ThingHappened)
async def count_things(events: list[Envelope[ThingHappened]], ctx: BatchContext) -> None:
    global transient_failures
    calls.append([f"{e.data.thing_id}#{e.sequence}" for e in events])
    if transient_failures:
        transient_failures -= 1
        raise asyncpg.DeadlockDetectedError("deadlock detected (test)")
    for e in events:
        if e.data.note == "needs-flag" and not await ctx.conn.fetchval(
                "SELECT 1 FROM flags WHERE name = 'fixed'"):
            raise Conflict(f"{e.data.thing_id} waits for its flag")
        if e.data.note == "echo":
            ctx.uow.emit(ThingHappened(thing_id=f"{e.data.thing_id}-echo", n=e.data.n),
                         cause=ctx.cause(e))
        if e.data.note == "log":
            with ctx.caused_by(e):
                get_logger("test").warning("thing seen", thing_id=e.data.thing_id)
    await ctx.conn.execute(
        """INSERT INTO tally (event_id, thing_id, n, sequence)
           SELECT * FROM unnest($1::uuid[], $2::text[], $3::int[], $4::bigint[])""",
        [e.event_id for e in events], [e.data.thing_id for e in events],
        [e.data.n for e in events], [e.sequence for e in events])


@counter.handles(CardIssued)
async def card_issued(event: CardIssued, ctx: HandlerContext) -> None:
    calls.append(event.card_id)
    get_logger("test").warning("card seen", card_id=event.card_id)


@pytest.fixture(autouse=True)
def _fresh() -> None:
    global transient_failures
    calls.clear()
    transient_failures = 0


@pytest.fixture
def runner(pool: asyncpg.Pool, migrated: ServiceSettings,
           dead_letters: DeadLetters) -> ConsumerRunner:
    return quick_runner(counter, pool, migrated.db_schema, dead_letters)


_offsets = iter(range(10**9))


def thing(thing_id: str, *, sequence: int = 1, note: str = "", n: int = 1,
          event_id: UUID | None = None, traceparent: str | None = None,
          imported: bool = False) -> Rec:
    env = Envelope.wrap(ThingHappened(thing_id=thing_id, n=n, note=note), sequence=sequence,
                        imported=imported)
    if event_id is not None:
        env = env.model_copy(update={"event_id": event_id})
    rec = encode(env, traceparent=traceparent)  # type: ignore[arg-type]
    return Rec(rec.value, list(rec.headers), rec.key, THINGS.name, 0, next(_offsets))


def card(card_id: str) -> Rec:
    rec = encode(Envelope.wrap(CardIssued(card_id=card_id, email="x@example.org"),
                               sequence=1))  # type: ignore[arg-type]
    return Rec(rec.value, list(rec.headers), rec.key, CARDS.name, 0, next(_offsets))


async def tally(pool: asyncpg.Pool) -> list[str]:
    rows = await pool.fetch("SELECT thing_id, sequence FROM tally ORDER BY applied_at")
    return [f"{r['thing_id']}#{r['sequence']}" for r in rows]


async def inbox(pool: asyncpg.Pool) -> int:
    return int(await pool.fetchval(
        "SELECT count(*) FROM processed_events WHERE consumer = 'tally-many'"))


async def test_a_set_handler_gets_the_run_of_its_events_in_one_call_in_order(
    runner: ConsumerRunner, pool: asyncpg.Pool, dead_letters: DeadLetters,
) -> None:
    names = [f"t{i:02d}" for i in range(40)]
    await process(runner, [thing(n) for n in names])
    assert calls == [[f"{n}#1" for n in names]]
    assert await tally(pool) == [f"{n}#1" for n in names]
    assert await inbox(pool) == 40
    assert dead_letters.records == []


async def test_a_run_ends_where_its_aggregate_repeats_or_another_type_comes(
    runner: ConsumerRunner, pool: asyncpg.Pool,
) -> None:
    await process(runner, [thing("X"), thing("Y"), thing("X", sequence=2), thing("Z"),
                           card("c1"), thing("W")])
    # Each call sees an aggregate once: X's second event waits for a call after its first.
    assert calls == [["X#1", "Y#1"], ["X#2", "Z#1"], "c1", ["W#1"]]
    assert await tally(pool) == ["X#1", "Y#1", "X#2", "Z#1", "W#1"]


async def test_redelivered_and_stale_events_reach_no_set_handler(
    runner: ConsumerRunner, pool: asyncpg.Pool,
) -> None:
    first = thing("A", event_id=uuid4())
    await process(runner, [first, thing("B")])
    calls.clear()
    republished = thing("A")  # the same sequence under a new event id: stale
    await process(runner, [first, republished, thing("C")])
    assert calls == [["C#1"]]
    assert runner.stale == 1
    assert sorted(await tally(pool)) == ["A#1", "B#1", "C#1"]


async def test_a_refused_event_in_a_run_is_dead_lettered_alone_and_replays_once_fixed(
    runner: ConsumerRunner, pool: asyncpg.Pool, dead_letters: DeadLetters,
) -> None:
    refused = thing("b", note="needs-flag")
    await process(runner, [thing("a"), refused, thing("c")])
    # The run fails as a whole (nothing of it stays), then each event goes alone.
    assert calls == [["a#1", "b#1", "c#1"], ["a#1"], ["b#1"], ["c#1"]]
    assert sorted(await tally(pool)) == ["a#1", "c#1"]
    assert dead_letters.reasons() == {refused.offset: "rejected"}
    letter = dead_letters.records[0]
    assert dict(letter.headers)["dlq.error"] == b"b: b waits for its flag"
    assert await inbox(pool) == 2  # the refused event is not marked applied

    await pool.execute("INSERT INTO flags VALUES ('fixed')")
    replayed = Rec(letter.value, list(letter.headers), letter.key, letter.topic)
    assert await runner.replay(replayed) == "applied"
    assert await runner.replay(replayed) == "duplicate"
    assert sorted(await tally(pool)) == ["a#1", "b#1", "c#1"]


async def test_a_transient_failure_retries_the_run_and_dead_letters_nothing(
    runner: ConsumerRunner, pool: asyncpg.Pool, dead_letters: DeadLetters,
) -> None:
    global transient_failures
    transient_failures = 1
    await process(runner, [thing("a"), thing("b"), thing("c")])
    assert calls == [["a#1", "b#1", "c#1"], ["a#1", "b#1", "c#1"]]
    assert sorted(await tally(pool)) == ["a#1", "b#1", "c#1"]
    assert dead_letters.records == []


async def test_events_a_set_handler_emits_are_caused_by_their_own_event(
    runner: ConsumerRunner, pool: asyncpg.Pool,
) -> None:
    trace = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    a, b = thing("a", note="echo", traceparent=trace), thing("b", note="echo")
    await process(runner, [a, b])
    rows = await pool.fetch("SELECT value, traceparent FROM outbox ORDER BY id")
    echoes = [json.loads(r["value"]) for r in rows]
    sources = [json.loads(r.value or b"") for r in (a, b)]
    assert [e["data"]["thing_id"] for e in echoes] == ["a-echo", "b-echo"]
    for echo, source in zip(echoes, sources, strict=True):
        assert echo["causation_id"] == source["event_id"]
        assert echo["correlation_id"] == source["correlation_id"]
    assert rows[0]["traceparent"].split("-")[1] == trace.split("-")[1]  # same trace


def test_an_event_type_has_one_handler_whichever_the_kind() -> None:
    consumer = EventConsumer("twice")

    @consumer.handles(ThingHappened)
    async def one(event: ThingHappened, ctx: HandlerContext) -> None: ...

    with pytest.raises(ValueError, match="already has a handler"):
        @consumer.handles_many(ThingHappened)
        async def many(events: list[Envelope[ThingHappened]], ctx: BatchContext) -> None: ...

    assert consumer.event_types == frozenset({ThingHappened.spec.type})


async def test_log_lines_of_a_handler_carry_its_event_without_a_bind_per_event(
    runner: ConsumerRunner, capsys: pytest.CaptureFixture[str],
) -> None:
    """Log lines written while an event is handled name it (``event_id``,
    ``correlation_id``): a plain handler's always, a set handler's inside
    ``ctx.caused_by(event)``."""
    issued, seen = card("c1"), thing("t1", note="log")
    configure_logging("testapp", level="INFO", json=True)
    try:
        await process(runner, [issued, seen])
    finally:
        configure_logging("tests", level="WARNING", json=False)
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()
             if line.startswith("{")]
    by_event: dict[str, dict[str, Any]] = {line["event"]: line for line in lines}
    for message, rec in (("card seen", issued), ("thing seen", seen)):
        source = json.loads(rec.value or b"")
        assert by_event[message]["event_id"] == source["event_id"], message
        assert by_event[message]["correlation_id"] == source["correlation_id"], message


mixed = EventConsumer("tally-mixed")
mixed_calls: list[list[str]] = []


@mixed.handles_many(ThingHappened, CardIssued)
async def things_and_cards(events: list[Envelope[Any]], ctx: BatchContext) -> None:
    mixed_calls.append([e.aggregate_id for e in events])


async def test_a_set_handler_of_several_types_gets_their_run_whatever_the_mix(
    pool: asyncpg.Pool, migrated: ServiceSettings, dead_letters: DeadLetters,
) -> None:
    """One registration for several types (a label's later events: extended, suspended,
    withdrawn…): a run goes on across them, still ending where an aggregate repeats."""
    mixed_calls.clear()
    runner = ConsumerRunner(mixed, pool, migrated.db_schema, dead_letters)
    await process(runner, [thing("X"), card("c1"), thing("Y"), card("c2"),
                           thing("X", sequence=2), card("c3")])
    assert mixed_calls == [["X", "c1", "Y", "c2"], ["X", "c3"]]
    assert dead_letters.records == []


async def test_what_an_imported_event_causes_is_marked_imported_and_a_live_ones_is_not(
    runner: ConsumerRunner, pool: asyncpg.Pool,
) -> None:
    """The programme's imported history is not news downstream either: events emitted
    for an imported event carry the mark; a live event's carry none (not even a false)."""
    await process(runner, [thing("old", note="echo", imported=True), thing("new", note="echo")])
    rows = await pool.fetch("SELECT key, value FROM outbox ORDER BY id")
    echoes = {r["key"].decode(): json.loads(r["value"]) for r in rows}
    assert echoes["old-echo"]["imported"] is True
    assert "imported" not in echoes["new-echo"]
