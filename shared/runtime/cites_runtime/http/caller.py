"""Who calls and why: the :class:`Caller` a route gets, the role aliases naming who may
call it, and :class:`Input`, the base of every request body."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any
from uuid import UUID, uuid4, uuid5

import asyncpg
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials
from pydantic import BaseModel, ConfigDict

from .. import tracing
from ..actor import Actor, Role
from ..auth import BEARER, require
from ..uow import Cause, UnitOfWork, new_traceparent

if TYPE_CHECKING:
    from ..app import Runtime

__all__ = [
    "CORRELATION_NAMESPACE",
    "Anyone",
    "Caller",
    "Input",
    "National",
    "Operator",
    "OperatorOrPartner",
    "Prefecture",
    "Preparer",
    "Reader",
    "RectoratOrCommune",
    "caller",
    "cause_of",
]


class Input(BaseModel):
    """Base of every body an API accepts: unknown fields are refused (a typo is a 422, not
    a silently ignored field), and the parsed body is immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


CORRELATION_NAMESPACE = UUID("6f1c3d2e-8a47-4b0e-9c55-2f7d1e0a9b31")
"""A caller's ``X-Correlation-ID`` that is not a UUID (envelopes carry UUIDs) becomes
``uuid5(CORRELATION_NAMESPACE, value)``: the same value always correlates the same
events, and the response's ``X-Correlation-ID`` says which UUID that is."""


def cause_of(request: Request) -> Cause:
    """Why a request's events happen: its correlation id (``X-Correlation-ID``, else a new
    one) and its W3C trace (``traceparent``: the request's span's when tracing is on, else
    a new span id in the caller's trace), the same for every unit of work it opens."""
    found: Cause | None = getattr(request.state, "cause", None)
    if found is not None:
        return found
    raw = request.headers.get("x-correlation-id", "").strip()
    if not raw:
        correlation = uuid4()
    else:
        try:
            correlation = UUID(raw)
        except ValueError:
            correlation = uuid5(CORRELATION_NAMESPACE, raw)
    cause = Cause(correlation_id=correlation,
                  traceparent=tracing.current_traceparent()
                  or new_traceparent(request.headers.get("traceparent")))
    request.state.cause = cause
    return cause


@dataclass(frozen=True, slots=True)
class Caller:
    """Who sends the request and why, with the runtime to act through."""

    actor: Actor
    cause: Cause
    runtime: Runtime[Any]

    def unit_of_work(self) -> contextlib.AbstractAsyncContextManager[UnitOfWork]:
        """A transaction whose events carry this request's cause."""
        return self.runtime.unit_of_work(self.cause)

    @property
    def pool(self) -> asyncpg.Pool:
        """For queries (reads need no unit of work)."""
        return self.runtime.pool


def caller(*roles: Role) -> Callable[..., Coroutine[Any, Any, Caller]]:
    """FastAPI dependency: the :class:`Caller`, authenticated, holding one of ``roles``."""
    check = require(*roles)

    async def dependency(request: Request, credentials: HTTPAuthorizationCredentials | None
                         = Depends(BEARER)) -> Caller:
        actor = await check(request, credentials)
        return Caller(actor, cause_of(request), request.app.state.runtime)

    return dependency


National = Annotated[Caller, Depends(caller(Role.NATIONAL))]
"""The national coordination only."""
Prefecture = Annotated[Caller, Depends(caller(Role.PREFECTURE))]
"""A préfecture only (in its own département: ``actor.ensure_acts_for``)."""
Preparer = Annotated[Caller, Depends(caller(Role.PREFECTURE, Role.RECTORAT, Role.COMMUNE))]
"""Who prepares a candidature: a préfecture, a rectorat or a commune, each of its own
territory (``actor.ensure_prepares``)."""
RectoratOrCommune = Annotated[Caller, Depends(caller(Role.RECTORAT, Role.COMMUNE))]
"""A rectorat or a commune, of its own territory: what they file with the préfecture."""
Operator = Annotated[Caller, Depends(caller(Role.NATIONAL, Role.PREFECTURE))]
"""The national coordination, or a préfecture in its own département: who operates the
programme (not to be confused with the role ``operator``, who runs the platform and reads
only its metrics and documents)."""
OperatorOrPartner = Annotated[Caller, Depends(caller(Role.NATIONAL, Role.PREFECTURE,
                                                     Role.PARTNER))]
"""Who operates the programme, or a partner's person for her own partner
(``actor.ensure_acts_for_partner``): what a collège records of its own money."""
Reader = Annotated[Caller, Depends(caller(Role.NATIONAL, Role.PREFECTURE, Role.RECTORAT,
                                          Role.VIEWER))]
"""The State's readers: national coordination, préfectures, rectorats, viewers."""
Anyone = Annotated[Caller, Depends(caller(Role.NATIONAL, Role.PREFECTURE, Role.RECTORAT,
                                          Role.PARTNER, Role.VIEWER))]
"""Any holder of a programme role, partners included (not ``operator`` alone)."""
