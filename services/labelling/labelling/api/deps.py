"""What every route needs: the runtime, the acting principal as a domain actor, the cause."""

from __future__ import annotations

from uuid import UUID, uuid4

from fastapi import Request

from cites_contracts.types import ActorRole
from cites_runtime.app import Runtime
from cites_runtime.auth import Principal, Role
from cites_runtime.uow import Cause, new_traceparent

from ..domain import Actor

__all__ = ["ANYONE", "READERS", "actor", "cause", "runtime"]

READERS = (Role.NATIONAL, Role.PREFECTURE, Role.VIEWER)
ANYONE = (Role.NATIONAL, Role.PREFECTURE, Role.VIEWER, Role.PARTNER)

_ROLES = {Role.NATIONAL: ActorRole.NATIONAL_COORDINATION, Role.PREFECTURE: ActorRole.PREFECTURE,
          Role.PARTNER: ActorRole.PARTNER, Role.VIEWER: ActorRole.SYSTEM}


def runtime(request: Request) -> Runtime:
    rt: Runtime = request.app.state.runtime
    return rt


def actor(principal: Principal) -> Actor:
    return Actor(role=_ROLES[principal.role], subject=principal.subject,
                 departement=principal.departement)


def cause(request: Request) -> Cause:
    """The request's correlation id (``X-Correlation-ID``, else a new one) and trace: the
    events it causes carry them."""
    raw = request.headers.get("x-correlation-id", "")
    try:
        correlation = UUID(raw)
    except ValueError:
        correlation = uuid4()
    return Cause(correlation_id=correlation,
                 traceparent=new_traceparent(request.headers.get("traceparent")))
