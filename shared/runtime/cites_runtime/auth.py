"""Bearer-token authentication and role checks for the services' HTTP APIs.

Tokens map to grants in settings (``<SERVICE>_TOKENS``; a grant no token may hold — an
unknown role, ``system``, a préfecture without its département — stops the service at
start-up). A missing or unknown token is a 401; a known token whose role is not allowed
is a 403 naming the roles that are. The scheme is FastAPI's
:class:`~fastapi.security.HTTPBearer`, so every service's OpenAPI document declares it
(and Swagger UI offers "Authorize"); the messages are ours.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from .actor import Actor, Role
from .settings import ServiceSettings

__all__ = ["BEARER", "authenticate", "require"]

BEARER = HTTPBearer(auto_error=False, scheme_name="bearer",
                    description="A token from <SERVICE>_TOKENS; it grants a role (national, "
                                "prefecture + département, partner, viewer).")


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(status.HTTP_401_UNAUTHORIZED, detail=detail,
                         headers={"WWW-Authenticate": "Bearer"})


def authenticate(request: Request, credentials: HTTPAuthorizationCredentials | None) -> Actor:
    """The actor a request's bearer token designates (401 when there is none)."""
    if credentials is None:
        if not request.headers.get("authorization"):
            raise _unauthorized("missing Authorization header: send 'Authorization: Bearer "
                                "<token>'")
        raise _unauthorized("Authorization must be 'Bearer <token>'")
    settings: ServiceSettings = request.app.state.settings
    grant = settings.tokens.get(credentials.credentials.strip())
    if grant is None:
        raise _unauthorized("unknown or revoked bearer token")
    # Settings refuse such a grant at start-up; settings built without validation
    # (model_construct) still never grant more than they say.
    if grant.refusal() is not None:
        raise _unauthorized("this token's grant is not valid: ask for a new token")
    return Actor(role=Role(grant.role), subject=grant.subject, departement=grant.departement)


def require(*roles: Role) -> Callable[..., Coroutine[Any, Any, Actor]]:
    """FastAPI dependency: the authenticated actor, holding one of ``roles`` (else 403)."""
    allowed = ", ".join(r.value for r in roles)

    async def dependency(request: Request, credentials: HTTPAuthorizationCredentials | None
                         = Depends(BEARER)) -> Actor:
        actor = authenticate(request, credentials)
        if actor.role not in roles:
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                detail=f"role '{actor.role.value}' may not do this; allowed: {allowed}",
            )
        return actor

    return dependency
