"""Idempotency keys on the real PostgreSQL: a command sent again with its key acts once and
finds its first result — also when both are sent at once —; the same key with other values
is a conflict; a key is its caller's own and a refused command leaves it free."""

from __future__ import annotations

import asyncio
from uuid import UUID

import asyncpg
import pytest
from pydantic import BaseModel

from cites_runtime.actor import Actor, Role
from cites_runtime.errors import Conflict
from cites_runtime.idempotency import Command, check
from cites_runtime.settings import ServiceSettings
from cites_runtime.testing import eventually
from cites_runtime.uow import unit_of_work

PREFECTURE_93 = Actor(Role.PREFECTURE, "pref-93", departement="93")


class ThingIn(BaseModel):
    thing_id: str
    n: int


async def make(pool: asyncpg.Pool, settings: ServiceSettings, key: str | None,
               body: ThingIn, *, actor: Actor = PREFECTURE_93, within: object = "cite-001",
               held: asyncio.Event | None = None, go: asyncio.Event | None = None
               ) -> Command:
    """A route making a thing: the check, then the thing if the command is new. Given
    ``held`` and ``go``: sets ``held`` once checked, and waits for ``go`` before making
    the thing (its transaction holds the key meanwhile)."""
    async with unit_of_work(pool, settings.db_schema) as uow:
        command = await check(uow, key, actor, "thing", body, within=within)
        if held is not None and go is not None:
            held.set()
            await go.wait()
        if command.is_new:
            await uow.conn.execute("INSERT INTO things (thing_id, n) VALUES ($1, $2)",
                                   str(command.id), body.n)
    return command


async def things(pool: asyncpg.Pool) -> list[tuple[str, int]]:
    return [(r["thing_id"], r["n"]) for r in await pool.fetch(
        "SELECT thing_id, n FROM things ORDER BY thing_id")]


async def test_a_command_sent_twice_at_once_with_its_key_acts_once_and_answers_the_first(
    pool: asyncpg.Pool, settings: ServiceSettings,
) -> None:
    body, held, go = ThingIn(thing_id="a", n=1), asyncio.Event(), asyncio.Event()
    first = asyncio.create_task(make(pool, settings, "k-1", body, held=held, go=go))
    await held.wait()
    second = asyncio.create_task(make(pool, settings, "k-1", body))

    async def waiting() -> bool:  # the second's INSERT waits on the first's key
        return bool(await pool.fetchval(
            """SELECT count(*) = 1 FROM pg_stat_activity
               WHERE usename = current_user AND wait_event_type = 'Lock'"""))
    await eventually(waiting, timeout=10, what="the second command waiting on the key")
    go.set()
    made, again = await asyncio.gather(first, second)

    assert (made.repeated, made.status_code) == (False, 201)
    assert (again.repeated, again.status_code, again.id) == (True, 200, made.id)
    assert await things(pool) == [(str(made.id), 1)]


async def test_the_same_key_with_other_values_is_a_conflict_naming_what_it_made(
    pool: asyncpg.Pool, settings: ServiceSettings,
) -> None:
    made = await make(pool, settings, "k-2", ThingIn(thing_id="a", n=1))
    with pytest.raises(Conflict) as refused:
        await make(pool, settings, "k-2", ThingIn(thing_id="a", n=2))
    again = await make(pool, settings, "k-2", ThingIn(thing_id="a", n=1))

    assert refused.value.message == (
        f"this Idempotency-Key already made thing {made.id} with other values: a new "
        "command needs a new key")
    assert (again.id, again.repeated) == (made.id, True)
    assert await things(pool) == [(str(made.id), 1)]


async def test_a_key_is_its_callers_own_and_its_resources(
    pool: asyncpg.Pool, settings: ServiceSettings,
) -> None:
    body = ThingIn(thing_id="a", n=1)
    made = await make(pool, settings, "k-3", body)
    others = [
        await make(pool, settings, "k-3", body,
                   actor=Actor(Role.PREFECTURE, "pref-93-bis", departement="93")),
        await make(pool, settings, "k-3", body,
                   actor=Actor(Role.PREFECTURE, "pref-93", departement="69")),
        await make(pool, settings, "k-3", body, actor=Actor(Role.NATIONAL, "pref-93")),
        await make(pool, settings, "k-3", body, within="cite-002"),
    ]

    assert [c.repeated for c in others] == [False] * 4
    assert len({made.id, *(c.id for c in others)}) == 5
    assert len(await things(pool)) == 5


async def test_a_refused_command_leaves_its_key_free_for_its_next_try(
    pool: asyncpg.Pool, settings: ServiceSettings,
) -> None:
    body = ThingIn(thing_id="a", n=1)
    with pytest.raises(Conflict, match="refused"):
        async with unit_of_work(pool, settings.db_schema) as uow:
            refused = await check(uow, "k-4", PREFECTURE_93, "thing", body, within="cite-001")
            raise Conflict("refused by the domain")
    made = await make(pool, settings, "k-4", body)

    assert made.is_new and made.id != refused.id
    assert await things(pool) == [(str(made.id), 1)]


async def test_without_a_key_every_command_is_new_and_nothing_is_recorded(
    pool: asyncpg.Pool, settings: ServiceSettings,
) -> None:
    body = ThingIn(thing_id="a", n=1)
    made = [await make(pool, settings, None, body) for _ in range(2)]

    assert [c.is_new for c in made] == [True, True] and made[0].id != made[1].id
    assert len(await things(pool)) == 2
    assert await _keys(pool, 0)


async def _keys(pool: asyncpg.Pool, count: int) -> bool:
    return bool(await pool.fetchval("SELECT count(*) = $1 FROM idempotency_keys", count))


def test_a_command_is_answered_201_when_new_and_200_when_its_key_found_the_first() -> None:
    new = Command(UUID(int=1))
    assert (new.is_new, new.status_code) == (True, 201)
    assert Command(UUID(int=1), repeated=True).status_code == 200
