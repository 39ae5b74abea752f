"""What funding's routes share beyond the runtime's edge: money as integer cents, and the
``Idempotency-Key`` that makes a retried command find its first result."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID, uuid4

from fastapi import Header, Response
from pydantic import Field

from cites_runtime.actor import Actor

from ..service import derived_id

__all__ = ["Amount", "IdempotencyKey", "command_id", "created"]

Amount = Annotated[int, Field(strict=True, gt=0, le=100_000_000_000_00,
                              description="Integer euro cents (a float or a string is refused)")]

IdempotencyKey = Annotated[str | None, Header(
    alias="Idempotency-Key", min_length=1, max_length=200, pattern=r"^[\x21-\x7e]+$",
    description="Any string: the same key (same route, same caller) again returns the "
    "first result instead of acting twice; with other values it is a 409. A key is the "
    "caller's own: another caller's same key is another command")]


def command_id(route: str, key: str | None, actor: Actor, *scope: object) -> UUID:
    """The id of what a command creates: derived from its key and who sent it (another
    caller's same key never finds this one's result), new without a key."""
    if key is None:
        return uuid4()
    return derived_id(route, *scope, actor.role.value, actor.departement or "",
                      actor.subject, key)


def created(response: Response, was_created: bool) -> None:
    """201 when the command created it, 200 when its key found the first result."""
    response.status_code = 201 if was_created else 200
