"""What funding's routes share beyond the runtime's edge: money as integer cents, and the
``Idempotency-Key`` that makes a retried command find its first result."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID, uuid4

from fastapi import Header, Response
from pydantic import Field

from ..service import derived_id

__all__ = ["Amount", "IdempotencyKey", "command_id", "created"]

Amount = Annotated[int, Field(strict=True, gt=0, le=100_000_000_000_00,
                              description="Integer euro cents (a float or a string is refused)")]

IdempotencyKey = Annotated[str | None, Header(
    alias="Idempotency-Key", min_length=1, max_length=200, pattern=r"^[\x21-\x7e]+$",
    description="Any string: the same key (same route) again returns the first result "
    "instead of acting twice; with other values it is a 409")]


def command_id(route: str, key: str | None, *scope: object) -> UUID:
    """The id of what a command creates: derived from its key, new without one."""
    return derived_id(route, *scope, key) if key is not None else uuid4()


def created(response: Response, was_created: bool) -> None:
    """201 when the command created it, 200 when its key found the first result."""
    response.status_code = 201 if was_created else 200
