"""Bearer-token authentication and role checks for the services' HTTP APIs.

Tokens map to grants in settings (``<SERVICE>_TOKENS``). A missing or unknown token is a
401; a known token whose role is not allowed is a 403 naming the roles that are.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from fastapi import HTTPException, Request, status

from .settings import ServiceSettings

__all__ = ["Principal", "Role", "authenticate", "require"]


class Role(StrEnum):
    NATIONAL = "national"
    PREFECTURE = "prefecture"
    PARTNER = "partner"
    VIEWER = "viewer"


@dataclass(frozen=True, slots=True)
class Principal:
    role: Role
    subject: str
    departement: str | None = None

    def can_act_for(self, departement: str) -> bool:
        """National coordination acts everywhere; a préfecture only in its département."""
        return self.role is Role.NATIONAL or (
            self.role is Role.PREFECTURE and self.departement == departement
        )


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(status.HTTP_401_UNAUTHORIZED, detail=detail,
                         headers={"WWW-Authenticate": "Bearer"})


def authenticate(request: Request) -> Principal:
    settings: ServiceSettings = request.app.state.settings
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if not header:
        raise _unauthorized("missing Authorization header: send 'Authorization: Bearer <token>'")
    if scheme.lower() != "bearer" or not token.strip():
        raise _unauthorized("Authorization must be 'Bearer <token>'")
    grant = settings.tokens.get(token.strip())
    if grant is None:
        raise _unauthorized("unknown or revoked bearer token")
    try:
        role = Role(grant.role)
    except ValueError:
        raise _unauthorized(f"token grants unknown role {grant.role!r}") from None
    return Principal(role=role, subject=grant.subject, departement=grant.departement)


def require(*roles: Role) -> Callable[[Request], Coroutine[Any, Any, Principal]]:
    """FastAPI dependency: an authenticated principal holding one of ``roles``."""
    allowed = ", ".join(r.value for r in roles)

    async def dependency(request: Request) -> Principal:
        principal = authenticate(request)
        if principal.role not in roles:
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                detail=f"role '{principal.role.value}' may not do this; allowed: {allowed}",
            )
        return principal

    return dependency
