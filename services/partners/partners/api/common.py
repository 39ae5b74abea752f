"""What every route of the partners API shares: roles, path types, domain errors as 4xx
answers, paging."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Coroutine
from typing import Annotated, Any
from uuid import UUID

import asyncpg
from fastapi import APIRouter, Depends, Path, Request, Response
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict, field_validator
from pydantic_core import PydanticCustomError

from cites_contracts.types import CiteId
from cites_runtime.app import Runtime
from cites_runtime.auth import Principal, Role, require

from ..domain import Conflict, DomainError, NotAllowed, NotFound, RuleBroken
from ..settings import PartnersSettings

__all__ = [
    "CitePath",
    "ContactId",
    "Input",
    "Operator",
    "PartnerId",
    "Reader",
    "decode_partner_cursor",
    "encode_partner_cursor",
    "new_router",
    "page_size",
    "runtime",
    "storable",
]

def storable(value: str) -> str:
    """PostgreSQL text refuses NUL and lone surrogates: refuse them at the door (a 422,
    not a 500)."""
    if "\x00" in value:
        raise PydanticCustomError("text_nul", "text may not contain the NUL character")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise PydanticCustomError("text_encoding",
                                  "text must be valid Unicode (no lone surrogate)") from None
    return value


class Input(BaseModel):
    """Base of every body the API accepts: unknown fields refused, text storable."""

    model_config = ConfigDict(extra="forbid")

    @field_validator("*", mode="after")
    @classmethod
    def _storable(cls, value: Any) -> Any:
        return storable(value) if isinstance(value, str) else value


Operator = Annotated[Principal, Depends(require(Role.NATIONAL, Role.PREFECTURE))]
"""Who changes the registry and the alliances (a préfecture in its département only)."""
Reader = Annotated[Principal, Depends(require(Role.NATIONAL, Role.PREFECTURE, Role.PARTNER,
                                              Role.VIEWER))]
PartnerId = Annotated[UUID, Path(description="The partner's id in the registry")]
ContactId = Annotated[UUID, Path(description="The contact's id")]
CitePath = Annotated[CiteId, Path(description="The cité's id, e.g. cite-001")]


class _DomainErrorsAnswered(APIRoute):
    """Answers domain errors with a 4xx on every route of the router: no input may end
    in a 500."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                return await handle(request)
            except DomainError as exc:
                return _problem(exc)
            except RequestValidationError as exc:
                # FastAPI's own answer echoes the input and cannot encode a lone surrogate
                # (a 500); escaped JSON can.
                body = json.dumps({"detail": jsonable_encoder(exc.errors())}, ensure_ascii=True)
                return Response(body, status_code=422, media_type="application/json")
            except asyncpg.UniqueViolationError:
                # Two requests raced for the same identifier or membership: one won.
                return JSONResponse({"detail": "changed by a concurrent request: read the "
                                               "current state and retry"}, status_code=409)

        return route


def _problem(exc: DomainError) -> JSONResponse:
    if isinstance(exc, RuleBroken):
        # The shape of FastAPI's own validation errors, so clients read both alike.
        return JSONResponse({"detail": [{"loc": ["body", exc.field], "msg": exc.message,
                                         "type": exc.rule}]}, status_code=422)
    code = 404 if isinstance(exc, NotFound) else 403 if isinstance(exc, NotAllowed) else 409
    assert code != 409 or isinstance(exc, Conflict), f"unmapped domain error {exc!r}"
    return JSONResponse({"detail": exc.message}, status_code=code)


def new_router() -> APIRouter:
    return APIRouter(route_class=_DomainErrorsAnswered)


def runtime(request: Request) -> Runtime:
    found: Runtime = request.app.state.runtime
    return found


def page_size(request: Request, limit: int | None) -> int:
    settings: PartnersSettings = request.app.state.settings
    return min(settings.page_size_max, settings.page_size_default if limit is None else limit)


def encode_partner_cursor(name: str, partner_id: UUID) -> str:
    raw = json.dumps([name, str(partner_id)]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_partner_cursor(cursor: str) -> tuple[str, UUID]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        name, partner_id = json.loads(raw)
        return storable(str(name)), UUID(partner_id)
    except (binascii.Error, ValueError, TypeError, PydanticCustomError) as exc:
        raise RequestValidationError([{
            "loc": ("query", "cursor"), "type": "cursor", "input": cursor,
            "msg": "cursor is not one this API gave: pass the previous page's next_cursor "
                   "unchanged",
        }]) from exc
