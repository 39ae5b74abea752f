"""Idempotency keys: a command sent again with its ``Idempotency-Key`` acts once.

A client that got no answer (a timeout, a broken connection) sends its command again with
the key it chose for it; the service must not act twice. The route asks :func:`check`
first in the command's unit of work, then acts only if the command is new, and answers
what the command made, found by the id the check gives::

    async with caller.unit_of_work() as uow:
        command = await idempotency.check(uow, key, caller.actor, "commitment", body,
                                          within=cite_id)
        if command.is_new:
            await service.commit_funds(uow, cite_id, ..., caller.actor, command.id)
    response.status_code = command.status_code           # 201, or 200 for a retry
    return CommitmentView.of(await store.get_commitment(caller.pool, command.id))

- No key: a new id, nothing recorded.
- A new key: ``(scope, caller, key)`` → the fingerprint of the command's values and the
  id of what it makes is written in the command's transaction, so a refused command (rolled
  back) leaves the key free for its next try.
- The same key, the same values: the first result's id, :attr:`Command.repeated`.
- The same key, other values: :class:`~cites_runtime.errors.Conflict` (409).
- The same key twice at once: the second's ``INSERT … ON CONFLICT DO NOTHING`` waits on
  the key until the first commits, then finds it (or takes it, if the first rolled back):
  one effect, no retry. The next statement sees the row because a unit of work runs in
  READ COMMITTED.

A key is its caller's own: who sent it (role, département, subject, the partner it acts
for) is part of what is recorded, so another caller's same key is another command, never
someone else's answer.
``made`` and ``within`` (the resource a route acts on: a cité, a commitment) make the
scope: the same key on another resource is another command too. A stored answer so goes
only to the caller who sent the first command, on the same resource, after its
authorisation there: the edge checks the role on every request, and a rule of place
(``Actor.ensure_acts_for``) holds for the retry as it did for the first — provided the
resource's place does not change, which is so of a cité's département.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Annotated
from uuid import UUID, uuid4

from fastapi import Header
from pydantic_core import to_jsonable_python

from .actor import Actor
from .errors import Conflict
from .uow import UnitOfWork

__all__ = ["Command", "IdempotencyKey", "check"]

IdempotencyKey = Annotated[str | None, Header(
    alias="Idempotency-Key", min_length=1, max_length=200, pattern=r"^[\x21-\x7e]+$",
    description="Any string: the same key (same route, same caller) again returns the "
    "first result instead of acting twice; with other values it is a 409. A key is the "
    "caller's own: another caller's same key is another command")]
"""The ``Idempotency-Key`` header a command's route takes (``key: IdempotencyKey = None``)."""


@dataclass(frozen=True, slots=True)
class Command:
    """What :func:`check` found of a command."""

    id: UUID
    """The id of what the command makes: a new one, or the first result's if repeated."""
    repeated: bool = False
    """Its key made it already: answer the first result, act no more."""

    @property
    def is_new(self) -> bool:
        return not self.repeated

    @property
    def status_code(self) -> int:
        """201 when the command makes something now, 200 when its key found the first."""
        return 200 if self.repeated else 201


async def check(uow: UnitOfWork, key: str | None, actor: Actor, made: str, values: object,
                *, within: object = None) -> Command:
    """The command ``actor`` sends with ``key`` to make a ``made`` (within a resource):
    new, or a repeat of the first one with this key (same ``values``: a pydantic model,
    or anything pydantic serialises); a :class:`Conflict` when the key made one with
    other values. See the module's documentation."""
    if key is None:
        return Command(uuid4())
    scope = made if within is None else f"{made} {within}"
    caller = f"{actor.role.value} {actor.departement or '-'} {actor.subject}" + (
        f" {actor.partner_id}" if actor.partner_id else "")
    fingerprint, proposed = _fingerprint(values), uuid4()
    if await uow.conn.fetchval(
            """INSERT INTO idempotency_keys (scope, caller, key, fingerprint, result_id,
                                             created_at)
               VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING RETURNING true""",
            scope, caller, key, fingerprint, proposed, uow.now):
        return Command(proposed)
    first = await uow.conn.fetchrow(
        """SELECT fingerprint, result_id FROM idempotency_keys
           WHERE scope = $1 AND caller = $2 AND key = $3""", scope, caller, key)
    assert first is not None, "a key is never deleted"
    if first["fingerprint"] != fingerprint:
        raise Conflict(f"this Idempotency-Key already made {made} {first['result_id']} with "
                       "other values: a new command needs a new key")
    return Command(first["result_id"], repeated=True)


def _fingerprint(values: object) -> str:
    canonical = json.dumps(to_jsonable_python(values), sort_keys=True, separators=(",", ":"),
                           ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()
