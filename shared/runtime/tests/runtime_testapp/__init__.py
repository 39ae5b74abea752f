"""A tiny service used only by the runtime's tests: it exercises every piece of plumbing
(uow + outbox, relay, consumer + inbox, dead letters, HTTP) without domain logic."""

from __future__ import annotations

import asyncio
from pathlib import Path
from uuid import UUID

from fastapi import APIRouter

from cites_contracts import Event, Topic, event
from cites_runtime.app import ServiceDefinition
from cites_runtime.consumer import EventConsumer, HandlerContext
from cites_runtime.errors import Conflict, NotFound, RuleBroken
from cites_runtime.http import (
    Input,
    National,
    Operator,
    OperatorOrPartner,
    Page,
    Paging,
    Reader,
)

THINGS = Topic("testapp.things", producer="testapp", description="test stream")


@event("testapp.ThingHappened", topic=THINGS, key="thing_id",
       emitted_when="the test app records a thing")
class ThingHappened(Event):
    """Test-only event. Producer testapp, topic testapp.things, key thing_id."""

    thing_id: str
    n: int
    note: str = ""


CARDS = Topic("testapp.cards", producer="testapp", description="test personal data",
              key="card_id", cleanup_policy="compact", personal_data=True)


@event("testapp.CardIssued", topic=CARDS, key="card_id",
       emitted_when="the test app issues a person's card")
class CardIssued(Event):
    """Test-only personal data. Producer testapp, topic testapp.cards, key card_id."""

    card_id: str
    email: str


consumer = EventConsumer("tally")


@consumer.handles(ThingHappened)
async def count_thing(event: ThingHappened, ctx: HandlerContext) -> None:
    if event.note == "reject":
        raise RuleBroken.of("note", "reject", "note says reject")
    if event.note == "conflict":
        raise Conflict(f"thing {event.thing_id} is settled already")
    if event.note == "boom":
        raise ValueError("handler bug")
    if event.note == "wedge":  # a handler that never returns (a lock never granted, say)
        await asyncio.Event().wait()
    if event.note == "needs-flag":
        flag = await ctx.conn.fetchval("SELECT 1 FROM flags WHERE name = 'fixed'")
        if not flag:
            raise ValueError("flag 'fixed' is missing")
    if event.note.startswith("echo:"):  # answers with an event of that many note bytes
        ctx.uow.emit(ThingHappened(thing_id=f"{event.thing_id}-echo", n=event.n,
                                   note="x" * int(event.note[5:])))
    if event.note == "reads-flags":  # waits at most 100 ms for a lock on flags: 55P03
        await ctx.conn.execute("SET LOCAL lock_timeout = '100ms'")
        await ctx.conn.fetchval("SELECT count(*) FROM flags")
    await ctx.conn.execute(
        "INSERT INTO tally (event_id, thing_id, n, sequence) VALUES ($1, $2, $3, $4)",
        ctx.envelope.event_id, event.thing_id, event.n, ctx.envelope.sequence,
    )


router = APIRouter()


class ThingIn(Input):
    thing_id: str
    n: int


class ThingOut(Input):
    thing_id: str
    n: int


@router.post("/things", status_code=201)
async def post_thing(body: ThingIn, caller: National) -> dict[str, str]:
    if body.n < 0:
        raise RuleBroken.of("n", "n_not_negative", f"n counts things: {body.n} is negative")
    # No check that the id is free: a taken one is the runtime's 409 (unique violation).
    async with caller.unit_of_work() as uow:
        await uow.conn.execute("INSERT INTO things (thing_id, n) VALUES ($1, $2)",
                               body.thing_id, body.n)
        uow.emit(ThingHappened(thing_id=body.thing_id, n=body.n))
    return {"event_id": str(uow.envelopes[0].event_id)}


@router.get("/things", response_model=Page[ThingOut])
async def list_things(caller: Reader, paging: Paging) -> Page[ThingOut]:
    after = paging.after(str)
    rows = await caller.pool.fetch(
        "SELECT thing_id, n FROM things WHERE $1::text IS NULL OR thing_id > $1 "
        "ORDER BY thing_id LIMIT $2", after[0] if after else None, paging.fetch)
    return paging.page([ThingOut(thing_id=r["thing_id"], n=r["n"]) for r in rows],
                       key=lambda t: (t.thing_id,))


@router.get("/things/{thing_id}", response_model=ThingOut)
async def get_thing(thing_id: str, caller: Reader) -> ThingOut:
    row = await caller.pool.fetchrow("SELECT thing_id, n FROM things WHERE thing_id = $1",
                                     thing_id)
    if row is None:
        raise NotFound.of("thing", thing_id)
    return ThingOut(thing_id=row["thing_id"], n=row["n"])


@router.delete("/things/{thing_id}", status_code=204)
async def delete_thing(thing_id: str, caller: Operator, departement: str) -> None:
    caller.actor.ensure_acts_for(departement)
    raise Conflict(f"thing {thing_id} is counted already: it stays")


@router.put("/partners/{partner_id}/things/{thing_id}", status_code=204)
async def keep_thing(partner_id: UUID, thing_id: str, caller: OperatorOrPartner) -> None:
    """A partner keeps a thing for itself only (the partner rule, nothing stored)."""
    caller.actor.ensure_acts_for_partner(partner_id, f"thing {thing_id}")


definition = ServiceDefinition(
    name="testapp",
    migrations_dir=Path(__file__).parent / "migrations",
    routers=[router],
    consumer=consumer,
    produces=[THINGS],
)
