"""A tiny service used only by the runtime's tests: it exercises every piece of plumbing
(uow + outbox, relay, consumer + inbox, dead letters, HTTP) without domain logic."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel

from cites_contracts import Event, Topic, event
from cites_runtime.app import Runtime, ServiceDefinition
from cites_runtime.auth import Principal, Role, require
from cites_runtime.consumer import EventConsumer, HandlerContext, RejectEvent

THINGS = Topic("testapp.things", producer="testapp", description="test stream")


@event("testapp.ThingHappened", topic=THINGS, key="thing_id",
       emitted_when="the test app records a thing")
class ThingHappened(Event):
    """Test-only event. Producer testapp, topic testapp.things, key thing_id."""

    thing_id: str
    n: int
    note: str = ""


consumer = EventConsumer("tally")


@consumer.handles(ThingHappened)
async def count_thing(event: ThingHappened, ctx: HandlerContext) -> None:
    if event.note == "reject":
        raise RejectEvent("note says reject")
    if event.note == "boom":
        raise ValueError("handler bug")
    if event.note == "needs-flag":
        flag = await ctx.conn.fetchval("SELECT 1 FROM flags WHERE name = 'fixed'")
        if not flag:
            raise ValueError("flag 'fixed' is missing")
    await ctx.conn.execute(
        "INSERT INTO tally (event_id, thing_id, n, sequence) VALUES ($1, $2, $3, $4)",
        ctx.envelope.event_id, event.thing_id, event.n, ctx.envelope.sequence,
    )


router = APIRouter()


class ThingIn(BaseModel):
    thing_id: str
    n: int


@router.post("/things", status_code=201)
async def post_thing(body: ThingIn, request: Request,
                     who: Principal = Depends(require(Role.NATIONAL))) -> dict[str, str]:
    runtime: Runtime = request.app.state.runtime
    async with runtime.unit_of_work() as uow:
        await uow.conn.execute("INSERT INTO things (thing_id, n) VALUES ($1, $2)",
                               body.thing_id, body.n)
        uow.emit(ThingHappened(thing_id=body.thing_id, n=body.n))
    return {"event_id": str(uow.envelopes[0].event_id)}


definition = ServiceDefinition(
    name="testapp",
    migrations_dir=Path(__file__).parent / "migrations",
    routers=[router],
    consumer=consumer,
    produces=[THINGS],
)
